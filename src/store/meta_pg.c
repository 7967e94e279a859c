/* meta_pg.c -- the metadata store on PostgreSQL 15 through libpq (see meta.h).
 *
 * For a cluster: several processes on several machines (api, workers,
 * search nodes: docs/scale.md) share one database. What changes against the
 * SQLite backend, and why:
 *
 * Connection: one per meta_db, every call serialised by db->lock (as on
 * SQLite). A process needs few: the work per call is a few round trips of
 * ~0.1 ms on a LAN, far below the pipeline's seconds per image. A second
 * connection, opened lazily, only LISTENs (meta_feed_wait).
 *
 * Losing the database: every operation runs inside a retry loop
 * (WITH_RETRY). A broken connection, an admin shutdown (a restart), a
 * deadlock or a serialisation failure rolls the transaction back, waits
 * (100 ms doubling to 2 s), reconnects and runs the whole operation again,
 * for up to PG_RETRY_S; only then does the caller get SCRY_EBUSY ("database
 * unreachable", a 503 at the API). Each operation is one transaction, so a
 * retry repeats all of it or none. A COMMIT whose answer was lost may have
 * happened: the upload commit checks for its job id first on a retry, and
 * the job calls match items by attempt, so a repeat is harmless.
 *
 * Job queue: a claim takes the oldest pending item with SELECT ... FOR
 * UPDATE SKIP LOCKED, so workers never wait on each other, and gives it a
 * lease (job_items.lease_until). Entering a stage and meta_item_heartbeat
 * renew it. meta_recover only touches items whose lease has expired: their
 * worker (job_items.claimed_by: host:pid) died (SIGKILL, machine lost) or
 * could not reach the database for a
 * whole lease. They go back to pending, or fail once they have had
 * max_attempts ("lost its worker in stage S after N attempts"). Any worker
 * may run it at any time; a worker whose lease expired but who is still
 * alive finds its item taken (attempt numbers differ) and drops its result.
 *
 * Change feed: a trigger gives every written image row the next value of
 * feed_seq and logs every delete in image_deletions, and NOTIFYs channel
 * scry_feed (delivered at commit). Sequence values are only useful if a
 * reader that has seen S can never later meet a commit below S: every
 * transaction that writes images first takes one transaction-scoped
 * advisory lock (FEED_LOCK), held until its commit, so sequences are handed
 * out in commit order. That serialises image writes cluster-wide -- a few
 * ms each, hundreds per second, against a pipeline of ~10 images/s per
 * worker -- and it also fixes the lock order (feed lock first), so these
 * transactions cannot deadlock among themselves.
 *
 * Keyword search: a tsvector per image in images_fts, built from the same
 * derived text as SQLite's FTS5 row (meta_common.c), weighted A caption,
 * B tags, C OCR text, D filename/EXIF/colours, under a text search
 * configuration `scry` (english stemming behind unaccent, so "cafe"
 * matches "café"). meta_fts_search takes the FTS5 expressions Scry builds
 * (quoted phrases, OR/AND/NOT, parentheses, column filters) and translates
 * them to tsquery; a filter on filename, exif or colors matches any of the
 * three (one weight class), a documented difference.
 *
 * Schema: versioned in scry_schema, migrations[i] takes version i to i+1,
 * each in one transaction with the version bump, under an advisory lock so
 * that processes starting together migrate once. The versions match the
 * SQLite backend's (v6 here is what v6 is there), so meta_schema_version
 * means the same on both.
 *
 * Values travel as text both ways except vectors and face descriptors,
 * sent and read as binary (bytea of host-order float32, as in SQLite). */
#include "store/meta_sql.h"

#include <arpa/inet.h>
#include <errno.h>
#include <libpq-fe.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"

#define PG_RETRY_S 60.0         /* how long an operation retries a lost database */
#define FEED_LOCK "SELECT pg_advisory_xact_lock(5381)"
#define MIGRATE_LOCK "SELECT pg_advisory_xact_lock(5380)"
#define FEED_CHANNEL "scry_feed"
#define PG_VEC_CHUNK 256
#define PG_FACE_CHUNK 256

/* ---- schema ------------------------------------------------------------ */

static const char *const migrations[] = {
    /* v0 -> v1 */
    "CREATE TABLE images ("
    "  rowid        BIGSERIAL PRIMARY KEY,"
    "  id           TEXT NOT NULL UNIQUE,"
    "  sha256       TEXT NOT NULL,"
    "  thumb_sha256 TEXT NOT NULL DEFAULT '',"
    "  filename     TEXT NOT NULL,"
    "  format       TEXT NOT NULL,"
    "  bytes        BIGINT NOT NULL,"
    "  width        INTEGER NOT NULL DEFAULT 0,"
    "  height       INTEGER NOT NULL DEFAULT 0,"
    "  exif_json    TEXT,"
    "  taken_at     BIGINT NOT NULL DEFAULT 0,"
    "  colors_json  TEXT,"
    "  caption      TEXT,"
    "  tags_json    TEXT,"
    "  faces_json   TEXT,"
    "  text         TEXT,"
    "  text_json    TEXT,"
    "  phash        BIGINT,"
    "  status       TEXT NOT NULL DEFAULT 'pending'"
    "               CHECK (status IN ('pending','ready','failed')),"
    "  created_at   BIGINT NOT NULL,"
    "  updated_at   BIGINT NOT NULL"
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
    "  created_at BIGINT NOT NULL,"
    "  updated_at BIGINT NOT NULL,"
    "  ord        BIGSERIAL"
    ");"
    "CREATE INDEX jobs_created ON jobs(created_at, ord);"
    "CREATE INDEX jobs_status ON jobs(status);"
    "CREATE TABLE job_items ("
    "  seq        BIGSERIAL PRIMARY KEY,"
    "  job_id     TEXT NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,"
    "  image_id   TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE,"
    "  status     TEXT NOT NULL DEFAULT 'pending'"
    "             CHECK (status IN ('pending','running','done','failed')),"
    "  attempts   INTEGER NOT NULL DEFAULT 0,"
    "  stage      TEXT NOT NULL DEFAULT '',"
    "  error      TEXT,"
    "  updated_at BIGINT NOT NULL,"
    "  UNIQUE (job_id, image_id)"
    ");"
    "CREATE INDEX job_items_status ON job_items(status, seq);"
    "CREATE INDEX job_items_image ON job_items(image_id);"
    "CREATE TABLE image_vectors ("
    "  model       TEXT NOT NULL,"
    "  image_rowid BIGINT NOT NULL REFERENCES images(rowid) ON DELETE CASCADE,"
    "  dim         INTEGER NOT NULL,"
    "  vec         BYTEA NOT NULL,"
    "  updated_at  BIGINT NOT NULL,"
    "  PRIMARY KEY (model, image_rowid)"
    ");"
    "CREATE INDEX image_vectors_image ON image_vectors(image_rowid);"
    "CREATE EXTENSION IF NOT EXISTS unaccent;"
    "CREATE TEXT SEARCH CONFIGURATION scry (COPY = english);"
    "ALTER TEXT SEARCH CONFIGURATION scry ALTER MAPPING FOR hword, hword_part, word"
    "  WITH unaccent, english_stem;"
    "CREATE TABLE images_fts ("
    "  rowid BIGINT PRIMARY KEY REFERENCES images(rowid) ON DELETE CASCADE,"
    "  doc   TSVECTOR NOT NULL"
    ");"
    "CREATE INDEX images_fts_doc ON images_fts USING gin (doc);",
    /* v1 -> v2 */
    "CREATE INDEX images_updated ON images(updated_at, rowid);",
    /* v2 -> v3 */
    "CREATE TABLE faces ("
    "  face_id     BIGSERIAL PRIMARY KEY,"
    "  image_rowid BIGINT NOT NULL REFERENCES images(rowid) ON DELETE CASCADE,"
    "  face_index  INTEGER NOT NULL,"
    "  model       TEXT NOT NULL,"
    "  x INTEGER NOT NULL, y INTEGER NOT NULL, w INTEGER NOT NULL, h INTEGER NOT NULL,"
    "  dim         INTEGER NOT NULL,"
    "  vec         BYTEA NOT NULL,"
    "  created_at  BIGINT NOT NULL,"
    "  updated_at  BIGINT NOT NULL"
    ");"
    "CREATE INDEX faces_image ON faces(image_rowid, model);"
    "CREATE INDEX faces_model ON faces(model, face_id);",
    /* v3 -> v4: API keys (http/auth), as on SQLite. */
    "CREATE TABLE api_keys ("
    "  id           TEXT PRIMARY KEY,"
    "  name         TEXT NOT NULL,"
    "  scopes       TEXT NOT NULL,"
    "  salt         TEXT NOT NULL,"
    "  hash         TEXT NOT NULL,"
    "  created_at   BIGINT NOT NULL,"
    "  last_used_at BIGINT NOT NULL DEFAULT 0,"
    "  revoked_at   BIGINT NOT NULL DEFAULT 0"
    ");",
    /* v4 -> v5: people, as on SQLite (issue 10). Faces are stamped by the
     * server under the feed lock (faces_stamp), so their stamps come in
     * commit order like the images' sequences and the people service's
     * feed by time misses nothing when several workers write at once;
     * people_clock moves with every statement on faces or people (in the
     * writer's transaction: meta_people_version). */
    "CREATE TABLE people ("
    "  person_id  BIGSERIAL PRIMARY KEY,"
    "  name       TEXT,"
    "  cover_face BIGINT,"
    "  created_at BIGINT NOT NULL,"
    "  updated_at BIGINT NOT NULL"
    ");"
    "CREATE INDEX people_updated ON people(updated_at);"
    "ALTER TABLE faces ADD COLUMN person_id BIGINT REFERENCES people(person_id) ON DELETE SET NULL;"
    "ALTER TABLE faces ADD COLUMN assigned INTEGER NOT NULL DEFAULT 0;"
    "CREATE INDEX faces_person ON faces(person_id);"
    "CREATE INDEX faces_updated ON faces(model, updated_at, face_id);"
    "CREATE TABLE face_tombstones ("
    "  face_id    BIGINT PRIMARY KEY,"
    "  model      TEXT NOT NULL,"
    "  deleted_at BIGINT NOT NULL"
    ");"
    "CREATE INDEX face_tombstones_at ON face_tombstones(model, deleted_at);"
    "CREATE TABLE people_clock (id INTEGER PRIMARY KEY CHECK (id = 1), v BIGINT NOT NULL);"
    "INSERT INTO people_clock VALUES (1, 0);"
    "CREATE FUNCTION faces_stamp() RETURNS trigger LANGUAGE plpgsql AS $$"
    " BEGIN"
    "  PERFORM pg_advisory_xact_lock(5381);"
    "  NEW.updated_at := (extract(epoch FROM clock_timestamp()) * 1000)::bigint;"
    "  RETURN NEW;"
    " END $$;"
    "CREATE TRIGGER faces_stamp BEFORE INSERT OR UPDATE ON faces"
    "  FOR EACH ROW EXECUTE FUNCTION faces_stamp();"
    "CREATE FUNCTION faces_deleted() RETURNS trigger LANGUAGE plpgsql AS $$"
    " BEGIN"
    "  PERFORM pg_advisory_xact_lock(5381);"
    "  INSERT INTO face_tombstones(face_id, model, deleted_at) VALUES (OLD.face_id, OLD.model,"
    "    (extract(epoch FROM clock_timestamp()) * 1000)::bigint)"
    "    ON CONFLICT (face_id) DO UPDATE SET model = excluded.model, deleted_at = excluded.deleted_at;"
    "  DELETE FROM people WHERE person_id = OLD.person_id AND NOT EXISTS"
    "    (SELECT 1 FROM faces WHERE faces.person_id = OLD.person_id);"
    "  RETURN OLD;"
    " END $$;"
    "CREATE TRIGGER faces_deleted AFTER DELETE ON faces"
    "  FOR EACH ROW EXECUTE FUNCTION faces_deleted();"
    "CREATE FUNCTION people_bump() RETURNS trigger LANGUAGE plpgsql AS $$"
    " BEGIN UPDATE people_clock SET v = v + 1; RETURN NULL; END $$;"
    "CREATE TRIGGER faces_bump AFTER INSERT OR UPDATE OR DELETE ON faces"
    "  FOR EACH STATEMENT EXECUTE FUNCTION people_bump();"
    "CREATE TRIGGER people_bump AFTER INSERT OR UPDATE OR DELETE ON people"
    "  FOR EACH STATEMENT EXECUTE FUNCTION people_bump();"
    "ALTER TABLE jobs DROP CONSTRAINT jobs_kind_check;"
    "ALTER TABLE jobs ADD CONSTRAINT jobs_kind_check CHECK (kind IN ('upload','reindex','recluster'));",
    /* v5 -> v6: the change feed by sequence, and leases on claims. */
    "CREATE SEQUENCE feed_seq;"
    "ALTER TABLE images ADD COLUMN seq BIGINT NOT NULL DEFAULT 0;"
    "UPDATE images SET seq = nextval('feed_seq');"
    "CREATE INDEX images_seq ON images(seq);"
    "CREATE TABLE image_deletions ("
    "  seq BIGINT PRIMARY KEY, image_rowid BIGINT NOT NULL, deleted_at BIGINT NOT NULL);"
    "CREATE FUNCTION images_feed() RETURNS trigger LANGUAGE plpgsql AS $$"
    " BEGIN"
    "  PERFORM pg_advisory_xact_lock(5381);"
    "  PERFORM pg_notify('" FEED_CHANNEL "', '');"
    "  IF TG_OP = 'DELETE' THEN"
    "    INSERT INTO image_deletions(seq, image_rowid, deleted_at)"
    "      VALUES (nextval('feed_seq'), OLD.rowid, OLD.updated_at);"
    "    RETURN OLD;"
    "  END IF;"
    "  NEW.seq := nextval('feed_seq');"
    "  RETURN NEW;"
    " END $$;"
    "CREATE TRIGGER images_feed_write BEFORE INSERT OR UPDATE ON images"
    "  FOR EACH ROW EXECUTE FUNCTION images_feed();"
    "CREATE TRIGGER images_feed_delete AFTER DELETE ON images"
    "  FOR EACH ROW EXECUTE FUNCTION images_feed();"
    "ALTER TABLE job_items ADD COLUMN lease_until BIGINT NOT NULL DEFAULT 0;"
    "ALTER TABLE job_items ADD COLUMN claimed_by TEXT NOT NULL DEFAULT '';"
    "CREATE INDEX job_items_lease ON job_items(status, lease_until);",
};
#define SCHEMA_LATEST ((int)(sizeof migrations / sizeof *migrations))

/* ---- statements only this backend runs ---------------------------------- */

#define PG_IMG_INSERT                                                                   \
    "INSERT INTO images(id, sha256, filename, format, bytes, created_at, updated_at)"  \
    " VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?6) RETURNING rowid"
#define PG_FTS_DOC(p) "setweight(to_tsvector('scry', coalesce(" p ", '')), "
#define PG_FTS_PUT                                                                      \
    "INSERT INTO images_fts(rowid, doc) VALUES(?1, "                                    \
    PG_FTS_DOC("?2") "'D') || " PG_FTS_DOC("?3") "'A') || " PG_FTS_DOC("?4") "'B') || " \
    PG_FTS_DOC("?5") "'C') || " PG_FTS_DOC("?6") "'D') || " PG_FTS_DOC("?7") "'D'))"  \
    " ON CONFLICT (rowid) DO UPDATE SET doc = excluded.doc"
/* ts_rank's weights are {D, C, B, A}: the same proportions as SQLite's
 * BM25 column weights (caption and tags 2, text 1.5, the rest 1). */
#define PG_FTS_SEARCH                                                                   \
    "SELECT i.rowid, i.id, ts_rank('{0.5, 0.75, 1.0, 1.0}', f.doc, q) AS s"            \
    " FROM images_fts f JOIN images i ON i.rowid = f.rowid,"                           \
    " to_tsquery('scry', ?1) q WHERE f.doc @@ q ORDER BY s DESC, i.rowid DESC LIMIT ?2"
#define PG_JOB_LIST                                                                     \
    "SELECT " META_JOB_COLS " FROM jobs ORDER BY created_at DESC, ord DESC LIMIT ?1"
#define PG_ITEM_CLAIM                                                                   \
    "UPDATE job_items SET status = 'running', attempts = attempts + 1, stage = '',"    \
    " error = NULL, updated_at = ?1, lease_until = ?2, claimed_by = ?3 WHERE seq = (SELECT seq FROM"    \
    " job_items WHERE status = 'pending' ORDER BY seq LIMIT 1 FOR UPDATE SKIP LOCKED)" \
    " RETURNING job_id, image_id, attempts"
#define PG_ITEM_STAGE                                                                   \
    "UPDATE job_items SET stage = ?4, updated_at = ?5, lease_until = ?6 WHERE"         \
    " job_id = ?1 AND image_id = ?2 AND attempts = ?3 AND status = 'running'"
#define PG_ITEM_LEASE                                                                   \
    "UPDATE job_items SET lease_until = ?4 WHERE job_id = ?1 AND image_id = ?2 AND"    \
    " attempts = ?3 AND status = 'running'"
#define PG_ITEM_EXPIRED                                                                 \
    "SELECT seq, job_id, image_id, attempts, stage FROM job_items WHERE status ="     \
    " 'running' AND lease_until < ?1 ORDER BY seq FOR UPDATE SKIP LOCKED"
#define PG_FEED_HORIZON                                                                 \
    "SELECT greatest((SELECT coalesce(max(seq), 0) FROM images),"                      \
    " (SELECT coalesce(max(seq), 0) FROM image_deletions))"

/* ---- connection, errors, retries ---------------------------------------- */

typedef struct pg_db {
    meta_db base;               /* first: the handle callers hold */
    char *url;
    PGconn *conn;
    pthread_mutex_t lock;
    int attempt;                /* of the operation in progress (0 = first) */
    char state[6];              /* SQLSTATE of the last failed statement */
    PGconn *listen;             /* LISTEN connection (meta_feed_wait) */
    char worker[128];           /* "host:pid", recorded with each claim */
    pthread_mutex_t listen_lock;
} pg_db;
#define PG(db) ((pg_db *)(db))

static int connect_to(const char *url, PGconn **out, scry_err *err) {
    const char *keys[] = {"connect_timeout", "dbname", NULL};
    const char *vals[] = {"5", url, NULL};
    PGconn *c = PQconnectdbParams(keys, vals, 1);
    if (!c) return scry_fail(err, SCRY_ENOMEM, "out of memory (libpq)");
    if (PQstatus(c) != CONNECTION_OK) {
        int rc = scry_fail(err, SCRY_EBUSY, "postgres: cannot connect: %s", PQerrorMessage(c));
        PQfinish(c);
        return rc;
    }
    PQclear(PQexec(c, "SET client_min_messages = warning"));
    *out = c;
    return SCRY_OK;
}

static int code_of_state(const char *st) {
    if (!st || !*st) return SCRY_EIO;
    if (!strncmp(st, "23", 2)) return SCRY_EINVAL;        /* integrity constraint */
    if (!strncmp(st, "22", 2)) return SCRY_EINVAL;        /* data exception */
    if (!strncmp(st, "42", 2)) return SCRY_EINVAL;        /* syntax or access rule */
    if (!strncmp(st, "40", 2) || !strncmp(st, "08", 2) || !strncmp(st, "57P", 3) ||
        !strcmp(st, "55P03"))
        return SCRY_EBUSY;
    if (!strcmp(st, "53200")) return SCRY_ENOMEM;
    return SCRY_EIO;
}

/* Whether the failure of the current operation calls for another try. */
static int retryable(pg_db *db) {
    if (!db->conn || PQstatus(db->conn) != CONNECTION_OK) return 1;
    return !strncmp(db->state, "40", 2) || !strncmp(db->state, "08", 2) ||
           !strncmp(db->state, "57P", 3);
}

/* "?12" -> "$12" outside string literals (meta_sql.h is written for SQLite). */
static char *pg_sql(const char *sql) {
    size_t n = strlen(sql);
    char *out = malloc(n + 1);
    if (!out) return NULL;
    int quoted = 0;
    for (size_t i = 0; i <= n; i++) {
        char c = sql[i];
        if (c == '\'') quoted = !quoted;
        out[i] = (!quoted && c == '?' && sql[i + 1] >= '0' && sql[i + 1] <= '9') ? '$' : c;
    }
    return out;
}

/* Query parameters: text unless given as binary. */
#define MAX_ARGS 16
typedef struct pq_args {
    int n;
    const char *v[MAX_ARGS];
    int len[MAX_ARGS], fmt[MAX_ARGS];
    char buf[MAX_ARGS][24];
} pq_args;

static void a_text(pq_args *a, const char *s) {
    a->v[a->n] = s;
    a->len[a->n] = 0;
    a->fmt[a->n++] = 0;
}
static void a_i64(pq_args *a, int64_t x) {
    snprintf(a->buf[a->n], sizeof a->buf[a->n], "%lld", (long long)x);
    a_text(a, a->buf[a->n]);
}
static void a_bin(pq_args *a, const void *p, int len) {
    a->v[a->n] = p;
    a->len[a->n] = len;
    a->fmt[a->n++] = 1;
}

/* Run sql (meta_sql.h style placeholders) with args; results as text, or
 * binary when binary is set. NULL on failure, err filled (what names it). */
static PGresult *ex(pg_db *db, const char *sql, const pq_args *a, int binary, const char *what,
                    scry_err *err) {
    char *text = pg_sql(sql);
    if (!text) {
        scry_fail(err, SCRY_ENOMEM, "out of memory (sql)");
        return NULL;
    }
    PGresult *r = PQexecParams(db->conn, text, a ? a->n : 0, NULL, a ? a->v : NULL,
                               a ? a->len : NULL, a ? a->fmt : NULL, binary);
    free(text);
    ExecStatusType st = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;
    if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) return r;
    const char *state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
    snprintf(db->state, sizeof db->state, "%s", state ? state : "08000");
    const char *msg = r ? PQresultErrorMessage(r) : PQerrorMessage(db->conn);
    char clean[400];
    snprintf(clean, sizeof clean, "%s", msg && *msg ? msg : PQerrorMessage(db->conn));
    for (char *p = clean; *p; p++)
        if (*p == '\n') *p = ' ';
    scry_fail(err, code_of_state(db->state), "postgres %s: %s", what, clean);
    PQclear(r);
    return NULL;
}

/* A statement whose rows are not needed. */
static int run(pg_db *db, const char *sql, const pq_args *a, const char *what, scry_err *err) {
    PGresult *r = ex(db, sql, a, 0, what, err);
    if (!r) return err && err->code ? err->code : SCRY_EIO;
    PQclear(r);
    return SCRY_OK;
}

/* Rows affected by a statement, or a negative SCRY_E*. */
static int64_t run_count(pg_db *db, const char *sql, const pq_args *a, const char *what,
                         scry_err *err) {
    PGresult *r = ex(db, sql, a, 0, what, err);
    if (!r) return err && err->code ? err->code : SCRY_EIO;
    int64_t n = strtoll(PQcmdTuples(r), NULL, 10);
    PQclear(r);
    return n;
}

static int tx_begin(pg_db *db, int feed, scry_err *err) {
    int rc = run(db, "BEGIN", NULL, "begin", err);
    if (rc == SCRY_OK && feed) rc = run(db, FEED_LOCK, NULL, "feed lock", err);
    return rc;
}
static int tx_commit(pg_db *db, scry_err *err) { return run(db, "COMMIT", NULL, "commit", err); }
static void tx_rollback(pg_db *db) {
    if (db->conn && PQtransactionStatus(db->conn) != PQTRANS_IDLE)
        PQclear(PQexec(db->conn, "ROLLBACK"));
}

static void sleep_s(double s) {
    struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
    while (nanosleep(&ts, &ts) == -1 && errno == EINTR) {}
}

typedef struct retry_state {
    double t0, backoff;
} retry_state;

static void retry_begin(pg_db *db, retry_state *rs) {
    pthread_mutex_lock(&db->lock);
    rs->t0 = scry_mono_s();
    rs->backoff = 0.1;
    db->attempt = 0;
}

static int retry_connect(pg_db *db, scry_err *err) {
    db->state[0] = 0;
    if (db->conn && PQstatus(db->conn) == CONNECTION_OK) return SCRY_OK;
    if (db->conn) PQfinish(db->conn);
    db->conn = NULL;
    return connect_to(db->url, &db->conn, err);
}

/* After an attempt: 1 to go again (transaction rolled back, waited), 0 when
 * done (success, a failure retrying cannot fix, or out of time). */
static int retry_again(pg_db *db, retry_state *rs, int *rc, scry_err *err) {
    if (*rc == SCRY_OK) return 0;
    tx_rollback(db);
    if (!retryable(db)) return 0;
    double waited = scry_mono_s() - rs->t0;
    if (waited > PG_RETRY_S) {
        *rc = scry_fail(err, SCRY_EBUSY, "database unreachable for %.0f s (%s)", waited,
                        err ? err->msg : "");
        return 0;
    }
    log_warn("meta.pg_retry", "attempt=%d wait_ms=%.0f reason=\"%s\"", db->attempt + 1,
             rs->backoff * 1000, err ? err->msg : "");
    pthread_mutex_unlock(&db->lock);
    sleep_s(rs->backoff);
    rs->backoff = rs->backoff * 2 < 2.0 ? rs->backoff * 2 : 2.0;
    pthread_mutex_lock(&db->lock);
    db->attempt++;
    return 1;
}

#define WITH_RETRY(db, rc, err, ...)                                  \
    do {                                                              \
        retry_state rs_;                                              \
        retry_begin(db, &rs_);                                        \
        do {                                                          \
            rc = retry_connect(db, err);                              \
            if (rc == SCRY_OK) { __VA_ARGS__; }                       \
        } while (retry_again(db, &rs_, &rc, err));                    \
        pthread_mutex_unlock(&(db)->lock);                            \
    } while (0)

static const char *val(const PGresult *r, int row, int col) {
    return PQgetisnull(r, row, col) ? NULL : PQgetvalue(r, row, col);
}

static int64_t i64(const PGresult *r, int row, int col) {
    const char *v = val(r, row, col);
    return v ? strtoll(v, NULL, 10) : 0;
}

/* A binary integer column (int2, int4 or int8, network order). */
static int64_t bin_int(const PGresult *r, int row, int col) {
    const unsigned char *p = (const unsigned char *)PQgetvalue(r, row, col);
    int len = PQgetlength(r, row, col);
    uint64_t v = 0;
    for (int i = 0; i < len; i++) v = (v << 8) | p[i];
    if (len == 2) return (int16_t)v;
    if (len == 4) return (int32_t)v;
    return (int64_t)v;
}

static void copy_val(const PGresult *r, int row, int col, char *dst, size_t cap) {
    const char *v = val(r, row, col);
    snprintf(dst, cap, "%s", v ? v : "");
}

/* ---- open / close / migrate --------------------------------------------- */

/* One transaction per step, each under the migration lock with the version
 * read again (another process may have migrated meanwhile). */
static int migrate(pg_db *db, scry_err *err) {
    for (;;) {
        int rc = run(db, "BEGIN", NULL, "begin", err), version = 0;
        if (rc == SCRY_OK) rc = run(db, MIGRATE_LOCK, NULL, "migration lock", err);
        if (rc == SCRY_OK)
            rc = run(db, "CREATE TABLE IF NOT EXISTS scry_schema (version INTEGER NOT NULL)",
                     NULL, "schema table", err);
        if (rc == SCRY_OK) {
            PGresult *r = ex(db, "SELECT version FROM scry_schema", NULL, 0, "schema version", err);
            if (!r) rc = err->code;
            else if (PQntuples(r) == 0)
                rc = run(db, "INSERT INTO scry_schema VALUES (0)", NULL, "schema version", err);
            else version = (int)i64(r, 0, 0);
            PQclear(r);
        }
        if (rc == SCRY_OK && version > SCHEMA_LATEST)
            rc = scry_fail(err, SCRY_EUNSUPPORTED,
                           "database schema v%d is newer than this build (v%d)", version,
                           SCHEMA_LATEST);
        if (rc == SCRY_OK && version == SCHEMA_LATEST) return tx_commit(db, err);
        if (rc == SCRY_OK) {
            PGresult *r = PQexec(db->conn, migrations[version]);
            if (PQresultStatus(r) != PGRES_COMMAND_OK) {
                const char *st = PQresultErrorField(r, PG_DIAG_SQLSTATE);
                snprintf(db->state, sizeof db->state, "%s", st ? st : "08000");
                rc = scry_fail(err, code_of_state(db->state), "migrating schema to v%d: %s",
                               version + 1, PQresultErrorMessage(r));
            }
            PQclear(r);
        }
        if (rc == SCRY_OK) {
            pq_args a = {0};
            a_i64(&a, version + 1);
            rc = run(db, "UPDATE scry_schema SET version = ?1", &a, "schema version", err);
        }
        if (rc == SCRY_OK) rc = tx_commit(db, err);
        if (rc != SCRY_OK) {
            tx_rollback(db);
            return rc;
        }
        log_info("meta.migrated", "backend=postgres version=%d", version + 1);
    }
}

static void pg_close(meta_db *mdb) {
    pg_db *db = PG(mdb);
    if (db->conn) PQfinish(db->conn);
    if (db->listen) PQfinish(db->listen);
    pthread_mutex_destroy(&db->lock);
    pthread_mutex_destroy(&db->listen_lock);
    free(db->url);
    free(db);
}

static const meta_ops pg_ops;

int meta_pg_open(meta_db **out, const char *url, scry_err *err) {
    *out = NULL;
    pg_db *db = calloc(1, sizeof *db);
    if (!db) return scry_fail(err, SCRY_ENOMEM, "out of memory (meta_db)");
    db->base.ops = &pg_ops;
    pthread_mutex_init(&db->lock, NULL);
    pthread_mutex_init(&db->listen_lock, NULL);
    db->url = strdup(url);
    char host[64] = "";
    gethostname(host, sizeof host - 1);
    snprintf(db->worker, sizeof db->worker, "%s:%d", host, (int)getpid());
    int rc = db->url ? SCRY_OK : scry_fail(err, SCRY_ENOMEM, "out of memory");
    /* A database that is not up yet (a cluster starting together) is
     * waited for like one that went away. */
    if (rc == SCRY_OK) WITH_RETRY(db, rc, err, rc = migrate(db, err));
    if (rc != SCRY_OK) {
        pg_close(&db->base);
        return rc;
    }
    /* as on SQLite: tombstones serve feeds a few seconds behind */
    pq_args a = {0};
    a_i64(&a, scry_now_ms() - META_TOMBSTONE_KEEP_MS);
    scry_err perr = {0};
    pthread_mutex_lock(&db->lock);
    run(db, SQL_TOMBSTONE_PRUNE, &a, "prune tombstones", &perr);     /* best effort */
    pthread_mutex_unlock(&db->lock);
    *out = &db->base;
    return SCRY_OK;
}

static int pg_schema_version(meta_db *mdb) {
    pg_db *db = PG(mdb);
    int v = -1, rc;
    scry_err err = {0};
    WITH_RETRY(db, rc, &err, {
        PGresult *r = ex(db, "SELECT version FROM scry_schema", NULL, 0, "schema version", &err);
        if (!r) rc = err.code;
        else {
            if (PQntuples(r)) v = (int)i64(r, 0, 0);
            PQclear(r);
        }
    });
    return rc == SCRY_OK ? v : -1;
}

/* ---- images ------------------------------------------------------------- */

static int decode_image(const PGresult *r, int row, image_rec *out, scry_err *err) {
    const char *col[META_IMAGE_NCOLS];
    for (int i = 0; i < META_IMAGE_NCOLS; i++) col[i] = val(r, row, i);
    return meta_image_decode(out, col, err);
}

/* Length of the valid UTF-8 sequence at p (1..4), or 0 when invalid. */
static int utf8_len(const unsigned char *p) {
    int n = p[0] < 0x80 ? 1 : (p[0] >> 5) == 6 ? 2 : (p[0] >> 4) == 14 ? 3 : (p[0] >> 3) == 30 ? 4 : 0;
    for (int i = 1; i < n; i++)
        if ((p[i] >> 6) != 2) return 0;
    return n;
}

/* What the keyword index sees of a text, in place: words as SQLite's
 * unicode61 tokenizer cuts them. PostgreSQL's parser would keep
 * "IMG_2019_beach-sunset.jpg" whole as a file name, an address as a host;
 * every ASCII character that is not a letter or digit becomes a space
 * (underscore included, as in FTS5), and so do bytes that are not valid
 * UTF-8, which PostgreSQL refuses in text. */
static char *index_words(const char *text) {
    if (!text) return NULL;
    char *out = strdup(text);
    if (!out) return NULL;
    for (unsigned char *p = (unsigned char *)out; *p;) {
        int n = utf8_len(p);
        if (n == 0) *p++ = ' ';
        else if (n == 1) {
            if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z')))
                *p = ' ';
            p++;
        } else p += n;
    }
    return out;
}

static int fts_put(pg_db *db, int64_t rowid, const char *filename, const image_rec *r,
                   scry_err *err) {
    meta_fts_doc d;
    int rc = meta_fts_doc_make(&d, filename, r, err);
    if (rc) return rc;
    char *cols[6] = {index_words(d.filename), index_words(r ? r->caption : NULL),
                     index_words(d.tags), index_words(r ? r->text : NULL),
                     index_words(d.exif), index_words(d.colors)};
    const char *src[6] = {d.filename, r ? r->caption : NULL, d.tags, r ? r->text : NULL,
                          d.exif, d.colors};
    pq_args a = {0};
    a_i64(&a, rowid);
    for (int i = 0; i < 6; i++) {
        if (src[i] && !cols[i]) rc = scry_fail(err, SCRY_ENOMEM, "out of memory (fts row)");
        a_text(&a, cols[i]);
    }
    if (rc == SCRY_OK) rc = run(db, PG_FTS_PUT, &a, "fts put", err);
    for (int i = 0; i < 6; i++) free(cols[i]);
    meta_fts_doc_free(&d);
    return rc;
}

static int job_settle(pg_db *db, const char *job_id, int64_t now, scry_err *err) {
    pq_args a = {0};
    a_text(&a, job_id);
    a_i64(&a, now);
    return run(db, SQL_JOB_SETTLE, &a, "settle job", err);
}

static int upload_once(pg_db *db, const char *job_id, const meta_new_image *imgs, int n,
                       scry_err *err) {
    int64_t now = scry_now_ms();
    int rc = tx_begin(db, 1, err);
    if (rc) return rc;
    if (db->attempt > 0) {
        /* The previous attempt's COMMIT may have landed before the link
         * broke: then the upload is stored, and that is success. */
        pq_args a = {0};
        a_text(&a, job_id);
        PGresult *r = ex(db, "SELECT 1 FROM jobs WHERE id = ?1", &a, 0, "job exists", err);
        if (!r) return err->code;
        int exists = PQntuples(r) > 0;
        PQclear(r);
        if (exists) return tx_commit(db, err);
    }
    pq_args a = {0};
    a_text(&a, job_id);
    a_text(&a, "upload");
    a_i64(&a, n);
    a_i64(&a, now);
    if ((rc = run(db, SQL_JOB_INSERT, &a, "insert job", err))) return rc;
    for (int i = 0; i < n; i++) {
        const meta_new_image *im = &imgs[i];
        pq_args b = {0};
        a_text(&b, im->id);
        a_text(&b, im->sha256);
        a_text(&b, im->filename);
        a_text(&b, im->format);
        a_i64(&b, im->bytes);
        a_i64(&b, now);
        PGresult *r = ex(db, PG_IMG_INSERT, &b, 0, "insert image", err);
        if (!r) return err->code;
        int64_t rowid = i64(r, 0, 0);
        PQclear(r);
        if ((rc = fts_put(db, rowid, im->filename, NULL, err))) return rc;
        pq_args c = {0};
        a_text(&c, job_id);
        a_text(&c, im->id);
        a_i64(&c, now);
        if ((rc = run(db, SQL_ITEM_INSERT, &c, "insert item", err))) return rc;
    }
    if (n == 0 && (rc = job_settle(db, job_id, now, err))) return rc;
    return tx_commit(db, err);
}

static int pg_upload_commit(meta_db *mdb, const char *job_id, const meta_new_image *imgs, int n,
                            scry_err *err) {
    pg_db *db = PG(mdb);
    int rc;
    WITH_RETRY(db, rc, err, rc = upload_once(db, job_id, imgs, n, err));
    return rc;
}

static int image_get_once(pg_db *db, const char *sql, const char *key, image_rec *out,
                          scry_err *err) {
    int by_id = sql[strlen(sql) - 4] == 'd';     /* "... id = ?1" */
    pq_args a = {0};
    a_text(&a, key);
    PGresult *r = ex(db, sql, &a, 0, "get image", err);
    if (!r) return err->code;
    int rc = PQntuples(r) ? decode_image(r, 0, out, err)
                          : scry_fail(err, SCRY_ENOTFOUND, "image %s%s not found",
                                      by_id ? "" : "#", key);
    PQclear(r);
    return rc;
}

static int pg_image_get(meta_db *mdb, const char *id, image_rec *out, scry_err *err) {
    pg_db *db = PG(mdb);
    int rc;
    WITH_RETRY(db, rc, err, rc = image_get_once(db, SQL_IMG_BY_ID, id, out, err));
    return rc;
}

static int pg_image_get_by_rowid(meta_db *mdb, int64_t rowid, image_rec *out, scry_err *err) {
    pg_db *db = PG(mdb);
    char key[24];
    snprintf(key, sizeof key, "%lld", (long long)rowid);
    int rc;
    WITH_RETRY(db, rc, err, rc = image_get_once(db, SQL_IMG_BY_ROWID, key, out, err));
    return rc;
}

/* Every row of r as image records; *out NULL when none. */
static int decode_images(const PGresult *r, image_rec **out, int *n, scry_err *err) {
    int rows = PQntuples(r);
    *out = NULL;
    *n = 0;
    if (!rows) return SCRY_OK;
    image_rec *recs = calloc((size_t)rows, sizeof *recs);
    if (!recs) return scry_fail(err, SCRY_ENOMEM, "out of memory (images)");
    for (int i = 0; i < rows; i++) {
        int rc = decode_image(r, i, &recs[i], err);
        if (rc) {
            for (int k = 0; k < i; k++) image_rec_free(&recs[k]);
            free(recs);
            return rc;
        }
    }
    *out = recs;
    *n = rows;
    return SCRY_OK;
}

static int pg_image_list(meta_db *mdb, int offset, int limit, image_rec **out, int *n,
                         scry_err *err) {
    pg_db *db = PG(mdb);
    int rc;
    WITH_RETRY(db, rc, err, {
        pq_args a = {0};
        a_i64(&a, limit);
        a_i64(&a, offset);
        PGresult *r = ex(db, SQL_IMG_LIST, &a, 0, "list images", err);
        rc = r ? decode_images(r, out, n, err) : err->code;
        PQclear(r);
    });
    return rc;
}

/* The single number a counting statement returns (arg: its ?1, or NULL);
 * -1 on failure (the count getters of meta.h say so). */
static int64_t count_of(pg_db *db, const char *sql, const char *arg, const char *what) {
    int64_t n = -1;
    int rc;
    scry_err err = {0};
    WITH_RETRY(db, rc, &err, {
        pq_args a = {0};
        if (arg) a_text(&a, arg);
        PGresult *r = ex(db, sql, arg ? &a : NULL, 0, what, &err);
        rc = r ? SCRY_OK : err.code;
        if (r) n = i64(r, 0, 0);
        PQclear(r);
    });
    return rc == SCRY_OK ? n : -1;
}

static int64_t pg_image_count(meta_db *mdb) {
    return count_of(PG(mdb), SQL_IMG_COUNT, NULL, "count images");
}

static int faces_put_locked(pg_db *db, int64_t rowid, const meta_faces_update *u, scry_err *err);

static int image_update_once(pg_db *db, const image_rec *rec, const meta_faces_update *faces,
                             scry_err *err) {
    int64_t now = scry_now_ms();
    int rc = tx_begin(db, 1, err);
    if (rc) return rc;
    pq_args k = {0};
    a_text(&k, rec->id);
    PGresult *r = ex(db, SQL_IMG_KEY " FOR UPDATE", &k, 0, "find image", err);
    if (!r) return err->code;
    if (!PQntuples(r)) {
        PQclear(r);
        return scry_fail(err, SCRY_ENOTFOUND, "image %s not found", rec->id);
    }
    int64_t rowid = i64(r, 0, 0);
    char *filename = strdup(PQgetvalue(r, 0, 1));
    PQclear(r);
    if (!filename) return scry_fail(err, SCRY_ENOMEM, "out of memory");
    pq_args a = {0};
    a_text(&a, rec->id);
    a_i64(&a, rec->width);
    a_i64(&a, rec->height);
    a_text(&a, rec->exif_json);
    a_i64(&a, rec->taken_at);
    a_text(&a, rec->colors_json);
    a_text(&a, rec->caption);
    a_text(&a, rec->tags_json);
    a_text(&a, rec->faces_json);
    a_text(&a, rec->text);
    a_text(&a, rec->text_json);
    if (rec->has_phash) a_i64(&a, (int64_t)rec->phash);
    else a_text(&a, NULL);
    a_text(&a, rec->status);
    a_text(&a, rec->thumb_sha256);
    a_i64(&a, now);
    rc = run(db, SQL_IMG_UPDATE, &a, "update image", err);
    if (rc == SCRY_OK) rc = fts_put(db, rowid, filename, rec, err);
    free(filename);
    if (rc == SCRY_OK && faces) rc = faces_put_locked(db, rowid, faces, err);
    return rc ? rc : tx_commit(db, err);
}

static int pg_image_update(meta_db *mdb, const image_rec *r, const meta_faces_update *faces,
                           scry_err *err) {
    pg_db *db = PG(mdb);
    int rc;
    WITH_RETRY(db, rc, err, rc = image_update_once(db, r, faces, err));
    return rc;
}

/* "" when no image references sha any more, else sha itself. */
static int orphan_check(pg_db *db, const char *sha, char out[SCRY_SHA256_HEX + 1], scry_err *err) {
    out[0] = 0;
    if (!sha[0]) return SCRY_OK;
    pq_args a = {0};
    a_text(&a, sha);
    PGresult *r = ex(db, SQL_SHA_IN_USE, &a, 0, "sha in use", err);
    if (!r) return err->code;
    if (!PQntuples(r)) snprintf(out, SCRY_SHA256_HEX + 1, "%s", sha);
    PQclear(r);
    return SCRY_OK;
}

static int pg_blob_referenced(meta_db *mdb, const char *sha, int *referenced, scry_err *err) {
    pg_db *db = PG(mdb);
    char orphan[SCRY_SHA256_HEX + 1];
    int rc;
    WITH_RETRY(db, rc, err, rc = orphan_check(db, sha, orphan, err));
    if (rc == SCRY_OK) *referenced = orphan[0] == 0;
    return rc;
}

static int delete_once(pg_db *db, const char *id, char orphan_sha[SCRY_SHA256_HEX + 1],
                       char orphan_thumb[SCRY_SHA256_HEX + 1], scry_err *err) {
    orphan_sha[0] = orphan_thumb[0] = 0;
    int64_t now = scry_now_ms();
    int rc = tx_begin(db, 1, err);
    if (rc) return rc;
    pq_args k = {0};
    a_text(&k, id);
    PGresult *r = ex(db, SQL_IMG_KEY " FOR UPDATE", &k, 0, "find image", err);
    if (!r) return err->code;
    if (!PQntuples(r)) {
        PQclear(r);
        return scry_fail(err, SCRY_ENOTFOUND, "image %s not found", id);
    }
    char sha[SCRY_SHA256_HEX + 1], thumb[SCRY_SHA256_HEX + 1];
    copy_val(r, 0, 2, sha, sizeof sha);
    copy_val(r, 0, 3, thumb, sizeof thumb);
    PQclear(r);
    pq_args a = {0};
    a_text(&a, id);
    a_i64(&a, now);
    if ((rc = run(db, SQL_DEL_ADJUST, &a, "adjust jobs", err)) ||
        (rc = run(db, SQL_DEL_SETTLE, &a, "adjust jobs", err)) ||
        (rc = run(db, SQL_IMG_DELETE, &k, "delete image", err)) ||
        (rc = orphan_check(db, sha, orphan_sha, err)) ||
        (rc = orphan_check(db, thumb, orphan_thumb, err)))
        return rc;
    if (!strcmp(orphan_thumb, orphan_sha)) orphan_thumb[0] = 0;
    return tx_commit(db, err);
}

static int pg_image_delete(meta_db *mdb, const char *id, char orphan_sha[SCRY_SHA256_HEX + 1],
                           char orphan_thumb[SCRY_SHA256_HEX + 1], scry_err *err) {
    pg_db *db = PG(mdb);
    int rc;
    WITH_RETRY(db, rc, err, rc = delete_once(db, id, orphan_sha, orphan_thumb, err));
    if (rc != SCRY_OK) orphan_sha[0] = orphan_thumb[0] = 0;
    return rc;
}

/* ---- keyword search: FTS5 expressions -> tsquery ------------------------- */

typedef struct qbuf {
    char *p;
    size_t len, cap;
} qbuf;

static int qb_add(qbuf *b, const char *s, size_t n) {
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 256;
        while (cap < b->len + n + 1) cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p) return SCRY_ENOMEM;
        b->p = p, b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = 0;
    return SCRY_OK;
}
static int qb_puts(qbuf *b, const char *s) { return qb_add(b, s, strlen(s)); }

static int word_char(unsigned char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           c >= 0x80;
}

/* The weight class of an FTS5 column (images_fts's columns). */
static const char *column_weight(const char *w, size_t n) {
    static const struct { const char *col, *weight; } cols[] = {
        {"filename", "D"}, {"caption", "A"}, {"tags", "B"}, {"text", "C"},
        {"exif", "D"}, {"colors", "D"},
    };
    for (size_t i = 0; i < sizeof cols / sizeof *cols; i++)
        if (strlen(cols[i].col) == n && !strncmp(cols[i].col, w, n)) return cols[i].weight;
    return NULL;
}

/* One operand: the words of text (a phrase, or one word) as "a:W <-> b:W".
 * A phrase without words is FTS5's empty phrase, which matches nothing: a
 * lexeme no document holds stands for it. */
static int add_phrase(qbuf *b, const char *text, size_t n, const char *weight) {
    int words = 0, rc = qb_puts(b, "(");
    for (size_t i = 0; i < n && rc == SCRY_OK;) {
        while (i < n && !word_char((unsigned char)text[i])) i++;
        size_t s = i;
        while (i < n && word_char((unsigned char)text[i])) i++;
        if (i == s) break;
        if (words++) rc = qb_puts(b, " <-> ");
        if (rc == SCRY_OK) rc = qb_puts(b, "'");
        if (rc == SCRY_OK) rc = qb_add(b, text + s, i - s);
        if (rc == SCRY_OK) rc = qb_puts(b, "'");
        if (rc == SCRY_OK && weight) rc = qb_puts(b, ":"), rc = rc ? rc : qb_puts(b, weight);
    }
    if (rc == SCRY_OK && !words) rc = qb_puts(b, "'scry0nomatch0'");
    return rc ? rc : qb_puts(b, ")");
}

/* Translate the FTS5 subset Scry writes (meta.h) into to_tsquery text.
 * SCRY_EINVAL with a message for anything else, as FTS5 would refuse. */
static int fts5_to_tsquery(const char *m, char **out, scry_err *err) {
    qbuf b = {0};
    int expect_operand = 1, depth = 0, rc = SCRY_OK, operands = 0;
    const char *weight = NULL;
    /* Bytes that are not UTF-8 separate words, as everywhere in the index. */
    char *clean = strdup(m);
    if (!clean) return scry_fail(err, SCRY_ENOMEM, "out of memory (query)");
    for (unsigned char *p = (unsigned char *)clean; *p;) {
        int n = utf8_len(p);
        if (n == 0) *p++ = ' ';
        else p += n;
    }
    m = clean;
    for (const char *p = m; *p && rc == SCRY_OK;) {
        unsigned char c = (unsigned char)*p;
        if (c == ' ' || c == '\t' || c == '\n' || c == '\r') { p++; continue; }
        if (c == '"' || word_char(c) || c == '(') {
            if (!expect_operand) rc = qb_puts(&b, " & ");   /* implicit AND */
            if (rc) break;
        }
        if (c == '"') {
            qbuf ph = {0};
            p++;
            for (;;) {
                if (!*p) { free(ph.p); free(b.p); free(clean); return scry_fail(err, SCRY_EINVAL, "search: unterminated string"); }
                if (*p == '"' && p[1] == '"') { rc = qb_add(&ph, "\"", 1); p += 2; continue; }
                if (*p == '"') { p++; break; }
                rc = qb_add(&ph, p++, 1);
                if (rc) break;
            }
            if (rc == SCRY_OK) rc = add_phrase(&b, ph.p ? ph.p : "", ph.len, weight);
            free(ph.p);
            weight = NULL;
            expect_operand = 0;
            operands++;
        } else if (word_char(c)) {
            const char *s = p;
            while (*p && word_char((unsigned char)*p)) p++;
            size_t n = (size_t)(p - s);
            const char *q = p;
            while (*q == ' ') q++;
            int is_op = (n == 2 && !strncmp(s, "OR", 2)) || (n == 3 && !strncmp(s, "AND", 3)) ||
                        (n == 3 && !strncmp(s, "NOT", 3));
            if (*q == ':' && !is_op) {
                weight = column_weight(s, n);
                if (!weight || !expect_operand) {
                    free(b.p);
                    free(clean);
                    return scry_fail(err, SCRY_EINVAL, "search: no such column: %.*s", (int)n, s);
                }
                p = q + 1;
                continue;
            }
            if (is_op) {
                /* undo the implicit AND added above */
                if (!expect_operand) b.len -= 3, b.p[b.len] = 0;
                if (expect_operand) {
                    free(b.p);
                    free(clean);
                    return scry_fail(err, SCRY_EINVAL, "search: syntax error near \"%.*s\"", (int)n, s);
                }
                rc = qb_puts(&b, s[0] == 'O' ? " | " : s[0] == 'A' ? " & " : " & !");
                expect_operand = 1;
                continue;
            }
            rc = add_phrase(&b, s, n, weight);
            weight = NULL;
            expect_operand = 0;
            operands++;
        } else if (c == '(') {
            rc = qb_puts(&b, "(");
            depth++;
            p++;
        } else if (c == ')') {
            if (expect_operand || depth == 0) {
                free(b.p);
                free(clean);
                return scry_fail(err, SCRY_EINVAL, "search: syntax error near \")\"");
            }
            rc = qb_puts(&b, ")");
            depth--;
            p++;
        } else {
            free(b.p);
            free(clean);
            return scry_fail(err, SCRY_EINVAL, "search: syntax error near \"%c\"", c);
        }
    }
    if (rc == SCRY_OK && (expect_operand || depth || !operands)) {
        free(b.p);
        free(clean);
        return scry_fail(err, SCRY_EINVAL, "search: incomplete expression");
    }
    if (rc) {
        free(b.p);
        free(clean);
        return scry_fail(err, SCRY_ENOMEM, "out of memory (query)");
    }
    free(clean);
    *out = b.p;
    return SCRY_OK;
}

static int pg_fts_search(meta_db *mdb, const char *match, int limit, meta_hit **hits, int *n,
                         scry_err *err) {
    pg_db *db = PG(mdb);
    char *q = NULL;
    int rc = fts5_to_tsquery(match, &q, err);
    if (rc) return rc;
    WITH_RETRY(db, rc, err, {
        pq_args a = {0};
        a_text(&a, q);
        a_i64(&a, limit);
        PGresult *r = ex(db, PG_FTS_SEARCH, &a, 0, "search", err);
        if (!r) rc = err->code;
        else {
            int rows = PQntuples(r);
            meta_hit *out = rows ? malloc((size_t)rows * sizeof *out) : NULL;
            if (rows && !out) rc = scry_fail(err, SCRY_ENOMEM, "out of memory (hits)");
            for (int i = 0; out && i < rows; i++) {
                out[i].rowid = i64(r, i, 0);
                copy_val(r, i, 1, out[i].id, sizeof out[i].id);
                out[i].bm25 = strtod(PQgetvalue(r, i, 2), NULL);
            }
            if (rc == SCRY_OK) *hits = out, *n = rows;
            PQclear(r);
        }
    });
    free(q);
    return rc;
}

/* ---- vectors -------------------------------------------------------------- */

static int pg_vector_put(meta_db *mdb, int64_t rowid, const char *model, const float *v, int dim,
                         scry_err *err) {
    pg_db *db = PG(mdb);
    int rc;
    WITH_RETRY(db, rc, err, {
        pq_args a = {0};
        a_text(&a, model);
        a_i64(&a, rowid);
        a_i64(&a, dim);
        a_bin(&a, v, dim * (int)sizeof(float));
        a_i64(&a, scry_now_ms());
        rc = run(db, SQL_VEC_PUT, &a, "put vector", err);
        if (rc && !strcmp(db->state, "23503"))
            rc = scry_fail(err, SCRY_ENOTFOUND, "image #%lld not found", (long long)rowid);
    });
    return rc;
}

static int pg_vector_each(meta_db *mdb, const char *model,
                          int (*fn)(int64_t rowid, const float *v, int dim, void *ctx), void *ctx,
                          scry_err *err) {
    pg_db *db = PG(mdb);
    int64_t after = INT64_MIN;
    float *v = NULL;
    size_t vcap = 0;
    for (;;) {
        PGresult *page = NULL;
        int rc;
        WITH_RETRY(db, rc, err, {
            pq_args a = {0};
            a_text(&a, model);
            a_i64(&a, after);
            a_i64(&a, PG_VEC_CHUNK);
            page = ex(db, SQL_VEC_CHUNK, &a, 1, "walk vectors", err);
            rc = page ? SCRY_OK : err->code;
        });
        if (rc) {
            free(v);
            return rc;
        }
        /* The page is ours: fn runs without the lock. */
        int rows = PQntuples(page);
        for (int i = 0; rc == SCRY_OK && i < rows; i++) {
            int64_t rowid = bin_int(page, i, 0);
            int dim = (int)bin_int(page, i, 1);
            int bytes = PQgetlength(page, i, 2);
            after = rowid;
            if (dim <= 0 || bytes != dim * (int)sizeof(float)) {
                rc = scry_fail(err, SCRY_ECORRUPT, "vector #%lld (%s): %d bytes for dim %d",
                               (long long)rowid, model, bytes, dim);
                break;
            }
            if ((size_t)bytes > vcap) {   /* aligned copy: bytea data is not */
                float *nv = realloc(v, (size_t)bytes);
                if (!nv) { rc = scry_fail(err, SCRY_ENOMEM, "out of memory (vector)"); break; }
                v = nv, vcap = (size_t)bytes;
            }
            memcpy(v, PQgetvalue(page, i, 2), (size_t)bytes);
            int r = fn(rowid, v, dim, ctx);
            if (r != 0) rc = r;
        }
        PQclear(page);
        if (rc != SCRY_OK || rows < PG_VEC_CHUNK) {
            free(v);
            return rc;
        }
    }
}

static int pg_vector_get(meta_db *mdb, int64_t rowid, const char *model, float *out, int dim,
                         scry_err *err) {
    pg_db *db = PG(mdb);
    int rc;
    WITH_RETRY(db, rc, err, {
        pq_args a = {0};
        a_text(&a, model);
        a_i64(&a, rowid);
        PGresult *r = ex(db, "SELECT dim, vec FROM image_vectors WHERE model = ?1 AND"
                             " image_rowid = ?2", &a, 1, "vector get", err);
        if (!r) rc = err->code;
        else if (!PQntuples(r))
            rc = scry_fail(err, SCRY_ENOTFOUND, "no %s vector for image #%lld", model,
                           (long long)rowid);
        else if (bin_int(r, 0, 0) != dim || PQgetlength(r, 0, 1) != dim * (int)sizeof(float))
            rc = scry_fail(err, SCRY_ECORRUPT, "vector #%lld (%s) has dim %lld, expected %d",
                           (long long)rowid, model, (long long)bin_int(r, 0, 0), dim);
        else memcpy(out, PQgetvalue(r, 0, 1), (size_t)dim * sizeof(float));
        PQclear(r);
    });
    return rc;
}

/* ---- faces ----------------------------------------------------------------- */

static int faces_put_locked(pg_db *db, int64_t rowid, const meta_faces_update *u, scry_err *err) {
    pq_args a = {0};
    a_i64(&a, rowid);
    a_text(&a, u->model);
    PGresult *r = ex(db, SQL_FACE_OLD, &a, 0, "faces", err);
    if (!r) return err->code;
    int nold = PQntuples(r), rc = SCRY_OK;
    meta_old_face *old = calloc((size_t)(nold ? nold : 1), sizeof *old);
    int *taken = calloc((size_t)(nold ? nold : 1), sizeof *taken);
    int64_t *keep = calloc((size_t)(u->n ? u->n : 1), sizeof *keep);
    if (!old || !taken || !keep) rc = scry_fail(err, SCRY_ENOMEM, "out of memory (faces)");
    for (int j = 0; rc == SCRY_OK && j < nold; j++) {
        old[j].id = i64(r, j, 0);
        for (int k = 0; k < 4; k++) old[j].box[k] = (int)i64(r, j, 1 + k);
    }
    PQclear(r);
    if (rc == SCRY_OK) meta_faces_match(old, nold, u, keep, taken);
    int64_t now = scry_now_ms();
    for (int j = 0; rc == SCRY_OK && j < nold; j++) {
        if (taken[j]) continue;
        pq_args d = {0};
        a_i64(&d, old[j].id);
        rc = run(db, SQL_FACE_DELETE, &d, "delete face", err);
    }
    for (int i = 0; rc == SCRY_OK && i < u->n; i++) {
        const meta_face *f = &u->faces[i];
        pq_args b = {0};
        if (keep[i]) {
            a_i64(&b, keep[i]);
            a_i64(&b, f->face_index);
            for (int k = 0; k < 4; k++) a_i64(&b, f->box[k]);
            a_i64(&b, u->dim);
            a_bin(&b, f->vec, u->dim * (int)sizeof(float));
            a_i64(&b, now);
            rc = run(db, SQL_FACE_UPDATE, &b, "update face", err);
        } else {
            a_i64(&b, rowid);
            a_i64(&b, f->face_index);
            a_text(&b, u->model);
            for (int k = 0; k < 4; k++) a_i64(&b, f->box[k]);
            a_i64(&b, u->dim);
            a_bin(&b, f->vec, u->dim * (int)sizeof(float));
            a_i64(&b, now);
            rc = run(db, SQL_FACE_INSERT, &b, "insert face", err);
            if (rc && !strcmp(db->state, "23503"))
                rc = scry_fail(err, SCRY_ENOTFOUND, "image #%lld not found", (long long)rowid);
        }
    }
    free(old);
    free(taken);
    free(keep);
    return rc;
}

static int faces_put_once(pg_db *db, int64_t rowid, const meta_faces_update *u, scry_err *err) {
    int rc = tx_begin(db, 1, err);      /* faces are stamped in commit order */
    if (rc) return rc;
    pq_args a = {0};
    a_i64(&a, rowid);
    PGresult *r = ex(db, SQL_IMG_EXISTS, &a, 0, "find image", err);
    if (!r) return err->code;
    int exists = PQntuples(r) > 0;
    PQclear(r);
    if (!exists) return scry_fail(err, SCRY_ENOTFOUND, "image #%lld not found", (long long)rowid);
    rc = faces_put_locked(db, rowid, u, err);
    return rc ? rc : tx_commit(db, err);
}

static int pg_faces_put(meta_db *mdb, int64_t image_rowid, const meta_faces_update *u,
                        scry_err *err) {
    pg_db *db = PG(mdb);
    int rc;
    WITH_RETRY(db, rc, err, rc = faces_put_once(db, image_rowid, u, err));
    return rc;
}

/* Binary row (FACE_COLS) -> face with its own copy of the vector. */
static int decode_face(const PGresult *r, int row, meta_face *f, scry_err *err) {
    memset(f, 0, sizeof *f);
    f->face_id = bin_int(r, row, 0);
    f->image_rowid = bin_int(r, row, 1);
    f->face_index = (int)bin_int(r, row, 2);
    for (int k = 0; k < 4; k++) f->box[k] = (int)bin_int(r, row, 3 + k);
    f->dim = (int)bin_int(r, row, 7);
    int bytes = PQgetlength(r, row, 8);
    if (f->dim <= 0 || bytes != f->dim * (int)sizeof(float))
        return scry_fail(err, SCRY_ECORRUPT, "face #%lld: %d bytes for dim %d",
                         (long long)f->face_id, bytes, f->dim);
    if (!(f->vec = malloc((size_t)bytes))) return scry_fail(err, SCRY_ENOMEM, "out of memory (face)");
    memcpy(f->vec, PQgetvalue(r, row, 8), (size_t)bytes);
    f->person_id = PQgetisnull(r, row, 9) ? 0 : bin_int(r, row, 9);
    f->assigned = (int)bin_int(r, row, 10);
    f->updated_at = bin_int(r, row, 11);
    return SCRY_OK;
}

static int decode_faces(const PGresult *r, meta_face **out, int *n, scry_err *err) {
    int rows = PQntuples(r);
    *out = NULL;
    *n = 0;
    if (!rows) return SCRY_OK;
    meta_face *arr = calloc((size_t)rows, sizeof *arr);
    if (!arr) return scry_fail(err, SCRY_ENOMEM, "out of memory (faces)");
    for (int i = 0; i < rows; i++) {
        int rc = decode_face(r, i, &arr[i], err);
        if (rc) {
            meta_faces_free(arr, i + 1);
            return rc;
        }
    }
    *out = arr;
    *n = rows;
    return SCRY_OK;
}

static int pg_faces_get(meta_db *mdb, int64_t image_rowid, const char *model, meta_face **out,
                        int *n, scry_err *err) {
    pg_db *db = PG(mdb);
    int rc;
    WITH_RETRY(db, rc, err, {
        pq_args a = {0};
        a_i64(&a, image_rowid);
        a_text(&a, model);
        PGresult *r = ex(db, SQL_FACE_OF_IMAGE, &a, 1, "faces of image", err);
        rc = r ? decode_faces(r, out, n, err) : err->code;
        PQclear(r);
    });
    return rc;
}

static int pg_face_get(meta_db *mdb, int64_t face_id, meta_face *out, scry_err *err) {
    pg_db *db = PG(mdb);
    int rc;
    WITH_RETRY(db, rc, err, {
        pq_args a = {0};
        a_i64(&a, face_id);
        PGresult *r = ex(db, SQL_FACE_BY_ID, &a, 1, "face", err);
        if (!r) rc = err->code;
        else if (!PQntuples(r))
            rc = scry_fail(err, SCRY_ENOTFOUND, "face #%lld not found", (long long)face_id);
        else rc = decode_face(r, 0, out, err);
        PQclear(r);
    });
    return rc;
}

static int pg_face_each(meta_db *mdb, const char *model, int (*fn)(const meta_face *f, void *ctx),
                        void *ctx, scry_err *err) {
    pg_db *db = PG(mdb);
    int64_t after = 0;
    for (;;) {
        meta_face *page = NULL;
        int got = 0, rc;
        WITH_RETRY(db, rc, err, {
            pq_args a = {0};
            a_text(&a, model);
            a_i64(&a, after);
            a_i64(&a, PG_FACE_CHUNK);
            PGresult *r = ex(db, SQL_FACE_CHUNK, &a, 1, "walk faces", err);
            rc = r ? decode_faces(r, &page, &got, err) : err->code;
            PQclear(r);
        });
        for (int i = 0; rc == SCRY_OK && i < got; i++) {
            int r = fn(&page[i], ctx);
            if (r != 0) rc = r;
        }
        if (got) after = page[got - 1].face_id;
        meta_faces_free(page, got);
        if (rc != SCRY_OK || got < PG_FACE_CHUNK) return rc;
    }
}

static int64_t pg_face_count(meta_db *mdb, const char *model) {
    return count_of(PG(mdb), SQL_FACE_COUNT, model, "count faces");
}

/* ---- change feeds ----------------------------------------------------------- */

static int pg_image_each_since(meta_db *mdb, int64_t since_ms,
                               int (*fn)(const image_rec *r, void *ctx), void *ctx,
                               int64_t *last_ms, scry_err *err) {
    pg_db *db = PG(mdb);
    int64_t after_ms = since_ms, after_rowid = INT64_MIN;
    for (;;) {
        image_rec *page = NULL;
        int got = 0, rc;
        WITH_RETRY(db, rc, err, {
            pq_args a = {0};
            a_i64(&a, after_ms);
            a_i64(&a, after_rowid);
            a_i64(&a, FEED_CHUNK);
            PGresult *r = ex(db, SQL_SINCE_PAGE, &a, 0, "change feed", err);
            rc = r ? decode_images(r, &page, &got, err) : err->code;
            PQclear(r);
        });
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
        free(page);
        if (rc != SCRY_OK || got < FEED_CHUNK) return rc;
    }
}

static int pg_feed_read(meta_db *mdb, int64_t after_seq, const meta_feed_fns *fns, void *ctx,
                        int64_t *last_seq, scry_err *err) {
    pg_db *db = PG(mdb);
    int64_t horizon = 0;
    int rc;
    WITH_RETRY(db, rc, err, {
        PGresult *r = ex(db, PG_FEED_HORIZON, NULL, 0, "feed horizon", err);
        rc = r ? SCRY_OK : err->code;
        if (r) horizon = i64(r, 0, 0);
        PQclear(r);
    });
    if (rc || horizon <= after_seq) return rc;
    for (int64_t after = after_seq; rc == SCRY_OK;) {
        image_rec *page = NULL;
        int got = 0;
        WITH_RETRY(db, rc, err, {
            pq_args a = {0};
            a_i64(&a, after);
            a_i64(&a, horizon);
            a_i64(&a, FEED_CHUNK);
            PGresult *r = ex(db, SQL_FEED_PAGE, &a, 0, "change feed", err);
            rc = r ? decode_images(r, &page, &got, err) : err->code;
            if (rc == SCRY_OK && got) after = i64(r, got - 1, META_IMAGE_NCOLS);
            PQclear(r);
        });
        for (int i = 0; i < got; i++) {
            if (rc == SCRY_OK) rc = fns->upsert(&page[i], ctx);
            image_rec_free(&page[i]);
        }
        free(page);
        if (got < FEED_CHUNK) break;
    }
    for (int64_t after = after_seq; rc == SCRY_OK;) {
        PGresult *r = NULL;
        WITH_RETRY(db, rc, err, {
            pq_args a = {0};
            a_i64(&a, after);
            a_i64(&a, horizon);
            a_i64(&a, FEED_CHUNK);
            r = ex(db, SQL_FEED_DELETIONS, &a, 0, "deletion feed", err);
            rc = r ? SCRY_OK : err->code;
        });
        if (rc) break;
        int got = PQntuples(r);
        for (int i = 0; rc == SCRY_OK && i < got; i++) {
            after = i64(r, i, 0);
            rc = fns->removed(i64(r, i, 1), ctx);
        }
        PQclear(r);
        if (got < FEED_CHUNK) break;
    }
    if (rc == SCRY_OK) *last_seq = horizon;
    return rc;
}

static int pg_feed_wait(meta_db *mdb, int timeout_ms, scry_err *err) {
    pg_db *db = PG(mdb);
    pthread_mutex_lock(&db->listen_lock);
    int rc = SCRY_OK;
    if (db->listen && PQstatus(db->listen) != CONNECTION_OK) {
        PQfinish(db->listen);
        db->listen = NULL;
    }
    if (!db->listen) {
        rc = connect_to(db->url, &db->listen, err);
        if (rc == SCRY_OK) {
            PGresult *r = PQexec(db->listen, "LISTEN " FEED_CHANNEL);
            if (PQresultStatus(r) != PGRES_COMMAND_OK)
                rc = scry_fail(err, SCRY_EBUSY, "postgres listen: %s", PQresultErrorMessage(r));
            PQclear(r);
            /* Changes made while we were not listening: the caller reads the
             * feed after every wait, so return at once. */
            pthread_mutex_unlock(&db->listen_lock);
            return rc;
        }
    }
    if (rc == SCRY_OK) {
        PGnotify *n;
        int woken = 0;
        PQconsumeInput(db->listen);
        while ((n = PQnotifies(db->listen))) woken = 1, PQfreemem(n);
        if (!woken) {
            struct pollfd pfd = {.fd = PQsocket(db->listen), .events = POLLIN};
            if (poll(&pfd, 1, timeout_ms) > 0) {
                if (!PQconsumeInput(db->listen))
                    rc = scry_fail(err, SCRY_EBUSY, "postgres listen: %s", PQerrorMessage(db->listen));
                while ((n = PQnotifies(db->listen))) PQfreemem(n);
            }
        }
    }
    pthread_mutex_unlock(&db->listen_lock);
    if (rc != SCRY_OK) sleep_s(timeout_ms / 1000.0 < 1 ? timeout_ms / 1000.0 : 1);
    return rc;
}

static int pg_image_rowids(meta_db *mdb, int64_t **out, size_t *n, scry_err *err) {
    pg_db *db = PG(mdb);
    int rc;
    WITH_RETRY(db, rc, err, {
        PGresult *r = ex(db, SQL_ROWIDS, NULL, 1, "rowids", err);
        if (!r) rc = err->code;
        else {
            int rows = PQntuples(r);
            int64_t *ids = rows ? malloc((size_t)rows * sizeof *ids) : NULL;
            if (rows && !ids) rc = scry_fail(err, SCRY_ENOMEM, "out of memory (rowids)");
            for (int i = 0; ids && i < rows; i++) ids[i] = bin_int(r, i, 0);
            if (rc == SCRY_OK) *out = ids, *n = (size_t)rows;
            PQclear(r);
        }
    });
    return rc;
}

/* ---- jobs ------------------------------------------------------------------ */

static void decode_job(const PGresult *r, int row, job_rec *j) {
    const char *col[META_JOB_NCOLS];
    for (int i = 0; i < META_JOB_NCOLS; i++) col[i] = val(r, row, i);
    meta_job_decode(j, col);
}

static int job_get_once(pg_db *db, const char *id, job_rec *out, scry_err *err) {
    job_rec_free(out);
    memset(out, 0, sizeof *out);
    pq_args a = {0};
    a_text(&a, id);
    PGresult *r = ex(db, SQL_JOB_GET, &a, 0, "get job", err);
    if (!r) return err->code;
    if (!PQntuples(r)) {
        PQclear(r);
        return scry_fail(err, SCRY_ENOTFOUND, "job %s not found", id);
    }
    decode_job(r, 0, out);
    PQclear(r);
    if (!(r = ex(db, SQL_JOB_ERRORS, &a, 0, "job errors", err))) return err->code;
    int rows = PQntuples(r);
    if (rows && !(out->errors = calloc((size_t)rows, sizeof *out->errors))) {
        PQclear(r);
        return scry_fail(err, SCRY_ENOMEM, "out of memory (job errors)");
    }
    for (int i = 0; i < rows; i++) {
        job_error *e = &out->errors[out->nerrors++];
        copy_val(r, i, 0, e->image_id, sizeof e->image_id);
        e->filename = val(r, i, 1) ? strdup(val(r, i, 1)) : NULL;
        copy_val(r, i, 2, e->stage, sizeof e->stage);
        e->message = val(r, i, 3) ? strdup(val(r, i, 3)) : NULL;
    }
    PQclear(r);
    return SCRY_OK;
}

static int pg_job_get(meta_db *mdb, const char *id, job_rec *out, scry_err *err) {
    pg_db *db = PG(mdb);
    int rc;
    WITH_RETRY(db, rc, err, rc = job_get_once(db, id, out, err));
    if (rc != SCRY_OK) job_rec_free(out);
    return rc;
}

static int pg_job_list(meta_db *mdb, int limit, job_rec **out, int *n, scry_err *err) {
    pg_db *db = PG(mdb);
    int rc;
    WITH_RETRY(db, rc, err, {
        pq_args a = {0};
        a_i64(&a, limit);
        PGresult *r = ex(db, PG_JOB_LIST, &a, 0, "list jobs", err);
        if (!r) rc = err->code;
        else {
            int rows = PQntuples(r);
            job_rec *jobs = rows ? calloc((size_t)rows, sizeof *jobs) : NULL;
            if (rows && !jobs) rc = scry_fail(err, SCRY_ENOMEM, "out of memory (job list)");
            for (int i = 0; jobs && i < rows; i++) decode_job(r, i, &jobs[i]);
            if (rc == SCRY_OK) *out = jobs, *n = rows;
            PQclear(r);
        }
    });
    return rc;
}

static int claim_once(pg_db *db, work_item *out, scry_err *err) {
    int64_t now = scry_now_ms();
    memset(out, 0, sizeof *out);
    int rc = tx_begin(db, 0, err);
    if (rc) return rc;
    pq_args a = {0};
    a_i64(&a, now);
    a_i64(&a, now + db->base.lease_ms);
    a_text(&a, db->worker);
    PGresult *r = ex(db, PG_ITEM_CLAIM, &a, 0, "claim item", err);
    if (!r) return err->code;
    if (!PQntuples(r)) {
        PQclear(r);
        tx_rollback(db);
        return scry_fail(err, SCRY_ENOTFOUND, "no pending work");
    }
    copy_val(r, 0, 0, out->job_id, sizeof out->job_id);
    copy_val(r, 0, 1, out->image_id, sizeof out->image_id);
    out->attempt = (int)i64(r, 0, 2);
    PQclear(r);
    pq_args b = {0};
    a_text(&b, out->job_id);
    a_i64(&b, now);
    if ((rc = run(db, SQL_JOB_RUNNING, &b, "job running", err))) return rc;
    return tx_commit(db, err);
}

static int pg_item_claim(meta_db *mdb, work_item *out, scry_err *err) {
    pg_db *db = PG(mdb);
    int rc;
    WITH_RETRY(db, rc, err, rc = claim_once(db, out, err));
    if (rc != SCRY_OK) memset(out, 0, sizeof *out);
    return rc;
}

static int item_update(pg_db *db, const char *sql, const work_item *w, const char *stage,
                       scry_err *err) {
    int64_t now = scry_now_ms();
    pq_args a = {0};
    a_text(&a, w->job_id);
    a_text(&a, w->image_id);
    a_i64(&a, w->attempt);
    if (stage) {
        a_text(&a, stage);
        a_i64(&a, now);
    }
    a_i64(&a, now + db->base.lease_ms);
    int64_t n = run_count(db, sql, &a, stage ? "item stage" : "item lease", err);
    if (n < 0) return (int)n;
    if (n == 0)
        return scry_fail(err, SCRY_ENOTFOUND, "item %s/%s is not running (attempt %d)", w->job_id,
                         w->image_id, w->attempt);
    return SCRY_OK;
}

static int pg_item_stage(meta_db *mdb, const work_item *w, const char *stage, scry_err *err) {
    pg_db *db = PG(mdb);
    int rc;
    WITH_RETRY(db, rc, err, rc = item_update(db, PG_ITEM_STAGE, w, stage, err));
    return rc;
}

static int pg_item_heartbeat(meta_db *mdb, const work_item *w, scry_err *err) {
    pg_db *db = PG(mdb);
    int rc;
    WITH_RETRY(db, rc, err, rc = item_update(db, PG_ITEM_LEASE, w, NULL, err));
    return rc;
}

/* Inside a transaction holding the feed lock (it writes the image). */
static int item_finish_locked(pg_db *db, const char *job_id, const char *image_id, int attempt,
                              int ok, const char *stage, const char *message, int64_t now,
                              scry_err *err) {
    pq_args a = {0};
    a_text(&a, job_id);
    a_text(&a, image_id);
    a_i64(&a, attempt);
    a_text(&a, ok ? "done" : "failed");
    a_text(&a, stage);
    a_text(&a, ok ? message : (message ? message : "failed"));
    a_i64(&a, now);
    int64_t n = run_count(db, SQL_ITEM_FINISH, &a, "finish item", err);
    if (n < 0) return (int)n;
    if (n == 0)
        return scry_fail(err, SCRY_ENOTFOUND, "item %s/%s is not running (attempt %d)", job_id,
                         image_id, attempt);
    pq_args b = {0};
    a_text(&b, job_id);
    a_i64(&b, ok ? 1 : 0);
    a_i64(&b, ok ? 0 : 1);
    a_i64(&b, now);
    int rc = run(db, SQL_JOB_COUNT, &b, "count item", err);
    if (rc == SCRY_OK) rc = job_settle(db, job_id, now, err);
    if (rc) return rc;
    pq_args c = {0};
    a_text(&c, image_id);
    a_text(&c, ok ? "1" : "0");
    a_i64(&c, now);
    return run(db, SQL_IMG_SET_STATUS, &c, "image status", err);
}

static int finish_once(pg_db *db, const work_item *w, int ok, const char *stage,
                       const char *message, scry_err *err) {
    int rc = tx_begin(db, 1, err);
    if (rc == SCRY_OK)
        rc = item_finish_locked(db, w->job_id, w->image_id, w->attempt, ok, stage, message,
                                scry_now_ms(), err);
    return rc ? rc : tx_commit(db, err);
}

static int pg_item_finish(meta_db *mdb, const work_item *w, int ok, const char *stage,
                          const char *message, scry_err *err) {
    pg_db *db = PG(mdb);
    int rc;
    WITH_RETRY(db, rc, err, rc = finish_once(db, w, ok, stage, message, err));
    return rc;
}

static int recover_once(pg_db *db, int max_attempts, int *requeued, int *failed, scry_err *err) {
    *requeued = *failed = 0;
    int64_t now = scry_now_ms();
    int rc = tx_begin(db, 1, err);
    if (rc) return rc;
    pq_args a = {0};
    a_i64(&a, now);
    PGresult *r = ex(db, PG_ITEM_EXPIRED, &a, 0, "expired items", err);
    if (!r) return err->code;
    int rows = PQntuples(r);
    for (int i = 0; rc == SCRY_OK && i < rows; i++) {
        char job_id[SCRY_ID_LEN + 1], image_id[SCRY_ID_LEN + 1], stage[32];
        copy_val(r, i, 1, job_id, sizeof job_id);
        copy_val(r, i, 2, image_id, sizeof image_id);
        int attempts = (int)i64(r, i, 3);
        copy_val(r, i, 4, stage, sizeof stage);
        if (attempts >= max_attempts) {
            const char *st = stage[0] ? stage : "start";
            char msg[160];
            meta_crash_message(msg, sizeof msg, "lost its worker", st, attempts);
            rc = item_finish_locked(db, job_id, image_id, attempts, 0, st, msg, now, err);
            (*failed)++;
            log_warn("meta.item_lost", "job=%s image=%s stage=%s attempts=%d", job_id, image_id,
                     st, attempts);
        } else {
            pq_args b = {0};
            a_i64(&b, i64(r, i, 0));
            a_i64(&b, now);
            rc = run(db, SQL_ITEM_REQUEUE, &b, "requeue item", err);
            (*requeued)++;
            log_info("meta.item_requeued", "job=%s image=%s stage=%s attempts=%d reason=lease",
                     job_id, image_id, stage[0] ? stage : "start", attempts);
        }
    }
    PQclear(r);
    return rc ? rc : tx_commit(db, err);
}

static int pg_recover(meta_db *mdb, int max_attempts, int *requeued, int *failed, scry_err *err) {
    pg_db *db = PG(mdb);
    int rc;
    WITH_RETRY(db, rc, err, rc = recover_once(db, max_attempts, requeued, failed, err));
    if (rc != SCRY_OK) *requeued = *failed = 0;
    return rc;
}

static int reindex_once(pg_db *db, const char *id, int *n, scry_err *err) {
    int64_t now = scry_now_ms();
    int rc = tx_begin(db, 0, err);
    if (rc) return rc;
    pq_args a = {0};
    a_text(&a, id);
    a_text(&a, "reindex");
    a_i64(&a, 0);
    a_i64(&a, now);
    if ((rc = run(db, SQL_JOB_INSERT, &a, "insert job", err))) return rc;
    pq_args b = {0};
    a_text(&b, id);
    a_i64(&b, now);
    int64_t count = run_count(db, SQL_ITEM_INSERT_ALL, &b, "insert items", err);
    if (count < 0) return (int)count;
    pq_args c = {0};
    a_text(&c, id);
    a_i64(&c, count);
    if ((rc = run(db, SQL_JOB_TOTAL, &c, "job total", err)) ||
        (rc = job_settle(db, id, now, err)) || (rc = tx_commit(db, err)))
        return rc;
    *n = (int)count;
    return SCRY_OK;
}

static int pg_reindex_all(meta_db *mdb, char job_id[SCRY_ID_LEN + 1], int *n, scry_err *err) {
    pg_db *db = PG(mdb);
    char id[SCRY_ID_LEN + 1];
    scry_new_id(id);
    int rc;
    WITH_RETRY(db, rc, err, rc = reindex_once(db, id, n, err));
    if (rc == SCRY_OK) memcpy(job_id, id, sizeof id);
    return rc;
}

static int job_fail_once(pg_db *db, const char *job_id, const char *reason, scry_err *err) {
    int64_t now = scry_now_ms();
    int rc = tx_begin(db, 1, err);
    if (rc) return rc;
    pq_args a = {0};
    a_text(&a, job_id);
    PGresult *r = ex(db, SQL_JOB_GET " FOR UPDATE", &a, 0, "get job", err);
    if (!r) return err->code;
    if (!PQntuples(r)) {
        PQclear(r);
        return scry_fail(err, SCRY_ENOTFOUND, "job %s not found", job_id);
    }
    char status[16];
    copy_val(r, 0, 1, status, sizeof status);
    PQclear(r);
    if (strcmp(status, "pending") && strcmp(status, "running"))
        return scry_fail(err, SCRY_EINVAL, "job %s is already %s", job_id, status);
    pq_args b = {0};
    a_text(&b, job_id);
    a_text(&b, reason);
    a_i64(&b, now);
    int64_t unfinished = run_count(db, SQL_JOB_FAIL_ITEMS, &b, "fail items", err);
    if (unfinished < 0) return (int)unfinished;
    pq_args c = {0};
    a_text(&c, job_id);
    a_text(&c, reason);
    a_i64(&c, unfinished);
    a_i64(&c, now);
    pq_args d = {0};
    a_text(&d, job_id);
    a_i64(&d, now);
    if ((rc = run(db, SQL_JOB_FAIL, &c, "fail job", err)) ||
        (rc = run(db, SQL_JOB_FAIL_IMAGES, &d, "fail images", err)))
        return rc;
    return tx_commit(db, err);
}

static int pg_job_fail(meta_db *mdb, const char *job_id, const char *reason, scry_err *err) {
    pg_db *db = PG(mdb);
    int rc;
    WITH_RETRY(db, rc, err, rc = job_fail_once(db, job_id, reason, err));
    return rc;
}

static int stats_once(pg_db *db, meta_stats *out, scry_err *err) {
    memset(out, 0, sizeof *out);
    PGresult *r = ex(db, SQL_STAT_IMAGES, NULL, 0, "image stats", err);
    if (!r) return err->code;
    for (int i = 0; i < PQntuples(r); i++) {
        const char *status = PQgetvalue(r, i, 0);
        int64_t c = i64(r, i, 1);
        out->images += c;
        if (!strcmp(status, "ready")) out->images_ready = c;
        else if (!strcmp(status, "failed")) out->images_failed = c;
        else if (!strcmp(status, "pending")) out->images_pending = c;
    }
    PQclear(r);
    if (!(r = ex(db, SQL_STAT_JOBS, NULL, 0, "job stats", err))) return err->code;
    for (int i = 0; i < PQntuples(r); i++) {
        const char *status = PQgetvalue(r, i, 0);
        int64_t c = i64(r, i, 1);
        if (!strcmp(status, "pending")) out->jobs_pending = c;
        else if (!strcmp(status, "running")) out->jobs_running = c;
        else if (!strcmp(status, "completed")) out->jobs_completed = c;
        else if (!strcmp(status, "failed")) out->jobs_failed = c;
    }
    PQclear(r);
    if (!(r = ex(db, SQL_STAT_ITEMS, NULL, 0, "item stats", err))) return err->code;
    out->items_pending = i64(r, 0, 0);
    PQclear(r);
    return SCRY_OK;
}

static int pg_get_stats(meta_db *mdb, meta_stats *out, scry_err *err) {
    pg_db *db = PG(mdb);
    int rc;
    WITH_RETRY(db, rc, err, rc = stats_once(db, out, err));
    return rc;
}

/* ---- API keys ----------------------------------------------------------------- */

static int pg_key_insert(meta_db *mdb, const key_rec *k, scry_err *err) {
    pg_db *db = PG(mdb);
    int rc;
    WITH_RETRY(db, rc, err, {
        pq_args a = {0};
        a_text(&a, k->id);
        a_text(&a, k->name);
        a_text(&a, k->scopes);
        a_text(&a, k->salt);
        a_text(&a, k->hash);
        a_i64(&a, k->created_at ? k->created_at : scry_now_ms());
        rc = run(db, SQL_KEY_INSERT, &a, "insert key", err);
    });
    return rc;
}

static int pg_key_get(meta_db *mdb, const char *id, key_rec *out, scry_err *err) {
    pg_db *db = PG(mdb);
    int rc;
    WITH_RETRY(db, rc, err, {
        pq_args a = {0};
        a_text(&a, id);
        PGresult *r = ex(db, SQL_KEY_GET, &a, 0, "get key", err);
        if (!r) rc = err->code;
        else if (!PQntuples(r)) rc = scry_fail(err, SCRY_ENOTFOUND, "no key %s", id);
        else {
            const char *col[KEY_NCOLS];
            for (int i = 0; i < KEY_NCOLS; i++) col[i] = val(r, 0, i);
            meta_key_decode(out, col);
        }
        PQclear(r);
    });
    return rc;
}

static int pg_key_list(meta_db *mdb, key_rec **out, int *n, scry_err *err) {
    pg_db *db = PG(mdb);
    int rc;
    WITH_RETRY(db, rc, err, {
        PGresult *r = ex(db, SQL_KEY_LIST, NULL, 0, "list keys", err);
        if (!r) rc = err->code;
        else {
            int rows = PQntuples(r);
            key_rec *keys = rows ? calloc((size_t)rows, sizeof *keys) : NULL;
            if (rows && !keys) rc = scry_fail(err, SCRY_ENOMEM, "out of memory (key list)");
            for (int i = 0; keys && i < rows; i++) {
                const char *col[KEY_NCOLS];
                for (int k = 0; k < KEY_NCOLS; k++) col[k] = val(r, i, k);
                meta_key_decode(&keys[i], col);
            }
            if (rc == SCRY_OK) *out = keys, *n = rows;
            PQclear(r);
        }
    });
    return rc;
}

static int pg_key_revoke(meta_db *mdb, const char *id, scry_err *err) {
    pg_db *db = PG(mdb);
    int rc;
    WITH_RETRY(db, rc, err, {
        pq_args a = {0};
        a_text(&a, id);
        a_i64(&a, scry_now_ms());
        int64_t n = run_count(db, SQL_KEY_REVOKE, &a, "revoke key", err);
        rc = n < 0 ? (int)n : n == 0 ? scry_fail(err, SCRY_ENOTFOUND, "no active key %s", id) : SCRY_OK;
    });
    return rc;
}

static int pg_key_touch(meta_db *mdb, const char *id, int64_t used_at_ms, scry_err *err) {
    pg_db *db = PG(mdb);
    int rc;
    WITH_RETRY(db, rc, err, {
        pq_args a = {0};
        a_text(&a, id);
        a_i64(&a, used_at_ms);
        rc = run(db, "UPDATE api_keys SET last_used_at = greatest(last_used_at, ?2) WHERE id = ?1",
                 &a, "touch key", err);
    });
    return rc;
}

static int64_t pg_key_count_active(meta_db *mdb) {
    return count_of(PG(mdb), SQL_KEY_ACTIVE, NULL, "count keys");
}

/* ---- people ------------------------------------------------------------------ */

/* Every people write takes the feed lock first (tx_begin(db, 1)): the faces
 * it touches are stamped in commit order (faces_stamp), and the lock order
 * is the one image writes use. */

/* Integer arguments, into a caller's pq_args (their text lives in it: a
 * copy would point into the original). */
static pq_args *i64_args(pq_args *a, int n, const int64_t *v) {
    memset(a, 0, sizeof *a);
    for (int i = 0; i < n; i++) a_i64(a, v[i]);
    return a;
}

/* The first column of the first row as an integer (*found 0: no row). */
static int q_i64(pg_db *db, const char *sql, int n, const int64_t *v, int64_t *out, int *found,
                 const char *what, scry_err *err) {
    pq_args a;
    i64_args(&a, n, v);
    PGresult *r = ex(db, sql, &a, 0, what, err);
    if (!r) return err->code;
    *found = PQntuples(r) > 0;
    if (*found) *out = i64(r, 0, 0);
    PQclear(r);
    return SCRY_OK;
}

static int run_i64(pg_db *db, const char *sql, int n, const int64_t *v, const char *what,
                   scry_err *err) {
    pq_args a;
    i64_args(&a, n, v);
    return run(db, sql, &a, what, err);
}

static int person_exists(pg_db *db, int64_t id, scry_err *err) {
    int64_t one = 0;
    int found = 0, rc = q_i64(db, SQL_PERSON_EXISTS, 1, &id, &one, &found, "find person", err);
    if (rc == SCRY_OK && !found) rc = scry_fail(err, SCRY_ENOTFOUND, "person %lld not found", (long long)id);
    return rc;
}

static int assign_once(pg_db *db, const meta_assignment *a, int n, int assigned, int64_t *new_ids,
                       int nnew, int *applied, scry_err *err) {
    for (int i = 0; i < nnew; i++) new_ids[i] = 0;      /* a retry starts over */
    *applied = 0;
    int64_t *left = malloc((size_t)(n ? n : 1) * sizeof *left);
    if (!left) return scry_fail(err, SCRY_ENOMEM, "out of memory");
    int nleft = 0, count = 0, found = 0;
    int64_t now = scry_now_ms();
    int rc = tx_begin(db, 1, err);
    const char *up = assigned == META_FACE_AUTO ? SQL_FACE_ASSIGN_AUTO : SQL_FACE_ASSIGN_MANUAL;
    for (int i = 0; i < n && rc == SCRY_OK; i++) {
        int64_t pid = a[i].person_id, old = 0;
        if (pid < 0) {
            int64_t *slot = &new_ids[-pid - 1];
            if (!*slot && (rc = q_i64(db, SQL_PERSON_INSERT, 1, &now, slot, &found,
                                      "insert person", err)) != SCRY_OK)
                break;
            pid = *slot;
        } else if (pid > 0 && (rc = person_exists(db, pid, err)) != SCRY_OK) {
            break;
        }
        if ((rc = q_i64(db, SQL_FACE_PERSON, 1, &a[i].face_id, &old, &found, "face person", err)) != SCRY_OK)
            break;
        if (found && old && old != pid) left[nleft++] = old;
        int64_t v[3] = {a[i].face_id, pid, now};
        pq_args args;
        i64_args(&args, 3, v);
        int64_t changed = run_count(db, up, &args, "assign face", err);
        if (changed < 0) rc = (int)changed;
        else count += (int)changed;
    }
    for (int i = 0; rc == SCRY_OK && i < nleft; i++)
        rc = run_i64(db, SQL_PERSON_DROP_EMPTY, 1, &left[i], "delete emptied person", err);
    if (rc == SCRY_OK) rc = tx_commit(db, err);
    if (rc == SCRY_OK) *applied = count;
    free(left);
    return rc;
}

static int pg_faces_assign(meta_db *mdb, const meta_assignment *a, int n, int assigned,
                           int64_t *new_ids, int nnew, int *applied, scry_err *err) {
    pg_db *db = PG(mdb);
    int rc;
    WITH_RETRY(db, rc, err, rc = assign_once(db, a, n, assigned, new_ids, nnew, applied, err));
    return rc;
}

static int merge_once(pg_db *db, int64_t into, const int64_t *from, int n, scry_err *err) {
    int64_t now = scry_now_ms();
    int rc = tx_begin(db, 1, err);
    if (rc == SCRY_OK) rc = person_exists(db, into, err);
    for (int i = 0; i < n && rc == SCRY_OK; i++) rc = person_exists(db, from[i], err);
    for (int i = 0; i < n && rc == SCRY_OK; i++) {
        int64_t v[3] = {into, from[i], now};
        if ((rc = run_i64(db, SQL_MERGE_NAME, 3, v, "merge name", err)) == SCRY_OK &&
            (rc = run_i64(db, SQL_MERGE_FACES, 3, v, "merge faces", err)) == SCRY_OK)
            rc = run_i64(db, SQL_PERSON_DELETE, 1, &from[i], "delete merged person", err);
    }
    int64_t v[2] = {into, now};
    if (rc == SCRY_OK) rc = run_i64(db, SQL_PERSON_CONFIRM, 2, v, "confirm faces", err);
    if (rc == SCRY_OK) rc = run_i64(db, SQL_PERSON_TOUCH, 2, v, "touch person", err);
    return rc ? rc : tx_commit(db, err);
}

static int pg_people_merge(meta_db *mdb, int64_t into, const int64_t *from, int n, scry_err *err) {
    pg_db *db = PG(mdb);
    int rc;
    WITH_RETRY(db, rc, err, rc = merge_once(db, into, from, n, err));
    return rc;
}

static int name_once(pg_db *db, int64_t person_id, const char *name, scry_err *err) {
    int64_t now = scry_now_ms();
    int rc = tx_begin(db, 1, err);
    if (rc == SCRY_OK) rc = person_exists(db, person_id, err);
    if (rc == SCRY_OK) {
        pq_args a = {0};
        a_i64(&a, person_id);
        a_text(&a, name);
        a_i64(&a, now);
        rc = run(db, SQL_PERSON_NAME, &a, "name person", err);
    }
    int64_t v[2] = {person_id, now};
    if (rc == SCRY_OK && name && *name) rc = run_i64(db, SQL_PERSON_CONFIRM, 2, v, "confirm faces", err);
    return rc ? rc : tx_commit(db, err);
}

static int pg_person_set_name(meta_db *mdb, int64_t person_id, const char *name, scry_err *err) {
    pg_db *db = PG(mdb);
    int rc;
    WITH_RETRY(db, rc, err, rc = name_once(db, person_id, name, err));
    return rc;
}

static int cover_once(pg_db *db, int64_t person_id, int64_t face_id, scry_err *err) {
    int rc = tx_begin(db, 1, err);
    if (rc == SCRY_OK) rc = person_exists(db, person_id, err);
    if (rc == SCRY_OK && face_id) {
        int64_t v[2] = {face_id, person_id}, one = 0;
        int found = 0;
        rc = q_i64(db, SQL_FACE_OF_PERSON, 2, v, &one, &found, "cover face", err);
        if (rc == SCRY_OK && !found)
            rc = scry_fail(err, SCRY_EINVAL, "face %lld is not a face of person %lld",
                           (long long)face_id, (long long)person_id);
    }
    int64_t v[3] = {person_id, face_id, scry_now_ms()};
    if (rc == SCRY_OK) rc = run_i64(db, SQL_PERSON_COVER, 3, v, "cover", err);
    return rc ? rc : tx_commit(db, err);
}

static int pg_person_set_cover(meta_db *mdb, int64_t person_id, int64_t face_id, scry_err *err) {
    pg_db *db = PG(mdb);
    int rc;
    WITH_RETRY(db, rc, err, rc = cover_once(db, person_id, face_id, err));
    return rc;
}

static int person_delete_once(pg_db *db, int64_t person_id, scry_err *err) {
    int64_t v[2] = {person_id, scry_now_ms()};
    int rc = tx_begin(db, 1, err);
    if (rc == SCRY_OK) rc = person_exists(db, person_id, err);
    if (rc == SCRY_OK) rc = run_i64(db, SQL_PERSON_RELEASE, 2, v, "release faces", err);
    if (rc == SCRY_OK) rc = run_i64(db, SQL_PERSON_DELETE, 1, v, "delete person", err);
    return rc ? rc : tx_commit(db, err);
}

static int pg_person_delete(meta_db *mdb, int64_t person_id, scry_err *err) {
    pg_db *db = PG(mdb);
    int rc;
    WITH_RETRY(db, rc, err, rc = person_delete_once(db, person_id, err));
    return rc;
}

/* Rows of r -> persons (*out malloc'ed, NULL when none). */
static int decode_people(const PGresult *r, meta_person **out, int *n, scry_err *err) {
    int rows = PQntuples(r), ncols = PQnfields(r);
    if (ncols > META_PERSON_NCOLS) ncols = META_PERSON_NCOLS;
    *out = NULL;
    *n = 0;
    if (!rows) return SCRY_OK;
    meta_person *arr = calloc((size_t)rows, sizeof *arr);
    if (!arr) return scry_fail(err, SCRY_ENOMEM, "out of memory (people)");
    for (int i = 0; i < rows; i++) {
        const char *col[META_PERSON_NCOLS] = {0};
        for (int k = 0; k < ncols; k++) col[k] = val(r, i, k);
        int rc = meta_person_decode(&arr[i], col, ncols, err);
        if (rc) {
            meta_people_free(arr, i + 1);
            return rc;
        }
    }
    *out = arr;
    *n = rows;
    return SCRY_OK;
}

static int pg_person_get(meta_db *mdb, int64_t person_id, meta_person *out, scry_err *err) {
    pg_db *db = PG(mdb);
    int rc;
    WITH_RETRY(db, rc, err, {
        meta_person_free(out);
        pq_args a;
        i64_args(&a, 1, &person_id);
        PGresult *r = ex(db, SQL_PERSON_GET, &a, 0, "get person", err);
        if (!r) rc = err->code;
        else {
            meta_person *p = NULL;
            int n = 0;
            rc = decode_people(r, &p, &n, err);
            if (rc == SCRY_OK && !n)
                rc = scry_fail(err, SCRY_ENOTFOUND, "person %lld not found", (long long)person_id);
            if (rc == SCRY_OK) {
                *out = p[0];
                free(p);
            }
            PQclear(r);
        }
    });
    return rc;
}

static int pg_people_list(meta_db *mdb, int min_faces, int offset, int limit, meta_person **out,
                          int *n, int64_t *total, scry_err *err) {
    pg_db *db = PG(mdb);
    int rc;
    int64_t v[3] = {min_faces, limit, offset};
    WITH_RETRY(db, rc, err, {
        meta_people_free(*out, *n);
        *out = NULL;
        *n = 0;
        pq_args a;
        i64_args(&a, 3, v);
        PGresult *r = ex(db, SQL_PEOPLE_LIST, &a, 0, "list people", err);
        rc = r ? decode_people(r, out, n, err) : err->code;
        PQclear(r);
        int found = 0;
        if (rc == SCRY_OK && total)
            rc = q_i64(db, SQL_PEOPLE_TOTAL, 1, v, total, &found, "count people", err);
    });
    if (rc != SCRY_OK) {
        meta_people_free(*out, *n);
        *out = NULL;
        *n = 0;
    }
    return rc;
}

static int pg_people_named(meta_db *mdb, meta_person **out, int *n, scry_err *err) {
    pg_db *db = PG(mdb);
    int rc;
    WITH_RETRY(db, rc, err, {
        meta_people_free(*out, *n);
        *out = NULL;
        *n = 0;
        PGresult *r = ex(db, SQL_PEOPLE_NAMED, NULL, 0, "named people", err);
        rc = r ? decode_people(r, out, n, err) : err->code;
        PQclear(r);
    });
    return rc;
}

static int person_faces_once(pg_db *db, int64_t person_id, int offset, int limit, meta_face **faces,
                             char (**ids)[SCRY_ID_LEN + 1], int *n, int64_t *total, scry_err *err) {
    int64_t v[3] = {person_id, limit, offset};
    int rc = person_exists(db, person_id, err), found = 0;
    if (rc) return rc;
    pq_args a;
    i64_args(&a, 3, v);
    PGresult *r = ex(db, SQL_PERSON_FACES, &a, 0, "person faces", err);
    if (!r) return err->code;
    int rows = PQntuples(r);
    meta_face *fa = calloc((size_t)(rows ? rows : 1), sizeof *fa);
    char (*ia)[SCRY_ID_LEN + 1] = calloc((size_t)(rows ? rows : 1), sizeof *ia);
    if (!fa || !ia) rc = scry_fail(err, SCRY_ENOMEM, "out of memory (faces)");
    for (int i = 0; rc == SCRY_OK && i < rows; i++) {
        const char *col[11];
        for (int k = 0; k < 11; k++) col[k] = val(r, i, k);
        meta_person_face_decode(&fa[i], ia[i], col);
    }
    PQclear(r);
    if (rc == SCRY_OK && total)
        rc = q_i64(db, SQL_PERSON_FACES_COUNT, 1, v, total, &found, "count faces", err);
    if (rc != SCRY_OK) {
        free(fa);
        free(ia);
        return rc;
    }
    *faces = fa;
    *ids = ia;
    *n = rows;
    return SCRY_OK;
}

static int pg_person_faces(meta_db *mdb, int64_t person_id, int offset, int limit, meta_face **faces,
                           char (**ids)[SCRY_ID_LEN + 1], int *n, int64_t *total, scry_err *err) {
    pg_db *db = PG(mdb);
    int rc;
    WITH_RETRY(db, rc, err,
               rc = person_faces_once(db, person_id, offset, limit, faces, ids, n, total, err));
    return rc;
}

static int person_images_once(pg_db *db, int64_t person_id, int offset, int limit, image_rec **out,
                              int *n, int64_t *total, scry_err *err) {
    int64_t v[3] = {person_id, limit, offset};
    int rc = person_exists(db, person_id, err), found = 0;
    if (rc) return rc;
    pq_args a;
    i64_args(&a, 3, v);
    PGresult *r = ex(db, SQL_PERSON_IMAGES, &a, 0, "person images", err);
    if (!r) return err->code;
    rc = decode_images(r, out, n, err);
    PQclear(r);
    if (rc == SCRY_OK && total)
        rc = q_i64(db, SQL_PERSON_IMAGES_COUNT, 1, v, total, &found, "count images", err);
    if (rc != SCRY_OK) {
        for (int i = 0; i < *n; i++) image_rec_free(&(*out)[i]);
        free(*out);
        *out = NULL;
        *n = 0;
    }
    return rc;
}

static int pg_person_images(meta_db *mdb, int64_t person_id, int offset, int limit, image_rec **out,
                            int *n, int64_t *total, scry_err *err) {
    pg_db *db = PG(mdb);
    int rc;
    WITH_RETRY(db, rc, err, rc = person_images_once(db, person_id, offset, limit, out, n, total, err));
    return rc;
}

static void feed_page_args(pq_args *a, const char *model, int64_t after_ms, int64_t after_id,
                           int cap) {
    memset(a, 0, sizeof *a);
    a_text(a, model);
    a_i64(a, after_ms);
    a_i64(a, after_id);
    a_i64(a, cap);
}

static int pg_face_changes_page(meta_db *mdb, const char *model, int64_t after_ms, int64_t after_id,
                                meta_face *page, int cap, int *got, scry_err *err) {
    pg_db *db = PG(mdb);
    int rc;
    WITH_RETRY(db, rc, err, {
        for (int i = 0; i < *got; i++) free(page[i].vec), page[i].vec = NULL;
        *got = 0;
        pq_args a;
        feed_page_args(&a, model, after_ms, after_id, cap);
        PGresult *r = ex(db, SQL_FACE_CHANGES, &a, 1, "face feed", err);
        if (!r) rc = err->code;
        else {
            int rows = PQntuples(r);
            for (int i = 0; rc == SCRY_OK && i < rows && i < cap; i++)
                if ((rc = decode_face(r, i, &page[i], err)) == SCRY_OK) (*got)++;
            PQclear(r);
        }
    });
    return rc;
}

static int pg_face_tombstones_page(meta_db *mdb, const char *model, int64_t after_ms,
                                   int64_t after_id, int64_t *ids, int64_t *at, int cap, int *got,
                                   scry_err *err) {
    pg_db *db = PG(mdb);
    int rc;
    WITH_RETRY(db, rc, err, {
        *got = 0;
        pq_args a;
        feed_page_args(&a, model, after_ms, after_id, cap);
        PGresult *r = ex(db, SQL_FACE_TOMBSTONES, &a, 0, "face tombstones", err);
        if (!r) rc = err->code;
        else {
            int rows = PQntuples(r);
            for (int i = 0; i < rows && i < cap; i++) {
                ids[i] = i64(r, i, 0);
                at[i] = i64(r, i, 1);
                (*got)++;
            }
            PQclear(r);
        }
    });
    return rc;
}

/* people_clock: moved by every statement on faces or people, committed
 * with them, so a reader that sees a new value sees the change too. */
static uint64_t pg_people_version(meta_db *mdb) {
    int64_t v = count_of(PG(mdb), "SELECT v FROM people_clock", NULL, "people version");
    return (uint64_t)v;
}

/* Tried, not waited for inside the database: a waiting worker must not
 * hold its connection (and every other call of its process) meanwhile. A
 * lock lost with a dropped connection is simply gone (the next turn takes
 * it again): it orders clustering, it guards no data. */
static int pg_people_lock(meta_db *mdb, int on, int timeout_ms, scry_err *err) {
    pg_db *db = PG(mdb);
    double t0 = scry_mono_s();
    for (;;) {
        int rc, got = 0;
        WITH_RETRY(db, rc, err, {
            PGresult *r = ex(db, on ? "SELECT pg_try_advisory_lock(5382)" : "SELECT pg_advisory_unlock(5382)",
                             NULL, 0, "people lock", err);
            rc = r ? SCRY_OK : err->code;
            if (r) got = PQntuples(r) && !strcmp(PQgetvalue(r, 0, 0), "t");
            PQclear(r);
        });
        if (rc != SCRY_OK || !on || got) return rc;
        if ((scry_mono_s() - t0) * 1000 > timeout_ms)
            return scry_fail(err, SCRY_EBUSY, "people: another process kept the clustering lock for %d ms",
                             timeout_ms);
        sleep_s(0.01);
    }
}

static int pg_job_create(meta_db *mdb, const char *kind, int total, char job_id[SCRY_ID_LEN + 1],
                         scry_err *err) {
    pg_db *db = PG(mdb);
    char id[SCRY_ID_LEN + 1];
    scry_new_id(id);
    int rc;
    WITH_RETRY(db, rc, err, {
        pq_args a = {0};
        a_text(&a, id);
        a_text(&a, kind);
        a_i64(&a, total);
        a_i64(&a, scry_now_ms());
        rc = run(db, SQL_JOB_INSERT, &a, "insert job", err);
        /* a commit whose answer was lost: the row is there */
        if (rc && db->attempt && !strcmp(db->state, "23505")) rc = SCRY_OK;
    });
    if (rc == SCRY_OK) memcpy(job_id, id, sizeof id);
    return rc;
}

static int pg_job_set(meta_db *mdb, const char *job_id, const char *status, int done, int total,
                      const char *error, scry_err *err) {
    pg_db *db = PG(mdb);
    int rc;
    WITH_RETRY(db, rc, err, {
        pq_args a = {0};
        a_text(&a, job_id);
        a_text(&a, status);
        a_i64(&a, done);
        a_i64(&a, total);
        a_text(&a, error);
        a_i64(&a, scry_now_ms());
        int64_t changed = run_count(db, SQL_JOB_SET, &a, "update job", err);
        rc = changed < 0 ? (int)changed
                         : changed == 0 ? scry_fail(err, SCRY_ENOTFOUND, "job %s not found", job_id)
                                        : SCRY_OK;
    });
    return rc;
}

static int pg_jobs_unfinished(meta_db *mdb, const char *kind, char (*ids)[SCRY_ID_LEN + 1], int max,
                              int *n, scry_err *err) {
    pg_db *db = PG(mdb);
    int rc;
    WITH_RETRY(db, rc, err, {
        *n = 0;
        pq_args a = {0};
        a_text(&a, kind);
        PGresult *r = ex(db, "SELECT id FROM jobs WHERE kind = ?1 AND status IN ('pending','running')"
                             " ORDER BY created_at, ord", &a, 0, "unfinished jobs", err);
        if (!r) rc = err->code;
        else {
            for (int i = 0; i < PQntuples(r) && *n < max; i++) copy_val(r, i, 0, ids[(*n)++], SCRY_ID_LEN + 1);
            PQclear(r);
        }
    });
    return rc;
}

static const meta_ops pg_ops = {
    .name = "postgres",
    .close = pg_close,
    .schema_version = pg_schema_version,
    .upload_commit = pg_upload_commit,
    .image_get = pg_image_get,
    .image_get_by_rowid = pg_image_get_by_rowid,
    .image_list = pg_image_list,
    .image_count = pg_image_count,
    .image_update = pg_image_update,
    .image_delete = pg_image_delete,
    .blob_referenced = pg_blob_referenced,
    .fts_search = pg_fts_search,
    .vector_put = pg_vector_put,
    .vector_each = pg_vector_each,
    .vector_get = pg_vector_get,
    .faces_put = pg_faces_put,
    .faces_get = pg_faces_get,
    .face_get = pg_face_get,
    .face_each = pg_face_each,
    .face_count = pg_face_count,
    .image_each_since = pg_image_each_since,
    .feed_read = pg_feed_read,
    .feed_wait = pg_feed_wait,
    .image_rowids = pg_image_rowids,
    .job_get = pg_job_get,
    .job_list = pg_job_list,
    .item_claim = pg_item_claim,
    .item_stage = pg_item_stage,
    .item_heartbeat = pg_item_heartbeat,
    .item_finish = pg_item_finish,
    .recover = pg_recover,
    .reindex_all = pg_reindex_all,
    .job_fail = pg_job_fail,
    .get_stats = pg_get_stats,
    .key_insert = pg_key_insert,
    .key_get = pg_key_get,
    .key_list = pg_key_list,
    .key_revoke = pg_key_revoke,
    .key_touch = pg_key_touch,
    .key_count_active = pg_key_count_active,
    .faces_assign = pg_faces_assign,
    .people_merge = pg_people_merge,
    .person_set_name = pg_person_set_name,
    .person_set_cover = pg_person_set_cover,
    .person_delete = pg_person_delete,
    .person_get = pg_person_get,
    .people_list = pg_people_list,
    .people_named = pg_people_named,
    .person_faces = pg_person_faces,
    .person_images = pg_person_images,
    .face_changes_page = pg_face_changes_page,
    .face_tombstones_page = pg_face_tombstones_page,
    .people_version = pg_people_version,
    .people_lock = pg_people_lock,
    .job_create = pg_job_create,
    .job_set = pg_job_set,
    .jobs_unfinished = pg_jobs_unfinished,
};
