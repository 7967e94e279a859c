/* app.h -- one Scry process: its configuration and the subsystems it wires.
 *
 * The server and every CLI command open the same app. By default over a
 * data folder:
 *   DATA/meta.db      SQLite metadata (WAL)
 *   DATA/blobs/       content-addressed originals and thumbnails
 * so `scry add` and `scry serve` can share a data folder, even at once
 * (SQLite arbitrates between the processes). --meta postgres://... and
 * --blobs s3://bucket/prefix put them on shared engines instead, and
 * --role splits the work between processes (docs/scale.md):
 *   all     everything in one process (the default)
 *   api     uploads and reads; searches run here from the change feed
 *   worker  the indexing pipeline only (its HTTP port answers /healthz)
 *   search  reads and searches only, kept current by the change feed
 * Every role but worker keeps a search engine, loaded from the latest
 * snapshot when there is one, followed by a thread that syncs it whenever
 * the feed moves. */
#ifndef SCRY_APP_H
#define SCRY_APP_H

#include <pthread.h>

#include "core/config.h"
#include "core/err.h"
#include "jobs/jobs.h"
#include "jobs/pipeline.h"
#include "search/search.h"
#include "store/blob.h"
#include "store/meta.h"

typedef enum { ROLE_ALL = 0, ROLE_API, ROLE_WORKER, ROLE_SEARCH } app_role;
/* ROLE_* from its name; -1 when unknown. */
int app_role_parse(const char *name);

typedef struct scry_app {
    scry_config cfg;
    app_role role;
    blob_store *blobs;
    meta_db *meta;
    pipeline *pipe;
    job_manager *jobs;          /* NULL unless workers were started */
    search_engine *search;
    struct scry_wordvec *wordvec;   /* NULL: no word vectors (setup not run) */
    struct scry_lexicon *lexicon;
    struct scry_encoder *encoder;   /* NULL: keyword search only */
    struct concepts_model *concepts; /* the learned concept head; NULL without it */
    struct people *people;      /* faces grouped into people; NULL with --people 0 */
    /* Uploads hold it shared from blob commit to meta commit; deletes hold
     * it exclusive from meta delete to blob removal. Without it a delete
     * could remove a blob that a concurrent upload just deduplicated
     * against, before that upload's rows reference it. */
    pthread_rwlock_t blob_lock;
    /* the change-feed follower (roles with a search engine) */
    pthread_t follower;
    int follower_started;
    pthread_mutex_t follow_mu;
    pthread_cond_t follow_cv;
    int follow_stop;
} scry_app;

/* APP_WITH_WORKERS also recovers work interrupted by a crash (requeues
 * items left running): only the process that owns the workers of a data
 * folder may do that, so `scry add` uses APP_WORKERS_NO_RECOVER to stay out
 * of the way of a server running on the same folder. */
enum { APP_NO_WORKERS = 0, APP_WITH_WORKERS = 1, APP_WORKERS_NO_RECOVER = 2 };

int app_open(scry_app *app, const scry_config *cfg, int with_workers, scry_err *err);
void app_close(scry_app *app);

/* Record uploaded images (their bytes already durable in the blob store) and
 * queue one job for them, then wake the workers. Fills job_id. */
int app_commit_upload(scry_app *app, const meta_new_image *imgs, int n,
                      char job_id[SCRY_ID_LEN + 1], scry_err *err);

/* Bracket "commit blobs ... app_commit_upload" with these. */
void app_uploads_lock(scry_app *app);
void app_uploads_unlock(scry_app *app);

/* A JPEG crop of a stored face (the box with a margin, at most
 * APP_FACE_THUMB_SIDE px), from the original: *jpeg malloc'ed. */
#define APP_FACE_THUMB_SIDE 160
int app_face_thumbnail(scry_app *app, int64_t face_id, void **jpeg, size_t *len, scry_err *err);
/* Refuse a search query that cannot mean what its author typed: a double
 * quote (" or the typographic one) that is never closed. Query
 * understanding would drop it silently and search the words as loose
 * text; the API and the CLI say so instead (SCRY_EINVAL, message for the
 * person typing). */
int app_check_query(const char *q, scry_err *err);

/* Delete an image and the blobs only it referenced. */
int app_delete_image(scry_app *app, const char *id, scry_err *err);

#endif
