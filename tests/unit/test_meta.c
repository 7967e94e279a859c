/* Unit tests for store/meta on SQLite, and the same tests again on
 * PostgreSQL when SCRY_TEST_PG names a server (tests/run starts one: a
 * fresh database per test, dropped after it). On PostgreSQL a "crash" is a
 * worker whose lease runs out (recovery only takes expired leases), so the
 * tests give claims a 200 ms lease and wait it out. Covered: schema and migrations, uploads, facts
 * and FTS5 search (incl. hostile input), the job/item lifecycle with crash
 * recovery, deletion with blob orphan reporting, vectors, face descriptors
 * (identity kept across re-indexing, gone with the image), stats, and
 * concurrent claiming from threads sharing one handle and from threads with
 * their own connection (as separate processes would), people written by one
 * connection and seen by another (face feed, version, names, the clustering
 * lock, re-cluster jobs). Real database files in
 * a temp dir; nothing mocked. */
#include "testutil.h"

#include <pthread.h>
#include <sqlite3.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/util.h"
#include "store/meta.h"

typedef struct fixture {
    char *dir;
    char path[512];
    meta_db *db;
} fixture;

/* The PostgreSQL server of the second run ("postgres://user@host:port"),
 * NULL on the SQLite run. */
static const char *g_pg;
#define PG_LEASE_MS 200
static const char *crash_words(void) { return g_pg ? "lost its worker" : "crashed"; }

/* A claim left running by a crash becomes recoverable: at once on SQLite
 * (a new process recovers everything), after the lease on PostgreSQL. */
static void crash_wait(void) {
    if (g_pg) usleep((PG_LEASE_MS + 100) * 1000);
}

static int open_db(fixture *f, meta_db **db, scry_err *err) {
    int rc = meta_open(db, f->path, err);
    if (rc == SCRY_OK && g_pg) meta_set_lease_ms(*db, PG_LEASE_MS);
    return rc;
}

static int setup(void **state) {
    fixture *f = calloc(1, sizeof *f);
    f->dir = tu_tempdir("meta");
    if (g_pg) {
        if (tu_pg_create(f->path, sizeof f->path)) return -1;
    } else {
        snprintf(f->path, sizeof f->path, "%s/meta.db", f->dir);
    }
    scry_err err = {0};
    if (open_db(f, &f->db, &err) != SCRY_OK) {
        fprintf(stderr, "meta_open: %s\n", err.msg);
        return -1;
    }
    *state = f;
    return 0;
}

static int teardown(void **state) {
    fixture *f = *state;
    meta_close(f->db);
    if (g_pg) tu_pg_drop(f->path);
    tu_rmtree(f->dir);
    free(f->dir);
    free(f);
    return 0;
}

/* Upload n images named by names[] (sha from the name unless shas given);
 * fills ids (n x SCRY_ID_LEN+1) and job. */
static void upload(meta_db *db, int n, const char *const *names, const char *const *shas,
                   char ids[][SCRY_ID_LEN + 1], char job[SCRY_ID_LEN + 1]) {
    meta_new_image *imgs = calloc((size_t)n, sizeof *imgs);
    for (int i = 0; i < n; i++) {
        scry_new_id(imgs[i].id);
        if (shas) snprintf(imgs[i].sha256, sizeof imgs[i].sha256, "%s", shas[i]);
        else scry_sha256_hex(names[i], strlen(names[i]), imgs[i].sha256);
        imgs[i].filename = names[i];
        imgs[i].format = "jpeg";
        imgs[i].bytes = 1000 + i;
        memcpy(ids[i], imgs[i].id, SCRY_ID_LEN + 1);
    }
    scry_new_id(job);
    scry_err err = {0};
    int rc = meta_upload_commit(db, job, imgs, n, &err);
    if (rc != SCRY_OK) fail_msg("upload: %s", err.msg);
    free(imgs);
}

static void set_facts(meta_db *db, const char *id, const char *caption, const char *tags,
                      const char *text, const char *colors, const char *exif) {
    scry_err err = {0};
    image_rec r;
    assert_int_equal(meta_image_get(db, id, &r, &err), SCRY_OK);
    image_rec_free(&r);
    r.width = 640;
    r.height = 480;
    r.caption = (char *)caption;
    r.tags_json = (char *)tags;
    r.text = (char *)text;
    r.colors_json = (char *)colors;
    r.exif_json = (char *)exif;
    snprintf(r.status, sizeof r.status, "ready");
    int rc = meta_image_update_facts(db, &r, &err);
    if (rc != SCRY_OK) fail_msg("update facts: %s", err.msg);
}

/* Ids matched by free text, in rank order, as one space-separated string
 * of indices into ids[] ("?" for an id not in the list). */
static void search_idx(meta_db *db, const char *q, char ids[][SCRY_ID_LEN + 1], int nids,
                       char *out, size_t cap) {
    char *match = meta_fts_query_from_text(q);
    assert_non_null(match);
    meta_hit *hits = NULL;
    int n = 0;
    scry_err err = {0};
    int rc = meta_fts_search(db, match, 50, &hits, &n, &err);
    if (rc != SCRY_OK) fail_msg("search %s (%s): %s", q, match, err.msg);
    out[0] = 0;
    for (int i = 0; i < n; i++) {
        int k = -1;
        for (int j = 0; j < nids; j++)
            if (!strcmp(hits[i].id, ids[j])) k = j;
        size_t len = strlen(out);
        if (k >= 0) snprintf(out + len, cap - len, "%s%d", i ? " " : "", k);
        else snprintf(out + len, cap - len, "%s?", i ? " " : "");
        if (i > 0) assert_true(hits[i - 1].bm25 >= hits[i].bm25);
    }
    free(hits);
    free(match);
}

/* ---- schema ---------------------------------------------------------------- */

static void test_open_schema_and_reopen(void **state) {
    fixture *f = *state;
    int v = meta_schema_version(f->db);
    assert_true(v >= 1);
    meta_close(f->db);
    scry_err err = {0};
    assert_int_equal(open_db(f, &f->db, &err), SCRY_OK);
    assert_int_equal(meta_schema_version(f->db), v);
    assert_string_equal(meta_backend_name(f->db), g_pg ? "postgres" : "sqlite");
    if (g_pg) return;           /* the rest is about SQLite files */

    /* What the file really is, seen through a plain connection. */
    sqlite3 *c;
    assert_int_equal(sqlite3_open(f->path, &c), SQLITE_OK);
    sqlite3_stmt *s;
    assert_int_equal(sqlite3_prepare_v2(c, "PRAGMA journal_mode", -1, &s, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(s), SQLITE_ROW);
    assert_string_equal((const char *)sqlite3_column_text(s, 0), "wal");
    sqlite3_finalize(s);
    const char *tables[] = {"images", "jobs", "job_items", "image_vectors", "images_fts", "faces"};
    for (size_t i = 0; i < 6; i++) {
        assert_int_equal(sqlite3_prepare_v2(c, "SELECT count(*) FROM sqlite_schema WHERE name=?",
                                            -1, &s, NULL), SQLITE_OK);
        sqlite3_bind_text(s, 1, tables[i], -1, SQLITE_STATIC);
        assert_int_equal(sqlite3_step(s), SQLITE_ROW);
        assert_int_equal(sqlite3_column_int(s, 0), 1);
        sqlite3_finalize(s);
    }
    /* A database from a newer build is refused, not guessed at. */
    char newer[600];
    snprintf(newer, sizeof newer, "%s/newer.db", f->dir);
    sqlite3 *c2;
    assert_int_equal(sqlite3_open(newer, &c2), SQLITE_OK);
    assert_int_equal(sqlite3_exec(c2, "PRAGMA user_version = 999", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(c2);
    meta_db *db2 = NULL;
    assert_int_equal(meta_open(&db2, newer, &err), SCRY_EUNSUPPORTED);
    assert_null(db2);
    assert_non_null(strstr(err.msg, "999"));
    sqlite3_close(c);

    assert_int_equal(meta_open(&db2, "", &err), SCRY_EINVAL);
    char bad[600];
    snprintf(bad, sizeof bad, "%s/no/such/dir/x.db", f->dir);
    assert_int_equal(meta_open(&db2, bad, &err), SCRY_EIO);
    /* Not a database at all. */
    char junk[600];
    snprintf(junk, sizeof junk, "%s/junk.db", f->dir);
    char garbage[4096];
    memset(garbage, 'x', sizeof garbage);
    assert_int_equal(scry_write_file_durable(junk, garbage, sizeof garbage, &err), SCRY_OK);
    int rc = meta_open(&db2, junk, &err);
    assert_true(rc == SCRY_ECORRUPT || rc == SCRY_EIO);
    assert_null(db2);
}

/* ---- images --------------------------------------------------------------- */

static void test_upload_commit_and_get(void **state) {
    fixture *f = *state;
    const char *names[] = {"a.jpg", "b.jpg", "c.jpg"};
    char ids[3][SCRY_ID_LEN + 1], job[SCRY_ID_LEN + 1];
    int64_t before = scry_now_ms();
    upload(f->db, 3, names, NULL, ids, job);
    scry_err err = {0};
    assert_int_equal(meta_image_count(f->db), 3);

    image_rec r;
    assert_int_equal(meta_image_get(f->db, ids[1], &r, &err), SCRY_OK);
    assert_string_equal(r.id, ids[1]);
    assert_string_equal(r.filename, "b.jpg");
    assert_string_equal(r.format, "jpeg");
    assert_string_equal(r.status, "pending");
    assert_int_equal(r.bytes, 1001);
    char want[65];
    scry_sha256_hex("b.jpg", 5, want);
    assert_string_equal(r.sha256, want);
    assert_string_equal(r.thumb_sha256, "");
    assert_null(r.caption);
    assert_null(r.tags_json);
    assert_false(r.has_phash);
    assert_true(r.created_at >= before && r.created_at <= scry_now_ms());
    int64_t rowid = r.rowid;
    image_rec_free(&r);
    assert_int_equal(meta_image_get_by_rowid(f->db, rowid, &r, &err), SCRY_OK);
    assert_string_equal(r.id, ids[1]);
    image_rec_free(&r);
    assert_int_equal(meta_image_get(f->db, "000000000000000000000000", &r, &err),
                     SCRY_ENOTFOUND);
    assert_int_equal(meta_image_get_by_rowid(f->db, 987654, &r, &err), SCRY_ENOTFOUND);

    job_rec j;
    assert_int_equal(meta_job_get(f->db, job, &j, &err), SCRY_OK);
    assert_string_equal(j.status, "pending");
    assert_int_equal(j.total, 3);
    assert_int_equal(j.done + j.failed, 0);
    assert_null(j.error);
    assert_int_equal(j.nerrors, 0);
    job_rec_free(&j);

    /* Newest first, paged. */
    image_rec *list;
    int n;
    assert_int_equal(meta_image_list(f->db, 0, 2, &list, &n, &err), SCRY_OK);
    assert_int_equal(n, 2);
    assert_string_equal(list[0].id, ids[2]);
    assert_string_equal(list[1].id, ids[1]);
    for (int i = 0; i < n; i++) image_rec_free(&list[i]);
    free(list);
    assert_int_equal(meta_image_list(f->db, 2, 10, &list, &n, &err), SCRY_OK);
    assert_int_equal(n, 1);
    assert_string_equal(list[0].id, ids[0]);
    image_rec_free(&list[0]);
    free(list);
    assert_int_equal(meta_image_list(f->db, 5, 10, &list, &n, &err), SCRY_OK);
    assert_int_equal(n, 0);
    assert_null(list);

    /* A duplicate image id stores nothing at all (one transaction). */
    meta_new_image dup[2] = {0};
    scry_new_id(dup[0].id);
    memcpy(dup[1].id, ids[0], sizeof dup[1].id);
    for (int i = 0; i < 2; i++) {
        memcpy(dup[i].sha256, want, sizeof want);
        dup[i].filename = "dup.jpg";
        dup[i].format = "png";
    }
    char job2[SCRY_ID_LEN + 1];
    scry_new_id(job2);
    assert_int_equal(meta_upload_commit(f->db, job2, dup, 2, &err), SCRY_EINVAL);
    assert_int_equal(meta_image_count(f->db), 3);
    assert_int_equal(meta_job_get(f->db, job2, &j, &err), SCRY_ENOTFOUND);
    assert_int_equal(meta_image_get(f->db, dup[0].id, &r, &err), SCRY_ENOTFOUND);

    /* Survives close/reopen (durable commit). */
    meta_close(f->db);
    assert_int_equal(open_db(f, &f->db, &err), SCRY_OK);
    assert_int_equal(meta_image_count(f->db), 3);
}

static void test_facts_roundtrip(void **state) {
    fixture *f = *state;
    const char *names[] = {"x.jpg"};
    char ids[1][SCRY_ID_LEN + 1], job[SCRY_ID_LEN + 1];
    upload(f->db, 1, names, NULL, ids, job);
    scry_err err = {0};
    image_rec r;
    assert_int_equal(meta_image_get(f->db, ids[0], &r, &err), SCRY_OK);
    image_rec_free(&r);
    r.width = 4000;
    r.height = 3000;
    r.exif_json = "{\"camera\":\"Canon EOS 5D\",\"date_taken\":\"2019-07-01T12:00:00\"}";
    r.taken_at = 1561982400;
    r.colors_json = "[{\"name\":\"blue\",\"hex\":\"#0000ff\",\"fraction\":0.5}]";
    r.caption = "a dog on a beach";
    r.tags_json = "[{\"label\":\"dog\",\"score\":0.9,\"box\":[1,2,3,4],\"color\":\"brown\"}]";
    r.faces_json = "[]";
    r.text = "HELLO";
    r.text_json = "[{\"word\":\"HELLO\",\"box\":[0,0,1,1]}]";
    r.phash = 0xF00DFACE12345678ULL;    /* high bit set: must survive int64 storage */
    r.has_phash = 1;
    snprintf(r.status, sizeof r.status, "ready");
    char thumb[65];
    scry_sha256_hex("thumb", 5, thumb);
    memcpy(r.thumb_sha256, thumb, sizeof thumb);
    assert_int_equal(meta_image_update_facts(f->db, &r, &err), SCRY_OK);

    image_rec g;
    assert_int_equal(meta_image_get(f->db, ids[0], &g, &err), SCRY_OK);
    assert_int_equal(g.width, 4000);
    assert_int_equal(g.height, 3000);
    assert_string_equal(g.exif_json, r.exif_json);
    assert_int_equal(g.taken_at, 1561982400);
    assert_string_equal(g.colors_json, r.colors_json);
    assert_string_equal(g.caption, r.caption);
    assert_string_equal(g.tags_json, r.tags_json);
    assert_string_equal(g.faces_json, "[]");
    assert_string_equal(g.text, "HELLO");
    assert_string_equal(g.text_json, r.text_json);
    assert_true(g.has_phash);
    assert_true(g.phash == 0xF00DFACE12345678ULL);
    assert_string_equal(g.status, "ready");
    assert_string_equal(g.thumb_sha256, thumb);
    assert_string_equal(g.filename, "x.jpg");
    assert_true(g.updated_at >= g.created_at);
    image_rec_free(&g);

    /* Empty status keeps the current one; has_phash 0 clears it. */
    r.status[0] = 0;
    r.has_phash = 0;
    assert_int_equal(meta_image_update_facts(f->db, &r, &err), SCRY_OK);
    assert_int_equal(meta_image_get(f->db, ids[0], &g, &err), SCRY_OK);
    assert_string_equal(g.status, "ready");
    assert_false(g.has_phash);
    image_rec_free(&g);

    /* Refused: broken JSON, unknown status, unknown image. Nothing changes. */
    r.tags_json = "[{\"label\":";
    assert_int_equal(meta_image_update_facts(f->db, &r, &err), SCRY_EINVAL);
    assert_non_null(strstr(err.msg, "tags_json"));
    r.tags_json = NULL;
    snprintf(r.status, sizeof r.status, "bogus");
    assert_int_equal(meta_image_update_facts(f->db, &r, &err), SCRY_EINVAL);
    snprintf(r.status, sizeof r.status, "ready");
    snprintf(r.id, sizeof r.id, "%s", "0123456789abcdef01234567");
    assert_int_equal(meta_image_update_facts(f->db, &r, &err), SCRY_ENOTFOUND);
    assert_int_equal(meta_image_get(f->db, ids[0], &g, &err), SCRY_OK);
    assert_non_null(g.tags_json);
    image_rec_free(&g);
}

/* ---- keyword search -------------------------------------------------------- */

static void test_fts_finds_every_field(void **state) {
    fixture *f = *state;
    const char *names[] = {"IMG_2019_beach-sunset.jpg", "DSC01234.JPG", "BirthdayParty.png",
                           "scan.tiff"};
    char ids[4][SCRY_ID_LEN + 1], job[SCRY_ID_LEN + 1];
    upload(f->db, 4, names, NULL, ids, job);
    char got[256];

    /* Pending images already match by filename words. */
    search_idx(f->db, "beach", ids, 4, got, sizeof got);
    assert_string_equal(got, "0");
    search_idx(f->db, "sunset", ids, 4, got, sizeof got);
    assert_string_equal(got, "0");
    search_idx(f->db, "dsc", ids, 4, got, sizeof got);
    assert_string_equal(got, "1");
    search_idx(f->db, "01234", ids, 4, got, sizeof got);
    assert_string_equal(got, "1");
    search_idx(f->db, "party", ids, 4, got, sizeof got);
    assert_string_equal(got, "2");

    set_facts(f->db, ids[0], "two dogs running on the sand", "[{\"label\":\"dog\",\"score\":0.9,"
              "\"color\":\"brown\"},{\"label\":\"dog\",\"score\":0.8}]", NULL,
              "[{\"name\":\"orange\",\"hex\":\"#ff8800\",\"fraction\":0.4}]", NULL);
    set_facts(f->db, ids[1], "a red car parked in a street", "[{\"label\":\"car\",\"score\":0.9,"
              "\"color\":\"red\"}]", "SPEED LIMIT 30", "[{\"name\":\"gray\",\"hex\":\"#888\","
              "\"fraction\":0.6}]", "{\"camera\":\"Canon EOS 5D\",\"date_taken\":"
              "\"2019-07-01T12:00:00\"}");
    set_facts(f->db, ids[2], "people at a party", "[{\"label\":\"person\",\"score\":0.9}]",
              "Happy Birthday Zoë", NULL, NULL);
    /* Faces: emotion words are searchable. */
    scry_err err = {0};
    image_rec r;
    assert_int_equal(meta_image_get(f->db, ids[3], &r, &err), SCRY_OK);
    image_rec_free(&r);
    r.faces_json = "[{\"box\":[0,0,10,10],\"emotion\":\"surprise\",\"scores\":{}}]";
    r.taken_at = 1262304000;    /* 2010-01-01, no EXIF date string */
    snprintf(r.status, sizeof r.status, "ready");
    assert_int_equal(meta_image_update_facts(f->db, &r, &err), SCRY_OK);

    search_idx(f->db, "sand", ids, 4, got, sizeof got);          /* caption */
    assert_string_equal(got, "0");
    search_idx(f->db, "dog", ids, 4, got, sizeof got);           /* tag + stemmed caption */
    assert_string_equal(got, "0");
    search_idx(f->db, "cars", ids, 4, got, sizeof got);          /* stemming */
    assert_string_equal(got, "1");
    search_idx(f->db, "speed limit", ids, 4, got, sizeof got);   /* OCR */
    assert_string_equal(got, "1");
    search_idx(f->db, "zoe", ids, 4, got, sizeof got);           /* diacritics folded */
    assert_string_equal(got, "2");
    search_idx(f->db, "Zoë", ids, 4, got, sizeof got);
    assert_string_equal(got, "2");
    search_idx(f->db, "orange", ids, 4, got, sizeof got);        /* colour names */
    assert_string_equal(got, "0");
    search_idx(f->db, "gray", ids, 4, got, sizeof got);
    assert_string_equal(got, "1");
    search_idx(f->db, "brown", ids, 4, got, sizeof got);         /* colour of a tag */
    assert_string_equal(got, "0");
    search_idx(f->db, "canon", ids, 4, got, sizeof got);         /* EXIF camera */
    assert_string_equal(got, "1");
    search_idx(f->db, "july", ids, 4, got, sizeof got);          /* EXIF month name */
    assert_string_equal(got, "1");
    search_idx(f->db, "january 2010", ids, 4, got, sizeof got);  /* from taken_at */
    assert_string_equal(got, "3");
    /* EXIF's native date spelling works too. */
    set_facts(f->db, ids[2], "people at a party", NULL, NULL, NULL,
              "{\"date_taken\":\"2021:12:24 20:00:00\"}");
    search_idx(f->db, "december 2021", ids, 4, got, sizeof got);
    assert_string_equal(got, "2");
    search_idx(f->db, "surprise", ids, 4, got, sizeof got);      /* face emotion */
    assert_string_equal(got, "3");
    search_idx(f->db, "sunset", ids, 4, got, sizeof got);        /* filename kept */
    assert_string_equal(got, "0");
    search_idx(f->db, "giraffe", ids, 4, got, sizeof got);
    assert_string_equal(got, "");

    /* Column filters and phrases through meta_fts_quote. */
    char *q = meta_fts_quote("red car");
    char expr[128];
    snprintf(expr, sizeof expr, "tags : %s", q);
    free(q);
    meta_hit *hits;
    int n;
    assert_int_equal(meta_fts_search(f->db, expr, 10, &hits, &n, &err), SCRY_OK);
    assert_int_equal(n, 1);
    assert_string_equal(hits[0].id, ids[1]);
    assert_true(hits[0].bm25 > 0);
    free(hits);
    /* "red" is in the caption of the car only; as a tag colour too. But the
     * phrase "brown car" exists nowhere. */
    assert_int_equal(meta_fts_search(f->db, "tags : \"brown car\"", 10, &hits, &n, &err),
                     SCRY_OK);
    assert_int_equal(n, 0);
    assert_null(hits);
    /* Limit is honoured. */
    assert_int_equal(meta_fts_search(f->db, "\"jpg\" OR \"png\" OR \"tiff\"", 2, &hits, &n,
                                     &err), SCRY_OK);
    assert_int_equal(n, 2);
    free(hits);
}

static void test_bm25_more_words_rank_higher(void **state) {
    fixture *f = *state;
    const char *names[] = {"1.jpg", "2.jpg", "3.jpg", "4.jpg", "5.jpg"};
    char ids[5][SCRY_ID_LEN + 1], job[SCRY_ID_LEN + 1];
    upload(f->db, 5, names, NULL, ids, job);
    set_facts(f->db, ids[0], "a cat sleeping on a sofa", NULL, NULL, NULL, NULL);
    set_facts(f->db, ids[1], "a dog and a cat playing in a garden", NULL, NULL, NULL, NULL);
    set_facts(f->db, ids[2], "a dog playing with a ball in a garden", NULL, NULL, NULL, NULL);
    set_facts(f->db, ids[3], "a mountain lake", NULL, NULL, NULL, NULL);
    set_facts(f->db, ids[4], "city skyline at night", NULL, NULL, NULL, NULL);
    char got[64];
    /* Three words: #2 matches all three, #1 and #3 two, #0 one. */
    search_idx(f->db, "dog cat garden", ids, 5, got, sizeof got);
    assert_string_equal(got, "1 2 0");
    search_idx(f->db, "dog ball garden", ids, 5, got, sizeof got);
    assert_string_equal(got, "2 1");
    search_idx(f->db, "mountain lake", ids, 5, got, sizeof got);
    assert_string_equal(got, "3");
}

static void test_hostile_fts_input_never_errors(void **state) {
    fixture *f = *state;
    const char *names[] = {"a-b_c.jpg", "naïve café.png"};
    char ids[2][SCRY_ID_LEN + 1], job[SCRY_ID_LEN + 1];
    upload(f->db, 2, names, NULL, ids, job);
    const char *inputs[] = {
        "\"", "\"\"", "\"\"\"", "AND OR NOT", "AND", "NOT dog", "*", "dog*", "^dog", "",
        "   ", "naïve café", "a-b:c", "filename:x", "caption : dog", "(((", ")", "NEAR(a b)",
        "{a b}", "+-*/", "'; DROP TABLE images; --", "\xff\xfe\xfd", "日本語 テスト",
        "emoji 🐶🐱", "a\tb\nc", "the of a", "%s%n", "\\", "x OR", "OR x", "-", ":", "@#$",
    };
    scry_err err = {0};
    for (size_t i = 0; i < sizeof inputs / sizeof *inputs; i++) {
        char *m = meta_fts_query_from_text(inputs[i]);
        assert_non_null(m);
        meta_hit *hits = NULL;
        int n = -1;
        int rc = meta_fts_search(f->db, m, 10, &hits, &n, &err);
        if (rc != SCRY_OK) fail_msg("input #%zu %s -> %s: %s", i, inputs[i], m, err.msg);
        assert_true(n >= 0);
        free(hits);
        free(m);
    }
    /* And the safe expressions still find things. */
    char got[32];
    search_idx(f->db, "naïve café", ids, 2, got, sizeof got);
    assert_string_equal(got, "1");
    search_idx(f->db, "NAIVE", ids, 2, got, sizeof got);
    assert_string_equal(got, "1");
    search_idx(f->db, "a-b:c", ids, 2, got, sizeof got);
    assert_string_equal(got, "0");
    search_idx(f->db, "", ids, 2, got, sizeof got);
    assert_string_equal(got, "");
    /* What the expression looks like. */
    char *m = meta_fts_query_from_text("Dog, \"cat\" NOT the dog!");
    assert_string_equal(m, "\"Dog\" OR \"cat\" OR \"NOT\"");
    free(m);
    m = meta_fts_query_from_text("the");
    assert_string_equal(m, "\"the\"");
    free(m);
    m = meta_fts_quote("say \"hi\"");
    assert_string_equal(m, "\"say \"\"hi\"\"\"");
    free(m);
    /* Hand-written nonsense is the caller's error, reported as such. */
    meta_hit *hits = NULL;
    int n;
    assert_int_equal(meta_fts_search(f->db, "\"", 10, &hits, &n, &err), SCRY_EINVAL);
    assert_int_equal(meta_fts_search(f->db, "AND OR", 10, &hits, &n, &err), SCRY_EINVAL);
    assert_null(hits);
}

/* ---- jobs ------------------------------------------------------------------- */

static void test_job_lifecycle(void **state) {
    fixture *f = *state;
    const char *names[] = {"one.jpg", "two.jpg", "three.jpg"};
    char ids[3][SCRY_ID_LEN + 1], job[SCRY_ID_LEN + 1];
    upload(f->db, 3, names, NULL, ids, job);
    scry_err err = {0};
    work_item w[3];
    for (int i = 0; i < 3; i++) {
        assert_int_equal(meta_item_claim(f->db, &w[i], &err), SCRY_OK);
        assert_string_equal(w[i].job_id, job);
        assert_string_equal(w[i].image_id, ids[i]);      /* FIFO */
        assert_int_equal(w[i].attempt, 1);
    }
    work_item none;
    assert_int_equal(meta_item_claim(f->db, &none, &err), SCRY_ENOTFOUND);

    job_rec j;
    assert_int_equal(meta_job_get(f->db, job, &j, &err), SCRY_OK);
    assert_string_equal(j.status, "running");
    job_rec_free(&j);

    assert_int_equal(meta_item_stage(f->db, &w[0], "decode", &err), SCRY_OK);
    assert_int_equal(meta_item_finish(f->db, &w[0], 1, NULL, NULL, &err), SCRY_OK);
    assert_int_equal(meta_item_stage(f->db, &w[1], "detect", &err), SCRY_OK);
    assert_int_equal(meta_item_finish(f->db, &w[1], 0, "detect", "model exploded", &err),
                     SCRY_OK);
    assert_int_equal(meta_job_get(f->db, job, &j, &err), SCRY_OK);
    assert_string_equal(j.status, "running");
    assert_int_equal(j.done, 1);
    assert_int_equal(j.failed, 1);
    job_rec_free(&j);

    /* Finishing twice, or a stale attempt, is refused. */
    assert_int_equal(meta_item_finish(f->db, &w[0], 1, NULL, NULL, &err), SCRY_ENOTFOUND);
    assert_int_equal(meta_item_stage(f->db, &w[0], "late", &err), SCRY_ENOTFOUND);
    work_item stale = w[2];
    stale.attempt = 7;
    assert_int_equal(meta_item_finish(f->db, &stale, 1, NULL, NULL, &err), SCRY_ENOTFOUND);

    assert_int_equal(meta_item_finish(f->db, &w[2], 1, NULL, NULL, &err), SCRY_OK);
    assert_int_equal(meta_job_get(f->db, job, &j, &err), SCRY_OK);
    assert_string_equal(j.status, "completed");     /* even with one image failed */
    assert_int_equal(j.total, 3);
    assert_int_equal(j.done, 2);
    assert_int_equal(j.failed, 1);
    assert_null(j.error);
    assert_int_equal(j.nerrors, 1);
    assert_string_equal(j.errors[0].image_id, ids[1]);
    assert_string_equal(j.errors[0].filename, "two.jpg");
    assert_string_equal(j.errors[0].stage, "detect");
    assert_string_equal(j.errors[0].message, "model exploded");
    assert_true(j.updated_at >= j.created_at);
    job_rec_free(&j);

    image_rec r;
    const char *want[] = {"ready", "failed", "ready"};
    for (int i = 0; i < 3; i++) {
        assert_int_equal(meta_image_get(f->db, ids[i], &r, &err), SCRY_OK);
        assert_string_equal(r.status, want[i]);
        image_rec_free(&r);
    }

    /* Re-index: every image again; a failed re-index keeps a ready image
     * ready, a successful one makes a failed image ready. */
    char rjob[SCRY_ID_LEN + 1];
    int n = 0;
    assert_int_equal(meta_reindex_all(f->db, rjob, &n, &err), SCRY_OK);
    assert_int_equal(n, 3);
    assert_string_not_equal(rjob, job);
    assert_int_equal(meta_job_get(f->db, rjob, &j, &err), SCRY_OK);
    assert_string_equal(j.status, "pending");
    assert_int_equal(j.total, 3);
    job_rec_free(&j);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(meta_item_claim(f->db, &w[i], &err), SCRY_OK);
        assert_string_equal(w[i].job_id, rjob);
        assert_int_equal(w[i].attempt, 1);
        assert_int_equal(meta_item_finish(f->db, &w[i], i != 0, "caption", "oops", &err),
                         SCRY_OK);
    }
    const char *want2[] = {"ready", "ready", "ready"};
    for (int i = 0; i < 3; i++) {
        assert_int_equal(meta_image_get(f->db, ids[i], &r, &err), SCRY_OK);
        assert_string_equal(r.status, want2[i]);
        image_rec_free(&r);
    }
    assert_int_equal(meta_job_get(f->db, rjob, &j, &err), SCRY_OK);
    assert_string_equal(j.status, "completed");
    assert_int_equal(j.failed, 1);
    /* The two successful items carried an optional stage's failure: they are
     * done, and listed among the errors with the failed one. */
    assert_int_equal(j.done, 2);
    assert_int_equal(j.nerrors, 3);
    for (int i = 0; i < j.nerrors; i++) {
        assert_string_equal(j.errors[i].stage, "caption");
        assert_string_equal(j.errors[i].message, "oops");
    }
    job_rec_free(&j);

    /* Listing: most recent first. */
    job_rec *list;
    int nl;
    assert_int_equal(meta_job_list(f->db, 10, &list, &nl, &err), SCRY_OK);
    assert_int_equal(nl, 2);
    assert_string_equal(list[0].id, rjob);
    assert_string_equal(list[1].id, job);
    assert_null(list[0].errors);
    for (int i = 0; i < nl; i++) job_rec_free(&list[i]);
    free(list);
    assert_int_equal(meta_job_list(f->db, 1, &list, &nl, &err), SCRY_OK);
    assert_int_equal(nl, 1);
    assert_string_equal(list[0].id, rjob);
    job_rec_free(&list[0]);
    free(list);
    assert_int_equal(meta_job_get(f->db, "ffffffffffffffffffffffff", &j, &err), SCRY_ENOTFOUND);
}

static void test_empty_jobs_complete_at_once(void **state) {
    fixture *f = *state;
    scry_err err = {0};
    char rjob[SCRY_ID_LEN + 1];
    int n = -1;
    assert_int_equal(meta_reindex_all(f->db, rjob, &n, &err), SCRY_OK);
    assert_int_equal(n, 0);
    job_rec j;
    assert_int_equal(meta_job_get(f->db, rjob, &j, &err), SCRY_OK);
    assert_string_equal(j.status, "completed");
    assert_int_equal(j.total, 0);
    job_rec_free(&j);
    char job[SCRY_ID_LEN + 1];
    scry_new_id(job);
    assert_int_equal(meta_upload_commit(f->db, job, NULL, 0, &err), SCRY_OK);
    assert_int_equal(meta_job_get(f->db, job, &j, &err), SCRY_OK);
    assert_string_equal(j.status, "completed");
    job_rec_free(&j);
}

static void test_recover_after_crash(void **state) {
    fixture *f = *state;
    const char *names[] = {"p.jpg", "q.jpg", "r.jpg"};
    char ids[3][SCRY_ID_LEN + 1], job[SCRY_ID_LEN + 1];
    upload(f->db, 3, names, NULL, ids, job);
    scry_err err = {0};
    work_item w;
    /* r.jpg finishes normally; p and q are running when the "crash" comes. */
    work_item a, b, c;
    assert_int_equal(meta_item_claim(f->db, &a, &err), SCRY_OK);
    assert_int_equal(meta_item_claim(f->db, &b, &err), SCRY_OK);
    assert_int_equal(meta_item_claim(f->db, &c, &err), SCRY_OK);
    assert_int_equal(meta_item_finish(f->db, &c, 1, NULL, NULL, &err), SCRY_OK);
    assert_int_equal(meta_item_stage(f->db, &a, "ocr", &err), SCRY_OK);

    /* Crash = the handle goes away with items running; a new process opens
     * the file and recovers. */
    int requeued = -1, failed = -1;
    for (int attempt = 1; attempt <= 2; attempt++) {
        meta_close(f->db);
        crash_wait();
        assert_int_equal(open_db(f, &f->db, &err), SCRY_OK);
        assert_int_equal(meta_recover(f->db, 3, &requeued, &failed, &err), SCRY_OK);
        assert_int_equal(requeued, 2);
        assert_int_equal(failed, 0);
        assert_int_equal(meta_item_claim(f->db, &w, &err), SCRY_OK);
        assert_string_equal(w.image_id, ids[0]);
        assert_int_equal(w.attempt, attempt + 1);
        assert_int_equal(meta_item_stage(f->db, &w, "ocr", &err), SCRY_OK);
        assert_int_equal(meta_item_claim(f->db, &w, &err), SCRY_OK);
        assert_string_equal(w.image_id, ids[1]);
        assert_int_equal(w.attempt, attempt + 1);
    }
    /* The stale handle from before the crash can no longer finish. */
    assert_int_equal(meta_item_finish(f->db, &a, 1, NULL, NULL, &err), SCRY_ENOTFOUND);

    /* Third crash: both have had 3 attempts. p was in "ocr"; q entered no
     * stage this time. */
    meta_close(f->db);
    crash_wait();
    assert_int_equal(open_db(f, &f->db, &err), SCRY_OK);
    assert_int_equal(meta_recover(f->db, 3, &requeued, &failed, &err), SCRY_OK);
    assert_int_equal(requeued, 0);
    assert_int_equal(failed, 2);
    assert_int_equal(meta_item_claim(f->db, &w, &err), SCRY_ENOTFOUND);
    job_rec j;
    assert_int_equal(meta_job_get(f->db, job, &j, &err), SCRY_OK);
    assert_string_equal(j.status, "completed");
    assert_int_equal(j.done, 1);
    assert_int_equal(j.failed, 2);
    assert_int_equal(j.nerrors, 2);
    assert_string_equal(j.errors[0].image_id, ids[0]);
    assert_string_equal(j.errors[0].stage, "ocr");
    char want[128];
    snprintf(want, sizeof want, "%s in stage ocr after 3 attempts", crash_words());
    assert_string_equal(j.errors[0].message, want);
    assert_string_equal(j.errors[1].stage, "start");
    snprintf(want, sizeof want, "%s in stage start after 3 attempts", crash_words());
    assert_string_equal(j.errors[1].message, want);
    job_rec_free(&j);
    image_rec r;
    assert_int_equal(meta_image_get(f->db, ids[0], &r, &err), SCRY_OK);
    assert_string_equal(r.status, "failed");
    image_rec_free(&r);

    /* Nothing running: recovery is a no-op. */
    assert_int_equal(meta_recover(f->db, 3, &requeued, &failed, &err), SCRY_OK);
    assert_int_equal(requeued + failed, 0);

    /* max_attempts 1: the first crash is final, singular wording. */
    const char *more[] = {"s.jpg"};
    char ids2[1][SCRY_ID_LEN + 1], job2[SCRY_ID_LEN + 1];
    upload(f->db, 1, more, NULL, ids2, job2);
    assert_int_equal(meta_item_claim(f->db, &w, &err), SCRY_OK);
    assert_int_equal(meta_item_stage(f->db, &w, "decode", &err), SCRY_OK);
    if (g_pg) {
        /* A live lease is left alone: the worker may still be at it. */
        assert_int_equal(meta_recover(f->db, 1, &requeued, &failed, &err), SCRY_OK);
        assert_int_equal(requeued + failed, 0);
        /* ...and a heartbeat keeps it alive past its first term. */
        usleep(PG_LEASE_MS * 600);
        assert_int_equal(meta_item_heartbeat(f->db, &w, &err), SCRY_OK);
        usleep(PG_LEASE_MS * 600);
        assert_int_equal(meta_recover(f->db, 1, &requeued, &failed, &err), SCRY_OK);
        assert_int_equal(requeued + failed, 0);
    }
    crash_wait();
    assert_int_equal(meta_recover(f->db, 1, &requeued, &failed, &err), SCRY_OK);
    assert_int_equal(failed, 1);
    assert_int_equal(meta_job_get(f->db, job2, &j, &err), SCRY_OK);
    assert_string_equal(j.status, "completed");
    assert_int_equal(j.nerrors, 1);
    snprintf(want, sizeof want, "%s in stage decode after 1 attempt", crash_words());
    assert_string_equal(j.errors[0].message, want);
    job_rec_free(&j);
}

static void test_job_fail_whole_job(void **state) {
    fixture *f = *state;
    const char *names[] = {"u.jpg", "v.jpg", "w.jpg"};
    char ids[3][SCRY_ID_LEN + 1], job[SCRY_ID_LEN + 1];
    upload(f->db, 3, names, NULL, ids, job);
    scry_err err = {0};
    work_item w;
    assert_int_equal(meta_item_claim(f->db, &w, &err), SCRY_OK);
    assert_int_equal(meta_item_finish(f->db, &w, 1, NULL, NULL, &err), SCRY_OK);
    assert_int_equal(meta_job_fail(f->db, job, "blob store unreachable", &err), SCRY_OK);
    job_rec j;
    assert_int_equal(meta_job_get(f->db, job, &j, &err), SCRY_OK);
    assert_string_equal(j.status, "failed");
    assert_string_equal(j.error, "blob store unreachable");
    assert_int_equal(j.done, 1);
    assert_int_equal(j.failed, 2);
    assert_int_equal(j.nerrors, 2);
    assert_string_equal(j.errors[0].stage, "job");
    job_rec_free(&j);
    assert_int_equal(meta_item_claim(f->db, &w, &err), SCRY_ENOTFOUND);
    image_rec r;
    assert_int_equal(meta_image_get(f->db, ids[2], &r, &err), SCRY_OK);
    assert_string_equal(r.status, "failed");
    image_rec_free(&r);
    assert_int_equal(meta_job_fail(f->db, job, "again", &err), SCRY_EINVAL);
    assert_int_equal(meta_job_fail(f->db, "eeeeeeeeeeeeeeeeeeeeeeee", "x", &err), SCRY_ENOTFOUND);
}

/* ---- delete ------------------------------------------------------------------ */

static int count_vectors(int64_t rowid, const float *v, int dim, void *ctx) {
    (void)rowid; (void)v; (void)dim;
    (*(int *)ctx)++;
    return 0;
}

static void test_delete_reports_orphans(void **state) {
    fixture *f = *state;
    char shared[65], other[65], thumb0[65];
    scry_sha256_hex("same bytes", 10, shared);
    scry_sha256_hex("other bytes", 11, other);
    scry_sha256_hex("thumb of 0", 10, thumb0);
    /* #0 and #1 share the original; #2's original is #0's thumbnail. */
    const char *names[] = {"first.jpg", "copy-of-first.jpg", "thumb-reupload.jpg"};
    const char *shas[] = {shared, shared, thumb0};
    char ids[3][SCRY_ID_LEN + 1], job[SCRY_ID_LEN + 1];
    upload(f->db, 3, names, shas, ids, job);
    scry_err err = {0};
    image_rec r;
    assert_int_equal(meta_image_get(f->db, ids[0], &r, &err), SCRY_OK);
    int64_t rowid0 = r.rowid;
    image_rec_free(&r);
    memcpy(r.thumb_sha256, thumb0, sizeof thumb0);
    snprintf(r.status, sizeof r.status, "ready");
    r.caption = "zebra crossing";
    assert_int_equal(meta_image_update_facts(f->db, &r, &err), SCRY_OK);
    float v[4] = {1, 2, 3, 4};
    assert_int_equal(meta_vector_put(f->db, rowid0, "clip", v, 4, &err), SCRY_OK);
    /* #0 done, #1 and #2 still pending in the job. */
    work_item w;
    assert_int_equal(meta_item_claim(f->db, &w, &err), SCRY_OK);
    assert_int_equal(meta_item_finish(f->db, &w, 1, NULL, NULL, &err), SCRY_OK);

    int used = -1;
    assert_int_equal(meta_blob_referenced(f->db, thumb0, &used, &err), SCRY_OK);
    assert_int_equal(used, 1);
    assert_int_equal(meta_blob_referenced(f->db, other, &used, &err), SCRY_OK);
    assert_int_equal(used, 0);
    char o1[65], o2[65];
    assert_int_equal(meta_image_delete(f->db, ids[0], o1, o2, &err), SCRY_OK);
    assert_string_equal(o1, "");     /* #1 still uses the original */
    assert_string_equal(o2, "");     /* #2's original is these bytes */
    assert_int_equal(meta_image_get(f->db, ids[0], &r, &err), SCRY_ENOTFOUND);
    int nv = 0;
    assert_int_equal(meta_vector_each(f->db, "clip", count_vectors, &nv, &err), SCRY_OK);
    assert_int_equal(nv, 0);
    char *m = meta_fts_query_from_text("zebra first");
    meta_hit *hits;
    int n;
    assert_int_equal(meta_fts_search(f->db, m, 10, &hits, &n, &err), SCRY_OK);
    assert_int_equal(n, 1);             /* only "copy-of-first.jpg" is left */
    assert_string_equal(hits[0].id, ids[1]);
    free(hits);
    free(m);
    job_rec j;
    assert_int_equal(meta_job_get(f->db, job, &j, &err), SCRY_OK);
    assert_int_equal(j.total, 3);       /* a finished item stays counted */
    assert_int_equal(j.done, 1);
    job_rec_free(&j);

    /* Deleting a pending image shrinks its job; the job then completes when
     * the rest is done. */
    assert_int_equal(meta_image_delete(f->db, ids[2], o1, o2, &err), SCRY_OK);
    assert_string_equal(o1, thumb0);
    assert_string_equal(o2, "");
    assert_int_equal(meta_job_get(f->db, job, &j, &err), SCRY_OK);
    assert_int_equal(j.total, 2);
    assert_string_equal(j.status, "running");
    job_rec_free(&j);
    assert_int_equal(meta_item_claim(f->db, &w, &err), SCRY_OK);
    assert_string_equal(w.image_id, ids[1]);
    /* Deleted while a worker holds it: the job completes, the worker's
     * finish says the item is gone. */
    assert_int_equal(meta_image_delete(f->db, ids[1], o1, o2, &err), SCRY_OK);
    assert_string_equal(o1, shared);    /* last user of the shared bytes */
    assert_int_equal(meta_job_get(f->db, job, &j, &err), SCRY_OK);
    assert_int_equal(j.total, 1);
    assert_string_equal(j.status, "completed");
    job_rec_free(&j);
    assert_int_equal(meta_item_finish(f->db, &w, 1, NULL, NULL, &err), SCRY_ENOTFOUND);
    assert_int_equal(meta_image_count(f->db), 0);
    assert_int_equal(meta_image_delete(f->db, ids[1], o1, o2, &err), SCRY_ENOTFOUND);
    assert_int_equal(meta_blob_referenced(f->db, shared, &used, &err), SCRY_OK);
    assert_int_equal(used, 0);

    /* A deleted image's rowid is never reused (ANN labels stay unambiguous). */
    const char *again[] = {"new.jpg"};
    char ids2[1][SCRY_ID_LEN + 1], job2[SCRY_ID_LEN + 1];
    upload(f->db, 1, again, NULL, ids2, job2);
    assert_int_equal(meta_image_get(f->db, ids2[0], &r, &err), SCRY_OK);
    assert_true(r.rowid > rowid0 + 2);
    image_rec_free(&r);
}

/* ---- vectors --------------------------------------------------------------------- */

typedef struct walk {
    meta_db *db;
    int n;
    int64_t last;
    int bad;
    int stop_at;
} walk;

static int check_vector(int64_t rowid, const float *v, int dim, void *ctx) {
    walk *wk = ctx;
    if (rowid <= wk->last) wk->bad++;
    wk->last = rowid;
    if (dim != 8) wk->bad++;
    for (int i = 0; i < dim; i++)
        if (v[i] != (float)rowid * 0.5f + (float)i) wk->bad++;
    /* Calling back into the store from the callback must work. */
    if (wk->n % 100 == 0) {
        image_rec r;
        scry_err err = {0};
        if (meta_image_get_by_rowid(wk->db, rowid, &r, &err) != SCRY_OK) wk->bad++;
        else image_rec_free(&r);
    }
    wk->n++;
    if (wk->stop_at && wk->n == wk->stop_at) return 42;
    return 0;
}

static void test_vectors_put_each(void **state) {
    fixture *f = *state;
    enum { N = 300 };   /* more than one page (256) of the walk */
    const char **names = calloc(N, sizeof *names);
    char(*ids)[SCRY_ID_LEN + 1] = calloc(N, sizeof *ids);
    char(*namebuf)[32] = calloc(N, sizeof *namebuf);
    for (int i = 0; i < N; i++) {
        snprintf(namebuf[i], sizeof namebuf[i], "img%04d.jpg", i);
        names[i] = namebuf[i];
    }
    char job[SCRY_ID_LEN + 1];
    upload(f->db, N, names, NULL, ids, job);
    scry_err err = {0};
    image_rec *list;
    int n;
    assert_int_equal(meta_image_list(f->db, 0, N, &list, &n, &err), SCRY_OK);
    assert_int_equal(n, N);
    /* Insert in reverse rowid order; the walk must still be ascending. */
    for (int i = 0; i < N; i++) {
        float v[8];
        for (int k = 0; k < 8; k++) v[k] = (float)list[i].rowid * 0.5f + (float)k;
        assert_int_equal(meta_vector_put(f->db, list[i].rowid, "clip", v, 8, &err), SCRY_OK);
        if (i % 3 == 0) {
            float w[3] = {1, 2, 3};
            assert_int_equal(meta_vector_put(f->db, list[i].rowid, "text", w, 3, &err), SCRY_OK);
        }
    }
    /* Replace one: still one vector per (model, image). */
    float v[8];
    for (int k = 0; k < 8; k++) v[k] = (float)list[7].rowid * 0.5f + (float)k;
    assert_int_equal(meta_vector_put(f->db, list[7].rowid, "clip", v, 8, &err), SCRY_OK);
    walk wk = {f->db, 0, INT64_MIN, 0, 0};
    assert_int_equal(meta_vector_each(f->db, "clip", check_vector, &wk, &err), SCRY_OK);
    assert_int_equal(wk.n, N);
    assert_int_equal(wk.bad, 0);
    int nt = 0;
    assert_int_equal(meta_vector_each(f->db, "text", count_vectors, &nt, &err), SCRY_OK);
    assert_int_equal(nt, N / 3);
    int none = 0;
    assert_int_equal(meta_vector_each(f->db, "nope", count_vectors, &none, &err), SCRY_OK);
    assert_int_equal(none, 0);
    /* A non-zero return stops the walk and comes back. */
    walk stop = {f->db, 0, INT64_MIN, 0, 300};
    assert_int_equal(meta_vector_each(f->db, "clip", check_vector, &stop, &err), 42);
    assert_int_equal(stop.n, 300);

    assert_int_equal(meta_vector_put(f->db, 99999999, "clip", v, 8, &err), SCRY_ENOTFOUND);
    assert_int_equal(meta_vector_put(f->db, list[0].rowid, "clip", v, 0, &err), SCRY_EINVAL);
    assert_int_equal(meta_vector_put(f->db, list[0].rowid, "", v, 8, &err), SCRY_EINVAL);
    for (int i = 0; i < n; i++) image_rec_free(&list[i]);
    free(list);
    free(names);
    free(ids);
    free(namebuf);
}

/* ---- faces -------------------------------------------------------------------------- */

/* A face of box (x, y, w, h) with a descriptor whose values are tag + k. */
static meta_face face_at(int index, int x, int y, int w, int h, float *vec, float tag) {
    for (int k = 0; k < 16; k++) vec[k] = tag + (float)k;
    return (meta_face){.face_index = index, .box = {x, y, w, h}, .dim = 16, .vec = vec};
}

static int count_faces(const meta_face *fc, void *ctx) {
    int *n = ctx;
    if (fc->dim != 16 || fc->vec[1] != fc->vec[0] + 1) return 7;
    (*n)++;
    return 0;
}

static void test_faces_identity_reindex_delete(void **state) {
    fixture *f = *state;
    const char *names[] = {"group.jpg", "other.jpg"};
    char ids[2][SCRY_ID_LEN + 1], job[SCRY_ID_LEN + 1];
    upload(f->db, 2, names, NULL, ids, job);
    scry_err err = {0};
    image_rec r0, r1;
    assert_int_equal(meta_image_get(f->db, ids[0], &r0, &err), SCRY_OK);
    assert_int_equal(meta_image_get(f->db, ids[1], &r1, &err), SCRY_OK);

    /* Indexing: two faces written with the facts, in one transaction. */
    float va[16], vb[16], vc[16];
    meta_face two[2] = {face_at(0, 100, 100, 50, 50, va, 1), face_at(1, 300, 90, 40, 40, vb, 2)};
    meta_faces_update u = {.model = "m1", .dim = 16, .faces = two, .n = 2};
    free(r0.faces_json);
    r0.faces_json = strdup("[{\"box\":[100,100,50,50]},{\"box\":[300,90,40,40]}]");
    assert_int_equal(meta_image_update_facts_faces(f->db, &r0, &u, &err), SCRY_OK);
    meta_face *got;
    int n;
    assert_int_equal(meta_faces_get(f->db, r0.rowid, "m1", &got, &n, &err), SCRY_OK);
    assert_int_equal(n, 2);
    int64_t id_a = got[0].face_id, id_b = got[1].face_id;
    assert_true(id_a > 0 && id_b > 0 && id_a != id_b);
    assert_int_equal(got[1].face_index, 1);
    assert_int_equal(got[1].box[0], 300);
    assert_true(got[0].vec[3] == 4.0f && got[1].vec[0] == 2.0f);
    meta_faces_free(got, n);
    /* The other image and another model are separate. */
    meta_face one[1] = {face_at(0, 10, 10, 30, 30, vc, 9)};
    meta_faces_update u1 = {.model = "m1", .dim = 16, .faces = one, .n = 1};
    assert_int_equal(meta_faces_put(f->db, r1.rowid, &u1, &err), SCRY_OK);
    u1.model = "m2";
    assert_int_equal(meta_faces_put(f->db, r0.rowid, &u1, &err), SCRY_OK);
    assert_int_equal(meta_face_count(f->db, "m1"), 3);
    assert_int_equal(meta_face_count(f->db, "m2"), 1);

    /* The store survives a reopen. */
    meta_close(f->db);
    assert_int_equal(open_db(f, &f->db, &err), SCRY_OK);
    meta_face one_face;
    assert_int_equal(meta_face_get(f->db, id_b, &one_face, &err), SCRY_OK);
    assert_int_equal(one_face.image_rowid, r0.rowid);
    assert_true(one_face.dim == 16 && one_face.vec[15] == 17.0f);
    free(one_face.vec);

    /* Re-indexing: the face at 300,90 moved by 2 px and is now index 0 with
     * a new descriptor (same id); the one at 100,100 is gone (its id is
     * deleted, never reused); a new face gets a new id. */
    meta_face again[2] = {face_at(0, 302, 91, 40, 40, vb, 5), face_at(1, 500, 500, 60, 60, va, 6)};
    u.faces = again;
    assert_int_equal(meta_image_update_facts_faces(f->db, &r0, &u, &err), SCRY_OK);
    assert_int_equal(meta_faces_get(f->db, r0.rowid, "m1", &got, &n, &err), SCRY_OK);
    assert_int_equal(n, 2);
    assert_int_equal(got[0].face_id, id_b);
    assert_int_equal(got[0].face_index, 0);
    assert_int_equal(got[0].box[0], 302);
    assert_true(got[0].vec[0] == 5.0f);
    assert_true(got[1].face_id > id_b && got[1].face_id != id_a);
    meta_faces_free(got, n);
    assert_int_equal(meta_face_get(f->db, id_a, &one_face, &err), SCRY_ENOTFOUND);
    /* Facts written without faces leave them alone; an empty set clears them. */
    assert_int_equal(meta_image_update_facts(f->db, &r0, &err), SCRY_OK);
    assert_int_equal(meta_face_count(f->db, "m1"), 3);
    int walked = 0;
    assert_int_equal(meta_face_each(f->db, "m1", count_faces, &walked, &err), SCRY_OK);
    assert_int_equal(walked, 3);

    /* Bad input is refused before anything is written. */
    meta_faces_update bad = {.model = "", .dim = 16, .faces = again, .n = 2};
    assert_int_equal(meta_faces_put(f->db, r0.rowid, &bad, &err), SCRY_EINVAL);
    bad.model = "m1";
    bad.faces = NULL;
    assert_int_equal(meta_image_update_facts_faces(f->db, &r0, &bad, &err), SCRY_EINVAL);
    assert_int_equal(meta_faces_put(f->db, 987654, &u1, &err), SCRY_ENOTFOUND);
    assert_int_equal(meta_face_count(f->db, "m1"), 3);

    /* Deleting the image deletes its faces (every model), not the other's. */
    char o1[SCRY_SHA256_HEX + 1], o2[SCRY_SHA256_HEX + 1];
    assert_int_equal(meta_image_delete(f->db, ids[0], o1, o2, &err), SCRY_OK);
    assert_int_equal(meta_face_count(f->db, "m1"), 1);
    assert_int_equal(meta_face_count(f->db, "m2"), 0);
    assert_int_equal(meta_faces_get(f->db, r0.rowid, "m1", &got, &n, &err), SCRY_OK);
    assert_int_equal(n, 0);
    assert_null(got);
    meta_faces_update none = {.model = "m1", .dim = 16, .faces = NULL, .n = 0};
    assert_int_equal(meta_faces_put(f->db, r1.rowid, &none, &err), SCRY_OK);
    assert_int_equal(meta_face_count(f->db, "m1"), 0);
    image_rec_free(&r0);
    image_rec_free(&r1);
}

/* ---- stats -------------------------------------------------------------------------- */

static void test_stats(void **state) {
    fixture *f = *state;
    scry_err err = {0};
    meta_stats s;
    assert_int_equal(meta_get_stats(f->db, &s, &err), SCRY_OK);
    assert_int_equal(s.images + s.jobs_pending + s.items_pending, 0);
    const char *names[] = {"1.jpg", "2.jpg", "3.jpg", "4.jpg"};
    char ids[4][SCRY_ID_LEN + 1], job[SCRY_ID_LEN + 1], job2[SCRY_ID_LEN + 1];
    upload(f->db, 3, names, NULL, ids, job);
    upload(f->db, 1, names + 3, NULL, ids + 3, job2);
    work_item w;
    assert_int_equal(meta_item_claim(f->db, &w, &err), SCRY_OK);
    assert_int_equal(meta_item_finish(f->db, &w, 1, NULL, NULL, &err), SCRY_OK);
    assert_int_equal(meta_item_claim(f->db, &w, &err), SCRY_OK);
    assert_int_equal(meta_item_finish(f->db, &w, 0, "decode", "corrupt", &err), SCRY_OK);
    assert_int_equal(meta_get_stats(f->db, &s, &err), SCRY_OK);
    assert_int_equal(s.images, 4);
    assert_int_equal(s.images_ready, 1);
    assert_int_equal(s.images_failed, 1);
    assert_int_equal(s.images_pending, 2);
    assert_int_equal(s.jobs_running, 1);
    assert_int_equal(s.jobs_pending, 1);
    assert_int_equal(s.jobs_completed, 0);
    assert_int_equal(s.items_pending, 2);
    assert_int_equal(meta_item_claim(f->db, &w, &err), SCRY_OK);
    assert_int_equal(meta_item_finish(f->db, &w, 1, NULL, NULL, &err), SCRY_OK);
    assert_int_equal(meta_job_fail(f->db, job2, "cancelled", &err), SCRY_OK);
    assert_int_equal(meta_get_stats(f->db, &s, &err), SCRY_OK);
    assert_int_equal(s.jobs_completed, 1);
    assert_int_equal(s.jobs_failed, 1);
    assert_int_equal(s.jobs_running + s.jobs_pending, 0);
    assert_int_equal(s.items_pending, 0);
    assert_int_equal(s.images_ready, 2);
    assert_int_equal(s.images_failed, 2);
}

/* ---- concurrency ---------------------------------------------------------------------- */

enum { CONC_ITEMS = 120, CONC_THREADS = 4 };

typedef struct claimer {
    meta_db *db;            /* shared handle, or NULL: open own connection */
    const char *path;
    char (*claimed)[SCRY_ID_LEN + 1];
    int n;
    int errors;
} claimer;

static void *claim_thread(void *arg) {
    claimer *c = arg;
    meta_db *db = c->db;
    scry_err err = {0};
    if (!db && meta_open(&db, c->path, &err) != SCRY_OK) {
        c->errors++;
        return NULL;
    }
    for (;;) {
        work_item w;
        int rc = meta_item_claim(db, &w, &err);
        if (rc == SCRY_ENOTFOUND) break;
        if (rc != SCRY_OK) { c->errors++; break; }
        memcpy(c->claimed[c->n++], w.image_id, SCRY_ID_LEN + 1);
        if (meta_item_stage(db, &w, "work", &err) != SCRY_OK) c->errors++;
        int ok = c->n % 5 != 0;
        if (meta_item_finish(db, &w, ok, ok ? NULL : "work", ok ? NULL : "synthetic", &err) !=
            SCRY_OK)
            c->errors++;
    }
    if (!c->db) meta_close(db);
    return NULL;
}

static int cmp_id(const void *a, const void *b) { return strcmp(a, b); }

static void run_claimers(fixture *f, int own_connections) {
    char(*names)[32] = calloc(CONC_ITEMS, sizeof *names);
    const char **np = calloc(CONC_ITEMS, sizeof *np);
    char(*ids)[SCRY_ID_LEN + 1] = calloc(CONC_ITEMS, sizeof *ids);
    for (int i = 0; i < CONC_ITEMS; i++) {
        snprintf(names[i], sizeof names[i], "c%d.jpg", i);
        np[i] = names[i];
    }
    char job[SCRY_ID_LEN + 1];
    upload(f->db, CONC_ITEMS, np, NULL, ids, job);

    pthread_t th[CONC_THREADS];
    claimer c[CONC_THREADS];
    for (int i = 0; i < CONC_THREADS; i++) {
        c[i] = (claimer){own_connections ? NULL : f->db, f->path,
                         calloc(CONC_ITEMS, SCRY_ID_LEN + 1), 0, 0};
        assert_int_equal(pthread_create(&th[i], NULL, claim_thread, &c[i]), 0);
    }
    char(*all)[SCRY_ID_LEN + 1] = calloc(CONC_ITEMS * CONC_THREADS, SCRY_ID_LEN + 1);
    int total = 0;
    for (int i = 0; i < CONC_THREADS; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(c[i].errors, 0);
        memcpy(all[total], c[i].claimed, (size_t)c[i].n * (SCRY_ID_LEN + 1));
        total += c[i].n;
        free(c[i].claimed);
    }
    assert_int_equal(total, CONC_ITEMS);
    qsort(all, (size_t)total, SCRY_ID_LEN + 1, cmp_id);
    for (int i = 1; i < total; i++) assert_string_not_equal(all[i - 1], all[i]);
    scry_err err = {0};
    job_rec j;
    assert_int_equal(meta_job_get(f->db, job, &j, &err), SCRY_OK);
    assert_string_equal(j.status, "completed");
    assert_int_equal(j.done + j.failed, CONC_ITEMS);
    assert_int_equal(j.nerrors, j.failed);
    assert_true(j.failed > 0);
    job_rec_free(&j);
    free(all);
    free(names);
    free(np);
    free(ids);
}

static void test_concurrent_claims_shared_handle(void **state) {
    run_claimers(*state, 0);
}

static void test_concurrent_claims_own_connections(void **state) {
    run_claimers(*state, 1);
}

/* ---- people across connections ------------------------------------------------ */

typedef struct face_seen {
    int seen, gone;
    int64_t person[8], assigned[8], face[8];
} face_seen;

static int seen_face(const meta_face *fc, void *ctx) {
    face_seen *s = ctx;
    if (s->seen < 8) {
        s->face[s->seen] = fc->face_id;
        s->person[s->seen] = fc->person_id;
        s->assigned[s->seen] = fc->assigned;
    }
    s->seen++;
    return 0;
}

static int seen_gone(int64_t face_id, void *ctx) {
    (void)face_id;
    ((face_seen *)ctx)->gone++;
    return 0;
}

/* What one connection (another process) does to faces, people and
 * re-cluster jobs, the other sees: the face feed, the version number that
 * caches follow, names; the clustering lock excludes the other connection
 * on PostgreSQL (a no-op on SQLite, where one process clusters). */
static void test_people_across_connections(void **state) {
    fixture *f = *state;
    scry_err err = {0};
    meta_db *other = NULL;
    assert_int_equal(open_db(f, &other, &err), SCRY_OK);
    const char *names[] = {"pair.jpg"};
    char ids[1][SCRY_ID_LEN + 1], job[SCRY_ID_LEN + 1];
    upload(f->db, 1, names, NULL, ids, job);
    image_rec r;
    assert_int_equal(meta_image_get(f->db, ids[0], &r, &err), SCRY_OK);
    uint64_t v0 = meta_people_version(f->db);

    float va[16], vb[16];
    meta_face two[2] = {face_at(0, 10, 10, 50, 50, va, 1), face_at(1, 200, 10, 60, 60, vb, 2)};
    meta_faces_update u = {.model = "m1", .dim = 16, .faces = two, .n = 2};
    assert_int_equal(meta_faces_put(other, r.rowid, &u, &err), SCRY_OK);
    assert_true(meta_people_version(f->db) != v0);
    face_seen s = {0};
    int64_t last = 0;
    assert_int_equal(meta_face_changes(f->db, "m1", 0, seen_face, seen_gone, &s, &last, &err), SCRY_OK);
    assert_int_equal(s.seen, 2);
    assert_true(last > 0 && s.person[0] == 0 && s.assigned[0] == META_FACE_NEW);

    /* the other connection clusters and names; this one sees both */
    meta_assignment a[2] = {{s.face[0], -1}, {s.face[1], -2}};
    int64_t made[2] = {0, 0};
    int applied = 0;
    assert_int_equal(meta_faces_assign(other, a, 2, META_FACE_AUTO, made, &applied, &err), SCRY_OK);
    assert_int_equal(applied, 2);
    assert_true(made[0] > 0 && made[1] > 0 && made[0] != made[1]);
    uint64_t v1 = meta_people_version(f->db);
    assert_int_equal(meta_person_set_name(other, made[0], "Rose", &err), SCRY_OK);
    assert_true(meta_people_version(f->db) != v1);
    meta_person *named = NULL;
    int n = 0;
    assert_int_equal(meta_people_named(f->db, &named, &n, &err), SCRY_OK);
    assert_int_equal(n, 1);
    assert_int_equal(named[0].person_id, made[0]);
    assert_string_equal(named[0].name, "Rose");
    meta_people_free(named, n);
    face_seen s2 = {0};
    int64_t last2 = 0;
    assert_int_equal(meta_face_changes(f->db, "m1", last - 1, seen_face, seen_gone, &s2, &last2, &err), SCRY_OK);
    assert_int_equal(s2.seen, 2);
    for (int i = 0; i < 2; i++) {
        int k = s2.face[i] == s.face[0] ? 0 : 1;
        assert_int_equal(s2.person[i], made[k]);
        assert_int_equal(s2.assigned[i], k == 0 ? META_FACE_MANUAL : META_FACE_AUTO);  /* named: manual */
    }
    assert_true(last2 >= last);

    /* clustering turns */
    assert_int_equal(meta_people_lock(f->db, 1, 1000, &err), SCRY_OK);
    assert_int_equal(meta_people_lock(other, 1, 100, &err), g_pg ? SCRY_EBUSY : SCRY_OK);
    assert_int_equal(meta_people_lock(f->db, 0, 0, &err), SCRY_OK);
    assert_int_equal(meta_people_lock(other, 1, 1000, &err), SCRY_OK);
    assert_int_equal(meta_people_lock(other, 0, 0, &err), SCRY_OK);

    /* a re-cluster job made by one, finished by the other */
    char rj[SCRY_ID_LEN + 1];
    assert_int_equal(meta_job_create(other, "upload", 0, rj, &err), SCRY_EINVAL);
    assert_int_equal(meta_job_create(other, "recluster", 2, rj, &err), SCRY_OK);
    char open_ids[4][SCRY_ID_LEN + 1];
    assert_int_equal(meta_jobs_unfinished(f->db, "recluster", open_ids, 4, &n, &err), SCRY_OK);
    assert_int_equal(n, 1);
    assert_string_equal(open_ids[0], rj);
    assert_int_equal(meta_job_set(f->db, rj, "running", 1, 2, NULL, &err), SCRY_OK);
    assert_int_equal(meta_job_set(f->db, rj, "completed", 2, 2, NULL, &err), SCRY_OK);
    assert_int_equal(meta_job_set(f->db, "000000000000000000000000", "completed", 0, 0, NULL, &err),
                     SCRY_ENOTFOUND);
    assert_int_equal(meta_jobs_unfinished(other, "recluster", open_ids, 4, &n, &err), SCRY_OK);
    assert_int_equal(n, 0);
    job_rec jr = {0};
    assert_int_equal(meta_job_get(other, rj, &jr, &err), SCRY_OK);
    assert_string_equal(jr.status, "completed");
    assert_int_equal(jr.done, 2);
    job_rec_free(&jr);

    /* the image deleted by the other: its faces leave tombstones, its
     * persons go with them */
    char o1[SCRY_SHA256_HEX + 1], o2[SCRY_SHA256_HEX + 1];
    assert_int_equal(meta_image_delete(other, ids[0], o1, o2, &err), SCRY_OK);
    face_seen s3 = {0};
    int64_t last3 = 0;
    assert_int_equal(meta_face_changes(f->db, "m1", last2 - 1, seen_face, seen_gone, &s3, &last3, &err), SCRY_OK);
    assert_int_equal(s3.gone, 2);
    meta_person p;
    assert_int_equal(meta_person_get(f->db, made[0], &p, &err), SCRY_ENOTFOUND);
    assert_int_equal(meta_person_get(f->db, made[1], &p, &err), SCRY_ENOTFOUND);
    image_rec_free(&r);
    meta_close(other);
}

int main(void) {
    int failed = 0;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_open_schema_and_reopen, setup, teardown),
        cmocka_unit_test_setup_teardown(test_upload_commit_and_get, setup, teardown),
        cmocka_unit_test_setup_teardown(test_facts_roundtrip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fts_finds_every_field, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bm25_more_words_rank_higher, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hostile_fts_input_never_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_job_lifecycle, setup, teardown),
        cmocka_unit_test_setup_teardown(test_empty_jobs_complete_at_once, setup, teardown),
        cmocka_unit_test_setup_teardown(test_recover_after_crash, setup, teardown),
        cmocka_unit_test_setup_teardown(test_job_fail_whole_job, setup, teardown),
        cmocka_unit_test_setup_teardown(test_delete_reports_orphans, setup, teardown),
        cmocka_unit_test_setup_teardown(test_vectors_put_each, setup, teardown),
        cmocka_unit_test_setup_teardown(test_faces_identity_reindex_delete, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stats, setup, teardown),
        cmocka_unit_test_setup_teardown(test_concurrent_claims_shared_handle, setup, teardown),
        cmocka_unit_test_setup_teardown(test_concurrent_claims_own_connections, setup, teardown),
        cmocka_unit_test_setup_teardown(test_people_across_connections, setup, teardown),
    };
    failed += cmocka_run_group_tests_name("meta_sqlite", tests, NULL, NULL);
    g_pg = tu_pg();
    if (g_pg && *g_pg) failed += cmocka_run_group_tests_name("meta_postgres", tests, NULL, NULL);
    return failed;
}
