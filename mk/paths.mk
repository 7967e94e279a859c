# core/paths: the data files the binary looks up next to itself (see
# src/core/paths.h) and the prefix it is built for (the lookup's fallback
# when the binary is copied away from its install tree).
PREFIX    ?= /usr/local
SCRY_DEPS ?= $(CURDIR)/deps

# PREFIX is compiled into core/paths.o; the stamp changes only with it.
$(BUILD)/prefix.txt: FORCE
	@mkdir -p $(BUILD); echo '$(PREFIX)' | cmp -s - $@ || echo '$(PREFIX)' > $@
$(BUILD)/obj/core/paths.o: CFLAGS += -DSCRY_PREFIX='"$(PREFIX)"'
$(BUILD)/obj/core/paths.o: $(BUILD)/prefix.txt

# build/models and build/wordvec link to what scripts/setup.sh prepared, so
# build/scry finds them from any working directory.
all: $(BUILD)/models $(BUILD)/wordvec
$(BUILD)/models $(BUILD)/wordvec:
	@mkdir -p $(BUILD)
	ln -sfn $(SCRY_DEPS)/$(notdir $@) $@

.PHONY: FORCE
FORCE:
