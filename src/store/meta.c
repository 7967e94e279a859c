/* meta.c -- meta.h's functions, dispatched to the handle's backend.
 *
 * meta_open picks the backend from the location (a postgres:// URL or a
 * file path); every other call goes through db->ops (meta_backend.h). The
 * few functions that need no database (record destructors, FTS query text)
 * live in meta_common.c. */
#include "store/meta.h"

#include <stdlib.h>
#include <string.h>

#include "store/meta_backend.h"

/* Backends may always fill err: callers may pass NULL. */
#define ERR_LOCAL(e) scry_err e##_local = {0}; if (!(e)) (e) = &e##_local

int meta_open(meta_db **out, const char *location, scry_err *err) {
    ERR_LOCAL(err);
    *out = NULL;
    if (!location || !*location) return scry_fail(err, SCRY_EINVAL, "empty metadata location");
    int rc;
    if (!strncmp(location, "postgres://", 11) || !strncmp(location, "postgresql://", 13))
        rc = meta_pg_open(out, location, err);
    else
        rc = meta_sqlite_open(out, location, err);
    if (rc == SCRY_OK && !(*out)->lease_ms) (*out)->lease_ms = META_LEASE_MS;
    return rc;
}

void meta_close(meta_db *db) {
    if (db) db->ops->close(db);
}

const char *meta_backend_name(meta_db *db) { return db->ops->name; }
void meta_set_lease_ms(meta_db *db, int64_t ms) { db->lease_ms = ms > 0 ? ms : META_LEASE_MS; }
int64_t meta_lease_ms(meta_db *db) { return db->lease_ms; }
int meta_has_leases(meta_db *db) { return !strcmp(db->ops->name, "postgres"); }
int meta_schema_version(meta_db *db) { return db->ops->schema_version(db); }

int meta_upload_commit(meta_db *db, const char *job_id, const meta_new_image *imgs, int n,
                       scry_err *err) {
    ERR_LOCAL(err);
    int rc = meta_check_upload(job_id, imgs, n, err);
    return rc ? rc : db->ops->upload_commit(db, job_id, imgs, n, err);
}

int meta_image_get(meta_db *db, const char *id, image_rec *out, scry_err *err) {
    ERR_LOCAL(err);
    if (!id) return scry_fail(err, SCRY_EINVAL, "no image id");
    return db->ops->image_get(db, id, out, err);
}

int meta_image_get_by_rowid(meta_db *db, int64_t rowid, image_rec *out, scry_err *err) {
    ERR_LOCAL(err);
    return db->ops->image_get_by_rowid(db, rowid, out, err);
}

int meta_image_list(meta_db *db, int offset, int limit, image_rec **out, int *n, scry_err *err) {
    ERR_LOCAL(err);
    *out = NULL;
    *n = 0;
    if (offset < 0 || limit < 0) return scry_fail(err, SCRY_EINVAL, "negative offset or limit");
    if (limit == 0) return SCRY_OK;
    return db->ops->image_list(db, offset, limit, out, n, err);
}

int64_t meta_image_count(meta_db *db) { return db->ops->image_count(db); }

int meta_image_update_facts_faces(meta_db *db, const image_rec *r, const meta_faces_update *faces,
                                  scry_err *err) {
    ERR_LOCAL(err);
    int rc = meta_check_facts(r, faces, err);
    return rc ? rc : db->ops->image_update(db, r, faces, err);
}

int meta_image_update_facts(meta_db *db, const image_rec *r, scry_err *err) {
    ERR_LOCAL(err);
    return meta_image_update_facts_faces(db, r, NULL, err);
}

int meta_image_delete(meta_db *db, const char *id, char orphan_sha[SCRY_SHA256_HEX + 1],
                      char orphan_thumb[SCRY_SHA256_HEX + 1], scry_err *err) {
    ERR_LOCAL(err);
    orphan_sha[0] = orphan_thumb[0] = 0;
    if (!id) return scry_fail(err, SCRY_EINVAL, "no image id");
    return db->ops->image_delete(db, id, orphan_sha, orphan_thumb, err);
}

int meta_blob_referenced(meta_db *db, const char *sha, int *referenced, scry_err *err) {
    ERR_LOCAL(err);
    *referenced = 0;
    if (!sha || !*sha) return scry_fail(err, SCRY_EINVAL, "no blob name");
    return db->ops->blob_referenced(db, sha, referenced, err);
}

int meta_fts_search(meta_db *db, const char *match, int limit, meta_hit **hits, int *n,
                    scry_err *err) {
    ERR_LOCAL(err);
    *hits = NULL;
    *n = 0;
    if (!match || limit < 0) return scry_fail(err, SCRY_EINVAL, "bad search arguments");
    if (limit == 0) return SCRY_OK;
    return db->ops->fts_search(db, match, limit, hits, n, err);
}

int meta_vector_put(meta_db *db, int64_t rowid, const char *model, const float *v, int dim,
                    scry_err *err) {
    ERR_LOCAL(err);
    if (!model || !*model || !v || dim <= 0 || dim > 65536)
        return scry_fail(err, SCRY_EINVAL, "bad vector arguments");
    return db->ops->vector_put(db, rowid, model, v, dim, err);
}

int meta_vector_each(meta_db *db, const char *model,
                     int (*fn)(int64_t rowid, const float *v, int dim, void *ctx), void *ctx,
                     scry_err *err) {
    ERR_LOCAL(err);
    if (!model || !fn) return scry_fail(err, SCRY_EINVAL, "bad vector walk arguments");
    return db->ops->vector_each(db, model, fn, ctx, err);
}

int meta_vector_get(meta_db *db, int64_t rowid, const char *model, float *out, int dim,
                    scry_err *err) {
    ERR_LOCAL(err);
    if (!model || !out || dim <= 0) return scry_fail(err, SCRY_EINVAL, "bad vector arguments");
    return db->ops->vector_get(db, rowid, model, out, dim, err);
}

int meta_faces_put(meta_db *db, int64_t image_rowid, const meta_faces_update *u, scry_err *err) {
    ERR_LOCAL(err);
    if (!u) return scry_fail(err, SCRY_EINVAL, "no faces");
    int rc = meta_check_faces(u, err);
    return rc ? rc : db->ops->faces_put(db, image_rowid, u, err);
}

int meta_faces_get(meta_db *db, int64_t image_rowid, const char *model, meta_face **out, int *n,
                   scry_err *err) {
    ERR_LOCAL(err);
    *out = NULL;
    *n = 0;
    if (!model) return scry_fail(err, SCRY_EINVAL, "no face model");
    return db->ops->faces_get(db, image_rowid, model, out, n, err);
}

int meta_face_get(meta_db *db, int64_t face_id, meta_face *out, scry_err *err) {
    ERR_LOCAL(err);
    memset(out, 0, sizeof *out);
    return db->ops->face_get(db, face_id, out, err);
}

int meta_face_each(meta_db *db, const char *model, int (*fn)(const meta_face *f, void *ctx),
                   void *ctx, scry_err *err) {
    ERR_LOCAL(err);
    if (!model || !fn) return scry_fail(err, SCRY_EINVAL, "bad face walk arguments");
    return db->ops->face_each(db, model, fn, ctx, err);
}

int64_t meta_face_count(meta_db *db, const char *model) { return db->ops->face_count(db, model); }

int meta_image_each_since(meta_db *db, int64_t since_ms, int (*fn)(const image_rec *r, void *ctx),
                          void *ctx, int64_t *last_ms, scry_err *err) {
    ERR_LOCAL(err);
    *last_ms = since_ms;
    return db->ops->image_each_since(db, since_ms, fn, ctx, last_ms, err);
}

int meta_feed_read(meta_db *db, int64_t after_seq, const meta_feed_fns *fns, void *ctx,
                   int64_t *last_seq, scry_err *err) {
    ERR_LOCAL(err);
    *last_seq = after_seq;
    if (!fns || !fns->upsert || !fns->removed)
        return scry_fail(err, SCRY_EINVAL, "bad feed callbacks");
    return db->ops->feed_read(db, after_seq, fns, ctx, last_seq, err);
}

int meta_feed_wait(meta_db *db, int timeout_ms, scry_err *err) {
    ERR_LOCAL(err);
    return db->ops->feed_wait(db, timeout_ms < 0 ? 0 : timeout_ms, err);
}

int meta_image_rowids(meta_db *db, int64_t **out, size_t *n, scry_err *err) {
    ERR_LOCAL(err);
    *out = NULL;
    *n = 0;
    return db->ops->image_rowids(db, out, n, err);
}

int meta_job_get(meta_db *db, const char *id, job_rec *out, scry_err *err) {
    ERR_LOCAL(err);
    memset(out, 0, sizeof *out);
    if (!id) return scry_fail(err, SCRY_EINVAL, "no job id");
    return db->ops->job_get(db, id, out, err);
}

int meta_job_list(meta_db *db, int limit, job_rec **out, int *n, scry_err *err) {
    ERR_LOCAL(err);
    *out = NULL;
    *n = 0;
    if (limit < 0) return scry_fail(err, SCRY_EINVAL, "negative limit");
    if (limit == 0) return SCRY_OK;
    return db->ops->job_list(db, limit, out, n, err);
}

int meta_item_claim(meta_db *db, work_item *out, scry_err *err) {
    ERR_LOCAL(err);
    memset(out, 0, sizeof *out);
    return db->ops->item_claim(db, out, err);
}

int meta_item_stage(meta_db *db, const work_item *w, const char *stage, scry_err *err) {
    ERR_LOCAL(err);
    if (!stage) return scry_fail(err, SCRY_EINVAL, "no stage");
    return db->ops->item_stage(db, w, stage, err);
}

int meta_item_heartbeat(meta_db *db, const work_item *w, scry_err *err) {
    ERR_LOCAL(err);
    return db->ops->item_heartbeat(db, w, err);
}

int meta_item_finish(meta_db *db, const work_item *w, int ok, const char *stage,
                     const char *message, scry_err *err) {
    ERR_LOCAL(err);
    return db->ops->item_finish(db, w, ok, stage, message, err);
}

int meta_recover(meta_db *db, int max_attempts, int *requeued, int *failed, scry_err *err) {
    ERR_LOCAL(err);
    *requeued = *failed = 0;
    return db->ops->recover(db, max_attempts < 1 ? 1 : max_attempts, requeued, failed, err);
}

int meta_reindex_all(meta_db *db, char job_id[SCRY_ID_LEN + 1], int *n, scry_err *err) {
    ERR_LOCAL(err);
    *n = 0;
    return db->ops->reindex_all(db, job_id, n, err);
}

int meta_job_fail(meta_db *db, const char *job_id, const char *reason, scry_err *err) {
    ERR_LOCAL(err);
    if (!job_id) return scry_fail(err, SCRY_EINVAL, "no job id");
    return db->ops->job_fail(db, job_id, reason && *reason ? reason : "job failed", err);
}

int meta_get_stats(meta_db *db, meta_stats *out, scry_err *err) {
    ERR_LOCAL(err);
    memset(out, 0, sizeof *out);
    return db->ops->get_stats(db, out, err);
}

int meta_key_insert(meta_db *db, const key_rec *k, scry_err *err) {
    ERR_LOCAL(err);
    if (!meta_valid_id(k->id) || !k->salt[0] || !k->hash[0])
        return scry_fail(err, SCRY_EINVAL, "key insert: incomplete key");
    return db->ops->key_insert(db, k, err);
}

int meta_key_get(meta_db *db, const char *id, key_rec *out, scry_err *err) {
    ERR_LOCAL(err);
    return db->ops->key_get(db, id ? id : "", out, err);
}

int meta_key_list(meta_db *db, key_rec **out, int *n, scry_err *err) {
    ERR_LOCAL(err);
    *out = NULL;
    *n = 0;
    return db->ops->key_list(db, out, n, err);
}

int meta_key_revoke(meta_db *db, const char *id, scry_err *err) {
    ERR_LOCAL(err);
    return db->ops->key_revoke(db, id ? id : "", err);
}

int meta_key_touch(meta_db *db, const char *id, int64_t used_at_ms, scry_err *err) {
    ERR_LOCAL(err);
    return db->ops->key_touch(db, id ? id : "", used_at_ms, err);
}

int64_t meta_key_count_active(meta_db *db) { return db->ops->key_count_active(db); }

/* ---- people -------------------------------------------------------------- */

int meta_faces_assign(meta_db *db, const meta_assignment *a, int n, int assigned, int64_t *new_ids,
                      int *applied, scry_err *err) {
    ERR_LOCAL(err);
    if (applied) *applied = 0;
    if (n < 0 || (n && !a) || (assigned != META_FACE_AUTO && assigned != META_FACE_MANUAL))
        return scry_fail(err, SCRY_EINVAL, "bad assignment arguments");
    int most_negative = 0;
    for (int i = 0; i < n; i++)
        if (a[i].person_id < 0 && -a[i].person_id > most_negative) most_negative = (int)-a[i].person_id;
    if (most_negative && !new_ids) return scry_fail(err, SCRY_EINVAL, "new persons need new_ids");
    for (int i = 0; i < most_negative; i++) new_ids[i] = 0;
    int count = 0;
    int rc = db->ops->faces_assign(db, a, n, assigned, new_ids, most_negative, &count, err);
    if (rc != SCRY_OK) {
        for (int i = 0; i < most_negative; i++) new_ids[i] = 0;
        return rc;
    }
    if (applied) *applied = count;
    return SCRY_OK;
}

int meta_people_merge(meta_db *db, int64_t into, const int64_t *from, int n, scry_err *err) {
    ERR_LOCAL(err);
    if (n < 0 || (n && !from)) return scry_fail(err, SCRY_EINVAL, "bad merge arguments");
    for (int i = 0; i < n; i++)
        if (from[i] == into)
            return scry_fail(err, SCRY_EINVAL, "cannot merge person %lld into itself", (long long)into);
    return db->ops->people_merge(db, into, from, n, err);
}

int meta_person_set_name(meta_db *db, int64_t person_id, const char *name, scry_err *err) {
    ERR_LOCAL(err);
    if (name && strlen(name) > 200) return scry_fail(err, SCRY_EINVAL, "name longer than 200 bytes");
    return db->ops->person_set_name(db, person_id, name, err);
}

int meta_person_set_cover(meta_db *db, int64_t person_id, int64_t face_id, scry_err *err) {
    ERR_LOCAL(err);
    return db->ops->person_set_cover(db, person_id, face_id, err);
}

int meta_person_delete(meta_db *db, int64_t person_id, scry_err *err) {
    ERR_LOCAL(err);
    return db->ops->person_delete(db, person_id, err);
}

int meta_person_get(meta_db *db, int64_t person_id, meta_person *out, scry_err *err) {
    ERR_LOCAL(err);
    memset(out, 0, sizeof *out);
    return db->ops->person_get(db, person_id, out, err);
}

int meta_people_list(meta_db *db, int min_faces, int offset, int limit, meta_person **out, int *n,
                     int64_t *total, scry_err *err) {
    ERR_LOCAL(err);
    *out = NULL;
    *n = 0;
    if (total) *total = 0;
    if (offset < 0 || limit < 0) return scry_fail(err, SCRY_EINVAL, "negative offset or limit");
    return db->ops->people_list(db, min_faces, offset, limit, out, n, total, err);
}

int meta_people_named(meta_db *db, meta_person **out, int *n, scry_err *err) {
    ERR_LOCAL(err);
    *out = NULL;
    *n = 0;
    return db->ops->people_named(db, out, n, err);
}

int meta_person_faces(meta_db *db, int64_t person_id, int offset, int limit, meta_face **faces,
                      char (**ids)[SCRY_ID_LEN + 1], int *n, int64_t *total, scry_err *err) {
    ERR_LOCAL(err);
    *faces = NULL;
    *ids = NULL;
    *n = 0;
    if (total) *total = 0;
    if (offset < 0 || limit < 0) return scry_fail(err, SCRY_EINVAL, "negative offset or limit");
    return db->ops->person_faces(db, person_id, offset, limit, faces, ids, n, total, err);
}

int meta_person_images(meta_db *db, int64_t person_id, int offset, int limit, image_rec **out,
                       int *n, int64_t *total, scry_err *err) {
    ERR_LOCAL(err);
    *out = NULL;
    *n = 0;
    if (total) *total = 0;
    if (offset < 0 || limit < 0) return scry_fail(err, SCRY_EINVAL, "negative offset or limit");
    return db->ops->person_images(db, person_id, offset, limit, out, n, total, err);
}

#define CHANGE_CHUNK 256

/* Pages of the face feed, each read under the backend's lock and handed to
 * the callbacks without it (they may call back into the store). */
int meta_face_changes(meta_db *db, const char *model, int64_t since_ms,
                      int (*fn)(const meta_face *f, void *ctx),
                      int (*gone)(int64_t face_id, void *ctx), void *ctx, int64_t *last_ms,
                      scry_err *err) {
    ERR_LOCAL(err);
    if (!model || !fn || !gone) return scry_fail(err, SCRY_EINVAL, "bad face feed arguments");
    *last_ms = since_ms;
    meta_face *page = calloc(CHANGE_CHUNK, sizeof *page);
    int64_t *dead = malloc(CHANGE_CHUNK * sizeof *dead), *dead_at = malloc(CHANGE_CHUNK * sizeof *dead_at);
    if (!page || !dead || !dead_at) {
        free(page), free(dead), free(dead_at);
        return scry_fail(err, SCRY_ENOMEM, "out of memory (face feed)");
    }
    int rc = SCRY_OK;
    int64_t after_ms = since_ms, after_id = INT64_MIN;
    for (;;) {
        int got = 0;
        rc = db->ops->face_changes_page(db, model, after_ms, after_id, page, CHANGE_CHUNK, &got, err);
        for (int i = 0; i < got; i++) {
            if (rc == SCRY_OK) {
                int r = fn(&page[i], ctx);
                if (r) rc = r;
            }
            if (page[i].updated_at > *last_ms) *last_ms = page[i].updated_at;
            after_ms = page[i].updated_at;
            after_id = page[i].face_id;
            free(page[i].vec);
            page[i].vec = NULL;
        }
        if (rc != SCRY_OK || got < CHANGE_CHUNK) break;
    }
    after_ms = since_ms, after_id = INT64_MIN;
    while (rc == SCRY_OK) {
        int got = 0;
        rc = db->ops->face_tombstones_page(db, model, after_ms, after_id, dead, dead_at,
                                           CHANGE_CHUNK, &got, err);
        for (int i = 0; i < got; i++) {
            if (rc == SCRY_OK) {
                int r = gone(dead[i], ctx);
                if (r) rc = r;
            }
            if (dead_at[i] > *last_ms) *last_ms = dead_at[i];
            after_ms = dead_at[i];
            after_id = dead[i];
        }
        if (got < CHANGE_CHUNK) break;
    }
    free(page);
    free(dead);
    free(dead_at);
    return rc;
}

uint64_t meta_people_version(meta_db *db) { return db->ops->people_version(db); }

int meta_people_lock(meta_db *db, int on, int timeout_ms, scry_err *err) {
    ERR_LOCAL(err);
    return db->ops->people_lock ? db->ops->people_lock(db, on, timeout_ms, err) : SCRY_OK;
}

int meta_job_create(meta_db *db, const char *kind, int total, char job_id[SCRY_ID_LEN + 1],
                    scry_err *err) {
    ERR_LOCAL(err);
    if (!kind || strcmp(kind, "recluster")) return scry_fail(err, SCRY_EINVAL, "bad job kind");
    return db->ops->job_create(db, kind, total, job_id, err);
}

int meta_job_set(meta_db *db, const char *job_id, const char *status, int done, int total,
                 const char *error, scry_err *err) {
    ERR_LOCAL(err);
    if (!job_id || !status || (strcmp(status, "running") && strcmp(status, "completed") &&
                               strcmp(status, "failed")))
        return scry_fail(err, SCRY_EINVAL, "bad job update");
    return db->ops->job_set(db, job_id, status, done, total, error, err);
}

int meta_jobs_unfinished(meta_db *db, const char *kind, char (*ids)[SCRY_ID_LEN + 1], int max,
                         int *n, scry_err *err) {
    ERR_LOCAL(err);
    *n = 0;
    if (!kind || max < 0) return scry_fail(err, SCRY_EINVAL, "bad unfinished-jobs arguments");
    return db->ops->jobs_unfinished(db, kind, ids, max, n, err);
}
