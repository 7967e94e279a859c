/* meta.h -- the metadata store: images, their facts, jobs and work items.
 *
 * One interface, two backends chosen by the location given to meta_open: a
 * file path is SQLite in WAL mode (meta_sqlite.c, the embedded default); a
 * "postgres://" or "postgresql://" URL is PostgreSQL 15 through libpq
 * (meta_pg.c, for several processes on several machines). Callers never see
 * SQL (meta_backend.h is the contract between meta.c and a backend).
 *
 * Schema is versioned (PRAGMA user_version) and migrated forward at open, each
 * migration in its own transaction. Tables: images (one row per uploaded image
 * with its facts as JSON text columns), jobs, job_items (job x image work
 * items with status, attempts and the stage last entered), image_vectors,
 * api_keys (salted hashes of the API keys, http/auth), and
 * an FTS5 index over filename, caption, tags, text, EXIF and colours kept in
 * step with the images table by this module.
 *
 * Concurrency: a meta_db may be shared by every thread; calls are serialised
 * on one connection by a mutex. That is simple and, for metadata writes of a
 * few hundred bytes per image, far from the bottleneck (decoding and models
 * are). A busy_timeout covers other processes (the CLI) on the same file.
 *
 * Ownership: every *_rec filled by a getter owns its strings; free it with
 * the matching *_free. */
#ifndef SCRY_META_H
#define SCRY_META_H

#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "core/util.h"

typedef struct meta_db meta_db;

int meta_open(meta_db **out, const char *location, scry_err *err);
void meta_close(meta_db *db);
int meta_schema_version(meta_db *db);
/* "sqlite" or "postgres". */
const char *meta_backend_name(meta_db *db);
/* How long a claimed work item stays claimed without a heartbeat
 * (meta_item_stage and meta_item_heartbeat renew it); default
 * META_LEASE_MS. Only PostgreSQL keeps leases: there several worker
 * processes share the queue and one may die at any time. */
#define META_LEASE_MS 30000
void meta_set_lease_ms(meta_db *db, int64_t ms);
int64_t meta_lease_ms(meta_db *db);
/* 1 when the backend keeps leases (meta_recover may run any time). */
int meta_has_leases(meta_db *db);

/* ---- images ---------------------------------------------------------- */

/* Status of an image as a whole: "pending" until its job processed it, then
 * "ready" or "failed". meta_item_finish sets it (ok -> ready; failed ->
 * failed, except that an image already "ready" stays ready so a failed
 * re-index does not hide its earlier facts); meta_image_update_facts may set
 * it explicitly. */
typedef struct image_rec {
    int64_t rowid;              /* stable integer key (ANN labels) */
    char id[SCRY_ID_LEN + 1];
    char sha256[SCRY_SHA256_HEX + 1];      /* original bytes in the blob store */
    char thumb_sha256[SCRY_SHA256_HEX + 1];/* "" until the thumbnail exists */
    char *filename;
    char format[16];            /* sniffed at upload: jpeg, png, gif, webp, tiff, heif, ... */
    int64_t bytes;
    int width, height;          /* after EXIF orientation; 0 until decoded */
    char *exif_json;            /* JSON object: {"date_taken","camera","gps":{lat,lon}}; NULL = none yet */
    int64_t taken_at;           /* unix seconds from EXIF date, 0 = unknown */
    char *colors_json;          /* JSON array [{"name","hex","fraction"}] */
    char *caption;
    char *tags_json;            /* JSON array [{"label","score","box":[x,y,w,h],"color"}] */
    char *faces_json;           /* JSON array [{"box","score","emotion","scores":{...},
                                   "age","gender","gender_score","person"}]; the last
                                   four only for described faces (meta_faces_*) */
    char *text;                 /* OCR text, words joined by spaces */
    char *text_json;            /* JSON array of words with boxes */
    uint64_t phash;             /* 64-bit perceptual hash; valid when has_phash */
    int has_phash;
    char status[16];
    int64_t created_at, updated_at;   /* ms since epoch */
} image_rec;

void image_rec_free(image_rec *r);     /* frees the strings, not r itself */

/* What the upload path knows about a new image. */
typedef struct meta_new_image {
    char id[SCRY_ID_LEN + 1];
    char sha256[SCRY_SHA256_HEX + 1];
    const char *filename;
    const char *format;
    int64_t bytes;
} meta_new_image;

/* In one transaction: insert the images (status pending), a job (pending)
 * and one work item per image, and index each filename for keyword search.
 * After this returns the job survives a crash (synchronous=FULL). n == 0
 * makes a job that is completed at once. A duplicate image or job id fails
 * with SCRY_EINVAL and stores nothing. */
int meta_upload_commit(meta_db *db, const char *job_id, const meta_new_image *imgs, int n,
                       scry_err *err);

int meta_image_get(meta_db *db, const char *id, image_rec *out, scry_err *err);
int meta_image_get_by_rowid(meta_db *db, int64_t rowid, image_rec *out, scry_err *err);
/* Page through images newest first. *out is a malloc'ed array of n recs:
 * free each with image_rec_free then free(*out) (*out is NULL when n == 0). */
int meta_image_list(meta_db *db, int offset, int limit, image_rec **out, int *n, scry_err *err);
int64_t meta_image_count(meta_db *db);

/* Write every fact column of r (width..text_json, phash, status,
 * thumb_sha256, taken_at) for image r->id and refresh its FTS row. An empty
 * r->status keeps the current status. The *_json fields must be NULL or
 * valid JSON (SCRY_EINVAL otherwise). SCRY_ENOTFOUND if the image was
 * deleted meanwhile. */
int meta_image_update_facts(meta_db *db, const image_rec *r, scry_err *err);

/* Delete an image with its items, vector and FTS row. Fills the blob names
 * that are no longer referenced by any image, as original or as thumbnail
 * (each "" when still in use or absent; a name is reported once), so the
 * caller can remove them from the blob store. Jobs whose item for this image
 * had not finished lose it from their total (and complete if that was the
 * last one); finished items stay counted. A worker still processing the
 * image then gets SCRY_ENOTFOUND from stage/finish/update_facts. */
int meta_image_delete(meta_db *db, const char *id, char orphan_sha[SCRY_SHA256_HEX + 1],
                      char orphan_thumb[SCRY_SHA256_HEX + 1], scry_err *err);

/* Whether any image uses sha as its original or its thumbnail. For cleaning
 * up blobs that no committed image references: after a failed
 * meta_upload_commit (the bytes may have been deduplicated against an
 * existing image, so do not remove them blindly), or after update_facts
 * says the image was deleted while a worker made its thumbnail. */
int meta_blob_referenced(meta_db *db, const char *sha, int *referenced, scry_err *err);

/* ---- keyword search (FTS5, BM25) -------------------------------------- */

typedef struct meta_hit {
    int64_t rowid;
    char id[SCRY_ID_LEN + 1];
    double bm25;                /* higher is better (sign flipped from FTS5) */
} meta_hit;

/* Run an FTS5 MATCH expression built by the caller (meta_fts_quote helps)
 * over every stored image, whatever its status: a pending image already
 * matches by its filename (useful right after an upload), a ready one by
 * all its facts; callers that want only ready images filter on status.
 * Best first; ties newest first. *hits malloc'ed (NULL when n == 0), caller
 * frees. A malformed expression fails with SCRY_EINVAL.
 *
 * Indexed columns (usable as column filters, e.g. "tags : dog"):
 *   filename  the name, plus camelCase/letter-digit splits ("DSC01234" ->
 *             "DSC 01234"); punctuation already separates words
 *   caption   the caption
 *   tags      "[colour] label" per detection, "[emotion] face" per face
 *   text      OCR text
 *   exif      camera; date as "2019-07-01" and "july 2019"
 *   colors    dominant colour names
 * Tokenizer: porter stemming over unicode61 with diacritics removed, so
 * "dogs" matches "dog" and "cafe" matches "café". BM25 weights: caption and
 * tags 2, text 1.5, the rest 1. */
int meta_fts_search(meta_db *db, const char *match, int limit, meta_hit **hits, int *n,
                    scry_err *err);
/* Turn free text into a safe FTS5 expression: every token quoted, joined by
 * OR (any word may match; BM25 ranks those matching more). Tokens are runs
 * of ASCII letters/digits or non-ASCII bytes; everything else (quotes,
 * operators, punctuation) separates them, so the result never fails to
 * parse. Common English stopwords are dropped unless nothing else is left;
 * at most 32 distinct tokens are kept; text without any token gives the
 * empty phrase (a pair of double quotes), which matches nothing. Caller
 * frees (NULL only when out of memory). */
char *meta_fts_query_from_text(const char *text);
/* One FTS5 string literal: token wrapped in double quotes, inner quotes
 * doubled. Use it to build expressions (column filters, NEAR, AND). Caller
 * frees. */
char *meta_fts_quote(const char *token);

/* ---- vectors ----------------------------------------------------------- */

/* Store (or replace) the vector of an image for a model: dim float32s in
 * host byte order. SCRY_ENOTFOUND when no image has that rowid. */
int meta_vector_put(meta_db *db, int64_t rowid, const char *model, const float *v, int dim,
                    scry_err *err);
/* Calls fn for every stored vector of the model (rowid order). A non-zero
 * return from fn stops the walk and is returned. Vectors are read in pages
 * of 256 and fn runs without the store's lock held, so fn may call other
 * meta_* functions; v is valid only during the call. */
int meta_vector_each(meta_db *db, const char *model,
                     int (*fn)(int64_t rowid, const float *v, int dim, void *ctx), void *ctx,
                     scry_err *err);

/* Copy one stored vector into out[dim]. SCRY_ENOTFOUND when absent,
 * SCRY_ECORRUPT when stored with another dimension. */
int meta_vector_get(meta_db *db, int64_t rowid, const char *model, float *out, int dim,
                    scry_err *err);

/* ---- faces ------------------------------------------------------------- */

/* One described face of an image: its descriptor under a model (e.g.
 * FACERES_MODEL_NAME), where it is, and a face id that is its identity.
 *
 * Identity: face_id is an integer that is never reused (AUTOINCREMENT), so
 * anything attached to a face later (a person, a name: issue 10) can key on
 * it. Re-indexing an image replaces its faces, but a new face that lies
 * where an old one was (box IoU >= META_FACE_SAME_IOU; greedy, in the new
 * faces' order) keeps the old face_id and only gets its new descriptor and
 * index; old faces matched by none are deleted, new ones get new ids.
 * Deleting the image deletes its faces. */
#define META_FACE_SAME_IOU 0.5

typedef struct meta_face {
    int64_t face_id;
    int64_t image_rowid;
    int face_index;             /* index of the face in the image's faces_json */
    int box[4];                 /* x, y, w, h in original pixels (faces_json's box) */
    int dim;
    float *vec;                 /* dim floats; owned by the record from a getter */
    /* Filled by getters (schema v5; ignored on input): */
    int64_t person_id;          /* 0: no person */
    int assigned;               /* META_FACE_NEW, _AUTO or _MANUAL */
    int64_t updated_at;         /* ms; changes with the descriptor or the person */
} meta_face;

/* How a face came by its person (faces.assigned). Clustering only ever
 * touches NEW and AUTO faces: what a user decided (a move, a merge, a name)
 * is MANUAL and stays -- with a person, or with none. */
enum { META_FACE_NEW = 0, META_FACE_AUTO = 1, META_FACE_MANUAL = 2 };

/* A replacement set: every face of an image under one model. vec of each
 * face is borrowed (dim floats); face_id is ignored on input. */
typedef struct meta_faces_update {
    const char *model;
    int dim;
    const meta_face *faces;
    int n;                      /* 0: the image has no described face any more */
} meta_faces_update;

/* Replace the image's faces of u->model with u's (identities kept as above).
 * SCRY_ENOTFOUND when no image has that rowid. */
int meta_faces_put(meta_db *db, int64_t image_rowid, const meta_faces_update *u, scry_err *err);
/* meta_image_update_facts and, in the same transaction, meta_faces_put for
 * that image when faces is not NULL (NULL leaves its faces as they are). */
int meta_image_update_facts_faces(meta_db *db, const image_rec *r,
                                  const meta_faces_update *faces, scry_err *err);
/* The image's faces of a model in face_index order. *out malloc'ed (NULL
 * when n == 0): free with meta_faces_free. */
int meta_faces_get(meta_db *db, int64_t image_rowid, const char *model, meta_face **out, int *n,
                   scry_err *err);
/* One face by id (any model). SCRY_ENOTFOUND when absent. Free out->vec. */
int meta_face_get(meta_db *db, int64_t face_id, meta_face *out, scry_err *err);
void meta_faces_free(meta_face *faces, int n);
/* Calls fn for every face of the model in face_id order, in pages read under
 * the lock and handed out without it (as meta_vector_each). A non-zero
 * return from fn stops the walk and is returned; f is valid during the call. */
int meta_face_each(meta_db *db, const char *model, int (*fn)(const meta_face *f, void *ctx),
                   void *ctx, scry_err *err);
int64_t meta_face_count(meta_db *db, const char *model);

/* ---- people (schema v5) -------------------------------------------------
 *
 * A person is a row of `people` (person_id never reused, an optional name,
 * an optional cover face); a face belongs to at most one person
 * (faces.person_id) and says how it got there (faces.assigned). A person
 * whose last face goes -- its image deleted, re-indexed without it, the face
 * moved or merged away -- is deleted with it, in the same transaction. */

typedef struct meta_person {
    int64_t person_id;
    char *name;                 /* NULL: not named */
    int64_t cover_face;         /* the cover face a user chose, 0: automatic */
    int64_t created_at, updated_at;
    /* From meta_person_get / meta_people_list: */
    int64_t faces;              /* faces of the person */
    int64_t images;             /* distinct images */
    int64_t cover;              /* cover_face if still the person's, else its largest face */
} meta_person;

void meta_person_free(meta_person *p);     /* frees name */
void meta_people_free(meta_person *p, int n);

/* One automatic or manual assignment (meta_faces_assign). person_id > 0: an
 * existing person; 0: nobody; < 0: a new person, one per distinct negative
 * value (the ids made are written back through new_ids[-person_id - 1]). */
typedef struct meta_assignment {
    int64_t face_id;
    int64_t person_id;
} meta_assignment;

/* In one transaction: give each face its person with `assigned` (AUTO or
 * MANUAL). AUTO never overrides a MANUAL face (such rows are skipped and
 * counted out of *applied). Persons left without faces are deleted. new_ids
 * (may be NULL when no person_id is negative) has room for the most
 * negative person_id's magnitude. */
int meta_faces_assign(meta_db *db, const meta_assignment *a, int n, int assigned, int64_t *new_ids,
                      int *applied, scry_err *err);
/* Merge persons `from` into `into` (all their faces MANUAL, into's), in one
 * transaction; into takes the first name among from when it has none. Ids
 * that do not exist: SCRY_ENOTFOUND, nothing changed. */
int meta_people_merge(meta_db *db, int64_t into, const int64_t *from, int n, scry_err *err);
/* Name (NULL or "" clears it). Naming marks the person's faces MANUAL: a user
 * looked at them. SCRY_ENOTFOUND when there is no such person. */
int meta_person_set_name(meta_db *db, int64_t person_id, const char *name, scry_err *err);
/* Cover face (0: automatic); it must be one of the person's faces. */
int meta_person_set_cover(meta_db *db, int64_t person_id, int64_t face_id, scry_err *err);
/* Forget a person and its name: its faces stay, with no person, MANUAL (so
 * clustering does not rebuild the person at once). */
int meta_person_delete(meta_db *db, int64_t person_id, scry_err *err);
int meta_person_get(meta_db *db, int64_t person_id, meta_person *out, scry_err *err);
/* People with at least min_faces faces, or a name, most faces first (ties:
 * lower id first); *total is how many there are. */
int meta_people_list(meta_db *db, int min_faces, int offset, int limit, meta_person **out, int *n,
                     int64_t *total, scry_err *err);
/* Every named person: ids and names (for query understanding). */
int meta_people_named(meta_db *db, meta_person **out, int *n, scry_err *err);
/* A person's faces (no descriptors: vec NULL, dim 0), largest first, and
 * the image id of each (ids[i], SCRY_ID_LEN + 1 bytes each, malloc'ed). */
int meta_person_faces(meta_db *db, int64_t person_id, int offset, int limit, meta_face **faces,
                      char (**ids)[SCRY_ID_LEN + 1], int *n, int64_t *total, scry_err *err);
/* The person's images, newest first. */
int meta_person_images(meta_db *db, int64_t person_id, int offset, int limit, image_rec **out,
                       int *n, int64_t *total, scry_err *err);

/* Change feed of faces for the people service: fn for every face of model
 * updated after since_ms (oldest first), gone for every face deleted after
 * it, and *last_ms the newest stamp seen. fn runs without the lock held. */
int meta_face_changes(meta_db *db, const char *model, int64_t since_ms,
                      int (*fn)(const meta_face *f, void *ctx),
                      int (*gone)(int64_t face_id, void *ctx), void *ctx, int64_t *last_ms,
                      scry_err *err);
/* Clustering decisions are made on a process's own mirror of the faces
 * (people/people.h); processes that cluster at once (several workers on
 * PostgreSQL) take turns through this cluster-wide lock (a session-level
 * advisory lock; waits up to timeout_ms, then SCRY_EBUSY). A no-op on
 * SQLite, where one process clusters. on = 0 releases it. */
int meta_people_lock(meta_db *db, int on, int timeout_ms, scry_err *err);
/* A number that changes whenever faces or people may have changed, in this
 * process or another (cheap: for caches). */
uint64_t meta_people_version(meta_db *db);

/* ---- jobs of other kinds (schema v5) -------------------------------------
 * A job without work items, run by a background task (a full re-cluster of
 * people: kind "recluster"). Shown by meta_job_get like any job. */
int meta_job_create(meta_db *db, const char *kind, int total, char job_id[SCRY_ID_LEN + 1],
                    scry_err *err);
/* status "running", "completed" or "failed" (error set then). */
int meta_job_set(meta_db *db, const char *job_id, const char *status, int done, int total,
                 const char *error, scry_err *err);
/* The ids of unfinished jobs of a kind, oldest first (at most max). */
int meta_jobs_unfinished(meta_db *db, const char *kind, char (*ids)[SCRY_ID_LEN + 1], int max,
                         int *n, scry_err *err);

/* Change feed: calls fn for every image row updated after since_ms (ms since
 * the epoch), oldest change first, and sets *last_ms to the newest
 * updated_at seen. The search catalog uses it to stay in step with the
 * database, including rows written by another process. Deleted rows do not
 * appear: deletes are reported to the catalog directly. */
int meta_image_each_since(meta_db *db, int64_t since_ms,
                          int (*fn)(const image_rec *r, void *ctx), void *ctx,
                          int64_t *last_ms, scry_err *err);

/* Change feed by sequence, for search engines in other processes (search
 * nodes). Every write of an image row gives it the next value of one
 * sequence, and every delete records (seq, rowid); both are assigned in
 * commit order (SQLite serialises writers; PostgreSQL takes one advisory
 * lock from the first image write of a transaction to its commit), so a
 * reader that has applied everything up to S never sees a later commit
 * with a sequence <= S. meta_feed_read calls fns->upsert for every image
 * written after after_seq (its current row) and fns->removed for every
 * image deleted after it, and sets *last_seq to the sequence the reader is
 * now up to date with (pass it next time). Rows are handed out in pages
 * without the store's lock held. A non-zero return from a callback stops
 * the read and is returned (*last_seq then unchanged). */
typedef struct meta_feed_fns {
    int (*upsert)(const image_rec *r, void *ctx);
    int (*removed)(int64_t rowid, void *ctx);
} meta_feed_fns;
int meta_feed_read(meta_db *db, int64_t after_seq, const meta_feed_fns *fns, void *ctx,
                   int64_t *last_seq, scry_err *err);
/* Wait up to timeout_ms for the feed to move: PostgreSQL LISTENs on a
 * connection of its own and returns as soon as a writer's NOTIFY arrives;
 * SQLite sleeps a fraction of the timeout (its writers are usually in this
 * process, which syncs directly). Returns SCRY_OK either way (then read the
 * feed) or an error when the database cannot be reached. Thread-safe;
 * meant for one follower thread. */
int meta_feed_wait(meta_db *db, int timeout_ms, scry_err *err);
/* Every stored image's rowid, ascending (snapshot loads drop what is no
 * longer stored). *out malloc'ed (NULL when n == 0). */
int meta_image_rowids(meta_db *db, int64_t **out, size_t *n, scry_err *err);

/* ---- jobs ------------------------------------------------------------- */

typedef struct job_error {
    char image_id[SCRY_ID_LEN + 1];
    char *filename;
    char stage[32];
    char *message;
} job_error;

typedef struct job_rec {
    char id[SCRY_ID_LEN + 1];
    char status[16];            /* pending, running, completed, failed */
    int total, done, failed;    /* done counts successes; failed per-image failures */
    int64_t created_at, updated_at;
    char *error;                /* whole-job failure reason, NULL otherwise */
    job_error *errors;          /* per-image failures (meta_job_get only) */
    int nerrors;
} job_rec;

void job_rec_free(job_rec *j);

int meta_job_get(meta_db *db, const char *id, job_rec *out, scry_err *err);
/* Most recent first, without per-image errors. */
int meta_job_list(meta_db *db, int limit, job_rec **out, int *n, scry_err *err);

/* A claimed unit of work. */
typedef struct work_item {
    char job_id[SCRY_ID_LEN + 1];
    char image_id[SCRY_ID_LEN + 1];
    int attempt;                /* 1 for the first try */
} work_item;

/* Atomically take the oldest pending item: mark it running, bump attempts,
 * mark its job running. SCRY_ENOTFOUND when there is nothing to do. Claims
 * and stages commit with synchronous=NORMAL (they survive a process crash,
 * and recovery tolerates a power cut undoing them); every other write is
 * fsynced before it returns. */
int meta_item_claim(meta_db *db, work_item *out, scry_err *err);
/* Record the stage an item is entering, so a crash inside it is attributed.
 * Stage names are at most 31 chars. SCRY_ENOTFOUND when the item is not
 * running under this attempt (its image was deleted, or it was recovered). */
int meta_item_stage(meta_db *db, const work_item *w, const char *stage, scry_err *err);
/* Renew the lease of a running item (the job manager calls it for every
 * item in flight every lease/3). SCRY_ENOTFOUND as for meta_item_stage: the
 * lease was lost (another worker may have the item now). */
int meta_item_heartbeat(meta_db *db, const work_item *w, scry_err *err);
/* Finish an item: ok, or failed at stage with message. An ok item may pass
 * the stage and message of an optional stage that failed: it counts as done
 * and is listed among the job's errors. Updates the job's
 * counters, the image's status, and completes the job when every item is
 * finished (done + failed == total; a job with failed images is still
 * "completed"). SCRY_ENOTFOUND as for meta_item_stage. */
int meta_item_finish(meta_db *db, const work_item *w, int ok, const char *stage,
                     const char *message, scry_err *err);
/* At start-up: items left running by a crash go back to pending, unless they
 * have had max_attempts already, in which case they fail with "crashed in
 * stage S after N attempts" ("attempt" when N is 1; S is "start" when the
 * item entered no stage). Jobs are completed if that finished them.
 * SQLite: every running item (only the process that runs the workers may
 * call this: items running in another live process would be requeued too).
 * PostgreSQL: only items whose lease has expired (their worker died or lost
 * the database for longer than the lease), so any worker may call it at any
 * time; the job manager does, every lease/2. */
int meta_recover(meta_db *db, int max_attempts, int *requeued, int *failed, scry_err *err);
/* Re-queue every image for a job (e.g. after a model change). Fills job_id
 * and n, the number of items (with no images the job is completed at once).
 * Images keep their status and facts until their item is processed. */
int meta_reindex_all(meta_db *db, char job_id[SCRY_ID_LEN + 1], int *n, scry_err *err);
/* Whole-job failure: the job becomes "failed" with reason as its error; its
 * unfinished items fail with the same message (counted in failed) so no
 * worker claims them. SCRY_EINVAL if the job is already completed/failed. */
int meta_job_fail(meta_db *db, const char *job_id, const char *reason, scry_err *err);

/* ---- API keys ----------------------------------------------------------- */

/* A key as stored: never the secret itself, only salt and hash (hex) as
 * computed by http/auth. scopes is a comma-separated list ("read,write").
 * Times are ms since the epoch; 0 = never (last use) / not revoked. */
typedef struct key_rec {
    char id[SCRY_ID_LEN + 1];
    char name[128];
    char scopes[64];
    char salt[65];
    char hash[129];
    int64_t created_at, last_used_at, revoked_at;
} key_rec;

/* SCRY_EINVAL on a duplicate id or an incomplete record. created_at 0 =
 * now. */
int meta_key_insert(meta_db *db, const key_rec *k, scry_err *err);
/* Revoked keys too (check revoked_at). SCRY_ENOTFOUND when absent. */
int meta_key_get(meta_db *db, const char *id, key_rec *out, scry_err *err);
/* Every key, oldest first, revoked ones included. *out malloc'ed (NULL when
 * n == 0), caller frees. */
int meta_key_list(meta_db *db, key_rec **out, int *n, scry_err *err);
/* SCRY_ENOTFOUND when no such key or already revoked. */
int meta_key_revoke(meta_db *db, const char *id, scry_err *err);
/* Record a use (keeps the latest). Not fsynced: a crash may lose it. */
int meta_key_touch(meta_db *db, const char *id, int64_t used_at_ms, scry_err *err);
/* Keys not revoked; -1 on error. */
int64_t meta_key_count_active(meta_db *db);

/* ---- metrics ---------------------------------------------------------- */

typedef struct meta_stats {
    int64_t images, images_ready, images_failed, images_pending;
    int64_t jobs_pending, jobs_running, jobs_completed, jobs_failed;
    int64_t items_pending;
} meta_stats;

int meta_get_stats(meta_db *db, meta_stats *out, scry_err *err);

#endif
