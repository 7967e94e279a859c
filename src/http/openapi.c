/* openapi.c -- see openapi.h. The JSON file is embedded with the
 * assembler's .incbin (GCC and Clang on ELF), which keeps it an ordinary
 * file in the tree instead of a generated C array; mk/http.mk makes this
 * object depend on it. */
#include "http/openapi.h"

__asm__(".section .rodata\n"
        ".global scry_openapi_start\n"
        ".type scry_openapi_start, @object\n"
        "scry_openapi_start:\n"
        ".incbin \"src/http/openapi.json\"\n"
        ".global scry_openapi_end\n"
        "scry_openapi_end:\n"
        ".byte 0\n"
        ".previous\n");

extern const char scry_openapi_start[];
extern const char scry_openapi_end[];

const char *openapi_document(size_t *len) {
    if (len) *len = (size_t)(scry_openapi_end - scry_openapi_start);
    return scry_openapi_start;
}
