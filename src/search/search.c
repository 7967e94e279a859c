/* search.c -- see search.h.
 *
 * Sync. Every query first asks the store's change feed (meta_feed_read) for
 * what changed after the last sequence applied: rows written (upserted into
 * catalog, keyword index and ANN index) and rows deleted (dropped), by any
 * process -- another server, a worker, the CLI. Sequences are handed out in
 * commit order by both backends, so nothing committed can appear below the
 * sequence already applied and an unchanged database costs one small
 * query. A follower thread (search_follow) also syncs whenever the
 * database NOTIFYs a change, so a search node is current within a second
 * without waiting for a query. Start-up loads the latest snapshot
 * (search/snapshot.h) when there is one and replays the feed from its
 * sequence; otherwise everything is rebuilt from rows.
 *
 * Locking: `lock` (rwlock) guards the catalog, the keyword index and the
 * sync state; queries
 * hold it shared for their whole run, search_sync and search_forget take it
 * exclusive. The HNSW index has its own lock (many readers, one writer), and
 * is only written under our exclusive lock, so queries never see a vector
 * without its catalog entry.
 *
 * Compaction policy: deletes (and re-indexed images) leave tombstones in the
 * HNSW graph, which cost memory and search time (they are still traversed).
 * After every write we compare the index's tombstones with the policy
 * (more than `compact_fraction` of the nodes, and at least `compact_min`)
 * and, when it is due, wake one background thread that runs hnsw_compact --
 * which rebuilds off to the side while searches and writes go on -- and then
 * saves the index (atomically, as every save). The check is a stats read
 * under the index's read lock: cheap enough for every write. A failed
 * compaction is not retried until `compact_min` more tombstones have come,
 * so a persistent failure (out of memory) cannot turn into a busy loop. */
#include "search/search.h"

#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "core/labels.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/util.h"
#include "index/hnsw.h"
#include "search/catalog.h"
#include "search/kwindex.h"
#include "search/person_query.h"
#include "search/snapshot.h"
#include "store/blob.h"
#include "text/encoder.h"
#include "text/lexicon.h"
#include "text/query.h"
#include "vision/concepts.h"
#include "vision/image.h"

/* Fusion weights, chosen by cross-validation on the training photos
 * (tools/tune_fusion.py: five folds, each searched with a concept head that
 * never saw it; mean Recall@5 of the Flickr and the COCO photos' captions,
 * 0.617, against 0.450 for the weights before the head -- 0.618 for the
 * grid's best, which drops BM25 altogether): the learned image-text
 * projection carries most of the ranking. The facts' sentence vector added
 * nothing there beyond the other three, so it weighs nothing in fused
 * ranking (it still ranks alone in mode=vector, and finds similar images).
 * The structured weight and the factor for absent objects are held at
 * values the product needs -- constraints such as "two dogs" or "no
 * people" must move results, "an elephant" must not return a giraffe --
 * and the others chosen with them (docs/concepts.md). */
#define W_VECTOR 0.0
#define W_BM25 0.1
#define W_STRUCT 0.2
#define W_IMAGE 0.6
/* Without a concept head (none installed, --concepts 0) there is no image
 * signal: the weights measured before there was one (bench/retrieval). */
#define W_VECTOR_NO_HEAD 0.45
#define W_BM25_NO_HEAD 0.35
#define W_STRUCT_NO_HEAD 0.30
#define IMG_MIN 0.25            /* image cosine below which it is no evidence */
/* Fused score below which a result is unrelated: on those folds 82% of the
 * right photos score above it (docs/concepts.md). */
#define FLOOR 0.15
#define ABSENT_OBJECTS_FACTOR 0.5 /* the named objects are not in the image */
#define OCR_UNASKED 0.3         /* weight of OCR-only word matches when text was not asked for */
#define VEC_MIN 0.30            /* cosine below which the vector alone is no evidence */
#define CANDIDATES 300
#define SMALL_SET 2000          /* allowed sets this small are scored exactly, all of them */
#define EXACT_BELOW 2000        /* exact scan instead of HNSW under this many vectors */
#define SAVE_EVERY_S 60.0
#define CONCEPT_DOC_MIN 0.5     /* concept tags this probable join the vector's text */

struct search_engine {
    meta_db *meta;
    const scry_encoder *enc;
    const scry_lexicon *lex;
    const concepts_model *cm;   /* NULL: image vectors are sentence vectors only */
    struct people *people;      /* names, person= and face= (search/person_query.h); NULL: off */
    int vdim;                   /* image vector dimension (search_vector_dim) */
    char vname[128];            /* the name vectors are stored under */
    hnsw_index *index;          /* NULL without an encoder */
    char index_path[1200];
    catalog *cat;
    kwindex *kw;                /* BM25 over the facts, in memory */
    pthread_rwlock_t lock;
    pthread_mutex_t sync_lock;  /* also serialises saves */
    int64_t synced_seq;         /* change feed applied up to here */
    int fresh;                  /* the first sync after a rebuild: trust the index's vectors */
    atomic_int dirty;           /* index changes since the last save */
    double last_save;
    /* compaction policy and its background thread */
    pthread_mutex_t compact_mu;
    pthread_cond_t compact_cv;  /* wakes the thread; signals idleness */
    pthread_t compactor;
    int compactor_started;
    double compact_fraction;    /* 0: never */
    size_t compact_min;
    size_t retry_at;            /* after a failure: tombstones needed to try again */
    int compact_wanted, compact_running, compact_stop;
    /* snapshots */
    blob_store *blobs;          /* NULL: none */
    int snapshot_s;
    double last_snapshot;
    int64_t snapshot_seq;       /* synced_seq of the last snapshot written or loaded */
    int from_snapshot;
    double start_ms;
};

/* ---- index lifecycle ------------------------------------------------------- */

typedef struct catchup {
    search_engine *se;
    int added, bad;
    float *old;
    int64_t *stored;            /* rowids with a stored vector, as visited */
    size_t nstored, capstored;
} catchup;

/* Same direction (the index stores normalised copies). */
static int same_vector(const float *a, const float *b, int dim) {
    double dot = 0, nn = 0;
    for (int i = 0; i < dim; i++) {
        dot += (double)a[i] * b[i];
        nn += (double)b[i] * b[i];
    }
    return nn > 0 && dot / sqrt(nn) > 0.99999;
}

/* Every stored vector: added when the index lacks it, replaced when the
 * saved index holds an older one (re-indexed while we were down). The
 * first catalog sync then trusts the index (no per-row vector reads). */
static int catchup_vec(int64_t rowid, const float *v, int dim, void *ctx) {
    catchup *c = ctx;
    if (c->nstored == c->capstored) {
        size_t cap = c->capstored ? c->capstored * 2 : 1024;
        int64_t *grown = realloc(c->stored, cap * sizeof *grown);
        if (!grown) return SCRY_ENOMEM;
        c->stored = grown, c->capstored = cap;
    }
    c->stored[c->nstored++] = rowid;
    if (dim != c->se->vdim) { c->bad++; return 0; }
    if (hnsw_contains(c->se->index, rowid)) {
        if (hnsw_get(c->se->index, rowid, c->old, NULL) == SCRY_OK && same_vector(c->old, v, dim))
            return 0;
        hnsw_remove(c->se->index, rowid);
    }
    if (hnsw_add(c->se->index, rowid, v, NULL) == SCRY_OK) c->added++;
    else c->bad++;
    return 0;
}

static int cmp_i64(const void *a, const void *b);

/* Remove the index's labels that have no stored vector any more (c->stored
 * is in rowid order: meta_vector_each walks that way). */
static int prune_unstored(search_engine *se, catchup *c, int *removed, scry_err *err) {
    *removed = 0;
    int64_t *labels = NULL;
    size_t n = 0;
    int rc = hnsw_labels(se->index, &labels, &n, err);
    if (rc) return rc;
    for (size_t i = 0; i < n; i++)
        if (!bsearch(&labels[i], c->stored, c->nstored, sizeof *c->stored, cmp_i64) &&
            hnsw_remove(se->index, labels[i]) == SCRY_OK)
            (*removed)++;
    free(labels);
    return SCRY_OK;
}

static int open_index(search_engine *se, const char *index_dir, scry_err *err) {
    hnsw_params hp;
    hnsw_params_default(&hp);
    if (index_dir) {
        int rc = scry_mkdirs(index_dir, err);
        if (rc) return rc;
        snprintf(se->index_path, sizeof se->index_path, "%s/%s.hnsw", index_dir, se->vname);
        scry_err lerr = {0};
        double t0 = scry_mono_s();
        rc = hnsw_load(&se->index, se->index_path, &lerr);
        if (rc == SCRY_OK) {
            hnsw_stats st;
            hnsw_get_stats(se->index, &st);
            if (st.dim != se->vdim) {
                log_warn("index.rebuild", "path=%s reason=\"dimension %d, encoder has %d\"",
                         se->index_path, st.dim, se->vdim);
                hnsw_free(se->index);
                se->index = NULL;
            } else {
                log_info("index.loaded", "path=%s vectors=%zu ms=%.1f", se->index_path,
                         hnsw_count(se->index), (scry_mono_s() - t0) * 1000);
            }
        } else if (rc == SCRY_ENOTFOUND) {
            log_info("index.new", "path=%s", se->index_path);
        } else {
            log_warn("index.rebuild", "path=%s reason=\"%s\"", se->index_path, lerr.msg);
        }
    }
    if (!se->index) {
        int rc = hnsw_create(&se->index, se->vdim, &hp, err);
        if (rc) return rc;
    }
    /* Catch up from the durable vectors: whatever the file missed (a crash
     * before the last save, or no file at all) is added now, and whatever it
     * holds that is no longer stored (an image deleted after the last save)
     * is removed. */
    catchup c = {se, 0, 0, malloc((size_t)se->vdim * sizeof(float)), NULL, 0, 0};
    if (!c.old) return scry_fail(err, SCRY_ENOMEM, "out of memory");
    double t0 = scry_mono_s();
    int rc = meta_vector_each(se->meta, se->vname, catchup_vec, &c, err);
    free(c.old);
    if (rc == SCRY_ENOMEM) rc = scry_fail(err, SCRY_ENOMEM, "out of memory");
    int removed = 0;
    if (rc == SCRY_OK) rc = prune_unstored(se, &c, &removed, err);
    free(c.stored);
    if (rc) return rc;
    if (c.added || c.bad || removed) {
        log_info("index.caught_up", "added=%d removed=%d skipped=%d ms=%.1f", c.added, removed,
                 c.bad, (scry_mono_s() - t0) * 1000);
        se->dirty += c.added + removed;
    }
    return SCRY_OK;
}

/* Caller holds sync_lock (or is the only thread left). */
static int save_locked(search_engine *se, scry_err *err) {
    if (!se->index || !se->index_path[0]) return SCRY_OK;
    double t0 = scry_mono_s();
    /* Changes made while the file is written (a delete calls search_forget
     * without sync_lock) may miss this save: only what was counted before
     * it is cleared, so they still make the next save (or shutdown's) due. */
    int before = atomic_load(&se->dirty);
    int rc = hnsw_save(se->index, se->index_path, err);
    if (rc == SCRY_OK) {
        log_info("index.saved", "path=%s vectors=%zu ms=%.1f", se->index_path,
                 hnsw_count(se->index), (scry_mono_s() - t0) * 1000);
        atomic_fetch_sub(&se->dirty, before);
        se->last_save = scry_mono_s();
    }
    return rc;
}

int search_save(search_engine *se, scry_err *err) {
    pthread_mutex_lock(&se->sync_lock);
    int rc = save_locked(se, err);
    pthread_mutex_unlock(&se->sync_lock);
    return rc;
}

/* ---- compaction policy ------------------------------------------------------- */

static int compaction_due(search_engine *se, const hnsw_stats *st) {
    return se->compact_fraction > 0 && st->deleted >= se->compact_min &&
           st->deleted >= se->retry_at &&
           (double)st->deleted > se->compact_fraction * (double)st->nodes;
}

/* After index writes: wake the compactor when the policy says so. */
static void maybe_compact(search_engine *se) {
    if (!se->index) return;
    hnsw_stats st;
    hnsw_get_stats(se->index, &st);
    pthread_mutex_lock(&se->compact_mu);
    if (se->compactor_started && !se->compact_running && !se->compact_wanted &&
        compaction_due(se, &st)) {
        se->compact_wanted = 1;
        pthread_cond_broadcast(&se->compact_cv);
    }
    pthread_mutex_unlock(&se->compact_mu);
}

static void compact_once(search_engine *se) {
    hnsw_stats before, after;
    hnsw_get_stats(se->index, &before);
    pthread_mutex_lock(&se->compact_mu);
    int due = compaction_due(se, &before);
    pthread_mutex_unlock(&se->compact_mu);
    if (!due) return;
    scry_err err = {0};
    double t0 = scry_mono_s();
    int rc = hnsw_compact(se->index, &err);
    double ms = (scry_mono_s() - t0) * 1000;
    if (rc == SCRY_EBUSY) {
        log_info("index.compact_cancelled", "ms=%.1f", ms);
        return;
    }
    if (rc != SCRY_OK) {
        metrics_add(M_INDEX_COMPACT_FAILURES, 1);
        pthread_mutex_lock(&se->compact_mu);
        se->retry_at = before.deleted + se->compact_min;
        pthread_mutex_unlock(&se->compact_mu);
        log_error("index.compact_failed", "tombstones=%zu ms=%.1f reason=\"%s\"", before.deleted, ms,
                  err.msg);
        return;
    }
    hnsw_get_stats(se->index, &after);
    pthread_mutex_lock(&se->compact_mu);
    se->retry_at = 0;
    pthread_mutex_unlock(&se->compact_mu);
    se->dirty++;
    double ts = scry_mono_s();
    pthread_mutex_lock(&se->sync_lock);
    int src = save_locked(se, &err);
    pthread_mutex_unlock(&se->sync_lock);
    double save_ms = (scry_mono_s() - ts) * 1000;
    if (src != SCRY_OK) log_error("index.save_failed", "reason=\"%s\"", err.msg);
    metrics_add(M_INDEX_COMPACTIONS, 1);
    metrics_add(M_INDEX_COMPACT_DROPPED, before.deleted);
    metrics_add(M_INDEX_COMPACT_MS, (uint64_t)(ms + 0.5));
    log_info("index.compacted",
             "nodes_before=%zu tombstones_before=%zu nodes_after=%zu tombstones_after=%zu live=%zu "
             "ms=%.1f save_ms=%.1f saved=%d",
             before.nodes, before.deleted, after.nodes, after.deleted, after.live, ms, save_ms,
             src == SCRY_OK);
}

static void *compactor_main(void *arg) {
    search_engine *se = arg;
    pthread_mutex_lock(&se->compact_mu);
    for (;;) {
        while (!se->compact_wanted && !se->compact_stop) pthread_cond_wait(&se->compact_cv, &se->compact_mu);
        if (se->compact_stop) break;
        se->compact_wanted = 0;
        se->compact_running = 1;
        pthread_mutex_unlock(&se->compact_mu);
        compact_once(se);
        hnsw_stats st;
        hnsw_get_stats(se->index, &st);
        pthread_mutex_lock(&se->compact_mu);
        /* Deletes made during the rebuild may already call for another;
         * decided before we look idle, so search_wait_compaction cannot
         * slip in between. */
        se->compact_wanted = compaction_due(se, &st);
        se->compact_running = 0;
        pthread_cond_broadcast(&se->compact_cv);
    }
    pthread_mutex_unlock(&se->compact_mu);
    return NULL;
}

void search_set_compaction(search_engine *se, double fraction, int min_tombstones) {
    pthread_mutex_lock(&se->compact_mu);
    se->compact_fraction = fraction > 0 && fraction <= 1 ? fraction : 0;
    se->compact_min = min_tombstones > 1 ? (size_t)min_tombstones : 1;
    se->retry_at = 0;
    pthread_mutex_unlock(&se->compact_mu);
    maybe_compact(se);
}

int search_wait_compaction(search_engine *se, double timeout_s) {
    double deadline = scry_mono_s() + timeout_s;
    pthread_mutex_lock(&se->compact_mu);
    while ((se->compact_wanted || se->compact_running) && scry_mono_s() < deadline) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 20 * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&se->compact_cv, &se->compact_mu, &ts);
    }
    int busy = se->compact_wanted || se->compact_running;
    pthread_mutex_unlock(&se->compact_mu);
    return busy ? SCRY_EBUSY : SCRY_OK;
}

int search_index_stats(search_engine *se, hnsw_stats *out) {
    if (!se || !se->index) return SCRY_ENOTFOUND;
    hnsw_get_stats(se->index, out);
    return SCRY_OK;
}

/* ---- snapshots ----------------------------------------------------------------- */

/* The snapshot's index bytes as the local index file: written to a temp
 * name and renamed, not fsynced -- a cache of what the blob store keeps
 * durably (an fsync of a few hundred MB would cost seconds of start-up). */
static int write_index_copy(const char *path, const void *data, size_t n, scry_err *err) {
    char tmp[1300];
    snprintf(tmp, sizeof tmp, "%s.snap-XXXXXX", path);
    int fd = mkstemp(tmp);
    if (fd < 0) return scry_fail(err, SCRY_EIO, "create %s: %s", tmp, strerror(errno));
    int ok = scry_write_all(fd, data, n) == 0;
    ok = close(fd) == 0 && ok;
    if (!ok || rename(tmp, path) != 0) {
        int e = errno;
        unlink(tmp);
        return scry_fail(err, SCRY_EIO, "write %s: %s", path, strerror(e));
    }
    return SCRY_OK;
}

/* Replace catalog, keyword index and ANN index with a snapshot's. Only at
 * start (nothing else runs yet). Any failure leaves the engine as it was
 * and says why: the caller then rebuilds from rows. */
static int snapshot_load(search_engine *se, scry_err *err) {
    char name[128];
    snapshot_name(se->vname[0] ? se->vname : "keywords", name, sizeof name);
    void *data = NULL;
    size_t n = 0;
    int rc = blob_get_named(se->blobs, name, &data, &n, err);
    if (rc) return rc;
    snapshot_parts p;
    catalog *cat = NULL;
    kwindex *kw = NULL;
    hnsw_index *idx = NULL;
    rc = snapshot_decode(data, n, &p, err);
    if (rc == SCRY_OK && (p.layout != catalog_layout() || strcmp(p.vname, se->vname)))
        rc = scry_fail(err, SCRY_ECORRUPT, "snapshot is of another build or encoder (%s)", p.vname);
    if (rc == SCRY_OK && se->enc && (!p.nindex || !se->index_path[0]))
        rc = scry_fail(err, SCRY_ECORRUPT, "snapshot has no ANN index");
    if (rc == SCRY_OK) {
        snap_in in = {p.catalog, p.ncatalog, 0, 0};
        if (catalog_read(&cat, &in) != SCRY_OK || in.off != in.len)
            rc = scry_fail(err, SCRY_ECORRUPT, "snapshot catalog does not parse");
    }
    if (rc == SCRY_OK) {
        snap_in in = {p.kw, p.nkw, 0, 0};
        if (kw_read(&kw, &in) != SCRY_OK || in.off != in.len)
            rc = scry_fail(err, SCRY_ECORRUPT, "snapshot keyword index does not parse");
    }
    if (rc == SCRY_OK && se->enc) {
        /* The index file is the snapshot's: written where the index lives
         * (atomically) and loaded from there as at any start. */
        rc = write_index_copy(se->index_path, p.index, p.nindex, err);
        double ti = scry_mono_s();
        if (rc == SCRY_OK) rc = hnsw_load(&idx, se->index_path, err);
        if (rc == SCRY_OK) {
            hnsw_stats st;
            hnsw_get_stats(idx, &st);
            if (st.dim != se->vdim) rc = scry_fail(err, SCRY_ECORRUPT, "snapshot index dimension %d", st.dim);
            else log_info("index.loaded", "path=%s vectors=%zu ms=%.1f source=snapshot",
                          se->index_path, hnsw_count(idx), (scry_mono_s() - ti) * 1000);
        }
    }
    int64_t seq = p.seq;
    free(data);
    if (rc != SCRY_OK) {
        catalog_free(cat);
        kw_free(kw);
        hnsw_free(idx);
        return rc;
    }
    catalog_free(se->cat);
    kw_free(se->kw);
    hnsw_free(se->index);
    se->cat = cat;
    se->kw = kw;
    se->index = idx;
    se->synced_seq = se->snapshot_seq = seq;
    se->fresh = 0;
    return SCRY_OK;
}

int search_snapshot_save(search_engine *se, scry_err *err) {
    if (!se->blobs) return scry_fail(err, SCRY_EUNSUPPORTED, "no blob store for snapshots");
    if (se->enc && !se->index_path[0])
        return scry_fail(err, SCRY_EUNSUPPORTED, "the ANN index has no file");
    double t0 = scry_mono_s();
    snap_out cat = {0}, kw = {0};
    void *index = NULL;
    size_t nindex = 0;
    /* The sync lock holds the state still (no feed applied meanwhile);
     * queries go on under the read lock. */
    pthread_mutex_lock(&se->sync_lock);
    pthread_rwlock_rdlock(&se->lock);
    int64_t seq = se->synced_seq;
    catalog_write(se->cat, &cat);
    kw_write(se->kw, &kw);
    pthread_rwlock_unlock(&se->lock);
    int rc = SCRY_OK;
    if (se->index) {
        se->dirty++;
        rc = save_locked(se, err);
        if (rc == SCRY_OK) rc = scry_read_file(se->index_path, &index, &nindex, err);
    }
    pthread_mutex_unlock(&se->sync_lock);
    if (rc == SCRY_OK && (cat.oom || kw.oom)) rc = scry_fail(err, SCRY_ENOMEM, "out of memory (snapshot)");
    void *snap = NULL;
    size_t n = 0;
    if (rc == SCRY_OK) {
        snapshot_parts p = {.layout = catalog_layout(), .seq = seq, .catalog = cat.p,
                            .ncatalog = cat.len, .kw = kw.p, .nkw = kw.len, .index = index,
                            .nindex = nindex};
        snprintf(p.vname, sizeof p.vname, "%s", se->vname);
        rc = snapshot_encode(&p, &snap, &n, err);
    }
    free(cat.p);
    free(kw.p);
    free(index);
    char name[128];
    snapshot_name(se->vname[0] ? se->vname : "keywords", name, sizeof name);
    if (rc == SCRY_OK) rc = blob_put_named(se->blobs, name, snap, n, err);
    free(snap);
    se->last_snapshot = scry_mono_s();
    if (rc == SCRY_OK) {
        se->snapshot_seq = seq;
        log_info("search.snapshot_saved", "name=%s seq=%lld bytes=%zu ms=%.1f", name,
                 (long long)seq, n, (scry_mono_s() - t0) * 1000);
    }
    return rc;
}

void search_snapshot_maybe(search_engine *se) {
    if (!se || !se->blobs || se->snapshot_s <= 0 || se->synced_seq == se->snapshot_seq ||
        scry_mono_s() - se->last_snapshot < se->snapshot_s)
        return;
    scry_err err = {0};
    if (search_snapshot_save(se, &err) != SCRY_OK)
        log_warn("search.snapshot_failed", "reason=\"%s\"", err.msg);
}

void search_start_info(search_engine *se, int *from_snapshot, double *ms) {
    *from_snapshot = se->from_snapshot;
    *ms = se->start_ms;
}

int search_create(search_engine **out, meta_db *meta, const scry_encoder *enc,
                  const scry_lexicon *lex, const concepts_model *cm, const char *index_dir,
                  scry_err *err) {
    return search_create_with(out, meta, enc, lex, cm, index_dir, NULL, err);
}

int search_create_with(search_engine **out, meta_db *meta, const scry_encoder *enc,
                       const scry_lexicon *lex, const concepts_model *cm, const char *index_dir,
                       const search_options *opt, scry_err *err) {
    double t0 = scry_mono_s();
    search_engine *se = calloc(1, sizeof *se);
    if (!se) return scry_fail(err, SCRY_ENOMEM, "out of memory");
    se->meta = meta;
    se->enc = enc;
    se->lex = lex;
    se->cm = enc ? cm : NULL;
    if (enc) {
        se->vdim = search_vector_dim(enc, se->cm);
        search_vector_name(enc, se->cm, se->vname, sizeof se->vname);
    }
    se->cat = catalog_new();
    se->kw = kw_new();
    se->last_save = scry_mono_s();
    se->compact_fraction = SEARCH_COMPACT_FRACTION;
    se->compact_min = SEARCH_COMPACT_MIN;
    pthread_rwlock_init(&se->lock, NULL);
    pthread_mutex_init(&se->sync_lock, NULL);
    pthread_mutex_init(&se->compact_mu, NULL);
    pthread_cond_init(&se->compact_cv, NULL);
    int rc = se->cat && se->kw ? SCRY_OK : scry_fail(err, SCRY_ENOMEM, "out of memory");
    se->fresh = 1;
    if (opt && opt->blobs && opt->snapshot_s > 0) {
        se->blobs = opt->blobs;
        se->snapshot_s = opt->snapshot_s;
    }
    se->last_snapshot = scry_mono_s();
    if (rc == SCRY_OK && enc && index_dir) {
        rc = scry_mkdirs(index_dir, err);
        snprintf(se->index_path, sizeof se->index_path, "%s/%s.hnsw", index_dir, se->vname);
    }
    if (rc == SCRY_OK && se->blobs) {
        scry_err serr = {0};
        double ts = scry_mono_s();
        int src = snapshot_load(se, &serr);
        if (src == SCRY_OK) {
            se->from_snapshot = 1;
            log_info("search.snapshot_loaded", "seq=%lld images=%zu ms=%.1f",
                     (long long)se->synced_seq, catalog_count(se->cat), (scry_mono_s() - ts) * 1000);
        } else if (src == SCRY_ENOTFOUND) {
            log_info("search.snapshot_none", "rebuild=1");
        } else {
            log_warn("search.snapshot_unusable", "reason=\"%s\" rebuild=1", serr.msg);
        }
    }
    if (rc == SCRY_OK && enc && !se->from_snapshot) rc = open_index(se, index_dir, err);
    if (rc == SCRY_OK) rc = search_sync(se, err);
    se->start_ms = (scry_mono_s() - t0) * 1000;
    if (rc == SCRY_OK)
        log_info("search.ready", "from_snapshot=%d images=%zu seq=%lld ms=%.1f", se->from_snapshot,
                 catalog_count(se->cat), (long long)se->synced_seq, se->start_ms);
    if (rc == SCRY_OK && se->index) {
        if (pthread_create(&se->compactor, NULL, compactor_main, se) != 0)
            rc = scry_fail(err, SCRY_EIO, "cannot start the index compaction thread");
        else se->compactor_started = 1;
    }
    if (rc != SCRY_OK) {
        search_free(se);
        return rc;
    }
    maybe_compact(se);          /* a loaded index may already need it */
    *out = se;
    return SCRY_OK;
}

void search_set_people(search_engine *se, struct people *pp) { se->people = pp; }

void search_free(search_engine *se) {
    if (!se) return;
    if (se->compactor_started) {
        /* A compaction in progress gives up (the index stays as it was,
         * tombstones and all) rather than holding up shutdown. */
        pthread_mutex_lock(&se->compact_mu);
        se->compact_stop = 1;
        int running = se->compact_running;
        pthread_cond_broadcast(&se->compact_cv);
        pthread_mutex_unlock(&se->compact_mu);
        if (running) hnsw_compact_cancel(se->index);
        pthread_join(se->compactor, NULL);
    }
    if (se->blobs && se->snapshot_s > 0 && se->synced_seq != se->snapshot_seq) {
        scry_err err = {0};
        if (search_snapshot_save(se, &err) != SCRY_OK)
            log_warn("search.snapshot_failed", "reason=\"%s\"", err.msg);
    }
    if (se->dirty) {
        scry_err err = {0};
        if (save_locked(se, &err) != SCRY_OK)
            log_error("index.save_failed", "reason=\"%s\"", err.msg);
    }
    hnsw_free(se->index);
    catalog_free(se->cat);
    kw_free(se->kw);
    pthread_rwlock_destroy(&se->lock);
    pthread_mutex_destroy(&se->sync_lock);
    pthread_mutex_destroy(&se->compact_mu);
    pthread_cond_destroy(&se->compact_cv);
    free(se);
}

/* ---- sync -------------------------------------------------------------------- */

typedef struct sync_ctx {
    search_engine *se;
    float *vec;
    int changed, removed;
} sync_ctx;

static void forget_locked(search_engine *se, int64_t rowid) {
    catalog_remove(se->cat, rowid);
    kw_remove(se->kw, rowid);
    if (se->index && hnsw_contains(se->index, rowid) && hnsw_remove(se->index, rowid) == SCRY_OK)
        se->dirty++;
}

static int sync_removed(int64_t rowid, void *ctx) {
    sync_ctx *sc = ctx;
    forget_locked(sc->se, rowid);
    sc->changed++;
    sc->removed++;
    return 0;
}

static int sync_row(const image_rec *r, void *ctx) {
    sync_ctx *sc = ctx;
    search_engine *se = sc->se;
    catalog_upsert(se->cat, r);
    /* Pending images are findable by filename at once; failed ones never. */
    if (strcmp(r->status, "failed") == 0) kw_remove(se->kw, r->rowid);
    else kw_put(se->kw, r);
    sc->changed++;
    if (!se->index) return 0;
    if (strcmp(r->status, "ready") != 0) {
        if (hnsw_contains(se->index, r->rowid)) hnsw_remove(se->index, r->rowid);
        return 0;
    }
    /* After a rebuild, the catch-up walk over the stored vectors already put
     * every image's current vector in the index. */
    if (se->fresh && hnsw_contains(se->index, r->rowid)) return 0;
    scry_err err = {0};
    if (meta_vector_get(se->meta, r->rowid, se->vname, sc->vec, se->vdim, &err) != SCRY_OK)
        return 0;               /* indexed without a vector (no encoder then): keyword only */
    if (hnsw_contains(se->index, r->rowid)) {
        /* Skip the re-insert when the vector did not change (a status or
         * caption update without new facts for the encoder). */
        float *old = sc->vec + se->vdim;
        if (hnsw_get(se->index, r->rowid, old, NULL) == SCRY_OK &&
            same_vector(old, sc->vec, se->vdim))
            return 0;
        hnsw_remove(se->index, r->rowid);
    }
    if (hnsw_add(se->index, r->rowid, sc->vec, &err) == SCRY_OK) se->dirty++;
    else log_warn("index.add_failed", "image=%s reason=\"%s\"", r->id, err.msg);
    return 0;
}

int search_sync(search_engine *se, scry_err *err) {
    pthread_mutex_lock(&se->sync_lock);
    pthread_rwlock_wrlock(&se->lock);
    sync_ctx sc = {se, NULL, 0, 0};
    int rc = SCRY_OK;
    if (se->enc) {
        sc.vec = malloc(2 * (size_t)se->vdim * sizeof(float));
        if (!sc.vec) rc = scry_fail(err, SCRY_ENOMEM, "out of memory");
    }
    int64_t last = se->synced_seq;
    const meta_feed_fns fns = {sync_row, sync_removed};
    if (rc == SCRY_OK) rc = meta_feed_read(se->meta, se->synced_seq, &fns, &sc, &last, err);
    if (rc == SCRY_OK) {
        /* deletes are rare and worth a line (another process made them) */
        if (sc.removed)
            log_info("search.synced", "changed=%d removed=%d seq=%lld", sc.changed, sc.removed,
                     (long long)last);
        se->synced_seq = last;
        se->fresh = 0;
    }
    free(sc.vec);
    pthread_rwlock_unlock(&se->lock);
    if (rc == SCRY_OK && se->dirty && se->index_path[0] &&
        scry_mono_s() - se->last_save > SAVE_EVERY_S) {
        scry_err serr = {0};
        if (save_locked(se, &serr) != SCRY_OK)
            log_error("index.save_failed", "reason=\"%s\"", serr.msg);
    }
    pthread_mutex_unlock(&se->sync_lock);
    if (sc.changed) maybe_compact(se);
    return rc;
}

void search_forget(search_engine *se, int64_t rowid) {
    pthread_rwlock_wrlock(&se->lock);
    forget_locked(se, rowid);
    pthread_rwlock_unlock(&se->lock);
    maybe_compact(se);
}

/* ---- the document text ------------------------------------------------------- */

static void add_words(char *buf, size_t cap, size_t *len, const char *s) {
    /* Append s as lowercase words separated by spaces (drops punctuation,
     * digits and file extensions' dots alike). */
    for (const char *p = s; p && *p;) {
        while (*p && !isalpha((unsigned char)*p)) p++;
        const char *w = p;
        while (*p && isalpha((unsigned char)*p)) p++;
        if (p - w >= 2 && *len + (size_t)(p - w) + 2 < cap) {
            if (*len && buf[*len - 1] != ' ') buf[(*len)++] = ' ';
            for (const char *q = w; q < p; q++) buf[(*len)++] = (char)tolower((unsigned char)*q);
            buf[*len] = 0;
        }
    }
}

/* A tag of the concept head rather than a detection (search.h). */
static int is_concept(json_t *tag) {
    const char *kind = json_string_value(json_object_get(tag, "kind"));
    return kind && strcmp(kind, "concept") == 0;
}

char *search_document_text(const image_rec *r) {
    size_t cap = 8192, len = 0;
    char *buf = malloc(cap);
    if (!buf) return NULL;
    buf[0] = 0;
    if (r->caption && *r->caption) len += (size_t)snprintf(buf + len, cap - len, "%s. ", r->caption);
    size_t i;
    json_t *el;
    json_t *tags = r->tags_json ? json_loads(r->tags_json, 0, NULL) : NULL;
    int seen[SCRY_COCO_COUNT] = {0};
    json_array_foreach(tags, i, el) {
        const char *label = json_string_value(json_object_get(el, "label"));
        const char *color = json_string_value(json_object_get(el, "color"));
        if (is_concept(el)) {
            /* a learned concept the head is fairly sure of ("grass") */
            if (label && json_number_value(json_object_get(el, "score")) >= CONCEPT_DOC_MIN &&
                len + 64 < cap)
                len += (size_t)snprintf(buf + len, cap - len, "%.40s, ", label);
            continue;
        }
        if (json_object_get(el, "kind")) {     /* a relation or a photo attribute */
            if (label && len + 64 < cap) len += (size_t)snprintf(buf + len, cap - len, "%.40s, ", label);
            continue;
        }
        int l = scry_coco_index(label);
        if (l < 0 || seen[l]++ || len + 64 >= cap) continue;
        len += (size_t)snprintf(buf + len, cap - len, "%s%s%s, ", color ? color : "",
                                color ? " " : "", label);
    }
    json_decref(tags);
    json_t *faces = r->faces_json ? json_loads(r->faces_json, 0, NULL) : NULL;
    int eseen[SCRY_EMOTION_COUNT] = {0}, pseen[SCRY_PERSON_COUNT] = {0};
    json_array_foreach(faces, i, el) {
        int pw = scry_person_index(json_string_value(json_object_get(el, "person")));
        if (pw >= 0 && !pseen[pw]++ && len + 32 < cap)
            len += (size_t)snprintf(buf + len, cap - len, "%s, ", scry_person_labels[pw]);
        int e = scry_emotion_index(json_string_value(json_object_get(el, "emotion")));
        if (e < 0 || eseen[e]++ || len + 32 >= cap) continue;
        len += (size_t)snprintf(buf + len, cap - len, "%s face, ", scry_emotion_labels[e]);
    }
    json_decref(faces);
    if (r->text && *r->text && len + 8 < cap)
        len += (size_t)snprintf(buf + len, cap - len, "%.2000s. ", r->text);
    add_words(buf, cap, &len, r->filename);
    return buf;
}

/* ---- the image vector --------------------------------------------------------- */

/* The head's projection is usable with this encoder: trained against it. */
static const concepts_model *head_for(const scry_encoder *enc, const concepts_model *cm) {
    return enc && cm && strcmp(concepts_encoder(cm), enc->name) == 0 &&
                   concepts_text_dim(cm) == enc->dim
               ? cm
               : NULL;
}

int search_vector_dim(const scry_encoder *enc, const concepts_model *cm) {
    cm = head_for(enc, cm);
    return enc->dim + (cm ? concepts_proj_dim(cm) : 0);
}

void search_vector_name(const scry_encoder *enc, const concepts_model *cm, char *buf, size_t cap) {
    cm = head_for(enc, cm);
    if (cm) snprintf(buf, cap, "%s+%s", enc->name, concepts_name(cm));
    else snprintf(buf, cap, "%s", enc->name);
}

static void scale(float *v, int n, float s) {
    for (int i = 0; i < n; i++) v[i] *= s;
}

int search_image_vector(const scry_encoder *enc, const concepts_model *cm, const image_rec *r,
                        const float *image_vec, float *out, scry_err *err) {
    cm = head_for(enc, cm);
    char *text = search_document_text(r);
    if (!text) return scry_fail(err, SCRY_ENOMEM, "out of memory");
    int words = scry_encode(enc, text, out, err);
    free(text);
    if (words < 0) return words;
    if (!cm) return words;
    int k = concepts_proj_dim(cm), has_image = 0;
    for (int i = 0; image_vec && i < k && !has_image; i++) has_image = image_vec[i] != 0;
    if (has_image) memcpy(out + enc->dim, image_vec, (size_t)k * sizeof *out);
    else memset(out + enc->dim, 0, (size_t)k * sizeof *out);
    /* both halves unit length: each weighs the same in the stored vector */
    if (words > 0 && has_image) scale(out, enc->dim + k, (float)M_SQRT1_2);
    else if (!words && has_image) memset(out, 0, (size_t)enc->dim * sizeof *out);
    return words + has_image;
}

/* ---- query-time helpers ------------------------------------------------------ */

void search_params_init(search_params *p) {
    memset(p, 0, sizeof *p);
    p->limit = 20;
    p->has_text = -1;
}

void search_response_free(search_response *r) {
    if (!r) return;
    for (int i = 0; i < r->n; i++) {
        free(r->results[i].filename);
        free(r->results[i].caption);
        free(r->results[i].why);
    }
    free(r->results);
    free(r->understood);
    memset(r, 0, sizeof *r);
}

static int has_bit(const uint64_t set[2], int l) { return (set[l / 64] >> (l % 64)) & 1; }

typedef struct qctx {
    const search_params *p;
    const scry_query *q;
    int label_filter, emotion_filter;
    search_engine *se;
    const person_query *pq;     /* people asked for (or NULL) */
    char texts_lc[SCRY_Q_MAX_TEXTS][SCRY_Q_TEXT_MAX]; /* q->texts lowercased, for scans */
    /* Text constraints: 1, scans read every image's OCR text; 0, the
     * candidates come from the keyword index's OCR words instead
     * (text_docs, sorted, unique) and scans leave text out. */
    int text_scan;
    int64_t *text_docs;
    size_t ntext_docs;
    /* struct_any's hot tests folded into masks (any_masks_init): an image
     * satisfies some constraint when it shares a bit with one of them */
    uint64_t any_labels[2];
    uint16_t any_colors;
    uint8_t any_emotions, any_attrs, any_all;
    int filtered;               /* hard_filters(): scans must ask passes_hot */
} qctx;

/* Hard filters: negations, text rules, dates, request filters, on the hot
 * fields (so that scans never touch the full entries). */
static int passes_hot(const qctx *qc, const cat_hot *h) {
    if (h->status == CAT_FAILED) return 0;
    const scry_query *q = qc->q;
    const search_params *p = qc->p;
    if ((h->labels[0] & q->excluded[0]) || (h->labels[1] & q->excluded[1])) return 0;
    int has_text = q->has_text >= 0 ? q->has_text : p->has_text;
    if (has_text == 0 && h->has_text) return 0;
    if (has_text == 1 && !h->has_text) return 0;
    if (p->has_text >= 0 && p->has_text != h->has_text) return 0;
    if (qc->label_filter >= 0 &&
        (qc->label_filter >= SCRY_COCO_COUNT || !has_bit(h->labels, qc->label_filter)))
        return 0;
    if (qc->emotion_filter >= 0 &&
        (qc->emotion_filter >= SCRY_EMOTION_COUNT || !(h->emotions >> qc->emotion_filter & 1)))
        return 0;
    if ((p->from || p->to) &&
        (!h->taken_at || (p->from && h->taken_at < p->from) || (p->to && h->taken_at >= p->to)))
        return 0;
    if (q->has_date &&
        (!h->taken_at || h->taken_at < q->date_from || h->taken_at >= q->date_to))
        return 0;
    if (!person_query_allows(qc->pq, h->rowid)) return 0;
    return 1;
}

static int passes(const qctx *qc, const cat_entry *e) {
    cat_hot h;
    catalog_hot_fill(&h, e);
    return passes_hot(qc, &h);
}

static double structured(const scry_query *q, const cat_entry *e, char *why, size_t cap);

static int nconstraints(const scry_query *q) {
    return q->nobjects + q->ntexts + q->ncolors + __builtin_popcount((unsigned)q->photo_attrs);
}

/* Whether the image's OCR text holds text (ASCII case ignored). */
static void text_lower(const char *text, char lc[SCRY_Q_TEXT_MAX]) {
    size_t k = 0;
    for (; text[k] && k + 1 < SCRY_Q_TEXT_MAX; k++) lc[k] = (char)tolower((unsigned char)text[k]);
    lc[k] = 0;
}

static int text_found(const char *text, const cat_entry *e) {
    char lc[SCRY_Q_TEXT_MAX];
    text_lower(text, lc);
    return e->text_lc && *lc && strstr(e->text_lc, lc);
}

/* The query names objects the detector knows ("an elephant", "a dog on the
 * grass") and the image shows none of them, asks for a photo attribute it
 * lacks ("at night", "black and white"), or for words written on it that it
 * does not hold ("a poster that says SALE"): it is not what was asked for,
 * however similar its description ("a zebra and a giraffe" is close to "an
 * elephant" in any sentence space, any poster looks like a poster). Such an
 * image keeps only ABSENT_OBJECTS_FACTOR of its fused score. */
static int named_objects_absent(const scry_query *q, const cat_entry *e) {
    if (q->photo_attrs & ~e->photo_attrs) return 1;     /* "at night", "black and white" */
    if (q->ntexts) {
        int found = 0;
        for (int i = 0; i < q->ntexts && !found; i++) found = text_found(q->texts[i], e);
        if (!found) return 1;
    }
    int named = 0;
    for (int i = 0; i < q->nobjects; i++) {
        const scry_query_object *o = &q->objects[i];
        if (o->min_count == 0 && o->max_count >= 0) continue;     /* "at most 2 dogs" */
        if (o->how == SCRY_LEX_IMPLIED) continue;   /* "surfing": boards are often not seen */
        named++;
        if ((o->labels[0] & e->labels[0]) || (o->labels[1] & e->labels[1])) return 0;
    }
    return named > 0;
}

/* Structured score in [0, 1] (mean over constraints) and, when why is given,
 * the matched facts appended to it. */
static double structured(const scry_query *q, const cat_entry *e, char *why, size_t cap) {
    int n = nconstraints(q);
    if (n == 0) return 0;
    double sum = 0;
    size_t len = why ? strlen(why) : 0;
#define WHY(...)                                                                            \
    do {                                                                                    \
        if (why && len < cap)                                                               \
            len += (size_t)snprintf(why + len, cap - len, "%s", len ? " · " : "");       \
        if (why && len < cap) len += (size_t)snprintf(why + len, cap - len, __VA_ARGS__); \
    } while (0)
    for (int i = 0; i < q->nobjects; i++) {
        const scry_query_object *o = &q->objects[i];
        int count = 0, color_ok = o->color < 0, any_label = -1;
        uint64_t both[2] = {o->labels[0] & e->labels[0], o->labels[1] & e->labels[1]};
        for (int w = 0; w < 2; w++)
        for (uint64_t bits = both[w]; bits; bits &= bits - 1) {
            int l = w * 64 + __builtin_ctzll(bits);
            count += e->label_count[l];
            if (any_label < 0) any_label = l;
            if (o->color >= 0 && (e->label_colors[l] >> o->color & 1)) color_ok = 1;
        }
        int emotion_ok = o->emotion < 0 || e->emotion_count[o->emotion] > 0;
        int wear_ok = o->clothing < 0 || (e->person_upper >> o->clothing & 1);
        /* "a man", "two girls": the faces' person words. People whose faces
         * say nothing may be them; faces that name only other kinds are not. */
        int kinds = 0, named = 0;
        for (int k = 0; o->person_kinds && k < SCRY_PERSON_COUNT; k++) {
            named += e->person_count[k];
            if (o->person_kinds >> k & 1) kinds += e->person_count[k];
        }
        int min = o->min_count > 0 ? o->min_count : (o->max_count >= 0 ? 0 : 1);
        double s = 0;
        if (count >= min && (o->max_count < 0 || count <= o->max_count))
            s = o->preferred_count > 0 && count != o->preferred_count ? 0.8 : 1.0;
        else if (count > 0 && count < min)
            s = 0.3 + 0.4 * count / min;   /* too few: closer is better (2 of "three dogs" > 1); 1 of 2 is 0.5 */
        else if (count > 0)
            s = 0.5;            /* the label is there, too many of it */
        if (!color_ok) s *= 0.5;
        if (!wear_ok) s *= 0.5;
        if (o->singular && count) {
            /* "a man": one of them, and large in the frame, first */
            int area = 0;
            for (int w = 0; w < 2; w++)
                for (uint64_t bits = both[w]; bits; bits &= bits - 1) {
                    int l = w * 64 + __builtin_ctzll(bits);
                    if (e->label_area[l] > area) area = e->label_area[l];
                }
            double a = area / 255.0;
            s *= (count == 1 ? 1.0 : count == 2 ? 0.9 : 0.7) * (a >= 0.1 ? 1.0 : 0.85 + 1.5 * a);
        }
        if (o->person_kinds && count) {
            int want = o->min_count > 1 ? o->min_count : 1;
            if (kinds >= want) s *= 1.0;
            else if (kinds > 0) s *= 0.8;           /* some of them */
            else s *= named ? 0.3 : 0.6;            /* others only / unknown */
        }
        if (o->emotion >= 0) s = emotion_ok ? (count ? s : 0.6) : s * 0.5;
        sum += s;
        if (o->person_kinds && kinds > 0) {
            int k = 0;
            while (k < SCRY_PERSON_COUNT && !(o->person_kinds >> k & 1 && e->person_count[k])) k++;
            if (kinds > 1) WHY("%s ×%d", scry_person_labels[k], kinds);
            else WHY("%s", scry_person_labels[k]);
        } else if (s >= 0.5 && any_label >= 0) {
            const char *color = o->color >= 0 && color_ok ? scry_color_names[o->color] : NULL;
            if (count > 1) WHY("%s%s%s ×%d", color ? color : "", color ? " " : "", scry_coco_labels[any_label], count);
            else WHY("%s%s%s", color ? color : "", color ? " " : "", scry_coco_labels[any_label]);
        }
        if (o->emotion >= 0 && emotion_ok) WHY("%s face", scry_emotion_labels[o->emotion]);
        if (o->clothing >= 0 && wear_ok && count) WHY("wearing %s", scry_color_names[o->clothing]);
    }
    for (int i = 0; i < q->ntexts; i++)
        if (text_found(q->texts[i], e)) {
            sum += 1;
            WHY("text '%s'", q->texts[i]);
        }
    for (int i = 0; i < q->ncolors; i++)
        if (e->image_colors >> q->colors[i] & 1) {
            sum += 1;
            WHY("%s", scry_color_names[q->colors[i]]);
        }
    for (int a = 0; a < IMG_ATTR_COUNT; a++)
        if ((q->photo_attrs >> a & 1) && (e->photo_attrs >> a & 1)) {
            sum += 1;
            WHY("%s", img_attr_names[a]);
        }
#undef WHY
    return sum / n;
}

typedef struct cand {
    int64_t rowid;
    const cat_entry *e;
    double vec, img, bm25, st, fused;   /* vec: facts' sentence vector; img: the projection */
    int has_vec, absent;
} cand;

typedef struct cand_set {
    cand *c;
    int n, cap;
    int64_t *keys;              /* rowid -> index+1 hash, size hcap */
    int *idx;
    int hcap;
} cand_set;

static cand *cand_get(cand_set *s, int64_t rowid, const cat_entry *e) {
    unsigned h = (unsigned)((uint64_t)rowid * 0x9E3779B97F4A7C15ULL >> 40) & (unsigned)(s->hcap - 1);
    while (s->keys[h]) {
        if (s->keys[h] == rowid) return &s->c[s->idx[h]];
        h = (h + 1) & (unsigned)(s->hcap - 1);
    }
    if (s->n == s->cap || s->n * 2 >= s->hcap) return NULL;
    s->keys[h] = rowid;
    s->idx[h] = s->n;
    cand *c = &s->c[s->n++];
    memset(c, 0, sizeof *c);
    c->rowid = rowid;
    c->e = e;
    return c;
}

static int cmp_fused(const void *a, const void *b) {
    const cand *x = a, *y = b;
    if (x->fused != y->fused) return x->fused < y->fused ? 1 : -1;
    return x->rowid < y->rowid ? 1 : x->rowid > y->rowid ? -1 : 0;
}

static int cmp_date(const void *a, const void *b) {
    const cand *x = a, *y = b;
    int64_t dx = x->e->taken_at ? x->e->taken_at : x->e->created_at / 1000;
    int64_t dy = y->e->taken_at ? y->e->taken_at : y->e->created_at / 1000;
    if (dx != dy) return dx < dy ? 1 : -1;
    return cmp_fused(a, b);
}

/* Words of the residual plus the label names and texts the parse found, as
 * the keyword query: "puppy" also searches "dog". */
static char *keyword_text(const scry_query *q) {
    size_t cap = SCRY_Q_RESIDUAL_MAX + 2048, len = 0;
    char *buf = malloc(cap);
    if (!buf) return NULL;
    len += (size_t)snprintf(buf, cap, "%s", q->residual);
    for (int i = 0; i < q->nobjects; i++)
        for (int l = 0; l < SCRY_COCO_COUNT; l++)
            if (has_bit(q->objects[i].labels, l) && len + 32 < cap)
                len += (size_t)snprintf(buf + len, cap - len, " %s", scry_coco_labels[l]);
    for (int i = 0; i < q->ntexts && len + SCRY_Q_TEXT_MAX + 2 < cap; i++)
        len += (size_t)snprintf(buf + len, cap - len, " %s", q->texts[i]);
    return buf;
}

/* Whether the image's OCR text holds one of the query's texts. */
static int cat_text_found(const qctx *qc, const cat_entry *e) {
    for (int k = 0; e->text_lc && k < qc->q->ntexts; k++)
        if (qc->texts_lc[k][0] && strstr(e->text_lc, qc->texts_lc[k])) return 1;
    return 0;
}

/* structured(q, entry i) > 0, from the hot fields (the OCR text only for
 * a text constraint on an image that has text): an object scores only
 * where its label, or its emotion, is seen, or when it allows none. */
static int struct_any(const qctx *qc, const catalog *cat, size_t i, const cat_hot *h) {
    if ((h->labels[0] & qc->any_labels[0]) || (h->labels[1] & qc->any_labels[1]) || qc->any_all ||
        (h->emotions & qc->any_emotions) || (h->image_colors & qc->any_colors) || (h->photo_attrs & qc->any_attrs))
        return 1;
    const scry_query *q = qc->q;
    if (q->ntexts && h->has_text && qc->text_scan && cat_text_found(qc, catalog_at(cat, i))) return 1;
    return 0;
}

static void any_masks_init(qctx *qc) {
    const scry_query *q = qc->q;
    for (int k = 0; k < q->nobjects; k++) {
        const scry_query_object *o = &q->objects[k];
        qc->any_labels[0] |= o->labels[0];
        qc->any_labels[1] |= o->labels[1];
        if (o->min_count == 0 && o->max_count >= 0) qc->any_all = 1;  /* "at most 2 dogs" */
        if (o->emotion >= 0) qc->any_emotions |= (uint8_t)(1u << o->emotion);
    }
    for (int k = 0; k < q->ncolors; k++) qc->any_colors |= (uint16_t)(1u << q->colors[k]);
    qc->any_attrs = (uint8_t)q->photo_attrs;
}

/* Text constraints without a scan: the images whose OCR words hold each
 * asked-for text's rarest word (the keyword index's OCR terms: "bus" also
 * finds "BUSES", a text inside a longer word, "BAR" in "BARBER", is
 * not found this way but still scores where other signals bring the image).
 * Every text must have such a word; otherwise qc->text_scan stays 1. */
static int text_candidates(search_engine *se, qctx *qc, scry_err *err) {
    qc->text_scan = 1;
    int64_t *all = NULL;
    size_t n = 0;
    for (int i = 0; i < qc->q->ntexts; i++) {
        int64_t *ids;
        size_t k;
        int rc = kw_read_docs(se->kw, qc->q->texts[i], &ids, &k);
        if (rc == SCRY_ENOTFOUND) {
            free(all);
            return SCRY_OK;
        }
        if (rc) {
            free(all);
            return scry_fail(err, rc, "out of memory");
        }
        int64_t *grown = k ? realloc(all, (n + k) * sizeof *all) : all;
        if (k && !grown) {
            free(ids);
            free(all);
            return scry_fail(err, SCRY_ENOMEM, "out of memory");
        }
        all = grown;
        if (k) memcpy(all + n, ids, k * sizeof *ids);
        n += k;
        free(ids);
    }
    if (n) qsort(all, n, sizeof *all, cmp_i64);
    size_t u = 0;
    for (size_t i = 0; i < n; i++)
        if (!u || all[u - 1] != all[i]) all[u++] = all[i];
    qc->text_docs = all;
    qc->ntext_docs = u;
    qc->text_scan = 0;
    return SCRY_OK;
}

/* Whether anything but the ranking narrows the candidates. */
static int hard_filters(const qctx *qc) {
    const scry_query *q = qc->q;
    const search_params *p = qc->p;
    return q->excluded[0] || q->excluded[1] || q->has_text >= 0 || p->has_text >= 0 ||
           qc->label_filter >= 0 || qc->emotion_filter >= 0 || p->from || p->to || q->has_date ||
           person_query_filters(qc->pq);
}

/* The concept keys of a text's words, as tools/train_concepts.py made them
 * for the projection's bag of words: each word's first WordNet base form
 * (or the word), as a keyword-index term; stopwords dropped. */
#define QUERY_KEYS 48
static int query_keys(const scry_lexicon *lex, const char *text, char keys[QUERY_KEYS][48]) {
    int n = 0;
    for (const unsigned char *p = (const unsigned char *)text; *p && n < QUERY_KEYS;) {
        while (*p && !isalnum(*p) && *p < 0x80) p++;
        char w[SCRY_LEX_WORD_MAX];
        size_t k = 0;
        for (; *p && (isalnum(*p) || *p >= 0x80); p++)
            if (k + 1 < sizeof w) w[k++] = (char)tolower(*p);
        w[k] = 0;
        char t[48];
        if (!k || !*kw_term(w, t, sizeof t)) continue;
        char forms[1][SCRY_LEX_WORD_MAX];
        const char *base = lex && scry_lexicon_lemmas(lex, w, forms, 1) > 0 ? forms[0] : w;
        kw_term(base, keys[n], sizeof keys[n]);
        char *space = strchr(keys[n], ' ');
        if (space) *space = 0;
        if (!keys[n][0]) snprintf(keys[n], sizeof keys[n], "%s", t);
        n++;
    }
    return n;
}

/* The query's vectors (search.h: search_image_vector): ann is the two
 * halves weighted by their fusion weights (what the index is searched
 * with); doc and img are the halves themselves, for each half's cosine. */
typedef struct qvecs {
    float *ann;                 /* vdim, unit */
    float *doc;                 /* enc->dim: the residual's sentence vector */
    float *img;                 /* its projection (head's proj_dim), or NULL */
    float *scratch;             /* vdim: a stored vector being scored */
} qvecs;

static double half_cos(const float *v, const float *q, int n) {
    double dot = 0, nn = 0;
    for (int i = 0; i < n; i++) dot += (double)v[i] * q[i], nn += (double)v[i] * v[i];
    return nn > 0 ? dot / sqrt(nn) : 0;
}

/* c's cosines with the query, from its stored vector v (vdim floats). */
static void score_parts(const search_engine *se, const qvecs *qv, const float *v, cand *c) {
    int ed = se->enc->dim;
    c->vec = half_cos(v, qv->doc, ed);
    c->img = qv->img ? half_cos(v + ed, qv->img, se->vdim - ed) : 0;
    c->has_vec = 1;
}

/* Score c from the index (no-op when it has no vector there). */
static void score_from_index(search_engine *se, const qvecs *qv, cand *c) {
    if (!c->has_vec && hnsw_get(se->index, c->rowid, qv->scratch, NULL) == SCRY_OK)
        score_parts(se, qv, qv->scratch, c);
}

static void add_hits(search_engine *se, const qvecs *qv, const hnsw_hit *hits, int nh, cand_set *cs) {
    for (int i = 0; i < nh; i++) {
        cand *c = cand_get(cs, hits[i].label, catalog_get(se->cat, hits[i].label));
        if (c) score_from_index(se, qv, c);
    }
}

/* The CANDIDATES nearest vectors, optionally restricted to a filter. */
static int vector_top(search_engine *se, const qvecs *qv, const hnsw_filter *f, cand_set *cs,
                      scry_err *err) {
    hnsw_hit *hits = malloc(CANDIDATES * sizeof *hits);
    if (!hits) return scry_fail(err, SCRY_ENOMEM, "out of memory");
    int nh = 0;
    int rc = hnsw_count(se->index) < EXACT_BELOW
                 ? hnsw_exact_search(se->index, qv->ann, CANDIDATES, f, hits, &nh, err)
                 : hnsw_search(se->index, qv->ann, CANDIDATES, CANDIDATES, f, hits, &nh, err);
    if (rc == SCRY_OK) add_hits(se, qv, hits, nh, cs);
    free(hits);
    return rc;
}

static int cmp_i64(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

/* A set of allowed images for a restricted vector search: the rowids in
 * catalog order, and a bitset over rowids for the index's per-node test
 * (O(1) where a sorted array costs a 17-step binary search at 100k; SQLite
 * rowids are dense, so the bitset is ~n/8 bytes). */
typedef struct rowset {
    int64_t *ids;
    size_t n;
    int64_t max;
    uint64_t *bits;             /* NULL when rowids are too sparse: ids sorted instead */
    int indexed;                /* rowset_index has run: rowset_has may be asked */
} rowset;

static void rowset_free(rowset *r) {
    free(r->ids);
    free(r->bits);
    memset(r, 0, sizeof *r);
}

/* Index a set for membership tests: a bitset over rowids when they are
 * dense enough that it costs at most about a byte per catalog image (SQLite
 * and PostgreSQL rowids are), the ids sorted otherwise. */
static int rowset_index(rowset *set, size_t total, scry_err *err) {
    if (set->indexed) return SCRY_OK;
    set->indexed = 1;
    if (!set->n) return SCRY_OK;
    if (set->max / 64 + 1 <= (int64_t)(total / 8) + 1024) {
        set->bits = calloc((size_t)(set->max / 64 + 1), sizeof *set->bits);
        if (!set->bits) return scry_fail(err, SCRY_ENOMEM, "out of memory");
        for (size_t i = 0; i < set->n; i++) set->bits[set->ids[i] >> 6] |= 1ULL << (set->ids[i] & 63);
    } else {
        qsort(set->ids, set->n, sizeof *set->ids, cmp_i64);
    }
    return SCRY_OK;
}

/* Membership in an indexed set (rowset_index), as an hnsw_filter. */
static int rowset_has(int64_t rowid, void *ctx) {
    const rowset *r = ctx;
    if (rowid < 0 || rowid > r->max || !r->n) return 0;
    if (r->bits) return r->bits[rowid >> 6] >> (rowid & 63) & 1;
    hnsw_label_set ls = {r->ids, r->n};
    return hnsw_allow_sorted(rowid, &ls);
}

static void rowset_add(rowset *r, int64_t rowid) {
    r->ids[r->n++] = rowid;
    if (rowid > r->max) r->max = rowid;
}

/* The allowed sets among the images passing the hard filters, from one
 * sequential scan of the catalog's hot fields: plain (every ready one),
 * pending (the pending ones: the keyword index matches their filenames)
 * and/or st (the ready ones also satisfying some constraint). Indexing
 * them for rowset_has is left to the user that needs it. */
static int scan_allowed(search_engine *se, const qctx *qc, rowset *plain, rowset *pending, rowset *st,
                        scry_err *err) {
    size_t total = catalog_count(se->cat);
    rowset *sets[3] = {plain, pending, st};
    for (int i = 0; i < 3; i++)
        if (sets[i] && !(sets[i]->ids = malloc((total + (i == 2 ? qc->ntext_docs : 0) + 1) * sizeof *sets[i]->ids)))
            return scry_fail(err, SCRY_ENOMEM, "out of memory");
    const cat_hot *hot = catalog_hot(se->cat);
    for (size_t i = 0; i < total; i++) {
        const cat_hot *h = &hot[i];
        if (h->status == CAT_FAILED || (qc->filtered && !passes_hot(qc, h))) continue;
        if (h->status != CAT_READY) {
            if (pending) rowset_add(pending, h->rowid);
            continue;
        }
        if (plain) rowset_add(plain, h->rowid);
        if (st && struct_any(qc, se->cat, i, h)) rowset_add(st, h->rowid);
    }
    /* the text candidates the scan left out (those it kept are in already) */
    for (size_t k = 0; st && k < qc->ntext_docs; k++) {
        const cat_entry *e = catalog_get(se->cat, qc->text_docs[k]);
        if (!e || e->status != CAT_READY || !passes(qc, e) || !cat_text_found(qc, e)) continue;
        cat_hot h;
        catalog_hot_fill(&h, e);
        /* (the slot argument is unused: with text_scan 0 no text is read) */
        if (!struct_any(qc, se->cat, 0, &h)) rowset_add(st, e->rowid);
    }
    return SCRY_OK;
}

/* Keyword candidates under hard filters: the ready images allowed, and
 * the pending ones (filename matches). */
typedef struct kw_allowed {
    const rowset *plain, *pending;
} kw_allowed;

static int allow_kw_sets(int64_t rowid, void *ctx) {
    const kw_allowed *a = ctx;
    return rowset_has(rowid, (void *)a->plain) || rowset_has(rowid, (void *)a->pending);
}

/* Vector candidates among a set. A small set is scored exactly, vector by
 * vector, and every member becomes a candidate (a rare label must not lose
 * its few images to the vector ranking); a large one restricts an index
 * search. */
static int vector_in(search_engine *se, const qvecs *qv, rowset *set, cand_set *cs, scry_err *err) {
    int rc = SCRY_OK;
    if (set->n <= SMALL_SET) {
        for (size_t i = 0; i < set->n; i++) {
            if (hnsw_get(se->index, set->ids[i], qv->scratch, NULL) != SCRY_OK) continue; /* no vector */
            cand *c = cand_get(cs, set->ids[i], catalog_get(se->cat, set->ids[i]));
            if (!c) break;
            if (!c->has_vec) score_parts(se, qv, qv->scratch, c);
        }
        return SCRY_OK;
    }
    /* Where the index would answer exactly anyway (a set under 5% of it, or
     * a few thousand: hnsw.c), look the members up instead of testing
     * every node against the set: at 1M images a 30k set costs 30k
     * lookups, not 1M tests. */
    size_t indexed = hnsw_count(se->index);
    if ((double)set->n < 0.05 * (double)indexed || set->n < 8192) {
        hnsw_hit *hits = malloc(CANDIDATES * sizeof *hits);
        if (!hits) return scry_fail(err, SCRY_ENOMEM, "out of memory");
        int nh = 0;
        rc = hnsw_exact_among(se->index, qv->ann, CANDIDATES, set->ids, set->n, hits, &nh, err);
        if (rc == SCRY_OK) add_hits(se, qv, hits, nh, cs);
        free(hits);
        return rc;
    }
    rc = rowset_index(set, catalog_count(se->cat), err);
    if (rc) return rc;
    hnsw_filter f = {rowset_has, set};
    rc = vector_top(se, qv, &f, cs, err);
    return rc;
}

int search_run(search_engine *se, const search_params *p, search_response *out, scry_err *err) {
    memset(out, 0, sizeof *out);
    if (!p->q) return scry_fail(err, SCRY_EINVAL, "missing query");
    int limit = p->limit <= 0 ? 20 : p->limit > 200 ? 200 : p->limit;
    int offset = p->offset < 0 ? 0 : p->offset;
    metrics_add(M_SEARCHES, 1);
    int rc = search_sync(se, err);
    if (rc) return rc;

    scry_query *q = malloc(sizeof *q);
    if (!q) return scry_fail(err, SCRY_ENOMEM, "out of memory");
    /* People first: their names leave the text the parser reads (a person
     * named Rose is not a flower), and become constraints of their own. */
    person_query pq;
    rc = person_query_build(se->people, p->q, p->persons, p->npersons, p->face_id, &pq, err);
    if (rc == SCRY_OK) rc = scry_query_parse(se->lex, pq.text, p->now ? p->now : (int64_t)time(NULL), q, err);
    if (rc) {
        person_query_free(&pq);
        free(q);
        return rc;
    }
    out->understood = scry_query_to_json(q);
    int npq = person_query_active(&pq);     /* the person part counts as one constraint */
    if (se->people) {           /* a stable shape whenever people are on */
        char *u = person_query_understood(&pq, out->understood);
        free(out->understood);
        out->understood = u;
    }
    qctx qc;
    memset(&qc, 0, sizeof qc);
    qc.p = p;
    qc.q = q;
    qc.label_filter = scry_coco_index(p->label);
    qc.emotion_filter = scry_emotion_index(p->emotion);
    qc.se = se;
    qc.pq = npq ? &pq : NULL;
    qc.text_scan = 1;
    if (p->label && *p->label && qc.label_filter < 0) qc.label_filter = SCRY_COCO_COUNT; /* none match */
    if (p->emotion && *p->emotion && qc.emotion_filter < 0) qc.emotion_filter = SCRY_EMOTION_COUNT;
    for (int i = 0; i < q->ntexts; i++) text_lower(q->texts[i], qc.texts_lc[i]);

    pthread_rwlock_rdlock(&se->lock);
    size_t total = catalog_count(se->cat);
    int nconst = nconstraints(q);
    /* A query that is all filter ("no people", "photos with text") ranks
     * every image that passes; anything else at most 3 x CANDIDATES. */
    /* ("without Ben" alone is all filter too: every photo Ben is not in) */
    int filter_only = !q->residual[0] && !nconst && !(pq.nreq || pq.face_id) && p->mode == SEARCH_FUSED;
    int cap = CANDIDATES * 3 + 2 * SMALL_SET + (filter_only ? (int)total : 0) + 16;
    cand_set cs = {0};
    rowset plain = {0}, pending = {0}, st_set = {0};
    cs.cap = cap;
    cs.hcap = 64;
    while (cs.hcap < cap * 2 + 2) cs.hcap *= 2;
    cs.c = malloc((size_t)cap * sizeof *cs.c);
    cs.keys = calloc((size_t)cs.hcap, sizeof *cs.keys);
    cs.idx = malloc((size_t)cs.hcap * sizeof *cs.idx);
    /* one block: ann and scratch (vdim each), doc (enc dim), img (proj dim) */
    float *qblock = se->enc ? calloc((size_t)(3 * se->vdim), sizeof(float)) : NULL;
    qvecs qv = {0};
    if (qblock) {
        qv.ann = qblock;
        qv.scratch = qblock + se->vdim;
        qv.doc = qblock + 2 * se->vdim;
        qv.img = se->cm ? qv.doc + se->enc->dim : NULL;
    }
    kw_hit *kh = malloc(CANDIDATES * sizeof *kh);
    if (!cs.c || !cs.keys || !cs.idx || (se->enc && !qblock) || !kh) {
        rc = scry_fail(err, SCRY_ENOMEM, "out of memory");
        goto done;
    }
    int want_vec = p->mode != SEARCH_BM25_ONLY && se->index;
    int want_doc = want_vec && p->mode != SEARCH_IMAGE_ONLY;
    int want_img = want_vec && se->cm && p->mode != SEARCH_VECTOR_ONLY;
    int want_bm25 = p->mode == SEARCH_FUSED || p->mode == SEARCH_BM25_ONLY;
    int want_struct = p->mode == SEARCH_FUSED && nconst + npq > 0;

    /* 1. vector candidates: the nearest ready images passing the filters */
    int have_qvec = 0;
    /* Query words the projection's text side learned from the training
     * captions. With none ("spreadsheet invoice accounting") the text side
     * is the word vectors' extrapolation alone: its cosines still rank,
     * but are no evidence that anything matches. */
    int img_known = 0;
    if ((want_doc || want_img) && q->residual[0]) {
        scry_err eerr = {0};
        /* > 0: some word was known; 0: all unknown, no vector evidence. */
        have_qvec = scry_encode(se->enc, q->residual, qv.doc, &eerr) > 0;
    }
    if (have_qvec) {
        /* the index is searched with both halves, each at its weight */
        double a = !want_doc ? 0 : p->mode == SEARCH_VECTOR_ONLY ? 1 : se->cm ? W_VECTOR : W_VECTOR_NO_HEAD;
        double b = !want_img ? 0 : p->mode == SEARCH_IMAGE_ONLY ? 1 : W_IMAGE;
        memcpy(qv.ann, qv.doc, (size_t)se->enc->dim * sizeof(float));
        scale(qv.ann, se->enc->dim, (float)a);
        if (qv.img) {
            char keybuf[QUERY_KEYS][48];
            const char *keys[QUERY_KEYS];
            int nk = query_keys(se->lex, q->residual, keybuf);
            for (int i = 0; i < nk; i++) {
                keys[i] = keybuf[i];
                img_known += concepts_vocab_index(se->cm, keys[i]) >= 0;
            }
            concepts_project_text(se->cm, qv.doc, keys, nk, qv.img);
            for (int i = 0; i < se->vdim - se->enc->dim; i++)
                qv.ann[se->enc->dim + i] = (float)b * qv.img[i];
        }
    }
    int k = CANDIDATES;
    /* The index holds ready images only, so without hard filters no filter
     * is needed; with them, the allowed set comes from a sequential catalog
     * scan (no per-node hash lookups in the index). The same scan yields the
     * set for the structured candidates (step 3). */
    /* (the keyword search takes its allowed set from the same scan) */
    int filtered = hard_filters(&qc);
    qc.filtered = filtered;
    any_masks_init(&qc);
    int need_plain = filtered && (have_qvec || want_bm25), need_st = want_struct && have_qvec;
    if (need_st && q->ntexts && (rc = text_candidates(se, &qc, err))) goto done;
    if (need_plain || need_st) {
        rc = scan_allowed(se, &qc, need_plain ? &plain : NULL, need_plain && want_bm25 ? &pending : NULL,
                          need_st ? &st_set : NULL, err);
        if (rc) goto done;
    }
    if (have_qvec) {
        rc = filtered ? vector_in(se, &qv, &plain, &cs, err) : vector_top(se, &qv, NULL, &cs, err);
        if (rc) goto done;
    }
    /* 2. keyword candidates: BM25 over the residual, label names and texts */
    double max_bm25 = 0;
    if (want_bm25) {
        char *kwq = keyword_text(q);
        /* Failed images are never in the keyword index (sync_row), so only
         * hard filters need the per-document check. */
        /* A word only read in an image ("Sunset Plaza" on a sign) ranks below
         * one seen, unless the query asks for text. */
        float ocr_weight = q->ntexts > 0 || q->has_text == 1 ? 1.0f : OCR_UNASKED;
        if (filtered && ((rc = rowset_index(&plain, total, err)) || (rc = rowset_index(&pending, total, err)))) {
            free(kwq);
            goto done;
        }
        kw_allowed ka = {&plain, &pending};
        int nm = kwq ? kw_search(se->kw, kwq, k, ocr_weight, filtered ? allow_kw_sets : NULL, &ka, kh)
                     : SCRY_ENOMEM;
        free(kwq);
        if (nm < 0) {
            rc = scry_fail(err, nm, "out of memory");
            goto done;
        }
        for (int i = 0; i < nm; i++) {
            cand *c = cand_get(&cs, kh[i].rowid, catalog_get(se->cat, kh[i].rowid));
            if (!c) continue;
            c->bm25 = kh[i].score;
            if (c->bm25 > max_bm25) max_bm25 = c->bm25;
        }
    }
    /* 3. structured candidates: images satisfying a constraint. With words,
     * the nearest of them by vector (an index search restricted to them:
     * cost independent of how many match); without, a catalog scan keeping
     * the best structured scores, newest first among equals. */
    if (need_st) {
        rc = vector_in(se, &qv, &st_set, &cs, err);
        if (rc) goto done;
    } else if (want_struct) {
        topk_hit *sh = malloc((size_t)k * sizeof *sh);
        if (!sh) {
            rc = scry_fail(err, SCRY_ENOMEM, "out of memory");
            goto done;
        }
        int ns = 0;
        const cat_hot *hot = catalog_hot(se->cat);
        for (size_t i = 0; i < total; i++) {
            if (hot[i].status != CAT_READY || !passes_hot(&qc, &hot[i])) continue;
            if (!struct_any(&qc, se->cat, i, &hot[i])) continue;
            const cat_entry *e = catalog_at(se->cat, i);
            double st = structured(q, e, NULL, 0);
            if (st <= 0) continue;
            topk_offer(sh, &ns, k, (topk_hit){e->rowid, st, e});
        }
        for (int i = 0; i < ns; i++) cand_get(&cs, sh[i].rowid, sh[i].ref);
        free(sh);
    }
    /* the people asked for: their photos are candidates (the hard filter
     * already keeps every other source to them) */
    int npool = 0;
    const people_image *pool = npq ? person_query_pool(&pq, &npool) : NULL;
    for (int i = 0; i < npool; i++) {
        const cat_entry *e = catalog_get(se->cat, pool[i].image_rowid);
        if (e && e->status == CAT_READY && passes(&qc, e)) cand_get(&cs, pool[i].image_rowid, e);
    }
    if (filter_only && cs.n == 0)
        for (size_t i = 0; i < total && cs.n < cs.cap; i++) {
            const cat_hot *h = &catalog_hot(se->cat)[i];
            if (h->status == CAT_READY && passes_hot(&qc, h)) cand_get(&cs, h->rowid, catalog_at(se->cat, i));
        }

    /* 4. fuse */
    /* a signal ranking alone (a benchmark mode) weighs 1 */
    int alone = p->mode != SEARCH_FUSED;
    const int head = se->cm != NULL;
    double wv = want_doc && have_qvec ? (alone ? 1 : head ? W_VECTOR : W_VECTOR_NO_HEAD) : 0;
    double wb = want_bm25 && max_bm25 > 0 ? (alone ? 1 : head ? W_BM25 : W_BM25_NO_HEAD) : 0;
    double wi = want_img && have_qvec ? (alone ? 1 : W_IMAGE) : 0;
    double ws = want_struct ? (head ? W_STRUCT : W_STRUCT_NO_HEAD) : 0;
    double wsum = wv + wi + wb + ws;
    int kept = 0;
    for (int i = 0; i < cs.n; i++) {
        cand *c = &cs.c[i];
        if (!c->e) continue;
        if (wv + wi > 0) score_from_index(se, &qv, c);
        c->st = nconst ? structured(q, c->e, NULL, 0) : 0;
        if (npq) c->st = (c->st * nconst + person_query_score(&pq, c->rowid)) / (nconst + 1);
        double v = c->vec > 0 ? c->vec : 0, im = c->img > 0 ? c->img : 0;
        double b = max_bm25 > 0 ? c->bm25 / max_bm25 : 0;
        c->fused = wsum > 0 ? (wv * v + wi * im + wb * b + ws * c->st) / wsum : 0;
        if (wsum == 0) c->fused = 0.5;  /* filter-only query: everything that passed */
        c->absent = want_struct && named_objects_absent(q, c->e);
        if (c->absent) c->fused *= ABSENT_OBJECTS_FACTOR;
        int evidence = (wv > 0 && v >= VEC_MIN) || (wi > 0 && im >= IMG_MIN && img_known) || c->bm25 > 0 ||
                       c->st > 0 || wsum == 0;
        if (!p->no_floor && (c->fused < FLOOR * (wsum > 0 ? 1 : 0) || !evidence)) continue;
        cs.c[kept++] = *c;
    }
    qsort(cs.c, (size_t)kept, sizeof *cs.c, p->sort == SORT_DATE ? cmp_date : cmp_fused);
    int start = offset < kept ? offset : kept;
    int end = start + limit < kept ? start + limit : kept;
    out->results = calloc((size_t)(end - start + 1), sizeof *out->results);
    if (!out->results) {
        rc = scry_fail(err, SCRY_ENOMEM, "out of memory");
        goto done;
    }
    for (int i = start; i < end; i++) {
        cand *c = &cs.c[i];
        search_result *r = &out->results[out->n];
        image_rec rec;
        if (meta_image_get_by_rowid(se->meta, c->rowid, &rec, NULL) != SCRY_OK) continue;
        memcpy(r->id, rec.id, sizeof r->id);
        r->rowid = c->rowid;
        r->filename = scry_strdup(rec.filename ? rec.filename : "");
        r->caption = scry_strdup(rec.caption ? rec.caption : "");
        r->score = c->fused;
        r->taken_at = rec.taken_at;
        if (p->signals) {
            r->has_signals = 1;
            r->signals = (search_signals){c->vec, c->img, max_bm25 > 0 ? c->bm25 / max_bm25 : 0,
                                          c->st, c->absent};
        }
        char why[512] = "";
        if (npq) person_query_why(&pq, c->rowid, why, sizeof why);
        if (nconst) structured(q, c->e, why, sizeof why);
        size_t len = strlen(why);
        if (c->bm25 > 0 && len < sizeof why) {
            /* name the query words the keyword index matched */
            char words[SCRY_Q_RESIDUAL_MAX + 2048];
            char *kw = keyword_text(q);
            snprintf(words, sizeof words, "%s", kw ? kw : "");
            free(kw);
            /* what is seen first; OCR text (rec.text) last, said apart */
            const char *fields[] = {rec.caption, rec.tags_json, rec.filename, rec.colors_json,
                                    rec.exif_json, rec.text};
            int shown = 0, seen = 0;
            char read[160] = "";
            /* strtok_r, never strtok: libwordnet uses strtok's hidden
             * state inside its lock, and a query parsing on another
             * thread would corrupt ours (and crash it). */
            char *save = NULL;
            for (char *tok = strtok_r(words, " \t,.;:!?\"'", &save); tok && shown < 4;
                 tok = strtok_r(NULL, " \t,.;:!?\"'", &save)) {
                char term[64];
                if (strlen(tok) < 3 || strstr(why, tok) || !*kw_term(tok, term, sizeof term)) continue;
                for (int f = 0; f < 6; f++)
                    if (fields[f] && strcasestr(fields[f], tok)) {
                        if (f == 5) {   /* only read in the image */
                            size_t rl = strlen(read);
                            snprintf(read + rl, sizeof read - rl, "%s%s", rl ? ", " : "", tok);
                        } else {
                            len += (size_t)snprintf(why + len, sizeof why - len, "%s%s%s",
                                                    len ? " · " : "", seen++ ? "" : "words: ", tok);
                        }
                        shown++;
                        break;
                    }
                if (len >= sizeof why) break;
            }
            if (read[0] && len < sizeof why)
                len += (size_t)snprintf(why + len, sizeof why - len, "%sread in the image: %s",
                                        len ? " · " : "", read);
        }
        if (c->has_vec && wv > 0 && len < sizeof why)
            len += (size_t)snprintf(why + len, sizeof why - len, "%ssimilar %.2f", len ? " · " : "", c->vec);
        if (c->has_vec && wi > 0 && c->img >= IMG_MIN && img_known && len < sizeof why)
            snprintf(why + len, sizeof why - len, "%slooks like it %.2f", len ? " · " : "", c->img);
        r->why = strdup(why);
        out->n++;
        image_rec_free(&rec);
    }
done:
    pthread_rwlock_unlock(&se->lock);
    rowset_free(&plain);
    rowset_free(&pending);
    rowset_free(&st_set);
    free(qc.text_docs);
    free(cs.c);
    free(cs.keys);
    free(cs.idx);
    free(qblock);
    free(kh);
    free(q);
    person_query_free(&pq);
    if (rc) search_response_free(out);
    return rc;
}

/* ---- browsing ------------------------------------------------------------------ */

/* "horse ×3 · person" for the labels both images have (at most 3, by the
 * neighbour's counts), then the similarity. */
static char *similar_why(const cat_entry *from, const cat_entry *to, double score) {
    char why[256] = "";
    size_t len = 0;
    int shown = 0;
    for (int l = 0; l < SCRY_COCO_COUNT && shown < 3; l++) {
        if (!has_bit(from->labels, l) || !has_bit(to->labels, l)) continue;
        int n = to->label_count[l];
        len += (size_t)snprintf(why + len, sizeof why - len, n > 1 ? "%s%s ×%d" : "%s%s", len ? " · " : "",
                                scry_coco_labels[l], n);
        shown++;
    }
    if (len < sizeof why) snprintf(why + len, sizeof why - len, "%ssimilar %.2f", len ? " · " : "", score);
    return strdup(why);
}

int search_similar(search_engine *se, int64_t rowid, int limit, int offset, search_response *out,
                   scry_err *err) {
    memset(out, 0, sizeof *out);
    limit = limit <= 0 ? 20 : limit > 200 ? 200 : limit;
    offset = offset < 0 ? 0 : offset > 1000 ? 1000 : offset;
    int rc = search_sync(se, err);
    if (rc) return rc;
    if (!se->index) return scry_fail(err, SCRY_ENOTFOUND, "no vector index (the word vectors are not installed)");
    int k = offset + limit + 1, dim = se->vdim;   /* the whole image vector: facts and pixels */
    float *v = malloc((size_t)dim * sizeof *v);
    hnsw_hit *hits = malloc((size_t)k * sizeof *hits);
    if (!v || !hits) {
        free(v);
        free(hits);
        return scry_fail(err, SCRY_ENOMEM, "out of memory");
    }
    pthread_rwlock_rdlock(&se->lock);
    const cat_entry *self = catalog_get(se->cat, rowid);
    int nh = 0;
    if (!self || self->status != CAT_READY || hnsw_get(se->index, rowid, v, NULL) != SCRY_OK) {
        rc = scry_fail(err, SCRY_ENOTFOUND, "this image has no vector yet (it is not indexed)");
    } else {
        int ef = k > CANDIDATES ? k : CANDIDATES;
        rc = hnsw_count(se->index) < EXACT_BELOW ? hnsw_exact_search(se->index, v, k, NULL, hits, &nh, err)
                                                 : hnsw_search(se->index, v, k, ef, NULL, hits, &nh, err);
    }
    if (rc == SCRY_OK && !(out->results = calloc((size_t)limit, sizeof *out->results)))
        rc = scry_fail(err, SCRY_ENOMEM, "out of memory");
    int skipped = 0;
    for (int i = 0; rc == SCRY_OK && i < nh && out->n < limit; i++) {
        const cat_entry *e = hits[i].label == rowid ? NULL : catalog_get(se->cat, hits[i].label);
        if (!e || e->status != CAT_READY) continue;
        if (skipped++ < offset) continue;
        image_rec rec;
        if (meta_image_get_by_rowid(se->meta, hits[i].label, &rec, NULL) != SCRY_OK) continue;
        search_result *r = &out->results[out->n++];
        memcpy(r->id, rec.id, sizeof r->id);
        r->rowid = rec.rowid;
        r->filename = scry_strdup(rec.filename ? rec.filename : "");
        r->caption = scry_strdup(rec.caption ? rec.caption : "");
        r->score = hits[i].score;
        r->taken_at = rec.taken_at;
        r->why = similar_why(self, e, hits[i].score);
        image_rec_free(&rec);
    }
    pthread_rwlock_unlock(&se->lock);
    free(v);
    free(hits);
    if (rc) search_response_free(out);
    return rc;
}

int search_get_facets(search_engine *se, search_facets *out, scry_err *err) {
    memset(out, 0, sizeof *out);
    int rc = search_sync(se, err);
    if (rc) return rc;
    pthread_rwlock_rdlock(&se->lock);
    size_t total = catalog_count(se->cat);
    const cat_hot *hot = catalog_hot(se->cat);
    for (size_t i = 0; i < total; i++) {
        const cat_hot *h = &hot[i];
        if (h->status != CAT_READY) continue;
        out->images++;
        for (int w = 0; w < 2; w++)
            for (uint64_t bits = h->labels[w]; bits; bits &= bits - 1) {
                int l = w * 64 + __builtin_ctzll(bits);
                if (l < SCRY_COCO_COUNT) out->label_images[l]++;
            }
        for (int e = 0; e < SCRY_EMOTION_COUNT; e++)
            if (h->emotions >> e & 1) out->emotion_images[e]++;
        if (h->has_text) out->with_text++;
        if (h->taken_at) {
            if (!out->dated || h->taken_at < out->first_taken) out->first_taken = h->taken_at;
            if (!out->dated || h->taken_at > out->last_taken) out->last_taken = h->taken_at;
            out->dated++;
        }
    }
    pthread_rwlock_unlock(&se->lock);
    return SCRY_OK;
}
