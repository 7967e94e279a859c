/* meta_backend.h -- what a metadata backend implements (not for callers).
 *
 * meta.h is the interface the rest of Scry uses; meta.c turns each of its
 * calls into a call through the handle's ops table, so a meta_db is either
 * the SQLite backend (meta_sqlite.c) or the PostgreSQL one (meta_pg.c),
 * chosen by meta_open from the location string. The split mirrors the blob
 * store's (blob_backend.h):
 *
 *   - meta_common.c holds what must be the same whatever the engine: the
 *     derived keyword-index text of an image (filename split into words,
 *     labels pulled out of the JSON, EXIF dates as words), argument and
 *     JSON validation, decoding a row given as column strings into a
 *     record (both engines can hand out every column as text), the face
 *     identity rule (which old face a new one continues), the SQL text the
 *     two engines share (meta_sql.h) and the record destructors;
 *   - a backend runs SQL: connections, transactions, statements, migrations,
 *     the job-queue claim, the change feed.
 *
 * Every backend struct starts with a meta_db (the ops pointer), so a
 * backend casts the handle it is given to its own type. */
#ifndef SCRY_META_BACKEND_H
#define SCRY_META_BACKEND_H

#include "store/meta.h"

typedef struct meta_ops {
    const char *name;           /* "sqlite", "postgres": for logs */
    void (*close)(meta_db *db);
    int (*schema_version)(meta_db *db);
    int (*upload_commit)(meta_db *db, const char *job_id, const meta_new_image *imgs, int n,
                         scry_err *err);
    int (*image_get)(meta_db *db, const char *id, image_rec *out, scry_err *err);
    int (*image_get_by_rowid)(meta_db *db, int64_t rowid, image_rec *out, scry_err *err);
    int (*image_list)(meta_db *db, int offset, int limit, image_rec **out, int *n, scry_err *err);
    int64_t (*image_count)(meta_db *db);
    int (*image_update)(meta_db *db, const image_rec *r, const meta_faces_update *faces,
                        scry_err *err);
    int (*image_delete)(meta_db *db, const char *id, char orphan_sha[SCRY_SHA256_HEX + 1],
                        char orphan_thumb[SCRY_SHA256_HEX + 1], scry_err *err);
    int (*blob_referenced)(meta_db *db, const char *sha, int *referenced, scry_err *err);
    int (*fts_search)(meta_db *db, const char *match, int limit, meta_hit **hits, int *n,
                      scry_err *err);
    int (*vector_put)(meta_db *db, int64_t rowid, const char *model, const float *v, int dim,
                      scry_err *err);
    int (*vector_each)(meta_db *db, const char *model,
                       int (*fn)(int64_t rowid, const float *v, int dim, void *ctx), void *ctx,
                       scry_err *err);
    int (*vector_get)(meta_db *db, int64_t rowid, const char *model, float *out, int dim,
                      scry_err *err);
    int (*faces_put)(meta_db *db, int64_t image_rowid, const meta_faces_update *u, scry_err *err);
    int (*faces_get)(meta_db *db, int64_t image_rowid, const char *model, meta_face **out, int *n,
                     scry_err *err);
    int (*face_get)(meta_db *db, int64_t face_id, meta_face *out, scry_err *err);
    int (*face_each)(meta_db *db, const char *model, int (*fn)(const meta_face *f, void *ctx),
                     void *ctx, scry_err *err);
    int64_t (*face_count)(meta_db *db, const char *model);
    int (*image_each_since)(meta_db *db, int64_t since_ms,
                            int (*fn)(const image_rec *r, void *ctx), void *ctx, int64_t *last_ms,
                            scry_err *err);
    int (*feed_read)(meta_db *db, int64_t after_seq, const meta_feed_fns *fns, void *ctx,
                     int64_t *last_seq, scry_err *err);
    int (*feed_wait)(meta_db *db, int timeout_ms, scry_err *err);
    int (*image_rowids)(meta_db *db, int64_t **out, size_t *n, scry_err *err);
    int (*job_get)(meta_db *db, const char *id, job_rec *out, scry_err *err);
    int (*job_list)(meta_db *db, int limit, job_rec **out, int *n, scry_err *err);
    int (*item_claim)(meta_db *db, work_item *out, scry_err *err);
    int (*item_stage)(meta_db *db, const work_item *w, const char *stage, scry_err *err);
    int (*item_heartbeat)(meta_db *db, const work_item *w, scry_err *err);
    int (*item_finish)(meta_db *db, const work_item *w, int ok, const char *stage,
                       const char *message, scry_err *err);
    int (*recover)(meta_db *db, int max_attempts, int *requeued, int *failed, scry_err *err);
    int (*reindex_all)(meta_db *db, char job_id[SCRY_ID_LEN + 1], int *n, scry_err *err);
    int (*job_fail)(meta_db *db, const char *job_id, const char *reason, scry_err *err);
    int (*get_stats)(meta_db *db, meta_stats *out, scry_err *err);
    int (*key_insert)(meta_db *db, const key_rec *k, scry_err *err);
    int (*key_get)(meta_db *db, const char *id, key_rec *out, scry_err *err);
    int (*key_list)(meta_db *db, key_rec **out, int *n, scry_err *err);
    int (*key_revoke)(meta_db *db, const char *id, scry_err *err);
    int (*key_touch)(meta_db *db, const char *id, int64_t used_at_ms, scry_err *err);
    int64_t (*key_count_active)(meta_db *db);
    /* people (schema v5); arguments checked by meta.c. faces_assign:
     * new_ids has nnew slots, zeroed by the caller. */
    int (*faces_assign)(meta_db *db, const meta_assignment *a, int n, int assigned,
                        int64_t *new_ids, int nnew, int *applied, scry_err *err);
    int (*people_merge)(meta_db *db, int64_t into, const int64_t *from, int n, scry_err *err);
    int (*person_set_name)(meta_db *db, int64_t person_id, const char *name, scry_err *err);
    int (*person_set_cover)(meta_db *db, int64_t person_id, int64_t face_id, scry_err *err);
    int (*person_delete)(meta_db *db, int64_t person_id, scry_err *err);
    int (*person_get)(meta_db *db, int64_t person_id, meta_person *out, scry_err *err);
    int (*people_list)(meta_db *db, int min_faces, int offset, int limit, meta_person **out,
                       int *n, int64_t *total, scry_err *err);
    int (*people_named)(meta_db *db, meta_person **out, int *n, scry_err *err);
    int (*person_faces)(meta_db *db, int64_t person_id, int offset, int limit, meta_face **faces,
                        char (**ids)[SCRY_ID_LEN + 1], int *n, int64_t *total, scry_err *err);
    int (*person_images)(meta_db *db, int64_t person_id, int offset, int limit, image_rec **out,
                         int *n, int64_t *total, scry_err *err);
    /* One page of the face feed (meta.c loops, calling back without any
     * lock): faces of model stamped after (after_ms, after_id), at most cap,
     * descriptors owned by page[i]; and deleted faces the same way. */
    int (*face_changes_page)(meta_db *db, const char *model, int64_t after_ms, int64_t after_id,
                             meta_face *page, int cap, int *got, scry_err *err);
    int (*face_tombstones_page)(meta_db *db, const char *model, int64_t after_ms,
                                int64_t after_id, int64_t *ids, int64_t *at, int cap, int *got,
                                scry_err *err);
    uint64_t (*people_version)(meta_db *db);
    int (*people_lock)(meta_db *db, int on, int timeout_ms, scry_err *err);    /* NULL: no-op */
    int (*job_create)(meta_db *db, const char *kind, int total, char job_id[SCRY_ID_LEN + 1],
                      scry_err *err);
    int (*job_set)(meta_db *db, const char *job_id, const char *status, int done, int total,
                   const char *error, scry_err *err);
    int (*jobs_unfinished)(meta_db *db, const char *kind, char (*ids)[SCRY_ID_LEN + 1], int max,
                           int *n, scry_err *err);
} meta_ops;

struct meta_db {
    const meta_ops *ops;
    int64_t lease_ms;           /* how long a claim lasts without a heartbeat */
};

int meta_sqlite_open(meta_db **out, const char *path, scry_err *err);
/* SCRY_EUNSUPPORTED when built without libpq. */
int meta_pg_open(meta_db **out, const char *url, scry_err *err);

/* ---- shared by the backends (meta_common.c) ---------------------------- */

/* The derived keyword-index text of an image (see meta.h, meta_fts_search):
 * filename with its camelCase/digit splits, "[colour] label" and
 * "[emotion] face" items, EXIF camera and dates as words, colour names.
 * Caption and OCR text are indexed as they are (take them from r). r may be
 * NULL (an upload: the filename alone). All four malloc'ed (NULL only for
 * an empty part, except filename which is always set). */
typedef struct meta_fts_doc {
    char *filename, *tags, *exif, *colors;
} meta_fts_doc;
int meta_fts_doc_make(meta_fts_doc *d, const char *filename, const image_rec *r, scry_err *err);
void meta_fts_doc_free(meta_fts_doc *d);

/* Argument checks shared by every backend: SCRY_EINVAL with a message. */
int meta_check_upload(const char *job_id, const meta_new_image *imgs, int n, scry_err *err);
int meta_check_facts(const image_rec *r, const meta_faces_update *faces, scry_err *err);
int meta_check_faces(const meta_faces_update *u, scry_err *err);
int meta_valid_id(const char *id);

/* Columns of an image row, in this order, as every backend selects them. */
#define META_IMAGE_COLS                                                                 \
    "rowid, id, sha256, thumb_sha256, filename, format, bytes, width, height, exif_json, " \
    "taken_at, colors_json, caption, tags_json, faces_json, text, text_json, phash, "    \
    "status, created_at, updated_at"
#define META_IMAGE_NCOLS 21
/* Row -> record, from column strings (NULL = SQL NULL). SCRY_ENOMEM. */
int meta_image_decode(image_rec *r, const char *const col[META_IMAGE_NCOLS], scry_err *err);

#define META_JOB_COLS "id, status, total, done, failed, created_at, updated_at, error"
#define META_JOB_NCOLS 8
void meta_job_decode(job_rec *j, const char *const col[META_JOB_NCOLS]);

/* API key row (KEY_COLS order, meta_sql.h) from column strings. */
void meta_key_decode(key_rec *k, const char *const col[8]);

/* Which old face each new face continues (meta.h, META_FACE_SAME_IOU):
 * greedy in the new faces' order. keep[i] = old id or 0; taken[j] = 1 for
 * old faces continued. */
typedef struct meta_old_face {
    int64_t id;
    int box[4];
} meta_old_face;
void meta_faces_match(const meta_old_face *old, int nold, const meta_faces_update *u,
                      int64_t *keep, int *taken);

/* A person row (SQL_PERSON_SELECT order, meta_sql.h) from column strings:
 * ncols 5 (SQL_PEOPLE_NAMED) or META_PERSON_NCOLS. SCRY_ENOMEM. */
#define META_PERSON_NCOLS 8
int meta_person_decode(meta_person *p, const char *const *col, int ncols, scry_err *err);
/* A row of SQL_PERSON_FACES (11 columns) -> a face without descriptor and
 * its image id. */
void meta_person_face_decode(meta_face *f, char id[SCRY_ID_LEN + 1], const char *const col[11]);
/* Tombstones older than this are pruned at open (meta_face_changes). */
#define META_TOMBSTONE_KEEP_MS (7LL * 24 * 3600 * 1000)

/* "crashed in stage S after N attempts" for an item that lost its worker. */
void meta_crash_message(char *buf, size_t cap, const char *why, const char *stage, int attempts);

#endif
