# Fuzzing (tests/fuzz/): `make FUZZ=1 fuzz` builds every tests/fuzz/fuzz_*.c
# as a libFuzzer binary in build-fuzz/fuzz/, with clang (Debian's clang-14 and
# libclang-rt-14-dev) and ASan + UBSan. The library is rebuilt with coverage
# instrumentation in build-fuzz/ so the fuzzer sees our code's branches.
# tests/fuzz/run drives it (replay the corpora, then fuzz each target).
.DEFAULT_GOAL := all
ifeq ($(FUZZ),1)
CC      := clang-14
BUILD   := build-fuzz
CFLAGS  += -O1 -fno-omit-frame-pointer -fsanitize=fuzzer-no-link,address,undefined \
           -fno-sanitize-recover=undefined -Wno-unknown-warning-option
LDFLAGS += -fsanitize=address,undefined
endif
FUZZ_SRCS    = $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_TARGETS = $(FUZZ_SRCS:tests/fuzz/%.c=$(BUILD)/fuzz/%)
.PHONY: fuzz
fuzz: $(FUZZ_TARGETS)
$(BUILD)/fuzz/%: tests/fuzz/%.c $(BUILD)/libscry.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -fsanitize=fuzzer -o $@ $< $(BUILD)/libscry.a $(LDLIBS)
