# ONNX Runtime (C API). Installed under deps/ by scripts/setup.d/10-onnxruntime.sh;
# point ORT_DIR at an official release (include/ + lib/) to use that instead.
ORT_DIR ?= $(CURDIR)/deps/onnxruntime
CFLAGS  += -I$(ORT_DIR)/include
LDLIBS  += -L$(ORT_DIR)/lib -lonnxruntime -Wl,-rpath,$(ORT_DIR)/lib
