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

#define FACE_COLS \
    "face_id, image_rowid, face_index, x, y, w, h, dim, vec, person_id, assigned, updated_at"

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

/* People (schema v5). A person_id bound as 0 means none (nullif). */
#define SQL_FACE_ASSIGN_AUTO \
    "UPDATE faces SET person_id = nullif(CAST(?2 AS BIGINT), 0), assigned = 1, updated_at = ?3"\
    " WHERE face_id = ?1 AND assigned != 2"
#define SQL_FACE_ASSIGN_MANUAL \
    "UPDATE faces SET person_id = nullif(CAST(?2 AS BIGINT), 0), assigned = 2, updated_at = ?3"\
    " WHERE face_id = ?1"
#define SQL_FACE_PERSON "SELECT person_id FROM faces WHERE face_id = ?1"
#define SQL_PERSON_EXISTS "SELECT 1 FROM people WHERE person_id = ?1"
#define SQL_PERSON_INSERT \
    "INSERT INTO people(created_at, updated_at) VALUES(?1, ?1) RETURNING person_id"
#define SQL_PERSON_DROP_EMPTY \
    "DELETE FROM people WHERE person_id = ?1 AND NOT EXISTS"\
    " (SELECT 1 FROM faces WHERE person_id = ?1)"
/* the first name among the merged when into has none: a name is never lost */
#define SQL_MERGE_NAME \
    "UPDATE people SET name = (SELECT name FROM people WHERE person_id = ?2),"\
    " updated_at = ?3 WHERE person_id = ?1 AND name IS NULL"
#define SQL_MERGE_FACES \
    "UPDATE faces SET person_id = ?1, assigned = 2, updated_at = ?3 WHERE person_id = ?2"
#define SQL_PERSON_DELETE "DELETE FROM people WHERE person_id = ?1"
#define SQL_PERSON_CONFIRM \
    "UPDATE faces SET assigned = 2, updated_at = ?2 WHERE person_id = ?1 AND assigned != 2"
#define SQL_PERSON_TOUCH "UPDATE people SET updated_at = ?2 WHERE person_id = ?1"
#define SQL_PERSON_NAME \
    "UPDATE people SET name = nullif(?2, ''), updated_at = ?3 WHERE person_id = ?1"
#define SQL_FACE_OF_PERSON "SELECT 1 FROM faces WHERE face_id = ?1 AND person_id = ?2"
#define SQL_PERSON_COVER \
    "UPDATE people SET cover_face = nullif(CAST(?2 AS BIGINT), 0), updated_at = ?3"\
    " WHERE person_id = ?1"
#define SQL_PERSON_RELEASE \
    "UPDATE faces SET person_id = NULL, assigned = 2, updated_at = ?2 WHERE person_id = ?1"
/* person_id, name, cover_face, created_at, updated_at, faces, images, cover
 * (META_PERSON_NCOLS; the first 5 alone from SQL_PEOPLE_NAMED) */

#define SQL_PERSON_SELECT \
    "SELECT p.person_id, p.name, p.cover_face, p.created_at, p.updated_at,"\
    " (SELECT count(*) FROM faces f WHERE f.person_id = p.person_id) AS nf,"\
    " (SELECT count(DISTINCT image_rowid) FROM faces f WHERE f.person_id = p.person_id) AS ni,"\
    " coalesce((SELECT face_id FROM faces f WHERE f.face_id = p.cover_face AND"\
    "  f.person_id = p.person_id), (SELECT face_id FROM faces f WHERE f.person_id ="\
    "  p.person_id ORDER BY f.w * f.h DESC, f.face_id LIMIT 1), 0) AS cv FROM people p"
#define SQL_PERSON_GET SQL_PERSON_SELECT " WHERE p.person_id = ?1"
#define SQL_PEOPLE_LIST \
    "SELECT * FROM (" SQL_PERSON_SELECT ") AS t WHERE nf >= ?1 OR name IS NOT NULL"\
    " ORDER BY nf DESC, person_id LIMIT ?2 OFFSET ?3"
#define SQL_PEOPLE_TOTAL \
    "SELECT count(*) FROM people p WHERE p.name IS NOT NULL OR"\
    " (SELECT count(*) FROM faces f WHERE f.person_id = p.person_id) >= ?1"
#define SQL_PEOPLE_NAMED \
    "SELECT person_id, name, cover_face, created_at, updated_at FROM people"\
    " WHERE name IS NOT NULL ORDER BY person_id"
/* face_id, image_rowid, face_index, x, y, w, h, person_id, assigned,
 * updated_at, image id */
#define SQL_PERSON_FACES \
    "SELECT f.face_id, f.image_rowid, f.face_index, f.x, f.y, f.w, f.h, f.person_id,"\
    " f.assigned, f.updated_at, i.id FROM faces f JOIN images i ON i.rowid = f.image_rowid"\
    " WHERE f.person_id = ?1 ORDER BY f.w * f.h DESC, f.face_id LIMIT ?2 OFFSET ?3"
#define SQL_PERSON_FACES_COUNT "SELECT count(*) FROM faces WHERE person_id = ?1"
#define SQL_PERSON_IMAGES \
    "SELECT " META_IMAGE_COLS " FROM images WHERE rowid IN (SELECT image_rowid FROM faces"\
    " WHERE person_id = ?1) ORDER BY rowid DESC LIMIT ?2 OFFSET ?3"
#define SQL_PERSON_IMAGES_COUNT \
    "SELECT count(DISTINCT image_rowid) FROM faces WHERE person_id = ?1"
/* The face feed (meta_face_changes), keyset pages over (stamp, face_id). */
#define SQL_FACE_CHANGES \
    "SELECT " FACE_COLS " FROM faces WHERE model = ?1 AND"\
    " (updated_at, face_id) > (?2, ?3) ORDER BY updated_at, face_id LIMIT ?4"
#define SQL_FACE_TOMBSTONES \
    "SELECT face_id, deleted_at FROM face_tombstones WHERE model = ?1 AND"\
    " (deleted_at, face_id) > (?2, ?3) ORDER BY deleted_at, face_id LIMIT ?4"
#define SQL_TOMBSTONE_PRUNE "DELETE FROM face_tombstones WHERE deleted_at < ?1"
/* Jobs without items (a re-cluster). */
#define SQL_JOB_SET \
    "UPDATE jobs SET status = ?2, done = ?3, total = ?4, error = ?5,"\
    " failed = CASE WHEN ?2 = 'failed' THEN 1 ELSE 0 END, updated_at = ?6 WHERE id = ?1"

#endif
