/* Unit tests for http/auth (keys, scopes, sessions, the JSON bodies),
 * store/meta's api_keys table (schema v3) and http/ratelimit. Real SQLite
 * files in a temp dir; real OpenSSL randomness and hashing. */
#include "testutil.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/util.h"
#include "http/auth.h"
#include "http/ratelimit.h"
#include "http/server.h"
#include "store/meta.h"

typedef struct fixture {
    char *dir;
    char path[512];
    meta_db *db;
    auth *a;
} fixture;

static int setup(void **state) {
    fixture *f = calloc(1, sizeof *f);
    f->dir = tu_tempdir("auth");
    snprintf(f->path, sizeof f->path, "%s/meta.db", f->dir);
    scry_err err = {0};
    if (meta_open(&f->db, f->path, &err) != SCRY_OK || auth_new(&f->a, f->db, &err) != SCRY_OK) {
        fprintf(stderr, "setup: %s\n", err.msg);
        return -1;
    }
    *state = f;
    return 0;
}

static int teardown(void **state) {
    fixture *f = *state;
    auth_free(f->a);
    meta_close(f->db);
    tu_rmtree(f->dir);
    free(f->dir);
    free(f);
    return 0;
}

static void test_scopes(void **state) {
    (void)state;
    unsigned m;
    scry_err err = {0};
    assert_int_equal(auth_scopes_parse("read,write", &m, &err), SCRY_OK);
    assert_int_equal(m, SCOPE_READ | SCOPE_WRITE);
    assert_int_equal(auth_scopes_parse(" admin , read ", &m, &err), SCRY_OK);
    assert_int_equal(m, SCOPE_READ | SCOPE_ADMIN);
    assert_int_equal(auth_scopes_parse("read,root", &m, &err), SCRY_EINVAL);
    assert_non_null(strstr(err.msg, "root"));
    assert_int_equal(auth_scopes_parse("", &m, &err), SCRY_EINVAL);
    assert_int_equal(auth_scopes_parse("readwrite", &m, &err), SCRY_EINVAL);
    char out[64];
    auth_scopes_format(SCOPE_ALL, out, sizeof out);
    assert_string_equal(out, "read,write,admin");
    auth_scopes_format(SCOPE_ADMIN | SCOPE_READ, out, sizeof out);
    assert_string_equal(out, "read,admin");
}

/* Schema v3: the table exists, keys round-trip, and the secret is nowhere in
 * the database file. */
static void test_key_is_stored_only_as_salted_hash(void **state) {
    fixture *f = *state;
    assert_true(meta_schema_version(f->db) >= 3);
    char key[AUTH_KEY_LEN + 1], key2[AUTH_KEY_LEN + 1];
    key_rec k, k2;
    scry_err err = {0};
    assert_int_equal(auth_key_create(f->db, "web", SCOPE_READ | SCOPE_WRITE, key, &k, &err), SCRY_OK);
    assert_int_equal(auth_key_create(f->db, "web", SCOPE_READ | SCOPE_WRITE, key2, &k2, &err), SCRY_OK);
    assert_int_equal(strlen(key), AUTH_KEY_LEN);
    assert_memory_equal(key, "scry_", 5);
    assert_memory_equal(key + 5, k.id, SCRY_ID_LEN);
    assert_string_not_equal(key, key2);
    assert_string_not_equal(k.salt, k2.salt);           /* salted: same scopes, other hash */
    assert_string_not_equal(k.hash, k2.hash);
    assert_string_equal(k.scopes, "read,write");
    /* The secret part must not appear in the file (WAL included). */
    const char *secret = key + 6 + SCRY_ID_LEN;
    meta_close(f->db);
    f->db = NULL;
    char wal[600];
    snprintf(wal, sizeof wal, "%s-wal", f->path);
    const char *files[] = {f->path, wal};
    for (int i = 0; i < 2; i++) {
        if (access(files[i], F_OK) != 0) continue;
        size_t n;
        char *bytes = tu_read(files[i], &n);
        assert_null(memmem(bytes, n, secret, strlen(secret)));
        assert_null(memmem(bytes, n, secret, 16));
        free(bytes);
    }
    assert_int_equal(meta_open(&f->db, f->path, &err), SCRY_OK);
    auth_free(f->a);
    assert_int_equal(auth_new(&f->a, f->db, &err), SCRY_OK);
    key_rec got;
    assert_int_equal(meta_key_get(f->db, k.id, &got, &err), SCRY_OK);
    assert_string_equal(got.name, "web");
    assert_string_equal(got.hash, k.hash);
    assert_int_equal(got.revoked_at, 0);
    key_rec *all;
    int n;
    assert_int_equal(meta_key_list(f->db, &all, &n, &err), SCRY_OK);
    assert_int_equal(n, 2);
    free(all);
    assert_int_equal(meta_key_count_active(f->db), 2);
}

static void test_verify_and_revoke(void **state) {
    fixture *f = *state;
    char key[AUTH_KEY_LEN + 1];
    key_rec k;
    scry_err err = {0};
    assert_int_equal(auth_key_create(f->db, "ci", SCOPE_READ, key, &k, &err), SCRY_OK);
    auth_principal p;
    assert_int_equal(auth_verify_key(f->a, key, &p), SCRY_OK);
    assert_string_equal(p.key_id, k.id);
    assert_int_equal(p.scopes, SCOPE_READ);
    assert_int_equal(p.via_session, 0);
    /* Wrong secret, right id; truncated; garbage; unknown id. */
    char bad[AUTH_KEY_LEN + 1];
    strcpy(bad, key);
    bad[AUTH_KEY_LEN - 1] = bad[AUTH_KEY_LEN - 1] == 'a' ? 'b' : 'a';
    assert_int_equal(auth_verify_key(f->a, bad, &p), SCRY_ENOTFOUND);
    bad[AUTH_KEY_LEN - 1] = 0;
    assert_int_equal(auth_verify_key(f->a, bad, &p), SCRY_ENOTFOUND);
    assert_int_equal(auth_verify_key(f->a, "scry_", &p), SCRY_ENOTFOUND);
    assert_int_equal(auth_verify_key(f->a, "", &p), SCRY_ENOTFOUND);
    assert_int_equal(auth_verify_key(f->a, NULL, &p), SCRY_ENOTFOUND);
    strcpy(bad, key);
    memcpy(bad + 5, "ffffffffffffffffffffffff", SCRY_ID_LEN);
    assert_int_equal(auth_verify_key(f->a, bad, &p), SCRY_ENOTFOUND);
    /* Revoked through this auth: refused at once. */
    assert_int_equal(auth_revoke_key(f->a, k.id, &err), SCRY_OK);
    assert_int_equal(auth_verify_key(f->a, key, &p), SCRY_ENOTFOUND);
    assert_int_equal(auth_revoke_key(f->a, k.id, &err), SCRY_ENOTFOUND);
    assert_int_equal(meta_key_count_active(f->db), 0);
}

/* Revoked by another process (another connection to the file): refused
 * once the cache entry is older than AUTH_CACHE_MS. */
static void test_revoke_elsewhere_within_cache_time(void **state) {
    fixture *f = *state;
    char key[AUTH_KEY_LEN + 1];
    key_rec k;
    scry_err err = {0};
    assert_int_equal(auth_key_create(f->db, "cli", SCOPE_ALL, key, &k, &err), SCRY_OK);
    auth_principal p;
    assert_int_equal(auth_verify_key(f->a, key, &p), SCRY_OK);
    meta_db *other;
    assert_int_equal(meta_open(&other, f->path, &err), SCRY_OK);
    assert_int_equal(meta_key_revoke(other, k.id, &err), SCRY_OK);
    meta_close(other);
    usleep((AUTH_CACHE_MS + 200) * 1000);
    assert_int_equal(auth_verify_key(f->a, key, &p), SCRY_ENOTFOUND);
}

static void test_sessions(void **state) {
    fixture *f = *state;
    char key[AUTH_KEY_LEN + 1];
    key_rec k;
    scry_err err = {0};
    assert_int_equal(auth_key_create(f->db, "web", SCOPE_READ | SCOPE_WRITE, key, &k, &err), SCRY_OK);
    auth_principal p, s;
    assert_int_equal(auth_verify_key(f->a, key, &p), SCRY_OK);
    char token[AUTH_TOKEN_LEN + 1], csrf[AUTH_TOKEN_LEN + 1];
    assert_int_equal(auth_session_create(f->a, &p, token, csrf, &err), SCRY_OK);
    assert_int_equal(strlen(token), AUTH_TOKEN_LEN);
    assert_string_not_equal(token, csrf);
    assert_int_equal(auth_session_get(f->a, token, &s), SCRY_OK);
    assert_int_equal(s.via_session, 1);
    assert_string_equal(s.key_id, k.id);
    assert_string_equal(s.csrf, csrf);
    assert_int_equal(s.scopes, SCOPE_READ | SCOPE_WRITE);
    assert_int_equal(auth_session_get(f->a, csrf, &s), SCRY_ENOTFOUND);   /* not a session */
    assert_int_equal(auth_session_get(f->a, "short", &s), SCRY_ENOTFOUND);
    /* Sign-out. */
    auth_session_drop(f->a, token);
    assert_int_equal(auth_session_get(f->a, token, &s), SCRY_ENOTFOUND);
    /* A session dies with its key. */
    assert_int_equal(auth_session_create(f->a, &p, token, csrf, &err), SCRY_OK);
    assert_int_equal(auth_revoke_key(f->a, k.id, &err), SCRY_OK);
    assert_int_equal(auth_session_get(f->a, token, &s), SCRY_ENOTFOUND);
    assert_true(auth_token_equal("abc", "abc"));
    assert_false(auth_token_equal("abc", "abd"));
    assert_false(auth_token_equal("abc", "abcd"));
    assert_false(auth_token_equal("", ""));
}

static void test_json_bodies(void **state) {
    (void)state;
    char key[AUTH_KEY_LEN + 1], name[128];
    unsigned scopes;
    scry_err err = {0};
    char body[300];
    snprintf(body, sizeof body, "{\"key\": \"scry_%s_%s\"}", "0123456789abcdef01234567",
             "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef");
    assert_int_equal(auth_parse_session_body(body, strlen(body), key, &err), SCRY_OK);
    assert_int_equal(strlen(key), AUTH_KEY_LEN);
    const char *bad_sessions[] = {"", "{", "[]", "{\"key\": 5}", "{\"key\": \"short\"}",
                                  "{\"key\": \"x\"} trailing", "null", "{\"Key\": \"x\"}"};
    for (size_t i = 0; i < sizeof bad_sessions / sizeof *bad_sessions; i++)
        assert_int_equal(auth_parse_session_body(bad_sessions[i], strlen(bad_sessions[i]), key, &err),
                         SCRY_EINVAL);
    const char *good = "{\"name\": \"web\", \"scopes\": [\"read\", \"write\"]}";
    assert_int_equal(auth_parse_key_body(good, strlen(good), name, &scopes, &err), SCRY_OK);
    assert_string_equal(name, "web");
    assert_int_equal(scopes, SCOPE_READ | SCOPE_WRITE);
    const char *noname = "{\"scopes\": [\"admin\"]}";
    assert_int_equal(auth_parse_key_body(noname, strlen(noname), name, &scopes, &err), SCRY_OK);
    assert_string_equal(name, "");
    const char *bad_keys[] = {"{\"scopes\": []}", "{\"scopes\": \"read\"}",
                              "{\"scopes\": [\"read write\"]}", "{\"scopes\": [\"root\"]}",
                              "{\"scopes\": [1]}", "{\"name\": 7, \"scopes\": [\"read\"]}",
                              "{\"name\": \"a\\u0000b\", \"scopes\": [\"read\"]}",
                              "{\"name\": \"a\", \"name\": \"b\", \"scopes\": [\"read\"]}"};
    for (size_t i = 0; i < sizeof bad_keys / sizeof *bad_keys; i++)
        assert_int_equal(auth_parse_key_body(bad_keys[i], strlen(bad_keys[i]), name, &scopes, &err),
                         SCRY_EINVAL);
    char longname[400];
    snprintf(longname, sizeof longname, "{\"name\": \"%0200d\", \"scopes\": [\"read\"]}", 7);
    assert_int_equal(auth_parse_key_body(longname, strlen(longname), name, &scopes, &err), SCRY_EINVAL);
}

static void test_ratelimit(void **state) {
    (void)state;
    ratelimit *rl;
    scry_err err = {0};
    assert_int_equal(ratelimit_new(&rl, 2, 5, 64, &err), SCRY_OK);
    for (int i = 0; i < 5; i++) assert_int_equal(ratelimit_take(rl, "10.0.0.1"), 0);
    int wait = ratelimit_take(rl, "10.0.0.1");
    assert_true(wait >= 1 && wait <= 1);
    assert_int_equal(ratelimit_take(rl, "10.0.0.2"), 0);       /* others unaffected */
    usleep(600 * 1000);                                          /* 1.2 tokens back */
    assert_int_equal(ratelimit_take(rl, "10.0.0.1"), 0);
    assert_true(ratelimit_take(rl, "10.0.0.1") >= 1);
    /* Thousands of distinct names in 64 slots: bounded, never a failure. */
    char name[32];
    for (int i = 0; i < 5000; i++) {
        snprintf(name, sizeof name, "n%d", i);
        assert_int_equal(ratelimit_take(rl, name), 0);
    }
    ratelimit_free(rl);
    ratelimit *off;
    assert_int_equal(ratelimit_new(&off, 0, 1, 8, &err), SCRY_OK);
    for (int i = 0; i < 1000; i++) assert_int_equal(ratelimit_take(off, "x"), 0);
    ratelimit_free(off);
    ratelimit *slow;                                             /* 0.1/s: wait 10 s */
    assert_int_equal(ratelimit_new(&slow, 0.1, 1, 8, &err), SCRY_OK);
    assert_int_equal(ratelimit_take(slow, "x"), 0);
    int w = ratelimit_take(slow, "x");
    assert_true(w >= 9 && w <= 10);
    ratelimit_free(slow);
}

/* The secure default: auth follows the bind address unless forced on. */
static void test_auth_required_by_bind_address(void **state) {
    (void)state;
    scry_config c;
    config_defaults(&c);
    assert_string_equal(c.host, "127.0.0.1");
    assert_false(http_auth_required(&c));                 /* loopback: off */
    strcpy(c.host, "127.0.0.2");
    assert_false(http_auth_required(&c));
    strcpy(c.host, "0.0.0.0");
    assert_true(http_auth_required(&c));                  /* every interface: on */
    strcpy(c.host, "192.168.1.10");
    assert_true(http_auth_required(&c));
    strcpy(c.auth, "on");
    strcpy(c.host, "127.0.0.1");
    assert_true(http_auth_required(&c));                  /* forced on loopback */
    strcpy(c.auth, "off");
    assert_false(http_auth_required(&c));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_scopes),
        cmocka_unit_test_setup_teardown(test_key_is_stored_only_as_salted_hash, setup, teardown),
        cmocka_unit_test_setup_teardown(test_verify_and_revoke, setup, teardown),
        cmocka_unit_test_setup_teardown(test_revoke_elsewhere_within_cache_time, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sessions, setup, teardown),
        cmocka_unit_test(test_json_bodies),
        cmocka_unit_test(test_ratelimit),
        cmocka_unit_test(test_auth_required_by_bind_address),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
