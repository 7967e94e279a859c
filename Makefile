# Scry build. One archive (build/libscry.a) holds every module under src/*/
# except the CLI entry point; the binary and every unit test link against it.
#
#   make              build/scry and the unit tests (optimised, -Werror), and
#                     next to the binary what it looks up (core/paths.h): the
#                     web app (build/web) and links to deps/models, deps/wordvec
#   make SAN=1        same under AddressSanitizer + UBSan, in build-asan/
#   make test         the whole suite (tests/run): both builds, unit + e2e + browser
#   make install PREFIX=/usr/local DESTDIR=   see mk/install.mk
#
# Subsystems that need extra libraries add them in mk/<name>.mk (PKGS += ...,
# LDLIBS += ..., CFLAGS += ...) so that this file rarely changes.

CC      ?= cc
CXX     ?= c++
PKGS     = vips libmicrohttpd sqlite3 jansson libcurl libcrypto
LDLIBS   = -lpthread -lm
CFLAGS   = -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -g -Isrc
OPT     ?= -O2

ifeq ($(SAN),1)
BUILD   ?= build-asan
CFLAGS  += -O1 -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined
LDFLAGS += -fsanitize=address,undefined
else
BUILD   ?= build
CFLAGS  += $(OPT)
endif

# After BUILD is known (mk/tools.mk names targets under it).
.DEFAULT_GOAL := all
-include mk/*.mk

CFLAGS  += $(shell pkg-config --cflags $(PKGS))
LDLIBS  := $(shell pkg-config --libs $(PKGS)) $(LDLIBS)

SRCS     = $(filter-out src/cli/main.c,$(wildcard src/*/*.c))
OBJS     = $(SRCS:src/%.c=$(BUILD)/obj/%.o)
TSRCS    = $(wildcard tests/unit/test_*.c)
TESTS    = $(TSRCS:tests/unit/%.c=$(BUILD)/tests/%)
TESTLIB  = $(BUILD)/obj/tests/testutil.o

.PHONY: all test clean
# Keep the test objects (make would remove them as intermediates) and read
# their dependency files: a header change must rebuild every test using it.
.SECONDARY:
all: $(BUILD)/scry $(TESTS)

$(BUILD)/obj/%.o: src/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -MMD -MP -c $< -o $@

$(BUILD)/obj/tests/%.o: tests/unit/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Itests/unit -MMD -MP -c $< -o $@

$(BUILD)/libscry.a: $(OBJS)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/scry: $(BUILD)/obj/cli/main.o $(BUILD)/libscry.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/tests/%: $(BUILD)/obj/tests/%.o $(TESTLIB) $(BUILD)/libscry.a
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS) -lcmocka

test:
	tests/run

clean:
	rm -rf build build-asan

-include $(OBJS:.o=.d) $(BUILD)/obj/cli/main.d $(TSRCS:tests/unit/%.c=$(BUILD)/obj/tests/%.d) $(TESTLIB:.o=.d)
