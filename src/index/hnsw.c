/* hnsw.c -- HNSW graph index; see hnsw.h for the contract.
 *
 * Layout. Everything lives in flat arrays indexed by a dense node id
 * (0..n-1), so the same arrays serve in memory and, unchanged, inside a
 * mapped file:
 *   level0   n records of rec_size bytes: [u32 count][u32 links x M0][f32 vec x dim].
 *            A node's level-0 links sit next to its vector, so expanding a node
 *            costs one cache-line stream per neighbour (hnswlib does the same).
 *   labels   int64 per node.
 *   levels   u8 per node (top level of the node).
 *   flags    u8 per node (bit 0: tombstone).
 *   upper_off u32 per node: start, in `upper`, of its level>=1 link lists, each
 *            [u32 count][u32 links x M]; UINT32_MAX when the node is level 0 only.
 * The label -> id map is an open-addressing table of u32 ids whose keys are
 * read from `labels` (4 bytes a slot, load <= 0.5), rebuilt at load.
 * Per vector at M=16, d=100: 532 B record + 8 label + 6 level/flags/offset
 * + ~8 map + ~1.1*(4+4M)/M upper ~ 560 B; hnswlib adds a mutex per node and an
 * unordered_map on top of the same record.
 *
 * Search. Upper levels: greedy descent. Level 0: best-first beam search with
 * a min-heap of candidates and a max-heap of the ef best eligible results;
 * ineligible nodes (tombstones, filtered out) still route. Unvisited
 * neighbours are first gathered and prefetched, then scored, so memory loads
 * overlap. Visited sets are u16 epoch-tagged arrays pooled per index.
 * Inner products use AVX-512 or AVX2+FMA when the CPU has them (chosen at run
 * time, so the build stays portable).
 *
 * Filters. The allowed fraction is estimated on a fixed sample of nodes; a
 * small allowed set (few thousand nodes or <5%) is answered by an exact scan
 * of the allowed nodes (cheap, and exact, where graph search would wander),
 * otherwise by the graph search with ef raised by 1/fraction (capped at 2x).
 *
 * Concurrency. One rwlock guards the graph; writers are serialised by a
 * mutex. An insert runs its (expensive) neighbour search holding only the
 * read lock -- nothing else can change the graph, the writer mutex is held --
 * and takes the write lock just to link the node in and prune neighbours.
 * The rwlock prefers writers so a steady search load cannot starve inserts.
 *
 * Deletes are tombstones (excluded from results, still used for routing);
 * hnsw_compact rebuilds from live vectors holding no lock across the
 * rebuild (searches and writes go on; writes are logged and replayed into
 * the copy) and swaps under the write lock.
 *
 * Persistence. File = 4 KiB header + 64-byte aligned sections (the arrays
 * above), each with a CRC32C (hardware instruction when available, ~8 GB/s),
 * plus a header CRC and the total size (detects truncation). Load maps the
 * file MAP_PRIVATE and validates checksums and every link id, then uses the
 * arrays in place: tombstoning a node dirties one page (kernel
 * copy-on-write); the first insert that needs room migrates all arrays to
 * the heap (one copy, ~0.3 s per 1M vectors). Trade-off: a loaded index is
 * ready at once and shares page cache, at the price of that one-time copy. */
#include "index/hnsw.h"

#include <errno.h>
#include <fcntl.h>
#include <float.h>
#include <immintrin.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/log.h"
#include "core/util.h"

#define FLAG_DELETED 1u
#define NO_UPPER UINT32_MAX
#define MAX_LEVEL 31
#define FILE_MAGIC "SCRYHNSW"
/* Beam width while inserting: its buffers are sized by it, so a file (or a
 * caller) cannot ask for gigabytes (found by fuzzing: efc = 2^30 in a header). */
#define MAX_EF_CONSTRUCTION 65536
#define FILE_VERSION 1u
#define HEADER_SIZE 4096u
#define NSECT 6
/* Filters: below these the search is an exact scan of the allowed nodes. */
#define EXACT_MAX_ALLOWED 8192.0
#define EXACT_MAX_FRACTION 0.05
#define FILTER_SAMPLE 512
/* A filtered graph search widens its beam by 1/allowed fraction, at most
 * this much. The search already walks on until it holds ef eligible nodes;
 * the widening only buys recall. Measured in bench/search at 100k images
 * (filtered searches of the query mix, k = ef = 300, against exact): cap 8
 * recall@300 0.9978, @50 0.9997; cap 2 0.9970, 0.9997 at ~1/3 less cost
 * per search; cap 1 0.9861, 0.9986. */
#define FILTER_EF_BOOST_MAX 2.0

/* ---------------------------------------------------------------- kernels */

typedef float (*dot_fn)(const float *a, const float *b, size_t d);

static float dot_scalar(const float *a, const float *b, size_t d) {
    float s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    size_t i = 0;
    for (; i + 4 <= d; i += 4) {
        s0 += a[i] * b[i];
        s1 += a[i + 1] * b[i + 1];
        s2 += a[i + 2] * b[i + 2];
        s3 += a[i + 3] * b[i + 3];
    }
    for (; i < d; i++) s0 += a[i] * b[i];
    return (s0 + s1) + (s2 + s3);
}

__attribute__((target("avx2,fma"))) static float dot_avx2(const float *a, const float *b,
                                                          size_t d) {
    __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
    size_t i = 0;
    for (; i + 16 <= d; i += 16) {
        s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
        s1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8), s1);
    }
    for (; i + 8 <= d; i += 8)
        s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
    s0 = _mm256_add_ps(s0, s1);
    __m128 h = _mm_add_ps(_mm256_castps256_ps128(s0), _mm256_extractf128_ps(s0, 1));
    h = _mm_add_ps(h, _mm_movehl_ps(h, h));
    h = _mm_add_ss(h, _mm_movehdup_ps(h));
    float s = _mm_cvtss_f32(h);
    for (; i < d; i++) s += a[i] * b[i];
    return s;
}

__attribute__((target("avx512f"))) static float dot_avx512(const float *a, const float *b,
                                                           size_t d) {
    __m512 s0 = _mm512_setzero_ps(), s1 = _mm512_setzero_ps();
    size_t i = 0;
    for (; i + 32 <= d; i += 32) {
        s0 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i), s0);
        s1 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i + 16), _mm512_loadu_ps(b + i + 16), s1);
    }
    for (; i + 16 <= d; i += 16)
        s0 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i), s0);
    if (i < d) {
        __mmask16 m = (__mmask16)((1u << (d - i)) - 1);
        s1 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, a + i), _mm512_maskz_loadu_ps(m, b + i), s1);
    }
    return _mm512_reduce_add_ps(_mm512_add_ps(s0, s1));
}

static dot_fn pick_dot(void) {
    __builtin_cpu_init();
    if (getenv("SCRY_HNSW_SCALAR")) return dot_scalar;
    if (__builtin_cpu_supports("avx512f")) return dot_avx512;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return dot_avx2;
    return dot_scalar;
}

/* CRC32C (Castagnoli): SSE4.2 instruction when present, table otherwise. */
static uint32_t crc_table[256];
static pthread_once_t crc_once = PTHREAD_ONCE_INIT;
static int crc_hw;

static void crc_init(void) {
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++) c = (c >> 1) ^ (0x82F63B78u & (0u - (c & 1u)));
        crc_table[i] = c;
    }
    __builtin_cpu_init();
    crc_hw = __builtin_cpu_supports("sse4.2");
}

__attribute__((target("sse4.2"))) static uint32_t crc_update_hw(uint32_t crc, const uint8_t *p,
                                                                size_t n) {
    uint64_t c = crc;
    while (n >= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        c = _mm_crc32_u64(c, w);
        p += 8;
        n -= 8;
    }
    uint32_t c32 = (uint32_t)c;
    while (n--) c32 = _mm_crc32_u8(c32, *p++);
    return c32;
}

static uint32_t crc32c(uint32_t crc, const void *data, size_t n) {
    pthread_once(&crc_once, crc_init);
    crc = ~crc;
    if (crc_hw) {
        crc = crc_update_hw(crc, data, n);
    } else {
        const uint8_t *p = data;
        while (n--) crc = crc_table[(crc ^ *p++) & 0xff] ^ (crc >> 8);
    }
    return ~crc;
}

/* ------------------------------------------------------------ structures */

typedef struct cand {
    float d;     /* distance = -dot: lower is closer */
    uint32_t id;
} cand;

/* Per-search scratch, pooled per index (a search borrows one). */
typedef struct scratch {
    uint16_t *tags;
    size_t tags_cap;
    uint16_t epoch;
    cand *cq;            /* candidate min-heap */
    size_t cq_n, cq_cap;
    cand *rs;            /* result max-heap */
    size_t rs_n, rs_cap;
    float *qbuf;         /* normalised query */
    uint32_t *batch;     /* unvisited neighbours of the node being expanded */
    cand *sel;           /* neighbour selection work area */
    size_t sel_cap;
    struct scratch *next;
} scratch;

typedef struct graph {
    int dim, M, M0, efc;
    hnsw_metric metric;
    size_t rec_size;     /* bytes of a level-0 record */
    size_t vec_off;      /* byte offset of the vector inside a record */
    uint32_t n, cap, n_deleted;
    int64_t entry;       /* -1 when empty */
    int max_level;
    char *level0;
    int64_t *labels;
    uint8_t *levels;
    uint8_t *flags;
    uint32_t *upper_off;
    uint32_t *upper;
    size_t upper_n, upper_cap;
    uint32_t *lmap;      /* id+1 per slot, 0 = empty */
    size_t lmap_cap;     /* power of two */
    void *map_base;      /* file mapping the arrays above point into, or NULL */
    size_t map_len;
    uint64_t rng;
    double level_mult;
} graph;

struct hnsw_index {
    pthread_rwlock_t lock;
    pthread_mutex_t writer_mu;
    pthread_mutex_t pool_mu;
    pthread_mutex_t compact_mu;  /* one compaction at a time */
    scratch *pool;
    dot_fn dot;
    graph g;
    /* While a compaction rebuilds off to the side, writers note the labels
     * they touch (under writer_mu) so it can replay them before the swap. */
    int compacting;
    int touched_lost;            /* a note failed (out of memory): abandon */
    int64_t *touched;
    size_t touched_n, touched_cap;
    atomic_int cancel;           /* hnsw_compact_cancel */
    atomic_size_t graph_short;   /* graph searches answered exactly: too few found */
};

/* ---------------------------------------------------------------- helpers */

static inline uint32_t *l0_links(const graph *g, uint32_t id) {
    return (uint32_t *)(g->level0 + (size_t)id * g->rec_size);
}
static inline const float *vec_of(const graph *g, uint32_t id) {
    return (const float *)(g->level0 + (size_t)id * g->rec_size + g->vec_off);
}
static inline uint32_t *links_at(const graph *g, uint32_t id, int level) {
    if (level == 0) return l0_links(g, id);
    return g->upper + g->upper_off[id] + (size_t)(level - 1) * (size_t)(g->M + 1);
}

static uint64_t splitmix(uint64_t *s) {
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static inline uint64_t hash64(int64_t k) {
    uint64_t z = (uint64_t)k * 0x9E3779B97F4A7C15ull;
    return z ^ (z >> 29);
}

/* ----------------------------------------------------------- label map */

static int64_t lmap_find(const graph *g, int64_t label) {
    if (!g->lmap_cap) return -1;
    size_t mask = g->lmap_cap - 1;
    for (size_t i = hash64(label) & mask;; i = (i + 1) & mask) {
        uint32_t v = g->lmap[i];
        if (!v) return -1;
        if (g->labels[v - 1] == label) return (int64_t)(v - 1);
    }
}

static void lmap_put_raw(uint32_t *tab, size_t cap, const int64_t *labels, uint32_t id) {
    size_t mask = cap - 1;
    size_t i = hash64(labels[id]) & mask;
    while (tab[i]) i = (i + 1) & mask;
    tab[i] = id + 1;
}

static int lmap_reserve(graph *g, size_t live) {
    if (g->lmap_cap >= 2 * live + 2 && g->lmap_cap) return SCRY_OK;
    size_t cap = 1024;
    while (cap < 2 * live + 2) cap *= 2;
    uint32_t *tab = calloc(cap, sizeof *tab);
    if (!tab) return SCRY_ENOMEM;
    for (uint32_t id = 0; id < g->n; id++)
        if (!(g->flags[id] & FLAG_DELETED)) lmap_put_raw(tab, cap, g->labels, id);
    free(g->lmap);
    g->lmap = tab;
    g->lmap_cap = cap;
    return SCRY_OK;
}

/* Linear-probing delete with backward shift (no tombstones in the table). */
static void lmap_erase(graph *g, int64_t label) {
    size_t mask = g->lmap_cap - 1;
    size_t i = hash64(label) & mask;
    while (g->lmap[i] && g->labels[g->lmap[i] - 1] != label) i = (i + 1) & mask;
    if (!g->lmap[i]) return;
    size_t j = i;
    for (;;) {
        j = (j + 1) & mask;
        if (!g->lmap[j]) break;
        size_t home = hash64(g->labels[g->lmap[j] - 1]) & mask;
        /* move j back into hole i unless its home lies cyclically in (i, j] */
        if ((j > i && (home <= i || home > j)) || (j < i && (home <= i && home > j))) {
            g->lmap[i] = g->lmap[j];
            i = j;
        }
    }
    g->lmap[i] = 0;
}

/* --------------------------------------------------------------- heaps */

static inline void minheap_push(cand *h, size_t *n, cand c) {
    size_t i = (*n)++;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (h[p].d <= c.d) break;
        h[i] = h[p];
        i = p;
    }
    h[i] = c;
}
static inline cand minheap_pop(cand *h, size_t *n) {
    cand top = h[0], last = h[--(*n)];
    size_t i = 0, m = *n;
    for (;;) {
        size_t l = 2 * i + 1;
        if (l >= m) break;
        if (l + 1 < m && h[l + 1].d < h[l].d) l++;
        if (h[l].d >= last.d) break;
        h[i] = h[l];
        i = l;
    }
    if (m) h[i] = last;
    return top;
}
static inline void maxheap_push(cand *h, size_t *n, cand c) {
    size_t i = (*n)++;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (h[p].d >= c.d) break;
        h[i] = h[p];
        i = p;
    }
    h[i] = c;
}
static inline cand maxheap_pop(cand *h, size_t *n) {
    cand top = h[0], last = h[--(*n)];
    size_t i = 0, m = *n;
    for (;;) {
        size_t l = 2 * i + 1;
        if (l >= m) break;
        if (l + 1 < m && h[l + 1].d > h[l].d) l++;
        if (h[l].d <= last.d) break;
        h[i] = h[l];
        i = l;
    }
    if (m) h[i] = last;
    return top;
}

static int grow_cands(cand **buf, size_t *cap, size_t need) {
    if (need <= *cap) return SCRY_OK;
    size_t nc = *cap ? *cap : 256;
    while (nc < need) nc *= 2;
    cand *b = realloc(*buf, nc * sizeof *b);
    if (!b) return SCRY_ENOMEM;
    *buf = b;
    *cap = nc;
    return SCRY_OK;
}

/* ------------------------------------------------------------- scratch */

static void scratch_free(scratch *s) {
    if (!s) return;
    free(s->tags);
    free(s->cq);
    free(s->rs);
    free(s->qbuf);
    free(s->batch);
    free(s->sel);
    free(s);
}

/* Borrow a scratch sized for the current graph. Caller holds the graph lock
 * (read or write), so g->n and g->cap are stable. */
static scratch *scratch_get(hnsw_index *ix) {
    pthread_mutex_lock(&ix->pool_mu);
    scratch *s = ix->pool;
    if (s) ix->pool = s->next;
    pthread_mutex_unlock(&ix->pool_mu);
    const graph *g = &ix->g;
    if (!s) {
        s = calloc(1, sizeof *s);
        if (!s) return NULL;
        s->qbuf = malloc((size_t)g->dim * sizeof(float));
        s->batch = malloc((size_t)(g->M0 + 1) * sizeof(uint32_t));
        if (!s->qbuf || !s->batch) {
            scratch_free(s);
            return NULL;
        }
    }
    if (s->tags_cap < g->cap) {
        size_t nc = g->cap;
        uint16_t *t = realloc(s->tags, nc * sizeof *t);
        if (!t) {
            scratch_free(s);
            return NULL;
        }
        memset(t, 0, nc * sizeof *t);
        s->tags = t;
        s->tags_cap = nc;
        s->epoch = 0;
    }
    if (++s->epoch == 0) {
        memset(s->tags, 0, s->tags_cap * sizeof *s->tags);
        s->epoch = 1;
    }
    s->cq_n = s->rs_n = 0;
    return s;
}

static void scratch_put(hnsw_index *ix, scratch *s) {
    if (!s) return;
    pthread_mutex_lock(&ix->pool_mu);
    s->next = ix->pool;
    ix->pool = s;
    pthread_mutex_unlock(&ix->pool_mu);
}

static void pool_clear(hnsw_index *ix) {
    pthread_mutex_lock(&ix->pool_mu);
    scratch *s = ix->pool;
    ix->pool = NULL;
    pthread_mutex_unlock(&ix->pool_mu);
    while (s) {
        scratch *nx = s->next;
        scratch_free(s);
        s = nx;
    }
}

/* ------------------------------------------------------------- search */

typedef struct eligibility {
    int active;          /* 0: every node counts (construction) */
    const hnsw_filter *user;
} eligibility;

static inline int eligible(const graph *g, uint32_t id, const eligibility *el) {
    if (!el->active) return 1;
    if (g->flags[id] & FLAG_DELETED) return 0;
    if (el->user && !el->user->allow(g->labels[id], el->user->ctx)) return 0;
    return 1;
}

/* Greedy descent on one upper level from *cur (distance *curd). */
static void greedy_level(const hnsw_index *ix, const float *q, int level, uint32_t *cur,
                         float *curd) {
    const graph *g = &ix->g;
    int changed = 1;
    while (changed) {
        changed = 0;
        const uint32_t *ln = links_at(g, *cur, level);
        uint32_t cnt = ln[0];
        for (uint32_t j = 1; j <= cnt; j++) __builtin_prefetch(vec_of(g, ln[j]));
        for (uint32_t j = 1; j <= cnt; j++) {
            float d = -ix->dot(q, vec_of(g, ln[j]), (size_t)g->dim);
            if (d < *curd) {
                *curd = d;
                *cur = ln[j];
                changed = 1;
            }
        }
    }
}

/* Beam search on `level` from one entry. Leaves up to ef eligible nodes in
 * s->rs (max-heap). s->tags/epoch must be fresh for this call. */
static int search_level(const hnsw_index *ix, scratch *s, const float *q, uint32_t ep, float epd,
                        int level, size_t ef, const eligibility *el) {
    const graph *g = &ix->g;
    size_t dim = (size_t)g->dim;
    if (grow_cands(&s->rs, &s->rs_cap, ef + 2) || grow_cands(&s->cq, &s->cq_cap, ef + g->M0 + 2))
        return SCRY_ENOMEM;
    s->cq_n = s->rs_n = 0;
    uint16_t *tags = s->tags, epoch = s->epoch;
    tags[ep] = epoch;
    minheap_push(s->cq, &s->cq_n, (cand){epd, ep});
    if (eligible(g, ep, el)) maxheap_push(s->rs, &s->rs_n, (cand){epd, ep});
    float lower = s->rs_n ? s->rs[0].d : FLT_MAX;
    while (s->cq_n) {
        cand c = s->cq[0];
        if (c.d > lower && (s->rs_n >= ef || !el->active)) break;
        minheap_pop(s->cq, &s->cq_n);
        const uint32_t *ln = links_at(g, c.id, level);
        uint32_t cnt = ln[0], nb = 0;
        for (uint32_t j = 1; j <= cnt; j++) {
            uint32_t v = ln[j];
            if (tags[v] == epoch) continue;
            tags[v] = epoch;
            s->batch[nb++] = v;
            __builtin_prefetch(vec_of(g, v));
        }
            if (nb) __builtin_prefetch(vec_of(g, s->batch[0]) + 16);
        if (s->cq_cap < s->cq_n + nb + 1 && grow_cands(&s->cq, &s->cq_cap, s->cq_n + nb + 1))
            return SCRY_ENOMEM;
        for (uint32_t j = 0; j < nb; j++) {
            uint32_t v = s->batch[j];
            if (j + 1 < nb) {
                const char *nx = (const char *)vec_of(g, s->batch[j + 1]);
                for (size_t off = 64; off < dim * sizeof(float); off += 64) __builtin_prefetch(nx + off);
            }
            float d = -ix->dot(q, vec_of(g, v), dim);
            if (s->rs_n < ef || d < lower) {
                minheap_push(s->cq, &s->cq_n, (cand){d, v});
                if (eligible(g, v, el)) {
                    maxheap_push(s->rs, &s->rs_n, (cand){d, v});
                    if (s->rs_n > ef) maxheap_pop(s->rs, &s->rs_n);
                    lower = s->rs[0].d;
                }
            }
        }
    }
    return SCRY_OK;
}

/* Pop the result heap into ascending order in s->sel; returns the count. */
static int drain_sorted(scratch *s, size_t *out_n) {
    size_t n = s->rs_n;
    if (grow_cands(&s->sel, &s->sel_cap, n + 1)) return SCRY_ENOMEM;
    for (size_t i = n; i > 0; i--) s->sel[i - 1] = maxheap_pop(s->rs, &s->rs_n);
    *out_n = n;
    return SCRY_OK;
}

/* ------------------------------------------------------ insertion */

/* HNSW neighbour heuristic (paper, algorithm 4): walk candidates closest
 * first, keep one only if it is closer to the base than to every kept
 * neighbour -- this keeps links spread in different directions. cands are
 * sorted ascending; kept ones are compacted to the front. Returns count.
 *
 * Duplicates (cosine metric): vectors that are the same point as the base
 * -- a burst of identical shots, or images whose facts read alike -- all
 * sit at distance 0 and come first, and the paper's strict test keeps every
 * one of them, so a group of more than m duplicates links only to itself
 * and becomes an island a search cannot leave (measured: 75 of 300 results
 * at 1M images, so every such search fell back to an exact scan). At most
 * half the links go to the base's duplicates (enough to keep the group
 * connected), they prune nobody (to every other candidate they are the base
 * itself), and the other half goes where the heuristic says. */
#define DUP_EPS 1e-5f
static inline int same_as_base(const graph *g, const cand *c) {
    return g->metric == HNSW_COSINE && c->d <= -1.0f + DUP_EPS;
}

static size_t select_heuristic(const hnsw_index *ix, cand *cands, size_t n, size_t m) {
    const graph *g = &ix->g;
    if (n <= m) return n;
    size_t kept = 0, dups = 0;
    for (size_t i = 0; i < n && kept < m; i++) {
        if (same_as_base(g, &cands[i])) {
            if (dups < (m + 1) / 2) dups++, cands[kept++] = cands[i];
            continue;
        }
        const float *vi = vec_of(g, cands[i].id);
        int good = 1;
        for (size_t j = 0; j < kept; j++) {
            if (same_as_base(g, &cands[j])) continue;
            float dij = -ix->dot(vi, vec_of(g, cands[j].id), (size_t)g->dim);
            if (dij < cands[i].d) {
                good = 0;
                break;
            }
        }
        if (good) cands[kept++] = cands[i];
    }
    return kept;
}

static void sort_cands(cand *a, size_t n) {
    for (size_t i = 1; i < n; i++) {
        cand x = a[i];
        size_t j = i;
        while (j > 0 && a[j - 1].d > x.d) {
            a[j] = a[j - 1];
            j--;
        }
        a[j] = x;
    }
}

/* Add the reverse link id to node e at level; prune with the heuristic when
 * e is full. Runs under the write lock. */
static int link_back(hnsw_index *ix, uint32_t e, uint32_t id, int level, cand *work) {
    graph *g = &ix->g;
    uint32_t *ln = links_at(g, e, level);
    uint32_t cnt = ln[0], mmax = level == 0 ? (uint32_t)g->M0 : (uint32_t)g->M;
    for (uint32_t j = 1; j <= cnt; j++)
        if (ln[j] == id) return SCRY_OK;
    if (cnt < mmax) {
        ln[1 + cnt] = id;
        ln[0] = cnt + 1;
        return SCRY_OK;
    }
    const float *ve = vec_of(g, e);
    size_t n = 0;
    work[n++] = (cand){-ix->dot(ve, vec_of(g, id), (size_t)g->dim), id};
    for (uint32_t j = 1; j <= cnt; j++)
        work[n++] = (cand){-ix->dot(ve, vec_of(g, ln[j]), (size_t)g->dim), ln[j]};
    sort_cands(work, n);
    size_t kept = select_heuristic(ix, work, n, mmax);
    for (size_t j = 0; j < kept; j++) ln[1 + j] = work[j].id;
    ln[0] = (uint32_t)kept;
    return SCRY_OK;
}

static int random_level(graph *g) {
    double u = ((double)(splitmix(&g->rng) >> 11) + 0.5) / 9007199254740992.0;
    double l = -log(u) * g->level_mult;
    return l > MAX_LEVEL ? MAX_LEVEL : (int)l;
}

/* ----------------------------------------------------- storage growth */

static size_t upper_words(const graph *g, int level) {
    return (size_t)level * (size_t)(g->M + 1);
}

/* Ask for transparent huge pages on the big record array: a search touches
 * records all over it, and 2 MiB pages cut TLB misses (the kernel's default
 * here is often "madvise", i.e. off unless asked). Advisory; errors ignored. */
static void hugepages(void *p, size_t n) {
    uintptr_t a = ((uintptr_t)p + (2u << 20) - 1) & ~(uintptr_t)((2u << 20) - 1);
    uintptr_t e = ((uintptr_t)p + n) & ~(uintptr_t)((2u << 20) - 1);
    if (e > a) madvise((void *)a, e - a, MADV_HUGEPAGE);
}

/* Copy every array that still points into the file mapping to the heap. */
static int migrate_to_heap(graph *g, uint32_t cap, size_t upper_cap) {
    char *l0 = malloc((size_t)cap * g->rec_size);
    int64_t *labels = malloc((size_t)cap * sizeof *labels);
    uint8_t *levels = malloc(cap);
    uint8_t *flags = malloc(cap);
    uint32_t *uoff = malloc((size_t)cap * sizeof *uoff);
    uint32_t *upper = malloc((upper_cap ? upper_cap : 1) * sizeof *upper);
    if (!l0 || !labels || !levels || !flags || !uoff || !upper) {
        free(l0), free(labels), free(levels), free(flags), free(uoff), free(upper);
        return SCRY_ENOMEM;
    }
    hugepages(l0, (size_t)cap * g->rec_size);
    memcpy(l0, g->level0, (size_t)g->n * g->rec_size);
    memcpy(labels, g->labels, (size_t)g->n * sizeof *labels);
    memcpy(levels, g->levels, g->n);
    memcpy(flags, g->flags, g->n);
    memcpy(uoff, g->upper_off, (size_t)g->n * sizeof *uoff);
    if (g->upper_n) memcpy(upper, g->upper, g->upper_n * sizeof *upper);
    munmap(g->map_base, g->map_len);
    g->map_base = NULL;
    g->map_len = 0;
    g->level0 = l0, g->labels = labels, g->levels = levels, g->flags = flags;
    g->upper_off = uoff, g->upper = upper;
    g->cap = cap;
    g->upper_cap = upper_cap ? upper_cap : 1;
    return SCRY_OK;
}

static int grow_nodes(graph *g, uint32_t need) {
    if (need <= g->cap && !g->map_base) return SCRY_OK;
    if (need >= UINT32_MAX) return SCRY_ETOOBIG;
    /* First allocation: exactly what was asked; then double. */
    uint32_t cap = !g->cap ? need : g->cap > UINT32_MAX / 2 ? UINT32_MAX - 1 : g->cap * 2;
    if (cap < need) cap = need;
    if (g->map_base) {
        size_t ucap = g->upper_n + 1024;
        return migrate_to_heap(g, cap < need + 1024 ? need + 1024 : cap, ucap);
    }
#define GROW(ptr, elem)                                                   \
    do {                                                                  \
        void *p_ = realloc((ptr), (size_t)cap * (elem));                  \
        if (!p_) return SCRY_ENOMEM;                                      \
        (ptr) = p_;                                                       \
    } while (0)
    GROW(g->level0, g->rec_size);
    hugepages(g->level0, (size_t)cap * g->rec_size);
    GROW(g->labels, sizeof(int64_t));
    GROW(g->levels, 1);
    GROW(g->flags, 1);
    GROW(g->upper_off, sizeof(uint32_t));
#undef GROW
    g->cap = cap;
    return SCRY_OK;
}

static int grow_upper(graph *g, size_t need) {
    if (need <= g->upper_cap) return SCRY_OK;
    if (need > UINT32_MAX) return SCRY_ETOOBIG;
    size_t cap = g->upper_cap ? g->upper_cap : 4096;
    while (cap < need) cap *= 2;
    uint32_t *u = realloc(g->upper, cap * sizeof *u);
    if (!u) return SCRY_ENOMEM;
    g->upper = u;
    g->upper_cap = cap;
    return SCRY_OK;
}

/* ------------------------------------------------------------ lifecycle */

void hnsw_params_default(hnsw_params *p) {
    p->metric = HNSW_COSINE;
    p->M = 16;
    p->ef_construction = 200;
    p->seed = 42;
    p->capacity = 1024;
}

static int index_alloc(hnsw_index **out, scry_err *err) {
    hnsw_index *ix = calloc(1, sizeof *ix);
    if (!ix) return scry_fail(err, SCRY_ENOMEM, "hnsw: out of memory");
    pthread_rwlockattr_t attr;
    pthread_rwlockattr_init(&attr);
    pthread_rwlockattr_setkind_np(&attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
    pthread_rwlock_init(&ix->lock, &attr);
    pthread_rwlockattr_destroy(&attr);
    pthread_mutex_init(&ix->writer_mu, NULL);
    pthread_mutex_init(&ix->pool_mu, NULL);
    pthread_mutex_init(&ix->compact_mu, NULL);
    ix->dot = pick_dot();
    ix->g.entry = -1;
    ix->g.max_level = -1;
    *out = ix;
    return SCRY_OK;
}

static void graph_setup(graph *g, int dim, int M, int efc, hnsw_metric metric, uint64_t seed) {
    g->dim = dim;
    g->M = M;
    g->M0 = 2 * M;
    g->efc = efc;
    g->metric = metric;
    g->vec_off = (size_t)(g->M0 + 1) * sizeof(uint32_t);
    g->rec_size = g->vec_off + (size_t)dim * sizeof(float);
    g->rng = seed;
    g->level_mult = 1.0 / log((double)M);
}

static void graph_release(graph *g) {
    if (g->map_base) {
        munmap(g->map_base, g->map_len);
    } else {
        free(g->level0);
        free(g->labels);
        free(g->levels);
        free(g->flags);
        free(g->upper_off);
        free(g->upper);
    }
    free(g->lmap);
    memset(g, 0, sizeof *g);
}

int hnsw_create(hnsw_index **out, int dim, const hnsw_params *params, scry_err *err) {
    hnsw_params p;
    if (params) p = *params; else hnsw_params_default(&p);
    if (dim <= 0 || dim > 65536) return scry_fail(err, SCRY_EINVAL, "hnsw: bad dimension %d", dim);
    if (p.M < 2 || p.M > 256) return scry_fail(err, SCRY_EINVAL, "hnsw: M must be 2..256");
    if (p.ef_construction < 1) p.ef_construction = p.M;
    if (p.ef_construction > MAX_EF_CONSTRUCTION)
        return scry_fail(err, SCRY_EINVAL, "hnsw: ef_construction must be 1..%d", MAX_EF_CONSTRUCTION);
    if (p.metric != HNSW_COSINE && p.metric != HNSW_IP)
        return scry_fail(err, SCRY_EINVAL, "hnsw: unknown metric");
    hnsw_index *ix;
    int rc = index_alloc(&ix, err);
    if (rc) return rc;
    graph *g = &ix->g;
    graph_setup(g, dim, p.M, p.ef_construction, p.metric, p.seed);
    uint32_t cap = p.capacity > 0 && p.capacity < UINT32_MAX / 2 ? (uint32_t)p.capacity : 1024;
    if (grow_nodes(g, cap) || grow_upper(g, 4096) || lmap_reserve(g, cap / 2)) {
        hnsw_free(ix);
        return scry_fail(err, SCRY_ENOMEM, "hnsw: out of memory");
    }
    *out = ix;
    return SCRY_OK;
}

void hnsw_free(hnsw_index *ix) {
    if (!ix) return;
    pool_clear(ix);
    graph_release(&ix->g);
    pthread_rwlock_destroy(&ix->lock);
    pthread_mutex_destroy(&ix->writer_mu);
    pthread_mutex_destroy(&ix->pool_mu);
    pthread_mutex_destroy(&ix->compact_mu);
    free(ix->touched);
    free(ix);
}

/* --------------------------------------------------------------- writes */

static int prepare_vector(const hnsw_index *ix, const float *in, float *out, scry_err *err) {
    const graph *g = &ix->g;
    double ss = 0;
    for (int i = 0; i < g->dim; i++) {
        if (!isfinite(in[i])) return scry_fail(err, SCRY_EINVAL, "hnsw: non-finite component %d", i);
        ss += (double)in[i] * in[i];
    }
    if (g->metric == HNSW_COSINE) {
        if (ss <= 0) return scry_fail(err, SCRY_EINVAL, "hnsw: zero vector under cosine");
        float inv = (float)(1.0 / sqrt(ss));
        for (int i = 0; i < g->dim; i++) out[i] = in[i] * inv;
    } else if (out != in) {
        memcpy(out, in, (size_t)g->dim * sizeof *out);
    }
    return SCRY_OK;
}

/* Caller holds writer_mu. */
static void note_touched(hnsw_index *ix, int64_t label) {
    if (!ix->compacting || ix->touched_lost) return;
    if (ix->touched_n == ix->touched_cap) {
        size_t nc = ix->touched_cap ? 2 * ix->touched_cap : 256;
        int64_t *t = realloc(ix->touched, nc * sizeof *t);
        if (!t) {
            ix->touched_lost = 1;
            return;
        }
        ix->touched = t;
        ix->touched_cap = nc;
    }
    ix->touched[ix->touched_n++] = label;
}

static void tombstone(graph *g, uint32_t id) {
    g->flags[id] |= FLAG_DELETED;
    g->n_deleted++;
    lmap_erase(g, g->labels[id]);
}

/* Neighbours chosen for the new node, per level, computed under the read lock. */
typedef struct plan {
    int level;
    uint32_t *nbr;       /* (level+1) x M0 ids */
    uint32_t *nbr_n;     /* count per level */
} plan;

int hnsw_add(hnsw_index *ix, int64_t label, const float *vec, scry_err *err) {
    graph *g = &ix->g;
    int rc = SCRY_OK;
    pthread_mutex_lock(&ix->writer_mu);

    /* Room, and the new node's own record, first: the record at id n is not
     * reachable by readers until linked, but growth moves arrays. */
    pthread_rwlock_wrlock(&ix->lock);
    int64_t old = lmap_find(g, label);
    uint32_t id = g->n;
    int level = random_level(g);
    size_t uw = upper_words(g, level);
    if ((rc = grow_nodes(g, id + 1)) || (rc = grow_upper(g, g->upper_n + uw)) ||
        (rc = lmap_reserve(g, (size_t)(g->n - g->n_deleted) + 1))) {
        pthread_rwlock_unlock(&ix->lock);
        pthread_mutex_unlock(&ix->writer_mu);
        return scry_fail(err, rc, "hnsw: cannot grow index to %u nodes", id + 1);
    }
    pthread_rwlock_unlock(&ix->lock);

    uint32_t *rec = l0_links(g, id);
    rec[0] = 0;
    if ((rc = prepare_vector(ix, vec, (float *)((char *)rec + g->vec_off), err))) {
        pthread_mutex_unlock(&ix->writer_mu);
        return rc;
    }
    const float *q = vec_of(g, id);
    plan pl = {.level = level};
    pl.nbr = malloc((size_t)(level + 1) * (size_t)g->M0 * sizeof *pl.nbr);
    pl.nbr_n = calloc((size_t)level + 1, sizeof *pl.nbr_n);
    cand *work = malloc((size_t)(g->M0 + 2) * sizeof *work);
    if (!pl.nbr || !pl.nbr_n || !work) {
        rc = scry_fail(err, SCRY_ENOMEM, "hnsw: out of memory");
        goto out_unlocked;
    }

    /* Phase 1 (read lock): find neighbours on every level. */
    pthread_rwlock_rdlock(&ix->lock);
    if (g->entry >= 0) {
        scratch *s = scratch_get(ix);
        if (!s) {
            pthread_rwlock_unlock(&ix->lock);
            rc = scry_fail(err, SCRY_ENOMEM, "hnsw: out of memory");
            goto out_unlocked;
        }
        uint32_t cur = (uint32_t)g->entry;
        float curd = -ix->dot(q, vec_of(g, cur), (size_t)g->dim);
        for (int l = g->max_level; l > level; l--) greedy_level(ix, q, l, &cur, &curd);
        eligibility all = {0, NULL};
        for (int l = level < g->max_level ? level : g->max_level; l >= 0; l--) {
            if (l != (level < g->max_level ? level : g->max_level) && ++s->epoch == 0) {
                memset(s->tags, 0, s->tags_cap * sizeof *s->tags);
                s->epoch = 1;
            }
            size_t nsel;
            if ((rc = search_level(ix, s, q, cur, curd, l, (size_t)g->efc, &all)) ||
                (rc = drain_sorted(s, &nsel))) {
                scratch_put(ix, s);
                pthread_rwlock_unlock(&ix->lock);
                rc = scry_fail(err, rc, "hnsw: out of memory");
                goto out_unlocked;
            }
            cur = s->sel[0].id;
            curd = s->sel[0].d;
            size_t kept = select_heuristic(ix, s->sel, nsel, (size_t)g->M);
            for (size_t j = 0; j < kept; j++) pl.nbr[(size_t)l * g->M0 + j] = s->sel[j].id;
            pl.nbr_n[l] = (uint32_t)kept;
        }
        scratch_put(ix, s);
    }
    pthread_rwlock_unlock(&ix->lock);

    /* Phase 2 (write lock): publish the node and link it in. */
    pthread_rwlock_wrlock(&ix->lock);
    g->labels[id] = label;
    g->levels[id] = (uint8_t)level;
    g->flags[id] = 0;
    g->upper_off[id] = NO_UPPER;
    if (level > 0) {
        g->upper_off[id] = (uint32_t)g->upper_n;
        for (int l = 1; l <= level; l++) links_at(g, id, l)[0] = 0;
        g->upper_n += uw;
    }
    for (int l = 0; l <= level; l++) {
        uint32_t *ln = links_at(g, id, l);
        ln[0] = pl.nbr_n[l];
        memcpy(ln + 1, pl.nbr + (size_t)l * g->M0, pl.nbr_n[l] * sizeof(uint32_t));
        for (uint32_t j = 0; j < pl.nbr_n[l]; j++) link_back(ix, pl.nbr[(size_t)l * g->M0 + j], id, l, work);
    }
    g->n = id + 1;
    if (old >= 0) tombstone(g, (uint32_t)old);
    lmap_put_raw(g->lmap, g->lmap_cap, g->labels, id);
    if (level > g->max_level) {
        g->max_level = level;
        g->entry = id;
    }
    pthread_rwlock_unlock(&ix->lock);
    note_touched(ix, label);

out_unlocked:
    free(pl.nbr);
    free(pl.nbr_n);
    free(work);
    pthread_mutex_unlock(&ix->writer_mu);
    return rc;
}

int hnsw_remove(hnsw_index *ix, int64_t label) {
    pthread_mutex_lock(&ix->writer_mu);
    pthread_rwlock_wrlock(&ix->lock);
    int64_t id = lmap_find(&ix->g, label);
    if (id >= 0) tombstone(&ix->g, (uint32_t)id);
    pthread_rwlock_unlock(&ix->lock);
    if (id >= 0) note_touched(ix, label);
    pthread_mutex_unlock(&ix->writer_mu);
    return id >= 0 ? SCRY_OK : SCRY_ENOTFOUND;
}

int hnsw_contains(hnsw_index *ix, int64_t label) {
    pthread_rwlock_rdlock(&ix->lock);
    int r = lmap_find(&ix->g, label) >= 0;
    pthread_rwlock_unlock(&ix->lock);
    return r;
}

size_t hnsw_count(hnsw_index *ix) {
    pthread_rwlock_rdlock(&ix->lock);
    size_t n = (size_t)(ix->g.n - ix->g.n_deleted);
    pthread_rwlock_unlock(&ix->lock);
    return n;
}

int hnsw_labels(hnsw_index *ix, int64_t **out, size_t *n, scry_err *err) {
    *out = NULL;
    *n = 0;
    pthread_rwlock_rdlock(&ix->lock);
    const graph *g = &ix->g;
    size_t live = (size_t)(g->n - g->n_deleted);
    int64_t *v = malloc((live ? live : 1) * sizeof *v);
    if (v) {
        for (uint32_t id = 0; id < g->n; id++)
            if (!(g->flags[id] & FLAG_DELETED)) v[(*n)++] = g->labels[id];
    }
    pthread_rwlock_unlock(&ix->lock);
    if (!v) return scry_fail(err, SCRY_ENOMEM, "out of memory");
    *out = v;
    return SCRY_OK;
}

int hnsw_get(hnsw_index *ix, int64_t label, float *out, scry_err *err) {
    pthread_rwlock_rdlock(&ix->lock);
    int64_t id = lmap_find(&ix->g, label);
    if (id >= 0) memcpy(out, vec_of(&ix->g, (uint32_t)id), (size_t)ix->g.dim * sizeof(float));
    pthread_rwlock_unlock(&ix->lock);
    if (id < 0) return scry_fail(err, SCRY_ENOTFOUND, "hnsw: no label %lld", (long long)label);
    return SCRY_OK;
}

/* ---------------------------------------------------------------- reads */

int hnsw_allow_sorted(int64_t label, void *ctx) {
    const hnsw_label_set *set = ctx;
    size_t lo = 0, hi = set->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (set->labels[mid] < label) lo = mid + 1;
        else hi = mid;
    }
    return lo < set->n && set->labels[lo] == label;
}

static void emit(const graph *g, scratch *s, hnsw_hit *out, int k, int *nout) {
    size_t n = s->rs_n;
    while (n > (size_t)k) maxheap_pop(s->rs, &s->rs_n), n--;
    for (size_t i = n; i > 0; i--) {
        cand c = maxheap_pop(s->rs, &s->rs_n);
        out[i - 1].label = g->labels[c.id];
        out[i - 1].score = -c.d;
    }
    *nout = (int)n;
}

/* Top-k of the heap s->rs: offer candidate (d, id), *worst its weakest. */
static inline void offer_exact(scratch *s, size_t k, float d, uint32_t id, float *worst) {
    if (s->rs_n < k) {
        maxheap_push(s->rs, &s->rs_n, (cand){d, id});
        *worst = s->rs[0].d;
    } else if (d < *worst) {
        maxheap_pop(s->rs, &s->rs_n);
        maxheap_push(s->rs, &s->rs_n, (cand){d, id});
        *worst = s->rs[0].d;
    }
}

/* Exact scan into s->rs keeping the k best eligible. */
static int scan_exact(const hnsw_index *ix, scratch *s, const float *q, size_t k,
                      const eligibility *el) {
    const graph *g = &ix->g;
    if (grow_cands(&s->rs, &s->rs_cap, k + 2)) return SCRY_ENOMEM;
    s->rs_n = 0;
    float worst = FLT_MAX;
    for (uint32_t id = 0; id < g->n; id++) {
        if (!eligible(g, id, el)) continue;
        offer_exact(s, k, -ix->dot(q, vec_of(g, id), (size_t)g->dim), id, &worst);
    }
    return SCRY_OK;
}

static int check_query(hnsw_index *ix, const float *query, int k, hnsw_hit *out, int *nout,
                       scry_err *err) {
    (void)ix;
    if (!query || !out || !nout || k <= 0)
        return scry_fail(err, SCRY_EINVAL, "hnsw: bad search arguments");
    *nout = 0;
    return SCRY_OK;
}

/* Estimated fraction of nodes the filter allows, on a fixed stride sample. */
static double allowed_fraction(const graph *g, const eligibility *el) {
    uint32_t n = g->n, samples = n < FILTER_SAMPLE ? n : FILTER_SAMPLE, hit = 0;
    if (!samples) return 0;
    uint64_t step = ((uint64_t)n << 16) / samples;
    for (uint32_t i = 0; i < samples; i++) {
        uint32_t id = (uint32_t)(((uint64_t)i * step) >> 16);
        hit += (uint32_t)eligible(g, id, el);
    }
    return (double)hit / samples;
}

int hnsw_search(hnsw_index *ix, const float *query, int k, int ef, const hnsw_filter *filter,
                hnsw_hit *out, int *nout, scry_err *err) {
    int rc = check_query(ix, query, k, out, nout, err);
    if (rc) return rc;
    graph *g = &ix->g;
    pthread_rwlock_rdlock(&ix->lock);
    if (g->entry < 0 || g->n == g->n_deleted) {
        pthread_rwlock_unlock(&ix->lock);
        return SCRY_OK;
    }
    scratch *s = scratch_get(ix);
    if (!s) {
        pthread_rwlock_unlock(&ix->lock);
        return scry_fail(err, SCRY_ENOMEM, "hnsw: out of memory");
    }
    const float *q = query;
    if (g->metric == HNSW_COSINE) {
        if ((rc = prepare_vector(ix, query, s->qbuf, err))) goto done;
        q = s->qbuf;
    }
    /* Without tombstones or a filter every node is eligible: skip the per-node
     * flag lookups (one more cache miss per candidate otherwise). */
    const hnsw_filter *user = filter && filter->allow ? filter : NULL;
    eligibility el = {g->n_deleted > 0 || user, user};
    size_t efs = ef > 0 ? (size_t)ef : 64;
    if (efs < (size_t)k) efs = (size_t)k;
    int exact = 0;
    if (el.user) {
        double frac = allowed_fraction(g, &el);
        double live = (double)(g->n - g->n_deleted);
        if (frac < EXACT_MAX_FRACTION || frac * live < EXACT_MAX_ALLOWED) exact = 1;
        else efs = (size_t)fmin((double)efs / frac, (double)efs * FILTER_EF_BOOST_MAX);
    }
    if (!exact) {
        uint32_t cur = (uint32_t)g->entry;
        float curd = -ix->dot(q, vec_of(g, cur), (size_t)g->dim);
        for (int l = g->max_level; l > 0; l--) greedy_level(ix, q, l, &cur, &curd);
        if ((rc = search_level(ix, s, q, cur, curd, 0, efs, &el))) goto nomem;
        /* The graph search found too few eligible nodes although more exist
         * (heavy tombstoning or an unlucky filter): answer exactly. */
        if (s->rs_n < (size_t)k && s->rs_n < (size_t)(g->n - g->n_deleted)) exact = 1;
        if (exact) atomic_fetch_add(&ix->graph_short, 1);
    }
    if (exact && (rc = scan_exact(ix, s, q, (size_t)k, &el))) goto nomem;
    emit(g, s, out, k, nout);
done:
    scratch_put(ix, s);
    pthread_rwlock_unlock(&ix->lock);
    return rc;
nomem:
    rc = scry_fail(err, SCRY_ENOMEM, "hnsw: out of memory");
    goto done;
}

/* Exact top-k: with among, of the listed labels (lookups); otherwise of
 * every node the filter allows (a scan). */
static int exact_run(hnsw_index *ix, const float *query, int k, const hnsw_filter *filter, int among,
                     const int64_t *labels, size_t nlabels, hnsw_hit *out, int *nout, scry_err *err) {
    int rc = check_query(ix, query, k, out, nout, err);
    if (rc) return rc;
    graph *g = &ix->g;
    pthread_rwlock_rdlock(&ix->lock);
    scratch *s = scratch_get(ix);
    if (!s) {
        pthread_rwlock_unlock(&ix->lock);
        return scry_fail(err, SCRY_ENOMEM, "hnsw: out of memory");
    }
    const float *q = query;
    if (g->metric == HNSW_COSINE) {
        if ((rc = prepare_vector(ix, query, s->qbuf, err))) goto done;
        q = s->qbuf;
    }
    if (!among) {
        eligibility el = {1, filter && filter->allow ? filter : NULL};
        rc = scan_exact(ix, s, q, (size_t)k, &el);
    } else if (!(rc = grow_cands(&s->rs, &s->rs_cap, (size_t)k + 2))) {
        s->rs_n = 0;
        float worst = FLT_MAX;
        for (size_t i = 0; i < nlabels; i++) {
            int64_t id = lmap_find(g, labels[i]);
            if (id < 0 || (g->flags[id] & FLAG_DELETED)) continue;
            offer_exact(s, (size_t)k, -ix->dot(q, vec_of(g, (uint32_t)id), (size_t)g->dim), (uint32_t)id, &worst);
        }
    }
    if (rc) {
        rc = scry_fail(err, SCRY_ENOMEM, "hnsw: out of memory");
        goto done;
    }
    emit(g, s, out, k, nout);
done:
    scratch_put(ix, s);
    pthread_rwlock_unlock(&ix->lock);
    return rc;
}

int hnsw_exact_search(hnsw_index *ix, const float *query, int k, const hnsw_filter *filter,
                      hnsw_hit *out, int *nout, scry_err *err) {
    return exact_run(ix, query, k, filter, 0, NULL, 0, out, nout, err);
}

int hnsw_exact_among(hnsw_index *ix, const float *query, int k, const int64_t *labels, size_t nlabels,
                     hnsw_hit *out, int *nout, scry_err *err) {
    return exact_run(ix, query, k, NULL, 1, labels, labels ? nlabels : 0, out, nout, err);
}

/* Compaction runs in three phases so that neither searches nor writers
 * wait for the rebuild:
 *   1. (writer_mu, briefly) note the node count n0 and start the touched-label
 *      log; from now on hnsw_add/hnsw_remove record every label they change;
 *   2. (no index lock held across it) copy each live node below n0 into a
 *      fresh index, taking the read lock per node -- writers keep going;
 *   3. replay the touched labels into the fresh index: their current state
 *      (live vector, or gone) is read from the old graph, so order and
 *      duplicates do not matter. Long logs are replayed without writer_mu
 *      (new writes land in a new log) until the rest is short; the last
 *      round runs under writer_mu and ends with the swap under the write
 *      lock, so readers see the old graph or the new one, never a mixture,
 *      and both hold exactly the same live labels and vectors. */
#define REPLAY_LOCKED_MAX 256
#define REPLAY_ROUNDS 4

/* Bring label's state in fresh in line with ix (its vector or its absence). */
static int replay_label(hnsw_index *ix, hnsw_index *fresh, int64_t label, float *buf,
                        scry_err *err) {
    pthread_rwlock_rdlock(&ix->lock);
    int64_t id = lmap_find(&ix->g, label);
    if (id >= 0) memcpy(buf, vec_of(&ix->g, (uint32_t)id), (size_t)ix->g.dim * sizeof(float));
    pthread_rwlock_unlock(&ix->lock);
    if (id >= 0) return hnsw_add(fresh, label, buf, err);
    hnsw_remove(fresh, label);   /* SCRY_ENOTFOUND: it never made it in */
    return SCRY_OK;
}

static int replay_all(hnsw_index *ix, hnsw_index *fresh, const int64_t *labels, size_t n,
                      float *buf, scry_err *err) {
    for (size_t i = 0; i < n; i++) {
        if (atomic_load(&ix->cancel))
            return scry_fail(err, SCRY_EBUSY, "hnsw: compaction cancelled");
        int rc = replay_label(ix, fresh, labels[i], buf, err);
        if (rc) return rc;
    }
    return SCRY_OK;
}

/* Phase 2: copy every node below n0 that is live when we get to it. */
static int copy_live(hnsw_index *ix, hnsw_index *fresh, uint32_t n0, float *buf, scry_err *err) {
    graph *g = &ix->g;
    for (uint32_t id = 0; id < n0; id++) {
        if ((id & 63) == 0 && atomic_load(&ix->cancel))
            return scry_fail(err, SCRY_EBUSY, "hnsw: compaction cancelled");
        pthread_rwlock_rdlock(&ix->lock);
        int live = !(g->flags[id] & FLAG_DELETED);
        int64_t label = g->labels[id];
        if (live) memcpy(buf, vec_of(g, id), (size_t)g->dim * sizeof(float));
        pthread_rwlock_unlock(&ix->lock);
        int rc = live ? hnsw_add(fresh, label, buf, err) : SCRY_OK;
        if (rc) return rc;
    }
    return SCRY_OK;
}

int hnsw_compact(hnsw_index *ix, scry_err *err) {
    pthread_mutex_lock(&ix->compact_mu);
    double t0 = scry_mono_s();
    graph *g = &ix->g;

    pthread_mutex_lock(&ix->writer_mu);
    hnsw_params p = {g->metric, g->M, g->efc, splitmix(&g->rng), (size_t)(g->n - g->n_deleted) + 1};
    uint32_t n0 = g->n, before = g->n;
    int dim = g->dim;
    ix->compacting = 1;
    ix->touched_lost = 0;
    ix->touched_n = 0;
    pthread_mutex_unlock(&ix->writer_mu);

    hnsw_index *fresh = NULL;
    float *buf = malloc((size_t)dim * sizeof *buf);
    int rc = buf ? hnsw_create(&fresh, dim, &p, err) : scry_fail(err, SCRY_ENOMEM, "hnsw: out of memory");
    if (rc == SCRY_OK) rc = copy_live(ix, fresh, n0, buf, err);

    size_t replayed = 0;
    for (int round = 0; rc == SCRY_OK; round++) {
        pthread_mutex_lock(&ix->writer_mu);
        if (ix->touched_lost) {
            rc = scry_fail(err, SCRY_ENOMEM, "hnsw: out of memory (compaction log)");
            pthread_mutex_unlock(&ix->writer_mu);
            break;
        }
        if (ix->touched_n > REPLAY_LOCKED_MAX && round < REPLAY_ROUNDS) {
            int64_t *labels = ix->touched;
            size_t n = ix->touched_n;
            ix->touched = NULL;
            ix->touched_n = ix->touched_cap = 0;
            pthread_mutex_unlock(&ix->writer_mu);
            rc = replay_all(ix, fresh, labels, n, buf, err);
            replayed += n;
            free(labels);
            continue;
        }
        /* Last round: writers wait (searches do not) while the short rest
         * is replayed, then the graphs are swapped. */
        rc = replay_all(ix, fresh, ix->touched, ix->touched_n, buf, err);
        replayed += ix->touched_n;
        if (rc == SCRY_OK) {
            pthread_rwlock_wrlock(&ix->lock);
            graph old = ix->g;
            ix->g = fresh->g;
            fresh->g = old;
            pthread_rwlock_unlock(&ix->lock);
            ix->compacting = 0;
            ix->touched_n = 0;
        }
        pthread_mutex_unlock(&ix->writer_mu);
        break;
    }
    if (rc != SCRY_OK) {
        pthread_mutex_lock(&ix->writer_mu);
        ix->compacting = 0;
        ix->touched_n = 0;
        pthread_mutex_unlock(&ix->writer_mu);
    }
    hnsw_free(fresh);   /* after a swap: the old graph */
    free(buf);
    atomic_store(&ix->cancel, 0);
    if (rc == SCRY_OK)
        log_debug("hnsw.compact", "nodes_before=%u replayed=%zu secs=%.3f", before, replayed,
                  scry_mono_s() - t0);
    pthread_mutex_unlock(&ix->compact_mu);
    return rc;
}

void hnsw_compact_cancel(hnsw_index *ix) { atomic_store(&ix->cancel, 1); }

void hnsw_get_stats(hnsw_index *ix, hnsw_stats *st) {
    pthread_rwlock_rdlock(&ix->lock);
    const graph *g = &ix->g;
    memset(st, 0, sizeof *st);
    st->nodes = g->n;
    st->live = (size_t)(g->n - g->n_deleted);
    st->deleted = g->n_deleted;
    size_t arrays = (size_t)g->cap * (g->rec_size + sizeof(int64_t) + 2 + sizeof(uint32_t)) +
                    g->upper_cap * sizeof(uint32_t);
    if (g->map_base) st->bytes_mapped = g->map_len;
    else st->bytes_heap = arrays;
    st->bytes_heap += g->lmap_cap * sizeof(uint32_t) + sizeof *ix;
    st->dim = g->dim;
    st->M = g->M;
    st->ef_construction = g->efc;
    st->max_level = g->max_level;
    st->metric = g->metric;
    st->graph_short = atomic_load(&ix->graph_short);
    pthread_rwlock_unlock(&ix->lock);
}

/* ---------------------------------------------------------- persistence */

typedef struct file_section {
    uint64_t offset, size;
    uint32_t crc, pad;
} file_section;

typedef struct file_header {
    char magic[8];
    uint32_t version, header_size;
    uint32_t dim, metric, M, M0, efc;
    int32_t max_level;         /* -1 when empty */
    uint32_t n, n_deleted;
    int64_t entry;
    uint64_t rec_size, upper_n, file_size, rng;
    file_section sect[NSECT];  /* level0, labels, levels, flags, upper_off, upper */
    uint32_t header_crc;       /* CRC32C of this struct with header_crc = 0 */
    uint32_t pad;
} file_header;
_Static_assert(sizeof(file_header) <= HEADER_SIZE, "header fits its block");

int hnsw_save(hnsw_index *ix, const char *path, scry_err *err) {
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp.%d", path, (int)getpid());
    pthread_rwlock_rdlock(&ix->lock);
    const graph *g = &ix->g;
    file_header h;
    memset(&h, 0, sizeof h);
    memcpy(h.magic, FILE_MAGIC, 8);
    h.version = FILE_VERSION;
    h.header_size = HEADER_SIZE;
    h.dim = (uint32_t)g->dim, h.metric = (uint32_t)g->metric, h.M = (uint32_t)g->M;
    h.M0 = (uint32_t)g->M0, h.efc = (uint32_t)g->efc, h.max_level = (int32_t)g->max_level;
    h.n = g->n, h.n_deleted = g->n_deleted, h.entry = g->entry;
    h.rec_size = g->rec_size, h.upper_n = g->upper_n, h.rng = g->rng;
    const void *src[NSECT] = {g->level0, g->labels, g->levels, g->flags, g->upper_off, g->upper};
    uint64_t sizes[NSECT] = {(uint64_t)g->n * g->rec_size, (uint64_t)g->n * 8, g->n, g->n,
                             (uint64_t)g->n * 4, (uint64_t)g->upper_n * 4};
    uint64_t off = HEADER_SIZE;
    for (int i = 0; i < NSECT; i++) {
        h.sect[i].offset = off;
        h.sect[i].size = sizes[i];
        h.sect[i].crc = crc32c(0, src[i], sizes[i]);
        off = (off + sizes[i] + 63) & ~(uint64_t)63;
    }
    h.file_size = off;
    h.header_crc = crc32c(0, &h, sizeof h);

    int rc = SCRY_OK;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        rc = scry_fail(err, SCRY_EIO, "hnsw: create %s: %s", tmp, strerror(errno));
        goto out;
    }
    static const char zeros[HEADER_SIZE];
    if (scry_write_all(fd, &h, sizeof h) || scry_write_all(fd, zeros, HEADER_SIZE - sizeof h)) goto ioerr;
    uint64_t pos = HEADER_SIZE;
    for (int i = 0; i < NSECT; i++) {
        if (scry_write_all(fd, src[i], sizes[i])) goto ioerr;
        pos += sizes[i];
        uint64_t next = i + 1 < NSECT ? h.sect[i + 1].offset : h.file_size;
        if (scry_write_all(fd, zeros, next - pos)) goto ioerr;
        pos = next;
    }
    if (fsync(fd) != 0) goto ioerr;
    close(fd);
    fd = -1;
    if (rename(tmp, path) != 0) goto ioerr;
    {
        char dir[4096];
        snprintf(dir, sizeof dir, "%s", path);
        char *slash = strrchr(dir, '/');
        if (slash == dir) dir[1] = 0;
        else if (slash) *slash = 0;
        else snprintf(dir, sizeof dir, ".");
        rc = scry_fsync_dir(dir, err);
    }
    goto out;
ioerr:
    rc = scry_fail(err, SCRY_EIO, "hnsw: write %s: %s", path, strerror(errno));
    if (fd >= 0) close(fd);
    unlink(tmp);
out:
    pthread_rwlock_unlock(&ix->lock);
    return rc;
}

static int corrupt(scry_err *err, const char *path, const char *why) {
    return scry_fail(err, SCRY_ECORRUPT, "hnsw: %s: %s (rebuild the index)", path, why);
}

int hnsw_load(hnsw_index **out, const char *path, scry_err *err) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return scry_fail(err, errno == ENOENT ? SCRY_ENOTFOUND : SCRY_EIO, "hnsw: open %s: %s", path,
                         strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return scry_fail(err, SCRY_EIO, "hnsw: stat %s: %s", path, strerror(e));
    }
    if ((uint64_t)st.st_size < HEADER_SIZE) {
        close(fd);
        return corrupt(err, path, "truncated header");
    }
    size_t len = (size_t)st.st_size;
    char *base = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
    close(fd);
    if (base == MAP_FAILED) return scry_fail(err, SCRY_EIO, "hnsw: mmap %s: %s", path, strerror(errno));
    file_header h;
    memcpy(&h, base, sizeof h);
    uint32_t want = h.header_crc;
    h.header_crc = 0;
    const char *why = NULL;
    if (memcmp(h.magic, FILE_MAGIC, 8) != 0) why = "not an hnsw index file";
    else if (crc32c(0, &h, sizeof h) != want) why = "header checksum mismatch";
    else if (h.version != FILE_VERSION) why = "unsupported format version";
    else if (h.file_size != len) why = h.file_size > len ? "truncated file" : "trailing bytes";
    else if (h.dim == 0 || h.dim > 65536 || h.M < 2 || h.M > 256 || h.M0 != 2 * h.M ||
             h.efc < 1 || h.efc > MAX_EF_CONSTRUCTION ||
             h.metric > HNSW_IP || h.max_level > MAX_LEVEL || h.max_level < (h.n ? 0 : -1) ||
             h.rec_size != (uint64_t)(h.M0 + 1) * 4 + (uint64_t)h.dim * 4 || h.n_deleted > h.n ||
             (h.n && (h.entry < 0 || h.entry >= h.n)) || h.upper_n > UINT32_MAX)
        why = "inconsistent header";
    uint64_t sizes[NSECT] = {(uint64_t)h.n * h.rec_size, (uint64_t)h.n * 8, h.n, h.n,
                             (uint64_t)h.n * 4, h.upper_n * 4};
    for (int i = 0; !why && i < NSECT; i++) {
        if (h.sect[i].size != sizes[i] || h.sect[i].offset % 64 || h.sect[i].offset < HEADER_SIZE ||
            h.sect[i].offset > len || h.sect[i].size > len - h.sect[i].offset)
            why = "bad section table";
        else if (crc32c(0, base + h.sect[i].offset, h.sect[i].size) != h.sect[i].crc)
            why = "section checksum mismatch";
    }
    if (why) {
        munmap(base, len);
        return corrupt(err, path, why);
    }
    hnsw_index *ix;
    int rc = index_alloc(&ix, err);
    if (rc) {
        munmap(base, len);
        return rc;
    }
    graph *g = &ix->g;
    graph_setup(g, (int)h.dim, (int)h.M, (int)h.efc, (hnsw_metric)h.metric, h.rng);
    g->map_base = base;
    g->map_len = len;
    g->n = g->cap = h.n;
    g->n_deleted = h.n_deleted;
    g->entry = h.n ? h.entry : -1;
    g->max_level = h.n ? (int)h.max_level : -1;
    g->upper_n = g->upper_cap = h.upper_n;
    g->level0 = base + h.sect[0].offset;
    g->labels = (int64_t *)(base + h.sect[1].offset);
    g->levels = (uint8_t *)(base + h.sect[2].offset);
    g->flags = (uint8_t *)(base + h.sect[3].offset);
    g->upper_off = (uint32_t *)(base + h.sect[4].offset);
    g->upper = (uint32_t *)(base + h.sect[5].offset);
    /* Structural check: every link in range (and, above level 0, to a node on
     * that level), every upper list inside the pool.
     * The checksums catch accidents; this keeps a crafted file from steering
     * reads out of bounds. */
    uint32_t deleted = 0;
    /* Upper lists are laid out in id order, back to back (hnsw_add appends
     * them): anything else would let two nodes share words, and a count
     * read from a neighbour's link overflows the pruning buffer (found by
     * fuzzing). */
    uint64_t next_upper = 0;
    for (uint32_t id = 0; !why && id < g->n; id++) {
        const uint32_t *ln = l0_links(g, id);
        if (ln[0] > (uint32_t)g->M0 || (int)g->levels[id] > h.max_level) why = "bad node";
        for (uint32_t j = 1; !why && j <= ln[0]; j++)
            if (ln[j] >= g->n) why = "link out of range";
        deleted += g->flags[id] & FLAG_DELETED;
        if (!why && !g->levels[id] && g->upper_off[id] != NO_UPPER) why = "bad upper links";
        if (why || !g->levels[id]) continue;
        if (g->upper_off[id] != next_upper ||
            (uint64_t)g->upper_off[id] + upper_words(g, g->levels[id]) > g->upper_n) {
            why = "bad upper links";
            break;
        }
        next_upper += upper_words(g, g->levels[id]);
        for (int l = 1; !why && l <= g->levels[id]; l++) {
            const uint32_t *ul = links_at(g, id, l);
            if (ul[0] > (uint32_t)g->M) why = "bad upper links";
            /* A link on level l must lead to a node that has level l:
             * searches read that node's level-l list next (found by
             * fuzzing: a crafted file sent greedy_level through NO_UPPER). */
            for (uint32_t j = 1; !why && j <= ul[0]; j++)
                if (ul[j] >= g->n || (int)g->levels[ul[j]] < l) why = "link out of range";
        }
    }
    if (!why && next_upper != g->upper_n) why = "bad upper links";
    if (!why && deleted != g->n_deleted) why = "tombstone count mismatch";
    if (!why && g->n && (int)g->levels[g->entry] != h.max_level) why = "bad entry point";
    if (!why && lmap_reserve(g, (size_t)(g->n - g->n_deleted))) {
        hnsw_free(ix);
        return scry_fail(err, SCRY_ENOMEM, "hnsw: out of memory loading %s", path);
    }
    if (why) {
        hnsw_free(ix);
        return corrupt(err, path, why);
    }
    *out = ix;
    return SCRY_OK;
}
