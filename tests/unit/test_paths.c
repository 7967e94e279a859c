/* Unit tests for the data-file lookup (core/paths.h): the order next to the
 * executable, then EXE_DIR/../share/scry, then the built-in prefix, then
 * SCRY_HOME; what a miss reports; and resolving a config. Files are
 * created for real next to this test binary and removed after. */
#include "testutil.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/config.h"
#include "core/paths.h"
#include "core/util.h"

static char rel[64];

static void touch(const char *path) {
    char dir[PATH_MAX * 2];
    snprintf(dir, sizeof dir, "%s", path);
    *strrchr(dir, '/') = 0;
    scry_err err = {0};
    assert_int_equal(scry_mkdirs(dir, &err), SCRY_OK);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("x", f);
    fclose(f);
}

static void test_exe_dir(void **state) {
    (void)state;
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    assert_true(n > 0);
    self[n] = 0;
    *strrchr(self, '/') = 0;
    assert_string_equal(paths_exe_dir(), self);
}

static void test_lookup_order(void **state) {
    (void)state;
    char *home = tu_tempdir("paths-home");
    setenv("SCRY_HOME", home, 1);
    char next[PATH_MAX * 2], share[PATH_MAX * 2], inhome[PATH_MAX * 2], got[PATH_MAX * 2];
    snprintf(next, sizeof next, "%s/%s/file", paths_exe_dir(), rel);
    char parent[PATH_MAX];
    snprintf(parent, sizeof parent, "%s", paths_exe_dir());
    *strrchr(parent, '/') = 0;
    snprintf(share, sizeof share, "%s/share/scry/%s/file", parent, rel);
    snprintf(inhome, sizeof inhome, "%s/%s/file", home, rel);
    char want[PATH_MAX + 8];
    snprintf(want, sizeof want, "%s/file", rel);
    scry_err err = {0};

    /* nowhere: not found, the first candidate named, every place listed */
    assert_int_equal(paths_find(want, got, sizeof got, &err), SCRY_ENOTFOUND);
    assert_string_equal(got, next);
    assert_non_null(strstr(err.msg, share));
    assert_non_null(strstr(err.msg, inhome));
    assert_non_null(strstr(err.msg, "SCRY_HOME"));
    char list[8192];
    assert_int_equal(paths_candidates(want, list, sizeof list), 4);
    assert_non_null(strstr(list, inhome));

    touch(inhome);
    assert_int_equal(paths_find(want, got, sizeof got, &err), SCRY_OK);
    assert_string_equal(got, inhome);
    touch(share);           /* the installed prefix wins over SCRY_HOME */
    assert_int_equal(paths_find(want, got, sizeof got, &err), SCRY_OK);
    assert_string_equal(got, share);
    touch(next);            /* next to the executable wins over both */
    assert_int_equal(paths_find(want, got, sizeof got, &err), SCRY_OK);
    assert_string_equal(got, next);

    unsetenv("SCRY_HOME");
    assert_int_equal(paths_candidates(want, list, sizeof list), 3);
    char dir[PATH_MAX * 2];
    snprintf(dir, sizeof dir, "%s/%s", paths_exe_dir(), rel);
    tu_rmtree(dir);
    snprintf(dir, sizeof dir, "%s/share/scry/%s", parent, rel);
    tu_rmtree(dir);
    snprintf(dir, sizeof dir, "%s/share/scry", parent);
    rmdir(dir);                 /* only when empty: never a real install */
    snprintf(dir, sizeof dir, "%s/share", parent);
    rmdir(dir);
    tu_rmtree(home);
    free(home);
}

static void test_resolve_config(void **state) {
    (void)state;
    char *home = tu_tempdir("paths-cfg");
    setenv("SCRY_HOME", home, 1);
    char p[PATH_MAX * 2];
    snprintf(p, sizeof p, "%s/web/index.html", home);
    touch(p);
    scry_config c;
    config_defaults(&c);
    assert_string_equal(c.web_dir, "");
    strcpy(c.models_dir, "/explicit/models");
    paths_resolve_config(&c);
    assert_string_equal(c.models_dir, "/explicit/models");    /* a flag bypasses the lookup */
    char want[PATH_MAX * 2];
    struct stat st;
    snprintf(want, sizeof want, "%s/web", paths_exe_dir());
    if (stat(want, &st) != 0) {             /* no build/web next to this binary */
        snprintf(want, sizeof want, "%s/web", home);
        assert_string_equal(c.web_dir, want);
    }
    assert_true(strlen(c.wordvec_path) > 0 && strstr(c.wordvec_path, "wordvec/wordvec.bin"));
    unsetenv("SCRY_HOME");
    tu_rmtree(home);
    free(home);
}

int main(void) {
    snprintf(rel, sizeof rel, "paths-test-%d", (int)getpid());
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_exe_dir),
        cmocka_unit_test(test_lookup_order),
        cmocka_unit_test(test_resolve_config),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
