/* Unit tests for store/blob (folder backend): durability layout, dedup,
 * streaming, abort, crash leftovers, missing blobs, hostile names, threads. */
#include "testutil.h"

#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/err.h"
#include "core/util.h"
#include "store/blob.h"

/* Number of regular files below dir (recursively). */
static int count_files(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return 0;
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..")) continue;
        char p[1024];
        snprintf(p, sizeof p, "%s/%s", dir, de->d_name);
        struct stat st;
        if (lstat(p, &st) != 0) continue;
        if (S_ISDIR(st.st_mode)) n += count_files(p);
        else n++;
    }
    closedir(d);
    return n;
}

static int count_sub(const char *root, const char *sub) {
    char p[1024];
    snprintf(p, sizeof p, "%s/%s", root, sub);
    return count_files(p);
}

static void test_put_get_stat_remove(void **state) {
    (void)state;
    char *dir = tu_tempdir("blob");
    scry_err err = {0};
    blob_store *bs;
    assert_int_equal(blob_open_fs(&bs, dir, &err), SCRY_OK);

    const char *msg = "hello, blob";
    char sha[SCRY_SHA256_HEX + 1], want[SCRY_SHA256_HEX + 1];
    assert_int_equal(blob_put(bs, msg, strlen(msg), sha, &err), SCRY_OK);
    scry_sha256_hex(msg, strlen(msg), want);
    assert_string_equal(sha, want);

    /* On disk exactly where the layout says: objects/ab/cdef... */
    char path[1024];
    snprintf(path, sizeof path, "%s/objects/%.2s/%s", dir, sha, sha + 2);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_size, strlen(msg));
    char lp[1024];
    assert_int_equal(blob_local_path(bs, sha, lp, sizeof lp, &err), SCRY_OK);
    assert_string_equal(lp, path);
    char tiny[8];
    assert_int_equal(blob_local_path(bs, sha, tiny, sizeof tiny, &err), SCRY_EINVAL);

    void *data = NULL;
    size_t n = 0;
    assert_int_equal(blob_get(bs, sha, &data, &n, &err), SCRY_OK);
    assert_int_equal(n, strlen(msg));
    assert_memory_equal(data, msg, n);
    free(data);

    uint64_t size = 0;
    assert_int_equal(blob_stat(bs, sha, &size, &err), SCRY_OK);
    assert_int_equal(size, strlen(msg));

    assert_int_equal(blob_remove(bs, sha, &err), SCRY_OK);
    assert_int_equal(blob_stat(bs, sha, &size, &err), SCRY_ENOTFOUND);
    assert_int_equal(blob_get(bs, sha, &data, &n, &err), SCRY_ENOTFOUND);
    assert_int_equal(blob_local_path(bs, sha, lp, sizeof lp, &err), SCRY_ENOTFOUND);
    /* Removing an absent blob is not an error. */
    assert_int_equal(blob_remove(bs, sha, &err), SCRY_OK);
    assert_int_equal(count_sub(dir, "objects"), 0);
    assert_int_equal(count_sub(dir, "tmp"), 0);

    blob_close(bs);
    tu_rmtree(dir);
    free(dir);
}

static void test_missing_blob_is_not_found(void **state) {
    (void)state;
    char *dir = tu_tempdir("blob");
    scry_err err = {0};
    blob_store *bs;
    assert_int_equal(blob_open_fs(&bs, dir, &err), SCRY_OK);
    char sha[SCRY_SHA256_HEX + 1];
    scry_sha256_hex("never stored", 12, sha);
    void *data = NULL;
    size_t n = 0;
    uint64_t size = 0;
    err.code = 0;
    assert_int_equal(blob_get(bs, sha, &data, &n, &err), SCRY_ENOTFOUND);
    assert_int_equal(err.code, SCRY_ENOTFOUND);
    assert_non_null(strstr(err.msg, sha));
    assert_null(data);
    assert_int_equal(blob_stat(bs, sha, &size, &err), SCRY_ENOTFOUND);
    blob_close(bs);
    tu_rmtree(dir);
    free(dir);
}

static void test_hostile_names_rejected(void **state) {
    (void)state;
    char *dir = tu_tempdir("blob");
    scry_err err = {0};
    blob_store *bs;
    assert_int_equal(blob_open_fs(&bs, dir, &err), SCRY_OK);
    const char *bad[] = {
        "",
        "../../../../../../etc/passwd",
        "BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015AD",  /* upper */
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015a",   /* 63 */
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad0", /* 65 */
        "ba/816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        void *data = NULL;
        size_t n;
        uint64_t size;
        char lp[256];
        assert_int_equal(blob_get(bs, bad[i], &data, &n, &err), SCRY_EINVAL);
        assert_int_equal(blob_stat(bs, bad[i], &size, &err), SCRY_EINVAL);
        assert_int_equal(blob_remove(bs, bad[i], &err), SCRY_EINVAL);
        assert_int_equal(blob_local_path(bs, bad[i], lp, sizeof lp, &err), SCRY_EINVAL);
    }
    blob_close(bs);
    tu_rmtree(dir);
    free(dir);
}

static void test_dedup_same_bytes_one_file(void **state) {
    (void)state;
    char *dir = tu_tempdir("blob");
    scry_err err = {0};
    blob_store *bs;
    assert_int_equal(blob_open_fs(&bs, dir, &err), SCRY_OK);
    unsigned char *a = tu_bytes(10000, 1), *b = tu_bytes(10000, 2);
    char s1[65], s2[65], s3[65];
    assert_int_equal(blob_put(bs, a, 10000, s1, &err), SCRY_OK);
    assert_int_equal(blob_put(bs, a, 10000, s2, &err), SCRY_OK);
    assert_string_equal(s1, s2);
    assert_int_equal(count_sub(dir, "objects"), 1);
    assert_int_equal(blob_put(bs, b, 10000, s3, &err), SCRY_OK);
    assert_string_not_equal(s1, s3);
    assert_int_equal(count_sub(dir, "objects"), 2);
    assert_int_equal(count_sub(dir, "tmp"), 0);

    /* A damaged copy (wrong size) under the right name is replaced, not
     * trusted, when the same content is stored again. */
    char path[1024];
    snprintf(path, sizeof path, "%s/objects/%.2s/%s", dir, s1, s1 + 2);
    assert_int_equal(truncate(path, 100), 0);
    assert_int_equal(blob_put(bs, a, 10000, s2, &err), SCRY_OK);
    void *back = NULL;
    size_t n = 0;
    assert_int_equal(blob_get(bs, s1, &back, &n, &err), SCRY_OK);
    assert_int_equal(n, 10000);
    assert_memory_equal(back, a, 10000);
    free(back);

    /* The empty blob is a blob like any other. */
    char se[65], want[65];
    assert_int_equal(blob_put(bs, "", 0, se, &err), SCRY_OK);
    scry_sha256_hex("", 0, want);
    assert_string_equal(se, want);
    uint64_t size = 99;
    assert_int_equal(blob_stat(bs, se, &size, &err), SCRY_OK);
    assert_int_equal(size, 0);

    free(a);
    free(b);
    blob_close(bs);
    tu_rmtree(dir);
    free(dir);
}

static void test_streaming_many_chunks(void **state) {
    (void)state;
    char *dir = tu_tempdir("blob");
    scry_err err = {0};
    blob_store *bs;
    assert_int_equal(blob_open_fs(&bs, dir, &err), SCRY_OK);
    const size_t total = 3 * 1024 * 1024 + 17;
    unsigned char *buf = tu_bytes(total, 7);
    char want[65], got[65];
    scry_sha256_hex(buf, total, want);

    blob_writer *w;
    assert_int_equal(blob_writer_open(bs, &w, &err), SCRY_OK);
    /* Uneven chunk sizes, including empty writes. */
    size_t off = 0, step = 1;
    while (off < total) {
        size_t k = step % 65537;
        if (k > total - off) k = total - off;
        assert_int_equal(blob_writer_write(w, buf + off, k, &err), SCRY_OK);
        off += k;
        step = step * 3 + 1;
        assert_int_equal(blob_writer_size(w), off);
    }
    /* While the writer is open its bytes sit in tmp/, not in objects/. */
    assert_int_equal(count_sub(dir, "tmp"), 1);
    assert_int_equal(count_sub(dir, "objects"), 0);
    assert_int_equal(blob_writer_commit(w, got, &err), SCRY_OK);
    assert_string_equal(got, want);
    assert_int_equal(count_sub(dir, "tmp"), 0);

    void *back = NULL;
    size_t n = 0;
    assert_int_equal(blob_get(bs, got, &back, &n, &err), SCRY_OK);
    assert_int_equal(n, total);
    assert_memory_equal(back, buf, total);
    free(back);
    free(buf);
    blob_close(bs);
    tu_rmtree(dir);
    free(dir);
}

static void test_abort_leaves_nothing(void **state) {
    (void)state;
    char *dir = tu_tempdir("blob");
    scry_err err = {0};
    blob_store *bs;
    assert_int_equal(blob_open_fs(&bs, dir, &err), SCRY_OK);
    blob_writer *w;
    assert_int_equal(blob_writer_open(bs, &w, &err), SCRY_OK);
    assert_int_equal(blob_writer_write(w, "partial upload", 14, &err), SCRY_OK);
    assert_int_equal(count_sub(dir, "tmp"), 1);
    blob_writer_abort(w);
    blob_writer_abort(NULL);
    assert_int_equal(count_sub(dir, "tmp"), 0);
    assert_int_equal(count_sub(dir, "objects"), 0);
    blob_close(bs);
    tu_rmtree(dir);
    free(dir);
}

static void test_leftover_temp_cleaned_at_reopen(void **state) {
    (void)state;
    char *dir = tu_tempdir("blob");
    scry_err err = {0};
    blob_store *bs;
    assert_int_equal(blob_open_fs(&bs, dir, &err), SCRY_OK);
    char sha[65];
    assert_int_equal(blob_put(bs, "kept", 4, sha, &err), SCRY_OK);
    blob_close(bs);

    /* A crashed writer's temp: nobody holds its lock. */
    char p[1024];
    snprintf(p, sizeof p, "%s/tmp/w-crashed", dir);
    assert_int_equal(scry_write_file_durable(p, "half", 4, &err), SCRY_OK);
    /* A live writer's temp (another process, here simulated by a held flock)
     * must survive a concurrent open. */
    char live[1024];
    snprintf(live, sizeof live, "%s/tmp/w-live", dir);
    int fd = open(live, O_CREAT | O_RDWR, 0644);
    assert_true(fd >= 0);
    assert_int_equal(flock(fd, LOCK_EX), 0);
    assert_int_equal(count_sub(dir, "tmp"), 2);

    assert_int_equal(blob_open_fs(&bs, dir, &err), SCRY_OK);
    assert_int_equal(access(p, F_OK), -1);
    assert_int_equal(access(live, F_OK), 0);
    blob_close(bs);
    close(fd);              /* the "writer" dies: its temp is now garbage */
    assert_int_equal(blob_open_fs(&bs, dir, &err), SCRY_OK);
    assert_int_equal(count_sub(dir, "tmp"), 0);
    /* Committed blobs are untouched by the sweep. */
    uint64_t size = 0;
    assert_int_equal(blob_stat(bs, sha, &size, &err), SCRY_OK);
    assert_int_equal(size, 4);
    blob_close(bs);
    tu_rmtree(dir);
    free(dir);
}

static void test_open_fails_on_unusable_dir(void **state) {
    (void)state;
    char *dir = tu_tempdir("blob");
    char file[1024];
    snprintf(file, sizeof file, "%s/not-a-dir", dir);
    scry_err err = {0};
    assert_int_equal(scry_write_file_durable(file, "x", 1, &err), SCRY_OK);
    blob_store *bs = (blob_store *)1;
    err.code = 0;
    assert_int_equal(blob_open_fs(&bs, file, &err), SCRY_EIO);
    assert_null(bs);
    assert_true(strlen(err.msg) > 0);
    tu_rmtree(dir);
    free(dir);
}

/* Threads storing overlapping content: every put succeeds and each distinct
 * content ends up as exactly one file. */
typedef struct put_ctx {
    blob_store *bs;
    int seed0;
    int failures;
} put_ctx;

static void *put_thread(void *arg) {
    put_ctx *c = arg;
    for (int i = 0; i < 40; i++) {
        uint32_t seed = (uint32_t)((c->seed0 + i) % 20); /* 20 distinct contents */
        unsigned char *b = tu_bytes(4096 + seed, seed + 100);
        char sha[65], want[65];
        scry_err err = {0};
        scry_sha256_hex(b, 4096 + seed, want);
        if (blob_put(c->bs, b, 4096 + seed, sha, &err) != SCRY_OK || strcmp(sha, want))
            c->failures++;
        free(b);
    }
    return NULL;
}

static void test_concurrent_puts(void **state) {
    (void)state;
    char *dir = tu_tempdir("blob");
    scry_err err = {0};
    blob_store *bs;
    assert_int_equal(blob_open_fs(&bs, dir, &err), SCRY_OK);
    pthread_t th[4];
    put_ctx ctx[4];
    for (int i = 0; i < 4; i++) {
        ctx[i] = (put_ctx){bs, i * 5, 0};
        assert_int_equal(pthread_create(&th[i], NULL, put_thread, &ctx[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(ctx[i].failures, 0);
    }
    assert_int_equal(count_sub(dir, "objects"), 20);
    assert_int_equal(count_sub(dir, "tmp"), 0);
    blob_close(bs);
    tu_rmtree(dir);
    free(dir);
}

/* Another process opening the store sweeps tmp/ while writers are busy:
 * no in-flight write may be lost (flock + nlink check in the backend). */
typedef struct sweep_ctx {
    blob_store *bs;
    int seed;
    int failures;
} sweep_ctx;

static int writers_done;

static void *stream_thread(void *arg) {
    sweep_ctx *c = arg;
    for (int i = 0; i < 60; i++) {
        unsigned char *b = tu_bytes(20000, (uint32_t)(c->seed * 1000 + i));
        char sha[65], want[65];
        scry_err err = {0};
        scry_sha256_hex(b, 20000, want);
        blob_writer *w;
        int ok = blob_writer_open(c->bs, &w, &err) == SCRY_OK;
        for (int off = 0; ok && off < 20000; off += 1000) {
            ok = blob_writer_write(w, b + off, 1000, &err) == SCRY_OK;
            if (!ok) blob_writer_abort(w);
        }
        if (ok) ok = blob_writer_commit(w, sha, &err) == SCRY_OK && !strcmp(sha, want);
        void *back = NULL;
        size_t n = 0;
        if (ok) ok = blob_get(c->bs, want, &back, &n, &err) == SCRY_OK && n == 20000 &&
                     !memcmp(back, b, n);
        if (!ok) c->failures++;
        free(back);
        free(b);
    }
    __atomic_add_fetch(&writers_done, 1, __ATOMIC_RELEASE);
    return NULL;
}

static void test_sweep_never_eats_live_writes(void **state) {
    (void)state;
    char *dir = tu_tempdir("blob");
    scry_err err = {0};
    blob_store *bs;
    assert_int_equal(blob_open_fs(&bs, dir, &err), SCRY_OK);
    pthread_t th[2];
    sweep_ctx ctx[2];
    for (int i = 0; i < 2; i++) {
        ctx[i] = (sweep_ctx){bs, i + 1, 0};
        assert_int_equal(pthread_create(&th[i], NULL, stream_thread, &ctx[i]), 0);
    }
    /* Sweep for as long as the writers run. */
    int sweeps = 0;
    while (__atomic_load_n(&writers_done, __ATOMIC_ACQUIRE) < 2) {
        blob_store *other;
        assert_int_equal(blob_open_fs(&other, dir, &err), SCRY_OK);
        blob_close(other);
        sweeps++;
    }
    for (int i = 0; i < 2; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(ctx[i].failures, 0);
    }
    assert_true(sweeps > 10);
    assert_int_equal(count_sub(dir, "objects"), 120);
    assert_int_equal(count_sub(dir, "tmp"), 0);
    blob_close(bs);
    tu_rmtree(dir);
    free(dir);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_put_get_stat_remove),
        cmocka_unit_test(test_missing_blob_is_not_found),
        cmocka_unit_test(test_hostile_names_rejected),
        cmocka_unit_test(test_dedup_same_bytes_one_file),
        cmocka_unit_test(test_streaming_many_chunks),
        cmocka_unit_test(test_abort_leaves_nothing),
        cmocka_unit_test(test_leftover_temp_cleaned_at_reopen),
        cmocka_unit_test(test_open_fails_on_unusable_dir),
        cmocka_unit_test(test_concurrent_puts),
        cmocka_unit_test(test_sweep_never_eats_live_writes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
