/* blob_s3.c -- the blob store on S3-compatible object storage (see blob.h).
 *
 * libcurl does the HTTP and the SigV4 signing (CURLOPT_AWS_SIGV4,
 * "aws:amz:REGION:s3"); this file decides which requests to make.
 *
 * Keys: PREFIX/objects/ab/cdef... -- the folder backend's layout, so the
 * same content-addressed names work in both and a bucket can be filled by
 * copying a folder. Named objects (snapshots) under PREFIX/named/NAME.
 *
 * Writes: a blob_writer's bytes are spooled to a local temp file (uploads
 * arrive in pieces, and a PUT needs its length and its hash up front); at
 * commit a HEAD on the final key answers dedup (same size: nothing to
 * send), then one PUT, or above multipart_bytes a multipart upload:
 * CreateMultipartUpload, UploadPart per 8 MiB part (each part's SHA-256 is
 * signed, so the store verifies every byte), CompleteMultipartUpload, and
 * AbortMultipartUpload if anything fails. S3 makes an object visible only
 * when its PUT or its Complete succeeds, whole: no partial object is ever
 * visible under a blob's name, whatever happens to this process.
 *
 * Payload hashes: a single PUT's body hash is the blob's own name (its
 * SHA-256), so nothing is hashed twice; curl takes the value of our
 * x-amz-content-sha256 header as the payload hash it signs.
 *
 * Reads: ranged GETs of 8 MiB, the first of which also learns the size
 * (Content-Range), so a large original never needs one huge response.
 *
 * Failures: every request is retried on transport errors (refused, reset,
 * timed out), 5xx and 429, with exponential backoff (50 ms doubling, 2 s at
 * most) for retry_s (S3_RETRY_S by default); then SCRY_EBUSY ("blob store unavailable"), which
 * the API answers with 503. Because uploads commit their blobs before any
 * row, an outage during an upload stores no row pointing at a missing blob.
 *
 * Connections: a small pool of curl easy handles keeps connections alive
 * between requests (handles are not shared between threads at once). */
#include "store/blob.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"
#include "core/util.h"
#include "store/blob_backend.h"

#define S3_PART_BYTES (8u << 20)       /* multipart part and ranged-GET size */
#define S3_MAX_PARTS 10000
#define S3_DEFAULT_MULTIPART (16u << 20)
#define S3_RETRY_S 15.0
#define S3_POOL 8
#define EMPTY_SHA256 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

typedef struct s3_store {
    char base[700];             /* scheme://host[:port] or scheme://bucket.host[:port] */
    char path0[260];            /* "/bucket" (path style) or "" */
    char prefix[256];           /* "" or "some/prefix/" */
    char sigv4[128];            /* aws:amz:REGION:s3 */
    char userpwd[512];
    char spool[512];
    uint64_t multipart;
    double retry_s;
    pthread_mutex_t pool_lock;
    CURL *pool[S3_POOL];
    int npool;
} s3_store;

typedef struct s3_tmp {
    int fd;
    char path[600];
} s3_tmp;

/* ---- requests ------------------------------------------------------------- */

typedef struct buf {
    char *p;
    size_t len, cap;
    size_t limit;               /* refuse to grow past this (0: none) */
} buf;

static size_t on_body(char *data, size_t sz, size_t nm, void *ctx) {
    buf *b = ctx;
    size_t n = sz * nm;
    if (b->limit && b->len + n > b->limit) return 0;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 4096;
        while (cap < b->len + n + 1) cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p) return 0;
        b->p = p, b->cap = cap;
    }
    memcpy(b->p + b->len, data, n);
    b->len += n;
    b->p[b->len] = 0;
    return n;
}

/* What a response told us beyond its body. */
typedef struct resp_meta {
    char etag[128];
    uint64_t content_length, range_total;
    int has_length, has_range;
} resp_meta;

static size_t on_header(char *line, size_t sz, size_t nm, void *ctx) {
    resp_meta *m = ctx;
    size_t n = sz * nm;
    char h[1024];
    size_t k = n < sizeof h - 1 ? n : sizeof h - 1;
    memcpy(h, line, k);
    h[k] = 0;
    while (k && (h[k - 1] == '\r' || h[k - 1] == '\n')) h[--k] = 0;
    if (!strncasecmp(h, "etag:", 5)) {
        const char *v = h + 5;
        while (*v == ' ') v++;
        snprintf(m->etag, sizeof m->etag, "%.127s", v);
    } else if (!strncasecmp(h, "content-length:", 15)) {
        m->content_length = strtoull(h + 15, NULL, 10);
        m->has_length = 1;
    } else if (!strncasecmp(h, "content-range:", 14)) {
        const char *slash = strchr(h, '/');
        if (slash && slash[1] != '*') m->range_total = strtoull(slash + 1, NULL, 10), m->has_range = 1;
    }
    return n;
}

/* Upload body: from memory or from a file descriptor at an offset. */
typedef struct body_src {
    const char *mem;
    int fd;
    uint64_t off, len, sent;
} body_src;

static size_t on_read(char *out, size_t sz, size_t nm, void *ctx) {
    body_src *b = ctx;
    size_t want = sz * nm;
    uint64_t left = b->len - b->sent;
    if (want > left) want = (size_t)left;
    if (!want) return 0;
    if (b->mem) {
        memcpy(out, b->mem + b->sent, want);
    } else {
        ssize_t r = pread(b->fd, out, want, (off_t)(b->off + b->sent));
        if (r <= 0) return CURL_READFUNC_ABORT;
        want = (size_t)r;
    }
    b->sent += want;
    return want;
}

static int seek_body(void *ctx, curl_off_t offset, int origin) {
    body_src *b = ctx;
    if (origin != SEEK_SET || offset < 0 || (uint64_t)offset > b->len) return CURL_SEEKFUNC_FAIL;
    b->sent = (uint64_t)offset;
    return CURL_SEEKFUNC_OK;
}

static CURL *take_handle(s3_store *s) {
    CURL *h = NULL;
    pthread_mutex_lock(&s->pool_lock);
    if (s->npool) h = s->pool[--s->npool];
    pthread_mutex_unlock(&s->pool_lock);
    if (h) curl_easy_reset(h);
    else h = curl_easy_init();
    return h;
}

static void give_handle(s3_store *s, CURL *h) {
    pthread_mutex_lock(&s->pool_lock);
    if (s->npool < S3_POOL) s->pool[s->npool++] = h, h = NULL;
    pthread_mutex_unlock(&s->pool_lock);
    if (h) curl_easy_cleanup(h);
}

typedef struct req {
    const char *method;         /* GET HEAD PUT POST DELETE */
    const char *key;            /* object key under the prefix (no leading /) */
    const char *query;          /* "" or "uploads", "partNumber=1&uploadId=..." */
    const char *payload_sha;    /* hex SHA-256 of the body (EMPTY_SHA256 when none) */
    body_src *body;             /* NULL: no body */
    const char *range;          /* "0-8388607" or NULL */
    buf *out;                   /* response body, or NULL to discard */
    resp_meta meta;
    long status;
} req;

static size_t discard(char *d, size_t s, size_t n, void *c) {
    (void)d, (void)c;
    return s * n;
}

static void sleep_s(double s) {
    struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
    while (nanosleep(&ts, &ts) == -1 && errno == EINTR) {}
}

/* One request with retries. SCRY_OK with r->status filled for any HTTP
 * answer that is not worth retrying (the caller judges 2xx/4xx);
 * SCRY_EBUSY when the store stayed unreachable or kept failing. */
static int send_req(s3_store *s, req *r, scry_err *err) {
    char url[2048];
    snprintf(url, sizeof url, "%s%s/%s%s%s%s", s->base, s->path0, s->prefix, r->key,
             r->query && *r->query ? "?" : "", r->query ? r->query : "");
    double t0 = scry_mono_s(), backoff = 0.05;
    char why[300] = "";
    for (int attempt = 1;; attempt++) {
        CURL *h = take_handle(s);
        if (!h) return scry_fail(err, SCRY_ENOMEM, "out of memory (curl)");
        struct curl_slist *hdrs = NULL;
        char hv[200];
        snprintf(hv, sizeof hv, "x-amz-content-sha256: %s",
                 r->payload_sha ? r->payload_sha : EMPTY_SHA256);
        hdrs = curl_slist_append(hdrs, hv);
        hdrs = curl_slist_append(hdrs, "Expect:");
        if (r->range) {
            snprintf(hv, sizeof hv, "Range: bytes=%s", r->range);
            hdrs = curl_slist_append(hdrs, hv);
        }
        memset(&r->meta, 0, sizeof r->meta);
        if (r->out) r->out->len = 0;
        if (r->body) r->body->sent = 0;
        curl_easy_setopt(h, CURLOPT_URL, url);
        curl_easy_setopt(h, CURLOPT_AWS_SIGV4, s->sigv4);
        curl_easy_setopt(h, CURLOPT_USERPWD, s->userpwd);
        curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
        curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, 3000L);
        /* Stalled transfers end; a slow but moving one may go on. */
        curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1024L);
        curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, 15L);
        curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
        curl_easy_setopt(h, CURLOPT_HEADERDATA, &r->meta);
        curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, r->out ? on_body : discard);
        curl_easy_setopt(h, CURLOPT_WRITEDATA, r->out);
        if (!strcmp(r->method, "HEAD")) {
            curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
        } else if (!strcmp(r->method, "PUT")) {
            curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
            curl_easy_setopt(h, CURLOPT_READFUNCTION, on_read);
            curl_easy_setopt(h, CURLOPT_READDATA, r->body);
            curl_easy_setopt(h, CURLOPT_SEEKFUNCTION, seek_body);
            curl_easy_setopt(h, CURLOPT_SEEKDATA, r->body);
            curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, (curl_off_t)r->body->len);
        } else if (!strcmp(r->method, "POST")) {
            curl_easy_setopt(h, CURLOPT_POST, 1L);
            curl_easy_setopt(h, CURLOPT_POSTFIELDS, r->body ? r->body->mem : "");
            curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE,
                             (curl_off_t)(r->body ? r->body->len : 0));
        } else if (strcmp(r->method, "GET")) {
            curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, r->method);
        }
        CURLcode cc = curl_easy_perform(h);
        r->status = 0;
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &r->status);
        curl_slist_free_all(hdrs);
        int transient;
        if (cc != CURLE_OK) {
            transient = cc != CURLE_OUT_OF_MEMORY && cc != CURLE_WRITE_ERROR &&
                        cc != CURLE_ABORTED_BY_CALLBACK && cc != CURLE_READ_ERROR;
            snprintf(why, sizeof why, "%s", curl_easy_strerror(cc));
            curl_easy_cleanup(h);     /* its connection may be broken */
            if (!transient) return scry_fail(err, SCRY_EIO, "s3 %s %s: %s", r->method, r->key, why);
        } else {
            give_handle(s, h);
            transient = r->status >= 500 || r->status == 429;
            if (!transient) return SCRY_OK;
            snprintf(why, sizeof why, "HTTP %ld", r->status);
        }
        double waited = scry_mono_s() - t0;
        if (waited + backoff > s->retry_s)
            return scry_fail(err, SCRY_EBUSY, "blob store unavailable: s3 %s %s failed %d times in %.1f s (%s)",
                             r->method, r->key, attempt, waited, why);
        log_warn("blob.s3_retry", "method=%s key=%s attempt=%d wait_ms=%.0f reason=\"%s\"", r->method,
                 r->key, attempt, backoff * 1000, why);
        sleep_s(backoff);
        backoff = backoff * 2 < 2.0 ? backoff * 2 : 2.0;
    }
}

/* The S3 error code and message of a failed answer, for err. */
static int s3_fail(scry_err *err, const req *r, const char *what) {
    char code[64] = "", msg[256] = "";
    if (r->out && r->out->p) {
        const char *c = strstr(r->out->p, "<Code>"), *m = strstr(r->out->p, "<Message>");
        if (c) sscanf(c + 6, "%63[^<]", code);
        if (m) sscanf(m + 9, "%255[^<]", msg);
    }
    return scry_fail(err, r->status == 404 ? SCRY_ENOTFOUND : SCRY_EIO, "s3 %s %s: HTTP %ld %s %s",
                     what, r->key, r->status, code, msg);
}

static void object_key(const char *sha, char *key, size_t cap) {
    snprintf(key, cap, "objects/%.2s/%s", sha, sha + 2);
}

/* ---- temp objects and commit --------------------------------------------------- */

static int s3_tmp_open(void *backend, void **tmp, scry_err *err) {
    s3_store *s = backend;
    s3_tmp *t = calloc(1, sizeof *t);
    if (!t) return scry_fail(err, SCRY_ENOMEM, "out of memory (s3 temp)");
    snprintf(t->path, sizeof t->path, "%s/scry-s3-XXXXXX", s->spool);
    t->fd = mkostemp(t->path, O_CLOEXEC);
    if (t->fd < 0) {
        int e = errno;
        free(t);
        return scry_fail(err, SCRY_EIO, "spool file in %s: %s", s->spool, strerror(e));
    }
    unlink(t->path);            /* nothing to clean up after a crash */
    *tmp = t;
    return SCRY_OK;
}

static int s3_tmp_write(void *backend, void *tmp, const void *data, size_t n, scry_err *err) {
    (void)backend;
    s3_tmp *t = tmp;
    const char *p = data;
    while (n) {
        ssize_t w = write(t->fd, p, n);
        if (w < 0 && errno == EINTR) continue;
        if (w < 0) return scry_fail(err, SCRY_EIO, "spool write: %s", strerror(errno));
        p += w, n -= (size_t)w;
    }
    return SCRY_OK;
}

static void s3_tmp_abort(void *backend, void *tmp) {
    (void)backend;
    s3_tmp *t = tmp;
    if (!t) return;
    close(t->fd);
    free(t);
}

static int s3_head(s3_store *s, const char *key, uint64_t *size, scry_err *err) {
    req r = {.method = "HEAD", .key = key};
    int rc = send_req(s, &r, err);
    if (rc) return rc;
    if (r.status == 404) return scry_fail(err, SCRY_ENOTFOUND, "s3 object %s not found", key);
    if (r.status != 200) return s3_fail(err, &r, "HEAD");
    *size = r.meta.content_length;
    return SCRY_OK;
}

static int put_single(s3_store *s, const char *key, body_src *b, const char *sha, scry_err *err) {
    buf out = {.limit = 1 << 20};
    req r = {.method = "PUT", .key = key, .payload_sha = sha, .body = b, .out = &out};
    int rc = send_req(s, &r, err);
    if (rc == SCRY_OK && r.status != 200) rc = s3_fail(err, &r, "PUT");
    free(out.p);
    return rc;
}

static int put_multipart(s3_store *s, const char *key, int fd, uint64_t size, scry_err *err) {
    uint64_t part = S3_PART_BYTES;
    while ((size + part - 1) / part > S3_MAX_PARTS) part *= 2;
    int nparts = (int)((size + part - 1) / part);
    buf out = {.limit = 1 << 20};
    req r = {.method = "POST", .key = key, .query = "uploads=", .out = &out};
    int rc = send_req(s, &r, err);
    char upload_id[512] = "";
    if (rc == SCRY_OK && r.status != 200) rc = s3_fail(err, &r, "CreateMultipartUpload");
    if (rc == SCRY_OK) {
        const char *u = out.p ? strstr(out.p, "<UploadId>") : NULL;
        if (!u || sscanf(u + 10, "%511[^<]", upload_id) != 1)
            rc = scry_fail(err, SCRY_EIO, "s3 CreateMultipartUpload %s: no UploadId", key);
    }
    char **etags = rc == SCRY_OK ? calloc((size_t)nparts, sizeof *etags) : NULL;
    char *chunk = rc == SCRY_OK ? malloc(part) : NULL;
    if (rc == SCRY_OK && (!etags || !chunk)) rc = scry_fail(err, SCRY_ENOMEM, "out of memory (multipart)");
    for (int i = 0; rc == SCRY_OK && i < nparts; i++) {
        uint64_t off = (uint64_t)i * part, len = size - off < part ? size - off : part;
        size_t got = 0;
        while (got < len) {
            ssize_t n = pread(fd, chunk + got, (size_t)(len - got), (off_t)(off + got));
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0) { rc = scry_fail(err, SCRY_EIO, "spool read: %s", n ? strerror(errno) : "short"); break; }
            got += (size_t)n;
        }
        if (rc) break;
        char sha[SCRY_SHA256_HEX + 1], query[700];
        scry_sha256_hex(chunk, (size_t)len, sha);
        snprintf(query, sizeof query, "partNumber=%d&uploadId=%s", i + 1, upload_id);
        body_src b = {.mem = chunk, .len = len};
        req pr = {.method = "PUT", .key = key, .query = query, .payload_sha = sha, .body = &b, .out = &out};
        rc = send_req(s, &pr, err);
        if (rc == SCRY_OK && pr.status != 200) rc = s3_fail(err, &pr, "UploadPart");
        if (rc == SCRY_OK && !(etags[i] = strdup(pr.meta.etag)))
            rc = scry_fail(err, SCRY_ENOMEM, "out of memory");
    }
    free(chunk);
    if (rc == SCRY_OK) {
        buf xml = {0};
        on_body("<CompleteMultipartUpload>", 1, 25, &xml);
        for (int i = 0; i < nparts; i++) {
            char p[256];
            int n = snprintf(p, sizeof p, "<Part><PartNumber>%d</PartNumber><ETag>%s</ETag></Part>",
                             i + 1, etags[i]);
            on_body(p, 1, (size_t)n, &xml);
        }
        on_body("</CompleteMultipartUpload>", 1, 26, &xml);
        char query[600], sha[SCRY_SHA256_HEX + 1];
        snprintf(query, sizeof query, "uploadId=%s", upload_id);
        scry_sha256_hex(xml.p, xml.len, sha);
        body_src b = {.mem = xml.p, .len = xml.len};
        req cr = {.method = "POST", .key = key, .query = query, .payload_sha = sha, .body = &b, .out = &out};
        rc = xml.p ? send_req(s, &cr, err) : scry_fail(err, SCRY_ENOMEM, "out of memory");
        /* S3 may answer 200 with an <Error> body for Complete. */
        if (rc == SCRY_OK && (cr.status != 200 || (out.p && strstr(out.p, "<Error>"))))
            rc = s3_fail(err, &cr, "CompleteMultipartUpload");
        free(xml.p);
    }
    if (rc != SCRY_OK && upload_id[0]) {
        char query[600];
        snprintf(query, sizeof query, "uploadId=%s", upload_id);
        req ar = {.method = "DELETE", .key = key, .query = query};
        scry_err aerr = {0};
        if (send_req(s, &ar, &aerr) != SCRY_OK || (ar.status != 204 && ar.status != 200))
            log_warn("blob.s3_abort_failed", "key=%s reason=\"%s\"", key, aerr.msg);
    }
    for (int i = 0; etags && i < nparts; i++) free(etags[i]);
    free(etags);
    free(out.p);
    if (rc == SCRY_OK) log_debug("blob.s3_multipart", "key=%s parts=%d bytes=%llu", key, nparts,
                                 (unsigned long long)size);
    return rc;
}

static int s3_tmp_commit(void *backend, void *tmp, const char *sha, uint64_t size, scry_err *err) {
    s3_store *s = backend;
    s3_tmp *t = tmp;
    char key[128];
    object_key(sha, key, sizeof key);
    uint64_t have = 0;
    scry_err herr = {0};
    int rc = s3_head(s, key, &have, &herr);
    if (rc == SCRY_OK && have == size) {        /* dedup: same name, same size */
        s3_tmp_abort(s, t);
        return SCRY_OK;
    }
    if (rc != SCRY_OK && rc != SCRY_ENOTFOUND) {
        s3_tmp_abort(s, t);
        *err = herr;
        return rc;
    }
    if (size <= s->multipart) {
        body_src b = {.fd = t->fd, .len = size};
        rc = put_single(s, key, &b, sha, err);
    } else {
        rc = put_multipart(s, key, t->fd, size, err);
    }
    s3_tmp_abort(s, t);
    return rc;
}

/* ---- reads, stat, remove --------------------------------------------------------- */

static int get_range_into(s3_store *s, const char *key, uint64_t off, uint64_t len, buf *out,
                          resp_meta *meta, long *status, scry_err *err) {
    char range[64];
    snprintf(range, sizeof range, "%llu-%llu", (unsigned long long)off,
             (unsigned long long)(off + len - 1));
    req r = {.method = "GET", .key = key, .range = range, .out = out};
    int rc = send_req(s, &r, err);
    if (rc) return rc;
    *status = r.status;
    *meta = r.meta;
    if (r.status == 404) return scry_fail(err, SCRY_ENOTFOUND, "blob %s not found", key);
    if (r.status == 416) return SCRY_OK;       /* past the end */
    if (r.status != 206 && r.status != 200) return s3_fail(err, &r, "GET");
    return SCRY_OK;
}

static int s3_get_key(s3_store *s, const char *key, void **data, size_t *n, scry_err *err) {
    buf out = {0};
    resp_meta m;
    long status = 0;
    int rc = get_range_into(s, key, 0, S3_PART_BYTES, &out, &m, &status, err);
    if (rc == SCRY_OK && status == 206 && m.has_range && m.range_total > out.len) {
        /* More to come: the rest in ranges, appended. */
        uint64_t total = m.range_total;
        while (rc == SCRY_OK && out.len < total) {
            buf part = {0};
            uint64_t len = total - out.len < S3_PART_BYTES ? total - out.len : S3_PART_BYTES;
            rc = get_range_into(s, key, out.len, len, &part, &m, &status, err);
            if (rc == SCRY_OK && status != 206)
                rc = scry_fail(err, SCRY_EIO, "s3 GET %s: object changed while read", key);
            if (rc == SCRY_OK && !on_body(part.p ? part.p : "", 1, part.len, &out))
                rc = part.len ? scry_fail(err, SCRY_ENOMEM, "out of memory (blob)")
                              : scry_fail(err, SCRY_EIO, "s3 GET %s: short read", key);
            free(part.p);
        }
    }
    if (rc != SCRY_OK) {
        free(out.p);
        return rc;
    }
    if (!out.p && !(out.p = malloc(1))) return scry_fail(err, SCRY_ENOMEM, "out of memory");
    *data = out.p;
    *n = out.len;
    return SCRY_OK;
}

static int s3_get(void *backend, const char *sha, void **data, size_t *n, scry_err *err) {
    char key[128];
    object_key(sha, key, sizeof key);
    int rc = s3_get_key(backend, key, data, n, err);
    if (rc == SCRY_ENOTFOUND) return scry_fail(err, rc, "blob %s not found", sha);
    return rc;
}

static int s3_get_range(void *backend, const char *sha, uint64_t offset, size_t len, void *dst,
                        size_t *got, scry_err *err) {
    char key[128];
    object_key(sha, key, sizeof key);
    buf out = {.limit = len};
    resp_meta m;
    long status = 0;
    int rc = get_range_into(backend, key, offset, len, &out, &m, &status, err);
    if (rc == SCRY_ENOTFOUND) rc = scry_fail(err, rc, "blob %s not found", sha);
    if (rc == SCRY_OK && status == 200 && offset > 0)
        rc = scry_fail(err, SCRY_EIO, "s3 GET %s: ranges not supported", key);
    if (rc == SCRY_OK) {
        size_t k = out.len < len ? out.len : len;
        if (k) memcpy(dst, out.p, k);
        *got = k;
    }
    free(out.p);
    return rc;
}

static int s3_stat(void *backend, const char *sha, uint64_t *size, scry_err *err) {
    char key[128];
    object_key(sha, key, sizeof key);
    int rc = s3_head(backend, key, size, err);
    if (rc == SCRY_ENOTFOUND) return scry_fail(err, rc, "blob %s not found", sha);
    return rc;
}

static int s3_remove(void *backend, const char *sha, scry_err *err) {
    char key[128];
    object_key(sha, key, sizeof key);
    buf out = {.limit = 1 << 20};
    req r = {.method = "DELETE", .key = key, .out = &out};
    int rc = send_req(backend, &r, err);
    if (rc == SCRY_OK && r.status != 204 && r.status != 200 && r.status != 404)
        rc = s3_fail(err, &r, "DELETE");
    free(out.p);
    return rc;
}

static int s3_named_put(void *backend, const char *name, const void *data, size_t n,
                        scry_err *err) {
    char key[160], sha[SCRY_SHA256_HEX + 1];
    snprintf(key, sizeof key, "named/%s", name);
    scry_sha256_hex(data, n, sha);
    body_src b = {.mem = data, .len = n};
    return put_single(backend, key, &b, sha, err);
}

static int s3_named_get(void *backend, const char *name, void **data, size_t *n, scry_err *err) {
    char key[160];
    snprintf(key, sizeof key, "named/%s", name);
    int rc = s3_get_key(backend, key, data, n, err);
    if (rc == SCRY_ENOTFOUND) return scry_fail(err, rc, "object %s not found", name);
    return rc;
}

static void s3_close(void *backend) {
    s3_store *s = backend;
    for (int i = 0; i < s->npool; i++) curl_easy_cleanup(s->pool[i]);
    pthread_mutex_destroy(&s->pool_lock);
    free(s);
}

static const blob_ops s3_ops = {
    .name = "s3",
    .close = s3_close,
    .tmp_open = s3_tmp_open,
    .tmp_write = s3_tmp_write,
    .tmp_commit = s3_tmp_commit,
    .tmp_abort = s3_tmp_abort,
    .get = s3_get,
    .get_range = s3_get_range,
    .stat = s3_stat,
    .remove = s3_remove,
    .local_path = NULL,
    .named_put = s3_named_put,
    .named_get = s3_named_get,
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static void curl_init(void) { curl_global_init(CURL_GLOBAL_DEFAULT); }

int blob_open_s3(blob_store **out, const blob_s3_config *cfg, scry_err *err) {
    *out = NULL;
    const char *url = cfg->url;
    if (!url || strncmp(url, "s3://", 5) || !url[5])
        return scry_fail(err, SCRY_EINVAL, "blob location must look like s3://bucket/prefix");
    char bucket[256] = "";
    const char *slash = strchr(url + 5, '/');
    size_t blen = slash ? (size_t)(slash - url - 5) : strlen(url + 5);
    if (blen == 0 || blen >= sizeof bucket)
        return scry_fail(err, SCRY_EINVAL, "bad bucket name in %s", url);
    memcpy(bucket, url + 5, blen);
    for (size_t i = 0; i < blen; i++) {
        char c = bucket[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.'))
            return scry_fail(err, SCRY_EINVAL, "bad bucket name '%s' (S3 rules: a-z 0-9 . -)", bucket);
    }
    if (!cfg->access_key || !*cfg->access_key || !cfg->secret_key || !*cfg->secret_key)
        return scry_fail(err, SCRY_EINVAL,
                         "S3 credentials missing: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY");
    pthread_once(&curl_once, curl_init);
    s3_store *s = calloc(1, sizeof *s);
    if (!s) return scry_fail(err, SCRY_ENOMEM, "out of memory (s3 store)");
    pthread_mutex_init(&s->pool_lock, NULL);
    const char *region = cfg->region && *cfg->region ? cfg->region : "us-east-1";
    if (slash && slash[1]) {
        snprintf(s->prefix, sizeof s->prefix, "%s", slash + 1);
        size_t pl = strlen(s->prefix);
        if (pl && s->prefix[pl - 1] != '/' && pl + 1 < sizeof s->prefix) strcat(s->prefix, "/");
    }
    char endpoint[400];
    int aws = !cfg->endpoint || !*cfg->endpoint;
    if (aws) snprintf(endpoint, sizeof endpoint, "https://s3.%s.amazonaws.com", region);
    else snprintf(endpoint, sizeof endpoint, "%s", cfg->endpoint);
    size_t el = strlen(endpoint);
    while (el && endpoint[el - 1] == '/') endpoint[--el] = 0;
    const char *addressing = cfg->addressing && *cfg->addressing ? cfg->addressing : "auto";
    int virtual_host;
    if (!strcmp(addressing, "auto")) virtual_host = aws;
    else if (!strcmp(addressing, "virtual")) virtual_host = 1;
    else if (!strcmp(addressing, "path")) virtual_host = 0;
    else {
        s3_close(s);
        return scry_fail(err, SCRY_EINVAL, "S3 addressing must be auto, path or virtual, not '%s'",
                         addressing);
    }
    const char *host = strstr(endpoint, "://");
    if (!host) {
        s3_close(s);
        return scry_fail(err, SCRY_EINVAL, "S3 endpoint must be http[s]://host[:port], not '%s'",
                         endpoint);
    }
    if (virtual_host) {
        snprintf(s->base, sizeof s->base, "%.*s%s.%s", (int)(host + 3 - endpoint), endpoint,
                 bucket, host + 3);
        s->path0[0] = 0;
    } else {
        snprintf(s->base, sizeof s->base, "%s", endpoint);
        snprintf(s->path0, sizeof s->path0, "/%s", bucket);
    }
    snprintf(s->sigv4, sizeof s->sigv4, "aws:amz:%s:s3", region);
    snprintf(s->userpwd, sizeof s->userpwd, "%s:%s", cfg->access_key, cfg->secret_key);
    const char *spool = cfg->spool_dir && *cfg->spool_dir ? cfg->spool_dir : getenv("TMPDIR");
    snprintf(s->spool, sizeof s->spool, "%s", spool && *spool ? spool : "/tmp");
    s->multipart = cfg->multipart_bytes ? cfg->multipart_bytes : S3_DEFAULT_MULTIPART;
    s->retry_s = cfg->retry_s > 0 ? cfg->retry_s : S3_RETRY_S;
    if (s->multipart < 5u << 20) s->multipart = 5u << 20;    /* S3's smallest part */
    int rc = scry_mkdirs(s->spool, err);
    if (rc) {
        s3_close(s);
        return rc;
    }
    /* Reach the bucket once now, so a wrong endpoint, bucket or key is an
     * error at start-up rather than at the first upload. */
    req r = {.method = "HEAD", .key = ""};
    char probe_key[8] = "";
    r.key = probe_key;
    rc = send_req(s, &r, err);
    if (rc == SCRY_OK && r.status != 200 && r.status != 404) {
        /* HEAD on the bucket: 200; some servers answer 404 for the
         * prefix "directory" itself, which is fine. 403/301 are not. */
        rc = scry_fail(err, r.status == 403 ? SCRY_EINVAL : SCRY_EIO,
                       "S3 bucket %s at %s: HTTP %ld (check the bucket, region and credentials)",
                       bucket, endpoint, r.status);
    }
    if (rc) {
        s3_close(s);
        return rc;
    }
    blob_store *bs = blob_store_new(&s3_ops, s);
    if (!bs) {
        s3_close(s);
        return scry_fail(err, SCRY_ENOMEM, "out of memory (blob store)");
    }
    log_info("blob.s3_opened", "bucket=%s prefix=%s endpoint=%s addressing=%s region=%s", bucket,
             s->prefix, endpoint, virtual_host ? "virtual" : "path", region);
    *out = bs;
    return SCRY_OK;
}
