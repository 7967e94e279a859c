/* server.c -- see server.h. */
#include "http/server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "app/browse.h"
#include "app/render.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/util.h"
#include "http/assets.h"
#include "http/openapi.h"
#include "vision/image.h"

#define SNIFF_BYTES 32
#define MAX_PARTS 1000
/* How far past the upload limit we keep reading (and discarding) a body so
 * as to answer 413 properly, before we simply close the connection. */
#define DRAIN_LIMIT (64ull * 1024 * 1024)

struct http_server {
    struct MHD_Daemon *daemon;
    scry_app *app;
    int port;
    web_assets *web;            /* the web app served at / (NULL: not installed) */
};

/* One file of an upload, streaming into the blob store. */
typedef struct upload_part {
    blob_writer *w;
    char *filename;
    unsigned char head[SNIFF_BYTES];
    size_t headlen;
    const char *format;         /* sniffed; NULL = not (yet) an image */
    int announced;              /* opened by an empty call, no bytes yet */
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
} req_state;

/* ---- responses -------------------------------------------------------- */

static enum MHD_Result send_body(struct MHD_Connection *c, unsigned status, const char *ctype,
                                 char *body, size_t len) {
    struct MHD_Response *r =
        MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
    if (!r) {
        free(body);
        return MHD_NO;
    }
    MHD_add_response_header(r, "Content-Type", ctype);
    enum MHD_Result ok = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    metrics_add(M_HTTP_REQUESTS, 1);
    metrics_add(status < 300 ? M_HTTP_2XX : status < 500 ? M_HTTP_4XX : M_HTTP_5XX, 1);
    return ok;
}

static enum MHD_Result send_json(struct MHD_Connection *c, unsigned status, json_t *doc) {
    char *text = json_dumps(doc, JSON_COMPACT);
    json_decref(doc);
    if (!text) return MHD_NO;
    return send_body(c, status, "application/json", text, strlen(text));
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
    free(rs);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe) {
    (void)cls; (void)c; (void)toe;
    req_free(*con_cls);
    *con_cls = NULL;
}

/* Strip any directory part a client put in a filename. */
static char *clean_filename(const char *name, const char *fallback) {
    if (!name || !*name) return strdup(fallback);
    const char *base = strrchr(name, '/');
    base = base ? base + 1 : name;
    const char *b2 = strrchr(base, '\\');
    base = b2 ? b2 + 1 : base;
    if (!*base) return strdup(fallback);
    return strndup(base, 255);
}

static int same_filename(const upload_part *p, const char *filename) {
    char *clean = clean_filename(filename, "upload");
    int same = clean && strcmp(clean, p->filename) == 0;
    free(clean);
    return same;
}

static upload_part *part_new(req_state *rs, const char *filename) {
    if (rs->nparts >= MAX_PARTS) {
        req_fail(rs, 413, "too_large", "more than %d files in one request", MAX_PARTS);
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
    if (blob_writer_open(rs->app->blobs, &p->w, &err) != SCRY_OK) {
        req_fail(rs, 500, "io_error", "%s", err.msg);
        return NULL;
    }
    p->filename = clean_filename(filename, "upload");
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
    if (blob_writer_write(p->w, data, size, &err) != SCRY_OK)
        req_fail(rs, 500, "io_error", "%s", err.msg);
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
    free(imgs);
    return send_json(c, 202, doc);
}

static enum MHD_Result handle_upload(struct MHD_Connection *c, req_state *rs,
                                     const char *upload_data, size_t *upload_data_size) {
    uint64_t limit = (uint64_t)rs->app->cfg.max_upload_mb * 1024 * 1024;
    if (*upload_data_size > 0) {
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
            log_warn("upload.cut", "received=%llu limit=%llu",
                     (unsigned long long)rs->received, (unsigned long long)limit);
            return MHD_NO;      /* far past the limit: just hang up */
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

static enum MHD_Result handle_search(struct MHD_Connection *c, scry_app *app) {
    search_params p;
    search_params_init(&p);
    char msg[200];
    p.q = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "q");
    if (!p.q) return send_error(c, 400, "invalid_request", "missing parameter 'q'");
    scry_err qerr = {0};
    if (app_check_query(p.q, &qerr) != SCRY_OK) return send_error(c, 400, "invalid_query", qerr.msg);
    long long limit, offset;
    if (!parse_int_arg(c, "limit", 1, 200, 20, &limit, msg, sizeof msg) ||
        !parse_int_arg(c, "offset", 0, 1000000, 0, &offset, msg, sizeof msg))
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
            MHD_add_response_header(r, "Cache-Control", "public, max-age=31536000, immutable");
            MHD_add_response_header(r, "ETag", sha);
            enum MHD_Result ok = MHD_queue_response(c, 200, r);
            MHD_destroy_response(r);
            metrics_add(M_HTTP_REQUESTS, 1);
            metrics_add(M_HTTP_2XX, 1);
            return ok;
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

static enum MHD_Result handle_image(struct MHD_Connection *c, scry_app *app, const char *method,
                                    const char *id, const char *sub) {
    if (!scry_id_valid(id)) return send_error(c, 404, "not_found", "no such image");
    scry_err err = {0};
    if (!strcmp(method, "DELETE") && !sub) {
        int rc = app_delete_image(app, id, &err);
        if (rc != SCRY_OK) return send_scry_error(c, rc, &err);
        return send_body(c, 204, "application/json", NULL, 0);
    }
    if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
        return send_error(c, 405, "method_not_allowed", "use GET or DELETE");
    image_rec r;
    int rc = meta_image_get(app->meta, id, &r, &err);
    if (rc != SCRY_OK) return send_scry_error(c, rc, &err);
    enum MHD_Result out;
    if (!sub) {
        out = send_json(c, 200, render_image(&r));
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
        !parse_int_arg(c, "offset", 0, 100000000, 0, &offset, msg, sizeof msg))
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

/* ---- dispatch -------------------------------------------------------------- */

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
        *con_cls = rs;
        if (is_upload) return begin_upload(c, rs);
        return MHD_YES;
    }
    req_state *rs = *con_cls;
    if (is_upload) return handle_upload(c, rs, upload_data, upload_data_size);
    if (*upload_data_size) {    /* a body we do not want: ignore it */
        *upload_data_size = 0;
        return MHD_YES;
    }

    char path[512];
    if (strlen(url) >= sizeof path) return send_error(c, 404, "not_found", "no such resource");
    strcpy(path, url);
    size_t plen = strlen(path);
    if (plen > 1 && path[plen - 1] == '/') path[plen - 1] = 0;

    int is_get = !strcmp(method, "GET") || !strcmp(method, "HEAD");
    if ((!strcmp(path, "/healthz") || !strcmp(path, "/metrics")) && !is_get)
        return send_error(c, 405, "method_not_allowed", "use GET");
    if (!strcmp(path, "/healthz")) {
        json_t *doc = json_object();
        json_object_set_new(doc, "status", json_string("ok"));
        static const char *const roles[] = {"all", "api", "worker", "search"};
        json_object_set_new(doc, "role", json_string(roles[app->role]));
        json_object_set_new(doc, "images", json_integer(meta_image_count(app->meta)));
        return send_json(c, 200, doc);
    }
    if (!strcmp(path, "/metrics")) return handle_metrics(c, app);
    if (app->role == ROLE_WORKER)
        return send_error(c, 404, "not_found",
                          "this process runs as --role worker: it serves /healthz and /metrics only");
    if (app->role == ROLE_SEARCH && (!strcmp(method, "POST") || !strcmp(method, "DELETE")) &&
        !strncmp(path, "/v1/images", 10))
        return send_error(c, 405, "method_not_allowed",
                          "this process runs as --role search: reads and searches only; send "
                          "uploads and deletes to an api node");
    if (!strcmp(path, "/v1/openapi.json") || !strcmp(path, "/v1/facets")) {
        if (!is_get) return send_error(c, 405, "method_not_allowed", "use GET");
        return !strcmp(path, "/v1/facets") ? handle_facets(c, app) : handle_openapi(c);
    }
    if (!strcmp(path, "/v1/search")) {
        if (!is_get) return send_error(c, 405, "method_not_allowed", "use GET");
        return handle_search(c, app);
    }
    if (!strcmp(path, "/v1/images")) {
        if (!is_get) return send_error(c, 405, "method_not_allowed", "use GET or POST");
        return handle_image_list(c, app);
    }
    if (!strncmp(path, "/v1/images/", 11)) {
        char *id = path + 11;
        char *sub = strchr(id, '/');
        if (sub) *sub++ = 0;
        if (sub && strchr(sub, '/')) return send_error(c, 404, "not_found", "no such resource");
        if (sub && !strcmp(sub, "similar")) {
            if (!is_get) return send_error(c, 405, "method_not_allowed", "use GET");
            return handle_similar(c, app, id);
        }
        return handle_image(c, app, method, id, sub);
    }
    if (!strcmp(path, "/v1/jobs") || !strncmp(path, "/v1/jobs/", 9)) {
        if (!is_get) return send_error(c, 405, "method_not_allowed", "use GET");
        const char *id = path[8] == '/' ? path + 9 : NULL;
        if (id && strchr(id, '/')) return send_error(c, 404, "not_found", "no such resource");
        return handle_jobs(c, app, id);
    }
    enum MHD_Result web_rc;     /* the web app's pages and files (http/assets.h) */
    if (web_assets_serve(srv->web, c, method, path, &web_rc)) return web_rc;
    return send_error(c, 404, "not_found", "no such resource");
}

int http_start(http_server **out, scry_app *app, scry_err *err) {
    http_server *s = calloc(1, sizeof *s);
    if (!s) return scry_fail(err, SCRY_ENOMEM, "out of memory");
    s->app = app;
    struct sockaddr_in addr = {0};
    addr.sin_family = AF_INET;
    addr.sin_port = htons((uint16_t)app->cfg.port);
    if (inet_pton(AF_INET, app->cfg.host, &addr.sin_addr) != 1) {
        free(s);
        return scry_fail(err, SCRY_EINVAL, "--host must be an IPv4 address, got '%s'",
                         app->cfg.host);
    }
    scry_err werr = {0};
    if (web_assets_open(&s->web, app->cfg.web_dir, &werr) == SCRY_OK)
        log_info("web.loaded", "dir=%s files=%d version=%s", app->cfg.web_dir, web_assets_count(s->web),
                 web_assets_version(s->web));
    else
        log_warn("web.unavailable", "reason=\"%s\" api_only=1", werr.msg);
    s->daemon = MHD_start_daemon(
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ERROR_LOG, 0, NULL, NULL,
        on_request, s, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr,
        MHD_OPTION_THREAD_POOL_SIZE, (unsigned)app->cfg.http_threads,
        MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL, MHD_OPTION_CONNECTION_TIMEOUT,
        (unsigned)120, MHD_OPTION_CONNECTION_LIMIT, (unsigned)1000, MHD_OPTION_END);
    if (!s->daemon) {
        web_assets_free(s->web);
        free(s);
        return scry_fail(err, SCRY_EIO, "cannot listen on %s:%d (port in use?)", app->cfg.host,
                         app->cfg.port);
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(s->daemon, MHD_DAEMON_INFO_BIND_PORT);
    s->port = info ? info->port : app->cfg.port;
    *out = s;
    return SCRY_OK;
}

int http_port(const http_server *s) { return s->port; }

void http_stop(http_server *s) {
    if (!s) return;
    MHD_stop_daemon(s->daemon);
    web_assets_free(s->web);
    free(s);
}
