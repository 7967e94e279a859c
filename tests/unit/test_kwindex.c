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

/* The pruning of long posting lists (kw_search) returns exactly what a
 * search without it returns: same documents, same scores, same order --
 * with and without a filter, and after deletes. A search for k = every
 * document never prunes (it has no k-th best to beat), so it is the
 * reference. */
static void test_pruning_is_exact(void **state) {
    (void)state;
    enum { NDOCS = 40000 };
    kwindex *kw = kw_new();
    assert_non_null(kw);
    uint64_t x = 88172645463325252ULL;
    for (int i = 0; i < NDOCS; i++) {
        char cap[256] = "a photo";
        size_t n = strlen(cap);
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        if (x % 100 < 45) n += (size_t)snprintf(cap + n, sizeof cap - n, " person");
        if (x / 100 % 100 < 45) n += (size_t)snprintf(cap + n, sizeof cap - n, " grass");
        if (x / 10000 % 1000 < 15) n += (size_t)snprintf(cap + n, sizeof cap - n, " zebra");
        if (x / 10000000 % 1000 < 300) n += (size_t)snprintf(cap + n, sizeof cap - n, " kite");
        for (int f = 0; f < (int)(x >> 60); f++) {   /* lengths vary: BM25's norm matters */
            char w[16];
            word_of((int)(x >> 40 & 1023) + f, w);
            n += (size_t)snprintf(cap + n, sizeof cap - n, " %s", w);
        }
        image_rec r = rec(i + 1, "IMG.jpg", cap, NULL);
        assert_int_equal(kw_put(kw, &r), SCRY_OK);
    }
    kw_hit *all = malloc(NDOCS * sizeof *all), *top = malloc(NDOCS * sizeof *top);
    /* "kite grass person" at k = 9000: after "kite" (30% of the photos) the
     * two lists left can still lift a document past the k-th best (grass
     * and person together outscore kite alone, and ~8,400 documents have
     * kite and more), so they must not be cut there */
    const char *queries[] = {"zebra kite person grass", "kite grass person", "kite grass person",
                             "zebra grass photo", "person"};
    const int ks[] = {50, 50, 9000, 50, 50};
    for (int round = 0; round < 2; round++) {
        if (round == 1)
            for (int i = 1; i <= NDOCS; i += 7) kw_remove(kw, i);      /* deletes leave tombstones */
        for (size_t qi = 0; qi < sizeof queries / sizeof *queries; qi++)
            for (int filtered = 0; filtered < 2; filtered++) {
                int (*allow)(int64_t, void *) = filtered ? only_even : NULL;
                int na = kw_search(kw, queries[qi], NDOCS, 1.0f, allow, NULL, all);
                size_t before = kw_pruned_searches(kw);
                int K = ks[qi];
                int nt = kw_search(kw, queries[qi], K, 1.0f, allow, NULL, top);
                assert_true(na >= K);
                assert_int_equal(nt, K);
                for (int i = 0; i < K; i++) {
                    assert_int_equal(top[i].rowid, all[i].rowid);
                    assert_true(top[i].score == all[i].score);
                }
                /* the rare words' documents outscore what "person" and
                 * "grass" alone could add: those lists are pruned */
                if (qi < 2) assert_int_equal(kw_pruned_searches(kw), before + 1);
            }
    }
    assert_true(kw_pruned_searches(kw) >= 8);
    free(all);
    free(top);
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
        cmocka_unit_test(test_pruning_is_exact),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
