/* search.h -- answering a text query with ranked, explained results.
 *
 * A query goes through four steps (design and measurements: docs/search.md):
 *   1. understanding (text/query.h): counts, negations, colours, emotions,
 *      quoted text and dates become structured constraints; the rest stays
 *      as a residual for semantic matching;
 *   2. candidates, at most ~300 from each source: the ANN index over sentence
 *      vectors of the images' facts (index/hnsw.h); BM25 over an in-memory
 *      keyword index of the facts (search/kwindex.h); and, when the query has
 *      structured constraints, the images satisfying them (a sequential scan
 *      of the in-memory catalog, search/catalog.h, then the nearest of them
 *      by vector, or all of them when they are few);
 *   3. hard filters: negations, required/forbidden text, date ranges and the
 *      request's filter parameters restrict every source;
 *   4. fusion: score = (wv*cosine + wb*bm25/max_bm25 + ws*structured) / the
 *      weights in play, a relevance floor, and a `why` naming what matched.
 *
 * The engine keeps the ANN index and the catalog in step with the database
 * through the metadata change feed (search_sync), so images indexed by
 * another process (scry add) become searchable too. The index is saved
 * under DATA/index/<encoder>.hnsw and loaded at start; a missing, corrupt or
 * stale file is rebuilt from the vectors stored in the database. */
#ifndef SCRY_SEARCH_H
#define SCRY_SEARCH_H

#include <stdint.h>

#include "core/err.h"
#include "core/labels.h"
#include "index/hnsw.h"
#include "store/meta.h"

typedef struct scry_encoder scry_encoder;
typedef struct scry_lexicon scry_lexicon;
typedef struct concepts_model concepts_model;

typedef enum { SORT_RELEVANCE = 0, SORT_DATE = 1 } search_sort;
/* Which signals rank: all fused (the product), or one alone (benchmarks):
 * keywords, the sentence vector of the facts, or the learned image-text
 * projection (the photo's pixels against the query). */
typedef enum {
    SEARCH_FUSED = 0, SEARCH_BM25_ONLY = 1, SEARCH_VECTOR_ONLY = 2, SEARCH_IMAGE_ONLY = 3
} search_mode;

typedef struct search_params {
    const char *q;              /* the user's text, as typed */
    int limit;                  /* default 20, at most 200 */
    int offset;
    search_sort sort;
    search_mode mode;
    const char *label;          /* only images with this detected label */
    const char *emotion;        /* only images with a face of this emotion */
    int has_text;               /* -1 any, 0 without OCR text, 1 with */
    int64_t from, to;           /* taken_at range [from, to) in unix seconds; 0 = open */
    int64_t now;                /* reference for relative dates; 0 = the clock */
    int no_floor;               /* 1: return candidates below the relevance floor too */
    int signals;                /* 1: fill each result's signals (benchmarks, tuning) */
    const int64_t *persons;     /* person=ID filters: each person must be in the photo */
    int npersons;
    int64_t face_id;            /* face=ID: photos with a face like that one; 0 none */
} search_params;

/* The values fusion combined for one result (search_params.signals). */
typedef struct search_signals {
    double vector, image;       /* cosines: facts' sentence vector, image-text projection */
    double bm25;                /* keyword score / the best candidate's */
    double structured;          /* share of the constraints satisfied */
    int absent;                 /* named objects or photo attributes missing */
} search_signals;

typedef struct search_result {
    char id[SCRY_ID_LEN + 1];
    int64_t rowid;
    char *filename;
    char *caption;
    char *why;
    double score;               /* fused, in [0, 1], higher is better */
    int64_t taken_at;
    int has_signals;
    search_signals signals;
} search_result;

typedef struct search_response {
    search_result *results;
    int n;
    char *understood;           /* the parsed query as JSON text (or NULL) */
} search_response;

typedef struct search_engine search_engine;

/* enc and lex may be NULL (keyword search only); cm (may be NULL) is the
 * learned concept head whose image-text projection is part of every image
 * vector (see search_image_vector). index_dir may be NULL (the ANN index
 * then lives in memory only). */
int search_create(search_engine **out, meta_db *meta, const scry_encoder *enc,
                  const scry_lexicon *lex, const concepts_model *cm, const char *index_dir,
                  scry_err *err);
/* What a search engine may keep besides its index folder: a blob store for
 * snapshots (search/snapshot.h) and how often to write one. With blobs set,
 * search_create_with starts from the latest snapshot when there is a usable
 * one (then replays the change feed from its sequence), and otherwise
 * rebuilds from rows as search_create does. */
typedef struct search_options {
    struct blob_store *blobs;   /* NULL: no snapshots */
    int snapshot_s;             /* seconds between snapshots; 0: none (neither read nor written) */
} search_options;
int search_create_with(search_engine **out, meta_db *meta, const scry_encoder *enc,
                       const scry_lexicon *lex, const concepts_model *cm, const char *index_dir,
                       const search_options *opt, scry_err *err);
/* Saves the index if it changed (and a snapshot, when they are on). */
void search_free(search_engine *se);
/* People (people/people.h; NULL: off): names in queries, person= and face=
 * (search/person_query.h). Borrowed. */
struct people;
void search_set_people(search_engine *se, struct people *pp);

/* Write a snapshot now (SCRY_EUNSUPPORTED without a blob store). */
int search_snapshot_save(search_engine *se, scry_err *err);
/* Write one if snapshots are on, the state moved since the last one and
 * snapshot_s has passed (the feed follower calls it). */
void search_snapshot_maybe(search_engine *se);
/* How the engine started: 1 from a snapshot, 0 rebuilt from rows; and the
 * milliseconds that took (bench/cluster, tests). */
void search_start_info(search_engine *se, int *from_snapshot, double *ms);

void search_params_init(search_params *p);
int search_run(search_engine *se, const search_params *p, search_response *out, scry_err *err);
void search_response_free(search_response *r);

/* Bring catalog and index up to date with the database (cheap when nothing
 * changed). search_run calls it; the indexing pipeline calls it after each
 * image so that a job completes only once its images are searchable. */
int search_sync(search_engine *se, scry_err *err);
/* An image was deleted: drop it from the catalog and the index. */
void search_forget(search_engine *se, int64_t rowid);
/* Write the ANN index to disk now (atomically). */
int search_save(search_engine *se, scry_err *err);

/* Automatic compaction of the ANN index. Deletes leave tombstones in the
 * graph (memory, and search time: they are still traversed). When they are
 * more than `fraction` of the graph's nodes and at least `min_tombstones`,
 * a background thread rebuilds the index without them (searches and writes
 * go on meanwhile; see hnsw_compact), saves it, logs `index.compacted` with
 * before/after counts and milliseconds, and counts it in /metrics.
 * fraction 0 turns it off. Defaults, until this is called:
 * SEARCH_COMPACT_FRACTION and SEARCH_COMPACT_MIN (the config's defaults). */
#define SEARCH_COMPACT_FRACTION 0.2
#define SEARCH_COMPACT_MIN 1000
void search_set_compaction(search_engine *se, double fraction, int min_tombstones);
/* Wait until no compaction is due or running, at most timeout_s seconds:
 * SCRY_OK, or SCRY_EBUSY at the timeout. For tests and benchmarks. */
int search_wait_compaction(search_engine *se, double timeout_s);
/* The ANN index's figures (nodes, live, tombstones, bytes); SCRY_ENOTFOUND
 * when there is no index (no encoder). */
int search_index_stats(search_engine *se, hnsw_stats *out);

/* The image vector, one per image, stored under search_vector_name and
 * indexed by the ANN index: the sentence vector of the facts (the text
 * below) and, with a concept head, the photo's projection into the shared
 * image-text space, each unit length, side by side and scaled by 1/sqrt(2)
 * (the projection half is zero when the photo had none, e.g. no detector).
 * A query is the same two halves -- its sentence vector and that vector's
 * projection -- weighted by the fusion weights of the two signals, so one
 * index search ranks by both, and each half's cosine is read back apart.
 * Without a concept head the image vector is the sentence vector alone. */
int search_vector_dim(const scry_encoder *enc, const concepts_model *cm);
/* "sif-glove6b-100d-v1" or "sif-glove6b-100d-v1+concepts-1a2b3c4d5e6f". */
void search_vector_name(const scry_encoder *enc, const concepts_model *cm, char *buf, size_t cap);
/* out[search_vector_dim] for a record and its projection (image_vec, the
 * head's proj_dim floats, or NULL). Returns > 0 when the vector has a
 * direction, 0 when there is nothing to encode (no known word and no
 * projection: store no vector), or a negative SCRY_E*. */
int search_image_vector(const scry_encoder *enc, const concepts_model *cm, const image_rec *r,
                        const float *image_vec, float *out, scry_err *err);

/* The text an image's vector is computed from: caption, detected objects
 * (with colours), face emotions, OCR text, and filename words, as plain
 * sentences without template words (see docs/text.md). Malloc'ed. */
char *search_document_text(const image_rec *r);

/* ---- browsing (the web app's "more like this" and filter lists) ---------- */

/* The ready images whose vectors are nearest to image rowid's, itself
 * excluded, best first: score is the cosine similarity; why names the
 * labels both images have (the neighbour's counts) and the similarity.
 * limit as search_params (default 20, at most 200). SCRY_ENOTFOUND when the
 * image has no vector (not indexed yet, failed, or no encoder). */
int search_similar(search_engine *se, int64_t rowid, int limit, int offset, search_response *out,
                   scry_err *err);

/* What the searchable (ready) images hold, for filter lists: how many
 * images show each label and each face emotion, how many have text, and
 * the range of their EXIF dates. From the in-memory catalog: ~1 ms at
 * 100k images. */
typedef struct search_facets {
    int64_t images;                             /* ready images */
    int64_t label_images[SCRY_COCO_COUNT];      /* images with >= 1 of the label */
    int64_t emotion_images[SCRY_EMOTION_COUNT]; /* images with a face of that top emotion */
    int64_t with_text, dated;
    int64_t first_taken, last_taken;            /* unix seconds; 0 when none is dated */
} search_facets;
int search_get_facets(search_engine *se, search_facets *out, scry_err *err);

#endif
