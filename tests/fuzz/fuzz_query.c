/* fuzz_query.c -- libFuzzer harness for query understanding (text/query)
 * and the keyword-query builder (store/meta: meta_fts_query_from_text).
 *
 * Every search request's q= reaches both, so both must take any bytes:
 * invalid UTF-8, NULs cut short, huge counts, dates out of range. The
 * lexicon is the real WordNet one (opened once); the reference time is fixed
 * so that a crash reproduces. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "store/meta.h"
#include "text/lexicon.h"
#include "text/query.h"

static scry_lexicon *g_lex;

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc; (void)argv;
    scry_err err = {0};
    if (scry_lexicon_open(&g_lex, &err) != SCRY_OK) g_lex = NULL;   /* still fuzz without it */
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size > 8192) return 0;      /* the HTTP layer caps q long before this */
    char *text = malloc(size + 1);
    if (!text) return 0;
    memcpy(text, data, size);
    text[size] = 0;
    scry_query q;
    scry_err err = {0};
    if (scry_query_parse(g_lex, text, 1764547200, &q, &err) == SCRY_OK) {
        char *json = scry_query_to_json(&q);
        free(json);
    }
    char *fts = meta_fts_query_from_text(text);
    free(fts);
    free(text);
    return 0;
}
