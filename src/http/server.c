/* server.c -- see server.h. */
#include "http/server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <openssl/crypto.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "app/browse.h"
#include "app/render.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/util.h"
#include "http/assets.h"
#include "http/auth.h"
#include "http/guard.h"
#include "http/openapi.h"
#include "http/people_api.h"
#include "people/people.h"
#include "http/ratelimit.h"
#include "vision/image.h"

#define SNIFF_BYTES 32
/* How far past the upload limit we keep reading (and discarding) a body so
 * as to answer 413 at its end (clients read the answer after sending), before
 * we answer at once and close (a body that never ends: a chunk size of
 * 2^64-1). */
#define DRAIN_LIMIT (8ull * 1024 * 1024)
/* JSON request bodies (sign-in, key creation) are small. */
#define JSON_BODY_MAX (16 * 1024)

struct http_server {
    struct MHD_Daemon *daemon;
    scry_app *app;
    int port;
    web_assets *web;            /* the web app served at / (NULL: not installed) */
    int auth_on, tls;
    guard *guard;
    auth *auth;
    meta_db *auth_db;           /* its own connection: key lookups never queue behind uploads */
    ratelimit *rl_ip, *rl_key;
};

/* The running server, for what every response carries (CORS, headers):
 * send_body only sees the connection. One server per process. */
static http_server *g_srv;

/* One file of an upload, streaming into the blob store. */
typedef struct upload_part {
    blob_writer *w;
    char *filename;
    unsigned char head[SNIFF_BYTES];
    size_t headlen;
    const char *format;         /* sniffed; NULL = not (yet) an image */
    int announced;              /* opened by an empty call, no bytes yet */
    int maxname;                /* --max-filename */
} upload_part;

enum req_kind { REQ_PLAIN = 0, REQ_MULTIPART, REQ_RAW };

/* Per-request state, created on the first call of the access handler. */
typedef struct req_state {
    enum req_kind kind;
    struct MHD_PostProcessor *pp;
    upload_part *parts;
    int nparts;
    uint64_t received;
    int status;                 /* non-zero: the request already failed */
    char code[40];
    char message[400];
    scry_app *app;
    int replied;                /* answered outside libmicrohttpd (guard_reply_now) */
    char ip[64];
    auth_principal who;         /* who.key_id[0] == 0: no key (auth off, or a public route) */
    char *body;                 /* JSON request body being read */
    size_t body_len;
} req_state;

/* ---- responses -------------------------------------------------------- */

/* Whether a browser page from this Origin may read our answers. */
static int origin_allowed(const char *origin) {
    const char *list = g_srv ? g_srv->app->cfg.cors_origins : "";
    size_t n = origin ? strlen(origin) : 0;
    if (!n || !*list) return 0;
    for (const char *p = list; *p;) {
        while (*p == ',' || *p == ' ') p++;
        size_t k = strcspn(p, ", ");
        if (k == n && !strncmp(p, origin, n)) return 1;
        p += k;
    }
    return 0;
}

/* Headers every answer carries, then queue it. */
static enum MHD_Result queue(struct MHD_Connection *c, unsigned status, struct MHD_Response *r) {
    MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(r, "X-Frame-Options", "DENY");
    MHD_add_response_header(r, "Referrer-Policy", "no-referrer");
    const char *origin = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Origin");
    if (origin_allowed(origin)) {
        MHD_add_response_header(r, "Access-Control-Allow-Origin", origin);
        MHD_add_response_header(r, "Access-Control-Allow-Credentials", "true");
        MHD_add_response_header(r, "Access-Control-Expose-Headers", "Retry-After");
        MHD_add_response_header(r, "Vary", "Origin");
    }
    if (status == 401) MHD_add_response_header(r, "WWW-Authenticate", "Bearer realm=\"scry\"");
    enum MHD_Result ok = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    metrics_add(M_HTTP_REQUESTS, 1);
    metrics_add(status < 300 ? M_HTTP_2XX : status < 500 ? M_HTTP_4XX : M_HTTP_5XX, 1);
    return ok;
}

static enum MHD_Result send_body(struct MHD_Connection *c, unsigned status, const char *ctype,
                                 char *body, size_t len) {
    struct MHD_Response *r =
        MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
    if (!r) {
        free(body);
        return MHD_NO;
    }
    MHD_add_response_header(r, "Content-Type", ctype);
    return queue(c, status, r);
}

static enum MHD_Result send_json(struct MHD_Connection *c, unsigned status, json_t *doc) {
    char *text = json_dumps(doc, JSON_COMPACT);
    json_decref(doc);
    if (!text) return MHD_NO;
    return send_body(c, status, "application/json", text, strlen(text));
}

/* A JSON answer with extra headers: pairs of name, value, NULL-terminated. */
static enum MHD_Result send_json_with(struct MHD_Connection *c, unsigned status, json_t *doc,
                                      const char *const *headers) {
    char *text = json_dumps(doc, JSON_COMPACT);
    json_decref(doc);
    if (!text) return MHD_NO;
    struct MHD_Response *r =
        MHD_create_response_from_buffer(strlen(text), text, MHD_RESPMEM_MUST_FREE);
    if (!r) {
        free(text);
        return MHD_NO;
    }
    MHD_add_response_header(r, "Content-Type", "application/json");
    for (int i = 0; headers && headers[i]; i += 2) MHD_add_response_header(r, headers[i], headers[i + 1]);
    return queue(c, status, r);
}

static enum MHD_Result send_error(struct MHD_Connection *c, unsigned status, const char *code,
                                  const char *message) {
    return send_json(c, status, render_error(code, message));
}

static unsigned status_for(int rc) {
    switch (rc) {
    case SCRY_EINVAL: return 400;
    case SCRY_ENOTFOUND: return 404;
    case SCRY_EUNSUPPORTED: return 415;
    case SCRY_ETOOBIG: return 413;
    case SCRY_EBUSY: return 503;
    case SCRY_ENOSPC: return 507;
    default: return 500;
    }
}

static enum MHD_Result send_scry_error(struct MHD_Connection *c, int rc, const scry_err *err) {
    return send_error(c, status_for(rc), scry_code_name(rc), err->msg);
}

/* ---- request state ------------------------------------------------------ */

static void req_fail(req_state *rs, int status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void req_fail(req_state *rs, int status, const char *code, const char *fmt, ...) {
    if (rs->status) return;     /* keep the first reason */
    rs->status = status;
    snprintf(rs->code, sizeof rs->code, "%s", code);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(rs->message, sizeof rs->message, fmt, ap);
    va_end(ap);
}

static void req_free(req_state *rs) {
    if (!rs) return;
    if (rs->pp) MHD_destroy_post_processor(rs->pp);
    for (int i = 0; i < rs->nparts; i++) {
        blob_writer_abort(rs->parts[i].w);
        free(rs->parts[i].filename);
    }
    free(rs->parts);
    free(rs->body);
    free(rs);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe) {
    (void)toe;
    http_server *srv = cls;
    req_free(*con_cls);
    *con_cls = NULL;
    guard_request_done(srv->guard, c);
}

/* A filename as stored: metadata only (blobs are named by their hash, so no
 * client-supplied name ever reaches a path), but still made harmless: the
 * directory part a client put in is dropped ("../../etc/passwd" -> "passwd"),
 * control characters become '_', and a name over max bytes is cut at a UTF-8
 * character boundary. */
static char *clean_filename(const char *name, const char *fallback, int max) {
    if (!name || !*name) return strdup(fallback);
    const char *base = strrchr(name, '/');
    base = base ? base + 1 : name;
    const char *b2 = strrchr(base, '\\');
    base = b2 ? b2 + 1 : base;
    if (!*base || !strcmp(base, ".") || !strcmp(base, "..")) return strdup(fallback);
    size_t n = strlen(base);
    if (n > (size_t)max) {
        n = (size_t)max;
        while (n > 0 && ((unsigned char)base[n] & 0xC0) == 0x80) n--;   /* inside a character */
    }
    char *out = strndup(base, n);
    if (!out) return NULL;
    for (char *p = out; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f) *p = '_';
    return out;
}

static int same_filename(const upload_part *p, const char *filename) {
    char *clean = clean_filename(filename, "upload", p->maxname);
    int same = clean && strcmp(clean, p->filename) == 0;
    free(clean);
    return same;
}

static upload_part *part_new(req_state *rs, const char *filename) {
    if (rs->nparts >= rs->app->cfg.max_parts) {
        req_fail(rs, 413, "too_large", "more than %d files in one request",
                 rs->app->cfg.max_parts);
        return NULL;
    }
    upload_part *np = realloc(rs->parts, (size_t)(rs->nparts + 1) * sizeof *np);
    if (!np) {
        req_fail(rs, 500, "out_of_memory", "out of memory");
        return NULL;
    }
    rs->parts = np;
    upload_part *p = &rs->parts[rs->nparts];
    memset(p, 0, sizeof *p);
    scry_err err = {0};
    int rc = blob_writer_open(rs->app->blobs, &p->w, &err);
    if (rc != SCRY_OK) {
        req_fail(rs, (int)status_for(rc), scry_code_name(rc), "%s", err.msg);
        return NULL;
    }
    p->maxname = rs->app->cfg.max_filename;
    p->filename = clean_filename(filename, "upload", p->maxname);
    rs->nparts++;
    return p;
}

/* Append bytes to a part: sniff its head, stream the rest to disk. */
static void part_write(req_state *rs, upload_part *p, const char *data, size_t size) {
    if (rs->status || size == 0) return;
    if (p->headlen < SNIFF_BYTES) {
        size_t take = SNIFF_BYTES - p->headlen < size ? SNIFF_BYTES - p->headlen : size;
        memcpy(p->head + p->headlen, data, take);
        p->headlen += take;
    }
    scry_err err = {0};
    int rc = blob_writer_write(p->w, data, size, &err);
    if (rc != SCRY_OK) req_fail(rs, (int)status_for(rc), scry_code_name(rc), "%s", err.msg);
}

static enum MHD_Result post_iterator(void *cls, enum MHD_ValueKind kind, const char *key,
                                     const char *filename, const char *content_type,
                                     const char *transfer_encoding, const char *data,
                                     uint64_t off, size_t size) {
    (void)kind; (void)key; (void)content_type; (void)transfer_encoding;
    req_state *rs = cls;
    if (rs->status) return MHD_YES;       /* already failed: just drain */
    if (!filename) return MHD_YES;        /* a plain form field: not a file */
    upload_part *p = NULL;
    if (off == 0 || rs->nparts == 0) {
        /* libmicrohttpd announces a part with an empty call at offset 0 when
         * the part's first bytes are not yet in the buffer, then delivers
         * them at offset 0 again: that is the same part, not a new empty
         * one (an empty part is still one part, refused as not an image). */
        upload_part *last = rs->nparts ? &rs->parts[rs->nparts - 1] : NULL;
        if (last && last->announced && last->headlen == 0 && size > 0 &&
            same_filename(last, filename))
            p = last;
        else
            p = part_new(rs, filename);
        if (p) p->announced = size == 0;
    } else {
        p = &rs->parts[rs->nparts - 1];
    }
    if (p) part_write(rs, p, data, size);
    return MHD_YES;
}

/* ---- audit ---------------------------------------------------------------- */

/* One structured line per change that matters (uploads, deletes, keys,
 * sign-ins), naming the key's id -- never the key -- and the client. */
static void audit(const req_state *rs, const char *action, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void audit(const req_state *rs, const char *action, const char *fmt, ...) {
    char detail[600] = "";
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof detail, fmt, ap);
    va_end(ap);
    log_info("audit", "action=%s key=%s via=%s ip=%s %s", action,
             rs->who.key_id[0] ? rs->who.key_id : "-",
             !rs->who.key_id[0] ? "none" : rs->who.via_session ? "session" : "bearer", rs->ip,
             detail);
}

/* ---- uploads ------------------------------------------------------------- */

static int header_is(const char *value, const char *prefix) {
    return value && strncasecmp(value, prefix, strlen(prefix)) == 0;
}

/* Called once the whole body is in (or the request failed). */
static enum MHD_Result finish_upload(struct MHD_Connection *c, req_state *rs) {
    scry_app *app = rs->app;
    metrics_add(M_UPLOAD_REQUESTS, 1);
    if (!rs->status && rs->nparts == 0)
        req_fail(rs, 400, "invalid_request",
                 "no file in the request: send multipart/form-data with file parts, or an "
                 "image/* body");
    for (int i = 0; i < rs->nparts && !rs->status; i++) {
        upload_part *p = &rs->parts[i];
        p->format = img_sniff(p->head, p->headlen);
        if (!p->format)
            req_fail(rs, 415, "unsupported_media_type",
                     "'%s' is not an image (no JPEG, PNG, GIF, WebP, TIFF, HEIF/AVIF or BMP "
                     "signature); nothing was stored", p->filename);
    }
    if (rs->status) {
        /* Drop the temp files before answering: a client that looks right
         * after a refusal (507, 413, ...) finds nothing half-written. */
        for (int i = 0; i < rs->nparts; i++) {
            blob_writer_abort(rs->parts[i].w);
            rs->parts[i].w = NULL;
        }
        metrics_add(M_UPLOAD_REJECTED, 1);
        log_info("upload.refused", "status=%d code=%s reason=\"%s\"", rs->status, rs->code,
                 rs->message);
        return send_error(c, (unsigned)rs->status, rs->code, rs->message);
    }
    meta_new_image *imgs = calloc((size_t)rs->nparts, sizeof *imgs);
    if (!imgs) return send_error(c, 500, "out_of_memory", "out of memory");
    scry_err err = {0};
    int rc = SCRY_OK;
    app_uploads_lock(app);
    for (int i = 0; i < rs->nparts; i++) {
        upload_part *p = &rs->parts[i];
        imgs[i].bytes = (int64_t)blob_writer_size(p->w);
        rc = blob_writer_commit(p->w, imgs[i].sha256, &err);
        p->w = NULL;            /* commit frees the writer whatever happens */
        if (rc != SCRY_OK) break;
        scry_new_id(imgs[i].id);
        imgs[i].filename = p->filename;
        imgs[i].format = p->format;
    }
    char job_id[SCRY_ID_LEN + 1];
    if (rc == SCRY_OK) rc = app_commit_upload(app, imgs, rs->nparts, job_id, &err);
    app_uploads_unlock(app);
    if (rc != SCRY_OK) {
        /* Blobs committed so far stay (content-addressed, harmless, maybe
         * shared with other images); no image row points at them. */
        free(imgs);
        log_error("upload.failed", "reason=\"%s\"", err.msg);
        return send_scry_error(c, rc, &err);
    }
    json_t *doc = json_object();
    json_object_set_new(doc, "job_id", json_string(job_id));
    json_object_set_new(doc, "status", json_string("pending"));
    json_t *arr = json_array();
    for (int i = 0; i < rs->nparts; i++) {
        json_t *o = json_object();
        json_object_set_new(o, "id", json_string(imgs[i].id));
        json_t *fn = json_string(imgs[i].filename);
        json_object_set_new(o, "filename", fn ? fn : json_string("upload"));
        json_object_set_new(o, "sha256", json_string(imgs[i].sha256));
        json_object_set_new(o, "bytes", json_integer(imgs[i].bytes));
        json_array_append_new(arr, o);
    }
    json_object_set_new(doc, "images", arr);
    int64_t bytes = 0;
    for (int i = 0; i < rs->nparts; i++) bytes += imgs[i].bytes;
    audit(rs, "upload", "job=%s images=%d bytes=%lld", job_id, rs->nparts, (long long)bytes);
    free(imgs);
    return send_json(c, 202, doc);
}

static enum MHD_Result handle_upload(struct MHD_Connection *c, req_state *rs,
                                     const char *upload_data, size_t *upload_data_size) {
    uint64_t limit = (uint64_t)rs->app->cfg.max_upload_mb * 1024 * 1024;
    if (rs->replied) return MHD_NO;
    if (*upload_data_size > 0) {
        guard_body_bytes(c, *upload_data_size);
        rs->received += *upload_data_size;
        if (rs->received > limit && !rs->status) {
            /* libmicrohttpd cannot answer in the middle of a body: mark the
             * request failed, drop what was written, and drain the rest so
             * the client gets a proper 413 at the end. */
            req_fail(rs, 413, "too_large", "request body over the limit of %lld MiB",
                     (long long)rs->app->cfg.max_upload_mb);
            for (int i = 0; i < rs->nparts; i++) {
                blob_writer_abort(rs->parts[i].w);
                rs->parts[i].w = NULL;
            }
        }
        if (rs->received > limit + DRAIN_LIMIT) {
            /* Far past the limit and still coming: answer now and hang up. */
            log_warn("upload.cut", "received=%llu limit=%llu",
                     (unsigned long long)rs->received, (unsigned long long)limit);
            metrics_add(M_UPLOAD_REJECTED, 1);
            guard_reply_now(c, 413, "too_large", rs->message);
            rs->replied = 1;
            return MHD_NO;
        }
        if (rs->kind == REQ_MULTIPART) {
            if (!rs->status && MHD_post_process(rs->pp, upload_data, *upload_data_size) != MHD_YES)
                req_fail(rs, 400, "invalid_request", "malformed multipart/form-data body");
        } else if (!rs->status) {
            upload_part *p = rs->nparts ? &rs->parts[0] : NULL;
            if (!p) {
                const char *name = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "filename");
                if (!name) name = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-Filename");
                p = part_new(rs, name);
            }
            if (p) part_write(rs, p, upload_data, *upload_data_size);
        }
        *upload_data_size = 0;
        return MHD_YES;
    }
    return finish_upload(c, rs);
}

/* First call for a request: decide how to read its body, or answer at once. */
static enum MHD_Result begin_upload(struct MHD_Connection *c, req_state *rs) {
    const char *ctype = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Type");
    const char *clen = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Length");
    uint64_t limit = (uint64_t)rs->app->cfg.max_upload_mb * 1024 * 1024;
    if (clen) {
        char *end = NULL;
        errno = 0;
        unsigned long long n = strtoull(clen, &end, 10);
        if (!errno && end && !*end && n > limit) {
            metrics_add(M_UPLOAD_REQUESTS, 1);
            metrics_add(M_UPLOAD_REJECTED, 1);
            char msg[160];
            snprintf(msg, sizeof msg, "request body of %llu bytes is over the limit of %lld MiB",
                     n, (long long)rs->app->cfg.max_upload_mb);
            return send_error(c, 413, "too_large", msg);
        }
    }
    if (header_is(ctype, "multipart/form-data")) {
        rs->kind = REQ_MULTIPART;
        rs->pp = MHD_create_post_processor(c, 64 * 1024, post_iterator, rs);
        if (!rs->pp) {
            metrics_add(M_UPLOAD_REQUESTS, 1);
            metrics_add(M_UPLOAD_REJECTED, 1);
            return send_error(c, 400, "invalid_request",
                              "malformed multipart/form-data request (missing boundary?)");
        }
    } else if (header_is(ctype, "image/") || header_is(ctype, "application/octet-stream")) {
        rs->kind = REQ_RAW;
    } else {
        metrics_add(M_UPLOAD_REQUESTS, 1);
        metrics_add(M_UPLOAD_REJECTED, 1);
        return send_error(c, 415, "unsupported_media_type",
                          "send multipart/form-data with file parts, or an image/* body");
    }
    return MHD_YES;
}

/* ---- reads ----------------------------------------------------------------- */

static int parse_int_arg(struct MHD_Connection *c, const char *name, long long lo, long long hi,
                         long long def, long long *out, char *msg, size_t cap) {
    const char *v = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, name);
    *out = def;
    if (!v) return 1;
    char *end = NULL;
    errno = 0;
    long long n = strtoll(v, &end, 10);
    if (errno || !end || end == v || *end || n < lo || n > hi) {
        snprintf(msg, cap, "parameter '%s' must be an integer in [%lld, %lld]", name, lo, hi);
        return 0;
    }
    *out = n;
    return 1;
}

/* "2019", "2019-07", "2019-07-01" or unix seconds -> unix seconds (UTC). */
static int parse_date_arg(const char *v, int is_end, int64_t *out) {
    int y = 0, m = 0, d = 0;
    char tail;
    if (sscanf(v, "%4d-%2d-%2d%c", &y, &m, &d, &tail) == 3) {
    } else if (sscanf(v, "%4d-%2d%c", &y, &m, &tail) == 2) {
        d = 0;
    } else if (strlen(v) == 4 && sscanf(v, "%4d%c", &y, &tail) == 1) {
        m = 0;
    } else {
        char *end = NULL;
        long long n = strtoll(v, &end, 10);
        if (!end || *end || end == v) return 0;
        *out = n;
        return 1;
    }
    if (y < 1800 || y > 3000 || m < 0 || m > 12 || d < 0 || d > 31) return 0;
    struct tm tm = {0};
    tm.tm_year = y - 1900;
    tm.tm_mon = m ? m - 1 : 0;
    tm.tm_mday = d ? d : 1;
    if (is_end) {               /* the end of the named period, exclusive */
        if (d) tm.tm_mday += 1;
        else if (m) tm.tm_mon += 1;
        else tm.tm_year += 1;
    }
    *out = (int64_t)timegm(&tm);
    return 1;
}

/* Every person=ID of the query string (repeatable). */
typedef struct person_args {
    int64_t ids[16];
    int n, bad;
} person_args;

static enum MHD_Result collect_person(void *cls, enum MHD_ValueKind kind, const char *key,
                                      const char *value) {
    (void)kind;
    person_args *pa = cls;
    if (strcmp(key, "person")) return MHD_YES;
    char *end = NULL;
    errno = 0;
    long long v = value ? strtoll(value, &end, 10) : 0;
    if (errno || !end || end == value || *end || v <= 0 || pa->n == 16) pa->bad = 1;
    else pa->ids[pa->n++] = v;
    return MHD_YES;
}

static enum MHD_Result handle_search(struct MHD_Connection *c, scry_app *app) {
    search_params p;
    search_params_init(&p);
    char msg[200];
    p.q = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "q");
    /* people: person=ID (repeatable: all of them), face=FACE_ID; either
     * makes q optional */
    person_args pa = {{0}, 0, 0};
    MHD_get_connection_values(c, MHD_GET_ARGUMENT_KIND, collect_person, &pa);
    if (pa.bad)
        return send_error(c, 400, "invalid_request", "parameter 'person' must be a person id (at most 16 of them)");
    p.persons = pa.ids;
    p.npersons = pa.n;
    long long face;
    if (!parse_int_arg(c, "face", 1, INT64_MAX, 0, &face, msg, sizeof msg))
        return send_error(c, 400, "invalid_request", msg);
    p.face_id = face;
    if (!p.q && (p.face_id || p.npersons)) p.q = "";
    if (!p.q) return send_error(c, 400, "invalid_request", "missing parameter 'q'");
    if (strlen(p.q) > (size_t)app->cfg.max_query) {
        snprintf(msg, sizeof msg, "parameter 'q' is longer than %d bytes", app->cfg.max_query);
        return send_error(c, 400, "invalid_request", msg);
    }
    scry_err qerr = {0};
    if (app_check_query(p.q, &qerr) != SCRY_OK) return send_error(c, 400, "invalid_query", qerr.msg);
    long long limit, offset;
    if (!parse_int_arg(c, "limit", 1, 200, 20, &limit, msg, sizeof msg) ||
        !parse_int_arg(c, "offset", 0, 10000, 0, &offset, msg, sizeof msg))
        return send_error(c, 400, "invalid_request", msg);
    p.limit = (int)limit;
    p.offset = (int)offset;
    const char *sort = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "sort");
    if (sort && strcmp(sort, "date") == 0) p.sort = SORT_DATE;
    else if (sort && strcmp(sort, "relevance") != 0)
        return send_error(c, 400, "invalid_request", "parameter 'sort' must be relevance or date");
    /* For benchmarks (bench/retrieval): rank by one signal alone, and/or
     * keep results below the relevance floor. */
    const char *mode = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "mode");
    if (mode && strcmp(mode, "bm25") == 0) p.mode = SEARCH_BM25_ONLY;
    else if (mode && strcmp(mode, "vector") == 0) p.mode = SEARCH_VECTOR_ONLY;
    else if (mode && strcmp(mode, "image") == 0) p.mode = SEARCH_IMAGE_ONLY;
    else if (mode && strcmp(mode, "fused") != 0)
        return send_error(c, 400, "invalid_request", "parameter 'mode' must be fused, bm25, vector or image");
    const char *floor_arg = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "floor");
    if (floor_arg && (!strcmp(floor_arg, "off") || !strcmp(floor_arg, "0"))) p.no_floor = 1;
    else if (floor_arg && strcmp(floor_arg, "on") != 0 && strcmp(floor_arg, "1") != 0)
        return send_error(c, 400, "invalid_request", "parameter 'floor' must be on or off");
    const char *sig_arg = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "signals");
    if (sig_arg && (!strcmp(sig_arg, "on") || !strcmp(sig_arg, "1"))) p.signals = 1;
    else if (sig_arg && strcmp(sig_arg, "off") != 0 && strcmp(sig_arg, "0") != 0)
        return send_error(c, 400, "invalid_request", "parameter 'signals' must be on or off");
    p.label = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "label");
    p.emotion = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "emotion");
    const char *ht = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "has_text");
    if (ht) {
        if (!strcmp(ht, "true") || !strcmp(ht, "1")) p.has_text = 1;
        else if (!strcmp(ht, "false") || !strcmp(ht, "0")) p.has_text = 0;
        else return send_error(c, 400, "invalid_request", "parameter 'has_text' must be true or false");
    }
    const char *from = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "from");
    const char *to = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "to");
    if (from && !parse_date_arg(from, 0, &p.from))
        return send_error(c, 400, "invalid_request", "parameter 'from' must be YYYY, YYYY-MM or YYYY-MM-DD");
    if (to && !parse_date_arg(to, 1, &p.to))
        return send_error(c, 400, "invalid_request", "parameter 'to' must be YYYY, YYYY-MM or YYYY-MM-DD");
    search_response res;
    scry_err err = {0};
    double t0 = scry_mono_s();
    int rc = search_run(app->search, &p, &res, &err);
    if (rc != SCRY_OK) return send_scry_error(c, rc, &err);
    json_t *doc = render_search(p.q, &res);
    json_object_set_new(doc, "took_ms", json_real((scry_mono_s() - t0) * 1000));
    search_response_free(&res);
    return send_json(c, 200, doc);
}

static enum MHD_Result send_blob(struct MHD_Connection *c, scry_app *app, const char *sha,
                                 const char *ctype) {
    char path[2048];
    scry_err err = {0};
    int rc = blob_local_path(app->blobs, sha, path, sizeof path, &err);
    if (rc == SCRY_OK) {
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        struct stat st;
        if (fd >= 0 && fstat(fd, &st) == 0) {
            struct MHD_Response *r = MHD_create_response_from_fd((uint64_t)st.st_size, fd);
            if (!r) {
                close(fd);
                return MHD_NO;
            }
            MHD_add_response_header(r, "Content-Type", ctype);
            /* Content-addressed, so immutable; but with auth on, a shared
             * cache must not keep a private image for others. */
            MHD_add_response_header(r, "Cache-Control",
                                    g_srv && g_srv->auth_on ? "private, max-age=31536000, immutable"
                                                            : "public, max-age=31536000, immutable");
            MHD_add_response_header(r, "ETag", sha);
            return queue(c, 200, r);
        }
        if (fd >= 0) close(fd);
        return send_error(c, 500, "io_error", "blob missing from the store");
    }
    void *data = NULL;
    size_t n = 0;
    rc = blob_get(app->blobs, sha, &data, &n, &err);
    if (rc != SCRY_OK) return send_scry_error(c, rc, &err);
    return send_body(c, 200, ctype, data, n);
}

static enum MHD_Result handle_image(struct MHD_Connection *c, req_state *rs, const char *method,
                                    const char *id, const char *sub) {
    scry_app *app = rs->app;
    if (!scry_id_valid(id)) return send_error(c, 404, "not_found", "no such image");
    scry_err err = {0};
    if (!strcmp(method, "DELETE") && !sub) {
        int rc = app_delete_image(app, id, &err);
        if (rc != SCRY_OK) return send_scry_error(c, rc, &err);
        audit(rs, "delete", "image=%s", id);
        return send_body(c, 204, "application/json", NULL, 0);
    }
    if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
        return send_error(c, 405, "method_not_allowed", "use GET or DELETE");
    image_rec r;
    int rc = meta_image_get(app->meta, id, &r, &err);
    if (rc != SCRY_OK) return send_scry_error(c, rc, &err);
    enum MHD_Result out;
    if (!sub) {
        json_t *doc = render_image(&r);
        people_api_enrich_image(app, &r, doc);
        out = send_json(c, 200, doc);
    } else if (!strcmp(sub, "content")) {
        out = send_blob(c, app, r.sha256, img_mime(r.format));
    } else if (!strcmp(sub, "thumbnail")) {
        if (!r.thumb_sha256[0])
            out = send_error(c, 404, "not_ready", "the thumbnail is made by the indexing job; "
                                                  "it is not ready yet");
        else out = send_blob(c, app, r.thumb_sha256, "image/jpeg");
    } else {
        out = send_error(c, 404, "not_found", "no such resource");
    }
    image_rec_free(&r);
    return out;
}

static enum MHD_Result handle_jobs(struct MHD_Connection *c, scry_app *app, const char *id) {
    scry_err err = {0};
    if (id) {
        if (!scry_id_valid(id)) return send_error(c, 404, "not_found", "no such job");
        job_rec j;
        int rc = meta_job_get(app->meta, id, &j, &err);
        if (rc != SCRY_OK) return send_scry_error(c, rc, &err);
        json_t *doc = render_job(&j, 1);
        job_rec_free(&j);
        return send_json(c, 200, doc);
    }
    long long limit;
    char msg[200];
    if (!parse_int_arg(c, "limit", 1, 1000, 50, &limit, msg, sizeof msg))
        return send_error(c, 400, "invalid_request", msg);
    job_rec *jobs = NULL;
    int n = 0;
    int rc = meta_job_list(app->meta, (int)limit, &jobs, &n, &err);
    if (rc != SCRY_OK) return send_scry_error(c, rc, &err);
    json_t *arr = json_array();
    for (int i = 0; i < n; i++) {
        json_array_append_new(arr, render_job(&jobs[i], 0));
        job_rec_free(&jobs[i]);
    }
    free(jobs);
    json_t *doc = json_object();
    json_object_set_new(doc, "jobs", arr);
    return send_json(c, 200, doc);
}

static enum MHD_Result handle_image_list(struct MHD_Connection *c, scry_app *app) {
    long long limit, offset;
    char msg[200];
    if (!parse_int_arg(c, "limit", 1, 1000, 50, &limit, msg, sizeof msg) ||
        !parse_int_arg(c, "offset", 0, 1000000, 0, &offset, msg, sizeof msg))
        return send_error(c, 400, "invalid_request", msg);
    image_rec *recs = NULL;
    int n = 0;
    scry_err err = {0};
    int rc = meta_image_list(app->meta, (int)offset, (int)limit, &recs, &n, &err);
    if (rc != SCRY_OK) return send_scry_error(c, rc, &err);
    json_t *arr = json_array();
    for (int i = 0; i < n; i++) {
        json_array_append_new(arr, render_image(&recs[i]));
        image_rec_free(&recs[i]);
    }
    free(recs);
    json_t *doc = json_object();
    json_object_set_new(doc, "images", arr);
    json_object_set_new(doc, "total", json_integer(meta_image_count(app->meta)));
    return send_json(c, 200, doc);
}

static enum MHD_Result handle_metrics(struct MHD_Connection *c, scry_app *app) {
    char *text = metrics_render();
    if (!text) return send_error(c, 500, "out_of_memory", "out of memory");
    meta_stats st;
    scry_err err = {0};
    char *full = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&full, &len);
    if (!f) {
        free(text);
        return send_error(c, 500, "out_of_memory", "out of memory");
    }
    fputs(text, f);
    free(text);
    if (meta_get_stats(app->meta, &st, &err) == SCRY_OK) {
        fprintf(f, "# HELP scry_jobs Jobs by status\n# TYPE scry_jobs gauge\n");
        fprintf(f, "scry_jobs{status=\"pending\"} %lld\n", (long long)st.jobs_pending);
        fprintf(f, "scry_jobs{status=\"running\"} %lld\n", (long long)st.jobs_running);
        fprintf(f, "scry_jobs{status=\"completed\"} %lld\n", (long long)st.jobs_completed);
        fprintf(f, "scry_jobs{status=\"failed\"} %lld\n", (long long)st.jobs_failed);
        fprintf(f, "# HELP scry_images Images by status\n# TYPE scry_images gauge\n");
        fprintf(f, "scry_images{status=\"pending\"} %lld\n", (long long)st.images_pending);
        fprintf(f, "scry_images{status=\"ready\"} %lld\n", (long long)st.images_ready);
        fprintf(f, "scry_images{status=\"failed\"} %lld\n", (long long)st.images_failed);
        fprintf(f, "# HELP scry_queue_items Work items waiting\n# TYPE scry_queue_items gauge\n");
        fprintf(f, "scry_queue_items %lld\n", (long long)st.items_pending);
    }
    if (app->people) {
        people_stats ps;
        people_get_stats(app->people, &ps);
        fprintf(f, "# HELP scry_people_faces Faces with a descriptor (people on)\n"
                   "# TYPE scry_people_faces gauge\nscry_people_faces %d\n", ps.faces);
        fprintf(f, "# HELP scry_people_persons People, candidates included\n"
                   "# TYPE scry_people_persons gauge\nscry_people_persons %d\n", ps.persons);
        fprintf(f, "# HELP scry_people_pending Faces not clustered yet\n"
                   "# TYPE scry_people_pending gauge\nscry_people_pending %d\n", ps.pending);
    }
    hnsw_stats ix;
    if (search_index_stats(app->search, &ix) == SCRY_OK) {
        fprintf(f, "# HELP scry_index_nodes ANN index graph nodes, tombstones included\n"
                   "# TYPE scry_index_nodes gauge\nscry_index_nodes %zu\n", ix.nodes);
        fprintf(f, "# HELP scry_index_live Searchable vectors in the ANN index\n"
                   "# TYPE scry_index_live gauge\nscry_index_live %zu\n", ix.live);
        fprintf(f, "# HELP scry_index_tombstones Deleted ANN index entries awaiting compaction\n"
                   "# TYPE scry_index_tombstones gauge\nscry_index_tombstones %zu\n", ix.deleted);
        fprintf(f, "# HELP scry_index_bytes ANN index memory (heap plus mapped file)\n"
                   "# TYPE scry_index_bytes gauge\nscry_index_bytes %zu\n", ix.bytes_heap + ix.bytes_mapped);
    }
    fclose(f);
    return send_body(c, 200, "text/plain; version=0.0.4", full, len);
}

/* ---- access: sessions and keys ------------------------------------------------ */

static json_t *scope_list(unsigned mask) {
    json_t *arr = json_array();
    static const char *const names[] = {"read", "write", "admin"};
    for (unsigned i = 0; i < 3; i++)
        if (mask & (1u << i)) json_array_append_new(arr, json_string(names[i]));
    return arr;
}

static json_t *session_doc(const http_server *srv, int signed_in, unsigned scopes) {
    json_t *doc = json_object();
    json_object_set_new(doc, "auth", json_boolean(srv->auth_on));
    json_object_set_new(doc, "signed_in", json_boolean(signed_in));
    /* With auth off every route is open, so every scope is in effect. */
    json_object_set_new(doc, "scopes", scope_list(srv->auth_on ? scopes : SCOPE_ALL));
    return doc;
}

static enum MHD_Result handle_session(struct MHD_Connection *c, http_server *srv, req_state *rs,
                                      const char *method) {
    const char *secure = srv->tls ? "; Secure" : "";
    if (!strcmp(method, "GET") || !strcmp(method, "HEAD"))
        return send_json(c, 200, session_doc(srv, rs->who.via_session, rs->who.scopes));
    if (!strcmp(method, "DELETE")) {
        const char *token = MHD_lookup_connection_value(c, MHD_COOKIE_KIND, "scry_session");
        if (token) auth_session_drop(srv->auth, token);
        if (rs->who.via_session) audit(rs, "session.delete", "-");
        char c1[160], c2[160];
        snprintf(c1, sizeof c1, "scry_session=; Path=/; Max-Age=0; HttpOnly; SameSite=Strict%s", secure);
        snprintf(c2, sizeof c2, "scry_csrf=; Path=/; Max-Age=0; SameSite=Strict%s", secure);
        const char *h[] = {"Set-Cookie", c1, "Set-Cookie", c2, "Cache-Control", "no-store", NULL};
        return send_json_with(c, 200, session_doc(srv, 0, 0), h);
    }
    /* POST: sign in with a key. */
    char key[AUTH_KEY_LEN + 1];
    scry_err err = {0};
    if (auth_parse_session_body(rs->body, rs->body_len, key, &err) != SCRY_OK)
        return send_error(c, 400, "invalid_request", err.msg);
    if (!srv->auth_on) return send_json(c, 200, session_doc(srv, 0, 0));
    auth_principal who;
    int rc = auth_verify_key(srv->auth, key, &who);
    if (rc == SCRY_EIO) return send_error(c, 503, "busy", "cannot check the key now; try again");
    if (rc != SCRY_OK) {
        metrics_add(M_AUTH_DENIED, 1);
        log_info("auth.denied", "ip=%s route=session reason=\"unknown or revoked key\"", rs->ip);
        return send_error(c, 401, "unauthorized", "unknown or revoked API key");
    }
    char token[AUTH_TOKEN_LEN + 1], csrf[AUTH_TOKEN_LEN + 1];
    if ((rc = auth_session_create(srv->auth, &who, token, csrf, &err)) != SCRY_OK)
        return send_scry_error(c, rc, &err);
    rs->who = who;
    rs->who.via_session = 1;
    audit(rs, "session.create", "-");
    char c1[256], c2[256];
    long max_age = (long)(AUTH_SESSION_MAX_MS / 1000);
    snprintf(c1, sizeof c1, "scry_session=%s; Path=/; Max-Age=%ld; HttpOnly; SameSite=Strict%s",
             token, max_age, secure);
    snprintf(c2, sizeof c2, "scry_csrf=%s; Path=/; Max-Age=%ld; SameSite=Strict%s", csrf, max_age,
             secure);
    const char *h[] = {"Set-Cookie", c1, "Set-Cookie", c2, "Cache-Control", "no-store", NULL};
    return send_json_with(c, 200, session_doc(srv, 1, who.scopes), h);
}

static json_t *key_doc(const key_rec *k) {
    json_t *o = json_object();
    char when[32];
    unsigned mask = 0;
    auth_scopes_parse(k->scopes, &mask, NULL);
    json_object_set_new(o, "id", json_string(k->id));
    json_object_set_new(o, "name", json_string(k->name));
    json_object_set_new(o, "scopes", scope_list(mask));
    scry_iso8601(k->created_at, when);
    json_object_set_new(o, "created_at", json_string(when));
    if (k->last_used_at) scry_iso8601(k->last_used_at, when);
    json_object_set_new(o, "last_used_at", k->last_used_at ? json_string(when) : json_null());
    if (k->revoked_at) scry_iso8601(k->revoked_at, when);
    json_object_set_new(o, "revoked_at", k->revoked_at ? json_string(when) : json_null());
    return o;
}

static enum MHD_Result handle_keys(struct MHD_Connection *c, http_server *srv, req_state *rs,
                                   const char *method, const char *id) {
    scry_err err = {0};
    if (id) {                                   /* DELETE /v1/keys/{id} */
        if (!scry_id_valid(id)) return send_error(c, 404, "not_found", "no such key");
        int rc = auth_revoke_key(srv->auth, id, &err);
        if (rc != SCRY_OK) return send_scry_error(c, rc, &err);
        audit(rs, "key.revoke", "target=%s", id);
        return send_body(c, 204, "application/json", NULL, 0);
    }
    if (!strcmp(method, "POST")) {
        char name[128];
        unsigned scopes;
        if (auth_parse_key_body(rs->body, rs->body_len, name, &scopes, &err) != SCRY_OK)
            return send_error(c, 400, "invalid_request", err.msg);
        char key[AUTH_KEY_LEN + 1];
        key_rec k;
        int rc = auth_key_create(rs->app->meta, name, scopes, key, &k, &err);
        if (rc != SCRY_OK) return send_scry_error(c, rc, &err);
        audit(rs, "key.create", "target=%s scopes=%s", k.id, k.scopes);
        json_t *doc = key_doc(&k);
        json_object_set_new(doc, "key", json_string(key));
        const char *h[] = {"Cache-Control", "no-store", NULL};
        return send_json_with(c, 201, doc, h);
    }
    key_rec *keys = NULL;
    int n = 0;
    int rc = meta_key_list(rs->app->meta, &keys, &n, &err);
    if (rc != SCRY_OK) return send_scry_error(c, rc, &err);
    json_t *arr = json_array();
    for (int i = 0; i < n; i++) json_array_append_new(arr, key_doc(&keys[i]));
    free(keys);
    json_t *doc = json_object();
    json_object_set_new(doc, "keys", arr);
    return send_json(c, 200, doc);
}

/* ---- browsing (app/browse.h) and the API's description ---------------------- */

static enum MHD_Result handle_similar(struct MHD_Connection *c, scry_app *app, const char *id) {
    if (!scry_id_valid(id)) return send_error(c, 404, "not_found", "no such image");
    long long limit, offset;
    char msg[200];
    if (!parse_int_arg(c, "limit", 1, 200, 20, &limit, msg, sizeof msg) ||
        !parse_int_arg(c, "offset", 0, 1000, 0, &offset, msg, sizeof msg))
        return send_error(c, 400, "invalid_request", msg);
    json_t *doc = NULL;
    scry_err err = {0};
    int rc = browse_similar(app, id, (int)limit, (int)offset, &doc, &err);
    if (rc != SCRY_OK) return send_scry_error(c, rc, &err);
    return send_json(c, 200, doc);
}

static enum MHD_Result handle_facets(struct MHD_Connection *c, scry_app *app) {
    json_t *doc = NULL;
    scry_err err = {0};
    int rc = browse_facets(app, &doc, &err);
    if (rc != SCRY_OK) return send_scry_error(c, rc, &err);
    return send_json(c, 200, doc);
}

static enum MHD_Result handle_openapi(struct MHD_Connection *c) {
    size_t len = 0;
    const char *doc = openapi_document(&len);
    char *copy = malloc(len + 1);
    if (!copy) return send_error(c, 500, "out_of_memory", "out of memory");
    memcpy(copy, doc, len + 1);
    return send_body(c, 200, "application/json", copy, len);
}

/* ---- routes ---------------------------------------------------------------------- */

/* Every route: the methods it serves (for 405's Allow) and the scope each
 * needs. SCOPE_NONE routes are public (health, the session itself). */
enum { SCOPE_NONE = 0 };
enum route_id { R_NONE, R_HEALTH, R_METRICS, R_SEARCH, R_IMAGES, R_IMAGE, R_IMAGE_SUB, R_JOBS,
                R_JOB, R_SESSION, R_KEYS, R_KEY, R_SIMILAR, R_FACETS, R_OPENAPI, R_PEOPLE, R_WEB };

typedef struct route {
    enum route_id id;
    const char *allow;          /* for 405 and OPTIONS */
    unsigned get, post, del, patch; /* scope per method; ~0u = method not served */
} route;

#define NO ~0u
static const route g_routes[] = {
    {R_HEALTH, "GET, HEAD, OPTIONS", SCOPE_NONE, NO, NO, NO},
    {R_METRICS, "GET, HEAD, OPTIONS", SCOPE_ADMIN, NO, NO, NO},
    {R_SEARCH, "GET, HEAD, OPTIONS", SCOPE_READ, NO, NO, NO},
    {R_IMAGES, "GET, HEAD, POST, OPTIONS", SCOPE_READ, SCOPE_WRITE, NO, NO},
    {R_IMAGE, "GET, HEAD, DELETE, OPTIONS", SCOPE_READ, NO, SCOPE_ADMIN, NO},
    {R_IMAGE_SUB, "GET, HEAD, OPTIONS", SCOPE_READ, NO, NO, NO},
    {R_JOBS, "GET, HEAD, OPTIONS", SCOPE_READ, NO, NO, NO},
    {R_JOB, "GET, HEAD, OPTIONS", SCOPE_READ, NO, NO, NO},
    {R_SESSION, "GET, HEAD, POST, DELETE, OPTIONS", SCOPE_NONE, SCOPE_NONE, SCOPE_NONE, NO},
    {R_KEYS, "GET, HEAD, POST, OPTIONS", SCOPE_ADMIN, SCOPE_ADMIN, NO, NO},
    {R_KEY, "DELETE, OPTIONS", NO, NO, SCOPE_ADMIN, NO},
    {R_SIMILAR, "GET, HEAD, OPTIONS", SCOPE_READ, NO, NO, NO},
    {R_FACETS, "GET, HEAD, OPTIONS", SCOPE_READ, NO, NO, NO},
    {R_OPENAPI, "GET, HEAD, OPTIONS", SCOPE_NONE, NO, NO, NO},
    /* /v1/people..., /v1/faces/... (http/people_api.h, which answers 405
     * per path): reading needs read, naming, merging, moving and forgetting
     * write (no photo or face is ever deleted there) */
    {R_PEOPLE, "GET, HEAD, POST, PATCH, DELETE, OPTIONS", SCOPE_READ, SCOPE_WRITE, SCOPE_WRITE,
     SCOPE_WRITE},
    /* the web app's pages and files: public, or its sign-in page could not load */
    {R_WEB, "GET, HEAD, OPTIONS", SCOPE_NONE, NO, NO, NO},
};
#undef NO

/* path (trailing '/' already dropped) -> route; *a and *b point at the id
 * and sub-resource inside path (which is modified: '/' -> NUL). Paths
 * outside /v1/ that the web app answers are R_WEB. */
static const route *route_of(const http_server *srv, char *path, char **a, char **b) {
    *a = *b = NULL;
    enum route_id id = R_NONE;
    if (!strcmp(path, "/healthz")) id = R_HEALTH;
    else if (!strcmp(path, "/metrics")) id = R_METRICS;
    else if (!strcmp(path, "/v1/search")) id = R_SEARCH;
    else if (!strcmp(path, "/v1/images")) id = R_IMAGES;
    else if (!strcmp(path, "/v1/jobs")) id = R_JOBS;
    else if (!strcmp(path, "/v1/session")) id = R_SESSION;
    else if (!strcmp(path, "/v1/keys")) id = R_KEYS;
    else if (!strcmp(path, "/v1/facets")) id = R_FACETS;
    else if (!strcmp(path, "/v1/openapi.json")) id = R_OPENAPI;
    else if (!strncmp(path, "/v1/images/", 11)) {
        *a = path + 11;
        char *sub = strchr(*a, '/');
        if (sub) *sub++ = 0;
        if (sub && (strchr(sub, '/') || (strcmp(sub, "content") && strcmp(sub, "thumbnail") &&
                                         strcmp(sub, "similar"))))
            return NULL;
        *b = sub;
        id = !sub ? R_IMAGE : !strcmp(sub, "similar") ? R_SIMILAR : R_IMAGE_SUB;
    } else if (!strncmp(path, "/v1/jobs/", 9)) {
        *a = path + 9;
        if (strchr(*a, '/')) return NULL;
        id = R_JOB;
    } else if (!strncmp(path, "/v1/keys/", 9)) {
        *a = path + 9;
        if (strchr(*a, '/')) return NULL;
        id = R_KEY;
    } else if (people_api_route(path)) {
        id = R_PEOPLE;
    } else if (strncmp(path, "/v1/", 4) != 0) {
        /* whatever the web app answers (its pages, its files, its 404s) */
        web_reply wr;
        if (web_assets_lookup(srv->web, "GET", path, NULL, NULL, &wr)) id = R_WEB;
    }
    for (size_t i = 0; i < sizeof g_routes / sizeof *g_routes; i++)
        if (g_routes[i].id == id) return &g_routes[i];
    return NULL;
}

static unsigned scope_for(const route *rt, const char *method) {
    if (!strcmp(method, "GET") || !strcmp(method, "HEAD")) return rt->get;
    if (!strcmp(method, "POST")) return rt->post;
    if (!strcmp(method, "DELETE")) return rt->del;
    if (!strcmp(method, "PATCH")) return rt->patch;
    return ~0u;
}

static int state_changing(const char *method) {
    return !strcmp(method, "POST") || !strcmp(method, "PUT") || !strcmp(method, "PATCH") ||
           !strcmp(method, "DELETE");
}

static enum MHD_Result send_429(struct MHD_Connection *c, int wait, const char *what) {
    char secs[16], msg[120];
    snprintf(secs, sizeof secs, "%d", wait);
    snprintf(msg, sizeof msg, "too many requests from this %s; retry in %d s", what, wait);
    metrics_add(M_RATE_LIMITED, 1);
    const char *h[] = {"Retry-After", secs, NULL};
    return send_json_with(c, 429, render_error("rate_limited", msg), h);
}

static enum MHD_Result deny(struct MHD_Connection *c, req_state *rs, unsigned status,
                            const char *code, const char *why, const char *url) {
    metrics_add(M_AUTH_DENIED, 1);
    log_info("auth.denied", "ip=%s status=%u key=%s path=\"%.100s\" reason=\"%s\"", rs->ip, status,
             rs->who.key_id[0] ? rs->who.key_id : "-", url, why);
    return send_error(c, status, code, why);
}

/* Who is asking: a bearer key, else a session cookie. 0 when nobody (or a
 * bad key: *bad set), SCRY_EIO when the key store cannot answer. */
static int identify(struct MHD_Connection *c, http_server *srv, auth_principal *who, int *bad) {
    *bad = 0;
    const char *authz = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
    if (authz) {
        if (strncasecmp(authz, "Bearer ", 7) != 0) {
            *bad = 1;
            return 0;
        }
        const char *key = authz + 7;
        while (*key == ' ') key++;
        int rc = auth_verify_key(srv->auth, key, who);
        if (rc == SCRY_EIO) return SCRY_EIO;
        if (rc != SCRY_OK) *bad = 1;
        return rc == SCRY_OK;
    }
    const char *token = MHD_lookup_connection_value(c, MHD_COOKIE_KIND, "scry_session");
    if (!token) return 0;
    int rc = auth_session_get(srv->auth, token, who);
    if (rc == SCRY_EIO) return SCRY_EIO;
    if (rc != SCRY_OK) *bad = 1;
    return rc == SCRY_OK;
}

/* The first call of a request (its head is in): everything that can refuse
 * it before a byte of its body is read. MHD_YES to go on; otherwise the
 * answer is queued (or the connection dropped) and *done is set. */
static enum MHD_Result admit(struct MHD_Connection *c, http_server *srv, req_state *rs,
                             const char *url, const char *method, int *done) {
    *done = 1;
    char code[40], msg[200];
    unsigned bad = guard_check_request(srv->guard, c, code, msg);
    if (bad == 1) return MHD_NO;
    if (bad) {
        log_info("http.refused", "ip=%s status=%u reason=\"%s\"", rs->ip, bad, msg);
        const char *h[] = {"Connection", "close", NULL};
        return send_json_with(c, bad, render_error(code, msg), h);
    }
    int wait = ratelimit_take(srv->rl_ip, rs->ip);
    if (wait) return send_429(c, wait, "address");

    char path[512];
    if (strlen(url) >= sizeof path) return send_error(c, 404, "not_found", "no such resource");
    strcpy(path, url);
    size_t plen = strlen(path);
    if (plen > 1 && path[plen - 1] == '/') path[plen - 1] = 0;
    char *a, *b;
    const route *rt = route_of(srv, path, &a, &b);
    if (!rt) return send_error(c, 404, "not_found", "no such resource");
    if (!strcmp(method, "OPTIONS")) {           /* CORS preflight, or a plain question */
        const char *h[] = {"Allow", rt->allow,
                           "Access-Control-Allow-Methods", rt->allow,
                           "Access-Control-Allow-Headers",
                           "Authorization, Content-Type, X-CSRF-Token, X-Filename",
                           "Access-Control-Max-Age", "600", NULL};
        const char *origin = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Origin");
        struct MHD_Response *r = MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
        if (!r) return MHD_NO;
        for (int i = 0; h[i]; i += 2)
            if (i == 0 || origin_allowed(origin)) MHD_add_response_header(r, h[i], h[i + 1]);
        return queue(c, 204, r);
    }
    unsigned need = scope_for(rt, method);
    if (need == ~0u) {
        char m[120];
        snprintf(m, sizeof m, "%.20s is not served here; use %s", method, rt->allow);
        const char *h[] = {"Allow", rt->allow, NULL};
        return send_json_with(c, 405, render_error("method_not_allowed", m), h);
    }
    if (srv->auth_on) {
        int badkey;
        int rc = identify(c, srv, &rs->who, &badkey);
        if (rc == SCRY_EIO) return send_error(c, 503, "busy", "cannot check the key now; try again");
        if (need != SCOPE_NONE) {
            if (!rc)
                return deny(c, rs, 401, "unauthorized",
                            badkey ? "unknown or revoked API key"
                                   : "this route needs an API key (Authorization: Bearer ...)",
                            url);
            if ((rs->who.scopes & need) != need) {
                char why[100];
                snprintf(why, sizeof why, "this key lacks the '%s' scope",
                         need == SCOPE_READ ? "read" : need == SCOPE_WRITE ? "write" : "admin");
                return deny(c, rs, 403, "forbidden", why, url);
            }
        }
        /* Cookies ride along on cross-site requests; a header does not. */
        int sign_in = rt->id == R_SESSION && !strcmp(method, "POST");
        if (rc && rs->who.via_session && state_changing(method) && !sign_in) {
            const char *tok = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-CSRF-Token");
            if (!tok || !auth_token_equal(tok, rs->who.csrf))
                return deny(c, rs, 403, "csrf", "missing or wrong X-CSRF-Token header", url);
        }
        if (rc && (wait = ratelimit_take(srv->rl_key, rs->who.key_id)))
            return send_429(c, wait, "key");
    }
    *done = 0;
    return MHD_YES;
}

/* ---- people (http/people_api.h) ------------------------------------------------- */

static const char *query_arg(void *ctx, const char *name) {
    return MHD_lookup_connection_value(ctx, MHD_GET_ARGUMENT_KIND, name);
}

static enum MHD_Result handle_people(struct MHD_Connection *c, req_state *rs, const char *method,
                                     const char *path) {
    api_reply r;
    people_api_handle(rs->app, method, path, rs->body, rs->body_len, query_arg, c, &r);
    if (r.status < 400 && state_changing(method))
        audit(rs, "people", "method=%s path=%s status=%u", method, path, r.status);
    if (r.doc) return send_json(c, r.status, r.doc);
    if (r.bytes) return send_body(c, r.status, r.ctype, r.bytes, r.len);
    return send_body(c, r.status ? r.status : 204, "application/json", NULL, 0);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version,
                                  const char *upload_data, size_t *upload_data_size,
                                  void **con_cls) {
    (void)version;
    http_server *srv = cls;
    scry_app *app = srv->app;
    /* Roles that take no uploads answer them below, body unread. */
    int is_upload = !strcmp(method, "POST") && !strcmp(url, "/v1/images") &&
                    (app->role == ROLE_ALL || app->role == ROLE_API);
    if (!*con_cls) {
        req_state *rs = calloc(1, sizeof *rs);
        if (!rs) return MHD_NO;
        rs->app = app;
        guard_client_ip(c, rs->ip);
        *con_cls = rs;
        int done;
        enum MHD_Result r = admit(c, srv, rs, url, method, &done);
        if (done) return r;
        if (is_upload) return begin_upload(c, rs);
        if (!strcmp(method, "POST") && !strcmp(url, "/v1/images"))    /* a role without uploads */
            req_fail(rs, 405, "method_not_allowed",
                     "this process runs as --role %s: send uploads to an api node",
                     app->role == ROLE_WORKER ? "worker" : "search");
        return MHD_YES;
    }
    req_state *rs = *con_cls;
    if (is_upload) return handle_upload(c, rs, upload_data, upload_data_size);
    if (*upload_data_size) {    /* a body: kept for the JSON routes, else ignored */
        guard_body_bytes(c, *upload_data_size);
        if (!rs->status && rs->body_len + *upload_data_size <= JSON_BODY_MAX) {
            char *nb = realloc(rs->body, rs->body_len + *upload_data_size + 1);
            if (nb) {
                memcpy(nb + rs->body_len, upload_data, *upload_data_size);
                rs->body = nb;
                rs->body_len += *upload_data_size;
                nb[rs->body_len] = 0;
            }
        } else if (!rs->status) {
            req_fail(rs, 413, "too_large", "request body over %d bytes", JSON_BODY_MAX);
        }
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (rs->status) return send_error(c, (unsigned)rs->status, rs->code, rs->message);

    char path[512];
    snprintf(path, sizeof path, "%s", url);
    size_t plen = strlen(path);
    if (plen > 1 && path[plen - 1] == '/') path[plen - 1] = 0;
    char *a, *b;
    const route *rt = route_of(srv, path, &a, &b);
    if (!rt) return send_error(c, 404, "not_found", "no such resource");
    switch (rt->id) {
    case R_HEALTH: {
        json_t *doc = json_object();
        json_object_set_new(doc, "status", json_string("ok"));
        static const char *const roles[] = {"all", "api", "worker", "search"};
        if (!srv->auth_on) {    /* with auth on, nothing about the deployment leaks */
            json_object_set_new(doc, "role", json_string(roles[app->role]));
            json_object_set_new(doc, "images", json_integer(meta_image_count(app->meta)));
        }
        return send_json(c, 200, doc);
    }
    case R_METRICS: return handle_metrics(c, app);
    default: break;
    }
    /* What a role does not serve (docs/scale.md). */
    if (app->role == ROLE_WORKER)
        return send_error(c, 404, "not_found",
                          "this process runs as --role worker: it serves /healthz and /metrics only");
    if (app->role == ROLE_SEARCH && (!strcmp(method, "POST") || !strcmp(method, "DELETE")) &&
        (rt->id == R_IMAGES || rt->id == R_IMAGE || rt->id == R_IMAGE_SUB))
        return send_error(c, 405, "method_not_allowed",
                          "this process runs as --role search: reads and searches only; send "
                          "uploads and deletes to an api node");
    switch (rt->id) {
    case R_SEARCH: return handle_search(c, app);
    case R_IMAGES: return handle_image_list(c, app);
    case R_IMAGE:
    case R_IMAGE_SUB: return handle_image(c, rs, method, a, b);
    case R_JOBS: return handle_jobs(c, app, NULL);
    case R_JOB: return handle_jobs(c, app, a);
    case R_SESSION: return handle_session(c, srv, rs, method);
    case R_KEYS: return handle_keys(c, srv, rs, method, NULL);
    case R_KEY: return handle_keys(c, srv, rs, method, a);
    case R_SIMILAR: return handle_similar(c, app, a);
    case R_FACETS: return handle_facets(c, app);
    case R_OPENAPI: return handle_openapi(c);
    case R_PEOPLE: return handle_people(c, rs, method, path);
    case R_WEB: {
        enum MHD_Result web_rc;
        if (web_assets_serve(srv->web, c, method, path, &web_rc)) return web_rc;
        return send_error(c, 404, "not_found", "no such resource");
    }
    default: return send_error(c, 404, "not_found", "no such resource");
    }
}

/* ---- start / stop ------------------------------------------------------------------- */

#define RATE_IP_AUTH 50.0         /* --rate-ip -1: requests/s per address with auth on */

static int is_loopback(const char *host) { return !strncmp(host, "127.", 4); }

int http_auth_required(const scry_config *cfg) {
    return !strcmp(cfg->auth, "on") || (!strcmp(cfg->auth, "auto") && !is_loopback(cfg->host));
}

/* With auth on and no key yet, mint an admin key and show it once, in the
 * log: whoever starts the server is the first admin. */
static int bootstrap_key(scry_app *app, scry_err *err) {
    int64_t active = meta_key_count_active(app->meta);
    if (active < 0) return scry_fail(err, SCRY_EIO, "cannot count API keys");
    if (active > 0) return SCRY_OK;
    char key[AUTH_KEY_LEN + 1];
    key_rec k;
    int rc = auth_key_create(app->meta, "bootstrap admin", SCOPE_ALL, key, &k, err);
    if (rc != SCRY_OK) return rc;
    log_warn("auth.bootstrap_key", "id=%s scopes=%s key=%s note=\"shown once, here only: "
             "store it now; 'scry keys' makes more\"", k.id, k.scopes, key);
    log_info("audit", "action=key.create key=- via=startup ip=- target=%s scopes=%s", k.id,
             k.scopes);
    return SCRY_OK;
}

/* Enough descriptors for the connection cap (plus files, SQLite, models). */
static int fit_connection_cap(int want) {
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return want;
    rlim_t need = (rlim_t)want + 256;
    if (rl.rlim_cur < need) {
        rl.rlim_cur = rl.rlim_max < need ? rl.rlim_max : need;
        setrlimit(RLIMIT_NOFILE, &rl);
        getrlimit(RLIMIT_NOFILE, &rl);
    }
    if (rl.rlim_cur < need) {
        int fit = rl.rlim_cur > 512 ? (int)rl.rlim_cur - 256 : (int)rl.rlim_cur / 2;
        log_warn("http.connection_cap", "wanted=%d fit=%d reason=\"file descriptor limit %llu\"",
                 want, fit, (unsigned long long)rl.rlim_cur);
        return fit;
    }
    return want;
}

static void free_server(http_server *s) {
    if (s->daemon) MHD_stop_daemon(s->daemon);
    web_assets_free(s->web);
    guard_free(s->guard);
    auth_free(s->auth);
    meta_close(s->auth_db);
    ratelimit_free(s->rl_ip);
    ratelimit_free(s->rl_key);
    if (g_srv == s) g_srv = NULL;
    free(s);
}

int http_start(http_server **out, scry_app *app, scry_err *err) {
    const scry_config *cfg = &app->cfg;
    http_server *s = calloc(1, sizeof *s);
    if (!s) return scry_fail(err, SCRY_ENOMEM, "out of memory");
    s->app = app;
    int rc;
    char *cert = NULL, *key = NULL;
    int lfd = -1;
    if (strcmp(cfg->auth, "on") && strcmp(cfg->auth, "off") && strcmp(cfg->auth, "auto")) {
        rc = scry_fail(err, SCRY_EINVAL, "--auth must be on, off or auto, got '%s'", cfg->auth);
        goto fail;
    }
    scry_err werr = {0};
    if (web_assets_open(&s->web, cfg->web_dir, &werr) == SCRY_OK)
        log_info("web.loaded", "dir=%s files=%d version=%s", cfg->web_dir, web_assets_count(s->web),
                 web_assets_version(s->web));
    else
        log_warn("web.unavailable", "reason=\"%s\" api_only=1", werr.msg);
    s->auth_on = http_auth_required(cfg);
    if (!s->auth_on && !is_loopback(cfg->host)) {
        rc = scry_fail(err, SCRY_EINVAL, "--auth off is only allowed on a loopback --host "
                       "(anyone who can reach %s could read and delete everything)", cfg->host);
        goto fail;
    }
    if (!!cfg->tls_cert[0] != !!cfg->tls_key[0]) {
        rc = scry_fail(err, SCRY_EINVAL, "--tls-cert and --tls-key go together");
        goto fail;
    }
    s->tls = cfg->tls_cert[0] != 0;
    if (s->tls) {
        size_t n;
        if (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES) {
            rc = scry_fail(err, SCRY_EUNSUPPORTED, "this libmicrohttpd has no TLS support");
            goto fail;
        }
        if ((rc = scry_read_file(cfg->tls_cert, (void **)&cert, &n, err)) != SCRY_OK ||
            (rc = scry_read_file(cfg->tls_key, (void **)&key, &n, err)) != SCRY_OK)
            goto fail;
    }
    char dbpath[1200];      /* the app's metadata store, a connection of its own */
    if (cfg->meta[0]) snprintf(dbpath, sizeof dbpath, "%s", cfg->meta);
    else snprintf(dbpath, sizeof dbpath, "%s/meta.db", cfg->data_dir);
    if ((rc = meta_open(&s->auth_db, dbpath, err)) != SCRY_OK ||
        (rc = auth_new(&s->auth, s->auth_db, err)) != SCRY_OK ||
        (rc = ratelimit_new(&s->rl_ip, cfg->rate_ip >= 0 ? cfg->rate_ip : s->auth_on ? RATE_IP_AUTH : 0,
                            cfg->rate_ip_burst, 8192, err)) != SCRY_OK ||
        (rc = ratelimit_new(&s->rl_key, cfg->rate_key, cfg->rate_key_burst, 1024, err)) != SCRY_OK)
        goto fail;
    if (s->auth_on && (rc = bootstrap_key(app, err)) != SCRY_OK) goto fail;
    int max_conns = fit_connection_cap(cfg->max_connections + cfg->max_connections / 2) * 2 / 3;
    guard_config gc = {
        .tls = s->tls,
        .header_timeout_s = cfg->header_timeout,
        .min_body_rate = cfg->min_body_rate,
        .max_connections = max_conns,
        .max_uri = (size_t)cfg->max_uri,
        .max_params = cfg->max_params,
    };
    if ((rc = guard_new(&s->guard, &gc, err)) != SCRY_OK) goto fail;
    if ((rc = guard_listen(cfg->host, cfg->port, cfg->header_timeout, &lfd, err)) != SCRY_OK)
        goto fail;
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ERROR_LOG;
    if (s->tls) flags |= MHD_USE_TLS;
    /* The per-connection pool holds the request head and libmicrohttpd's
     * records of it; 64 KiB fits --max-uri and --max-params with room. */
    s->daemon = MHD_start_daemon(
        flags, 0, NULL, NULL, on_request, s, MHD_OPTION_LISTEN_SOCKET, lfd,
        MHD_OPTION_THREAD_POOL_SIZE, (unsigned)cfg->http_threads,
        MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
        MHD_OPTION_NOTIFY_CONNECTION, guard_on_connection, s->guard,
        MHD_OPTION_URI_LOG_CALLBACK, guard_on_uri, s->guard,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)cfg->idle_timeout,
        /* libmicrohttpd splits its cap between the pool's threads and
         * refuses newcomers at it; the guard keeps the real cap (evicting
         * idle connections), so libmicrohttpd's is set above it. */
        MHD_OPTION_CONNECTION_LIMIT, (unsigned)(max_conns + max_conns / 2),
        MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)cfg->max_connections_per_ip,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)64 * 1024,
        s->tls ? MHD_OPTION_HTTPS_MEM_CERT : MHD_OPTION_END, cert,
        MHD_OPTION_HTTPS_MEM_KEY, key, MHD_OPTION_END);
    if (!s->daemon) {
        close(lfd);
        rc = scry_fail(err, SCRY_EIO, "cannot start the HTTP server on %s:%d%s", cfg->host,
                       cfg->port, s->tls ? " (check --tls-cert / --tls-key)" : "");
        goto fail;
    }
    if (key) OPENSSL_cleanse(key, strlen(key));
    free(cert);
    free(key);
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(s->daemon, MHD_DAEMON_INFO_BIND_PORT);
    s->port = info ? info->port : cfg->port;
    g_srv = s;
    log_info("http.started", "auth=%s tls=%d max_connections=%d per_ip=%d header_timeout=%d",
             s->auth_on ? "on" : "off", s->tls, max_conns, cfg->max_connections_per_ip,
             cfg->header_timeout);
    *out = s;
    return SCRY_OK;
fail:
    free(cert);
    free(key);
    free_server(s);
    return rc;
}

int http_port(const http_server *s) { return s->port; }

void http_stop(http_server *s) {
    if (!s) return;
    free_server(s);
}
