/* hnsw.h -- Scry's approximate nearest-neighbour index (HNSW), in C11.
 *
 * A Hierarchical Navigable Small World graph (Malkov & Yashunin, 2016) over
 * float vectors of any dimension, keyed by int64 labels (the store's image
 * rowid). Scores are similarities, higher is better:
 *   HNSW_COSINE  vectors and queries are L2-normalised, score = cosine;
 *   HNSW_IP      raw inner product.
 *
 * Writes: one writer at a time (hnsw_add / hnsw_remove are serialised by an
 * internal mutex; hnsw_compact rebuilds alongside them), any number of concurrent readers
 * (hnsw_search / hnsw_exact_search / hnsw_save / stats). A deleted label is
 * never returned; re-adding a deleted (or live) label stores the new vector.
 * Deletes are tombstones: the node keeps routing searches until
 * hnsw_compact() rebuilds the graph from live vectors.
 *
 * Persistence: hnsw_save writes a versioned, CRC32C-checksummed file
 * atomically (temp + fsync + rename + fsync dir); hnsw_load maps it and uses
 * the flat arrays in place. See docs/ann.md for the format and figures. */
#ifndef SCRY_INDEX_HNSW_H
#define SCRY_INDEX_HNSW_H

#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum { HNSW_COSINE = 0, HNSW_IP = 1 } hnsw_metric;

typedef struct hnsw_params {
    hnsw_metric metric;   /* default HNSW_COSINE */
    int M;                /* links per node on upper levels (level 0: 2*M); default 16 */
    int ef_construction;  /* beam width while inserting; default 200 */
    uint64_t seed;        /* level generator seed; default 42 (builds are reproducible) */
    size_t capacity;      /* initial node capacity (grows as needed); default 1024 */
} hnsw_params;

void hnsw_params_default(hnsw_params *p);

/* Allow-list filter: a node is eligible when allow(label, ctx) != 0. The
 * callback is called from the searching thread with the index read-locked:
 * it must not call back into this index's write functions. When the allowed
 * fraction is small (estimated by sampling) the search switches to an exact
 * scan over the allowed nodes, so small allow-lists stay exact. */
typedef struct hnsw_filter {
    int (*allow)(int64_t label, void *ctx);
    void *ctx;
} hnsw_filter;

/* Ready-made filter over a sorted (ascending) array of labels:
 *   hnsw_label_set set = {labels, n};
 *   hnsw_filter f = {hnsw_allow_sorted, &set}; */
typedef struct hnsw_label_set {
    const int64_t *labels;
    size_t n;
} hnsw_label_set;
int hnsw_allow_sorted(int64_t label, void *ctx);

typedef struct hnsw_hit {
    int64_t label;
    float score;          /* cosine or inner product; higher is closer */
} hnsw_hit;

typedef struct hnsw_stats {
    size_t nodes;         /* graph nodes, tombstones included */
    size_t live;          /* searchable labels (== hnsw_count) */
    size_t deleted;       /* tombstones awaiting hnsw_compact */
    size_t bytes_heap;    /* bytes of heap owned by the index */
    size_t bytes_mapped;  /* bytes of file mapping still used in place */
    int dim, M, ef_construction, max_level;
    hnsw_metric metric;
    size_t graph_short;   /* graph searches that found fewer than k eligible nodes
                           * although more exist, and were answered by an exact scan */
} hnsw_stats;

typedef struct hnsw_index hnsw_index;

int hnsw_create(hnsw_index **out, int dim, const hnsw_params *params, scry_err *err);
void hnsw_free(hnsw_index *idx);

/* Insert vec (dim floats) under label. An existing label is replaced.
 * SCRY_EINVAL for non-finite values or (cosine) a zero vector. */
int hnsw_add(hnsw_index *idx, int64_t label, const float *vec, scry_err *err);
/* Tombstone a label. SCRY_OK, or SCRY_ENOTFOUND when it is not live. */
int hnsw_remove(hnsw_index *idx, int64_t label);
int hnsw_contains(hnsw_index *idx, int64_t label);
size_t hnsw_count(hnsw_index *idx);
/* Copy the stored vector (normalised for cosine) into out[dim]. */
int hnsw_get(hnsw_index *idx, int64_t label, float *out, scry_err *err);
/* A snapshot of the live labels, in no particular order (*out malloc'ed,
 * caller frees). */
int hnsw_labels(hnsw_index *idx, int64_t **out, size_t *n, scry_err *err);

/* k nearest by HNSW with beam width ef (ef < k is raised to k; 0 = 64).
 * filter may be NULL. Fills out[0..*nout) best first; *nout < k only when
 * fewer than k labels are eligible. */
int hnsw_search(hnsw_index *idx, const float *query, int k, int ef, const hnsw_filter *filter,
                hnsw_hit *out, int *nout, scry_err *err);
/* Same contract, by scanning every live vector (exact). */
int hnsw_exact_search(hnsw_index *idx, const float *query, int k, const hnsw_filter *filter,
                      hnsw_hit *out, int *nout, scry_err *err);

/* Exact top-k among the given labels only (unknown and deleted ones are
 * skipped; each is looked up, none is scanned for): a small allowed set
 * costs its own size, not the index's. Duplicate labels may repeat. */
int hnsw_exact_among(hnsw_index *ix, const float *query, int k, const int64_t *labels, size_t nlabels,
                     hnsw_hit *out, int *nout, scry_err *err);

/* Rebuild the graph from live vectors, dropping tombstones. Neither
 * searches nor writers wait for the rebuild: searches use the old graph,
 * writes go to the old graph and are replayed into the new one; writers
 * wait only for the final short replay, searches only for the pointer swap.
 * Needs memory for a second copy of the live set while it runs. One
 * compaction at a time (a second call waits for the first). SCRY_EBUSY when
 * cancelled (the index is then unchanged). */
int hnsw_compact(hnsw_index *idx, scry_err *err);
/* Make a running hnsw_compact (or, if none runs, the next one) give up
 * soon; for shutdown. */
void hnsw_compact_cancel(hnsw_index *idx);

/* Persistence. Missing file: SCRY_ENOTFOUND; truncated, corrupt or of an
 * unknown version: SCRY_ECORRUPT (callers rebuild from stored vectors). */
int hnsw_save(hnsw_index *idx, const char *path, scry_err *err);
int hnsw_load(hnsw_index **out, const char *path, scry_err *err);

void hnsw_get_stats(hnsw_index *idx, hnsw_stats *st);

#ifdef __cplusplus
}
#endif

#endif
