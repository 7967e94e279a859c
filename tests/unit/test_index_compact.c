/* Unit tests for the automatic compaction of the ANN index (search/search.h:
 * search_set_compaction) on real data: the 239 COCO images of ../shared,
 * each stored as an image whose caption is its first human caption, with
 * the real sentence encoder's vector (GloVe, deps/wordvec). The other
 * captions are the queries. Checks: no compaction below the policy's
 * threshold; past it the tombstones go, the answers for the surviving
 * images are those they had before (same ids, same order), deleted images
 * never come back, the saved file loads with the survivors and no
 * tombstones, and a restarted engine answers the same. Also the config
 * keys of the policy. */
#include "testutil.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/config.h"
#include "core/err.h"
#include "core/metrics.h"
#include "core/util.h"
#include "index/hnsw.h"
#include "search/search.h"
#include "store/meta.h"
#include "text/encoder.h"
#include "text/lexicon.h"
#include "text/wordvec.h"

#define MAXIMG 300
#define NQ 60

static scry_wordvec *wv;
static scry_lexicon *lex;
static scry_encoder *enc;
static char *captions[MAXIMG][2];   /* [0] the image's caption, [1] a query */
static int nimg;

static int setup(void **state) {
    (void)state;
    if (tu_text_open(&wv, &lex, &enc)) return -1;
    FILE *f = fopen(tu_shared("data/coco/captions.jsonl"), "r");
    if (!f) {
        fprintf(stderr, "cannot read %s\n", tu_shared("data/coco/captions.jsonl"));
        return -1;
    }
    char line[8192];
    while (nimg < MAXIMG && fgets(line, sizeof line, f)) {
        json_t *o = json_loads(line, 0, NULL);
        json_t *caps = json_object_get(o, "captions");
        if (json_array_size(caps) >= 2) {
            captions[nimg][0] = strdup(json_string_value(json_array_get(caps, 0)));
            captions[nimg][1] = strdup(json_string_value(json_array_get(caps, 1)));
            nimg++;
        }
        json_decref(o);
    }
    fclose(f);
    return nimg >= 200 ? 0 : -1;
}

static int teardown(void **state) {
    (void)state;
    for (int i = 0; i < nimg; i++) free(captions[i][0]), free(captions[i][1]);
    tu_text_close(wv, lex, enc);
    return 0;
}

/* A fresh database in dir holding every image (caption, ready, encoded
 * vector); fills their ids and rowids. */
static meta_db *store_images(const char *dir, char ids[][SCRY_ID_LEN + 1], int64_t *rowids) {
    scry_err err = {0};
    char path[1200];
    snprintf(path, sizeof path, "%s/meta.db", dir);
    meta_db *db = NULL;
    assert_int_equal(meta_open(&db, path, &err), SCRY_OK);
    meta_new_image *news = calloc((size_t)nimg, sizeof *news);
    char names[MAXIMG][32];
    for (int i = 0; i < nimg; i++) {
        scry_new_id(news[i].id);
        memcpy(ids[i], news[i].id, sizeof news[i].id);
        scry_sha256_hex(&i, sizeof i, news[i].sha256);
        snprintf(names[i], sizeof names[i], "img%03d.jpg", i);
        news[i].filename = names[i];
        news[i].format = "jpeg";
        news[i].bytes = 1000 + i;
    }
    char job[SCRY_ID_LEN + 1];
    scry_new_id(job);
    assert_int_equal(meta_upload_commit(db, job, news, nimg, &err), SCRY_OK);
    float *vec = malloc((size_t)enc->dim * sizeof *vec);
    for (int i = 0; i < nimg; i++) {
        image_rec r;
        assert_int_equal(meta_image_get(db, ids[i], &r, &err), SCRY_OK);
        rowids[i] = r.rowid;
        free(r.caption);
        r.caption = strdup(captions[i][0]);
        strcpy(r.status, "ready");
        assert_int_equal(meta_image_update_facts(db, &r, &err), SCRY_OK);
        char *doc = search_document_text(&r);
        assert_true(scry_encode(enc, doc, vec, &err) > 0);
        assert_int_equal(meta_vector_put(db, r.rowid, enc->name, vec, enc->dim, &err), SCRY_OK);
        free(doc);
        image_rec_free(&r);
    }
    free(vec);
    free(news);
    return db;
}

/* Vector-only ranking of every image for query q: rowids best first. */
static int ranked(search_engine *se, const char *q, int64_t *out) {
    search_params p;
    search_params_init(&p);
    p.q = q;
    p.mode = SEARCH_VECTOR_ONLY;
    p.no_floor = 1;
    p.limit = 200;
    search_response r;
    scry_err err = {0};
    assert_int_equal(search_run(se, &p, &r, &err), SCRY_OK);
    for (int i = 0; i < r.n; i++) out[i] = r.results[i].rowid;
    int n = r.n;
    search_response_free(&r);
    return n;
}

static int is_deleted(const int64_t *rowids, const int *deleted, int64_t rowid) {
    for (int i = 0; i < nimg; i++)
        if (rowids[i] == rowid) return deleted[i];
    fail_msg("unknown rowid %lld", (long long)rowid);
    return 1;
}

/* The survivors' order in `before`, compared with `after`. */
static void same_survivors(const int64_t *before, int nb, const int64_t *after, int na,
                           const int64_t *rowids, const int *deleted) {
    int k = 0;
    for (int i = 0; i < nb; i++) {
        if (is_deleted(rowids, deleted, before[i])) continue;
        assert_true(k < na);
        assert_int_equal(after[k], before[i]);
        k++;
    }
    for (int i = 0; i < na; i++) assert_false(is_deleted(rowids, deleted, after[i]));
    /* everything the before-list held of the survivors, and nothing else,
     * unless the before-list was cut at the limit */
    if (nb < 200) assert_int_equal(k, na);
}

static void test_policy_compacts_past_threshold(void **state) {
    (void)state;
    char *dir = tu_tempdir("compact");
    char idxdir[1200];
    snprintf(idxdir, sizeof idxdir, "%s/index", dir);
    scry_err err = {0};
    static char ids[MAXIMG][SCRY_ID_LEN + 1];
    static int64_t rowids[MAXIMG];
    static int deleted[MAXIMG];
    meta_db *db = store_images(dir, ids, rowids);

    search_engine *se = NULL;
    assert_int_equal(search_create(&se, db, enc, lex, NULL, idxdir, &err), SCRY_OK);
    const double fraction = 0.2;
    const int min = 60;          /* 59 tombstones are 25% of 239: only the count holds it back */
    search_set_compaction(se, fraction, min);
    hnsw_stats st;
    assert_int_equal(search_index_stats(se, &st), SCRY_OK);
    assert_int_equal(st.live, (size_t)nimg);
    assert_int_equal(st.deleted, 0);

    static int64_t before[NQ][200], after[NQ][200];
    int nbefore[NQ];
    int qstep = nimg / NQ;
    int full = 0;
    for (int q = 0; q < NQ; q++) {
        nbefore[q] = ranked(se, captions[q * qstep][1], before[q]);
        full += nbefore[q] == 200;      /* some queries carry a date ("1950s"): none pass */
    }
    assert_true(full >= NQ * 9 / 10);

    /* Below the minimum count: no compaction, though the fraction is past. */
    uint64_t c0 = metrics_get(M_INDEX_COMPACTIONS);
    int ndel = 0;
    for (int i = 0; i < nimg && ndel < min - 1; i++) {
        if (i % 4 == 0) continue;                      /* survivors: every fourth */
        char orphan[SCRY_SHA256_HEX + 1], thumb[SCRY_SHA256_HEX + 1];
        assert_int_equal(meta_image_delete(db, ids[i], orphan, thumb, &err), SCRY_OK);
        search_forget(se, rowids[i]);
        deleted[i] = 1;
        ndel++;
    }
    assert_int_equal(search_wait_compaction(se, 30), SCRY_OK);
    assert_int_equal(metrics_get(M_INDEX_COMPACTIONS), c0);
    assert_int_equal(search_index_stats(se, &st), SCRY_OK);
    assert_int_equal(st.deleted, (size_t)(min - 1));
    assert_true((double)st.deleted > fraction * (double)st.nodes);

    /* Past it: the rest of the deletes (three images in four go). */
    for (int i = 0; i < nimg; i++) {
        if (i % 4 == 0 || deleted[i]) continue;
        char orphan[SCRY_SHA256_HEX + 1], thumb[SCRY_SHA256_HEX + 1];
        assert_int_equal(meta_image_delete(db, ids[i], orphan, thumb, &err), SCRY_OK);
        search_forget(se, rowids[i]);
        deleted[i] = 1;
        ndel++;
    }
    int live = nimg - ndel;
    assert_int_equal(search_wait_compaction(se, 60), SCRY_OK);
    assert_true(metrics_get(M_INDEX_COMPACTIONS) > c0);
    assert_true(metrics_get(M_INDEX_COMPACT_DROPPED) >= (uint64_t)min);
    assert_int_equal(search_index_stats(se, &st), SCRY_OK);
    printf("after compaction: nodes=%zu live=%zu tombstones=%zu (deleted %d of %d)\n", st.nodes,
           st.live, st.deleted, ndel, nimg);
    assert_int_equal(st.live, (size_t)live);
    /* whatever is left is below the policy's threshold */
    assert_true(st.deleted < (size_t)min || (double)st.deleted <= fraction * (double)st.nodes);
    assert_true(st.nodes < (size_t)nimg);

    for (int q = 0; q < NQ; q++) {
        int na = ranked(se, captions[q * qstep][1], after[q]);
        same_survivors(before[q], nbefore[q], after[q], na, rowids, deleted);
    }

    /* The saved file (written by the compaction, and at close) loads with
     * exactly the survivors. */
    search_free(se);
    char file[1400];
    snprintf(file, sizeof file, "%s/%s.hnsw", idxdir, enc->name);
    hnsw_index *ix = NULL;
    assert_int_equal(hnsw_load(&ix, file, &err), SCRY_OK);
    hnsw_get_stats(ix, &st);
    assert_int_equal(st.live, (size_t)live);
    for (int i = 0; i < nimg; i++) assert_int_equal(hnsw_contains(ix, rowids[i]), !deleted[i]);
    hnsw_free(ix);

    /* A restart loads it and answers the same. */
    assert_int_equal(search_create(&se, db, enc, lex, NULL, idxdir, &err), SCRY_OK);
    assert_int_equal(search_index_stats(se, &st), SCRY_OK);
    assert_int_equal(st.live, (size_t)live);
    for (int q = 0; q < NQ; q++) {
        int64_t again[200];
        int na = ranked(se, captions[q * qstep][1], again);
        same_survivors(before[q], nbefore[q], again, na, rowids, deleted);
    }
    search_free(se);
    meta_close(db);
    tu_rmtree(dir);
    free(dir);
}

/* fraction 0 turns the policy off. */
static void test_policy_off(void **state) {
    (void)state;
    char *dir = tu_tempdir("compact-off");
    scry_err err = {0};
    static char ids[MAXIMG][SCRY_ID_LEN + 1];
    static int64_t rowids[MAXIMG];
    meta_db *db = store_images(dir, ids, rowids);
    search_engine *se = NULL;
    assert_int_equal(search_create(&se, db, enc, lex, NULL, NULL, &err), SCRY_OK);
    search_set_compaction(se, 0, 1);
    uint64_t c0 = metrics_get(M_INDEX_COMPACTIONS);
    for (int i = 0; i < nimg / 2; i++) search_forget(se, rowids[i]);
    assert_int_equal(search_wait_compaction(se, 30), SCRY_OK);
    assert_int_equal(metrics_get(M_INDEX_COMPACTIONS), c0);
    hnsw_stats st;
    assert_int_equal(search_index_stats(se, &st), SCRY_OK);
    assert_int_equal(st.deleted, (size_t)(nimg / 2));
    /* switching it on compacts what is there */
    search_set_compaction(se, 0.2, 10);
    assert_int_equal(search_wait_compaction(se, 30), SCRY_OK);
    assert_int_equal(metrics_get(M_INDEX_COMPACTIONS), c0 + 1);
    assert_int_equal(search_index_stats(se, &st), SCRY_OK);
    assert_int_equal(st.deleted, 0);
    assert_int_equal(st.nodes, (size_t)(nimg - nimg / 2));
    search_free(se);
    meta_close(db);
    tu_rmtree(dir);
    free(dir);
}

static void test_config_keys(void **state) {
    (void)state;
    scry_config c;
    config_defaults(&c);
    assert_true(fabs(c.compact_fraction - SEARCH_COMPACT_FRACTION) < 1e-12);
    assert_int_equal(c.compact_min, SEARCH_COMPACT_MIN);
    scry_err err = {0};
    assert_int_equal(config_set(&c, "compact-fraction", "0.35", &err), SCRY_OK);
    assert_true(fabs(c.compact_fraction - 0.35) < 1e-12);
    assert_int_equal(config_set(&c, "compact-fraction", "1.5", &err), SCRY_EINVAL);
    assert_int_equal(config_set(&c, "compact-fraction", "abc", &err), SCRY_EINVAL);
    assert_int_equal(config_set(&c, "compact-min", "0", &err), SCRY_EINVAL);
    setenv("SCRY_COMPACT_MIN", "25", 1);
    setenv("SCRY_COMPACT_FRACTION", "0", 1);
    assert_int_equal(config_from_env(&c, &err), SCRY_OK);
    unsetenv("SCRY_COMPACT_MIN");
    unsetenv("SCRY_COMPACT_FRACTION");
    assert_int_equal(c.compact_min, 25);
    assert_true(c.compact_fraction == 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_config_keys),
        cmocka_unit_test(test_policy_compacts_past_threshold),
        cmocka_unit_test(test_policy_off),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
