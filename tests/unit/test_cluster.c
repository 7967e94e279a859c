/* Unit tests for people/cluster: the three methods on synthetic descriptors
 * (tight groups around random directions), the constraints (one photo never
 * holds one person twice, a user's labels), and the quality measures on a
 * hand-counted example. Real faces are tested in test_people.c. */
#include "testutil.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "people/cluster.h"

#define DIM 32

static uint64_t rng = 88172645463325252ULL;
static double uniform(void) {
    rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
    return (double)(rng >> 11) / 9007199254740992.0;
}
static double gauss(void) { return sqrt(-2 * log(uniform() + 1e-12)) * cos(6.283185307 * uniform()); }

static void unit(float *v) {
    double s = 0;
    for (int i = 0; i < DIM; i++) s += (double)v[i] * v[i];
    for (int i = 0; i < DIM; i++) v[i] = (float)(v[i] / sqrt(s));
}

/* n faces in k groups: each a centre plus noise (cosine to the centre ~0.9;
 * centres of random directions are nearly orthogonal in 32-d). */
static float *groups(int k, int per, int *truth) {
    float *c = malloc((size_t)k * DIM * sizeof *c), *v = malloc((size_t)k * per * DIM * sizeof *v);
    for (int g = 0; g < k; g++) {
        for (int i = 0; i < DIM; i++) c[g * DIM + i] = (float)gauss();
        unit(c + g * DIM);
        for (int j = 0; j < per; j++) {
            float *x = v + (size_t)(g * per + j) * DIM;
            for (int i = 0; i < DIM; i++) x[i] = c[g * DIM + i] + 0.08f * (float)gauss();
            unit(x);
            truth[g * per + j] = g;
        }
    }
    free(c);
    return v;
}

typedef int (*method)(const cluster_face *, int, int, float, int *, int *, scry_err *);

static void test_clean_groups_every_method(void **state) {
    (void)state;
    enum { K = 5, PER = 6, N = K * PER };
    int truth[N], labels[N], k;
    float *v = groups(K, PER, truth);
    cluster_face f[N];
    /* shuffled order: incremental methods must not rely on arrival order */
    int order[N];
    for (int i = 0; i < N; i++) order[i] = i;
    for (int i = N - 1; i > 0; i--) {
        int j = (int)(uniform() * (i + 1)), t = order[i];
        order[i] = order[j], order[j] = t;
    }
    int t2[N];
    for (int i = 0; i < N; i++) {
        f[i] = (cluster_face){v + (size_t)order[i] * DIM, i + 1, 0};
        t2[i] = truth[order[i]];
    }
    method m[3] = {cluster_average_link, cluster_online, cluster_incremental};
    for (int i = 0; i < 3; i++) {
        scry_err err = {0};
        assert_int_equal(m[i](f, N, DIM, 0.5f, labels, &k, &err), SCRY_OK);
        assert_int_equal(k, K);
        cluster_quality q;
        cluster_evaluate(t2, labels, N, &q);
        assert_float_equal(q.pair_precision, 1.0, 1e-9);
        assert_float_equal(q.pair_recall, 1.0, 1e-9);
        assert_float_equal(q.bcubed_precision, 1.0, 1e-9);
        assert_int_equal(q.clusters, K);
        assert_int_equal(q.singletons, 0);
        /* labels are numbered in order of first face */
        assert_int_equal(labels[0], 0);
    }
    /* a threshold above every link keeps each face alone */
    scry_err err = {0};
    assert_int_equal(cluster_average_link(f, N, DIM, 1.01f, labels, &k, &err), SCRY_OK);
    assert_int_equal(k, N);
    free(v);
}

/* Two faces of one photo never make one person, however alike; a third
 * photo's face then goes with one of them. */
static void test_one_photo_one_person_once(void **state) {
    (void)state;
    float a[DIM] = {0}, b[DIM] = {0}, c[DIM] = {0};
    a[0] = 1;
    b[0] = 0.99f, b[1] = 0.141f;
    c[0] = 0.98f, c[2] = 0.199f;
    unit(b), unit(c);
    cluster_face f[3] = {{a, 7, 0}, {b, 7, 0}, {c, 8, 0}};
    method m[3] = {cluster_average_link, cluster_online, cluster_incremental};
    for (int i = 0; i < 3; i++) {
        int labels[3], k;
        scry_err err = {0};
        assert_int_equal(m[i](f, 3, DIM, 0.5f, labels, &k, &err), SCRY_OK);
        assert_int_equal(k, 2);
        assert_int_not_equal(labels[0], labels[1]);
        assert_true(labels[2] == labels[0] || labels[2] == labels[1]);
    }
}

/* A user's labels: two labels never merge, a label pulls its faces
 * together even when they are far apart, -1 is left out. */
static void test_user_labels(void **state) {
    (void)state;
    enum { N = 12 };
    int truth[N];
    float *v = groups(2, 6, truth);
    cluster_face f[N];
    for (int i = 0; i < N; i++) f[i] = (cluster_face){v + (size_t)i * DIM, i + 1, 0};
    f[0].fixed = 100;           /* the same group, but two different people said so */
    f[1].fixed = 200;
    f[6].fixed = 100;           /* a face of the other group placed with face 0 */
    f[11].fixed = -1;           /* left out */
    int labels[N], k;
    scry_err err = {0};
    assert_int_equal(cluster_average_link(f, N, DIM, 0.5f, labels, &k, &err), SCRY_OK);
    assert_int_not_equal(labels[0], labels[1]);
    assert_int_equal(labels[0], labels[6]);
    assert_int_equal(labels[11], -1);
    for (int i = 2; i < 6; i++) assert_true(labels[i] == labels[0] || labels[i] == labels[1]);
    int inc[N];
    assert_int_equal(cluster_incremental(f, N, DIM, 0.5f, inc, &k, &err), SCRY_OK);
    assert_int_not_equal(inc[0], inc[1]);
    assert_int_equal(inc[0], inc[6]);
    assert_int_equal(inc[11], -1);
    free(v);
}

/* Hand-counted: truth A = {0,1,2}, B = {3,4}; clusters {0,1}, {2,3,4}. */
static void test_evaluate(void **state) {
    (void)state;
    int truth[5] = {0, 0, 0, 1, 1}, labels[5] = {0, 0, 1, 1, 1};
    cluster_quality q;
    cluster_evaluate(truth, labels, 5, &q);
    /* together: (0,1) (2,3) (2,4) (3,4) -> right (0,1) (3,4) = 2 of 4 */
    assert_float_equal(q.pair_precision, 0.5, 1e-9);
    /* same person: (0,1) (0,2) (1,2) (3,4) -> together (0,1) (3,4) = 2 of 4 */
    assert_float_equal(q.pair_recall, 0.5, 1e-9);
    /* BCubed precision: faces 0,1: 2/2; 2: 1/3; 3,4: 2/3 -> (1+1+1/3+2/3+2/3)/5 */
    assert_float_equal(q.bcubed_precision, (1 + 1 + 1.0 / 3 + 2.0 / 3 + 2.0 / 3) / 5, 1e-9);
    /* recall: 0,1: 2/3; 2: 1/3; 3,4: 2/2 */
    assert_float_equal(q.bcubed_recall, (2.0 / 3 + 2.0 / 3 + 1.0 / 3 + 1 + 1) / 5, 1e-9);
    assert_int_equal(q.clusters, 2);
    int alone[5] = {-1, -1, -1, -1, -1};
    cluster_evaluate(truth, alone, 5, &q);
    assert_float_equal(q.pair_precision, 1.0, 1e-9);   /* nothing put together: nothing wrong */
    assert_float_equal(q.pair_recall, 0.0, 1e-9);
    assert_int_equal(q.singletons, 5);
}

static void test_empty(void **state) {
    (void)state;
    int k = -1;
    scry_err err = {0};
    assert_int_equal(cluster_average_link(NULL, 0, DIM, 0.5f, NULL, &k, &err), SCRY_OK);
    assert_int_equal(k, 0);
    assert_int_equal(cluster_incremental(NULL, 0, DIM, 0.5f, NULL, &k, &err), SCRY_OK);
    assert_int_equal(k, 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_clean_groups_every_method),
        cmocka_unit_test(test_one_photo_one_person_once),
        cmocka_unit_test(test_user_labels),
        cmocka_unit_test(test_evaluate),
        cmocka_unit_test(test_empty),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
