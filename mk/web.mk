# The web app (web/, plain ES modules, no build step: docs/web.md) is
# assembled next to the binary as $(BUILD)/web with the third-party modules
# scripts/setup.d/40-web.sh fetched into deps/web/vendor (never committed).
WEB_SRC    = $(shell find web -type f ! -name '.*' 2>/dev/null)
WEB_VENDOR = $(SCRY_DEPS)/web/vendor

all: $(BUILD)/web/.stamp
$(BUILD)/web/.stamp: $(WEB_SRC) $(wildcard $(WEB_VENDOR)/*)
	@test -f $(WEB_VENDOR)/preact.mjs || { echo "web: $(WEB_VENDOR) is missing: run ./scripts/setup.sh" >&2; exit 1; }
	@rm -rf $(BUILD)/web.new && mkdir -p $(BUILD)
	cp -r web $(BUILD)/web.new && cp -r $(WEB_VENDOR) $(BUILD)/web.new/vendor
	@rm -rf $(BUILD)/web && mv $(BUILD)/web.new $(BUILD)/web && touch $@

