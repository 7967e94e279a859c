/* meta_sqlite.c -- the metadata store on SQLite (see meta.h for the contract).
 *
 * Connection: one per meta_db, opened without SQLite's own mutex
 * (SQLITE_OPEN_NOMUTEX) because every public function takes SQ(db)->lock for its
 * whole duration; that also makes "read, decide, write" sequences such as
 * claiming an item atomic with respect to the other threads. Across processes
 * (the CLI next to the server) atomicity comes from BEGIN IMMEDIATE, which
 * takes the write lock before the first read, and busy_timeout makes the
 * loser wait instead of failing.
 *
 * Durability: journal_mode=WAL with synchronous=FULL, so every COMMIT has
 * been fsynced when it returns. That is what lets the upload path acknowledge
 * an upload only after meta_upload_commit returns. WAL also lets readers in
 * other processes proceed while we write. The one exception is claims and
 * stage records, committed with synchronous=NORMAL (see relaxed_sync).
 *
 * Schema: versioned by PRAGMA user_version. migrations[i] takes a database
 * from version i to i+1; each runs in its own transaction together with the
 * user_version bump, so a crash mid-migration leaves the previous version
 * intact. A database newer than this build is refused rather than guessed at.
 *
 *   v1  images        one row per upload; rowid is INTEGER PRIMARY KEY
 *                     AUTOINCREMENT so a deleted image's rowid is never reused
 *                     (ANN indexes use rowids as labels: a stale label must
 *                     never point at a different image)
 *       jobs          counters total/done/failed; kind upload|reindex
 *       job_items     job x image, status pending|running|done|failed,
 *                     attempts, the stage last entered, the error message;
 *                     seq (INTEGER PRIMARY KEY) gives FIFO claim order
 *       image_vectors (model, image_rowid) -> float32 blob, WITHOUT ROWID so
 *                     that a model's vectors are contiguous, in rowid order
 *   v3  api_keys      id, name, scopes ("read,write"), salt and hash of the
 *                     secret (never the secret), created/last used/revoked
 *       images_fts    FTS5 (porter stemming over unicode61 with diacritics
 *                     removed) over filename, caption, tags, text, exif,
 *                     colours. It keeps its own copy of the text because the
 *                     indexed text is derived (labels pulled out of JSON,
 *                     filenames split into words), not a copy of a column.
 *
 *   v2  images_updated index (the change feed by time, meta_image_each_since)
 *
 *   v3  faces         one row per described face: face_id (INTEGER PRIMARY KEY
 *                     AUTOINCREMENT: an identity never reused, for people
 *                     later), image_rowid, face_index into faces_json,
 *                     model, box in original pixels, float32 descriptor.
 *                     Replaced per image and model by meta_faces_put, which
 *                     keeps the face_id of a face that stayed in place.
 *
 *   v4  api_keys (http/auth): salted hashes of API keys, revoked ones kept
 *
 *   v5  people        person_id (AUTOINCREMENT), name, cover_face; faces
 *                     gain person_id (ON DELETE SET NULL) and assigned
 *                     (new / by clustering / by a user). face_tombstones:
 *                     one row per deleted face (trigger faces_deleted,
 *                     which also deletes a person left without faces), so
 *                     the people service's change feed sees deletions made
 *                     by any process; pruned after a week. jobs rebuilt to
 *                     allow kind 'recluster' (a job without items).
 *
 *   v6  the change feed by sequence: images.seq, feed_clock (one row, the
 *       last sequence given out), image_deletions (seq, rowid); kept by
 *       triggers so that every writer, this build or a CLI, numbers rows.
 *
 * Foreign keys (ON DELETE CASCADE) remove an image's items, vectors and
 * faces with it; the FTS row is removed explicitly in the same transaction.
 *
 * Statements are prepared once, lazily, and kept (SQLITE_PREPARE_PERSISTENT);
 * after each use they are reset and their bindings cleared. */
#include "store/meta_backend.h"
#include "store/meta_sql.h"

#include <ctype.h>
#include <jansson.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "core/log.h"

/* ---- schema ------------------------------------------------------------ */

static const char *const migrations[] = {
    /* v0 -> v1 */
    "CREATE TABLE images ("
    "  rowid        INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  id           TEXT NOT NULL UNIQUE,"
    "  sha256       TEXT NOT NULL,"
    "  thumb_sha256 TEXT NOT NULL DEFAULT '',"
    "  filename     TEXT NOT NULL,"
    "  format       TEXT NOT NULL,"
    "  bytes        INTEGER NOT NULL,"
    "  width        INTEGER NOT NULL DEFAULT 0,"
    "  height       INTEGER NOT NULL DEFAULT 0,"
    "  exif_json    TEXT,"
    "  taken_at     INTEGER NOT NULL DEFAULT 0,"
    "  colors_json  TEXT,"
    "  caption      TEXT,"
    "  tags_json    TEXT,"
    "  faces_json   TEXT,"
    "  text         TEXT,"
    "  text_json    TEXT,"
    "  phash        INTEGER,"
    "  status       TEXT NOT NULL DEFAULT 'pending'"
    "               CHECK (status IN ('pending','ready','failed')),"
    "  created_at   INTEGER NOT NULL,"
    "  updated_at   INTEGER NOT NULL"
    ");"
    "CREATE INDEX images_sha ON images(sha256);"
    "CREATE INDEX images_thumb ON images(thumb_sha256);"
    "CREATE INDEX images_status ON images(status);"
    "CREATE TABLE jobs ("
    "  id         TEXT PRIMARY KEY,"
    "  kind       TEXT NOT NULL CHECK (kind IN ('upload','reindex')),"
    "  status     TEXT NOT NULL DEFAULT 'pending'"
    "             CHECK (status IN ('pending','running','completed','failed')),"
    "  total      INTEGER NOT NULL,"
    "  done       INTEGER NOT NULL DEFAULT 0,"
    "  failed     INTEGER NOT NULL DEFAULT 0,"
    "  error      TEXT,"
    "  created_at INTEGER NOT NULL,"
    "  updated_at INTEGER NOT NULL"
    ");"
    "CREATE INDEX jobs_created ON jobs(created_at);"
    "CREATE INDEX jobs_status ON jobs(status);"
    "CREATE TABLE job_items ("
    "  seq        INTEGER PRIMARY KEY,"
    "  job_id     TEXT NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,"
    "  image_id   TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE,"
    "  status     TEXT NOT NULL DEFAULT 'pending'"
    "             CHECK (status IN ('pending','running','done','failed')),"
    "  attempts   INTEGER NOT NULL DEFAULT 0,"
    "  stage      TEXT NOT NULL DEFAULT '',"
    "  error      TEXT,"
    "  updated_at INTEGER NOT NULL,"
    "  UNIQUE (job_id, image_id)"
    ");"
    "CREATE INDEX job_items_status ON job_items(status, seq);"
    "CREATE INDEX job_items_image ON job_items(image_id);"
    "CREATE TABLE image_vectors ("
    "  model       TEXT NOT NULL,"
    "  image_rowid INTEGER NOT NULL REFERENCES images(rowid) ON DELETE CASCADE,"
    "  dim         INTEGER NOT NULL,"
    "  vec         BLOB NOT NULL,"
    "  updated_at  INTEGER NOT NULL,"
    "  PRIMARY KEY (model, image_rowid)"
    ") WITHOUT ROWID;"
    "CREATE INDEX image_vectors_image ON image_vectors(image_rowid);"
    "CREATE VIRTUAL TABLE images_fts USING fts5("
    "  filename, caption, tags, text, exif, colors,"
    "  tokenize = 'porter unicode61 remove_diacritics 2'"
    ");",
    /* v1 -> v2: the search catalog's change feed reads rows by updated_at. */
    "CREATE INDEX images_updated ON images(updated_at, rowid);",
    /* v2 -> v3: face descriptors (age/gender model), with a stable face id. */
    "CREATE TABLE faces ("
    "  face_id     INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  image_rowid INTEGER NOT NULL REFERENCES images(rowid) ON DELETE CASCADE,"
    "  face_index  INTEGER NOT NULL,"
    "  model       TEXT NOT NULL,"
    "  x INTEGER NOT NULL, y INTEGER NOT NULL, w INTEGER NOT NULL, h INTEGER NOT NULL,"
    "  dim         INTEGER NOT NULL,"
    "  vec         BLOB NOT NULL,"
    "  created_at  INTEGER NOT NULL,"
    "  updated_at  INTEGER NOT NULL"
    ");"
    "CREATE INDEX faces_image ON faces(image_rowid, model);"
    "CREATE INDEX faces_model ON faces(model, face_id);",
    /* v3 -> v4: API keys (http/auth). Only a salted hash of each secret is
     * kept; a revoked key stays listed (revoked_at) so that audit lines
     * naming its id can still be resolved. */
    "CREATE TABLE api_keys ("
    "  id           TEXT PRIMARY KEY,"
    "  name         TEXT NOT NULL,"
    "  scopes       TEXT NOT NULL,"
    "  salt         TEXT NOT NULL,"
    "  hash         TEXT NOT NULL,"
    "  created_at   INTEGER NOT NULL,"
    "  last_used_at INTEGER NOT NULL DEFAULT 0,"
    "  revoked_at   INTEGER NOT NULL DEFAULT 0"
    ");",
    /* v4 -> v5: people (issue 10). Faces get a person and how they got it;
     * deleted faces leave a tombstone for the people service's change feed
     * and take an emptied person with them; jobs may be re-clusters (the
     * table is rebuilt for its CHECK, with foreign keys off: see migrate). */
    "CREATE TABLE people ("
    "  person_id  INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  name       TEXT,"
    "  cover_face INTEGER,"
    "  created_at INTEGER NOT NULL,"
    "  updated_at INTEGER NOT NULL"
    ");"
    "CREATE INDEX people_updated ON people(updated_at);"
    "ALTER TABLE faces ADD COLUMN person_id INTEGER REFERENCES people(person_id) ON DELETE SET NULL;"
    "ALTER TABLE faces ADD COLUMN assigned INTEGER NOT NULL DEFAULT 0;"
    "CREATE INDEX faces_person ON faces(person_id);"
    "CREATE INDEX faces_updated ON faces(model, updated_at, face_id);"
    "CREATE TABLE face_tombstones ("
    "  face_id    INTEGER PRIMARY KEY,"
    "  model      TEXT NOT NULL,"
    "  deleted_at INTEGER NOT NULL"
    ");"
    "CREATE INDEX face_tombstones_at ON face_tombstones(model, deleted_at);"
    "CREATE TRIGGER faces_deleted AFTER DELETE ON faces BEGIN"
    "  INSERT OR REPLACE INTO face_tombstones(face_id, model, deleted_at)"
    "    VALUES (OLD.face_id, OLD.model, CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER));"
    "  DELETE FROM people WHERE person_id = OLD.person_id AND NOT EXISTS"
    "    (SELECT 1 FROM faces WHERE faces.person_id = OLD.person_id);"
    "END;"
    "CREATE TABLE jobs_v5 ("
    "  id         TEXT PRIMARY KEY,"
    "  kind       TEXT NOT NULL CHECK (kind IN ('upload','reindex','recluster')),"
    "  status     TEXT NOT NULL DEFAULT 'pending'"
    "             CHECK (status IN ('pending','running','completed','failed')),"
    "  total      INTEGER NOT NULL,"
    "  done       INTEGER NOT NULL DEFAULT 0,"
    "  failed     INTEGER NOT NULL DEFAULT 0,"
    "  error      TEXT,"
    "  created_at INTEGER NOT NULL,"
    "  updated_at INTEGER NOT NULL"
    ");"
    "INSERT INTO jobs_v5 SELECT id, kind, status, total, done, failed, error, created_at,"
    "  updated_at FROM jobs;"
    "DROP TABLE jobs;"
    "ALTER TABLE jobs_v5 RENAME TO jobs;"
    "CREATE INDEX jobs_created ON jobs(created_at);"
    "CREATE INDEX jobs_status ON jobs(status);",
    /* v5 -> v6: the change feed by sequence (meta_feed_read). Triggers give
     * every written row the next value of feed_clock and log every delete;
     * SQLite has one writer at a time, so sequence order is commit order.
     * Existing rows are numbered by rowid. */
    "ALTER TABLE images ADD COLUMN seq INTEGER NOT NULL DEFAULT 0;"
    "UPDATE images SET seq = rowid;"
    "CREATE INDEX images_seq ON images(seq);"
    "CREATE TABLE feed_clock (id INTEGER PRIMARY KEY CHECK (id = 1), seq INTEGER NOT NULL);"
    "INSERT INTO feed_clock VALUES (1, (SELECT coalesce(max(rowid), 0) FROM images));"
    "CREATE TABLE image_deletions ("
    "  seq INTEGER PRIMARY KEY, image_rowid INTEGER NOT NULL, deleted_at INTEGER NOT NULL);"
    "CREATE TRIGGER images_feed_insert AFTER INSERT ON images BEGIN"
    "  UPDATE feed_clock SET seq = seq + 1;"
    "  UPDATE images SET seq = (SELECT seq FROM feed_clock) WHERE rowid = NEW.rowid;"
    "END;"
    "CREATE TRIGGER images_feed_update AFTER UPDATE ON images WHEN NEW.seq = OLD.seq BEGIN"
    "  UPDATE feed_clock SET seq = seq + 1;"
    "  UPDATE images SET seq = (SELECT seq FROM feed_clock) WHERE rowid = NEW.rowid;"
    "END;"
    "CREATE TRIGGER images_feed_delete AFTER DELETE ON images BEGIN"
    "  UPDATE feed_clock SET seq = seq + 1;"
    "  INSERT INTO image_deletions(seq, image_rowid, deleted_at)"
    "    SELECT seq, OLD.rowid, OLD.updated_at FROM feed_clock;"
    "END;",
};
#define SCHEMA_LATEST ((int)(sizeof migrations / sizeof *migrations))

/* BM25 column weights, in images_fts column order: what a model saw or read
 * (caption, tags) counts more than incidental words (filename, EXIF). */
#define FTS_WEIGHTS "1.0, 2.0, 2.0, 1.5, 1.0, 1.0"

/* ---- statements -------------------------------------------------------- */

#define IMAGE_COLS META_IMAGE_COLS

enum {
    S_BEGIN, S_COMMIT, S_ROLLBACK, S_SYNC_NORMAL, S_SYNC_FULL,
    S_IMG_INSERT, S_IMG_BY_ID, S_IMG_BY_ROWID, S_IMG_LIST, S_IMG_COUNT, S_IMG_UPDATE,
    S_IMG_KEY, S_IMG_SET_STATUS, S_IMG_DELETE, S_SHA_IN_USE,
    S_FTS_DELETE, S_FTS_INSERT, S_FTS_SEARCH,
    S_VEC_PUT, S_VEC_CHUNK,
    S_FACE_OLD, S_FACE_INSERT, S_FACE_UPDATE, S_FACE_DELETE, S_FACE_OF_IMAGE, S_FACE_BY_ID,
    S_FACE_CHUNK, S_FACE_COUNT, S_IMG_EXISTS,
    S_JOB_INSERT, S_JOB_GET, S_JOB_LIST, S_JOB_ERRORS, S_JOB_RUNNING, S_JOB_COUNT,
    S_JOB_SETTLE, S_JOB_TOTAL, S_JOB_FAIL, S_JOB_FAIL_ITEMS, S_JOB_FAIL_IMAGES,
    S_ITEM_INSERT, S_ITEM_INSERT_ALL, S_ITEM_NEXT, S_ITEM_START, S_ITEM_STAGE, S_ITEM_FINISH,
    S_ITEM_RUNNING, S_ITEM_REQUEUE, S_DEL_ADJUST, S_DEL_SETTLE,
    S_STAT_IMAGES, S_STAT_JOBS, S_STAT_ITEMS,
    S_KEY_INSERT, S_KEY_GET, S_KEY_LIST, S_KEY_REVOKE, S_KEY_TOUCH, S_KEY_ACTIVE,
    S_COUNT
};

static const char *const sql_text[S_COUNT] = {
    [S_BEGIN] = "BEGIN IMMEDIATE",
    [S_COMMIT] = "COMMIT",
    [S_ROLLBACK] = "ROLLBACK",
    [S_SYNC_NORMAL] = "PRAGMA synchronous = NORMAL",
    [S_SYNC_FULL] = "PRAGMA synchronous = FULL",
    [S_IMG_INSERT] = "INSERT INTO images(id, sha256, filename, format, bytes, created_at, "
                     "updated_at) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?6)",
    [S_IMG_BY_ID] = SQL_IMG_BY_ID,
    [S_IMG_BY_ROWID] = SQL_IMG_BY_ROWID,
    [S_IMG_LIST] = SQL_IMG_LIST,
    [S_IMG_COUNT] = SQL_IMG_COUNT,
    [S_IMG_UPDATE] = SQL_IMG_UPDATE,
    [S_IMG_KEY] = SQL_IMG_KEY,
    /* ok: ready. Failed: failed, except that an image already ready keeps its
     * earlier facts searchable (a failed re-index must not hide it). */
    [S_IMG_SET_STATUS] = SQL_IMG_SET_STATUS,
    [S_IMG_DELETE] = SQL_IMG_DELETE,
    [S_SHA_IN_USE] = SQL_SHA_IN_USE,
    [S_FTS_DELETE] = "DELETE FROM images_fts WHERE rowid = ?1",
    [S_FTS_INSERT] = "INSERT INTO images_fts(rowid, filename, caption, tags, text, exif, colors)"
                     " VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    [S_FTS_SEARCH] = "SELECT images.rowid, images.id, bm25(images_fts, " FTS_WEIGHTS ") AS s"
                     " FROM images_fts JOIN images ON images.rowid = images_fts.rowid"
                     " WHERE images_fts MATCH ?1 ORDER BY s, images.rowid DESC LIMIT ?2",
    [S_VEC_PUT] = SQL_VEC_PUT,
    [S_VEC_CHUNK] = SQL_VEC_CHUNK,
    [S_FACE_OLD] = SQL_FACE_OLD,
    [S_FACE_INSERT] = SQL_FACE_INSERT,
    [S_FACE_UPDATE] = SQL_FACE_UPDATE,
    [S_FACE_DELETE] = SQL_FACE_DELETE,
    [S_FACE_OF_IMAGE] = SQL_FACE_OF_IMAGE,
    [S_FACE_BY_ID] = SQL_FACE_BY_ID,
    [S_FACE_CHUNK] = SQL_FACE_CHUNK,
    [S_FACE_COUNT] = SQL_FACE_COUNT,
    [S_IMG_EXISTS] = SQL_IMG_EXISTS,
    [S_JOB_INSERT] = SQL_JOB_INSERT,
    [S_JOB_GET] = SQL_JOB_GET,
    [S_JOB_LIST] = "SELECT id, status, total, done, failed, created_at, updated_at, error"
                   " FROM jobs ORDER BY created_at DESC, rowid DESC LIMIT ?1",
    [S_JOB_ERRORS] = SQL_JOB_ERRORS,
    [S_JOB_RUNNING] = SQL_JOB_RUNNING,
    [S_JOB_COUNT] = SQL_JOB_COUNT,
    [S_JOB_SETTLE] = SQL_JOB_SETTLE,
    [S_JOB_TOTAL] = SQL_JOB_TOTAL,
    [S_JOB_FAIL] = SQL_JOB_FAIL,
    [S_JOB_FAIL_ITEMS] = SQL_JOB_FAIL_ITEMS,
    [S_JOB_FAIL_IMAGES] = SQL_JOB_FAIL_IMAGES,
    [S_ITEM_INSERT] = SQL_ITEM_INSERT,
    [S_ITEM_INSERT_ALL] = SQL_ITEM_INSERT_ALL,
    [S_ITEM_NEXT] = "SELECT seq, job_id, image_id, attempts FROM job_items"
                    " WHERE status = 'pending' ORDER BY seq LIMIT 1",
    [S_ITEM_START] = "UPDATE job_items SET status = 'running', attempts = attempts + 1,"
                     " stage = '', error = NULL, updated_at = ?2 WHERE seq = ?1",
    [S_ITEM_STAGE] = "UPDATE job_items SET stage = ?4, updated_at = ?5 WHERE job_id = ?1 AND"
                     " image_id = ?2 AND attempts = ?3 AND status = 'running'",
    [S_ITEM_FINISH] = SQL_ITEM_FINISH,
    [S_ITEM_RUNNING] = SQL_ITEM_RUNNING,
    [S_ITEM_REQUEUE] = SQL_ITEM_REQUEUE,
    /* An image deleted before its item finished leaves its jobs: the item
     * is no longer part of the work, so the job's total shrinks. Finished
     * items stay counted (they were processed: history). */
    [S_DEL_ADJUST] = SQL_DEL_ADJUST,
    [S_DEL_SETTLE] = SQL_DEL_SETTLE,
    [S_STAT_IMAGES] = SQL_STAT_IMAGES,
    [S_STAT_JOBS] = SQL_STAT_JOBS,
    [S_STAT_ITEMS] = SQL_STAT_ITEMS,
    [S_KEY_INSERT] = SQL_KEY_INSERT,
    [S_KEY_GET] = SQL_KEY_GET,
    [S_KEY_LIST] = SQL_KEY_LIST,
    [S_KEY_REVOKE] = SQL_KEY_REVOKE,
    [S_KEY_TOUCH] = "UPDATE api_keys SET last_used_at = max(last_used_at, ?2) WHERE id = ?1",
    [S_KEY_ACTIVE] = SQL_KEY_ACTIVE,
};

typedef struct sq_db {
    meta_db base;               /* first: the handle callers hold */
    sqlite3 *conn;
    pthread_mutex_t lock;
    sqlite3_stmt *stmt[S_COUNT];
    uint64_t people_writes;     /* commits of ours that touched faces or people */
} sq_db;
#define SQ(db) ((sq_db *)(db))

/* ---- error and statement helpers ---------------------------------------- */

static int code_of(int src) {
    switch (src & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED: return SCRY_EBUSY;
    case SQLITE_CONSTRAINT: return SCRY_EINVAL;
    case SQLITE_NOMEM: return SCRY_ENOMEM;
    case SQLITE_FULL: return SCRY_ENOSPC;
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB: return SCRY_ECORRUPT;
    default: return SCRY_EIO;
    }
}

static int db_fail(meta_db *db, scry_err *err, int src, const char *what) {
    return scry_fail(err, code_of(src), "sqlite %s: %s", what, sqlite3_errmsg(SQ(db)->conn));
}

/* The prepared statement for id, reset and ready to bind; NULL on failure. */
static sqlite3_stmt *st(meta_db *db, int id, scry_err *err) {
    if (!SQ(db)->stmt[id]) {
        int src = sqlite3_prepare_v3(SQ(db)->conn, sql_text[id], -1, SQLITE_PREPARE_PERSISTENT,
                                     &SQ(db)->stmt[id], NULL);
        if (src != SQLITE_OK) {
            db_fail(db, err, src, "prepare");
            SQ(db)->stmt[id] = NULL;
            return NULL;
        }
    }
    return SQ(db)->stmt[id];
}

static void done(sqlite3_stmt *s) {
    if (!s) return;
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
}

/* Bind a NUL-terminated string or NULL. */
static void bind_text(sqlite3_stmt *s, int i, const char *v) {
    if (v) sqlite3_bind_text(s, i, v, -1, SQLITE_TRANSIENT);
    else sqlite3_bind_null(s, i);
}

/* Run a statement that returns no rows (already bound); resets it. */
static int run(meta_db *db, sqlite3_stmt *s, const char *what, scry_err *err) {
    int src = sqlite3_step(s);
    int rc = (src == SQLITE_DONE || src == SQLITE_ROW) ? SCRY_OK : db_fail(db, err, src, what);
    done(s);
    return rc;
}

static int run_simple(meta_db *db, int id, scry_err *err) {
    sqlite3_stmt *s = st(db, id, err);
    if (!s) return err ? err->code : SCRY_EIO;
    return run(db, s, sql_text[id], err);
}

static int tx_begin(meta_db *db, scry_err *err) { return run_simple(db, S_BEGIN, err); }
static int tx_commit(meta_db *db, scry_err *err) { return run_simple(db, S_COMMIT, err); }
static void tx_rollback(meta_db *db) {
    if (!sqlite3_get_autocommit(SQ(db)->conn)) run_simple(db, S_ROLLBACK, NULL);
}

/* Claiming an item and recording its stage are bookkeeping that crash
 * recovery already tolerates losing: if a power cut undoes a claim, the item
 * is simply pending again; if it undoes a stage, recovery names the previous
 * stage. So these commits run with synchronous=NORMAL, which in WAL mode is
 * still atomic and survives a *process* crash (the frames are in the OS page
 * cache), the case stage attribution exists for; only an OS crash or power
 * cut can lose them. The next FULL commit fsyncs the WAL, earlier frames
 * included. This saves an fsync per claim and per stage (measured in
 * bench/store). Everything else commits with synchronous=FULL. */
static void relaxed_sync(meta_db *db, int on) {
    run_simple(db, on ? S_SYNC_NORMAL : S_SYNC_FULL, NULL);
}

/* Statement preparation failed: err is filled by st(). */
#define PREP_FAILED (err && err->code ? err->code : SCRY_EIO)

static char *col_dup(sqlite3_stmt *s, int i) {
    const unsigned char *t = sqlite3_column_text(s, i);
    return t ? strdup((const char *)t) : NULL;
}

static void col_copy(sqlite3_stmt *s, int i, char *dst, size_t cap) {
    const unsigned char *t = sqlite3_column_text(s, i);
    snprintf(dst, cap, "%s", t ? (const char *)t : "");
}

static void lock(meta_db *db) { pthread_mutex_lock(&SQ(db)->lock); }
static void unlock(meta_db *db) { pthread_mutex_unlock(&SQ(db)->lock); }

/* Replace the FTS row of an image with one derived from these facts. Inside
 * the caller's transaction. */
static int fts_refresh(meta_db *db, int64_t rowid, const char *filename, const image_rec *r,
                       scry_err *err) {
    sqlite3_stmt *s = st(db, S_FTS_DELETE, err);
    if (!s) return PREP_FAILED;
    sqlite3_bind_int64(s, 1, rowid);
    int rc = run(db, s, "fts delete", err);
    if (rc != SCRY_OK) return rc;
    meta_fts_doc d;
    if ((rc = meta_fts_doc_make(&d, filename, r, err)) != SCRY_OK) return rc;
    if (!(s = st(db, S_FTS_INSERT, err))) {
        rc = PREP_FAILED;
    } else {
        sqlite3_bind_int64(s, 1, rowid);
        bind_text(s, 2, d.filename);
        bind_text(s, 3, r ? r->caption : NULL);
        bind_text(s, 4, d.tags);
        bind_text(s, 5, r ? r->text : NULL);
        bind_text(s, 6, d.exif);
        bind_text(s, 7, d.colors);
        rc = run(db, s, "fts insert", err);
    }
    meta_fts_doc_free(&d);
    return rc;
}

/* ---- open / close / migrate --------------------------------------------- */

static int pragma_int(meta_db *db, const char *sql, int *out) {
    sqlite3_stmt *s;
    int src = sqlite3_prepare_v2(SQ(db)->conn, sql, -1, &s, NULL);
    if (src != SQLITE_OK) return src;
    src = sqlite3_step(s);
    if (src == SQLITE_ROW) {
        *out = sqlite3_column_int(s, 0);
        src = SQLITE_OK;
    }
    sqlite3_finalize(s);
    return src;
}

/* A migration may rebuild a table (SQLite cannot alter a CHECK): with
 * foreign keys on, dropping the old table would cascade into its children.
 * So they are off while migrating -- which must be set outside a
 * transaction -- and checked (PRAGMA foreign_key_check) before they are
 * turned back on. */
static int migrate_steps(meta_db *db, scry_err *err);

static int migrate(meta_db *db, scry_err *err) {
    int version = 0, src;
    if ((src = pragma_int(db, "PRAGMA user_version", &version)) != SQLITE_OK)
        return db_fail(db, err, src, "read user_version");
    if (version >= SCHEMA_LATEST) return migrate_steps(db, err);
    sqlite3_exec(SQ(db)->conn, "PRAGMA foreign_keys = OFF", NULL, NULL, NULL);
    int rc = migrate_steps(db, err);
    int broken = 0;
    /* pragma_int is SQLITE_OK only when the check returned a row: a violation */
    if (rc == SCRY_OK && pragma_int(db, "PRAGMA foreign_key_check", &broken) == SQLITE_OK)
        rc = scry_fail(err, SCRY_ECORRUPT, "foreign key check failed after migrating the schema");
    sqlite3_exec(SQ(db)->conn, "PRAGMA foreign_keys = ON", NULL, NULL, NULL);
    return rc;
}

static int migrate_steps(meta_db *db, scry_err *err) {
    int version = 0, src;
    if ((src = pragma_int(db, "PRAGMA user_version", &version)) != SQLITE_OK)
        return db_fail(db, err, src, "read user_version");
    if (version > SCHEMA_LATEST)
        return scry_fail(err, SCRY_EUNSUPPORTED,
                         "database schema v%d is newer than this build (v%d)", version,
                         SCHEMA_LATEST);
    while (version < SCHEMA_LATEST) {
        int rc = tx_begin(db, err);
        if (rc != SCRY_OK) return rc;
        /* Another process may have migrated while we waited for the lock. */
        if ((src = pragma_int(db, "PRAGMA user_version", &version)) != SQLITE_OK) {
            tx_rollback(db);
            return db_fail(db, err, src, "read user_version");
        }
        if (version >= SCHEMA_LATEST) {
            tx_rollback(db);
            break;
        }
        char bump[64];
        snprintf(bump, sizeof bump, "PRAGMA user_version = %d", version + 1);
        if ((src = sqlite3_exec(SQ(db)->conn, migrations[version], NULL, NULL, NULL)) != SQLITE_OK ||
            (src = sqlite3_exec(SQ(db)->conn, bump, NULL, NULL, NULL)) != SQLITE_OK) {
            rc = scry_fail(err, code_of(src), "migrating schema to v%d: %s", version + 1,
                           sqlite3_errmsg(SQ(db)->conn));
            tx_rollback(db);
            return rc;
        }
        if ((rc = tx_commit(db, err)) != SCRY_OK) {
            tx_rollback(db);
            return rc;
        }
        version++;
        log_info("meta.migrated", "version=%d", version);
    }
    return SCRY_OK;
}

static void sq_close(meta_db *db) {
    if (!db) return;
    if (SQ(db)->conn) {
        for (int i = 0; i < S_COUNT; i++) sqlite3_finalize(SQ(db)->stmt[i]);
        sqlite3_exec(SQ(db)->conn, "PRAGMA optimize", NULL, NULL, NULL);
        sqlite3_close(SQ(db)->conn);
    }
    pthread_mutex_destroy(&SQ(db)->lock);
    free(db);
}

static const meta_ops sqlite_ops;

int meta_sqlite_open(meta_db **out, const char *location, scry_err *err) {
    *out = NULL;
    meta_db *db = calloc(1, sizeof(sq_db));
    if (!db) return scry_fail(err, SCRY_ENOMEM, "out of memory (meta_db)");
    db->ops = &sqlite_ops;
    pthread_mutex_init(&SQ(db)->lock, NULL);
    int src = sqlite3_open_v2(location, &SQ(db)->conn,
                              SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                              NULL);
    if (src != SQLITE_OK) {
        int rc = scry_fail(err, code_of(src) == SCRY_ECORRUPT ? SCRY_ECORRUPT : SCRY_EIO,
                           "open %s: %s", location,
                           SQ(db)->conn ? sqlite3_errmsg(SQ(db)->conn) : sqlite3_errstr(src));
        sq_close(db);
        return rc;
    }
    sqlite3_extended_result_codes(SQ(db)->conn, 1);
    sqlite3_busy_timeout(SQ(db)->conn, 10000);
    char *emsg = NULL;
    if ((src = sqlite3_exec(SQ(db)->conn,
                            "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;"
                            " PRAGMA foreign_keys = ON;",
                            NULL, NULL, &emsg)) != SQLITE_OK) {
        int rc = scry_fail(err, code_of(src), "configure %s: %s", location,
                           emsg ? emsg : sqlite3_errstr(src));
        sqlite3_free(emsg);
        sq_close(db);
        return rc;
    }
    int fk = 0;
    if (pragma_int(db, "PRAGMA foreign_keys", &fk) != SQLITE_OK || fk != 1) {
        sq_close(db);
        return scry_fail(err, SCRY_EIO, "open %s: foreign keys unavailable", location);
    }
    int rc = migrate(db, err);
    if (rc != SCRY_OK) {
        sq_close(db);
        return rc;
    }
    /* Tombstones only serve change feeds that are at most a few seconds
     * behind (a restart re-reads everything): a week is plenty. */
    sqlite3_stmt *prune = NULL;
    if (sqlite3_prepare_v2(SQ(db)->conn, SQL_TOMBSTONE_PRUNE, -1, &prune, NULL) == SQLITE_OK) {
        sqlite3_bind_int64(prune, 1, scry_now_ms() - META_TOMBSTONE_KEEP_MS);
        sqlite3_step(prune);     /* best effort: busy or read-only is fine */
    }
    sqlite3_finalize(prune);
    *out = db;
    return SCRY_OK;
}

static int sq_schema_version(meta_db *db) {
    int v = -1;
    lock(db);
    if (pragma_int(db, "PRAGMA user_version", &v) != SQLITE_OK) v = -1;
    unlock(db);
    return v;
}

/* ---- images ------------------------------------------------------------- */

/* Row (META_IMAGE_COLS order) -> rec. */
static int read_image(sqlite3_stmt *s, image_rec *r, scry_err *err) {
    const char *col[META_IMAGE_NCOLS];
    for (int i = 0; i < META_IMAGE_NCOLS; i++) col[i] = (const char *)sqlite3_column_text(s, i);
    return meta_image_decode(r, col, err);
}

static int sq_upload_commit(meta_db *db, const char *job_id, const meta_new_image *imgs, int n,
                       scry_err *err) {
    int64_t now = scry_now_ms();
    lock(db);
    int rc = tx_begin(db, err);
    if (rc != SCRY_OK) goto out;
    sqlite3_stmt *s;
    if (!(s = st(db, S_JOB_INSERT, err))) { rc = PREP_FAILED; goto fail; }
    sqlite3_bind_text(s, 1, job_id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(s, 2, "upload", -1, SQLITE_STATIC);
    sqlite3_bind_int(s, 3, n);
    sqlite3_bind_int64(s, 4, now);
    if ((rc = run(db, s, "insert job", err)) != SCRY_OK) goto fail;
    for (int i = 0; i < n; i++) {
        const meta_new_image *im = &imgs[i];
        if (!(s = st(db, S_IMG_INSERT, err))) { rc = PREP_FAILED; goto fail; }
        sqlite3_bind_text(s, 1, im->id, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(s, 2, im->sha256, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(s, 3, im->filename, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(s, 4, im->format, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(s, 5, im->bytes);
        sqlite3_bind_int64(s, 6, now);
        if ((rc = run(db, s, "insert image", err)) != SCRY_OK) goto fail;
        int64_t rowid = sqlite3_last_insert_rowid(SQ(db)->conn);
        if ((rc = fts_refresh(db, rowid, im->filename, NULL, err)) != SCRY_OK) goto fail;
        if (!(s = st(db, S_ITEM_INSERT, err))) { rc = PREP_FAILED; goto fail; }
        sqlite3_bind_text(s, 1, job_id, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(s, 2, im->id, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(s, 3, now);
        if ((rc = run(db, s, "insert item", err)) != SCRY_OK) goto fail;
    }
    if (n == 0) {   /* nothing to do: the job is complete from the start */
        if (!(s = st(db, S_JOB_SETTLE, err))) { rc = PREP_FAILED; goto fail; }
        sqlite3_bind_text(s, 1, job_id, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(s, 2, now);
        if ((rc = run(db, s, "settle job", err)) != SCRY_OK) goto fail;
    }
    if ((rc = tx_commit(db, err)) == SCRY_OK) goto out;
fail:
    tx_rollback(db);
out:
    unlock(db);
    return rc;
}

static int image_get(meta_db *db, int by, const char *id, int64_t rowid, image_rec *out,
                     scry_err *err) {
    lock(db);
    int rc;
    sqlite3_stmt *s = st(db, by, err);
    if (!s) { rc = PREP_FAILED; goto out; }
    if (by == S_IMG_BY_ID) bind_text(s, 1, id);
    else sqlite3_bind_int64(s, 1, rowid);
    int src = sqlite3_step(s);
    if (src == SQLITE_ROW) rc = read_image(s, out, err);
    else if (src == SQLITE_DONE) {
        if (by == S_IMG_BY_ID) rc = scry_fail(err, SCRY_ENOTFOUND, "image %s not found", id);
        else rc = scry_fail(err, SCRY_ENOTFOUND, "image #%lld not found", (long long)rowid);
    } else rc = db_fail(db, err, src, "get image");
    done(s);
out:
    unlock(db);
    return rc;
}

static int sq_image_get(meta_db *db, const char *id, image_rec *out, scry_err *err) {
    if (!id) return scry_fail(err, SCRY_EINVAL, "no image id");
    return image_get(db, S_IMG_BY_ID, id, 0, out, err);
}

static int sq_image_get_by_rowid(meta_db *db, int64_t rowid, image_rec *out, scry_err *err) {
    return image_get(db, S_IMG_BY_ROWID, NULL, rowid, out, err);
}

static int sq_image_list(meta_db *db, int offset, int limit, image_rec **out, int *n,
                    scry_err *err) {
    *out = NULL;
    *n = 0;
    if (offset < 0 || limit < 0) return scry_fail(err, SCRY_EINVAL, "negative offset or limit");
    if (limit == 0) return SCRY_OK;
    int cap = limit < 64 ? limit : 64;
    image_rec *recs = calloc((size_t)cap, sizeof *recs);
    if (!recs) return scry_fail(err, SCRY_ENOMEM, "out of memory (image list)");
    int got = 0, rc = SCRY_OK, src;
    lock(db);
    sqlite3_stmt *s = st(db, S_IMG_LIST, err);
    if (!s) { rc = PREP_FAILED; goto out; }
    sqlite3_bind_int(s, 1, limit);
    sqlite3_bind_int(s, 2, offset);
    while (got < limit && (src = sqlite3_step(s)) == SQLITE_ROW) {
        if (got == cap) {
            int ncap = cap * 2 < limit ? cap * 2 : limit;
            image_rec *p = realloc(recs, (size_t)ncap * sizeof *p);
            if (!p) { rc = scry_fail(err, SCRY_ENOMEM, "out of memory (image list)"); break; }
            recs = p;
            cap = ncap;
        }
        if ((rc = read_image(s, &recs[got], err)) != SCRY_OK) break;
        got++;
    }
    if (rc == SCRY_OK && got < limit && src != SQLITE_DONE) rc = db_fail(db, err, src, "list");
    done(s);
out:
    unlock(db);
    if (rc != SCRY_OK) {
        for (int i = 0; i < got; i++) image_rec_free(&recs[i]);
        free(recs);
        return rc;
    }
    if (got == 0) {
        free(recs);
        recs = NULL;
    }
    *out = recs;
    *n = got;
    return SCRY_OK;
}

static int64_t sq_image_count(meta_db *db) {
    int64_t n = -1;
    lock(db);
    sqlite3_stmt *s = st(db, S_IMG_COUNT, NULL);
    if (s && sqlite3_step(s) == SQLITE_ROW) n = sqlite3_column_int64(s, 0);
    done(s);
    unlock(db);
    return n;
}

static int faces_put_locked(meta_db *db, int64_t rowid, const meta_faces_update *u, scry_err *err);

static int sq_image_update(meta_db *db, const image_rec *r,
                                  const meta_faces_update *faces, scry_err *err) {
    int rc;
    int64_t now = scry_now_ms();
    lock(db);
    if ((rc = tx_begin(db, err)) != SCRY_OK) goto out;
    sqlite3_stmt *s = st(db, S_IMG_KEY, err);
    if (!s) { rc = PREP_FAILED; goto fail; }
    bind_text(s, 1, r->id);
    int src = sqlite3_step(s);
    if (src != SQLITE_ROW) {
        rc = src == SQLITE_DONE ? scry_fail(err, SCRY_ENOTFOUND, "image %s not found", r->id)
                                : db_fail(db, err, src, "find image");
        done(s);
        goto fail;
    }
    int64_t rowid = sqlite3_column_int64(s, 0);
    char *filename = col_dup(s, 1);
    done(s);
    if (!filename) { rc = scry_fail(err, SCRY_ENOMEM, "out of memory"); goto fail; }

    if (!(s = st(db, S_IMG_UPDATE, err))) { free(filename); rc = PREP_FAILED; goto fail; }
    bind_text(s, 1, r->id);
    sqlite3_bind_int(s, 2, r->width);
    sqlite3_bind_int(s, 3, r->height);
    bind_text(s, 4, r->exif_json);
    sqlite3_bind_int64(s, 5, r->taken_at);
    bind_text(s, 6, r->colors_json);
    bind_text(s, 7, r->caption);
    bind_text(s, 8, r->tags_json);
    bind_text(s, 9, r->faces_json);
    bind_text(s, 10, r->text);
    bind_text(s, 11, r->text_json);
    if (r->has_phash) sqlite3_bind_int64(s, 12, (int64_t)r->phash);
    else sqlite3_bind_null(s, 12);
    bind_text(s, 13, r->status);
    bind_text(s, 14, r->thumb_sha256);
    sqlite3_bind_int64(s, 15, now);
    rc = run(db, s, "update image", err);
    if (rc == SCRY_OK) rc = fts_refresh(db, rowid, filename, r, err);
    free(filename);
    if (rc == SCRY_OK && faces) rc = faces_put_locked(db, rowid, faces, err);
    if (rc != SCRY_OK) goto fail;
    if ((rc = tx_commit(db, err)) == SCRY_OK) {
        if (faces) SQ(db)->people_writes++;
        goto out;
    }
fail:
    tx_rollback(db);
out:
    unlock(db);
    return rc;
}

/* "" when no image references sha any more, else sha itself. */
static int orphan_check(meta_db *db, const char *sha, char out[SCRY_SHA256_HEX + 1],
                        scry_err *err) {
    out[0] = 0;
    if (!sha[0]) return SCRY_OK;
    sqlite3_stmt *s = st(db, S_SHA_IN_USE, err);
    if (!s) return PREP_FAILED;
    sqlite3_bind_text(s, 1, sha, -1, SQLITE_TRANSIENT);
    int src = sqlite3_step(s);
    done(s);
    if (src == SQLITE_DONE) snprintf(out, SCRY_SHA256_HEX + 1, "%s", sha);
    else if (src != SQLITE_ROW) return db_fail(db, err, src, "sha in use");
    return SCRY_OK;
}

static int sq_blob_referenced(meta_db *db, const char *sha, int *referenced, scry_err *err) {
    *referenced = 0;
    if (!sha || !*sha) return scry_fail(err, SCRY_EINVAL, "no blob name");
    char orphan[SCRY_SHA256_HEX + 1];
    lock(db);
    int rc = orphan_check(db, sha, orphan, err);
    unlock(db);
    if (rc == SCRY_OK) *referenced = orphan[0] == 0;
    return rc;
}

static int sq_image_delete(meta_db *db, const char *id, char orphan_sha[SCRY_SHA256_HEX + 1],
                      char orphan_thumb[SCRY_SHA256_HEX + 1], scry_err *err) {
    orphan_sha[0] = orphan_thumb[0] = 0;
    if (!id) return scry_fail(err, SCRY_EINVAL, "no image id");
    char sha[SCRY_SHA256_HEX + 1], thumb[SCRY_SHA256_HEX + 1];
    int64_t now = scry_now_ms();
    lock(db);
    int rc = tx_begin(db, err);
    if (rc != SCRY_OK) goto out;
    sqlite3_stmt *s = st(db, S_IMG_KEY, err);
    if (!s) { rc = PREP_FAILED; goto fail; }
    bind_text(s, 1, id);
    int src = sqlite3_step(s);
    if (src != SQLITE_ROW) {
        rc = src == SQLITE_DONE ? scry_fail(err, SCRY_ENOTFOUND, "image %s not found", id)
                                : db_fail(db, err, src, "find image");
        done(s);
        goto fail;
    }
    int64_t rowid = sqlite3_column_int64(s, 0);
    col_copy(s, 2, sha, sizeof sha);
    col_copy(s, 3, thumb, sizeof thumb);
    done(s);

    const int steps[] = {S_DEL_ADJUST, S_DEL_SETTLE};
    for (int i = 0; i < 2; i++) {
        if (!(s = st(db, steps[i], err))) { rc = PREP_FAILED; goto fail; }
        bind_text(s, 1, id);
        sqlite3_bind_int64(s, 2, now);
        if ((rc = run(db, s, "adjust jobs", err)) != SCRY_OK) goto fail;
    }
    if (!(s = st(db, S_FTS_DELETE, err))) { rc = PREP_FAILED; goto fail; }
    sqlite3_bind_int64(s, 1, rowid);
    if ((rc = run(db, s, "fts delete", err)) != SCRY_OK) goto fail;
    /* Items and vectors go with the row (ON DELETE CASCADE). */
    if (!(s = st(db, S_IMG_DELETE, err))) { rc = PREP_FAILED; goto fail; }
    bind_text(s, 1, id);
    if ((rc = run(db, s, "delete image", err)) != SCRY_OK) goto fail;
    if ((rc = orphan_check(db, sha, orphan_sha, err)) != SCRY_OK ||
        (rc = orphan_check(db, thumb, orphan_thumb, err)) != SCRY_OK)
        goto fail;
    if (!strcmp(orphan_thumb, orphan_sha)) orphan_thumb[0] = 0;  /* report a name once */
    if ((rc = tx_commit(db, err)) == SCRY_OK) {
        SQ(db)->people_writes++;     /* its faces (and maybe people) went with it */
        goto out;
    }
fail:
    tx_rollback(db);
    orphan_sha[0] = orphan_thumb[0] = 0;
out:
    unlock(db);
    return rc;
}

/* ---- keyword search ------------------------------------------------------ */

static int sq_fts_search(meta_db *db, const char *match, int limit, meta_hit **hits, int *n,
                    scry_err *err) {
    *hits = NULL;
    *n = 0;
    if (!match || limit < 0) return scry_fail(err, SCRY_EINVAL, "bad search arguments");
    if (limit == 0) return SCRY_OK;
    int cap = limit < 256 ? limit : 256, got = 0, rc = SCRY_OK, src;
    meta_hit *out = malloc((size_t)cap * sizeof *out);
    if (!out) return scry_fail(err, SCRY_ENOMEM, "out of memory (hits)");
    lock(db);
    sqlite3_stmt *s = st(db, S_FTS_SEARCH, err);
    if (!s) { rc = PREP_FAILED; goto out; }
    sqlite3_bind_text(s, 1, match, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int(s, 2, limit);
    while ((src = sqlite3_step(s)) == SQLITE_ROW) {
        if (got == cap) {
            int ncap = cap * 2 < limit ? cap * 2 : limit;
            meta_hit *p = realloc(out, (size_t)ncap * sizeof *out);
            if (!p) { rc = scry_fail(err, SCRY_ENOMEM, "out of memory (hits)"); break; }
            out = p;
            cap = ncap;
        }
        out[got].rowid = sqlite3_column_int64(s, 0);
        col_copy(s, 1, out[got].id, sizeof out[got].id);
        out[got].bm25 = -sqlite3_column_double(s, 2);
        got++;
    }
    if (rc == SCRY_OK && src != SQLITE_DONE) {
        /* A malformed expression is the caller's input, not an I/O error. */
        rc = scry_fail(err, (src & 0xff) == SQLITE_ERROR ? SCRY_EINVAL : code_of(src),
                       "search: %s", sqlite3_errmsg(SQ(db)->conn));
    }
    done(s);
out:
    unlock(db);
    if (rc != SCRY_OK || got == 0) {
        free(out);
        return rc;
    }
    *hits = out;
    *n = got;
    return SCRY_OK;
}

/* ---- vectors -------------------------------------------------------------- */

static int sq_vector_put(meta_db *db, int64_t rowid, const char *model, const float *v, int dim,
                    scry_err *err) {
    if (!model || !*model || !v || dim <= 0 || dim > 65536)
        return scry_fail(err, SCRY_EINVAL, "bad vector arguments");
    lock(db);
    int rc;
    sqlite3_stmt *s = st(db, S_VEC_PUT, err);
    if (!s) { rc = PREP_FAILED; goto out; }
    sqlite3_bind_text(s, 1, model, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(s, 2, rowid);
    sqlite3_bind_int(s, 3, dim);
    sqlite3_bind_blob(s, 4, v, dim * (int)sizeof(float), SQLITE_TRANSIENT);
    sqlite3_bind_int64(s, 5, scry_now_ms());
    int src = sqlite3_step(s);
    if (src == SQLITE_DONE) rc = SCRY_OK;
    else if (src == SQLITE_CONSTRAINT_FOREIGNKEY)
        rc = scry_fail(err, SCRY_ENOTFOUND, "image #%lld not found", (long long)rowid);
    else rc = db_fail(db, err, src, "put vector");
    done(s);
out:
    unlock(db);
    return rc;
}

#define VEC_CHUNK 256

static int sq_vector_each(meta_db *db, const char *model,
                     int (*fn)(int64_t rowid, const float *v, int dim, void *ctx), void *ctx,
                     scry_err *err) {
    if (!model || !fn) return scry_fail(err, SCRY_EINVAL, "bad vector walk arguments");
    /* Keyset pages of VEC_CHUNK rows copied out under the lock, then handed
     * to fn without it: a long walk (rebuilding an ANN index) does not stall
     * the workers, and fn may call back into this module. */
    int64_t rowids[VEC_CHUNK];
    int dims[VEC_CHUNK];
    float *vecs[VEC_CHUNK];
    int64_t after = INT64_MIN;
    for (;;) {
        int got = 0, rc = SCRY_OK, src;
        lock(db);
        sqlite3_stmt *s = st(db, S_VEC_CHUNK, err);
        if (!s) {
            unlock(db);
            return PREP_FAILED;
        }
        sqlite3_bind_text(s, 1, model, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(s, 2, after);
        sqlite3_bind_int(s, 3, VEC_CHUNK);
        while ((src = sqlite3_step(s)) == SQLITE_ROW) {
            int dim = sqlite3_column_int(s, 1);
            const void *blob = sqlite3_column_blob(s, 2);
            int bytes = sqlite3_column_bytes(s, 2);
            int64_t rowid = sqlite3_column_int64(s, 0);
            if (dim <= 0 || bytes != dim * (int)sizeof(float)) {
                rc = scry_fail(err, SCRY_ECORRUPT, "vector #%lld (%s): %d bytes for dim %d",
                               (long long)rowid, model, bytes, dim);
                break;
            }
            float *copy = malloc((size_t)bytes);
            if (!copy) { rc = scry_fail(err, SCRY_ENOMEM, "out of memory (vector)"); break; }
            memcpy(copy, blob, (size_t)bytes);
            rowids[got] = rowid;
            dims[got] = dim;
            vecs[got++] = copy;
        }
        if (rc == SCRY_OK && src != SQLITE_DONE) rc = db_fail(db, err, src, "walk vectors");
        done(s);
        unlock(db);
        int i = 0;
        for (; rc == SCRY_OK && i < got; i++) {
            int r = fn(rowids[i], vecs[i], dims[i], ctx);
            if (r != 0) rc = r;
        }
        for (int k = 0; k < got; k++) free(vecs[k]);
        if (rc != SCRY_OK) return rc;
        if (got < VEC_CHUNK) return SCRY_OK;
        after = rowids[got - 1];
    }
}

/* ---- faces ----------------------------------------------------------------- */

#define MAX_OLD_FACES 1024

/* Inside a transaction: replace the image's faces of u->model, keeping the
 * face_id of each old face that a new one overlaps (meta.h). */
static int faces_put_locked(meta_db *db, int64_t rowid, const meta_faces_update *u,
                            scry_err *err) {
    meta_old_face *old = NULL;
    int nold = 0, cap = 0, rc = SCRY_OK, src;
    sqlite3_stmt *s = st(db, S_FACE_OLD, err);
    if (!s) return PREP_FAILED;
    sqlite3_bind_int64(s, 1, rowid);
    sqlite3_bind_text(s, 2, u->model, -1, SQLITE_TRANSIENT);
    while ((src = sqlite3_step(s)) == SQLITE_ROW && nold < MAX_OLD_FACES) {
        if (nold == cap) {
            cap = cap ? cap * 2 : 16;
            void *p = realloc(old, (size_t)cap * sizeof *old);
            if (!p) { rc = scry_fail(err, SCRY_ENOMEM, "out of memory (faces)"); break; }
            old = p;
        }
        old[nold].id = sqlite3_column_int64(s, 0);
        for (int k = 0; k < 4; k++) old[nold].box[k] = sqlite3_column_int(s, 1 + k);
        nold++;
    }
    if (rc == SCRY_OK && src != SQLITE_ROW && src != SQLITE_DONE) rc = db_fail(db, err, src, "faces");
    done(s);
    int64_t now = scry_now_ms();
    int64_t *keep = rc == SCRY_OK ? calloc((size_t)(u->n ? u->n : 1), sizeof *keep) : NULL;
    int *taken = rc == SCRY_OK ? calloc((size_t)(nold ? nold : 1), sizeof *taken) : NULL;
    if (rc == SCRY_OK && (!keep || !taken)) rc = scry_fail(err, SCRY_ENOMEM, "out of memory (faces)");
    if (rc == SCRY_OK) meta_faces_match(old, nold, u, keep, taken);
    /* Old faces nobody took go first, then the kept ones are rewritten and
     * the rest inserted. */
    for (int j = 0; rc == SCRY_OK && j < nold; j++) {
        if (taken[j]) continue;
        if (!(s = st(db, S_FACE_DELETE, err))) { rc = PREP_FAILED; break; }
        sqlite3_bind_int64(s, 1, old[j].id);
        rc = run(db, s, "delete face", err);
    }
    for (int i = 0; rc == SCRY_OK && i < u->n; i++) {
        const meta_face *f = &u->faces[i];
        int bytes = u->dim * (int)sizeof(float);
        if (keep[i]) {
            if (!(s = st(db, S_FACE_UPDATE, err))) { rc = PREP_FAILED; break; }
            sqlite3_bind_int64(s, 1, keep[i]);
            sqlite3_bind_int(s, 2, f->face_index);
            for (int k = 0; k < 4; k++) sqlite3_bind_int(s, 3 + k, f->box[k]);
            sqlite3_bind_int(s, 7, u->dim);
            sqlite3_bind_blob(s, 8, f->vec, bytes, SQLITE_TRANSIENT);
            sqlite3_bind_int64(s, 9, now);
            rc = run(db, s, "update face", err);
        } else {
            if (!(s = st(db, S_FACE_INSERT, err))) { rc = PREP_FAILED; break; }
            sqlite3_bind_int64(s, 1, rowid);
            sqlite3_bind_int(s, 2, f->face_index);
            sqlite3_bind_text(s, 3, u->model, -1, SQLITE_TRANSIENT);
            for (int k = 0; k < 4; k++) sqlite3_bind_int(s, 4 + k, f->box[k]);
            sqlite3_bind_int(s, 8, u->dim);
            sqlite3_bind_blob(s, 9, f->vec, bytes, SQLITE_TRANSIENT);
            sqlite3_bind_int64(s, 10, now);
            src = sqlite3_step(s);
            if (src == SQLITE_CONSTRAINT_FOREIGNKEY)
                rc = scry_fail(err, SCRY_ENOTFOUND, "image #%lld not found", (long long)rowid);
            else if (src != SQLITE_DONE) rc = db_fail(db, err, src, "insert face");
            done(s);
        }
    }
    free(keep);
    free(taken);
    free(old);
    return rc;
}

static int sq_faces_put(meta_db *db, int64_t image_rowid, const meta_faces_update *u, scry_err *err) {
    int rc;
    lock(db);
    if ((rc = tx_begin(db, err)) != SCRY_OK) goto out;
    sqlite3_stmt *s = st(db, S_IMG_EXISTS, err);
    if (!s) { rc = PREP_FAILED; goto fail; }
    sqlite3_bind_int64(s, 1, image_rowid);
    int src = sqlite3_step(s);
    done(s);
    if (src != SQLITE_ROW) {
        rc = src == SQLITE_DONE
                 ? scry_fail(err, SCRY_ENOTFOUND, "image #%lld not found", (long long)image_rowid)
                 : db_fail(db, err, src, "find image");
        goto fail;
    }
    if ((rc = faces_put_locked(db, image_rowid, u, err)) != SCRY_OK) goto fail;
    if ((rc = tx_commit(db, err)) == SCRY_OK) {
        SQ(db)->people_writes++;
        goto out;
    }
fail:
    tx_rollback(db);
out:
    unlock(db);
    return rc;
}

/* Row (FACE_COLS order) -> f with an owned copy of the vector. */
static int read_face(sqlite3_stmt *s, meta_face *f, scry_err *err) {
    memset(f, 0, sizeof *f);
    f->face_id = sqlite3_column_int64(s, 0);
    f->image_rowid = sqlite3_column_int64(s, 1);
    f->face_index = sqlite3_column_int(s, 2);
    for (int k = 0; k < 4; k++) f->box[k] = sqlite3_column_int(s, 3 + k);
    f->dim = sqlite3_column_int(s, 7);
    int bytes = sqlite3_column_bytes(s, 8);
    if (f->dim <= 0 || bytes != f->dim * (int)sizeof(float))
        return scry_fail(err, SCRY_ECORRUPT, "face #%lld: %d bytes for dim %d",
                         (long long)f->face_id, bytes, f->dim);
    f->vec = malloc((size_t)bytes);
    if (!f->vec) return scry_fail(err, SCRY_ENOMEM, "out of memory (face)");
    memcpy(f->vec, sqlite3_column_blob(s, 8), (size_t)bytes);
    f->person_id = sqlite3_column_int64(s, 9);
    f->assigned = sqlite3_column_int(s, 10);
    f->updated_at = sqlite3_column_int64(s, 11);
    return SCRY_OK;
}

static int sq_faces_get(meta_db *db, int64_t image_rowid, const char *model, meta_face **out, int *n,
                   scry_err *err) {
    *out = NULL;
    *n = 0;
    if (!model) return scry_fail(err, SCRY_EINVAL, "no face model");
    int rc = SCRY_OK, src, got = 0, cap = 0;
    meta_face *arr = NULL;
    lock(db);
    sqlite3_stmt *s = st(db, S_FACE_OF_IMAGE, err);
    if (!s) { unlock(db); return PREP_FAILED; }
    sqlite3_bind_int64(s, 1, image_rowid);
    sqlite3_bind_text(s, 2, model, -1, SQLITE_TRANSIENT);
    while ((src = sqlite3_step(s)) == SQLITE_ROW) {
        if (got == cap) {
            cap = cap ? cap * 2 : 8;
            void *p = realloc(arr, (size_t)cap * sizeof *arr);
            if (!p) { rc = scry_fail(err, SCRY_ENOMEM, "out of memory (faces)"); break; }
            arr = p;
        }
        if ((rc = read_face(s, &arr[got], err)) != SCRY_OK) break;
        got++;
    }
    if (rc == SCRY_OK && src != SQLITE_DONE) rc = db_fail(db, err, src, "faces of image");
    done(s);
    unlock(db);
    if (rc != SCRY_OK) {
        meta_faces_free(arr, got);
        return rc;
    }
    if (!got) {
        free(arr);
        arr = NULL;
    }
    *out = arr;
    *n = got;
    return SCRY_OK;
}

static int sq_face_get(meta_db *db, int64_t face_id, meta_face *out, scry_err *err) {
    memset(out, 0, sizeof *out);
    lock(db);
    int rc;
    sqlite3_stmt *s = st(db, S_FACE_BY_ID, err);
    if (!s) { unlock(db); return PREP_FAILED; }
    sqlite3_bind_int64(s, 1, face_id);
    int src = sqlite3_step(s);
    if (src == SQLITE_ROW) rc = read_face(s, out, err);
    else if (src == SQLITE_DONE)
        rc = scry_fail(err, SCRY_ENOTFOUND, "face #%lld not found", (long long)face_id);
    else rc = db_fail(db, err, src, "face");
    done(s);
    unlock(db);
    return rc;
}

#define FACE_CHUNK 256

static int sq_face_each(meta_db *db, const char *model, int (*fn)(const meta_face *f, void *ctx),
                   void *ctx, scry_err *err) {
    if (!model || !fn) return scry_fail(err, SCRY_EINVAL, "bad face walk arguments");
    meta_face *page = calloc(FACE_CHUNK, sizeof *page);
    if (!page) return scry_fail(err, SCRY_ENOMEM, "out of memory (faces)");
    int64_t after = 0;
    int rc = SCRY_OK;
    for (;;) {
        int got = 0, src;
        lock(db);
        sqlite3_stmt *s = st(db, S_FACE_CHUNK, err);
        if (!s) {
            unlock(db);
            rc = PREP_FAILED;
            break;
        }
        sqlite3_bind_text(s, 1, model, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(s, 2, after);
        sqlite3_bind_int(s, 3, FACE_CHUNK);
        while ((src = sqlite3_step(s)) == SQLITE_ROW) {
            if ((rc = read_face(s, &page[got], err)) != SCRY_OK) break;
            got++;
        }
        if (rc == SCRY_OK && src != SQLITE_DONE) rc = db_fail(db, err, src, "walk faces");
        done(s);
        unlock(db);
        for (int i = 0; rc == SCRY_OK && i < got; i++) {
            int r = fn(&page[i], ctx);
            if (r != 0) rc = r;
        }
        if (got) after = page[got - 1].face_id;
        for (int i = 0; i < got; i++) free(page[i].vec), page[i].vec = NULL;
        if (rc != SCRY_OK || got < FACE_CHUNK) break;
    }
    free(page);
    return rc;
}

static int64_t sq_face_count(meta_db *db, const char *model) {
    int64_t n = -1;
    lock(db);
    sqlite3_stmt *s = st(db, S_FACE_COUNT, NULL);
    if (s) {
        sqlite3_bind_text(s, 1, model, -1, SQLITE_TRANSIENT);
        if (sqlite3_step(s) == SQLITE_ROW) n = sqlite3_column_int64(s, 0);
    }
    done(s);
    unlock(db);
    return n;
}


/* ---- people ----------------------------------------------------------------- */

/* Prepare sql (not kept: people calls are rare next to image writes). */
static sqlite3_stmt *prep(meta_db *db, const char *sql, scry_err *err) {
    sqlite3_stmt *s = NULL;
    int src = sqlite3_prepare_v2(SQ(db)->conn, sql, -1, &s, NULL);
    if (src != SQLITE_OK) {
        db_fail(db, err, src, "prepare");
        return NULL;
    }
    return s;
}

/* Prepare sql and bind n integers to ?1..?n. */
static sqlite3_stmt *prep_i64(meta_db *db, const char *sql, int n, const int64_t *v, scry_err *err) {
    sqlite3_stmt *s = prep(db, sql, err);
    for (int i = 0; s && i < n; i++) sqlite3_bind_int64(s, i + 1, v[i]);
    return s;
}

/* Step a statement that returns no rows, then finalize it. */
static int exec_stmt(meta_db *db, sqlite3_stmt *s, const char *what, scry_err *err) {
    if (!s) return PREP_FAILED;
    int src = sqlite3_step(s);
    int rc = src == SQLITE_DONE || src == SQLITE_ROW ? SCRY_OK : db_fail(db, err, src, what);
    sqlite3_finalize(s);
    return rc;
}

/* Run sql with integer arguments (no rows wanted). */
static int exec_i64(meta_db *db, const char *sql, int n, const int64_t *v, const char *what,
                    scry_err *err) {
    return exec_stmt(db, prep_i64(db, sql, n, v, err), what, err);
}

/* The first column of the first row of sql as an integer (*found 0: no row). */
static int query_i64(meta_db *db, const char *sql, int n, const int64_t *v, int64_t *out,
                     int *found, const char *what, scry_err *err) {
    sqlite3_stmt *s = prep_i64(db, sql, n, v, err);
    if (!s) return PREP_FAILED;
    int src = sqlite3_step(s), rc = SCRY_OK;
    *found = src == SQLITE_ROW;
    if (src == SQLITE_ROW) *out = sqlite3_column_int64(s, 0);
    else if (src != SQLITE_DONE) rc = db_fail(db, err, src, what);
    sqlite3_finalize(s);
    return rc;
}

/* Inside a transaction: does the person exist? */
static int person_exists(meta_db *db, int64_t id, scry_err *err) {
    int64_t one = 0;
    int found = 0, rc = query_i64(db, SQL_PERSON_EXISTS, 1, &id, &one, &found, "find person", err);
    if (rc == SCRY_OK && !found) rc = scry_fail(err, SCRY_ENOTFOUND, "person %lld not found", (long long)id);
    return rc;
}

/* Finish a people write: commit, and count it (meta_people_version). */
static int people_commit(meta_db *db, scry_err *err) {
    int rc = tx_commit(db, err);
    if (rc == SCRY_OK) SQ(db)->people_writes++;
    return rc;
}

static int sq_faces_assign(meta_db *db, const meta_assignment *a, int n, int assigned,
                           int64_t *new_ids, int nnew, int *applied, scry_err *err) {
    (void)nnew;
    /* the persons faces leave, checked for emptiness at the end (not as each
     * face moves: in a re-cluster a person may lose its faces before it
     * gains others) */
    int64_t *left = malloc((size_t)(n ? n : 1) * sizeof *left);
    if (!left) return scry_fail(err, SCRY_ENOMEM, "out of memory");
    int nleft = 0;
    int64_t now = scry_now_ms();
    lock(db);
    int rc = tx_begin(db, err), count = 0;
    sqlite3_stmt *up = NULL, *old = NULL, *exists = NULL, *gone = NULL;
    if (rc != SCRY_OK) goto out;
    up = prep(db, assigned == META_FACE_AUTO ? SQL_FACE_ASSIGN_AUTO : SQL_FACE_ASSIGN_MANUAL, err);
    old = up ? prep(db, SQL_FACE_PERSON, err) : NULL;
    exists = old ? prep(db, SQL_PERSON_EXISTS, err) : NULL;
    if (!exists) { rc = PREP_FAILED; goto fail; }
    for (int i = 0; i < n && rc == SCRY_OK; i++) {
        int64_t pid = a[i].person_id;
        if (pid < 0) {
            int64_t *slot = &new_ids[-pid - 1];
            int found = 0;
            if (!*slot && (rc = query_i64(db, SQL_PERSON_INSERT, 1, &now, slot, &found,
                                          "insert person", err)) != SCRY_OK)
                break;
            pid = *slot;
        } else if (pid > 0) {
            sqlite3_bind_int64(exists, 1, pid);
            int src = sqlite3_step(exists);
            sqlite3_reset(exists);
            if (src != SQLITE_ROW) {
                rc = src == SQLITE_DONE ? scry_fail(err, SCRY_ENOTFOUND, "person %lld not found", (long long)pid)
                                        : db_fail(db, err, src, "find person");
                break;
            }
        }
        sqlite3_bind_int64(old, 1, a[i].face_id);
        if (sqlite3_step(old) == SQLITE_ROW && sqlite3_column_int64(old, 0) &&
            sqlite3_column_int64(old, 0) != pid)
            left[nleft++] = sqlite3_column_int64(old, 0);
        sqlite3_reset(old);
        sqlite3_bind_int64(up, 1, a[i].face_id);
        sqlite3_bind_int64(up, 2, pid);
        sqlite3_bind_int64(up, 3, now);
        int src = sqlite3_step(up);
        if (src != SQLITE_DONE) rc = db_fail(db, err, src, "assign face");
        else count += sqlite3_changes(SQ(db)->conn);
        sqlite3_reset(up);
    }
    if (rc == SCRY_OK && nleft && !(gone = prep(db, SQL_PERSON_DROP_EMPTY, err))) rc = PREP_FAILED;
    for (int i = 0; rc == SCRY_OK && i < nleft; i++) {
        sqlite3_bind_int64(gone, 1, left[i]);
        int src = sqlite3_step(gone);
        if (src != SQLITE_DONE) rc = db_fail(db, err, src, "delete emptied person");
        sqlite3_reset(gone);
    }
    if (rc != SCRY_OK) goto fail;
    if ((rc = people_commit(db, err)) == SCRY_OK) {
        *applied = count;
        goto out;
    }
fail:
    tx_rollback(db);
out:
    sqlite3_finalize(up);
    sqlite3_finalize(old);
    sqlite3_finalize(exists);
    sqlite3_finalize(gone);
    unlock(db);
    free(left);
    return rc;
}

static int sq_people_merge(meta_db *db, int64_t into, const int64_t *from, int n, scry_err *err) {
    int64_t now = scry_now_ms();
    lock(db);
    int rc = tx_begin(db, err);
    if (rc != SCRY_OK) goto out;
    rc = person_exists(db, into, err);
    for (int i = 0; i < n && rc == SCRY_OK; i++) rc = person_exists(db, from[i], err);
    for (int i = 0; i < n && rc == SCRY_OK; i++) {
        int64_t v[3] = {into, from[i], now};
        if ((rc = exec_i64(db, SQL_MERGE_NAME, 3, v, "merge name", err)) == SCRY_OK &&
            (rc = exec_i64(db, SQL_MERGE_FACES, 3, v, "merge faces", err)) == SCRY_OK)
            rc = exec_i64(db, SQL_PERSON_DELETE, 1, &from[i], "delete merged person", err);
    }
    int64_t v[2] = {into, now};
    if (rc == SCRY_OK) rc = exec_i64(db, SQL_PERSON_CONFIRM, 2, v, "confirm faces", err);
    if (rc == SCRY_OK) rc = exec_i64(db, SQL_PERSON_TOUCH, 2, v, "touch person", err);
    if (rc == SCRY_OK && (rc = people_commit(db, err)) == SCRY_OK) goto out;
    tx_rollback(db);
out:
    unlock(db);
    return rc;
}

static int sq_person_set_name(meta_db *db, int64_t person_id, const char *name, scry_err *err) {
    int64_t now = scry_now_ms();
    lock(db);
    int rc = tx_begin(db, err);
    if (rc != SCRY_OK) goto out;
    if ((rc = person_exists(db, person_id, err)) != SCRY_OK) goto fail;
    sqlite3_stmt *s = prep(db, SQL_PERSON_NAME, err);
    if (s) {
        sqlite3_bind_int64(s, 1, person_id);
        bind_text(s, 2, name);
        sqlite3_bind_int64(s, 3, now);
    }
    if ((rc = exec_stmt(db, s, "name person", err)) != SCRY_OK) goto fail;
    /* naming marks the person's faces MANUAL: a user looked at them */
    int64_t v[2] = {person_id, now};
    if (name && *name && (rc = exec_i64(db, SQL_PERSON_CONFIRM, 2, v, "confirm faces", err)) != SCRY_OK)
        goto fail;
    if ((rc = people_commit(db, err)) == SCRY_OK) goto out;
fail:
    tx_rollback(db);
out:
    unlock(db);
    return rc;
}

static int sq_person_set_cover(meta_db *db, int64_t person_id, int64_t face_id, scry_err *err) {
    int64_t now = scry_now_ms();
    lock(db);
    int rc = tx_begin(db, err);
    if (rc != SCRY_OK) goto out;
    if ((rc = person_exists(db, person_id, err)) != SCRY_OK) goto fail;
    if (face_id) {
        int64_t v[2] = {face_id, person_id}, one = 0;
        int found = 0;
        if ((rc = query_i64(db, SQL_FACE_OF_PERSON, 2, v, &one, &found, "cover face", err)) != SCRY_OK)
            goto fail;
        if (!found) {
            rc = scry_fail(err, SCRY_EINVAL, "face %lld is not a face of person %lld",
                           (long long)face_id, (long long)person_id);
            goto fail;
        }
    }
    int64_t v[3] = {person_id, face_id, now};
    if ((rc = exec_i64(db, SQL_PERSON_COVER, 3, v, "cover", err)) != SCRY_OK) goto fail;
    if ((rc = people_commit(db, err)) == SCRY_OK) goto out;
fail:
    tx_rollback(db);
out:
    unlock(db);
    return rc;
}

static int sq_person_delete(meta_db *db, int64_t person_id, scry_err *err) {
    int64_t v[2] = {person_id, scry_now_ms()};
    lock(db);
    int rc = tx_begin(db, err);
    if (rc != SCRY_OK) goto out;
    if ((rc = person_exists(db, person_id, err)) == SCRY_OK &&
        (rc = exec_i64(db, SQL_PERSON_RELEASE, 2, v, "release faces", err)) == SCRY_OK &&
        (rc = exec_i64(db, SQL_PERSON_DELETE, 1, v, "delete person", err)) == SCRY_OK &&
        (rc = people_commit(db, err)) == SCRY_OK)
        goto out;
    tx_rollback(db);
out:
    unlock(db);
    return rc;
}

static int read_person(sqlite3_stmt *s, meta_person *p, scry_err *err) {
    const char *col[META_PERSON_NCOLS] = {0};
    int ncols = sqlite3_column_count(s);
    if (ncols > META_PERSON_NCOLS) ncols = META_PERSON_NCOLS;
    for (int i = 0; i < ncols; i++) col[i] = (const char *)sqlite3_column_text(s, i);
    return meta_person_decode(p, col, ncols, err);
}

static int sq_person_get(meta_db *db, int64_t person_id, meta_person *out, scry_err *err) {
    lock(db);
    int rc;
    sqlite3_stmt *s = prep_i64(db, SQL_PERSON_GET, 1, &person_id, err);
    if (!s) { unlock(db); return PREP_FAILED; }
    int src = sqlite3_step(s);
    if (src == SQLITE_ROW) rc = read_person(s, out, err);
    else if (src == SQLITE_DONE) rc = scry_fail(err, SCRY_ENOTFOUND, "person %lld not found", (long long)person_id);
    else rc = db_fail(db, err, src, "get person");
    sqlite3_finalize(s);
    unlock(db);
    return rc;
}

/* Room for one more element in *arr (n used of *cap, each size bytes). */
static int grow(void *arr, int *cap, int n, size_t size, scry_err *err) {
    if (n < *cap) return SCRY_OK;
    int ncap = *cap ? *cap * 2 : 16;
    void *p = realloc(*(void **)arr, (size_t)ncap * size);
    if (!p) return scry_fail(err, SCRY_ENOMEM, "out of memory (rows)");
    *(void **)arr = p;
    *cap = ncap;
    return SCRY_OK;
}

/* Rows of s into a growing array of persons; s finalized. */
static int read_people(meta_db *db, sqlite3_stmt *s, meta_person **out, int *n, scry_err *err) {
    if (!s) return PREP_FAILED;
    int cap = 0, src, rc = SCRY_OK;
    meta_person *arr = NULL;
    *n = 0;
    while ((src = sqlite3_step(s)) == SQLITE_ROW) {
        if ((rc = grow(&arr, &cap, *n, sizeof *arr, err)) != SCRY_OK) break;
        if ((rc = read_person(s, &arr[*n], err)) != SCRY_OK) break;
        (*n)++;
    }
    if (rc == SCRY_OK && src != SQLITE_DONE) rc = db_fail(db, err, src, "list people");
    sqlite3_finalize(s);
    if (rc != SCRY_OK) {
        meta_people_free(arr, *n);
        arr = NULL;
        *n = 0;
    }
    *out = arr;
    return rc;
}

static int sq_people_list(meta_db *db, int min_faces, int offset, int limit, meta_person **out,
                          int *n, int64_t *total, scry_err *err) {
    int64_t v[3] = {min_faces, limit, offset};
    lock(db);
    int rc = read_people(db, prep_i64(db, SQL_PEOPLE_LIST, 3, v, err), out, n, err), found = 0;
    if (rc == SCRY_OK && total)
        rc = query_i64(db, SQL_PEOPLE_TOTAL, 1, v, total, &found, "count people", err);
    unlock(db);
    if (rc != SCRY_OK) {
        meta_people_free(*out, *n);
        *out = NULL;
        *n = 0;
    }
    return rc;
}

static int sq_people_named(meta_db *db, meta_person **out, int *n, scry_err *err) {
    lock(db);
    int rc = read_people(db, prep(db, SQL_PEOPLE_NAMED, err), out, n, err);
    unlock(db);
    return rc;
}

static int sq_person_faces(meta_db *db, int64_t person_id, int offset, int limit, meta_face **faces,
                           char (**ids)[SCRY_ID_LEN + 1], int *n, int64_t *total, scry_err *err) {
    lock(db);
    int rc = person_exists(db, person_id, err), src, cap = 0, found = 0;
    meta_face *fa = NULL;
    char (*ia)[SCRY_ID_LEN + 1] = NULL;
    int64_t v[3] = {person_id, limit, offset};
    sqlite3_stmt *s = NULL;
    if (rc != SCRY_OK) goto out;
    if (!(s = prep_i64(db, SQL_PERSON_FACES, 3, v, err))) { rc = PREP_FAILED; goto out; }
    while ((src = sqlite3_step(s)) == SQLITE_ROW) {
        int cap_ids = cap;
        if ((rc = grow(&fa, &cap, *n, sizeof *fa, err)) != SCRY_OK ||
            (rc = grow(&ia, &cap_ids, *n, sizeof *ia, err)) != SCRY_OK)
            break;
        const char *col[11];
        for (int k = 0; k < 11; k++) col[k] = (const char *)sqlite3_column_text(s, k);
        meta_person_face_decode(&fa[*n], ia[*n], col);
        (*n)++;
    }
    if (rc == SCRY_OK && src != SQLITE_DONE) rc = db_fail(db, err, src, "person faces");
    if (rc == SCRY_OK && total)
        rc = query_i64(db, SQL_PERSON_FACES_COUNT, 1, v, total, &found, "count faces", err);
out:
    sqlite3_finalize(s);
    unlock(db);
    if (rc != SCRY_OK) {
        free(fa);
        free(ia);
        *n = 0;
        return rc;
    }
    *faces = fa;
    *ids = ia;
    return SCRY_OK;
}

static int sq_person_images(meta_db *db, int64_t person_id, int offset, int limit, image_rec **out,
                            int *n, int64_t *total, scry_err *err) {
    lock(db);
    int rc = person_exists(db, person_id, err), src, cap = 0, found = 0;
    image_rec *arr = NULL;
    int64_t v[3] = {person_id, limit, offset};
    sqlite3_stmt *s = NULL;
    if (rc != SCRY_OK) goto out;
    if (!(s = prep_i64(db, SQL_PERSON_IMAGES, 3, v, err))) { rc = PREP_FAILED; goto out; }
    while ((src = sqlite3_step(s)) == SQLITE_ROW) {
        if ((rc = grow(&arr, &cap, *n, sizeof *arr, err)) != SCRY_OK) break;
        if ((rc = read_image(s, &arr[*n], err)) != SCRY_OK) break;
        (*n)++;
    }
    if (rc == SCRY_OK && src != SQLITE_DONE) rc = db_fail(db, err, src, "person images");
    if (rc == SCRY_OK && total)
        rc = query_i64(db, SQL_PERSON_IMAGES_COUNT, 1, v, total, &found, "count images", err);
out:
    sqlite3_finalize(s);
    unlock(db);
    if (rc != SCRY_OK) {
        for (int i = 0; i < *n; i++) image_rec_free(&arr[i]);
        free(arr);
        *n = 0;
        return rc;
    }
    *out = arr;
    return SCRY_OK;
}

/* A feed page statement: model, then (after_ms, after_id), then cap. */
static sqlite3_stmt *feed_page(meta_db *db, const char *sql, const char *model, int64_t after_ms,
                               int64_t after_id, int cap, scry_err *err) {
    sqlite3_stmt *s = prep(db, sql, err);
    if (!s) return NULL;
    sqlite3_bind_text(s, 1, model, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(s, 2, after_ms);
    sqlite3_bind_int64(s, 3, after_id);
    sqlite3_bind_int(s, 4, cap);
    return s;
}

static int sq_face_changes_page(meta_db *db, const char *model, int64_t after_ms, int64_t after_id,
                                meta_face *page, int cap, int *got, scry_err *err) {
    *got = 0;
    lock(db);
    int rc = SCRY_OK, src = SQLITE_DONE;
    sqlite3_stmt *s = feed_page(db, SQL_FACE_CHANGES, model, after_ms, after_id, cap, err);
    if (!s) { unlock(db); return PREP_FAILED; }
    while (*got < cap && (src = sqlite3_step(s)) == SQLITE_ROW) {
        if ((rc = read_face(s, &page[*got], err)) != SCRY_OK) break;
        (*got)++;
    }
    if (rc == SCRY_OK && *got < cap && src != SQLITE_DONE) rc = db_fail(db, err, src, "face feed");
    sqlite3_finalize(s);
    unlock(db);
    return rc;
}

static int sq_face_tombstones_page(meta_db *db, const char *model, int64_t after_ms,
                                   int64_t after_id, int64_t *ids, int64_t *at, int cap, int *got,
                                   scry_err *err) {
    *got = 0;
    lock(db);
    int rc = SCRY_OK, src = SQLITE_DONE;
    sqlite3_stmt *s = feed_page(db, SQL_FACE_TOMBSTONES, model, after_ms, after_id, cap, err);
    if (!s) { unlock(db); return PREP_FAILED; }
    while (*got < cap && (src = sqlite3_step(s)) == SQLITE_ROW) {
        ids[*got] = sqlite3_column_int64(s, 0);
        at[(*got)++] = sqlite3_column_int64(s, 1);
    }
    if (*got < cap && src != SQLITE_DONE) rc = db_fail(db, err, src, "face tombstones");
    sqlite3_finalize(s);
    unlock(db);
    return rc;
}

/* data_version moves with every commit of another connection; our own
 * commits are counted. */
static uint64_t sq_people_version(meta_db *db) {
    int dv = 0;
    lock(db);
    pragma_int(db, "PRAGMA data_version", &dv);
    uint64_t v = ((uint64_t)(uint32_t)dv << 32) ^ SQ(db)->people_writes;
    unlock(db);
    return v;
}

/* ---- jobs without items ------------------------------------------------------ */

static int sq_job_create(meta_db *db, const char *kind, int total, char job_id[SCRY_ID_LEN + 1],
                         scry_err *err) {
    char id[SCRY_ID_LEN + 1];
    scry_new_id(id);
    lock(db);
    int rc;
    sqlite3_stmt *s = st(db, S_JOB_INSERT, err);
    if (!s) { rc = PREP_FAILED; goto out; }
    sqlite3_bind_text(s, 1, id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(s, 2, kind, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int(s, 3, total);
    sqlite3_bind_int64(s, 4, scry_now_ms());
    if ((rc = run(db, s, "insert job", err)) == SCRY_OK) memcpy(job_id, id, sizeof id);
out:
    unlock(db);
    return rc;
}

static int sq_job_set(meta_db *db, const char *job_id, const char *status, int done, int total,
                      const char *error, scry_err *err) {
    lock(db);
    sqlite3_stmt *s = prep(db, SQL_JOB_SET, err);
    if (s) {
        bind_text(s, 1, job_id);
        bind_text(s, 2, status);
        sqlite3_bind_int(s, 3, done);
        sqlite3_bind_int(s, 4, total);
        bind_text(s, 5, error);
        sqlite3_bind_int64(s, 6, scry_now_ms());
    }
    int rc = exec_stmt(db, s, "update job", err);
    if (rc == SCRY_OK && sqlite3_changes(SQ(db)->conn) == 0)
        rc = scry_fail(err, SCRY_ENOTFOUND, "job %s not found", job_id);
    unlock(db);
    return rc;
}

static int sq_jobs_unfinished(meta_db *db, const char *kind, char (*ids)[SCRY_ID_LEN + 1], int max,
                              int *n, scry_err *err) {
    lock(db);
    sqlite3_stmt *s = prep(db, "SELECT id FROM jobs WHERE kind = ?1 AND status IN ('pending','running')"
                               " ORDER BY created_at, rowid", err);
    if (!s) { unlock(db); return PREP_FAILED; }
    bind_text(s, 1, kind);
    int src;
    while ((src = sqlite3_step(s)) == SQLITE_ROW && *n < max) col_copy(s, 0, ids[(*n)++], SCRY_ID_LEN + 1);
    int rc = src == SQLITE_ROW || src == SQLITE_DONE ? SCRY_OK : db_fail(db, err, src, "unfinished jobs");
    sqlite3_finalize(s);
    unlock(db);
    return rc;
}

/* ---- jobs ------------------------------------------------------------------ */

static void read_job(sqlite3_stmt *s, job_rec *j) {
    const char *col[META_JOB_NCOLS];
    for (int i = 0; i < META_JOB_NCOLS; i++) col[i] = (const char *)sqlite3_column_text(s, i);
    meta_job_decode(j, col);
}

static int sq_job_get(meta_db *db, const char *id, job_rec *out, scry_err *err) {
    memset(out, 0, sizeof *out);
    if (!id) return scry_fail(err, SCRY_EINVAL, "no job id");
    int rc = SCRY_OK, src;
    lock(db);
    sqlite3_stmt *s = st(db, S_JOB_GET, err);
    if (!s) { rc = PREP_FAILED; goto out; }
    bind_text(s, 1, id);
    src = sqlite3_step(s);
    if (src == SQLITE_ROW) read_job(s, out);
    else if (src == SQLITE_DONE) rc = scry_fail(err, SCRY_ENOTFOUND, "job %s not found", id);
    else rc = db_fail(db, err, src, "get job");
    done(s);
    if (rc != SCRY_OK) goto out;

    if (!(s = st(db, S_JOB_ERRORS, err))) { rc = PREP_FAILED; goto out; }
    bind_text(s, 1, id);
    int cap = 0;
    while ((src = sqlite3_step(s)) == SQLITE_ROW) {
        if (out->nerrors == cap) {
            int ncap = cap ? cap * 2 : 8;
            job_error *p = realloc(out->errors, (size_t)ncap * sizeof *p);
            if (!p) { rc = scry_fail(err, SCRY_ENOMEM, "out of memory (job errors)"); break; }
            out->errors = p;
            cap = ncap;
        }
        job_error *e = &out->errors[out->nerrors++];
        col_copy(s, 0, e->image_id, sizeof e->image_id);
        e->filename = col_dup(s, 1);
        col_copy(s, 2, e->stage, sizeof e->stage);
        e->message = col_dup(s, 3);
    }
    if (rc == SCRY_OK && src != SQLITE_DONE) rc = db_fail(db, err, src, "job errors");
    done(s);
out:
    unlock(db);
    if (rc != SCRY_OK) job_rec_free(out);
    return rc;
}

static int sq_job_list(meta_db *db, int limit, job_rec **out, int *n, scry_err *err) {
    *out = NULL;
    *n = 0;
    if (limit < 0) return scry_fail(err, SCRY_EINVAL, "negative limit");
    if (limit == 0) return SCRY_OK;
    int cap = limit < 64 ? limit : 64, got = 0, rc = SCRY_OK, src;
    job_rec *jobs = calloc((size_t)cap, sizeof *jobs);
    if (!jobs) return scry_fail(err, SCRY_ENOMEM, "out of memory (job list)");
    lock(db);
    sqlite3_stmt *s = st(db, S_JOB_LIST, err);
    if (!s) { rc = PREP_FAILED; goto out; }
    sqlite3_bind_int(s, 1, limit);
    while ((src = sqlite3_step(s)) == SQLITE_ROW) {
        if (got == cap) {
            int ncap = cap * 2 < limit ? cap * 2 : limit;
            job_rec *p = realloc(jobs, (size_t)ncap * sizeof *p);
            if (!p) { rc = scry_fail(err, SCRY_ENOMEM, "out of memory (job list)"); break; }
            jobs = p;
            cap = ncap;
        }
        read_job(s, &jobs[got++]);
    }
    if (rc == SCRY_OK && src != SQLITE_DONE) rc = db_fail(db, err, src, "list jobs");
    done(s);
out:
    unlock(db);
    if (rc != SCRY_OK || got == 0) {
        for (int i = 0; i < got; i++) job_rec_free(&jobs[i]);
        free(jobs);
        return rc;
    }
    *out = jobs;
    *n = got;
    return SCRY_OK;
}

/* Complete the job if every item is accounted for (inside a transaction). */
static int job_settle(meta_db *db, const char *job_id, int64_t now, scry_err *err) {
    sqlite3_stmt *s = st(db, S_JOB_SETTLE, err);
    if (!s) return PREP_FAILED;
    bind_text(s, 1, job_id);
    sqlite3_bind_int64(s, 2, now);
    return run(db, s, "settle job", err);
}

static int sq_item_claim(meta_db *db, work_item *out, scry_err *err) {
    memset(out, 0, sizeof *out);
    int64_t now = scry_now_ms();
    lock(db);
    relaxed_sync(db, 1);
    int rc = tx_begin(db, err);
    if (rc != SCRY_OK) goto out;
    sqlite3_stmt *s = st(db, S_ITEM_NEXT, err);
    if (!s) { rc = PREP_FAILED; goto fail; }
    int src = sqlite3_step(s);
    if (src != SQLITE_ROW) {
        rc = src == SQLITE_DONE ? scry_fail(err, SCRY_ENOTFOUND, "no pending work")
                                : db_fail(db, err, src, "next item");
        done(s);
        goto fail;
    }
    int64_t seq = sqlite3_column_int64(s, 0);
    col_copy(s, 1, out->job_id, sizeof out->job_id);
    col_copy(s, 2, out->image_id, sizeof out->image_id);
    out->attempt = sqlite3_column_int(s, 3) + 1;
    done(s);
    if (!(s = st(db, S_ITEM_START, err))) { rc = PREP_FAILED; goto fail; }
    sqlite3_bind_int64(s, 1, seq);
    sqlite3_bind_int64(s, 2, now);
    if ((rc = run(db, s, "start item", err)) != SCRY_OK) goto fail;
    if (!(s = st(db, S_JOB_RUNNING, err))) { rc = PREP_FAILED; goto fail; }
    bind_text(s, 1, out->job_id);
    sqlite3_bind_int64(s, 2, now);
    if ((rc = run(db, s, "job running", err)) != SCRY_OK) goto fail;
    if ((rc = tx_commit(db, err)) == SCRY_OK) goto out;
fail:
    tx_rollback(db);
    if (rc != SCRY_OK) memset(out, 0, sizeof *out);
out:
    relaxed_sync(db, 0);
    unlock(db);
    return rc;
}

static int sq_item_stage(meta_db *db, const work_item *w, const char *stage, scry_err *err) {
    if (!stage) return scry_fail(err, SCRY_EINVAL, "no stage");
    lock(db);
    relaxed_sync(db, 1);
    int rc;
    sqlite3_stmt *s = st(db, S_ITEM_STAGE, err);
    if (!s) { rc = PREP_FAILED; goto out; }
    bind_text(s, 1, w->job_id);
    bind_text(s, 2, w->image_id);
    sqlite3_bind_int(s, 3, w->attempt);
    bind_text(s, 4, stage);
    sqlite3_bind_int64(s, 5, scry_now_ms());
    if ((rc = run(db, s, "item stage", err)) == SCRY_OK && sqlite3_changes(SQ(db)->conn) == 0)
        rc = scry_fail(err, SCRY_ENOTFOUND, "item %s/%s is not running (attempt %d)",
                       w->job_id, w->image_id, w->attempt);
out:
    relaxed_sync(db, 0);
    unlock(db);
    return rc;
}

/* Mark one running item finished and account for it (inside a transaction).
 * attempt < 0 matches whatever attempt is current (used by recovery). */
static int item_finish_locked(meta_db *db, const char *job_id, const char *image_id,
                              int attempt, int ok, const char *stage, const char *message,
                              int64_t now, scry_err *err) {
    sqlite3_stmt *s = st(db, S_ITEM_FINISH, err);
    if (!s) return PREP_FAILED;
    bind_text(s, 1, job_id);
    bind_text(s, 2, image_id);
    sqlite3_bind_int(s, 3, attempt);
    sqlite3_bind_text(s, 4, ok ? "done" : "failed", -1, SQLITE_STATIC);
    bind_text(s, 5, stage);
    /* A successful item may still carry the reason an optional stage
     * failed: it is listed among the job's errors too. */
    bind_text(s, 6, ok ? message : (message ? message : "failed"));
    sqlite3_bind_int64(s, 7, now);
    int rc = run(db, s, "finish item", err);
    if (rc != SCRY_OK) return rc;
    if (sqlite3_changes(SQ(db)->conn) == 0)
        return scry_fail(err, SCRY_ENOTFOUND, "item %s/%s is not running (attempt %d)", job_id,
                         image_id, attempt);
    if (!(s = st(db, S_JOB_COUNT, err))) return PREP_FAILED;
    bind_text(s, 1, job_id);
    sqlite3_bind_int(s, 2, ok ? 1 : 0);
    sqlite3_bind_int(s, 3, ok ? 0 : 1);
    sqlite3_bind_int64(s, 4, now);
    if ((rc = run(db, s, "count item", err)) != SCRY_OK) return rc;
    if ((rc = job_settle(db, job_id, now, err)) != SCRY_OK) return rc;
    if (!(s = st(db, S_IMG_SET_STATUS, err))) return PREP_FAILED;
    bind_text(s, 1, image_id);
    sqlite3_bind_int(s, 2, ok ? 1 : 0);
    sqlite3_bind_int64(s, 3, now);
    return run(db, s, "image status", err);
}

static int sq_item_finish(meta_db *db, const work_item *w, int ok, const char *stage,
                     const char *message, scry_err *err) {
    int64_t now = scry_now_ms();
    lock(db);
    int rc = tx_begin(db, err);
    if (rc != SCRY_OK) goto out;
    rc = item_finish_locked(db, w->job_id, w->image_id, w->attempt, ok, stage, message, now,
                            err);
    if (rc == SCRY_OK && (rc = tx_commit(db, err)) == SCRY_OK) goto out;
    tx_rollback(db);
out:
    unlock(db);
    return rc;
}

typedef struct running_item {
    int64_t seq;
    char job_id[SCRY_ID_LEN + 1];
    char image_id[SCRY_ID_LEN + 1];
    int attempts;
    char stage[32];
} running_item;

static int sq_recover(meta_db *db, int max_attempts, int *requeued, int *failed, scry_err *err) {
    *requeued = *failed = 0;
    if (max_attempts < 1) max_attempts = 1;
    int64_t now = scry_now_ms();
    running_item *items = NULL;
    int n = 0, cap = 0, src;
    lock(db);
    int rc = tx_begin(db, err);
    if (rc != SCRY_OK) goto out;
    sqlite3_stmt *s = st(db, S_ITEM_RUNNING, err);
    if (!s) { rc = PREP_FAILED; goto fail; }
    while ((src = sqlite3_step(s)) == SQLITE_ROW) {
        if (n == cap) {
            int ncap = cap ? cap * 2 : 16;
            running_item *p = realloc(items, (size_t)ncap * sizeof *p);
            if (!p) { rc = scry_fail(err, SCRY_ENOMEM, "out of memory (recover)"); break; }
            items = p;
            cap = ncap;
        }
        running_item *it = &items[n++];
        it->seq = sqlite3_column_int64(s, 0);
        col_copy(s, 1, it->job_id, sizeof it->job_id);
        col_copy(s, 2, it->image_id, sizeof it->image_id);
        it->attempts = sqlite3_column_int(s, 3);
        col_copy(s, 4, it->stage, sizeof it->stage);
    }
    if (rc == SCRY_OK && src != SQLITE_DONE) rc = db_fail(db, err, src, "running items");
    done(s);
    if (rc != SCRY_OK) goto fail;
    for (int i = 0; i < n; i++) {
        running_item *it = &items[i];
        if (it->attempts >= max_attempts) {
            /* An item that was claimed but entered no stage crashed while
             * being claimed/loaded: call that stage "start". */
            const char *stage = it->stage[0] ? it->stage : "start";
            char msg[160];
            meta_crash_message(msg, sizeof msg, "crashed", stage, it->attempts);
            rc = item_finish_locked(db, it->job_id, it->image_id, it->attempts, 0, stage, msg,
                                    now, err);
            if (rc != SCRY_OK) goto fail;
            (*failed)++;
            log_warn("meta.item_crashed", "job=%s image=%s stage=%s attempts=%d", it->job_id,
                     it->image_id, stage, it->attempts);
        } else {
            if (!(s = st(db, S_ITEM_REQUEUE, err))) { rc = PREP_FAILED; goto fail; }
            sqlite3_bind_int64(s, 1, it->seq);
            sqlite3_bind_int64(s, 2, now);
            if ((rc = run(db, s, "requeue item", err)) != SCRY_OK) goto fail;
            (*requeued)++;
        }
    }
    if ((rc = tx_commit(db, err)) == SCRY_OK) goto out;
fail:
    tx_rollback(db);
    *requeued = *failed = 0;
out:
    unlock(db);
    free(items);
    return rc;
}

static int sq_reindex_all(meta_db *db, char job_id[SCRY_ID_LEN + 1], int *n, scry_err *err) {
    *n = 0;
    char id[SCRY_ID_LEN + 1];
    scry_new_id(id);
    int64_t now = scry_now_ms();
    lock(db);
    int rc = tx_begin(db, err);
    if (rc != SCRY_OK) goto out;
    sqlite3_stmt *s;
    if (!(s = st(db, S_JOB_INSERT, err))) { rc = PREP_FAILED; goto fail; }
    sqlite3_bind_text(s, 1, id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(s, 2, "reindex", -1, SQLITE_STATIC);
    sqlite3_bind_int(s, 3, 0);
    sqlite3_bind_int64(s, 4, now);
    if ((rc = run(db, s, "insert job", err)) != SCRY_OK) goto fail;
    if (!(s = st(db, S_ITEM_INSERT_ALL, err))) { rc = PREP_FAILED; goto fail; }
    sqlite3_bind_text(s, 1, id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(s, 2, now);
    if ((rc = run(db, s, "insert items", err)) != SCRY_OK) goto fail;
    int count = sqlite3_changes(SQ(db)->conn);
    if (!(s = st(db, S_JOB_TOTAL, err))) { rc = PREP_FAILED; goto fail; }
    sqlite3_bind_text(s, 1, id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int(s, 2, count);
    if ((rc = run(db, s, "job total", err)) != SCRY_OK) goto fail;
    if ((rc = job_settle(db, id, now, err)) != SCRY_OK) goto fail;
    if ((rc = tx_commit(db, err)) != SCRY_OK) goto fail;
    memcpy(job_id, id, sizeof id);
    *n = count;
    goto out;
fail:
    tx_rollback(db);
out:
    unlock(db);
    return rc;
}

static int sq_job_fail(meta_db *db, const char *job_id, const char *reason, scry_err *err) {
    if (!job_id) return scry_fail(err, SCRY_EINVAL, "no job id");
    if (!reason || !*reason) reason = "job failed";
    int64_t now = scry_now_ms();
    lock(db);
    int rc = tx_begin(db, err), src;
    if (rc != SCRY_OK) goto out;
    sqlite3_stmt *s = st(db, S_JOB_GET, err);
    if (!s) { rc = PREP_FAILED; goto fail; }
    bind_text(s, 1, job_id);
    src = sqlite3_step(s);
    char status[16] = "";
    if (src == SQLITE_ROW) col_copy(s, 1, status, sizeof status);
    done(s);
    if (src == SQLITE_DONE) { rc = scry_fail(err, SCRY_ENOTFOUND, "job %s not found", job_id); goto fail; }
    if (src != SQLITE_ROW) { rc = db_fail(db, err, src, "get job"); goto fail; }
    if (strcmp(status, "pending") && strcmp(status, "running")) {
        rc = scry_fail(err, SCRY_EINVAL, "job %s is already %s", job_id, status);
        goto fail;
    }
    if (!(s = st(db, S_JOB_FAIL_ITEMS, err))) { rc = PREP_FAILED; goto fail; }
    bind_text(s, 1, job_id);
    bind_text(s, 2, reason);
    sqlite3_bind_int64(s, 3, now);
    if ((rc = run(db, s, "fail items", err)) != SCRY_OK) goto fail;
    int unfinished = sqlite3_changes(SQ(db)->conn);
    if (!(s = st(db, S_JOB_FAIL, err))) { rc = PREP_FAILED; goto fail; }
    bind_text(s, 1, job_id);
    bind_text(s, 2, reason);
    sqlite3_bind_int(s, 3, unfinished);
    sqlite3_bind_int64(s, 4, now);
    if ((rc = run(db, s, "fail job", err)) != SCRY_OK) goto fail;
    if (!(s = st(db, S_JOB_FAIL_IMAGES, err))) { rc = PREP_FAILED; goto fail; }
    bind_text(s, 1, job_id);
    sqlite3_bind_int64(s, 2, now);
    if ((rc = run(db, s, "fail images", err)) != SCRY_OK) goto fail;
    if ((rc = tx_commit(db, err)) == SCRY_OK) goto out;
fail:
    tx_rollback(db);
out:
    unlock(db);
    return rc;
}

/* ---- metrics --------------------------------------------------------------- */

static int sq_get_stats(meta_db *db, meta_stats *out, scry_err *err) {
    memset(out, 0, sizeof *out);
    int rc = SCRY_OK, src = SQLITE_DONE;
    lock(db);
    sqlite3_stmt *s = st(db, S_STAT_IMAGES, err);
    if (!s) { rc = PREP_FAILED; goto out; }
    while ((src = sqlite3_step(s)) == SQLITE_ROW) {
        const char *status = (const char *)sqlite3_column_text(s, 0);
        int64_t c = sqlite3_column_int64(s, 1);
        out->images += c;
        if (!strcmp(status, "ready")) out->images_ready = c;
        else if (!strcmp(status, "failed")) out->images_failed = c;
        else if (!strcmp(status, "pending")) out->images_pending = c;
    }
    done(s);
    if (src != SQLITE_DONE) { rc = db_fail(db, err, src, "image stats"); goto out; }
    if (!(s = st(db, S_STAT_JOBS, err))) { rc = PREP_FAILED; goto out; }
    while ((src = sqlite3_step(s)) == SQLITE_ROW) {
        const char *status = (const char *)sqlite3_column_text(s, 0);
        int64_t c = sqlite3_column_int64(s, 1);
        if (!strcmp(status, "pending")) out->jobs_pending = c;
        else if (!strcmp(status, "running")) out->jobs_running = c;
        else if (!strcmp(status, "completed")) out->jobs_completed = c;
        else if (!strcmp(status, "failed")) out->jobs_failed = c;
    }
    done(s);
    if (src != SQLITE_DONE) { rc = db_fail(db, err, src, "job stats"); goto out; }
    if (!(s = st(db, S_STAT_ITEMS, err))) { rc = PREP_FAILED; goto out; }
    src = sqlite3_step(s);
    if (src == SQLITE_ROW) out->items_pending = sqlite3_column_int64(s, 0);
    done(s);
    if (src != SQLITE_ROW) rc = db_fail(db, err, src, "item stats");
out:
    unlock(db);
    return rc;
}

/* ---- change feed (search catalog) ----------------------------------------- */


static int sq_image_each_since(meta_db *db, int64_t since_ms,
                          int (*fn)(const image_rec *r, void *ctx), void *ctx,
                          int64_t *last_ms, scry_err *err) {
    /* Keyset pages over (updated_at, rowid), copied out under the lock and
     * handed to fn without it, like meta_vector_each. */
    int64_t after_ms = since_ms, after_rowid = INT64_MIN;
    *last_ms = since_ms;
    image_rec *page = calloc(FEED_CHUNK, sizeof *page);
    if (!page) return scry_fail(err, SCRY_ENOMEM, "out of memory (change feed)");
    int rc = SCRY_OK;
    for (;;) {
        int got = 0, src = SQLITE_DONE;
        lock(db);
        sqlite3_stmt *s = NULL;
        src = sqlite3_prepare_v2(SQ(db)->conn,
                                 SQL_SINCE_PAGE,
                                 -1, &s, NULL);
        if (src != SQLITE_OK) {
            rc = db_fail(db, err, src, "prepare change feed");
            unlock(db);
            break;
        }
        sqlite3_bind_int64(s, 1, after_ms);
        sqlite3_bind_int64(s, 2, after_rowid);
        sqlite3_bind_int(s, 3, FEED_CHUNK);
        while ((src = sqlite3_step(s)) == SQLITE_ROW) {
            if ((rc = read_image(s, &page[got], err)) != SCRY_OK) break;
            got++;
        }
        if (rc == SCRY_OK && src != SQLITE_DONE) rc = db_fail(db, err, src, "change feed");
        sqlite3_finalize(s);
        unlock(db);
        for (int i = 0; i < got; i++) {
            if (rc == SCRY_OK) {
                int r = fn(&page[i], ctx);
                if (r != 0) rc = r;
            }
            if (page[i].updated_at > *last_ms) *last_ms = page[i].updated_at;
            after_ms = page[i].updated_at;
            after_rowid = page[i].rowid;
            image_rec_free(&page[i]);
        }
        if (rc != SCRY_OK || got < FEED_CHUNK) break;
    }
    free(page);
    return rc;
}

static int sq_vector_get(meta_db *db, int64_t rowid, const char *model, float *out, int dim,
                    scry_err *err) {
    lock(db);
    sqlite3_stmt *s = NULL;
    int src = sqlite3_prepare_v2(SQ(db)->conn,
                                 "SELECT dim, vec FROM image_vectors WHERE model = ?1 AND"
                                 " image_rowid = ?2",
                                 -1, &s, NULL);
    int rc = SCRY_OK;
    if (src != SQLITE_OK) {
        rc = db_fail(db, err, src, "prepare vector get");
    } else {
        sqlite3_bind_text(s, 1, model, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(s, 2, rowid);
        src = sqlite3_step(s);
        if (src == SQLITE_ROW) {
            int d = sqlite3_column_int(s, 0);
            int bytes = sqlite3_column_bytes(s, 1);
            if (d != dim || bytes != dim * (int)sizeof(float))
                rc = scry_fail(err, SCRY_ECORRUPT, "vector #%lld (%s) has dim %d, expected %d",
                               (long long)rowid, model, d, dim);
            else memcpy(out, sqlite3_column_blob(s, 1), (size_t)bytes);
        } else if (src == SQLITE_DONE) {
            rc = scry_fail(err, SCRY_ENOTFOUND, "no %s vector for image #%lld", model,
                           (long long)rowid);
        } else {
            rc = db_fail(db, err, src, "vector get");
        }
        sqlite3_finalize(s);
    }
    unlock(db);
    return rc;
}

/* ---- change feed by sequence ------------------------------------------------ */

static int sq_feed_read(meta_db *db, int64_t after_seq, const meta_feed_fns *fns, void *ctx,
                        int64_t *last_seq, scry_err *err) {
    /* The horizon first: everything up to it is committed (one writer at a
     * time), so reading both tables up to it in pages misses nothing even
     * while writers go on; later rows wait for the next read. Rows are
     * copied out under the lock and handed to fns without it. */
    int64_t horizon = 0;
    lock(db);
    sqlite3_stmt *s = NULL;
    int src = sqlite3_prepare_v2(SQ(db)->conn, "SELECT seq FROM feed_clock", -1, &s, NULL);
    if (src == SQLITE_OK && (src = sqlite3_step(s)) == SQLITE_ROW) {
        horizon = sqlite3_column_int64(s, 0);
        src = SQLITE_OK;
    }
    int rc = src == SQLITE_OK ? SCRY_OK : db_fail(db, err, src, "feed clock");
    sqlite3_finalize(s);
    unlock(db);
    if (rc != SCRY_OK || horizon <= after_seq) return rc;
    image_rec *page = calloc(FEED_CHUNK, sizeof *page);
    if (!page) return scry_fail(err, SCRY_ENOMEM, "out of memory (change feed)");
    for (int64_t after = after_seq; rc == SCRY_OK;) {
        int got = 0;
        lock(db);
        src = sqlite3_prepare_v2(SQ(db)->conn,
                                 SQL_FEED_PAGE, -1, &s, NULL);
        if (src != SQLITE_OK) rc = db_fail(db, err, src, "prepare change feed");
        else {
            sqlite3_bind_int64(s, 1, after);
            sqlite3_bind_int64(s, 2, horizon);
            sqlite3_bind_int(s, 3, FEED_CHUNK);
            while ((src = sqlite3_step(s)) == SQLITE_ROW) {
                if ((rc = read_image(s, &page[got], err)) != SCRY_OK) break;
                after = sqlite3_column_int64(s, META_IMAGE_NCOLS);
                got++;
            }
            if (rc == SCRY_OK && src != SQLITE_DONE) rc = db_fail(db, err, src, "change feed");
        }
        sqlite3_finalize(s);
        unlock(db);
        for (int i = 0; i < got; i++) {
            if (rc == SCRY_OK) rc = fns->upsert(&page[i], ctx);
            image_rec_free(&page[i]);
        }
        if (got < FEED_CHUNK) break;
    }
    free(page);
    for (int64_t after = after_seq; rc == SCRY_OK;) {
        int64_t rowids[FEED_CHUNK];
        int got = 0;
        lock(db);
        src = sqlite3_prepare_v2(SQ(db)->conn,
                                 SQL_FEED_DELETIONS, -1, &s, NULL);
        if (src != SQLITE_OK) rc = db_fail(db, err, src, "prepare deletion feed");
        else {
            sqlite3_bind_int64(s, 1, after);
            sqlite3_bind_int64(s, 2, horizon);
            sqlite3_bind_int(s, 3, FEED_CHUNK);
            while ((src = sqlite3_step(s)) == SQLITE_ROW) {
                after = sqlite3_column_int64(s, 0);
                rowids[got++] = sqlite3_column_int64(s, 1);
            }
            if (src != SQLITE_DONE) rc = db_fail(db, err, src, "deletion feed");
        }
        sqlite3_finalize(s);
        unlock(db);
        for (int i = 0; rc == SCRY_OK && i < got; i++) rc = fns->removed(rowids[i], ctx);
        if (got < FEED_CHUNK) break;
    }
    if (rc == SCRY_OK) *last_seq = horizon;
    return rc;
}

static int sq_feed_wait(meta_db *db, int timeout_ms, scry_err *err) {
    (void)db;
    (void)err;
    int ms = timeout_ms < 200 ? timeout_ms : 200;
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
    return SCRY_OK;
}

static int sq_image_rowids(meta_db *db, int64_t **out, size_t *n, scry_err *err) {
    size_t cap = 0, got = 0;
    int64_t *ids = NULL;
    int rc = SCRY_OK, src;
    lock(db);
    sqlite3_stmt *s = NULL;
    src = sqlite3_prepare_v2(SQ(db)->conn, "SELECT rowid FROM images ORDER BY rowid", -1, &s, NULL);
    if (src != SQLITE_OK) rc = db_fail(db, err, src, "prepare rowids");
    else {
        while ((src = sqlite3_step(s)) == SQLITE_ROW) {
            if (got == cap) {
                cap = cap ? cap * 2 : 1024;
                int64_t *p = realloc(ids, cap * sizeof *p);
                if (!p) { rc = scry_fail(err, SCRY_ENOMEM, "out of memory (rowids)"); break; }
                ids = p;
            }
            ids[got++] = sqlite3_column_int64(s, 0);
        }
        if (rc == SCRY_OK && src != SQLITE_DONE) rc = db_fail(db, err, src, "rowids");
    }
    sqlite3_finalize(s);
    unlock(db);
    if (rc != SCRY_OK || !got) {
        free(ids);
        return rc;
    }
    *out = ids;
    *n = got;
    return SCRY_OK;
}

/* ---- API keys ----------------------------------------------------------- */

static void read_key(sqlite3_stmt *s, key_rec *k) {
    const char *col[KEY_NCOLS];
    for (int i = 0; i < KEY_NCOLS; i++) col[i] = (const char *)sqlite3_column_text(s, i);
    meta_key_decode(k, col);
}

static int sq_key_insert(meta_db *db, const key_rec *k, scry_err *err) {
    if (!meta_valid_id(k->id) || !k->salt[0] || !k->hash[0])
        return scry_fail(err, SCRY_EINVAL, "key insert: incomplete key");
    lock(db);
    int rc;
    sqlite3_stmt *s = st(db, S_KEY_INSERT, err);
    if (!s) { rc = PREP_FAILED; goto out; }
    bind_text(s, 1, k->id);
    bind_text(s, 2, k->name);
    bind_text(s, 3, k->scopes);
    bind_text(s, 4, k->salt);
    bind_text(s, 5, k->hash);
    sqlite3_bind_int64(s, 6, k->created_at ? k->created_at : scry_now_ms());
    rc = run(db, s, "insert key", err);
out:
    unlock(db);
    return rc;
}

static int sq_key_get(meta_db *db, const char *id, key_rec *out, scry_err *err) {
    lock(db);
    int rc;
    sqlite3_stmt *s = st(db, S_KEY_GET, err);
    if (!s) { rc = PREP_FAILED; goto out; }
    bind_text(s, 1, id);
    int src = sqlite3_step(s);
    if (src == SQLITE_ROW) {
        read_key(s, out);
        rc = SCRY_OK;
    } else if (src == SQLITE_DONE) {
        rc = scry_fail(err, SCRY_ENOTFOUND, "no key %s", id ? id : "");
    } else {
        rc = db_fail(db, err, src, "get key");
    }
    done(s);
out:
    unlock(db);
    return rc;
}

static int sq_key_list(meta_db *db, key_rec **out, int *n, scry_err *err) {
    *out = NULL;
    *n = 0;
    key_rec *keys = NULL;
    int got = 0, cap = 0, rc = SCRY_OK, src;
    lock(db);
    sqlite3_stmt *s = st(db, S_KEY_LIST, err);
    if (!s) { rc = PREP_FAILED; goto out; }
    while ((src = sqlite3_step(s)) == SQLITE_ROW) {
        if (got == cap) {
            int ncap = cap ? cap * 2 : 16;
            key_rec *p = realloc(keys, (size_t)ncap * sizeof *p);
            if (!p) { rc = scry_fail(err, SCRY_ENOMEM, "out of memory (key list)"); break; }
            keys = p;
            cap = ncap;
        }
        read_key(s, &keys[got++]);
    }
    if (rc == SCRY_OK && src != SQLITE_DONE) rc = db_fail(db, err, src, "list keys");
    done(s);
out:
    unlock(db);
    if (rc != SCRY_OK || got == 0) {
        free(keys);
        return rc;
    }
    *out = keys;
    *n = got;
    return SCRY_OK;
}

static int sq_key_revoke(meta_db *db, const char *id, scry_err *err) {
    lock(db);
    int rc;
    sqlite3_stmt *s = st(db, S_KEY_REVOKE, err);
    if (!s) { rc = PREP_FAILED; goto out; }
    bind_text(s, 1, id);
    sqlite3_bind_int64(s, 2, scry_now_ms());
    rc = run(db, s, "revoke key", err);
    if (rc == SCRY_OK && sqlite3_changes(SQ(db)->conn) == 0)
        rc = scry_fail(err, SCRY_ENOTFOUND, "no active key %s", id ? id : "");
out:
    unlock(db);
    return rc;
}

static int sq_key_touch(meta_db *db, const char *id, int64_t used_at_ms, scry_err *err) {
    lock(db);
    int rc;
    /* Bookkeeping a crash may lose, like claims: not worth an fsync. */
    relaxed_sync(db, 1);
    sqlite3_stmt *s = st(db, S_KEY_TOUCH, err);
    if (!s) { rc = PREP_FAILED; goto out; }
    bind_text(s, 1, id);
    sqlite3_bind_int64(s, 2, used_at_ms);
    rc = run(db, s, "touch key", err);
out:
    relaxed_sync(db, 0);
    unlock(db);
    return rc;
}

static int64_t sq_key_count_active(meta_db *db) {
    int64_t n = -1;
    lock(db);
    sqlite3_stmt *s = st(db, S_KEY_ACTIVE, NULL);
    if (s && sqlite3_step(s) == SQLITE_ROW) n = sqlite3_column_int64(s, 0);
    done(s);
    unlock(db);
    return n;
}

/* One process runs the workers of an SQLite database (meta_recover requeues
 * everything running at its start), so there is no lease to renew. */
static int sq_item_heartbeat(meta_db *db, const work_item *w, scry_err *err) {
    (void)db;
    (void)w;
    (void)err;
    return SCRY_OK;
}

static const meta_ops sqlite_ops = {
    .name = "sqlite",
    .close = sq_close,
    .schema_version = sq_schema_version,
    .upload_commit = sq_upload_commit,
    .image_get = sq_image_get,
    .image_get_by_rowid = sq_image_get_by_rowid,
    .image_list = sq_image_list,
    .image_count = sq_image_count,
    .image_update = sq_image_update,
    .image_delete = sq_image_delete,
    .blob_referenced = sq_blob_referenced,
    .fts_search = sq_fts_search,
    .vector_put = sq_vector_put,
    .vector_each = sq_vector_each,
    .vector_get = sq_vector_get,
    .faces_put = sq_faces_put,
    .faces_get = sq_faces_get,
    .face_get = sq_face_get,
    .face_each = sq_face_each,
    .face_count = sq_face_count,
    .image_each_since = sq_image_each_since,
    .feed_read = sq_feed_read,
    .feed_wait = sq_feed_wait,
    .image_rowids = sq_image_rowids,
    .job_get = sq_job_get,
    .job_list = sq_job_list,
    .item_claim = sq_item_claim,
    .item_stage = sq_item_stage,
    .item_heartbeat = sq_item_heartbeat,
    .item_finish = sq_item_finish,
    .recover = sq_recover,
    .reindex_all = sq_reindex_all,
    .job_fail = sq_job_fail,
    .get_stats = sq_get_stats,
    .key_insert = sq_key_insert,
    .key_get = sq_key_get,
    .key_list = sq_key_list,
    .key_revoke = sq_key_revoke,
    .key_touch = sq_key_touch,
    .key_count_active = sq_key_count_active,
    .faces_assign = sq_faces_assign,
    .people_merge = sq_people_merge,
    .person_set_name = sq_person_set_name,
    .person_set_cover = sq_person_set_cover,
    .person_delete = sq_person_delete,
    .person_get = sq_person_get,
    .people_list = sq_people_list,
    .people_named = sq_people_named,
    .person_faces = sq_person_faces,
    .person_images = sq_person_images,
    .face_changes_page = sq_face_changes_page,
    .face_tombstones_page = sq_face_tombstones_page,
    .people_version = sq_people_version,
    .job_create = sq_job_create,
    .job_set = sq_job_set,
    .jobs_unfinished = sq_jobs_unfinished,
};
