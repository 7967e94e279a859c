/* Unit tests for search/rowmap: the rowid -> slot map shared by the catalog
 * and the keyword index. */
#include "testutil.h"

#include <stdlib.h>

#include "core/err.h"
#include "search/rowmap.h"

static void test_put_get_overwrite_delete(void **state) {
    (void)state;
    rowmap m = {0};
    uint32_t v = 0;
    assert_false(rowmap_get(&m, 7, &v));
    assert_false(rowmap_del(&m, 7));
    assert_int_equal(rowmap_put(&m, 7, 70), SCRY_OK);
    assert_true(rowmap_get(&m, 7, &v));
    assert_int_equal(v, 70);
    assert_int_equal(rowmap_put(&m, 7, 71), SCRY_OK);   /* overwrite */
    assert_true(rowmap_get(&m, 7, &v));
    assert_int_equal(v, 71);
    assert_int_equal(m.live, 1);
    assert_true(rowmap_del(&m, 7));
    assert_false(rowmap_get(&m, 7, &v));
    assert_int_equal(m.live, 0);
    rowmap_free(&m);
}

/* Many keys, then heavy churn of deletes and inserts: deleted markers must
 * never fill the table (a probe would not end) and every live key must stay
 * reachable with its value. */
static void test_growth_and_churn(void **state) {
    (void)state;
    rowmap m = {0};
    enum { N = 20000 };
    for (int64_t k = 1; k <= N; k++) assert_int_equal(rowmap_put(&m, k, (uint32_t)(k * 3)), SCRY_OK);
    assert_int_equal(m.live, N);
    for (int round = 0; round < 20; round++) {
        for (int64_t k = 1; k <= N; k += 2) assert_true(rowmap_del(&m, k + (int64_t)round * N));
        for (int64_t k = 1; k <= N; k += 2)
            assert_int_equal(rowmap_put(&m, k + (int64_t)(round + 1) * N, (uint32_t)k), SCRY_OK);
        assert_true(m.used * 2 <= m.cap);
    }
    assert_int_equal(m.live, N);
    uint32_t v;
    for (int64_t k = 2; k <= N; k += 2) {
        assert_true(rowmap_get(&m, k, &v));
        assert_int_equal(v, (uint32_t)(k * 3));
    }
    for (int64_t k = 1; k <= N; k += 2) {
        assert_false(rowmap_get(&m, k, &v));
        assert_true(rowmap_get(&m, k + 20 * (int64_t)N, &v));
        assert_int_equal(v, (uint32_t)k);
    }
    rowmap_clear(&m);
    assert_false(rowmap_get(&m, 2, &v));
    assert_int_equal(rowmap_put(&m, 2, 9), SCRY_OK);
    assert_true(rowmap_get(&m, 2, &v));
    rowmap_free(&m);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_put_get_overwrite_delete),
        cmocka_unit_test(test_growth_and_churn),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
