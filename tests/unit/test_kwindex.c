/* Unit tests for search/kwindex: the stemmer's inflection classes, BM25
 * ranking over image records shaped like the pipeline's, updates, deletes,
 * filters and compaction. */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "search/kwindex.h"

static image_rec rec(int64_t rowid, const char *filename, const char *caption, const char *tags) {
    image_rec r;
    memset(&r, 0, sizeof r);
    r.rowid = rowid;
    snprintf(r.id, sizeof r.id, "%024lld", (long long)rowid);
    strcpy(r.status, "ready");
    r.filename = (char *)filename;
    r.caption = (char *)caption;
    r.tags_json = (char *)tags;
    return r;
}

static void test_terms_conflate_inflections(void **state) {
    (void)state;
    const char *pairs[][2] = {{"dogs", "dog"},       {"buses", "bus"},   {"puppies", "puppy"},
                              {"horses", "horse"},   {"glasses", "glass"}, {"benches", "bench"},
                              {"riding", "ride"},    {"sitting", "sit"}, {"parked", "park"},
                              {"Giraffes", "giraffe"}, {"knives", "knive"}};
    for (size_t i = 0; i < sizeof pairs / sizeof *pairs; i++) {
        char a[64], b[64];
        kw_term(pairs[i][0], a, sizeof a);
        kw_term(pairs[i][1], b, sizeof b);
        assert_string_equal(a, b);
        assert_true(a[0] != 0);
    }
    char t[64];
    assert_string_equal(kw_term("the", t, sizeof t), "");
    assert_string_equal(kw_term("bus", t, sizeof t), "bus");
    kw_term("red", t, sizeof t);
    assert_string_equal(t, "red");
    kw_term("speed", t, sizeof t);
    assert_string_equal(t, "speed");
}

/* i as a word of letters ("item" + base-26 digits): no digit runs, which
 * the tokenizer would split off. */
static void word_of(int i, char *out) {
    strcpy(out, "item");
    size_t n = 4;
    do {
        out[n++] = (char)('a' + i % 26);
        i /= 26;
    } while (i);
    out[n] = 0;
}

static int only_even(int64_t rowid, void *ctx) {
    (void)ctx;
    return rowid % 2 == 0;
}

static void test_bm25_ranking_updates_deletes(void **state) {
    (void)state;
    kwindex *kw = kw_new();
    image_rec r1 = rec(1, "IMG_0001.jpg", "Two dogs on a couch.",
                       "[{\"label\":\"dog\",\"color\":\"brown\"},{\"label\":\"dog\"},{\"label\":\"couch\"}]");
    image_rec r2 = rec(2, "DSC0002.JPG", "A person and a dog.", "[{\"label\":\"person\"},{\"label\":\"dog\"}]");
    image_rec r3 = rec(3, "beachSunset.jpg", "A red car on a street.", "[{\"label\":\"car\",\"color\":\"red\"}]");
    assert_int_equal(kw_put(kw, &r1), SCRY_OK);
    assert_int_equal(kw_put(kw, &r2), SCRY_OK);
    assert_int_equal(kw_put(kw, &r3), SCRY_OK);
    assert_int_equal(kw_count(kw), 3);

    kw_hit h[8];
    int n = kw_search(kw, "dogs", 8, 1.0f, NULL, NULL, h);
    assert_int_equal(n, 2);
    assert_int_equal(h[0].rowid, 1);    /* more dogs, same length class */
    assert_int_equal(h[1].rowid, 2);
    assert_true(h[0].score > h[1].score && h[1].score > 0);
    /* camelCase filename words and colours are indexed */
    n = kw_search(kw, "sunset", 8, 1.0f, NULL, NULL, h);
    assert_int_equal(n, 1);
    assert_int_equal(h[0].rowid, 3);
    n = kw_search(kw, "red car", 8, 1.0f, NULL, NULL, h);
    assert_int_equal(h[0].rowid, 3);
    /* a rare word outweighs a common one */
    n = kw_search(kw, "dog couch", 8, 1.0f, NULL, NULL, h);
    assert_int_equal(h[0].rowid, 1);
    /* filter, k */
    n = kw_search(kw, "dog", 8, 1.0f, only_even, NULL, h);
    assert_int_equal(n, 1);
    assert_int_equal(h[0].rowid, 2);
    assert_int_equal(kw_search(kw, "dog", 1, 1.0f, NULL, NULL, h), 1);
    assert_int_equal(kw_search(kw, "zebra", 8, 1.0f, NULL, NULL, h), 0);
    assert_int_equal(kw_search(kw, "the a of", 8, 1.0f, NULL, NULL, h), 0);

    /* re-index: the old words are gone, the new ones found */
    image_rec r1b = rec(1, "IMG_0001.jpg", "A cat on a couch.", "[{\"label\":\"cat\"},{\"label\":\"couch\"}]");
    assert_int_equal(kw_put(kw, &r1b), SCRY_OK);
    assert_int_equal(kw_count(kw), 3);
    n = kw_search(kw, "dog", 8, 1.0f, NULL, NULL, h);
    assert_int_equal(n, 1);
    assert_int_equal(h[0].rowid, 2);
    assert_int_equal(kw_search(kw, "cat", 8, 1.0f, NULL, NULL, h), 1);
    kw_remove(kw, 2);
    kw_remove(kw, 99);
    assert_int_equal(kw_count(kw), 2);
    assert_int_equal(kw_search(kw, "dog person", 8, 1.0f, NULL, NULL, h), 0);
    kw_free(kw);
}

static void test_compaction_keeps_live_documents(void **state) {
    (void)state;
    kwindex *kw = kw_new();
    char cap[64], w[32];
    /* 5000 documents, each replaced twice: dead postings pile up and are
     * compacted away; the live ones must still be found. */
    for (int round = 0; round < 3; round++)
        for (int i = 1; i <= 5000; i++) {
            word_of(i, w);
            snprintf(cap, sizeof cap, "round%c %s", 'a' + round, w);
            image_rec r = rec(i, "x.jpg", cap, NULL);
            assert_int_equal(kw_put(kw, &r), SCRY_OK);
        }
    assert_int_equal(kw_count(kw), 5000);
    kw_hit h[4];
    word_of(4321, w);
    assert_int_equal(kw_search(kw, w, 4, 1.0f, NULL, NULL, h), 1);
    assert_int_equal(h[0].rowid, 4321);
    assert_int_equal(kw_search(kw, "rounda", 4, 1.0f, NULL, NULL, h), 0);
    assert_int_equal(kw_search(kw, "roundc", 4, 1.0f, NULL, NULL, h), 4);
    kw_free(kw);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_terms_conflate_inflections),
        cmocka_unit_test(test_bm25_ranking_updates_deletes),
        cmocka_unit_test(test_compaction_keeps_live_documents),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
