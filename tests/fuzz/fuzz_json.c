/* fuzz_json.c -- libFuzzer harness for every JSON body the API accepts:
 * POST /v1/session {"key"} and POST /v1/keys {"name", "scopes"} (the only
 * ones today; a new JSON route adds its parser here). Jansson parses; what
 * is fuzzed is our reading of the document: types, lengths, NULs inside
 * strings, duplicate keys, unknown scopes. */
#include <stdint.h>
#include <string.h>

#include "http/auth.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char key[AUTH_KEY_LEN + 1], name[128];
    unsigned scopes = 0;
    scry_err err = {0};
    if (auth_parse_session_body((const char *)data, size, key, &err) == SCRY_OK &&
        strlen(key) != AUTH_KEY_LEN)
        __builtin_trap();
    if (auth_parse_key_body((const char *)data, size, name, &scopes, &err) == SCRY_OK &&
        (scopes == 0 || (scopes & ~(unsigned)SCOPE_ALL) || strlen(name) >= sizeof name))
        __builtin_trap();
    return 0;
}
