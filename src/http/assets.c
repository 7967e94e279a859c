/* assets.c -- see assets.h.
 *
 * Trade-offs: everything is loaded at start-up, so editing a file under
 * --web needs a restart (make + restart in development); in exchange a
 * request never touches the disk and gzip is paid once, at level 9. The
 * file table is sorted by path and searched with bsearch. */
#include "http/assets.h"

#include <dirent.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <zlib.h>

#include "core/log.h"
#include "core/metrics.h"
#include "core/util.h"

#define MAX_FILES 2000
#define MAX_TOTAL (64u << 20)
#define MAX_DEPTH 8
#define VERSION_PREFIX "/assets/"

typedef struct asset {
    char *path;                 /* "/js/main.js": relative to the folder, leading '/' */
    const char *ctype;
    char *data;
    size_t len;
    char *gz;                   /* NULL when gzip does not pay */
    size_t gzlen;
    char etag[24];              /* "<16 hex>" with the quotes */
    char etag_gz[28];           /* "<16 hex>.gz" */
} asset;

struct web_assets {
    asset *files;
    int n, cap;
    size_t total;
    const asset *index;         /* index.html */
    char version[13];
    char csp[600];
};

static const char *const g_pages[] = {"/", "/library", "/jobs", "/people", "/index.html"};

/* ---- loading ------------------------------------------------------------------ */

static const char *ctype_for(const char *path) {
    static const struct { const char *ext, *type; } types[] = {
        {".html", "text/html; charset=utf-8"},
        {".js", "text/javascript; charset=utf-8"},
        {".mjs", "text/javascript; charset=utf-8"},
        {".css", "text/css; charset=utf-8"},
        {".json", "application/json"},
        {".map", "application/json"},
        {".webmanifest", "application/manifest+json"},
        {".svg", "image/svg+xml"},
        {".png", "image/png"},
        {".jpg", "image/jpeg"},
        {".ico", "image/x-icon"},
        {".woff2", "font/woff2"},
        {".txt", "text/plain; charset=utf-8"},
        {".LICENSE", "text/plain; charset=utf-8"},
    };
    const char *dot = strrchr(path, '.');
    const char *slash = strrchr(path, '/');
    if (dot && (!slash || dot > slash))
        for (size_t i = 0; i < sizeof types / sizeof *types; i++)
            if (!strcmp(dot, types[i].ext)) return types[i].type;
    return "application/octet-stream";
}

static int is_text(const char *ctype) {
    return !strncmp(ctype, "text/", 5) || !strncmp(ctype, "application/json", 16) ||
           !strncmp(ctype, "application/manifest", 20) || !strcmp(ctype, "image/svg+xml");
}

/* gzip (with header, level 9) of a buffer; NULL when it saves under 10%. */
static char *gzip_of(const char *data, size_t len, size_t *outlen) {
    if (len < 256) return NULL;
    z_stream zs;
    memset(&zs, 0, sizeof zs);
    if (deflateInit2(&zs, 9, Z_DEFLATED, 15 + 16, 9, Z_DEFAULT_STRATEGY) != Z_OK) return NULL;
    size_t cap = deflateBound(&zs, (uLong)len) + 32;
    char *out = malloc(cap);
    if (!out) {
        deflateEnd(&zs);
        return NULL;
    }
    zs.next_in = (Bytef *)data;
    zs.avail_in = (uInt)len;
    zs.next_out = (Bytef *)out;
    zs.avail_out = (uInt)cap;
    int rc = deflate(&zs, Z_FINISH);
    size_t n = zs.total_out;
    deflateEnd(&zs);
    if (rc != Z_STREAM_END || n >= len - len / 10) {
        free(out);
        return NULL;
    }
    *outlen = n;
    return out;
}

static void set_etags(asset *a) {
    uint64_t h = scry_fnv1a(SCRY_FNV1A_INIT, a->data, a->len);
    snprintf(a->etag, sizeof a->etag, "\"%016llx\"", (unsigned long long)h);
    snprintf(a->etag_gz, sizeof a->etag_gz, "\"%016llx.gz\"", (unsigned long long)h);
}

static int add_file(web_assets *w, const char *full, const char *rel, scry_err *err) {
    if (w->n >= MAX_FILES)
        return scry_fail(err, SCRY_ETOOBIG, "web app folder has more than %d files", MAX_FILES);
    void *data = NULL;
    size_t len = 0;
    int rc = scry_read_file(full, &data, &len, err);
    if (rc) return rc;
    if (w->total + len > MAX_TOTAL) {
        free(data);
        return scry_fail(err, SCRY_ETOOBIG, "web app folder is over %u MiB", MAX_TOTAL >> 20);
    }
    if (w->n == w->cap) {
        int cap = w->cap ? w->cap * 2 : 64;
        asset *grown = realloc(w->files, (size_t)cap * sizeof *grown);
        if (!grown) {
            free(data);
            return scry_fail(err, SCRY_ENOMEM, "out of memory");
        }
        w->files = grown, w->cap = cap;
    }
    asset *a = &w->files[w->n];
    memset(a, 0, sizeof *a);
    a->path = strdup(rel);
    if (!a->path) {
        free(data);
        return scry_fail(err, SCRY_ENOMEM, "out of memory");
    }
    a->data = data;
    a->len = len;
    a->ctype = ctype_for(rel);
    w->total += len;
    w->n++;
    return SCRY_OK;
}

static int load_dir(web_assets *w, const char *dir, const char *rel, int depth, scry_err *err) {
    if (depth > MAX_DEPTH) return SCRY_OK;
    DIR *d = opendir(dir);
    if (!d) return scry_fail(err, SCRY_ENOTFOUND, "cannot open web app folder %s", dir);
    int rc = SCRY_OK;
    struct dirent *de;
    while (rc == SCRY_OK && (de = readdir(d))) {
        if (de->d_name[0] == '.') continue;     /* hidden files, the build stamp, . and .. */
        char full[4096], sub[2048];
        snprintf(full, sizeof full, "%s/%s", dir, de->d_name);
        snprintf(sub, sizeof sub, "%s/%s", rel, de->d_name);
        struct stat st;
        if (stat(full, &st) != 0) continue;
        if (S_ISDIR(st.st_mode)) rc = load_dir(w, full, sub, depth + 1, err);
        else if (S_ISREG(st.st_mode)) rc = add_file(w, full, sub, err);
    }
    closedir(d);
    return rc;
}

static int cmp_asset(const void *a, const void *b) {
    return strcmp(((const asset *)a)->path, ((const asset *)b)->path);
}

static const asset *find(const web_assets *w, const char *path) {
    asset key = {.path = (char *)path};
    return bsearch(&key, w->files, (size_t)w->n, sizeof *w->files, cmp_asset);
}

/* Replace every "{{version}}" in index.html. */
static int stamp_version(web_assets *w, asset *index, scry_err *err) {
    static const char mark[] = "{{version}}";
    size_t count = 0;
    for (const char *p = index->data; (p = strstr(p, mark)); p += sizeof mark - 1) count++;
    if (!count) return SCRY_OK;
    size_t vlen = strlen(w->version), mlen = sizeof mark - 1;
    size_t len = index->len - count * mlen + count * vlen;
    char *out = malloc(len + 1), *o = out;
    if (!out) return scry_fail(err, SCRY_ENOMEM, "out of memory");
    for (const char *p = index->data, *q; *p; p = q + mlen) {
        q = strstr(p, mark);
        if (!q) {
            strcpy(o, p);
            break;
        }
        memcpy(o, p, (size_t)(q - p));
        o += q - p;
        memcpy(o, w->version, vlen);
        o += vlen;
    }
    out[len] = 0;
    free(index->data);
    index->data = out;
    index->len = len;
    return SCRY_OK;
}

/* 'sha256-BASE64' of the import map in index.html (the one inline script
 * the policy allows), or "" when there is none. */
static void importmap_hash(const asset *index, char *out, size_t cap) {
    out[0] = 0;
    const char *open = strstr(index->data, "<script type=\"importmap\">");
    if (!open) return;
    const char *body = open + strlen("<script type=\"importmap\">");
    const char *end = strstr(body, "</script>");
    if (!end) return;
    unsigned char md[32];
    unsigned int mdlen = 0;
    if (!EVP_Digest(body, (size_t)(end - body), md, &mdlen, EVP_sha256(), NULL)) return;
    char b64[64];
    EVP_EncodeBlock((unsigned char *)b64, md, (int)mdlen);
    snprintf(out, cap, " 'sha256-%s'", b64);
}

int web_assets_open(web_assets **out, const char *dir, scry_err *err) {
    struct stat st;
    if (!dir || !*dir || stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
        return scry_fail(err, SCRY_ENOTFOUND, "web app folder %s not found", dir && *dir ? dir : "(none)");
    web_assets *w = calloc(1, sizeof *w);
    if (!w) return scry_fail(err, SCRY_ENOMEM, "out of memory");
    int rc = load_dir(w, dir, "", 0, err);
    if (rc) goto fail;
    qsort(w->files, (size_t)w->n, sizeof *w->files, cmp_asset);
    /* The version: every file but index.html, which names it. */
    uint64_t h = SCRY_FNV1A_INIT;
    for (int i = 0; i < w->n; i++) {
        if (!strcmp(w->files[i].path, "/index.html")) continue;
        h = scry_fnv1a(h, w->files[i].path, strlen(w->files[i].path) + 1);
        h = scry_fnv1a(h, w->files[i].data, w->files[i].len);
    }
    snprintf(w->version, sizeof w->version, "%012llx", (unsigned long long)(h & 0xffffffffffffULL));
    asset *index = (asset *)find(w, "/index.html");
    if (!index) {
        rc = scry_fail(err, SCRY_ENOTFOUND, "web app folder %s has no index.html", dir);
        goto fail;
    }
    rc = stamp_version(w, index, err);
    if (rc) goto fail;
    w->index = index;
    for (int i = 0; i < w->n; i++) {
        asset *a = &w->files[i];
        set_etags(a);
        if (is_text(a->ctype)) a->gz = gzip_of(a->data, a->len, &a->gzlen);
    }
    char hash[80];
    importmap_hash(index, hash, sizeof hash);
    snprintf(w->csp, sizeof w->csp,
             "default-src 'none'; script-src 'self'%s; style-src 'self'; img-src 'self' blob: data:; "
             "connect-src 'self'; font-src 'self'; manifest-src 'self'; base-uri 'none'; "
             "form-action 'self'; frame-ancestors 'none'",
             hash);
    *out = w;
    return SCRY_OK;
fail:
    web_assets_free(w);
    return rc;
}

void web_assets_free(web_assets *w) {
    if (!w) return;
    for (int i = 0; i < w->n; i++) {
        free(w->files[i].path);
        free(w->files[i].data);
        free(w->files[i].gz);
    }
    free(w->files);
    free(w);
}

const char *web_assets_version(const web_assets *w) { return w ? w->version : ""; }
int web_assets_count(const web_assets *w) { return w ? w->n : 0; }
const char *web_assets_csp(const web_assets *w) {
    return w ? w->csp : "default-src 'none'; style-src 'unsafe-inline'";
}

/* ---- lookup ------------------------------------------------------------------- */

/* Whether Accept-Encoding allows gzip: a "gzip" or "*" coding whose q (if
 * any) is not zero. */
static int accepts_gzip(const char *ae) {
    for (const char *p = ae; p && *p;) {
        while (*p == ' ' || *p == ',') p++;
        size_t n = strcspn(p, ",");
        char item[64];
        snprintf(item, sizeof item, "%.*s", (int)(n < sizeof item ? n : sizeof item - 1), p);
        p += n;
        char *semi = strchr(item, ';');
        double q = 1;
        if (semi) {
            *semi = 0;
            char *qs = strstr(semi + 1, "q=");
            if (qs) q = strtod(qs + 2, NULL);
        }
        size_t len = strlen(item);
        while (len && item[len - 1] == ' ') item[--len] = 0;
        if ((!strcasecmp(item, "gzip") || !strcmp(item, "*")) && q > 0) return 1;
    }
    return 0;
}

/* Whether an If-None-Match list names etag (weak comparison, as RFC 9110
 * says for If-None-Match). */
static int etag_matches(const char *inm, const char *etag) {
    if (!inm) return 0;
    size_t elen = strlen(etag);
    for (const char *p = inm; *p;) {
        while (*p == ' ' || *p == ',') p++;
        if (*p == '*') return 1;
        if (!strncmp(p, "W/", 2)) p += 2;
        size_t n = strcspn(p, ",");
        while (n && p[n - 1] == ' ') n--;
        if (n == elen && !strncmp(p, etag, n)) return 1;
        p += strcspn(p, ",");
    }
    return 0;
}

static int is_page(const char *path) {
    for (size_t i = 0; i < sizeof g_pages / sizeof *g_pages; i++)
        if (!strcmp(path, g_pages[i])) return 1;
    return 0;
}

static const char g_missing_page[] =
    "<!doctype html><meta charset=utf-8><title>Scry</title>"
    "<h1>Scry's web app is not installed</h1>"
    "<p>The API works (<a href=\"/v1/openapi.json\">/v1/openapi.json</a>), but the app's files were "
    "not found next to the binary, under PREFIX/share/scry/web or $SCRY_HOME/web. Run "
    "<code>./scripts/setup.sh &amp;&amp; make</code> (or <code>make install</code>), or point "
    "<code>--web</code> at the folder.</p>\n";

int web_assets_lookup(const web_assets *w, const char *method, const char *path,
                      const char *accept_encoding, const char *if_none_match, web_reply *out) {
    memset(out, 0, sizeof *out);
    if (!path || path[0] != '/' || !strncmp(path, "/v1/", 4) || !strcmp(path, "/v1") ||
        !strcmp(path, "/healthz") || !strcmp(path, "/metrics"))
        return 0;
    const asset *a = NULL;
    const char *cache = "no-cache";
    int page = is_page(path);
    if (!page && strncmp(path, VERSION_PREFIX, strlen(VERSION_PREFIX)) != 0 && strcmp(path, "/favicon.ico") != 0)
        return 0;
    out->ctype = "application/json";
    if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) {
        out->status = 405;
        out->body = "{\"error\":{\"code\":\"method_not_allowed\",\"message\":\"use GET\"}}";
        out->len = strlen(out->body);
        out->cache_control = "no-store";
        return 1;
    }
    if (!w) {
        out->status = page ? 503 : 404;
        out->ctype = "text/html; charset=utf-8";
        out->body = g_missing_page;
        out->len = sizeof g_missing_page - 1;
        out->cache_control = "no-store";
        return 1;
    }
    if (page) {
        a = w->index;
    } else if (!strcmp(path, "/favicon.ico")) {
        a = find(w, "/icon.svg");
        cache = "public, max-age=86400";
    } else {
        /* /assets/VERSION/PATH or /assets/PATH; ".." never names a file
         * (the table holds only what was under the folder), but say 404
         * rather than search for it. */
        const char *rest = path + strlen(VERSION_PREFIX);
        if (strstr(rest, "..")) rest = NULL;
        size_t vlen = rest ? strcspn(rest, "/") : 0;
        if (rest && rest[vlen] == '/' && vlen == strlen(w->version) && !strncmp(rest, w->version, vlen)) {
            a = find(w, rest + vlen);
            cache = "public, max-age=31536000, immutable";
        } else if (rest) {
            a = find(w, rest - 1);                             /* /assets/PATH */
            if (!a && rest[vlen] == '/') a = find(w, rest + vlen);   /* another version */
        }
        if (a == w->index) a = NULL;    /* index.html only as a page, never cached for a year */
    }
    if (!a) {
        out->status = 404;
        out->body = "{\"error\":{\"code\":\"not_found\",\"message\":\"no such file in the web app\"}}";
        out->len = strlen(out->body);
        out->cache_control = "no-cache";
        return 1;
    }
    int gz = a->gz && accepts_gzip(accept_encoding);
    out->ctype = a->ctype;
    out->etag = gz ? a->etag_gz : a->etag;
    out->cache_control = cache;
    out->gzip = gz;
    if (etag_matches(if_none_match, out->etag)) {
        out->status = 304;
        return 1;
    }
    out->status = 200;
    out->body = gz ? a->gz : a->data;
    out->len = gz ? a->gzlen : a->len;
    return 1;
}

int web_assets_serve(const web_assets *w, struct MHD_Connection *c, const char *method,
                     const char *path, enum MHD_Result *result) {
    web_reply r;
    const char *ae = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Accept-Encoding");
    const char *inm = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "If-None-Match");
    if (!web_assets_lookup(w, method, path, ae, inm, &r)) return 0;
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(r.status == 304 ? 0 : r.len, (void *)r.body, MHD_RESPMEM_PERSISTENT);
    if (!resp) {
        *result = MHD_NO;
        return 1;
    }
    if (r.status != 304) MHD_add_response_header(resp, "Content-Type", r.ctype);
    if (r.etag) MHD_add_response_header(resp, "ETag", r.etag);
    if (r.cache_control) MHD_add_response_header(resp, "Cache-Control", r.cache_control);
    if (r.gzip) MHD_add_response_header(resp, "Content-Encoding", "gzip");
    if (r.etag) MHD_add_response_header(resp, "Vary", "Accept-Encoding");
    MHD_add_response_header(resp, "Content-Security-Policy", web_assets_csp(w));
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(resp, "Referrer-Policy", "same-origin");
    *result = MHD_queue_response(c, r.status, resp);
    MHD_destroy_response(resp);
    metrics_add(M_HTTP_REQUESTS, 1);
    metrics_add(r.status < 400 ? M_HTTP_2XX : r.status < 500 ? M_HTTP_4XX : M_HTTP_5XX, 1);
    return 1;
}
