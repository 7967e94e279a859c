/* testutil.c -- see testutil.h. */
#include "testutil.h"


#include <ftw.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/util.h"
#include "text/encoder.h"
#include "text/lexicon.h"
#include "text/wordvec.h"

char *tu_tempdir(const char *tag) {
    const char *base = getenv("TMPDIR");
    char tmpl[512];
    snprintf(tmpl, sizeof tmpl, "%s/scry-%s-XXXXXX", base && *base ? base : "/tmp", tag);
    char *d = mkdtemp(tmpl);
    assert_non_null(d);
    return strdup(d);
}

static int rm_cb(const char *p, const struct stat *sb, int flag, struct FTW *ftw) {
    (void)sb; (void)flag; (void)ftw;
    return remove(p);
}

void tu_rmtree(const char *path) {
    if (path) nftw(path, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
}

const char *tu_shared(const char *rel) {
    static char buf[1024];
    const char *root = getenv("SCRY_SHARED");
    snprintf(buf, sizeof buf, "%s/%s", root && *root ? root : "../shared", rel);
    return buf;
}

const char *tu_deps(const char *rel) {
    static char buf[1024];
    const char *root = getenv("SCRY_DEPS");
    snprintf(buf, sizeof buf, "%s/%s", root && *root ? root : "deps", rel);
    return buf;
}

const char *tu_darknet(const char *name) {
    static char buf[512];
    snprintf(buf, sizeof buf, "/usr/share/darknet/data/%s", name);
    return buf;
}

void *tu_read(const char *path, size_t *n) {
    void *data = NULL;
    scry_err err = {0};
    int rc = scry_read_file(path, &data, n, &err);
    if (rc != SCRY_OK) fail_msg("read %s: %s", path, err.msg);
    return data;
}

int tu_text_open(struct scry_wordvec **wv, struct scry_lexicon **lex, struct scry_encoder **enc) {
    scry_err err = {0};
    char path[1024];
    scry_wordvec_default_path(path, sizeof path);
    if (scry_lexicon_open(lex, &err) || scry_wordvec_open(path, wv, &err) ||
        scry_sif_encoder_new(*wv, *lex, NULL, enc, &err)) {
        fprintf(stderr, "encoder: %s (run ./scripts/setup.sh)\n", err.msg);
        return -1;
    }
    return 0;
}

void tu_text_close(struct scry_wordvec *wv, struct scry_lexicon *lex, struct scry_encoder *enc) {
    scry_encoder_free(enc);
    scry_wordvec_close(wv);
    scry_lexicon_close(lex);
}

unsigned char *tu_bytes(size_t n, uint32_t seed) {
    unsigned char *b = malloc(n ? n : 1);
    assert_non_null(b);
    uint32_t x = seed * 2654435761u + 1;
    for (size_t i = 0; i < n; i++) {
        x ^= x << 13; x ^= x >> 17; x ^= x << 5;
        b[i] = (unsigned char)x;
    }
    return b;
}

const char *tu_pg(void) {
    const char *pg = getenv("SCRY_TEST_PG");
    return pg && *pg ? pg : NULL;
}

/* A statement on the server's maintenance database. */
static int pg_admin(const char *sql) {
    char url[600];
    snprintf(url, sizeof url, "%s/postgres", tu_pg());
    PGconn *c = PQconnectdb(url);
    int ok = PQstatus(c) == CONNECTION_OK;
    if (ok) {
        PGresult *r = PQexec(c, sql);
        ok = PQresultStatus(r) == PGRES_COMMAND_OK;
        if (!ok) fprintf(stderr, "%s: %s", sql, PQresultErrorMessage(r));
        PQclear(r);
    } else {
        fprintf(stderr, "connect %s: %s", url, PQerrorMessage(c));
    }
    PQfinish(c);
    return ok ? 0 : -1;
}

int tu_pg_create(char *url, size_t cap) {
    static int n;
    char name[64], sql[128];
    snprintf(name, sizeof name, "scry_test_%d_%d", (int)getpid(), ++n);
    snprintf(sql, sizeof sql, "CREATE DATABASE %s", name);
    if (!tu_pg() || pg_admin(sql)) return -1;
    snprintf(url, cap, "%s/%s", tu_pg(), name);
    return 0;
}

int tu_pg_drop(const char *url) {
    char sql[700];
    snprintf(sql, sizeof sql, "DROP DATABASE IF EXISTS %s WITH (FORCE)", strrchr(url, '/') + 1);
    return pg_admin(sql);
}
