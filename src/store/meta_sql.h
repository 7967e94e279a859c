/* meta_sql.h -- SQL text both metadata backends run as it is.
 *
 * Written with SQLite's ?N placeholders; the PostgreSQL backend turns them
 * into $N (meta_pg.c, pg_sql). Only statements whose meaning and types are
 * the same on both engines are here (CAST where PostgreSQL could not infer
 * a parameter's type); what differs -- the schema, the claim, keyword
 * search, the feed -- lives in each backend. Included by the backends only. */
#ifndef SCRY_META_SQL_H
#define SCRY_META_SQL_H

#include "store/meta_backend.h"

#define FACE_COLS "face_id, image_rowid, face_index, x, y, w, h, dim, vec"

#define SQL_IMG_BY_ID \
    "SELECT " META_IMAGE_COLS " FROM images WHERE id = ?1"
#define SQL_IMG_BY_ROWID \
    "SELECT " META_IMAGE_COLS " FROM images WHERE rowid = ?1"
#define SQL_IMG_LIST \
    "SELECT " META_IMAGE_COLS " FROM images ORDER BY rowid DESC LIMIT ?1 OFFSET ?2"
#define SQL_IMG_COUNT \
    "SELECT count(*) FROM images"
#define SQL_IMG_UPDATE \
    "UPDATE images SET width = ?2, height = ?3, exif_json = ?4, taken_at = ?5,"\
    " colors_json = ?6, caption = ?7, tags_json = ?8, faces_json = ?9,"\
    " text = ?10, text_json = ?11, phash = ?12,"\
    " status = coalesce(nullif(?13, ''), status), thumb_sha256 = ?14,"\
    " updated_at = ?15 WHERE id = ?1"
#define SQL_IMG_KEY \
    "SELECT rowid, filename, sha256, thumb_sha256 FROM images WHERE id = ?1"
#define SQL_IMG_SET_STATUS \
    "UPDATE images SET status = CASE WHEN ?2 THEN 'ready' WHEN status = "\
    "'ready' THEN 'ready' ELSE 'failed' END, updated_at = ?3 WHERE id = ?1"
#define SQL_IMG_DELETE \
    "DELETE FROM images WHERE id = ?1"
#define SQL_SHA_IN_USE \
    "SELECT 1 FROM images WHERE sha256 = ?1 OR thumb_sha256 = ?1 LIMIT 1"
#define SQL_VEC_PUT \
    "INSERT INTO image_vectors(model, image_rowid, dim, vec, updated_at)"\
    " VALUES(?1, ?2, ?3, ?4, ?5) ON CONFLICT (model, image_rowid) DO UPDATE SET dim = excluded.dim,"\
    " vec = excluded.vec, updated_at = excluded.updated_at"
#define SQL_VEC_CHUNK \
    "SELECT image_rowid, dim, vec FROM image_vectors WHERE model = ?1 AND"\
    " image_rowid > ?2 ORDER BY image_rowid LIMIT ?3"
#define SQL_FACE_OLD \
    "SELECT face_id, x, y, w, h FROM faces WHERE image_rowid = ?1 AND model = ?2"\
    " ORDER BY face_id"
#define SQL_FACE_INSERT \
    "INSERT INTO faces(image_rowid, face_index, model, x, y, w, h, dim, vec,"\
    " created_at, updated_at) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?10)"
#define SQL_FACE_UPDATE \
    "UPDATE faces SET face_index = ?2, x = ?3, y = ?4, w = ?5, h = ?6, dim = ?7,"\
    " vec = ?8, updated_at = ?9 WHERE face_id = ?1"
#define SQL_FACE_DELETE \
    "DELETE FROM faces WHERE face_id = ?1"
#define SQL_FACE_OF_IMAGE \
    "SELECT " FACE_COLS " FROM faces WHERE image_rowid = ?1 AND model = ?2"\
    " ORDER BY face_index, face_id"
#define SQL_FACE_BY_ID \
    "SELECT " FACE_COLS " FROM faces WHERE face_id = ?1"
#define SQL_FACE_CHUNK \
    "SELECT " FACE_COLS " FROM faces WHERE model = ?1 AND face_id > ?2"\
    " ORDER BY face_id LIMIT ?3"
#define SQL_FACE_COUNT \
    "SELECT count(*) FROM faces WHERE model = ?1"
#define SQL_IMG_EXISTS \
    "SELECT 1 FROM images WHERE rowid = ?1"
#define SQL_JOB_INSERT \
    "INSERT INTO jobs(id, kind, total, created_at, updated_at)"\
    " VALUES(?1, ?2, ?3, ?4, ?4)"
#define SQL_JOB_GET \
    "SELECT id, status, total, done, failed, created_at, updated_at, error"\
    " FROM jobs WHERE id = ?1"
#define SQL_JOB_ERRORS \
    "SELECT job_items.image_id, images.filename, job_items.stage,"\
    " job_items.error FROM job_items JOIN images ON images.id ="\
    " job_items.image_id WHERE job_items.job_id = ?1 AND (job_items.status ="\
    " 'failed' OR job_items.error IS NOT NULL) ORDER BY job_items.seq"
#define SQL_JOB_RUNNING \
    "UPDATE jobs SET status = 'running', updated_at = ?2"\
    " WHERE id = ?1 AND status = 'pending'"
#define SQL_JOB_COUNT \
    "UPDATE jobs SET done = done + ?2, failed = failed + ?3, updated_at = ?4"\
    " WHERE id = ?1"
#define SQL_JOB_SETTLE \
    "UPDATE jobs SET status = 'completed', updated_at = ?2 WHERE id = ?1 AND"\
    " status IN ('pending','running') AND done + failed >= total"
#define SQL_JOB_TOTAL \
    "UPDATE jobs SET total = ?2 WHERE id = ?1"
#define SQL_JOB_FAIL \
    "UPDATE jobs SET status = 'failed', error = ?2, failed = failed + ?3,"\
    " updated_at = ?4 WHERE id = ?1"
#define SQL_JOB_FAIL_ITEMS \
    "UPDATE job_items SET status = 'failed', stage = CASE WHEN stage = ''"\
    " THEN 'job' ELSE stage END, error = ?2, updated_at = ?3"\
    " WHERE job_id = ?1 AND status IN ('pending','running')"
#define SQL_JOB_FAIL_IMAGES \
    "UPDATE images SET status = 'failed', updated_at = ?2 WHERE status ="\
    " 'pending' AND id IN (SELECT image_id FROM job_items WHERE job_id = ?1"\
    " AND status = 'failed')"
#define SQL_ITEM_INSERT \
    "INSERT INTO job_items(job_id, image_id, updated_at) VALUES(?1, ?2, ?3)"
#define SQL_ITEM_INSERT_ALL \
    "INSERT INTO job_items(job_id, image_id, updated_at)"\
    " SELECT CAST(?1 AS TEXT), id, CAST(?2 AS BIGINT) FROM images ORDER BY rowid"
#define SQL_ITEM_FINISH \
    "UPDATE job_items SET status = ?4, stage = coalesce(?5, stage),"\
    " error = ?6, updated_at = ?7 WHERE job_id = ?1 AND image_id = ?2 AND"\
    " attempts = ?3 AND status = 'running'"
#define SQL_ITEM_RUNNING \
    "SELECT seq, job_id, image_id, attempts, stage FROM job_items"\
    " WHERE status = 'running' ORDER BY seq"
#define SQL_ITEM_REQUEUE \
    "UPDATE job_items SET status = 'pending', updated_at = ?2 WHERE seq = ?1"
#define SQL_DEL_ADJUST \
    "UPDATE jobs SET total = total - (SELECT count(*) FROM job_items WHERE"\
    " job_items.job_id = jobs.id AND job_items.image_id = ?1 AND"\
    " job_items.status IN ('pending','running')), updated_at = ?2"\
    " WHERE id IN (SELECT job_id FROM job_items WHERE image_id = ?1 AND"\
    " status IN ('pending','running'))"
#define SQL_DEL_SETTLE \
    "UPDATE jobs SET status = 'completed', updated_at = ?2 WHERE id IN"\
    " (SELECT job_id FROM job_items WHERE image_id = ?1) AND"\
    " status IN ('pending','running') AND done + failed >= total"
#define SQL_STAT_IMAGES \
    "SELECT status, count(*) FROM images GROUP BY status"
#define SQL_STAT_JOBS \
    "SELECT status, count(*) FROM jobs GROUP BY status"
#define SQL_STAT_ITEMS \
    "SELECT count(*) FROM job_items WHERE status = 'pending'"

/* Change feeds: by time (meta_image_each_since) and by sequence
 * (meta_feed_read), in pages of FEED_CHUNK rows. */
#define FEED_CHUNK 256
#define SQL_SINCE_PAGE \
    "SELECT " META_IMAGE_COLS " FROM images WHERE (updated_at, rowid) > (?1, ?2)"\
    " ORDER BY updated_at, rowid LIMIT ?3"
#define SQL_FEED_PAGE \
    "SELECT " META_IMAGE_COLS ", seq FROM images WHERE seq > ?1 AND seq <= ?2 ORDER BY seq LIMIT ?3"
#define SQL_FEED_DELETIONS \
    "SELECT seq, image_rowid FROM image_deletions WHERE seq > ?1 AND seq <= ?2"\
    " ORDER BY seq LIMIT ?3"
#define SQL_ROWIDS "SELECT rowid FROM images ORDER BY rowid"

/* API keys (http/auth). */
#define KEY_COLS "id, name, scopes, salt, hash, created_at, last_used_at, revoked_at"
#define KEY_NCOLS 8
#define SQL_KEY_INSERT "INSERT INTO api_keys(" KEY_COLS ") VALUES(?1, ?2, ?3, ?4, ?5, ?6, 0, 0)"
#define SQL_KEY_GET "SELECT " KEY_COLS " FROM api_keys WHERE id = ?1"
#define SQL_KEY_LIST "SELECT " KEY_COLS " FROM api_keys ORDER BY created_at, id"
#define SQL_KEY_REVOKE "UPDATE api_keys SET revoked_at = ?2 WHERE id = ?1 AND revoked_at = 0"
#define SQL_KEY_ACTIVE "SELECT count(*) FROM api_keys WHERE revoked_at = 0"

#endif
