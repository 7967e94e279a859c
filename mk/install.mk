# make install PREFIX=/usr/local DESTDIR=
#
#   PREFIX/bin/scry                 linked again with rpath $ORIGIN/../lib/scry
#   PREFIX/lib/scry/                ONNX Runtime's shared library
#   PREFIX/share/scry/models/       the prepared models
#   PREFIX/share/scry/wordvec/      wordvec.bin
#   PREFIX/share/scry/web/          the web app
#
# The installed binary finds its data files as EXE_DIR/../share/scry (see
# src/core/paths.h), so the tree can be moved as a whole and DESTDIR staging
# works; PREFIX/share/scry is also compiled in (its own copy of core/paths,
# linked ahead of the library's) for a binary copied out of the tree.
# Tested by tests/e2e/test_install.py.
PREFIX ?= /usr/local
comma := ,
INSTDIR = $(DESTDIR)$(PREFIX)

.PHONY: install
install: $(BUILD)/scry $(BUILD)/web/.stamp
	@test -f $(SCRY_DEPS)/wordvec/wordvec.bin || { echo "install: $(SCRY_DEPS) is not prepared: run ./scripts/setup.sh" >&2; exit 1; }
	$(CC) $(CFLAGS) -DSCRY_PREFIX='"$(PREFIX)"' -c src/core/paths.c -o $(BUILD)/obj/core/paths.install.o
	$(CC) $(LDFLAGS) -o $(BUILD)/scry.install $(BUILD)/obj/cli/main.o $(BUILD)/obj/core/paths.install.o $(BUILD)/libscry.a \
	  $(filter-out -Wl$(comma)-rpath$(comma)%,$(LDLIBS)) -Wl,-rpath,'$$ORIGIN/../lib/scry'
	install -d $(INSTDIR)/bin $(INSTDIR)/lib/scry $(INSTDIR)/share/scry/models $(INSTDIR)/share/scry/wordvec
	install -m 755 $(BUILD)/scry.install $(INSTDIR)/bin/scry
	cp -P $(ORT_DIR)/lib/libonnxruntime.so* $(INSTDIR)/lib/scry/
	install -m 644 $(SCRY_DEPS)/models/* $(INSTDIR)/share/scry/models/
	install -m 644 $(SCRY_DEPS)/wordvec/wordvec.bin $(INSTDIR)/share/scry/wordvec/
	rm -rf $(INSTDIR)/share/scry/web
	cd $(BUILD)/web && find . -type f ! -name '.*' -exec install -D -m 644 {} $(INSTDIR)/share/scry/web/{} \;
	@echo "installed into $(INSTDIR) (run $(PREFIX)/bin/scry serve)"
