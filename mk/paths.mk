# core/paths: the data files the binary looks up next to itself (see
# src/core/paths.h). build/models and build/wordvec link to what
# scripts/setup.sh prepared, so build/scry finds them from any working
# directory (make assembles build/web, see mk/web.mk).
SCRY_DEPS ?= $(CURDIR)/deps

all: $(BUILD)/models $(BUILD)/wordvec
$(BUILD)/models $(BUILD)/wordvec:
	@mkdir -p $(BUILD)
	ln -sfn $(SCRY_DEPS)/$(notdir $@) $@
