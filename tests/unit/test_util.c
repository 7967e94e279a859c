/* Unit tests for core/util and core/err. */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/err.h"
#include "core/util.h"

static void test_ids_are_unique_and_valid(void **state) {
    (void)state;
    char a[SCRY_ID_LEN + 1], b[SCRY_ID_LEN + 1];
    scry_new_id(a);
    scry_new_id(b);
    assert_true(scry_id_valid(a));
    assert_true(scry_id_valid(b));
    assert_string_not_equal(a, b);
    assert_false(scry_id_valid("xyz"));
    assert_false(scry_id_valid("ABCDEF0123456789abcdef01"));
    assert_false(scry_id_valid(NULL));
}

static void test_sha256_known_vector(void **state) {
    (void)state;
    char hex[65];
    scry_sha256_hex("abc", 3, hex);
    assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    scry_sha256 *h = scry_sha256_new();
    scry_sha256_update(h, "a", 1);
    scry_sha256_update(h, "bc", 2);
    char hex2[65];
    scry_sha256_final(h, hex2);
    assert_string_equal(hex, hex2);
}

static void test_durable_write_roundtrip(void **state) {
    (void)state;
    char *dir = tu_tempdir("util");
    char sub[600], path[700];
    snprintf(sub, sizeof sub, "%s/a/b/c", dir);
    scry_err err = {0};
    assert_int_equal(scry_mkdirs(sub, &err), SCRY_OK);
    snprintf(path, sizeof path, "%s/file.bin", sub);
    assert_int_equal(scry_write_file_durable(path, "hello", 5, &err), SCRY_OK);
    assert_int_equal(scry_write_file_durable(path, "world!", 6, &err), SCRY_OK);
    size_t n = 0;
    char *data = tu_read(path, &n);
    assert_int_equal(n, 6);
    assert_memory_equal(data, "world!", 6);
    free(data);
    void *none = NULL;
    snprintf(path, sizeof path, "%s/missing", dir);
    assert_int_equal(scry_read_file(path, &none, &n, &err), SCRY_ENOTFOUND);
    assert_non_null(strstr(err.msg, "missing"));
    tu_rmtree(dir);
    free(dir);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ids_are_unique_and_valid),
        cmocka_unit_test(test_sha256_known_vector),
        cmocka_unit_test(test_durable_write_roundtrip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
