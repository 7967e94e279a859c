/* search.h -- answering a text query with ranked, explained results.
 *
 * Today the engine ranks by BM25 over the keyword index (filename, caption,
 * tags, OCR text, EXIF, colours) and explains each hit by the query words
 * found in each field. The semantic parts (query understanding, sentence
 * vectors, the ANN index, fused ranking) plug into search_run without
 * changing this interface: callers pass the query and filters and get back
 * scored results with a `why`.
 *
 * Filters are applied to candidates before the page is cut, so `limit` and
 * `offset` count filtered results. */
#ifndef SCRY_SEARCH_H
#define SCRY_SEARCH_H

#include <stdint.h>

#include "core/err.h"
#include "store/meta.h"

typedef enum { SORT_RELEVANCE = 0, SORT_DATE = 1 } search_sort;

typedef struct search_params {
    const char *q;              /* the user's text, as typed */
    int limit;                  /* default 20, at most 200 */
    int offset;
    search_sort sort;
    const char *label;          /* only images with this detected label */
    const char *emotion;        /* only images with a face of this emotion */
    int has_text;               /* -1 any, 0 without OCR text, 1 with */
    int64_t from, to;           /* taken_at range [from, to) in unix seconds; 0 = open */
} search_params;

typedef struct search_result {
    char id[SCRY_ID_LEN + 1];
    char *filename;
    char *caption;
    char *why;
    double score;               /* in [0, 1], higher is better */
    int64_t taken_at;
} search_result;

typedef struct search_engine search_engine;

int search_create(search_engine **out, meta_db *meta, scry_err *err);
void search_free(search_engine *se);

void search_params_init(search_params *p);
/* *out malloc'ed array of *n results; free with search_results_free. */
int search_run(search_engine *se, const search_params *p, search_result **out, int *n,
               scry_err *err);
void search_results_free(search_result *r, int n);

#endif
