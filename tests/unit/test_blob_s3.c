/* Unit tests for store/blob_s3 against a real S3-compatible server: s3rver
 * behind tests/s3/sigv4_proxy.py, which rejects any request whose SigV4
 * signature or payload hash is wrong (tests/run starts both and sets
 * SCRY_TEST_S3 to the endpoint and SCRY_TEST_S3_DIR to s3rver's folder,
 * where a bucket is a folder). Without SCRY_TEST_S3 every test is skipped.
 * Covered: put/get/stat/remove in path-style and virtual-host addressing,
 * content-addressed keys, dedup, multipart above the threshold (and the
 * object appearing only once complete), ranged reads across part
 * boundaries, named objects, wrong credentials and an unreachable
 * endpoint (a clear SCRY_EBUSY after the retries), concurrent writers. */
#include "testutil.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/err.h"
#include "core/util.h"
#include "store/blob.h"

static const char *g_endpoint, *g_dir;

/* A fresh bucket; returns its s3:// URL with a prefix. */
static void new_bucket(char *url, size_t cap, char *bucket, size_t bcap) {
    static int n;
    snprintf(bucket, bcap, "t%d-%d", (int)getpid(), ++n);
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", g_dir, bucket);
    assert_int_equal(mkdir(path, 0755), 0);
    snprintf(url, cap, "s3://%s/scry/data", bucket);
}

static int object_exists(const char *bucket, const char *key) {
    char path[1200];
    snprintf(path, sizeof path, "%s/%s/scry/data/%s._S3rver_object", g_dir, bucket, key);
    return access(path, F_OK) == 0;
}

static blob_store *open_store(const char *url, const char *endpoint, const char *addressing,
                              uint64_t multipart) {
    blob_s3_config c = {.url = url, .endpoint = endpoint, .region = "us-east-1",
                        .access_key = "S3RVER", .secret_key = "S3RVER", .addressing = addressing,
                        .multipart_bytes = multipart, .retry_s = 2};
    blob_store *bs = NULL;
    scry_err err = {0};
    int rc = blob_open_s3(&bs, &c, &err);
    if (rc != SCRY_OK) fail_msg("blob_open_s3 %s: %s", url, err.msg);
    return bs;
}

static int skip_without_s3(void) {
    if (!g_endpoint) {
        skip();
        return 1;
    }
    return 0;
}

static void roundtrip(const char *endpoint, const char *addressing) {
    char url[256], bucket[64];
    new_bucket(url, sizeof url, bucket, sizeof bucket);
    blob_store *bs = open_store(url, endpoint, addressing, 0);
    assert_string_equal(blob_backend_name(bs), "s3");
    scry_err err = {0};
    const char *msg = "hello, bucket";
    char sha[SCRY_SHA256_HEX + 1], want[SCRY_SHA256_HEX + 1];
    assert_int_equal(blob_put(bs, msg, strlen(msg), sha, &err), SCRY_OK);
    scry_sha256_hex(msg, strlen(msg), want);
    assert_string_equal(sha, want);
    char key[128];
    snprintf(key, sizeof key, "objects/%.2s/%s", sha, sha + 2);
    assert_true(object_exists(bucket, key));

    void *data = NULL;
    size_t n = 0;
    assert_int_equal(blob_get(bs, sha, &data, &n, &err), SCRY_OK);
    assert_int_equal(n, strlen(msg));
    assert_memory_equal(data, msg, n);
    free(data);
    uint64_t size = 0;
    assert_int_equal(blob_stat(bs, sha, &size, &err), SCRY_OK);
    assert_int_equal(size, strlen(msg));
    char part[5];
    size_t got = 0;
    assert_int_equal(blob_get_range(bs, sha, 7, 4, part, &got, &err), SCRY_OK);
    assert_int_equal(got, 4);
    assert_memory_equal(part, "buck", 4);
    char lp[64];
    assert_int_equal(blob_local_path(bs, sha, lp, sizeof lp, &err), SCRY_EUNSUPPORTED);

    assert_int_equal(blob_remove(bs, sha, &err), SCRY_OK);
    assert_false(object_exists(bucket, key));
    assert_int_equal(blob_stat(bs, sha, &size, &err), SCRY_ENOTFOUND);
    assert_int_equal(blob_get(bs, sha, &data, &n, &err), SCRY_ENOTFOUND);
    assert_int_equal(blob_remove(bs, sha, &err), SCRY_OK);      /* absent: fine */
    assert_int_equal(blob_get(bs, "../../../etc/passwd", &data, &n, &err), SCRY_EINVAL);
    blob_close(bs);
}

static void test_roundtrip_path_style(void **state) {
    (void)state;
    if (skip_without_s3()) return;
    roundtrip(g_endpoint, "path");
}

static void test_roundtrip_virtual_host(void **state) {
    (void)state;
    if (skip_without_s3()) return;
    /* BUCKET.s3.localhost: curl resolves *.localhost to loopback itself. */
    const char *port = strrchr(g_endpoint, ':');
    char ep[128];
    snprintf(ep, sizeof ep, "http://s3.localhost%s", port);
    roundtrip(ep, "virtual");
}

static void test_dedup_and_named_objects(void **state) {
    (void)state;
    if (skip_without_s3()) return;
    char url[256], bucket[64];
    new_bucket(url, sizeof url, bucket, sizeof bucket);
    blob_store *bs = open_store(url, g_endpoint, "auto", 0);
    scry_err err = {0};
    unsigned char *b = tu_bytes(100000, 7);
    char s1[65], s2[65];
    assert_int_equal(blob_put(bs, b, 100000, s1, &err), SCRY_OK);
    assert_int_equal(blob_put(bs, b, 100000, s2, &err), SCRY_OK);
    assert_string_equal(s1, s2);
    free(b);

    void *data = NULL;
    size_t n = 0;
    assert_int_equal(blob_get_named(bs, "snapshot-x", &data, &n, &err), SCRY_ENOTFOUND);
    assert_int_equal(blob_put_named(bs, "snapshot-x", "one", 3, &err), SCRY_OK);
    assert_int_equal(blob_put_named(bs, "snapshot-x", "second", 6, &err), SCRY_OK);
    assert_int_equal(blob_get_named(bs, "snapshot-x", &data, &n, &err), SCRY_OK);
    assert_int_equal(n, 6);
    assert_memory_equal(data, "second", 6);
    free(data);
    assert_int_equal(blob_put_named(bs, "../up", "x", 1, &err), SCRY_EINVAL);
    assert_int_equal(blob_put_named(bs, "UPPER", "x", 1, &err), SCRY_EINVAL);
    blob_close(bs);
}

static void test_multipart_and_ranges(void **state) {
    (void)state;
    if (skip_without_s3()) return;
    char url[256], bucket[64];
    new_bucket(url, sizeof url, bucket, sizeof bucket);
    blob_store *bs = open_store(url, g_endpoint, "path", 5u << 20);   /* multipart above 5 MiB */
    scry_err err = {0};
    const size_t size = (21u << 20) + 12345;                            /* 3 parts of 8 MiB */
    unsigned char *b = tu_bytes(size, 42);
    char want[65], sha[65];
    scry_sha256_hex(b, size, want);
    blob_writer *w;
    assert_int_equal(blob_writer_open(bs, &w, &err), SCRY_OK);
    for (size_t off = 0; off < size; off += 65536) {
        size_t k = size - off < 65536 ? size - off : 65536;
        assert_int_equal(blob_writer_write(w, b + off, k, &err), SCRY_OK);
    }
    char key[128];
    snprintf(key, sizeof key, "objects/%.2s/%s", want, want + 2);
    assert_false(object_exists(bucket, key));   /* nothing visible before commit */
    int rc = blob_writer_commit(w, sha, &err);
    if (rc != SCRY_OK) fail_msg("multipart commit: %s", err.msg);
    assert_string_equal(sha, want);
    assert_true(object_exists(bucket, key));
    uint64_t st = 0;
    assert_int_equal(blob_stat(bs, sha, &st, &err), SCRY_OK);
    assert_int_equal(st, size);
    void *data = NULL;
    size_t n = 0;
    assert_int_equal(blob_get(bs, sha, &data, &n, &err), SCRY_OK);   /* read in 8 MiB ranges */
    assert_int_equal(n, size);
    assert_memory_equal(data, b, size);
    free(data);
    /* A range straddling the first part boundary, and one past the end. */
    unsigned char buf[4096];
    size_t got = 0;
    assert_int_equal(blob_get_range(bs, sha, (8u << 20) - 100, sizeof buf, buf, &got, &err), SCRY_OK);
    assert_int_equal(got, sizeof buf);
    assert_memory_equal(buf, b + (8u << 20) - 100, sizeof buf);
    assert_int_equal(blob_get_range(bs, sha, size - 10, sizeof buf, buf, &got, &err), SCRY_OK);
    assert_int_equal(got, 10);
    assert_memory_equal(buf, b + size - 10, 10);
    /* An aborted writer leaves nothing. */
    assert_int_equal(blob_writer_open(bs, &w, &err), SCRY_OK);
    assert_int_equal(blob_writer_write(w, "partial", 7, &err), SCRY_OK);
    blob_writer_abort(w);
    free(b);
    blob_close(bs);
}

static void test_bad_credentials_and_unreachable(void **state) {
    (void)state;
    if (skip_without_s3()) return;
    char url[256], bucket[64];
    new_bucket(url, sizeof url, bucket, sizeof bucket);
    blob_s3_config c = {.url = url, .endpoint = g_endpoint, .access_key = "S3RVER",
                        .secret_key = "WRONG", .addressing = "path", .retry_s = 1};
    blob_store *bs = NULL;
    scry_err err = {0};
    assert_int_equal(blob_open_s3(&bs, &c, &err), SCRY_EINVAL);     /* 403 from the proxy */
    assert_non_null(strstr(err.msg, "403"));
    c.secret_key = "";
    assert_int_equal(blob_open_s3(&bs, &c, &err), SCRY_EINVAL);
    assert_non_null(strstr(err.msg, "AWS_SECRET_ACCESS_KEY"));
    c.secret_key = "S3RVER";
    c.url = "s3://";
    assert_int_equal(blob_open_s3(&bs, &c, &err), SCRY_EINVAL);
    c.url = "s3://Bad_Bucket/x";
    assert_int_equal(blob_open_s3(&bs, &c, &err), SCRY_EINVAL);
    /* Nothing listens there: retried for retry_s, then "unavailable". */
    c.url = url;
    c.endpoint = "http://127.0.0.1:9";
    double t0 = scry_mono_s();
    assert_int_equal(blob_open_s3(&bs, &c, &err), SCRY_EBUSY);
    double took = scry_mono_s() - t0;
    assert_non_null(strstr(err.msg, "blob store unavailable"));
    assert_true(took >= 0.5 && took < 5);
    assert_null(bs);
}

typedef struct put_ctx {
    blob_store *bs;
    int seed0, failures;
} put_ctx;

static void *put_thread(void *arg) {
    put_ctx *c = arg;
    for (int i = 0; i < 10; i++) {
        uint32_t seed = (uint32_t)((c->seed0 + i) % 12);
        unsigned char *b = tu_bytes(20000 + seed, seed + 100);
        char sha[65], want[65];
        scry_err err = {0};
        scry_sha256_hex(b, 20000 + seed, want);
        void *back = NULL;
        size_t n = 0;
        if (blob_put(c->bs, b, 20000 + seed, sha, &err) != SCRY_OK || strcmp(sha, want) ||
            blob_get(c->bs, sha, &back, &n, &err) != SCRY_OK || n != 20000 + seed ||
            memcmp(back, b, n))
            c->failures++;
        free(back);
        free(b);
    }
    return NULL;
}

static void test_concurrent_writers(void **state) {
    (void)state;
    if (skip_without_s3()) return;
    char url[256], bucket[64];
    new_bucket(url, sizeof url, bucket, sizeof bucket);
    blob_store *bs = open_store(url, g_endpoint, "path", 0);
    pthread_t th[4];
    put_ctx ctx[4];
    for (int i = 0; i < 4; i++) {
        ctx[i] = (put_ctx){bs, i * 3, 0};
        assert_int_equal(pthread_create(&th[i], NULL, put_thread, &ctx[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(ctx[i].failures, 0);
    }
    blob_close(bs);
}

int main(void) {
    g_endpoint = getenv("SCRY_TEST_S3");
    g_dir = getenv("SCRY_TEST_S3_DIR");
    if (g_endpoint && (!*g_endpoint || !g_dir)) g_endpoint = NULL;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip_path_style),
        cmocka_unit_test(test_roundtrip_virtual_host),
        cmocka_unit_test(test_dedup_and_named_objects),
        cmocka_unit_test(test_multipart_and_ranges),
        cmocka_unit_test(test_bad_credentials_and_unreachable),
        cmocka_unit_test(test_concurrent_writers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
