/* Unit tests for the web app's file server (http/assets.h) on a real
 * folder: what each URL answers (pages, versioned and unversioned assets,
 * hidden files, index.html outside the pages, traversal), content types,
 * ETags and 304s, gzip copies and Accept-Encoding, the version and the
 * CSP hash of the import map, and the answers without an app. */
#include "testutil.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "core/util.h"
#include "http/assets.h"

#define IMPORTMAP "{\"imports\":{\"preact\":\"/assets/{{version}}/vendor/preact.mjs\"}}"
static const char g_index[] =
    "<!doctype html><title>t</title><script type=\"importmap\">" IMPORTMAP "</script>"
    "<link rel=stylesheet href=\"/assets/{{version}}/app.css\"><script type=module "
    "src=\"/assets/{{version}}/js/main.js\"></script>";

static void write_file(const char *dir, const char *rel, const char *text) {
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, rel);
    char parent[1024];
    snprintf(parent, sizeof parent, "%s", path);
    *strrchr(parent, '/') = 0;
    scry_err err = {0};
    assert_int_equal(scry_mkdirs(parent, &err), SCRY_OK);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static char *make_app(void) {
    char *dir = tu_tempdir("assets");
    write_file(dir, "index.html", g_index);
    char js[4096] = "";
    for (int i = 0; i < 60; i++) strcat(js, "export const answer = 42; // a line that compresses\n");
    write_file(dir, "js/main.js", js);
    write_file(dir, "app.css", "body{margin:0}");
    write_file(dir, "icon.svg", "<svg xmlns='http://www.w3.org/2000/svg'/>");
    write_file(dir, "vendor/preact.mjs", "export const h = 1;");
    write_file(dir, ".secret", "not served");
    write_file(dir, "js/.hidden.js", "not served either");
    return dir;
}

static web_reply get(const web_assets *w, const char *path, const char *ae, const char *inm) {
    web_reply r;
    assert_int_equal(web_assets_lookup(w, "GET", path, ae, inm, &r), 1);
    return r;
}

static void test_pages_and_versioned_assets(void **state) {
    (void)state;
    char *dir = make_app();
    web_assets *w = NULL;
    scry_err err = {0};
    assert_int_equal(web_assets_open(&w, dir, &err), SCRY_OK);
    assert_int_equal(web_assets_count(w), 5);                  /* hidden files left out */
    const char *v = web_assets_version(w);
    assert_int_equal(strlen(v), 12);

    web_reply r = get(w, "/", NULL, NULL);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.ctype, "text/html; charset=utf-8");
    assert_string_equal(r.cache_control, "no-cache");
    assert_null(strstr(r.body, "{{version}}"));
    char want[128];
    snprintf(want, sizeof want, "/assets/%s/js/main.js", v);
    assert_non_null(strstr(r.body, want));
    const char *pages[] = {"/library", "/jobs", "/index.html"};
    for (int i = 0; i < 3; i++) assert_ptr_equal(get(w, pages[i], NULL, NULL).body, r.body);

    web_reply js = get(w, want, NULL, NULL);
    assert_int_equal(js.status, 200);
    assert_string_equal(js.ctype, "text/javascript; charset=utf-8");
    assert_string_equal(js.cache_control, "public, max-age=31536000, immutable");
    assert_int_equal(js.gzip, 0);
    assert_non_null(strstr(js.body, "answer = 42"));
    snprintf(want, sizeof want, "/assets/%s/app.css", v);
    assert_string_equal(get(w, want, NULL, NULL).ctype, "text/css; charset=utf-8");
    snprintf(want, sizeof want, "/assets/%s/icon.svg", v);
    assert_string_equal(get(w, want, NULL, NULL).ctype, "image/svg+xml");
    assert_string_equal(get(w, "/favicon.ico", NULL, NULL).ctype, "image/svg+xml");

    /* unversioned, or another version: the same bytes, revalidated */
    web_reply plain = get(w, "/assets/js/main.js", NULL, NULL);
    assert_ptr_equal(plain.body, js.body);
    assert_string_equal(plain.cache_control, "no-cache");
    web_reply old = get(w, "/assets/0123456789ab/js/main.js", NULL, NULL);
    assert_ptr_equal(old.body, js.body);
    assert_string_equal(old.cache_control, "no-cache");

    /* never served */
    const char *missing[] = {"/assets/.secret", "/assets/js/.hidden.js", "/assets/index.html",
                             "/assets/nope.js", "/assets/js/../index.html", "/assets/../../etc/passwd"};
    for (int i = 0; i < 6; i++) {
        char p[128];
        snprintf(p, sizeof p, "%s", missing[i]);
        assert_int_equal(get(w, p, NULL, NULL).status, 404);
        if (!strncmp(missing[i], "/assets/", 8)) {
            snprintf(p, sizeof p, "/assets/%s/%s", v, missing[i] + 8);
            assert_int_equal(get(w, p, NULL, NULL).status, 404);
        }
    }
    /* not the app's: the API and the server's own routes */
    const char *others[] = {"/v1/search", "/v1", "/healthz", "/metrics", "/nowhere", "/v1/assets/x"};
    for (int i = 0; i < 6; i++) {
        web_reply x;
        assert_int_equal(web_assets_lookup(w, "GET", others[i], NULL, NULL, &x), 0);
    }
    web_reply post;
    assert_int_equal(web_assets_lookup(w, "POST", "/", NULL, NULL, &post), 1);
    assert_int_equal(post.status, 405);
    web_reply head;
    assert_int_equal(web_assets_lookup(w, "HEAD", "/", NULL, NULL, &head), 1);
    assert_int_equal(head.status, 200);
    web_assets_free(w);
    tu_rmtree(dir);
    free(dir);
}

static void test_etags_and_gzip(void **state) {
    (void)state;
    char *dir = make_app();
    web_assets *w = NULL;
    scry_err err = {0};
    assert_int_equal(web_assets_open(&w, dir, &err), SCRY_OK);
    web_reply plain = get(w, "/assets/js/main.js", NULL, NULL);
    assert_int_equal(strlen(plain.etag), 18);                 /* "16 hex" */
    assert_int_equal(get(w, "/assets/js/main.js", NULL, plain.etag).status, 304);
    char list[128];
    snprintf(list, sizeof list, "\"other\", W/%s", plain.etag);
    assert_int_equal(get(w, "/assets/js/main.js", NULL, list).status, 304);
    assert_int_equal(get(w, "/assets/js/main.js", NULL, "\"other\"").status, 200);
    assert_int_equal(get(w, "/assets/js/main.js", NULL, "*").status, 304);

    web_reply gz = get(w, "/assets/js/main.js", "deflate, gzip", NULL);
    assert_int_equal(gz.gzip, 1);
    assert_true(gz.len < plain.len / 3);
    assert_string_not_equal(gz.etag, plain.etag);
    assert_int_equal(get(w, "/assets/js/main.js", "gzip", gz.etag).status, 304);
    assert_int_equal(get(w, "/assets/js/main.js", "gzip", plain.etag).status, 200);
    /* the copy is gzip of the same bytes */
    z_stream zs;
    memset(&zs, 0, sizeof zs);
    assert_int_equal(inflateInit2(&zs, 16 + MAX_WBITS), Z_OK);
    char *out = malloc(plain.len + 16);
    zs.next_in = (Bytef *)gz.body;
    zs.avail_in = (uInt)gz.len;
    zs.next_out = (Bytef *)out;
    zs.avail_out = (uInt)plain.len + 16;
    assert_int_equal(inflate(&zs, Z_FINISH), Z_STREAM_END);
    assert_int_equal(zs.total_out, plain.len);
    assert_memory_equal(out, plain.body, plain.len);
    inflateEnd(&zs);
    free(out);

    const char *no[] = {"gzip;q=0", "identity", "br", "gzip ; q=0.0, identity", "x-gzip-not"};
    for (int i = 0; i < 5; i++) assert_int_equal(get(w, "/assets/js/main.js", no[i], NULL).gzip, 0);
    const char *yes[] = {"*", "br, gzip;q=0.5", "GZIP", "identity, gzip;q=1"};
    for (int i = 0; i < 4; i++) assert_int_equal(get(w, "/assets/js/main.js", yes[i], NULL).gzip, 1);
    /* a tiny file is never compressed */
    assert_int_equal(get(w, "/assets/app.css", "gzip", NULL).gzip, 0);
    web_assets_free(w);
    tu_rmtree(dir);
    free(dir);
}

static void test_version_and_csp(void **state) {
    (void)state;
    char *dir = make_app();
    web_assets *a = NULL, *b = NULL, *c = NULL;
    scry_err err = {0};
    assert_int_equal(web_assets_open(&a, dir, &err), SCRY_OK);
    /* index.html alone changing keeps the version; any other file changes it */
    write_file(dir, "index.html", "<!doctype html><p>other page</p>");
    assert_int_equal(web_assets_open(&b, dir, &err), SCRY_OK);
    assert_string_equal(web_assets_version(a), web_assets_version(b));
    write_file(dir, "app.css", "body{margin:1px}");
    assert_int_equal(web_assets_open(&c, dir, &err), SCRY_OK);
    assert_string_not_equal(web_assets_version(a), web_assets_version(c));

    /* the policy allows the import map (as served, version filled in) by hash */
    char map[256];
    snprintf(map, sizeof map, "{\"imports\":{\"preact\":\"/assets/%s/vendor/preact.mjs\"}}", web_assets_version(a));
    unsigned char md[32];
    unsigned int mdlen = 0;
    EVP_Digest(map, strlen(map), md, &mdlen, EVP_sha256(), NULL);
    char b64[64], want[96];
    EVP_EncodeBlock((unsigned char *)b64, md, (int)mdlen);
    snprintf(want, sizeof want, "script-src 'self' 'sha256-%s';", b64);
    const char *csp = web_assets_csp(a);
    assert_non_null(strstr(csp, want));
    assert_non_null(strstr(csp, "default-src 'none'"));
    assert_null(strstr(csp, "unsafe"));
    /* a page without an import map allows no inline script at all */
    assert_non_null(strstr(web_assets_csp(b), "script-src 'self';"));
    web_assets_free(a);
    web_assets_free(b);
    web_assets_free(c);
    tu_rmtree(dir);
    free(dir);
}

static void test_missing_app(void **state) {
    (void)state;
    web_assets *w = NULL;
    scry_err err = {0};
    assert_int_equal(web_assets_open(&w, "/nonexistent/scry-web", &err), SCRY_ENOTFOUND);
    assert_null(w);
    char *dir = tu_tempdir("assets-empty");
    write_file(dir, "js/main.js", "x");
    assert_int_equal(web_assets_open(&w, dir, &err), SCRY_ENOTFOUND);
    assert_non_null(strstr(err.msg, "index.html"));
    /* no app: pages say how to install it, files are simply missing */
    web_reply r = get(NULL, "/", NULL, NULL);
    assert_int_equal(r.status, 503);
    assert_non_null(strstr(r.body, "make install"));
    assert_int_equal(get(NULL, "/assets/js/main.js", NULL, NULL).status, 404);
    web_reply x;
    assert_int_equal(web_assets_lookup(NULL, "GET", "/v1/jobs", NULL, NULL, &x), 0);
    tu_rmtree(dir);
    free(dir);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pages_and_versioned_assets),
        cmocka_unit_test(test_etags_and_gzip),
        cmocka_unit_test(test_version_and_csp),
        cmocka_unit_test(test_missing_app),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
