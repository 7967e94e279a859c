/* search.c -- see search.h.
 *
 * Candidates come from FTS5 (BM25, any query word may match, more matches
 * rank higher). Each candidate's record is fetched once to apply filters and
 * to build the explanation. Scores are squashed to [0, 1] with
 * s = b / (b + 1) so that they are comparable across queries enough for a
 * relevance floor. */
#include "search/search.h"

#include <ctype.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/metrics.h"

#define CANDIDATES 500

struct search_engine {
    meta_db *meta;
};

int search_create(search_engine **out, meta_db *meta, scry_err *err) {
    search_engine *se = calloc(1, sizeof *se);
    if (!se) return scry_fail(err, SCRY_ENOMEM, "out of memory");
    se->meta = meta;
    *out = se;
    return SCRY_OK;
}

void search_free(search_engine *se) { free(se); }

void search_params_init(search_params *p) {
    memset(p, 0, sizeof *p);
    p->limit = 20;
    p->has_text = -1;
}

void search_results_free(search_result *r, int n) {
    if (!r) return;
    for (int i = 0; i < n; i++) {
        free(r[i].filename);
        free(r[i].caption);
        free(r[i].why);
    }
    free(r);
}

/* Lowercase words of s (letters and digits), at most max, each < 64 chars. */
static int split_words(const char *s, char words[][64], int max) {
    int n = 0;
    while (s && *s && n < max) {
        while (*s && !isalnum((unsigned char)*s)) s++;
        int len = 0;
        while (*s && isalnum((unsigned char)*s)) {
            if (len < 63) words[n][len++] = (char)tolower((unsigned char)*s);
            s++;
        }
        if (len) words[n][len] = 0, n++;
    }
    return n;
}

static int contains_word(const char *hay, const char *word) {
    if (!hay) return 0;
    size_t wl = strlen(word);
    for (const char *p = hay; *p; p++) {
        if (strncasecmp(p, word, wl) != 0) continue;
        int before = p == hay || !isalnum((unsigned char)p[-1]);
        int after = !isalnum((unsigned char)p[wl]);
        if (before && after) return 1;
    }
    return 0;
}

/* 1 when the JSON array text holds an object whose key equals value. */
static int json_array_has(const char *json_text, const char *key, const char *value) {
    if (!json_text || !value) return 0;
    json_t *arr = json_loads(json_text, 0, NULL);
    int found = 0;
    size_t i;
    json_t *el;
    json_array_foreach(arr, i, el) {
        const char *v = json_string_value(json_object_get(el, key));
        if (v && strcmp(v, value) == 0) { found = 1; break; }
    }
    json_decref(arr);
    return found;
}

static int passes_filters(const search_params *p, const image_rec *r) {
    if (strcmp(r->status, "ready") != 0 && strcmp(r->status, "pending") != 0) return 0;
    if (p->label && *p->label && !json_array_has(r->tags_json, "label", p->label)) return 0;
    if (p->emotion && *p->emotion && !json_array_has(r->faces_json, "emotion", p->emotion))
        return 0;
    int has_text = r->text && *r->text;
    if (p->has_text == 0 && has_text) return 0;
    if (p->has_text == 1 && !has_text) return 0;
    if (p->from && (!r->taken_at || r->taken_at < p->from)) return 0;
    if (p->to && (!r->taken_at || r->taken_at >= p->to)) return 0;
    return 1;
}

/* "matched: beach (filename) · red (colour)". Malloc'ed. */
static char *explain(const image_rec *r, char words[][64], int nwords) {
    char buf[1024];
    size_t len = 0;
    buf[0] = 0;
    static const char *const field_names[] = {"caption", "tag", "text", "filename", "colour", "exif"};
    for (int i = 0; i < nwords; i++) {
        const char *fields[] = {r->caption, r->tags_json, r->text, r->filename, r->colors_json,
                                r->exif_json};
        for (int f = 0; f < 6; f++) {
            if (!contains_word(fields[f], words[i])) continue;
            len += (size_t)snprintf(buf + len, sizeof buf - len, "%s%s (%s)",
                                    len ? " · " : "matched: ", words[i], field_names[f]);
            if (len >= sizeof buf) len = sizeof buf - 1;
            break;
        }
    }
    return strdup(buf);
}

static int cmp_score(const void *a, const void *b) {
    const search_result *x = a, *y = b;
    return (x->score < y->score) - (x->score > y->score);
}

static int cmp_date(const void *a, const void *b) {
    const search_result *x = a, *y = b;
    if (x->taken_at != y->taken_at) return (x->taken_at < y->taken_at) - (x->taken_at > y->taken_at);
    return cmp_score(a, b);
}

int search_run(search_engine *se, const search_params *p, search_result **out, int *n,
               scry_err *err) {
    *out = NULL;
    *n = 0;
    if (!p->q) return scry_fail(err, SCRY_EINVAL, "missing query");
    int limit = p->limit <= 0 ? 20 : p->limit > 200 ? 200 : p->limit;
    int offset = p->offset < 0 ? 0 : p->offset;
    char words[32][64];
    int nwords = split_words(p->q, words, 32);
    metrics_add(M_SEARCHES, 1);
    if (nwords == 0) return SCRY_OK;

    char *match = meta_fts_query_from_text(p->q);
    if (!match) return scry_fail(err, SCRY_ENOMEM, "out of memory");
    meta_hit *hits = NULL;
    int nhits = 0;
    int rc = meta_fts_search(se->meta, match, CANDIDATES, &hits, &nhits, err);
    free(match);
    if (rc != SCRY_OK) return rc;

    search_result *res = calloc((size_t)(nhits ? nhits : 1), sizeof *res);
    if (!res) {
        free(hits);
        return scry_fail(err, SCRY_ENOMEM, "out of memory");
    }
    int kept = 0;
    for (int i = 0; i < nhits; i++) {
        image_rec r;
        if (meta_image_get(se->meta, hits[i].id, &r, NULL) != SCRY_OK) continue;
        if (passes_filters(p, &r)) {
            search_result *s = &res[kept++];
            memcpy(s->id, r.id, sizeof s->id);
            s->filename = scry_strdup(r.filename);
            s->caption = scry_strdup(r.caption ? r.caption : "");
            s->why = explain(&r, words, nwords);
            s->score = hits[i].bm25 > 0 ? hits[i].bm25 / (hits[i].bm25 + 1.0) : 0;
            s->taken_at = r.taken_at;
        }
        image_rec_free(&r);
    }
    free(hits);
    qsort(res, (size_t)kept, sizeof *res, p->sort == SORT_DATE ? cmp_date : cmp_score);
    /* Cut the page: free what falls outside it. */
    int start = offset < kept ? offset : kept;
    int end = start + limit < kept ? start + limit : kept;
    for (int i = 0; i < kept; i++) {
        if (i >= start && i < end) continue;
        free(res[i].filename);
        free(res[i].caption);
        free(res[i].why);
    }
    if (start > 0) memmove(res, res + start, (size_t)(end - start) * sizeof *res);
    *out = res;
    *n = end - start;
    return SCRY_OK;
}
