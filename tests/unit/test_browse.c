/* Unit tests for what the web app browses with besides search
 * (search/search.h: search_similar, search_get_facets): images stored
 * through the store API with real facts JSON and the real sentence
 * encoder's vectors (GloVe, deps/wordvec). Checks: the nearest image by
 * vector comes first, itself never, pending and failed images never; the
 * why names the shared labels with the neighbour's counts; limit and
 * offset; images without a vector; a deleted image leaves the answers;
 * facets count only ready images, per label, per emotion, with text, dated. */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "search/search.h"
#include "store/meta.h"
#include "text/encoder.h"

static scry_wordvec *wv;
static scry_lexicon *lex;
static scry_encoder *enc;

typedef struct fake {
    const char *caption, *tags, *faces, *text, *status;
    int64_t taken_at;
} fake;

/* 0 and 1 share dogs; 2 is a car; 3 a horse; 4 a cat with text; 5 pending;
 * 6 failed (both with dog captions: they must never be answered). */
static const fake g_imgs[] = {
    {"A dog running on a sandy beach.", "[{\"label\":\"dog\",\"score\":0.9}]", "[]", NULL, "ready", 1262304000},
    {"Two dogs playing on the beach sand.", "[{\"label\":\"dog\",\"score\":0.9},{\"label\":\"dog\",\"score\":0.8}]",
     "[]", NULL, "ready", 1420070400},
    {"A red car parked in a city street.", "[{\"label\":\"car\",\"score\":0.9,\"color\":\"red\"}]", "[]", NULL, "ready", 0},
    {"A horse standing in a green field.", "[{\"label\":\"horse\",\"score\":0.7}]",
     "[{\"box\":[1,2,3,4],\"emotion\":\"happy\",\"scores\":{}}]", NULL, "ready", 0},
    {"A cat sleeping on a sofa next to a book.", "[{\"label\":\"cat\",\"score\":0.8}]", "[]", "OPEN", "ready", 0},
    {"A dog on a beach.", "[{\"label\":\"dog\",\"score\":0.9}]", "[]", NULL, "pending", 0},
    {"A dog on the beach sand.", "[{\"label\":\"dog\",\"score\":0.9}]", "[]", NULL, "failed", 0},
};
#define NIMG ((int)(sizeof g_imgs / sizeof *g_imgs))

static int setup(void **state) {
    (void)state;
    return tu_text_open(&wv, &lex, &enc);
}

static int teardown(void **state) {
    (void)state;
    tu_text_close(wv, lex, enc);
    return 0;
}

static meta_db *store(const char *dir, int64_t *rowids) {
    scry_err err = {0};
    char path[1200];
    snprintf(path, sizeof path, "%s/meta.db", dir);
    meta_db *db = NULL;
    assert_int_equal(meta_open(&db, path, &err), SCRY_OK);
    meta_new_image news[NIMG];
    char names[NIMG][16];
    memset(news, 0, sizeof news);
    for (int i = 0; i < NIMG; i++) {
        scry_new_id(news[i].id);
        scry_sha256_hex(&i, sizeof i, news[i].sha256);
        snprintf(names[i], sizeof names[i], "img%d.jpg", i);
        news[i].filename = names[i];
        news[i].format = "jpeg";
        news[i].bytes = 100;
    }
    char job[SCRY_ID_LEN + 1];
    scry_new_id(job);
    assert_int_equal(meta_upload_commit(db, job, news, NIMG, &err), SCRY_OK);
    float vec[512];
    assert_true(enc->dim <= 512);
    for (int i = 0; i < NIMG; i++) {
        image_rec r;
        assert_int_equal(meta_image_get(db, news[i].id, &r, &err), SCRY_OK);
        rowids[i] = r.rowid;
        free(r.caption), free(r.tags_json), free(r.faces_json), free(r.text);
        r.caption = strdup(g_imgs[i].caption);
        r.tags_json = strdup(g_imgs[i].tags);
        r.faces_json = strdup(g_imgs[i].faces);
        r.text = g_imgs[i].text ? strdup(g_imgs[i].text) : NULL;
        r.taken_at = g_imgs[i].taken_at;
        strcpy(r.status, g_imgs[i].status);
        assert_int_equal(meta_image_update_facts(db, &r, &err), SCRY_OK);
        char *doc = search_document_text(&r);
        assert_true(scry_encode(enc, doc, vec, &err) > 0);
        /* the pending and failed ones have a vector too: status alone keeps
         * them out of the index */
        assert_int_equal(meta_vector_put(db, r.rowid, enc->name, vec, enc->dim, &err), SCRY_OK);
        free(doc);
        image_rec_free(&r);
    }
    return db;
}

/* A fresh folder with the images stored and an engine over them. */
static search_engine *open_engine(char **dir, meta_db **db, int64_t *rowids) {
    *dir = tu_tempdir("browse");
    *db = store(*dir, rowids);
    search_engine *se = NULL;
    scry_err err = {0};
    assert_int_equal(search_create(&se, *db, enc, lex, NULL, NULL, &err), SCRY_OK);
    return se;
}

static void close_engine(search_engine *se, meta_db *db, char *dir) {
    search_free(se);
    meta_close(db);
    tu_rmtree(dir);
    free(dir);
}

static int find_rowid(const search_response *r, int64_t rowid) {
    for (int i = 0; i < r->n; i++)
        if (r->results[i].rowid == rowid) return i;
    return -1;
}

static void test_similar(void **state) {
    (void)state;
    char *dir;
    meta_db *db;
    int64_t rowids[NIMG];
    search_engine *se = open_engine(&dir, &db, rowids);
    scry_err err = {0};
    search_response r;
    assert_int_equal(search_similar(se, rowids[0], 20, 0, &r, &err), SCRY_OK);
    assert_int_equal(r.n, 4);                          /* the other ready images */
    assert_int_equal(r.results[0].rowid, rowids[1]);   /* two dogs on a beach */
    assert_int_equal(find_rowid(&r, rowids[0]), -1);
    assert_int_equal(find_rowid(&r, rowids[5]), -1);
    assert_int_equal(find_rowid(&r, rowids[6]), -1);
    assert_non_null(strstr(r.results[0].why, "dog ×2 · similar 0."));
    for (int i = 1; i < r.n; i++) {
        assert_true(r.results[i].score <= r.results[i - 1].score);
        assert_null(strstr(r.results[i].why, "dog"));  /* no other image has a dog */
        assert_non_null(strstr(r.results[i].why, "similar"));
    }
    assert_string_equal(r.results[0].filename, "img1.jpg");
    assert_string_equal(r.results[0].caption, g_imgs[1].caption);
    assert_null(r.understood);
    int64_t second = r.results[1].rowid;
    search_response_free(&r);

    assert_int_equal(search_similar(se, rowids[0], 1, 1, &r, &err), SCRY_OK);
    assert_int_equal(r.n, 1);
    assert_int_equal(r.results[0].rowid, second);
    search_response_free(&r);

    /* no vector in the index: pending, failed, unknown */
    assert_int_equal(search_similar(se, rowids[5], 5, 0, &r, &err), SCRY_ENOTFOUND);
    assert_int_equal(search_similar(se, rowids[6], 5, 0, &r, &err), SCRY_ENOTFOUND);
    assert_int_equal(search_similar(se, 999999, 5, 0, &r, &err), SCRY_ENOTFOUND);

    /* a deleted neighbour is gone at once */
    search_forget(se, rowids[1]);
    assert_int_equal(search_similar(se, rowids[0], 20, 0, &r, &err), SCRY_OK);
    assert_int_equal(r.n, 3);
    assert_int_equal(find_rowid(&r, rowids[1]), -1);
    search_response_free(&r);

    search_free(se);
    /* without an encoder there is no vector index at all */
    assert_int_equal(search_create(&se, db, NULL, lex, NULL, NULL, &err), SCRY_OK);
    assert_int_equal(search_similar(se, rowids[0], 5, 0, &r, &err), SCRY_ENOTFOUND);
    close_engine(se, db, dir);
}

static void test_facets(void **state) {
    (void)state;
    char *dir;
    meta_db *db;
    int64_t rowids[NIMG];
    search_engine *se = open_engine(&dir, &db, rowids);
    scry_err err = {0};
    search_facets f;
    assert_int_equal(search_get_facets(se, &f, &err), SCRY_OK);
    assert_int_equal(f.images, 5);
    assert_int_equal(f.label_images[scry_coco_index("dog")], 2);   /* images, not objects; ready only */
    assert_int_equal(f.label_images[scry_coco_index("car")], 1);
    assert_int_equal(f.label_images[scry_coco_index("person")], 0);
    assert_int_equal(f.emotion_images[scry_emotion_index("happy")], 1);
    assert_int_equal(f.with_text, 1);
    assert_int_equal(f.dated, 2);
    assert_int_equal(f.first_taken, 1262304000);
    assert_int_equal(f.last_taken, 1420070400);
    search_forget(se, rowids[1]);
    assert_int_equal(search_get_facets(se, &f, &err), SCRY_OK);
    assert_int_equal(f.images, 4);
    assert_int_equal(f.label_images[scry_coco_index("dog")], 1);
    assert_int_equal(f.dated, 1);
    assert_int_equal(f.last_taken, 1262304000);
    close_engine(se, db, dir);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_similar),
        cmocka_unit_test(test_facets),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
