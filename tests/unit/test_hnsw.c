/* Unit tests for index/hnsw: recall against brute force (random clustered
 * data, and the real GloVe vectors when deps/wordvec/vectors.f32 exists),
 * deletes and re-inserts, filters, persistence and corruption detection,
 * concurrent searches during inserts.
 *
 * The TSan variant of the concurrency test is built by hand:
 *   tests/tsan-hnsw.sh        (see docs/ann.md)
 * SCRY_TEST_FILTER=<glob> restricts the tests run (cmocka test filter). */
#include "testutil.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/err.h"
#include "index/hnsw.h"

/* ------------------------------------------------------------ data */

static uint64_t rng_state = 12345;
static double urand(void) {
    rng_state = rng_state * 6364136223846793005ull + 1442695040888963407ull;
    return ((rng_state >> 11) + 0.5) / 9007199254740992.0;
}
static float gauss(void) {
    return (float)(sqrt(-2.0 * log(urand())) * cos(6.283185307179586 * urand()));
}

/* n vectors of dim around `clusters` random centres (structure like real
 * embeddings, unlike uniform noise). */
static float *clustered(size_t n, int dim, int clusters, uint64_t seed) {
    rng_state = seed;
    float *centres = malloc((size_t)clusters * dim * sizeof(float));
    float *v = malloc(n * dim * sizeof(float));
    for (int i = 0; i < clusters * dim; i++) centres[i] = gauss();
    for (size_t i = 0; i < n; i++) {
        int c = (int)(urand() * clusters);
        for (int j = 0; j < dim; j++) v[i * dim + j] = centres[c * dim + j] + 1.2f * gauss();
    }
    free(centres);
    return v;
}

static void normalise(float *v, int dim) {
    double s = 0;
    for (int j = 0; j < dim; j++) s += (double)v[j] * v[j];
    float inv = (float)(1.0 / sqrt(s));
    for (int j = 0; j < dim; j++) v[j] *= inv;
}

/* Brute-force top-k labels by cosine (labels = row index + label_base),
 * independent of the index's own exact search. allow may be NULL. */
typedef int (*allow_fn)(int64_t, void *);
static void truth(const float *base, size_t n, int dim, const float *q, int k, allow_fn allow,
                  void *ctx, const int *removed, int64_t *out) {
    float qn[1024];
    memcpy(qn, q, dim * sizeof(float));
    normalise(qn, dim);
    float *best = malloc(k * sizeof(float));
    for (int i = 0; i < k; i++) best[i] = -INFINITY, out[i] = -1;
    for (size_t i = 0; i < n; i++) {
        if (removed && removed[i]) continue;
        if (allow && !allow((int64_t)i, ctx)) continue;
        double s = 0, nn = 0;
        for (int j = 0; j < dim; j++) {
            s += (double)qn[j] * base[i * dim + j];
            nn += (double)base[i * dim + j] * base[i * dim + j];
        }
        float sc = (float)(s / sqrt(nn));
        if (sc <= best[k - 1]) continue;
        int p = k - 1;
        while (p > 0 && best[p - 1] < sc) {
            best[p] = best[p - 1];
            out[p] = out[p - 1];
            p--;
        }
        best[p] = sc;
        out[p] = (int64_t)i;
    }
    free(best);
}

static double overlap(const int64_t *want, int nwant, const hnsw_hit *got, int ngot) {
    int hit = 0, denom = 0;
    for (int i = 0; i < nwant; i++) {
        if (want[i] < 0) continue;
        denom++;
        for (int j = 0; j < ngot; j++)
            if (got[j].label == want[i]) {
                hit++;
                break;
            }
    }
    return denom ? (double)hit / denom : 1.0;
}

static hnsw_index *build(const float *v, size_t n, int dim, int M, int efc) {
    hnsw_params p;
    hnsw_params_default(&p);
    p.M = M;
    p.ef_construction = efc;
    hnsw_index *ix = NULL;
    scry_err err = {0};
    assert_int_equal(hnsw_create(&ix, dim, &p, &err), SCRY_OK);
    for (size_t i = 0; i < n; i++) assert_int_equal(hnsw_add(ix, (int64_t)i, v + i * dim, &err), SCRY_OK);
    assert_int_equal(hnsw_count(ix), n);
    return ix;
}

/* Mean recall@10 of hnsw_search over nq queries against brute force. */
static double recall10(hnsw_index *ix, const float *base, size_t n, int dim, const float *qs,
                       int nq, int ef) {
    double sum = 0;
    scry_err err = {0};
    for (int qi = 0; qi < nq; qi++) {
        int64_t want[10];
        hnsw_hit got[10];
        int ng = 0;
        truth(base, n, dim, qs + (size_t)qi * dim, 10, NULL, NULL, NULL, want);
        assert_int_equal(hnsw_search(ix, qs + (size_t)qi * dim, 10, ef, NULL, got, &ng, &err), SCRY_OK);
        assert_int_equal(ng, 10);
        for (int i = 1; i < ng; i++) assert_true(got[i - 1].score >= got[i].score);
        sum += overlap(want, 10, got, ng);
    }
    return sum / nq;
}

enum { DIM = 32, N = 4000, NQ = 100 };

/* ----------------------------------------------------------- tests */

/* hnsw_labels lists exactly the live labels: not the removed, not a
 * replaced label twice. */
static void test_labels_snapshot(void **state) {
    (void)state;
    float *base = clustered(50, DIM, 5, 3);
    hnsw_index *ix = build(base, 50, DIM, 12, 100);
    scry_err err = {0};
    for (int64_t l = 0; l < 50; l += 5) assert_int_equal(hnsw_remove(ix, l), SCRY_OK);
    assert_int_equal(hnsw_add(ix, 7, base + 8 * DIM, &err), SCRY_OK);      /* replace */
    int64_t *labels = NULL;
    size_t n = 0;
    assert_int_equal(hnsw_labels(ix, &labels, &n, &err), SCRY_OK);
    assert_int_equal(n, 40);
    char seen[50] = {0};
    for (size_t i = 0; i < n; i++) {
        assert_true(labels[i] >= 0 && labels[i] < 50);
        assert_true(labels[i] % 5 != 0);
        assert_false(seen[labels[i]]);
        seen[labels[i]] = 1;
    }
    free(labels);
    hnsw_free(ix);
    free(base);
}

static void test_recall_random(void **state) {
    (void)state;
    float *base = clustered(N, DIM, 40, 1);
    /* queries: perturbed base points (near, but not equal to, stored ones) */
    rng_state = 999;
    float *qs = malloc(NQ * DIM * sizeof(float));
    for (int i = 0; i < NQ; i++)
        for (int j = 0; j < DIM; j++) qs[i * DIM + j] = base[(i * 37 % N) * DIM + j] + 0.3f * gauss();
    hnsw_index *ix = build(base, N, DIM, 12, 100);
    double r = recall10(ix, base, N, DIM, qs, NQ, 64);
    printf("recall@10 random (n=%d d=%d ef=64): %.3f\n", N, DIM, r);
    assert_true(r >= 0.95);
    double r_low = recall10(ix, base, N, DIM, qs, NQ, 10);
    printf("recall@10 random ef=10: %.3f\n", r_low);
    assert_true(r_low < r);  /* the beam width matters: the data is not trivial */

    /* exact search equals brute force */
    scry_err err = {0};
    for (int qi = 0; qi < 10; qi++) {
        int64_t want[10];
        hnsw_hit got[10];
        int ng;
        truth(base, N, DIM, qs + qi * DIM, 10, NULL, NULL, NULL, want);
        assert_int_equal(hnsw_exact_search(ix, qs + qi * DIM, 10, NULL, got, &ng, &err), SCRY_OK);
        assert_int_equal(ng, 10);
        assert_true(overlap(want, 10, got, ng) >= 0.999);
    }
    hnsw_stats st;
    hnsw_get_stats(ix, &st);
    assert_int_equal(st.live, N);
    assert_true(st.bytes_heap > (size_t)N * DIM * sizeof(float));
    hnsw_free(ix);
    free(base);
    free(qs);
}

/* Groups of identical vectors (burst shots; images whose facts read alike)
 * must not become islands: with more duplicates than a node has links, the
 * paper's heuristic links each duplicate only to other duplicates, and a
 * search that starts there cannot reach much else -- it found 75 of 300
 * at 1M images and fell back to an exact scan. Searched at one of them, the
 * graph alone must find the group and its nearest other vectors. */
static void test_duplicates_no_island(void **state) {
    (void)state;
    /* ten groups of 300 copies of a vector among 2,000 others; searched at
     * each group with k = ef = 400 (the group, then its nearest others).
     * Measured: the paper's heuristic 0.732 and one search short; this
     * one 0.842 and none. */
    enum { NB = 2000, NG = 10, NDUP = 300, K = 400 };
    size_t n = (size_t)NB + (size_t)NG * NDUP;
    float *base = clustered(n, DIM, 20, 7);
    for (int g = 0; g < NG; g++)
        for (int i = 0; i < NDUP; i++) {
            size_t row = (size_t)NB + (size_t)g * NDUP + (size_t)i;
            memcpy(base + row * DIM, base + (size_t)g * DIM, DIM * sizeof(float));
        }
    size_t *order = malloc(n * sizeof *order);
    for (size_t i = 0; i < n; i++) order[i] = i;
    for (size_t i = n - 1; i > 0; i--) {
        size_t j = (size_t)(urand() * (double)(i + 1));
        size_t t = order[i];
        order[i] = order[j];
        order[j] = t;
    }
    hnsw_params p;
    hnsw_params_default(&p);
    p.M = 8;
    p.ef_construction = 100;
    hnsw_index *ix = NULL;
    scry_err err = {0};
    assert_int_equal(hnsw_create(&ix, DIM, &p, &err), SCRY_OK);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(hnsw_add(ix, (int64_t)order[i], base + order[i] * DIM, &err), SCRY_OK);
    hnsw_hit *got = malloc((size_t)K * sizeof *got);
    int64_t *want = malloc((size_t)K * sizeof *want);
    double sum = 0;
    for (int g = 0; g < NG; g++) {
        const float *q = base + (size_t)g * DIM;
        int ng = 0;
        assert_int_equal(hnsw_search(ix, q, K, K, NULL, got, &ng, &err), SCRY_OK);
        truth(base, n, DIM, q, K, NULL, NULL, NULL, want);
        sum += overlap(want, K, got, ng);
    }
    hnsw_stats st;
    hnsw_get_stats(ix, &st);
    printf("duplicates: recall@%d %.3f, graph fell short %zu of %d\n", K, sum / NG, st.graph_short, (int)NG);
    assert_true(sum / NG >= 0.80);
    assert_int_equal(st.graph_short, 0);
    free(got);
    free(want);
    free(order);
    free(base);
    hnsw_free(ix);
}

static const char *glove_path(void) {
    static char buf[4096];
    snprintf(buf, sizeof buf, "%s", tu_deps("wordvec/vectors.f32"));
    return buf;
}

static void test_recall_glove(void **state) {
    (void)state;
    enum { GN = 10000, GQ = 100, GD = 100 };
    FILE *f = fopen(glove_path(), "rb");
    if (!f) {
        printf("skip: %s not found (run scripts/setup.sh)\n", glove_path());
        skip();
    }
    float *all = malloc((size_t)(GN + GQ) * GD * sizeof(float));
    size_t got = fread(all, sizeof(float) * GD, GN + GQ, f);
    fclose(f);
    assert_int_equal(got, GN + GQ);
    hnsw_index *ix = build(all, GN, GD, 16, 100);
    double r = recall10(ix, all, GN, GD, all + (size_t)GN * GD, GQ, 100);
    printf("recall@10 glove (n=%d ef=100): %.3f\n", GN, r);
    assert_true(r >= 0.95);
    hnsw_free(ix);
    free(all);
}

static void test_delete_reinsert_compact(void **state) {
    (void)state;
    enum { n = 2000 };
    float *base = clustered(n, DIM, 20, 7);
    hnsw_index *ix = build(base, n, DIM, 12, 80);
    int *removed = calloc(n, sizeof(int));
    for (int i = 0; i < n; i += 3) {
        assert_int_equal(hnsw_remove(ix, i), SCRY_OK);
        removed[i] = 1;
    }
    assert_int_equal(hnsw_remove(ix, 0), SCRY_ENOTFOUND);
    assert_int_equal(hnsw_remove(ix, 999999), SCRY_ENOTFOUND);
    size_t live = n - (n + 2) / 3;
    assert_int_equal(hnsw_count(ix), live);
    assert_false(hnsw_contains(ix, 3));
    assert_true(hnsw_contains(ix, 4));
    scry_err err = {0};
    double rsum = 0;
    for (int qi = 0; qi < n; qi += 20) {
        const float *q = base + (size_t)qi * DIM; /* includes deleted rows' own vectors */
        hnsw_hit got[10], ex[10];
        int ng, ne;
        int64_t want[10];
        assert_int_equal(hnsw_search(ix, q, 10, 64, NULL, got, &ng, &err), SCRY_OK);
        assert_int_equal(hnsw_exact_search(ix, q, 10, NULL, ex, &ne, &err), SCRY_OK);
        assert_int_equal(ng, 10);
        assert_int_equal(ne, 10);
        for (int i = 0; i < ng; i++) assert_false(removed[got[i].label]);
        for (int i = 0; i < ne; i++) assert_false(removed[ex[i].label]);
        truth(base, n, DIM, q, 10, NULL, NULL, removed, want);
        assert_true(overlap(want, 10, ex, ne) >= 0.999);
        rsum += overlap(want, 10, got, ng);
    }
    assert_true(rsum / (n / 20) >= 0.9);

    /* Re-insert a deleted label with a different vector: found, and its
     * stored vector is the new one. */
    const float *nv = base + 1 * DIM;
    assert_int_equal(hnsw_add(ix, 0, nv, &err), SCRY_OK);
    assert_true(hnsw_contains(ix, 0));
    hnsw_hit got[10];
    int ng;
    assert_int_equal(hnsw_search(ix, nv, 2, 64, NULL, got, &ng, &err), SCRY_OK);
    assert_int_equal(ng, 2);
    assert_true((got[0].label == 0 || got[0].label == 1) && (got[1].label == 0 || got[1].label == 1));
    assert_true(got[1].score > 0.9999f);
    /* Replacing a live label keeps the count and moves it. */
    assert_int_equal(hnsw_add(ix, 4, base + 2 * DIM, &err), SCRY_OK);
    assert_int_equal(hnsw_count(ix), live + 1);
    float back[DIM], want2[DIM];
    memcpy(want2, base + 2 * DIM, sizeof want2);
    normalise(want2, DIM);
    assert_int_equal(hnsw_get(ix, 4, back, &err), SCRY_OK);
    for (int j = 0; j < DIM; j++) assert_true(fabsf(back[j] - want2[j]) < 1e-6f);
    assert_int_equal(hnsw_get(ix, 3, back, &err), SCRY_ENOTFOUND);

    /* Compaction drops tombstones and keeps answers. */
    hnsw_stats st;
    hnsw_get_stats(ix, &st);
    assert_true(st.deleted > 600);
    assert_int_equal(hnsw_compact(ix, &err), SCRY_OK);
    hnsw_get_stats(ix, &st);
    assert_int_equal(st.deleted, 0);
    assert_int_equal(st.nodes, live + 1);
    assert_int_equal(hnsw_count(ix), live + 1);
    assert_int_equal(hnsw_search(ix, base + 5 * DIM, 10, 64, NULL, got, &ng, &err), SCRY_OK);
    assert_int_equal(got[0].label, 5);
    for (int i = 0; i < ng; i++) assert_true(!removed[got[i].label] || got[i].label == 0);
    hnsw_free(ix);
    free(removed);
    free(base);
}

/* Deleting nearly everything must still give the exact survivors. */
static void test_heavy_deletion(void **state) {
    (void)state;
    enum { n = 1500 };
    float *base = clustered(n, DIM, 10, 21);
    hnsw_index *ix = build(base, n, DIM, 8, 40);
    int *removed = calloc(n, sizeof(int));
    for (int i = 0; i < n; i++)
        if (i % 50 != 7) {
            assert_int_equal(hnsw_remove(ix, i), SCRY_OK);
            removed[i] = 1;
        }
    assert_int_equal(hnsw_count(ix), 30);
    scry_err err = {0};
    for (int qi = 0; qi < n; qi += 97) {
        hnsw_hit got[10];
        int ng;
        int64_t want[10];
        assert_int_equal(hnsw_search(ix, base + (size_t)qi * DIM, 10, 16, NULL, got, &ng, &err), SCRY_OK);
        assert_int_equal(ng, 10);
        truth(base, n, DIM, base + (size_t)qi * DIM, 10, NULL, NULL, removed, want);
        for (int i = 0; i < 10; i++) assert_false(removed[got[i].label]);
        assert_true(overlap(want, 10, got, ng) >= 0.9);
    }
    hnsw_free(ix);
    free(removed);
    free(base);
}

static int allow_even(int64_t label, void *ctx) {
    (void)ctx;
    return (label & 1) == 0;
}

static void test_filters(void **state) {
    (void)state;
    float *base = clustered(N, DIM, 40, 3);
    hnsw_index *ix = build(base, N, DIM, 12, 80);
    scry_err err = {0};
    /* small allow-list: 25 scattered labels -> exact answers */
    int64_t small[25];
    for (int i = 0; i < 25; i++) small[i] = 17 + i * 151;
    hnsw_label_set set = {small, 25};
    hnsw_filter f = {hnsw_allow_sorted, &set};
    for (int qi = 0; qi < 20; qi++) {
        const float *q = base + (size_t)(qi * 97) * DIM;
        hnsw_hit got[10];
        int ng;
        int64_t want[10];
        assert_int_equal(hnsw_search(ix, q, 10, 32, &f, got, &ng, &err), SCRY_OK);
        assert_int_equal(ng, 10);
        truth(base, N, DIM, q, 10, hnsw_allow_sorted, &set, NULL, want);
        for (int i = 0; i < 10; i++) assert_int_equal(got[i].label, want[i]);
        /* the same set looked up member by member (unsorted, with an
         * unknown label and a removed one among them) */
        int64_t among[27];
        for (int i = 0; i < 25; i++) among[i] = small[24 - i];
        among[25] = 987654321;
        among[26] = 17 + 25 * 151 + 1;  /* odd (the even-only part below), removed before the first query */
        if (qi == 0) assert_int_equal(hnsw_remove(ix, among[26]), SCRY_OK);
        hnsw_hit am[10];
        int na = 0;
        assert_int_equal(hnsw_exact_among(ix, q, 10, among, 27, am, &na, &err), SCRY_OK);
        assert_int_equal(na, 10);
        for (int i = 0; i < 10; i++) assert_int_equal(am[i].label, want[i]);
    }
    /* allow-list smaller than k */
    hnsw_label_set tiny = {small, 3};
    hnsw_filter ft = {hnsw_allow_sorted, &tiny};
    hnsw_hit got[10];
    int ng;
    assert_int_equal(hnsw_search(ix, base, 10, 32, &ft, got, &ng, &err), SCRY_OK);
    assert_int_equal(ng, 3);
    /* large allow-list (half): graph search, all results allowed, high recall */
    hnsw_filter fe = {allow_even, NULL};
    double rsum = 0;
    for (int qi = 0; qi < 50; qi++) {
        const float *q = base + (size_t)(qi * 61 + 1) * DIM;
        int64_t want[10];
        assert_int_equal(hnsw_search(ix, q, 10, 64, &fe, got, &ng, &err), SCRY_OK);
        assert_int_equal(ng, 10);
        for (int i = 0; i < ng; i++) assert_int_equal(got[i].label & 1, 0);
        truth(base, N, DIM, q, 10, allow_even, NULL, NULL, want);
        rsum += overlap(want, 10, got, ng);
    }
    printf("filtered recall@10 (50%% allowed): %.3f\n", rsum / 50);
    assert_true(rsum / 50 >= 0.95);
    hnsw_free(ix);
    free(base);
}

static void test_persistence(void **state) {
    (void)state;
    enum { n = 3000 };
    float *base = clustered(n, DIM, 30, 5);
    hnsw_index *ix = build(base, n, DIM, 12, 80);
    for (int i = 0; i < n; i += 10) assert_int_equal(hnsw_remove(ix, i), SCRY_OK);
    char *dir = tu_tempdir("hnsw");
    char path[700];
    snprintf(path, sizeof path, "%s/index.hnsw", dir);
    scry_err err = {0};
    assert_int_equal(hnsw_save(ix, path, &err), SCRY_OK);
    hnsw_index *lx = NULL;
    assert_int_equal(hnsw_load(&lx, path, &err), SCRY_OK);
    assert_int_equal(hnsw_count(lx), hnsw_count(ix));
    hnsw_stats st;
    hnsw_get_stats(lx, &st);
    assert_true(st.bytes_mapped > (size_t)n * DIM * 4);
    for (int qi = 0; qi < 50; qi++) {
        const float *q = base + (size_t)(qi * 53 + 2) * DIM;
        hnsw_hit a[10], b[10];
        int na, nb;
        assert_int_equal(hnsw_search(ix, q, 10, 40, NULL, a, &na, &err), SCRY_OK);
        assert_int_equal(hnsw_search(lx, q, 10, 40, NULL, b, &nb, &err), SCRY_OK);
        assert_int_equal(na, nb);
        for (int i = 0; i < na; i++) {
            assert_int_equal(a[i].label, b[i].label);
            assert_true(a[i].score == b[i].score);
            assert_int_not_equal(b[i].label % 10, 0);
        }
    }
    /* Writes after load: remove in place, then an insert migrates to heap;
     * saving over the mapped file is safe. */
    assert_int_equal(hnsw_remove(lx, 1), SCRY_OK);
    assert_int_equal(hnsw_add(lx, 10, base + 10 * DIM, &err), SCRY_OK);
    hnsw_get_stats(lx, &st);
    assert_int_equal(st.bytes_mapped, 0);
    assert_int_equal(hnsw_save(lx, path, &err), SCRY_OK);
    hnsw_index *lx2 = NULL;
    assert_int_equal(hnsw_load(&lx2, path, &err), SCRY_OK);
    assert_false(hnsw_contains(lx2, 1));
    assert_true(hnsw_contains(lx2, 10));
    hnsw_hit h[1];
    int nh;
    assert_int_equal(hnsw_search(lx2, base + 10 * DIM, 1, 40, NULL, h, &nh, &err), SCRY_OK);
    assert_int_equal(h[0].label, 10);
    hnsw_free(lx2);
    hnsw_free(lx);

    /* An empty index round-trips too. */
    hnsw_index *ex = NULL;
    assert_int_equal(hnsw_create(&ex, 7, NULL, &err), SCRY_OK);
    char epath[720];
    snprintf(epath, sizeof epath, "%s/empty.hnsw", dir);
    assert_int_equal(hnsw_save(ex, epath, &err), SCRY_OK);
    hnsw_free(ex);
    assert_int_equal(hnsw_load(&ex, epath, &err), SCRY_OK);
    assert_int_equal(hnsw_count(ex), 0);
    float seven[7] = {1, 0, 0, 0, 0, 0, 0};
    assert_int_equal(hnsw_search(ex, seven, 5, 10, NULL, h, &nh, &err), SCRY_OK);
    assert_int_equal(nh, 0);
    assert_int_equal(hnsw_add(ex, 42, seven, &err), SCRY_OK);
    assert_int_equal(hnsw_search(ex, seven, 5, 10, NULL, h, &nh, &err), SCRY_OK);
    assert_int_equal(nh, 1);
    hnsw_free(ex);

    hnsw_free(ix);
    tu_rmtree(dir);
    free(dir);
    free(base);
}

static void write_bytes(const char *path, const void *d, size_t n) {
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(d, 1, n, f), n);
    fclose(f);
}

static void test_corruption_detected(void **state) {
    (void)state;
    enum { n = 1500 };
    float *base = clustered(n, DIM, 10, 9);
    hnsw_index *ix = build(base, n, DIM, 8, 40);
    char *dir = tu_tempdir("hnswc");
    char path[700], bad[720];
    snprintf(path, sizeof path, "%s/index.hnsw", dir);
    snprintf(bad, sizeof bad, "%s/bad.hnsw", dir);
    scry_err err = {0};
    assert_int_equal(hnsw_save(ix, path, &err), SCRY_OK);
    size_t len;
    unsigned char *good = tu_read(path, &len);
    hnsw_index *lx = NULL;

    snprintf(bad, sizeof bad, "%s/missing.hnsw", dir);
    assert_int_equal(hnsw_load(&lx, bad, &err), SCRY_ENOTFOUND);
    snprintf(bad, sizeof bad, "%s/bad.hnsw", dir);

    size_t cuts[] = {0, 100, 4096, len / 2, len - 1};
    for (size_t i = 0; i < sizeof cuts / sizeof *cuts; i++) {
        write_bytes(bad, good, cuts[i]);
        assert_int_equal(hnsw_load(&lx, bad, &err), SCRY_ECORRUPT);
        assert_non_null(strstr(err.msg, "bad.hnsw"));
    }
    /* single flipped bytes: header field, vector data, link data, tail */
    size_t flips[] = {8, 40, 4096 + 3, 4096 + 200, len / 2, len - 70};
    for (size_t i = 0; i < sizeof flips / sizeof *flips; i++) {
        unsigned char *copy = malloc(len);
        memcpy(copy, good, len);
        copy[flips[i]] ^= 0x5a;
        write_bytes(bad, copy, len);
        free(copy);
        err.msg[0] = 0;
        assert_int_equal(hnsw_load(&lx, bad, &err), SCRY_ECORRUPT);
        assert_non_null(strstr(err.msg, "rebuild"));
    }
    /* garbage of the right size */
    unsigned char *junk = malloc(len);
    for (size_t i = 0; i < len; i++) junk[i] = (unsigned char)(i * 31 + 7);
    write_bytes(bad, junk, len);
    assert_int_equal(hnsw_load(&lx, bad, &err), SCRY_ECORRUPT);
    free(junk);
    /* and the intact file still loads */
    assert_int_equal(hnsw_load(&lx, path, &err), SCRY_OK);
    assert_int_equal(hnsw_count(lx), n);
    hnsw_free(lx);
    free(good);
    hnsw_free(ix);
    tu_rmtree(dir);
    free(dir);
    free(base);
}

static void test_bad_input_and_ip(void **state) {
    (void)state;
    scry_err err = {0};
    hnsw_index *ix = NULL;
    assert_int_equal(hnsw_create(&ix, 0, NULL, &err), SCRY_EINVAL);
    hnsw_params p;
    hnsw_params_default(&p);
    p.metric = HNSW_IP;
    assert_int_equal(hnsw_create(&ix, 4, &p, &err), SCRY_OK);
    float v[4][4] = {{1, 0, 0, 0}, {3, 0, 0, 0}, {0, 1, 0, 0}, {NAN, 0, 0, 0}};
    assert_int_equal(hnsw_add(ix, 1, v[0], &err), SCRY_OK);
    assert_int_equal(hnsw_add(ix, 2, v[1], &err), SCRY_OK);
    assert_int_equal(hnsw_add(ix, 3, v[2], &err), SCRY_OK);
    assert_int_equal(hnsw_add(ix, 4, v[3], &err), SCRY_EINVAL);
    assert_int_equal(hnsw_count(ix), 3);
    hnsw_hit h[3];
    int nh;
    /* inner product is not normalised: the longer vector wins */
    assert_int_equal(hnsw_search(ix, v[0], 3, 10, NULL, h, &nh, &err), SCRY_OK);
    assert_int_equal(nh, 3);
    assert_int_equal(h[0].label, 2);
    assert_true(fabsf(h[0].score - 3.0f) < 1e-6f);
    assert_int_equal(h[1].label, 1);
    assert_int_equal(hnsw_search(ix, v[0], 0, 10, NULL, h, &nh, &err), SCRY_EINVAL);
    hnsw_free(ix);
    /* cosine rejects a zero vector */
    assert_int_equal(hnsw_create(&ix, 4, NULL, &err), SCRY_OK);
    float zero[4] = {0};
    assert_int_equal(hnsw_add(ix, 1, zero, &err), SCRY_EINVAL);
    hnsw_free(ix);
}

/* ------------------------------------------------------- concurrency */

typedef struct reader_ctx {
    hnsw_index *ix;
    const float *qs;
    int nq, rounds;
    int64_t max_label;
    int errors, searches;
} reader_ctx;

static void *reader(void *arg) {
    reader_ctx *c = arg;
    scry_err err = {0};
    for (int r = 0; r < c->rounds; r++)
        for (int qi = 0; qi < c->nq; qi++) {
            hnsw_hit h[10];
            int nh;
            hnsw_filter f = {allow_even, NULL};
            int rc = (qi % 4 == 3) ? hnsw_search(c->ix, c->qs + qi * DIM, 10, 32, &f, h, &nh, &err)
                                   : hnsw_search(c->ix, c->qs + qi * DIM, 10, 32, NULL, h, &nh, &err);
            c->searches++;
            if (rc != SCRY_OK) c->errors++;
            for (int i = 0; i < nh; i++) {
                if (h[i].label < 0 || h[i].label > c->max_label) c->errors++;
                if (i && h[i].score > h[i - 1].score) c->errors++;
            }
        }
    return NULL;
}

static void test_concurrent_search_while_inserting(void **state) {
    (void)state;
    const char *small = getenv("SCRY_HNSW_TSAN");  /* TSan is slow: fewer vectors */
    size_t n0 = small ? 500 : 2000, n1 = small ? 800 : 3000;
    float *base = clustered(n0 + n1, DIM, 20, 11);
    hnsw_params p;
    hnsw_params_default(&p);
    p.M = 8;
    p.ef_construction = 40;
    p.capacity = 16;  /* force growth while readers run */
    hnsw_index *ix = NULL;
    scry_err err = {0};
    assert_int_equal(hnsw_create(&ix, DIM, &p, &err), SCRY_OK);
    for (size_t i = 0; i < n0; i++) assert_int_equal(hnsw_add(ix, (int64_t)i, base + i * DIM, &err), SCRY_OK);
    enum { T = 3 };
    pthread_t th[T];
    reader_ctx ctx[T];
    for (int t = 0; t < T; t++) {
        ctx[t] = (reader_ctx){ix, base + (size_t)t * 40 * DIM, 40, small ? 3 : 10,
                              (int64_t)(n0 + n1), 0, 0};
        assert_int_equal(pthread_create(&th[t], NULL, reader, &ctx[t]), 0);
    }
    for (size_t i = n0; i < n0 + n1; i++) {
        assert_int_equal(hnsw_add(ix, (int64_t)i, base + i * DIM, &err), SCRY_OK);
        if (i % 7 == 0) assert_int_equal(hnsw_remove(ix, (int64_t)(i - n0)), SCRY_OK);
    }
    assert_int_equal(hnsw_compact(ix, &err), SCRY_OK);
    for (int t = 0; t < T; t++) {
        pthread_join(th[t], NULL);
        assert_int_equal(ctx[t].errors, 0);
        assert_true(ctx[t].searches > 0);
    }
    /* after the dust settles: every vector finds itself unless removed */
    for (size_t i = 0; i < n0 + n1; i += 13) {
        hnsw_hit h[1];
        int nh;
        assert_int_equal(hnsw_search(ix, base + i * DIM, 1, 64, NULL, h, &nh, &err), SCRY_OK);
        int was_removed = i < n1 && (i + n0) % 7 == 0 && i + n0 >= n0;
        if (!was_removed) assert_int_equal(h[0].label, (int64_t)i);
        else assert_int_not_equal(h[0].label, (int64_t)i);
    }
    hnsw_free(ix);
    free(base);
}

/* Compaction while a writer keeps adding, replacing and removing labels:
 * afterwards the index holds exactly the expected live labels with their
 * latest vectors, deleted labels never come back, graph search agrees with
 * brute force, and the saved file loads to the same answers. */
typedef struct compact_ctx {
    hnsw_index *ix;
    int rc;
    volatile int done;
} compact_ctx;

static void *compact_thread(void *arg) {
    compact_ctx *c = arg;
    scry_err err = {0};
    c->rc = hnsw_compact(c->ix, &err);
    __atomic_store_n(&c->done, 1, __ATOMIC_RELEASE);
    return NULL;
}

static void test_compact_with_concurrent_writes(void **state) {
    (void)state;
    const char *small = getenv("SCRY_HNSW_TSAN");
    size_t n0 = small ? 600 : 2500, extra = small ? 300 : 1200;
    size_t n = n0 + extra;
    float *base = clustered(n + n0, DIM, 25, 21);   /* rows n.. are replacement vectors */
    hnsw_index *ix = build(base, n0, DIM, 12, 80);
    /* which row of `base` each label currently holds; -1 = deleted */
    long *row = malloc(n * sizeof *row);
    for (size_t i = 0; i < n; i++) row[i] = i < n0 ? (long)i : -1;
    for (size_t i = 0; i < n0; i += 2) {            /* 50% tombstones */
        assert_int_equal(hnsw_remove(ix, (int64_t)i), SCRY_OK);
        row[i] = -1;
    }
    hnsw_stats st;
    hnsw_get_stats(ix, &st);
    assert_int_equal(st.deleted, (n0 + 1) / 2);

    /* Two searching threads run through it all as well (TSan coverage). */
    enum { R = 2 };
    pthread_t rth[R];
    reader_ctx rc_[R];
    for (int t = 0; t < R; t++) {
        rc_[t] = (reader_ctx){ix, base + (size_t)t * 30 * DIM, 30, small ? 2 : 6, (int64_t)n, 0, 0};
        assert_int_equal(pthread_create(&rth[t], NULL, reader, &rc_[t]), 0);
    }
    compact_ctx cc = {ix, -1, 0};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, compact_thread, &cc), 0);
    scry_err err = {0};
    size_t ops = 0, during = 0, next_new = n0;
    /* The writer goes on until the compaction is over (and at least a few
     * hundred operations): new labels, re-added deleted labels, replaced
     * vectors, removals. */
    while (!__atomic_load_n(&cc.done, __ATOMIC_ACQUIRE) || ops < 300) {
        int running = !__atomic_load_n(&cc.done, __ATOMIC_ACQUIRE);
        size_t k = ops++;
        if (k % 4 == 0 && next_new < n) {                 /* a new label */
            assert_int_equal(hnsw_add(ix, (int64_t)next_new, base + next_new * DIM, &err), SCRY_OK);
            row[next_new] = (long)next_new;
            next_new++;
        } else if (k % 4 == 1) {                           /* re-add a deleted one */
            size_t l = (k * 2) % n0 & ~(size_t)1;
            if (row[l] < 0) {
                assert_int_equal(hnsw_add(ix, (int64_t)l, base + l * DIM, &err), SCRY_OK);
                row[l] = (long)l;
            }
        } else if (k % 4 == 2) {                           /* replace a live vector */
            size_t l = (k * 7) % n0;
            long r = (long)(n + l);
            assert_int_equal(hnsw_add(ix, (int64_t)l, base + (size_t)r * DIM, &err), SCRY_OK);
            row[l] = r;
        } else {                                           /* remove */
            size_t l = (k * 13) % n0;
            int rc = hnsw_remove(ix, (int64_t)l);
            assert_int_equal(rc, row[l] >= 0 ? SCRY_OK : SCRY_ENOTFOUND);
            row[l] = -1;
        }
        if (running) during++;
        if (ops > 20000) break;
    }
    pthread_join(th, NULL);
    assert_int_equal(cc.rc, SCRY_OK);
    for (int t = 0; t < R; t++) {
        pthread_join(rth[t], NULL);
        assert_int_equal(rc_[t].errors, 0);
    }
    printf("compaction: %zu writes, %zu of them while it ran\n", ops, during);
    assert_true(during > 0);

    /* Exactly the expected live set, each with its latest vector. */
    size_t live = 0;
    float got[DIM], want[DIM];
    for (size_t l = 0; l < n; l++) {
        assert_int_equal(hnsw_contains(ix, (int64_t)l), row[l] >= 0);
        if (row[l] < 0) continue;
        live++;
        assert_int_equal(hnsw_get(ix, (int64_t)l, got, &err), SCRY_OK);
        memcpy(want, base + (size_t)row[l] * DIM, sizeof want);
        normalise(want, DIM);
        for (int j = 0; j < DIM; j++) assert_true(fabsf(got[j] - want[j]) < 1e-5f);
    }
    assert_int_equal(hnsw_count(ix), live);
    hnsw_get_stats(ix, &st);
    /* Tombstones left are only those of writes made during the rebuild. */
    assert_true(st.deleted <= during);
    assert_int_equal(st.nodes, live + st.deleted);

    /* Searches: never a deleted label; recall against brute force. */
    float *cur = malloc(n * DIM * sizeof(float));
    int *gone = calloc(n, sizeof(int));
    for (size_t l = 0; l < n; l++) {
        if (row[l] < 0) { gone[l] = 1; memset(cur + l * DIM, 0, DIM * sizeof(float)); cur[l * DIM] = 1; }
        else memcpy(cur + l * DIM, base + (size_t)row[l] * DIM, DIM * sizeof(float));
    }
    char *dir = tu_tempdir("hnsw-compact");
    char path[700];
    snprintf(path, sizeof path, "%s/index.hnsw", dir);
    assert_int_equal(hnsw_save(ix, path, &err), SCRY_OK);
    hnsw_index *lx = NULL;
    assert_int_equal(hnsw_load(&lx, path, &err), SCRY_OK);
    assert_int_equal(hnsw_count(lx), live);
    double rsum = 0;
    int nq = 0;
    for (size_t qi = 1; qi < n; qi += 17, nq++) {
        const float *q = base + qi * DIM;               /* deleted labels' vectors too */
        hnsw_hit h[10], e[10], hl[10];
        int nh, ne, nl;
        int64_t tw[10];
        assert_int_equal(hnsw_search(ix, q, 10, 64, NULL, h, &nh, &err), SCRY_OK);
        assert_int_equal(hnsw_exact_search(ix, q, 10, NULL, e, &ne, &err), SCRY_OK);
        assert_int_equal(hnsw_search(lx, q, 10, 64, NULL, hl, &nl, &err), SCRY_OK);
        assert_int_equal(nh, 10);
        assert_int_equal(nl, nh);
        for (int i = 0; i < nh; i++) {
            assert_false(gone[h[i].label]);
            assert_false(gone[e[i].label]);
            assert_int_equal(hl[i].label, h[i].label);
        }
        truth(cur, n, DIM, q, 10, NULL, NULL, gone, tw);
        assert_true(overlap(tw, 10, e, ne) >= 0.999);
        rsum += overlap(tw, 10, h, nh);
    }
    printf("recall@10 after compaction with concurrent writes: %.3f\n", rsum / nq);
    assert_true(rsum / nq >= 0.9);
    hnsw_free(lx);
    tu_rmtree(dir);
    free(dir);
    free(cur);
    free(gone);
    free(row);
    hnsw_free(ix);
    free(base);
}

/* A cancelled compaction leaves the index as it was. */
static void test_compact_cancel(void **state) {
    (void)state;
    enum { n = 1500 };
    float *base = clustered(n, DIM, 10, 3);
    hnsw_index *ix = build(base, n, DIM, 8, 40);
    for (int i = 0; i < n; i += 2) assert_int_equal(hnsw_remove(ix, i), SCRY_OK);
    hnsw_compact_cancel(ix);             /* no compaction runs: the next one gives up */
    scry_err err = {0};
    assert_int_equal(hnsw_compact(ix, &err), SCRY_EBUSY);
    hnsw_stats st;
    hnsw_get_stats(ix, &st);
    assert_int_equal(st.nodes, n);
    assert_int_equal(st.deleted, n / 2);
    assert_int_equal(hnsw_count(ix), n / 2);
    /* ...and a later one runs (the cancel was consumed). */
    assert_int_equal(hnsw_compact(ix, &err), SCRY_OK);
    hnsw_get_stats(ix, &st);
    assert_int_equal(st.nodes, n / 2);
    assert_int_equal(st.deleted, 0);
    hnsw_hit h[1];
    int nh;
    assert_int_equal(hnsw_search(ix, base + 7 * DIM, 1, 40, NULL, h, &nh, &err), SCRY_OK);
    assert_int_equal(h[0].label, 7);
    hnsw_free(ix);
    free(base);
}

int main(void) {
    const char *filter = getenv("SCRY_TEST_FILTER");
    if (filter && *filter) cmocka_set_test_filter(filter);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_labels_snapshot),
        cmocka_unit_test(test_recall_random),
        cmocka_unit_test(test_duplicates_no_island),
        cmocka_unit_test(test_recall_glove),
        cmocka_unit_test(test_delete_reinsert_compact),
        cmocka_unit_test(test_heavy_deletion),
        cmocka_unit_test(test_filters),
        cmocka_unit_test(test_persistence),
        cmocka_unit_test(test_corruption_detected),
        cmocka_unit_test(test_bad_input_and_ip),
        cmocka_unit_test(test_concurrent_search_while_inserting),
        cmocka_unit_test(test_compact_with_concurrent_writes),
        cmocka_unit_test(test_compact_cancel),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
