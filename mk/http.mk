# http/assets: gzip copies of the web app's files (zlib).
PKGS += zlib
# http/openapi embeds the API's OpenAPI document (.incbin): rebuild with it.
$(BUILD)/obj/http/openapi.o: src/http/openapi.json
