/* kwindex.c -- see kwindex.h.
 *
 * Layout: a term dictionary (open addressing, string -> term id) whose terms
 * own posting arrays {document slot, weighted tf}; a document array indexed
 * by slot {rowid, length, its term ids, alive}; a rowid -> slot hash. A
 * search accumulates scores in a dense float array over slots (touched slots
 * listed so the scan costs what the postings cost), then keeps the best k in
 * a min-heap, asking the allow filter only about documents that would enter
 * the heap.
 *
 * Speed (bench/search, 100k images, where common words have posting lists of
 * 45k): the accumulator and the touched list come from a pool of per-search
 * scratch buffers (a fresh 400 KB calloc per query cost page faults and
 * zeroing; a used accumulator is cleared through its touched list), and the
 * scoring loop reads document lengths from a dense float array (dead
 * documents have length -1) instead of striding over the document records.
 * Stopwords are found by binary search in a sorted table. */
#include "search/kwindex.h"

#include "core/util.h"
#include "search/rowmap.h"
#include "search/snapshot.h"

#include <float.h>
#include <jansson.h>
#include <math.h>
#include <stdatomic.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define K1 1.2
#define B 0.75
#define W_FILENAME 1.0f
#define W_CAPTION 2.0f
#define W_TAGS 2.0f
#define W_TEXT 1.5f
#define W_EXIF 1.0f
#define W_COLORS 1.0f
#define TERM_MAX 48
#define QUERY_TERMS 32

typedef struct posting {
    uint32_t doc;
    float wtf;
} posting;

typedef struct term {
    char *s;
    uint32_t df;                /* live documents containing it */
    posting *p;
    uint32_t n, cap;
    /* over every posting ever added (deletes leave them: still bounds):
     * the score bound of a search's pruning (kw_search) */
    float max_wtf, min_len;
} term;

typedef struct doc {
    int64_t rowid;
    float len;
    uint32_t *terms;            /* term ids (owned) */
    uint32_t nterms;
    int alive;
} doc;

/* Per-search buffers, pooled (searches may run concurrently). */
typedef struct kw_scratch {
    float *acc;                 /* all zero between searches */
    uint32_t acc_cap;
    uint64_t *seen;             /* bit per slot: touched (pruned phase); all zero between searches */
    uint32_t seen_cap;          /* in slots */
    uint32_t *touched;
    size_t touched_cap;
    struct kw_scratch *next;
} kw_scratch;

struct kwindex {
    term *terms;
    uint32_t nterms, tcap;
    uint32_t *thash;            /* term id + 1, 0 = empty */
    size_t thcap;
    doc *docs;
    float *dlen;                /* per slot: document length, -1 when dead (hot in searches) */
    uint32_t ndocs, dcap, live;
    double total_len;           /* of live documents */
    rowmap rows;                /* rowid -> doc slot */
    pthread_mutex_t pool_mu;
    kw_scratch *pool;
    atomic_size_t pruned;       /* searches that skipped new documents (kw_pruned_searches) */
};

/* ---- words -------------------------------------------------------------------- */

static const char *const stopwords[] = {
    "a", "an", "the", "and", "or", "of", "in", "on", "at", "to", "with", "by", "for", "from",
    "is", "are", "was", "were", "be", "been", "being", "it", "its", "this", "that", "these",
    "those", "there", "some", "his", "her", "their", "they", "he", "she", "as", "into", "onto",
    "very", "has", "have", "had", "while", "who", "which", "what", "then", "than", "up", "out",
    "photo", "photos", "picture", "pictures", "image", "images", "show", "me", "jpg", "jpeg",
    "png", "gif", "webp", "tif", "tiff", "heic", "heif"};

#define NSTOP (sizeof stopwords / sizeof *stopwords)
static const char *sorted_stop[NSTOP];
static pthread_once_t stop_once = PTHREAD_ONCE_INIT;

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}
static void sort_stopwords(void) {
    memcpy(sorted_stop, stopwords, sizeof stopwords);
    qsort(sorted_stop, NSTOP, sizeof *sorted_stop, cmp_str);
}

static int is_stopword(const char *w) {
    pthread_once(&stop_once, sort_stopwords);
    size_t lo = 0, hi = NSTOP;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = strcmp(sorted_stop[mid], w);
        if (c == 0) return 1;
        if (c < 0) lo = mid + 1;
        else hi = mid;
    }
    return 0;
}

static int ends(const char *w, size_t n, const char *suf) {
    size_t k = strlen(suf);
    return n >= k && memcmp(w + n - k, suf, k) == 0;
}
static int vowel(char c) { return c == 'a' || c == 'e' || c == 'i' || c == 'o' || c == 'u'; }

/* A light suffix stemmer. It need not produce words, only map a word's
 * inflections to one form, the same way on both sides of the index. */
static void stem(char *w) {
    size_t n = strlen(w);
    if (n < 3 || (w[0] >= '0' && w[0] <= '9')) return;
    if (n > 4 && ends(w, n, "ies")) {
        strcpy(w + n - 3, "y");
        n -= 2;
    } else if (n > 4 && (ends(w, n, "sses") || ends(w, n, "xes") || ends(w, n, "zes") ||
                         ends(w, n, "ches") || ends(w, n, "shes"))) {
        n -= 2;
        w[n] = 0;
    } else if (n > 3 && w[n - 1] == 's' && !ends(w, n, "ss") && !ends(w, n, "us")) {
        w[--n] = 0;
    }
    size_t cut = 0;
    if (n > 5 && ends(w, n, "ing")) cut = 3;
    else if (n > 4 && ends(w, n, "ed") && w[n - 3] != 'e') cut = 2;
    if (cut && !vowel(w[n - cut - 1]) && w[n - cut - 1] == w[n - cut - 2] &&
        w[n - cut - 1] != 'l' && w[n - cut - 1] != 's' && w[n - cut - 1] != 'z')
        cut++;                  /* sitting -> sit, parked -> park */
    if (cut && n - cut >= 3) {
        n -= cut;
        w[n] = 0;
    }
    if (n > 3 && w[n - 1] == 'e') w[--n] = 0; /* horse/horses, ride/riding */
}

const char *kw_term(const char *word, char *buf, size_t cap) {
    size_t n = 0;
    for (; word[n] && n + 1 < cap; n++) {
        char c = word[n];
        buf[n] = c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
    }
    buf[n] = 0;
    if (is_stopword(buf)) buf[0] = 0;
    else stem(buf);
    return buf;
}

static int isalnum_ascii(unsigned char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

typedef void (*word_fn)(void *ctx, const char *term, float weight);

/* Split text into words (letter runs, digit runs, camelCase humps) and hand
 * each one's term to fn. */
static void each_word(const char *text, float weight, word_fn fn, void *ctx) {
    if (!text) return;
    const unsigned char *p = (const unsigned char *)text;
    while (*p) {
        while (*p && !(isalnum_ascii(*p) || *p >= 0x80)) p++;
        if (!*p) break;
        char w[TERM_MAX];
        size_t n = 0;
        int digit = *p >= '0' && *p <= '9';
        for (;;) {
            unsigned char c = *p;
            int is_digit = c >= '0' && c <= '9';
            int is_letter = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c >= 0x80;
            if (!is_digit && !is_letter) break;
            if (n && is_digit != digit) break;                             /* DSC01234 */
            if (n && c >= 'A' && c <= 'Z' && p[-1] >= 'a' && p[-1] <= 'z') break; /* camelCase */
            if (n + 1 < sizeof w) w[n++] = (char)c;
            p++;
        }
        w[n] = 0;
        char t[TERM_MAX];
        if (n >= 2 || (n == 1 && digit)) {
            kw_term(w, t, sizeof t);
            if (t[0]) fn(ctx, t, weight);
        }
    }
}

/* ---- the dictionary ---------------------------------------------------------------- */

static uint64_t hash_str(const char *s) { return scry_fnv1a(SCRY_FNV1A_INIT, s, strlen(s)); }

static int64_t term_find(const kwindex *kw, const char *s) {
    if (!kw->thcap) return -1;
    size_t mask = kw->thcap - 1, i = hash_str(s) & mask;
    while (kw->thash[i]) {
        uint32_t id = kw->thash[i] - 1;
        if (strcmp(kw->terms[id].s, s) == 0) return id;
        i = (i + 1) & mask;
    }
    return -1;
}

static int term_rehash(kwindex *kw, size_t cap) {
    uint32_t *h = calloc(cap, sizeof *h);
    if (!h) return SCRY_ENOMEM;
    for (uint32_t id = 0; id < kw->nterms; id++) {
        size_t i = hash_str(kw->terms[id].s) & (cap - 1);
        while (h[i]) i = (i + 1) & (cap - 1);
        h[i] = id + 1;
    }
    free(kw->thash);
    kw->thash = h;
    kw->thcap = cap;
    return SCRY_OK;
}

static int64_t term_intern(kwindex *kw, const char *s) {
    int64_t id = term_find(kw, s);
    if (id >= 0) return id;
    if ((kw->nterms + 1) * 2 > kw->thcap && term_rehash(kw, kw->thcap ? kw->thcap * 2 : 4096)) return -1;
    if (kw->nterms == kw->tcap) {
        uint32_t cap = kw->tcap ? kw->tcap * 2 : 1024;
        term *t = realloc(kw->terms, cap * sizeof *t);
        if (!t) return -1;
        kw->terms = t;
        kw->tcap = cap;
    }
    term *t = &kw->terms[kw->nterms];
    memset(t, 0, sizeof *t);
    t->min_len = FLT_MAX;       /* no posting yet (term_bound) */
    t->s = strdup(s);
    if (!t->s) return -1;
    size_t i = hash_str(s) & (kw->thcap - 1);
    while (kw->thash[i]) i = (i + 1) & (kw->thcap - 1);
    kw->thash[i] = kw->nterms + 1;
    return kw->nterms++;
}

/* ---- rowid -> slot ------------------------------------------------------------------ */

/* Rebuild the rowid map from the live documents (after compaction moved
 * them). */
static int row_rebuild(kwindex *kw) {
    rowmap_clear(&kw->rows);
    for (uint32_t d = 0; d < kw->ndocs; d++)
        if (kw->docs[d].alive && rowmap_put(&kw->rows, kw->docs[d].rowid, d) != SCRY_OK)
            return SCRY_ENOMEM;
    return SCRY_OK;
}

/* ---- documents ---------------------------------------------------------------------- */

kwindex *kw_new(void) {
    kwindex *kw = calloc(1, sizeof(kwindex));
    if (kw) pthread_mutex_init(&kw->pool_mu, NULL);
    return kw;
}

void kw_free(kwindex *kw) {
    if (!kw) return;
    for (uint32_t i = 0; i < kw->nterms; i++) {
        free(kw->terms[i].s);
        free(kw->terms[i].p);
    }
    for (uint32_t d = 0; d < kw->ndocs; d++) free(kw->docs[d].terms);
    free(kw->terms);
    free(kw->thash);
    free(kw->docs);
    free(kw->dlen);
    rowmap_free(&kw->rows);
    while (kw->pool) {
        kw_scratch *nx = kw->pool->next;
        free(kw->pool->acc);
        free(kw->pool->touched);
        free(kw->pool->seen);
        free(kw->pool);
        kw->pool = nx;
    }
    pthread_mutex_destroy(&kw->pool_mu);
    free(kw);
}

size_t kw_count(const kwindex *kw) { return kw->live; }

static void kill_doc(kwindex *kw, uint32_t d) {
    doc *dc = &kw->docs[d];
    if (!dc->alive) return;
    dc->alive = 0;
    kw->dlen[d] = -1;
    for (uint32_t i = 0; i < dc->nterms; i++) kw->terms[dc->terms[i]].df--;
    free(dc->terms);
    dc->terms = NULL;
    dc->nterms = 0;
    kw->live--;
    kw->total_len -= dc->len;
}

/* A posting of weighted tf wtf in a document of length len joins t's
 * bounds (min_len starts at FLT_MAX). */
static void term_bound(term *t, float wtf, float len) {
    if (wtf > t->max_wtf) t->max_wtf = wtf;
    if (len < t->min_len) t->min_len = len;
}

/* Drop dead documents: renumber slots, filter postings, rebuild the map. */
static int compact(kwindex *kw) {
    uint32_t *remap = malloc((kw->ndocs + 1) * sizeof *remap);
    if (!remap) return SCRY_ENOMEM;
    uint32_t n = 0;
    for (uint32_t d = 0; d < kw->ndocs; d++) {
        remap[d] = kw->docs[d].alive ? n : UINT32_MAX;
        if (kw->docs[d].alive) {
            kw->dlen[n] = kw->dlen[d];
            kw->docs[n++] = kw->docs[d];
        }
    }
    kw->ndocs = n;
    for (uint32_t t = 0; t < kw->nterms; t++) {
        term *tm = &kw->terms[t];
        uint32_t k = 0;
        for (uint32_t i = 0; i < tm->n; i++) {
            uint32_t to = remap[tm->p[i].doc];
            if (to != UINT32_MAX) tm->p[k++] = (posting){to, tm->p[i].wtf};
        }
        tm->n = k;
    }
    free(remap);
    return row_rebuild(kw);
}

typedef struct tf_acc {
    kwindex *kw;
    uint32_t *ids;
    float *wtf;
    uint32_t n, cap;
    float len;
    int oom;
} tf_acc;

static void acc_word(void *ctx, const char *t, float weight) {
    tf_acc *a = ctx;
    a->len += weight;
    int64_t id = term_intern(a->kw, t);
    if (id < 0) { a->oom = 1; return; }
    for (uint32_t i = 0; i < a->n; i++)
        if (a->ids[i] == (uint32_t)id) { a->wtf[i] += weight; return; }
    if (a->n == a->cap) {
        uint32_t cap = a->cap ? a->cap * 2 : 64;
        uint32_t *ids = realloc(a->ids, cap * sizeof *ids);
        if (ids) a->ids = ids;
        float *w = realloc(a->wtf, cap * sizeof *w);
        if (w) a->wtf = w;
        if (!ids || !w) { a->oom = 1; return; }
        a->cap = cap;
    }
    a->ids[a->n] = (uint32_t)id;
    a->wtf[a->n++] = weight;
}

/* Words read in the image (OCR) are terms of their own, marked with a
 * leading '#' (never part of a word): a query can then weigh "a sign that
 * says sunset" fully and "sunset" (a scene) below what is seen. */
#define OCR_MARK '#'
static void acc_ocr_word(void *ctx, const char *t, float weight) {
    char m[TERM_MAX + 2];
    m[0] = OCR_MARK;
    snprintf(m + 1, sizeof m - 1, "%s", t);
    acc_word(ctx, m, weight);
}

static const char *const month_names[12] = {"january", "february", "march", "april", "may", "june",
                                            "july", "august", "september", "october", "november",
                                            "december"};

int kw_put(kwindex *kw, const image_rec *r) {
    if (r->rowid <= 0) return SCRY_EINVAL;
    uint32_t old;
    if (rowmap_get(&kw->rows, r->rowid, &old)) {
        kill_doc(kw, old);
        rowmap_del(&kw->rows, r->rowid);    /* re-inserted below */
    }

    tf_acc a = {.kw = kw};
    each_word(r->filename, W_FILENAME, acc_word, &a);
    each_word(r->caption, W_CAPTION, acc_word, &a);
    each_word(r->text, W_TEXT, acc_ocr_word, &a);
    size_t i;
    json_t *el;
    json_t *tags = r->tags_json ? json_loads(r->tags_json, 0, NULL) : NULL;
    json_array_foreach(tags, i, el) {
        /* A learned concept ("kind": "concept") counts as much as the head
         * is sure of it: "grass" at 0.4 is 0.4 of a detected label. */
        const char *kind = json_string_value(json_object_get(el, "kind"));
        float w = W_TAGS;
        if (kind && strcmp(kind, "concept") == 0)
            w *= (float)json_number_value(json_object_get(el, "score"));
        each_word(json_string_value(json_object_get(el, "color")), w, acc_word, &a);
        each_word(json_string_value(json_object_get(el, "label")), w, acc_word, &a);
    }
    json_decref(tags);
    json_t *faces = r->faces_json ? json_loads(r->faces_json, 0, NULL) : NULL;
    json_array_foreach(faces, i, el) {
        each_word(json_string_value(json_object_get(el, "emotion")), W_TAGS, acc_word, &a);
        each_word(json_string_value(json_object_get(el, "person")), W_TAGS, acc_word, &a);
        each_word("face", W_TAGS, acc_word, &a);
    }
    json_decref(faces);
    json_t *colors = r->colors_json ? json_loads(r->colors_json, 0, NULL) : NULL;
    json_array_foreach(colors, i, el) each_word(json_string_value(json_object_get(el, "name")), W_COLORS, acc_word, &a);
    json_decref(colors);
    json_t *exif = r->exif_json ? json_loads(r->exif_json, 0, NULL) : NULL;
    each_word(json_string_value(json_object_get(exif, "camera")), W_EXIF, acc_word, &a);
    json_decref(exif);
    if (r->taken_at > 0) {
        time_t t = (time_t)r->taken_at;
        struct tm tm;
        gmtime_r(&t, &tm);
        char w[64];
        snprintf(w, sizeof w, "%d %s", tm.tm_year + 1900, month_names[tm.tm_mon]);
        each_word(w, W_EXIF, acc_word, &a);
    }

    int rc = a.oom ? SCRY_ENOMEM : SCRY_OK;
    if (rc == SCRY_OK && kw->ndocs == kw->dcap) {
        uint32_t cap = kw->dcap ? kw->dcap * 2 : 1024;
        doc *d = realloc(kw->docs, cap * sizeof *d);
        if (d) kw->docs = d;
        float *dl = realloc(kw->dlen, cap * sizeof *dl);
        if (dl) kw->dlen = dl;
        if (d && dl) kw->dcap = cap;
        else rc = SCRY_ENOMEM;
    }
    for (uint32_t k = 0; rc == SCRY_OK && k < a.n; k++) {
        term *t = &kw->terms[a.ids[k]];
        if (t->n == t->cap) {
            uint32_t cap = t->cap ? t->cap * 2 : 4;
            posting *p = realloc(t->p, cap * sizeof *p);
            if (!p) { rc = SCRY_ENOMEM; break; }
            t->p = p;
            t->cap = cap;
        }
    }
    if (rc != SCRY_OK) {
        free(a.ids);
        free(a.wtf);
        return rc;
    }
    uint32_t slot = kw->ndocs++;
    doc *d = &kw->docs[slot];
    d->rowid = r->rowid;
    d->len = a.len;
    d->terms = a.ids;           /* ownership moves to the document */
    d->nterms = a.n;
    d->alive = 1;
    kw->dlen[slot] = a.len;
    for (uint32_t k = 0; k < a.n; k++) {
        term *t = &kw->terms[a.ids[k]];
        t->p[t->n++] = (posting){slot, a.wtf[k]};
        t->df++;
        term_bound(t, a.wtf[k], a.len);
    }
    free(a.wtf);
    kw->live++;
    kw->total_len += a.len;
    if (rowmap_put(&kw->rows, r->rowid, slot) != SCRY_OK) {
        kill_doc(kw, slot);
        return SCRY_ENOMEM;
    }
    if (kw->ndocs - kw->live > 1024 && kw->ndocs - kw->live > kw->live) return compact(kw);
    return SCRY_OK;
}

void kw_remove(kwindex *kw, int64_t rowid) {
    uint32_t slot;
    if (!rowmap_get(&kw->rows, rowid, &slot)) return;
    kill_doc(kw, slot);
    rowmap_del(&kw->rows, rowid);
    if (kw->ndocs - kw->live > 1024 && kw->ndocs - kw->live > kw->live) compact(kw);
}

/* ---- search ------------------------------------------------------------------------- */

typedef struct qterms {
    const kwindex *kw;
    float ocr_weight;
    int64_t ids[2 * QUERY_TERMS];
    float w[2 * QUERY_TERMS];
    int n;
} qterms;

static void q_term(qterms *q, const char *t, float weight) {
    int64_t id = term_find(q->kw, t);
    if (id < 0 || weight <= 0 || q->n == 2 * QUERY_TERMS) return;
    for (int i = 0; i < q->n; i++)
        if (q->ids[i] == id) return;
    q->ids[q->n] = id;
    q->w[q->n++] = weight;
}

/* Each query word matches what is seen and, at ocr_weight, what is read. */
static void q_word(void *ctx, const char *t, float weight) {
    (void)weight;
    qterms *q = ctx;
    q_term(q, t, 1.0f);
    char m[TERM_MAX + 2];
    m[0] = OCR_MARK;
    snprintf(m + 1, sizeof m - 1, "%s", t);
    q_term(q, m, q->ocr_weight);
}

static kw_scratch *scratch_get(kwindex *kw) {
    pthread_mutex_lock(&kw->pool_mu);
    kw_scratch *s = kw->pool;
    if (s) kw->pool = s->next;
    pthread_mutex_unlock(&kw->pool_mu);
    return s ? s : calloc(1, sizeof *s);
}

static void scratch_put(kwindex *kw, kw_scratch *s) {
    pthread_mutex_lock(&kw->pool_mu);
    s->next = kw->pool;
    kw->pool = s;
    pthread_mutex_unlock(&kw->pool_mu);
}

/* Room for ndocs accumulators (zeroed) and ntouched touched slots. */
static int scratch_fit(kw_scratch *s, uint32_t ndocs, size_t ntouched) {
    if (s->acc_cap < ndocs) {
        uint32_t cap = ndocs + ndocs / 4 + 1024;
        float *a = calloc(cap, sizeof *a);
        if (!a) return SCRY_ENOMEM;
        free(s->acc);
        s->acc = a;
        s->acc_cap = cap;
    }
    if (s->seen_cap < ndocs) {
        uint32_t cap = ndocs + ndocs / 4 + 1024;
        uint64_t *b = calloc(cap / 64 + 1, sizeof *b);
        if (!b) return SCRY_ENOMEM;
        free(s->seen);
        s->seen = b;
        s->seen_cap = cap;
    }
    if (s->touched_cap < ntouched) {
        size_t cap = ntouched + ntouched / 4 + 1024;
        uint32_t *t = malloc(cap * sizeof *t);
        if (!t) return SCRY_ENOMEM;
        free(s->touched);
        s->touched = t;
        s->touched_cap = cap;
    }
    return SCRY_OK;
}

/* Term-at-a-time BM25 with MaxScore-style pruning. Terms go rarest
 * (highest score bound) first. Before a long posting list: when k allowed
 * documents already score more than the remaining terms together could
 * give an untouched document (the k-th best can only rise), no new
 * document can enter the top k, and the remaining lists only add to
 * documents already touched (a bit test per posting instead of two
 * scattered reads and a write). Scores are exact: the pruning only skips
 * documents that cannot be returned. A word such as "person" is in ~45% of
 * photos, so at 1M images its list alone is 450k postings. */
#define PRUNE_MIN_POSTINGS 16384

typedef struct qorder {
    int i;                      /* index into qterms */
    float idf1, bound;          /* idf x (K1 + 1) x weight; most a posting can add */
} qorder;

/* Whether k of the touched documents allow() admits already score above
 * floor (then the k-th best does, and will). Stops at the k-th. */
static int k_above(const kwindex *kw, const float *acc, const uint32_t *touched, size_t nt, int k,
                   float floor, int (*allow)(int64_t, void *), void *ctx) {
    int n = 0;
    for (size_t i = 0; i < nt && n < k; i++)
        if (acc[touched[i]] > floor && (!allow || allow(kw->docs[touched[i]].rowid, ctx))) n++;
    return n >= k;
}

int kw_search(const kwindex *kw, const char *text, int k, float ocr_weight,
              int (*allow)(int64_t rowid, void *ctx), void *ctx, kw_hit *out) {
    if (k <= 0 || !kw->live || !text) return 0;
    qterms q = {.kw = kw, .ocr_weight = ocr_weight};
    each_word(text, 1, q_word, &q);
    if (!q.n) return 0;
    size_t tcap = 0;
    for (int i = 0; i < q.n; i++) tcap += kw->terms[q.ids[i]].n;
    /* The pool is the one mutable part of a search (behind its own mutex). */
    kwindex *mkw = (kwindex *)kw;
    kw_scratch *s = scratch_get(mkw);
    if (!s) return SCRY_ENOMEM;
    if (scratch_fit(s, kw->ndocs, tcap) != SCRY_OK) {
        scratch_put(mkw, s);
        return SCRY_ENOMEM;
    }
    float *acc = s->acc;
    uint32_t *touched = s->touched;
    size_t ntouched = 0;
    const float *dlen = kw->dlen;
    double N = kw->live, avgdl = kw->total_len / (N > 0 ? N : 1);
    /* norm(len) = K1 * (1 - B + B * len / avgdl) = c0 + c1 * len */
    float c0 = (float)(K1 * (1 - B)), c1 = (float)(K1 * B / (avgdl > 0 ? avgdl : 1));
    qorder ord[2 * QUERY_TERMS];
    int no = 0;
    for (int i = 0; i < q.n; i++) {
        const term *t = &kw->terms[q.ids[i]];
        if (!t->df) continue;
        float idf1 = (float)(log(1.0 + (N - t->df + 0.5) / (t->df + 0.5)) * (K1 + 1)) * q.w[i];
        float bound = idf1 * t->max_wtf / (t->max_wtf + c0 + c1 * t->min_len);
        qorder o = {i, idf1, bound};
        int j = no++;
        for (; j > 0 && ord[j - 1].bound < bound; j--) ord[j] = ord[j - 1];
        ord[j] = o;
    }
    float rest[2 * QUERY_TERMS + 1];    /* rest[j]: the bounds of terms j.. summed */
    rest[no] = 0;
    for (int j = no - 1; j >= 0; j--) rest[j] = rest[j + 1] + ord[j].bound;
    int pruned = 0;
    for (int j = 0; j < no; j++) {
        const term *t = &kw->terms[q.ids[ord[j].i]];
        float idf1 = ord[j].idf1;
        const posting *p = t->p, *end = t->p + t->n;
        if (!pruned && t->n >= PRUNE_MIN_POSTINGS && ntouched >= (size_t)k &&
            k_above(kw, acc, touched, ntouched, k, rest[j] * 1.001f, allow, ctx)) {
            pruned = 1;
            atomic_fetch_add(&mkw->pruned, 1);
            for (size_t i = 0; i < ntouched; i++) s->seen[touched[i] >> 6] |= 1ULL << (touched[i] & 63);
        }
        if (pruned) {
            for (; p < end; p++) {
                if (!(s->seen[p->doc >> 6] >> (p->doc & 63) & 1)) continue;
                float len = dlen[p->doc];
                if (len >= 0) acc[p->doc] += idf1 * p->wtf / (p->wtf + c0 + c1 * len);
            }
            continue;
        }
        for (; p < end; p++) {
            float len = dlen[p->doc];
            if (len < 0) continue;
            float a = acc[p->doc];
            if (a == 0) touched[ntouched++] = p->doc;
            acc[p->doc] = a + idf1 * p->wtf / (p->wtf + c0 + c1 * len);
        }
    }
    int n = 0;
    for (size_t i = 0; i < ntouched; i++) {
        uint32_t slot = touched[i];
        kw_hit h = {kw->docs[slot].rowid, acc[slot], NULL};
        acc[slot] = 0;          /* leaves the accumulator clean for the next search */
        if (pruned) s->seen[slot >> 6] = 0;
        /* the cheap test first: allow() only for hits that would get in */
        if (n == k && !topk_weaker(&out[0], &h)) continue;
        if (allow && !allow(h.rowid, ctx)) continue;
        topk_offer(out, &n, k, h);
    }
    scratch_put(mkw, s);
    topk_sort(out, n);
    return n;
}

typedef struct rarest {
    const kwindex *kw;
    int words;
    int64_t best;               /* term id, -1: a word no document has read */
    uint32_t best_df;
} rarest;

static void rarest_word(void *ctx, const char *t, float weight) {
    (void)weight;
    rarest *r = ctx;
    char m[TERM_MAX + 2];
    m[0] = OCR_MARK;
    snprintf(m + 1, sizeof m - 1, "%s", t);
    int64_t id = term_find(r->kw, m);
    uint32_t df = id < 0 ? 0 : r->kw->terms[id].df;
    if (!r->words++ || df < r->best_df) r->best = id, r->best_df = df;
}

int kw_read_docs(const kwindex *kw, const char *text, int64_t **out, size_t *n) {
    *out = NULL;
    *n = 0;
    rarest r = {kw, 0, -1, 0};
    each_word(text, 1, rarest_word, &r);
    if (!r.words) return SCRY_ENOTFOUND;
    if (r.best < 0 || !r.best_df) return SCRY_OK;
    const term *t = &kw->terms[r.best];
    int64_t *ids = malloc((size_t)t->n * sizeof *ids);
    if (!ids) return SCRY_ENOMEM;
    for (uint32_t i = 0; i < t->n; i++)
        if (kw->docs[t->p[i].doc].alive) ids[(*n)++] = kw->docs[t->p[i].doc].rowid;
    *out = ids;
    return SCRY_OK;
}

size_t kw_pruned_searches(const kwindex *kw) { return atomic_load(&((kwindex *)kw)->pruned); }

/* ---- snapshots ------------------------------------------------------------------- */

/* Live documents only, renumbered densely (dead slots are not worth
 * keeping); postings are rewritten to the new slot numbers. */
void kw_write(const kwindex *kw, snap_out *o) {
    uint32_t *remap = malloc(((size_t)kw->ndocs + 1) * sizeof *remap);
    if (!remap) {
        o->oom = 1;
        return;
    }
    uint32_t n = 0;
    for (uint32_t d = 0; d < kw->ndocs; d++) remap[d] = kw->docs[d].alive ? n++ : UINT32_MAX;
    snap_u32(o, kw->nterms);
    for (uint32_t t = 0; t < kw->nterms; t++) {
        const term *tm = &kw->terms[t];
        snap_str(o, tm->s);
        snap_u32(o, tm->df);
        uint32_t live = 0;
        for (uint32_t i = 0; i < tm->n; i++) live += remap[tm->p[i].doc] != UINT32_MAX;
        snap_u32(o, live);
        for (uint32_t i = 0; i < tm->n; i++) {
            uint32_t to = remap[tm->p[i].doc];
            if (to == UINT32_MAX) continue;
            posting p = {to, tm->p[i].wtf};
            snap_put(o, &p, sizeof p);
        }
    }
    snap_u32(o, n);
    for (uint32_t d = 0; d < kw->ndocs; d++) {
        const doc *dc = &kw->docs[d];
        if (!dc->alive) continue;
        snap_u64(o, (uint64_t)dc->rowid);
        snap_put(o, &dc->len, sizeof dc->len);
        snap_u32(o, dc->nterms);
        snap_put(o, dc->terms, dc->nterms * sizeof *dc->terms);
    }
    free(remap);
}

int kw_read(kwindex **out, snap_in *in) {
    *out = NULL;
    kwindex *kw = kw_new();
    if (!kw) return SCRY_ENOMEM;
    uint32_t nterms = snap_get_u32(in);
    if (!in->bad && nterms > (in->len - in->off) / 12) in->bad = 1;
    if (!in->bad && nterms) {
        kw->terms = calloc(nterms, sizeof *kw->terms);
        kw->tcap = nterms;
        if (!kw->terms) in->bad = 1;
    }
    for (uint32_t t = 0; !in->bad && t < nterms; t++) {
        term *tm = &kw->terms[t];
        tm->s = snap_get_str(in);
        tm->df = snap_get_u32(in);
        tm->n = tm->cap = snap_get_u32(in);
        kw->nterms++;
        if (!tm->s || in->bad || tm->n > (in->len - in->off) / sizeof(posting)) {
            in->bad = 1;
            break;
        }
        if (tm->n && (!(tm->p = malloc(tm->n * sizeof *tm->p)) || snap_get(in, tm->p, tm->n * sizeof *tm->p)))
            in->bad = 1;
    }
    if (!in->bad && term_rehash(kw, 4096 > (size_t)nterms * 2 ? 4096 : ((size_t)1 << (64 - __builtin_clzll((uint64_t)nterms * 2)))))
        in->bad = 1;
    uint32_t ndocs = snap_get_u32(in);
    if (!in->bad && ndocs > (in->len - in->off) / 16) in->bad = 1;
    if (!in->bad && ndocs) {
        kw->docs = calloc(ndocs, sizeof *kw->docs);
        kw->dlen = malloc(ndocs * sizeof *kw->dlen);
        kw->dcap = ndocs;
        if (!kw->docs || !kw->dlen) in->bad = 1;
    }
    for (uint32_t d = 0; !in->bad && d < ndocs; d++) {
        doc *dc = &kw->docs[d];
        dc->rowid = (int64_t)snap_get_u64(in);
        snap_get(in, &dc->len, sizeof dc->len);
        dc->nterms = snap_get_u32(in);
        if (in->bad || dc->nterms > (in->len - in->off) / sizeof(uint32_t)) {
            in->bad = 1;
            break;
        }
        dc->terms = malloc((dc->nterms ? dc->nterms : 1) * sizeof *dc->terms);
        if (!dc->terms || snap_get(in, dc->terms, dc->nterms * sizeof *dc->terms)) {
            free(dc->terms);
            dc->terms = NULL;
            in->bad = 1;
            break;
        }
        for (uint32_t i = 0; i < dc->nterms; i++)
            if (dc->terms[i] >= nterms) in->bad = 1;
        dc->alive = 1;
        kw->dlen[d] = dc->len;
        kw->ndocs++;
        kw->live++;
        kw->total_len += dc->len;
    }
    for (uint32_t t = 0; !in->bad && t < kw->nterms; t++) {
        term *tm = &kw->terms[t];
        tm->min_len = FLT_MAX;
        for (uint32_t i = 0; i < tm->n && !in->bad; i++) {
            if (tm->p[i].doc >= kw->ndocs) in->bad = 1;
            else term_bound(tm, tm->p[i].wtf, kw->dlen[tm->p[i].doc]);
        }
    }
    if (!in->bad && row_rebuild(kw) != SCRY_OK) in->bad = 1;
    if (in->bad) {
        kw_free(kw);
        return SCRY_ECORRUPT;
    }
    *out = kw;
    return SCRY_OK;
}
