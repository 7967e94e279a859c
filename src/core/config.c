/* config.c -- see config.h. One table drives env parsing, flags and help. */
#include "core/config.h"

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum kind { K_STR, K_INT, K_I64, K_DBL };

static const struct opt {
    const char *flag, *env;
    enum kind kind;
    size_t off, cap;
    long long min, max;         /* K_DBL: the range too (integral bounds suffice) */
    const char *help;
} g_opts[] = {
#define STR(f, e, field, h) {f, e, K_STR, offsetof(scry_config, field), sizeof(((scry_config *)0)->field), 0, 0, h}
#define INT(f, e, field, lo, hi, h) {f, e, K_INT, offsetof(scry_config, field), 0, lo, hi, h}
#define I64(f, e, field, lo, hi, h) {f, e, K_I64, offsetof(scry_config, field), 0, lo, hi, h}
#define DBL(f, e, field, lo, hi, h) {f, e, K_DBL, offsetof(scry_config, field), 0, lo, hi, h}
    STR("data", "SCRY_DATA", data_dir, "data folder (SQLite database, blobs, index)"),
    STR("models", "SCRY_MODELS", models_dir, "folder of prepared model files"),
    STR("wordvec", "SCRY_WORDVEC", wordvec_path, "word-vector file of the sentence encoder"),
    STR("web", "SCRY_WEB", web_dir, "folder of the web app's files, served at /"),
    STR("host", "SCRY_HOST", host, "address the HTTP server listens on"),
    INT("port", "SCRY_PORT", port, 0, 65535, "HTTP port (0 picks a free one)"),
    INT("workers", "SCRY_WORKERS", workers, 0, 256,
        "indexing worker threads (0: accept uploads, index elsewhere)"),
    INT("http-threads", "SCRY_HTTP_THREADS", http_threads, 1, 256, "HTTP server threads"),
    I64("max-upload-mb", "SCRY_MAX_UPLOAD_MB", max_upload_mb, 1, 1 << 20,
        "largest accepted request body, MiB"),
    I64("max-pixels", "SCRY_MAX_PIXELS", max_pixels, 1, 1LL << 40,
        "images with more pixels are refused (decompression bombs)"),
    INT("max-attempts", "SCRY_MAX_ATTEMPTS", max_attempts, 1, 100,
        "tries per image before it is marked failed"),
    INT("work-size", "SCRY_WORK_SIZE", work_size, 64, 8192,
        "longest side of the decoded working copy"),
    INT("thumb-size", "SCRY_THUMB_SIZE", thumb_size, 16, 2048, "longest side of thumbnails"),
    INT("ort-threads", "SCRY_ORT_THREADS", ort_threads, 1, 64, "ONNX Runtime intra-op threads"),
    INT("vision", "SCRY_VISION", vision, -1, 1,
        "model stages: 1 on, 0 off, -1 auto (on when the models are present)"),
    INT("ocr", "SCRY_OCR", ocr, 0, 1, "read text in images (OCR), when vision is on"),
    INT("concepts", "SCRY_CONCEPTS", concepts, 0, 1,
        "learned concepts and the image-text projection (changes the vector layout: re-index)"),
    INT("face-attributes", "SCRY_FACE_ATTRIBUTES", face_attributes, 0, 1,
        "age, gender, person word and descriptor of each face, when vision is on"),
    INT("people", "SCRY_PEOPLE", people, 0, 1,
        "recognise people: face descriptors, clustering, names in search (0: off; deletes nothing)"),
    INT("people-min-faces", "SCRY_PEOPLE_MIN_FACES", people_min_faces, 1, 1000,
        "faces a person needs before it is listed (named persons always are)"),
    DBL("people-auto-recluster", "SCRY_PEOPLE_AUTO_RECLUSTER", people_auto_recluster, 0, 100,
        "re-cluster every face once indexing added this fraction of them (and 50 or more) since the last (0: never)"),
    STR("log-level", "SCRY_LOG", log_level, "debug, info, warn or error"),
    DBL("compact-fraction", "SCRY_COMPACT_FRACTION", compact_fraction, 0, 1,
        "rebuild the ANN index once deleted entries exceed this fraction of it (0: never)"),
    INT("compact-min", "SCRY_COMPACT_MIN", compact_min, 1, 1 << 30,
        "...and are at least this many (small indexes are not rebuilt constantly)"),
    STR("meta", "SCRY_META", meta, "metadata: a SQLite file, or postgres://user@host:port/db"),
    STR("blobs", "SCRY_BLOBS", blobs, "blob store: a folder, or s3://bucket/prefix"),
    STR("s3-endpoint", "AWS_ENDPOINT_URL", s3_endpoint,
        "S3-compatible endpoint, http[s]://host[:port] (empty: AWS)"),
    STR("s3-region", "AWS_REGION", s3_region, "S3 region"),
    STR("s3-access-key", "AWS_ACCESS_KEY_ID", s3_access_key, "S3 access key id"),
    STR("s3-secret-key", "AWS_SECRET_ACCESS_KEY", s3_secret_key,
        "S3 secret key (prefer the variable: flags show in ps)"),
    STR("s3-addressing", "SCRY_S3_ADDRESSING", s3_addressing,
        "S3 URLs: auto (virtual-host on AWS, else path), path or virtual"),
    INT("s3-multipart-mb", "SCRY_S3_MULTIPART_MB", s3_multipart_mb, 5, 5120,
        "blobs above this many MiB go to S3 as multipart uploads"),
    STR("role", "SCRY_ROLE", role,
        "serve as: all (one process), api (uploads, reads), worker (indexing) or search"),
    INT("lease-s", "SCRY_LEASE_S", lease_s, 1, 86400,
        "a claimed item whose worker stops renewing it is retried after this (PostgreSQL)"),
    INT("snapshot-s", "SCRY_SNAPSHOT_S", snapshot_s, 0, 86400,
        "seconds between search snapshots (catalog, keyword index, ANN index); 0: none, rebuild at start"),
    DBL("s3-retry-s", "SCRY_S3_RETRY_S", s3_retry_s, 0, 3600,
        "how long one S3 request is retried (5xx, timeouts) before a 503"),
    STR("auth", "SCRY_AUTH", auth,
        "API keys required: on, off (loopback only) or auto (on unless --host is loopback)"),
    STR("tls-cert", "SCRY_TLS_CERT", tls_cert, "PEM certificate chain: serve HTTPS (with --tls-key)"),
    STR("tls-key", "SCRY_TLS_KEY", tls_key, "PEM private key of --tls-cert"),
    STR("cors-origins", "SCRY_CORS_ORIGINS", cors_origins,
        "comma-separated origins allowed to call the API from a browser (empty: CORS off)"),
    DBL("rate-ip", "SCRY_RATE_IP", rate_ip, -1, 1000000,
        "requests per second per client address (0: no limit; -1: 50 with auth on, none with it off)"),
    DBL("rate-ip-burst", "SCRY_RATE_IP_BURST", rate_ip_burst, 1, 10000000,
        "...allowed in a burst above that rate"),
    DBL("rate-key", "SCRY_RATE_KEY", rate_key, 0, 1000000,
        "requests per second per API key or session (0: no limit)"),
    DBL("rate-key-burst", "SCRY_RATE_KEY_BURST", rate_key_burst, 1, 10000000,
        "...allowed in a burst above that rate"),
    INT("max-connections", "SCRY_MAX_CONNECTIONS", max_connections, 16, 1000000,
        "open connections at most (idle ones are closed first near the cap)"),
    INT("max-connections-per-ip", "SCRY_MAX_CONNECTIONS_PER_IP", max_connections_per_ip, 1,
        1000000, "open connections per client address"),
    INT("header-timeout", "SCRY_HEADER_TIMEOUT", header_timeout, 1, 3600,
        "seconds for a request head to arrive (also the keep-alive idle time)"),
    INT("idle-timeout", "SCRY_IDLE_TIMEOUT", idle_timeout, 1, 3600,
        "seconds a connection may send or take nothing mid-request"),
    INT("min-body-rate", "SCRY_MIN_BODY_RATE", min_body_rate, 0, 1 << 30,
        "bytes/s an upload body must average once --header-timeout has passed (0: off)"),
    INT("max-parts", "SCRY_MAX_PARTS", max_parts, 1, 100000, "files in one upload"),
    INT("max-filename", "SCRY_MAX_FILENAME", max_filename, 16, 4096,
        "bytes of a stored filename (longer ones are cut at a character boundary)"),
    INT("max-query", "SCRY_MAX_QUERY", max_query, 16, 65536, "bytes of a search query"),
    INT("max-uri", "SCRY_MAX_URI", max_uri, 256, 65536, "bytes of a request target (path and query)"),
    INT("max-params", "SCRY_MAX_PARAMS", max_params, 8, 1000, "query parameters in one request"),
};
#define NOPTS (sizeof g_opts / sizeof g_opts[0])

void config_defaults(scry_config *c) {
    memset(c, 0, sizeof *c);
    strcpy(c->data_dir, "./data");
    /* models_dir, wordvec_path, web_dir stay "": found by core/paths.h */
    strcpy(c->host, "127.0.0.1");
    c->port = 8080;
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    c->workers = ncpu > 0 ? (int)ncpu : 2;
    c->http_threads = 4;
    c->max_upload_mb = 256;
    c->max_pixels = 100000000;
    c->max_attempts = 3;
    c->work_size = 1280;
    c->thumb_size = 320;
    c->ort_threads = 1;
    c->vision = 1;
    c->ocr = 1;
    c->concepts = 1;
    c->face_attributes = 1;
    c->people = 1;
    c->people_min_faces = 3;
    c->people_auto_recluster = 0.2;      /* people/people.h: people_set_auto_recluster */
    strcpy(c->log_level, "info");
    c->compact_fraction = 0.2;
    c->compact_min = 1000;
    strcpy(c->s3_region, "us-east-1");
    strcpy(c->s3_addressing, "auto");
    c->s3_multipart_mb = 16;
    strcpy(c->role, "all");
    c->lease_s = 30;
    c->snapshot_s = 300;
    c->s3_retry_s = 15;
    strcpy(c->auth, "auto");
    /* Per address only when auth is on: with it off the server is on
     * loopback, where whoever can connect may do anything anyway, and a web
     * app scrolling a grid of thumbnails makes hundreds of requests a second. */
    c->rate_ip = -1;
    c->rate_ip_burst = 200;
    c->rate_key = 100;
    c->rate_key_burst = 400;
    c->max_connections = 1000;
    c->max_connections_per_ip = 64;
    c->header_timeout = 10;
    c->idle_timeout = 30;
    c->min_body_rate = 1024;
    c->max_parts = 1000;
    c->max_filename = 255;
    c->max_query = 1000;
    c->max_uri = 8192;
    c->max_params = 64;
}

static int apply(scry_config *c, const struct opt *o, const char *value, const char *from,
                 scry_err *err) {
    char *base = (char *)c + o->off;
    if (o->kind == K_STR) {
        if (strlen(value) >= o->cap)
            return scry_fail(err, SCRY_EINVAL, "%s: value too long", from);
        strcpy(base, value);
        return SCRY_OK;
    }
    errno = 0;
    char *end = NULL;
    if (o->kind == K_DBL) {
        double d = strtod(value, &end);
        if (errno || !end || end == value || *end || !(d >= (double)o->min && d <= (double)o->max))
            return scry_fail(err, SCRY_EINVAL, "%s: expected a number in [%lld, %lld], got '%s'",
                             from, o->min, o->max, value);
        *(double *)base = d;
        return SCRY_OK;
    }
    long long v = strtoll(value, &end, 10);
    if (errno || !end || end == value || *end || v < o->min || v > o->max)
        return scry_fail(err, SCRY_EINVAL, "%s: expected an integer in [%lld, %lld], got '%s'",
                         from, o->min, o->max, value);
    if (o->kind == K_INT) *(int *)base = (int)v;
    else *(int64_t *)base = v;
    return SCRY_OK;
}

int config_from_env(scry_config *c, scry_err *err) {
    for (size_t i = 0; i < NOPTS; i++) {
        const char *v = getenv(g_opts[i].env);
        if (!v || !*v) continue;
        int rc = apply(c, &g_opts[i], v, g_opts[i].env, err);
        if (rc) return rc;
    }
    return SCRY_OK;
}

int config_set(scry_config *c, const char *name, const char *value, scry_err *err) {
    for (size_t i = 0; i < NOPTS; i++) {
        if (strcmp(g_opts[i].flag, name) != 0) continue;
        char from[64];
        snprintf(from, sizeof from, "--%s", name);
        if (!value) return scry_fail(err, SCRY_EINVAL, "%s needs a value", from);
        return apply(c, &g_opts[i], value, from, err);
    }
    return scry_fail(err, SCRY_ENOTFOUND, "unknown option --%s", name);
}

void config_print_help(FILE *out) {
    scry_config d;
    config_defaults(&d);
    for (size_t i = 0; i < NOPTS; i++) {
        const struct opt *o = &g_opts[i];
        char def[64];
        const char *base = (const char *)&d + o->off;
        if (o->kind == K_STR) snprintf(def, sizeof def, "%s", *base ? base : "found, see below");
        else if (o->kind == K_INT) snprintf(def, sizeof def, "%d", *(const int *)base);
        else if (o->kind == K_DBL) snprintf(def, sizeof def, "%g", *(const double *)base);
        else snprintf(def, sizeof def, "%lld", (long long)*(const int64_t *)base);
        fprintf(out, "  --%-14s %-20s %s (default %s)\n", o->flag, o->env, o->help, def);
    }
}
