/* config.h -- every tunable of Scry, in one place.
 *
 * Precedence: built-in defaults < environment variables (SCRY_*) < command
 * line flags. Each setting has exactly one flag name and one variable name,
 * listed in the table in config.c, which also produces the --help text, so
 * documentation and parsing cannot drift apart. */
#ifndef SCRY_CONFIG_H
#define SCRY_CONFIG_H

#include <stdint.h>
#include <stdio.h>

#include "core/err.h"

typedef struct scry_config {
    char data_dir[1024];        /* --data      SCRY_DATA        ./data */
    /* The data files: "" (the default) means "look it up" (core/paths.h:
     * next to the executable, an installed prefix, then SCRY_HOME). */
    char models_dir[1024];      /* --models    SCRY_MODELS      models */
    char wordvec_path[1024];    /* --wordvec   SCRY_WORDVEC     wordvec/wordvec.bin */
    char web_dir[1024];         /* --web       SCRY_WEB         web (the web app's files) */
    char host[128];             /* --host      SCRY_HOST        127.0.0.1 */
    int port;                   /* --port      SCRY_PORT        8080 */
    int workers;                /* --workers   SCRY_WORKERS     number of cores */
    int http_threads;           /* --http-threads SCRY_HTTP_THREADS 4 */
    int64_t max_upload_mb;      /* --max-upload-mb SCRY_MAX_UPLOAD_MB 256 (per request) */
    int64_t max_pixels;         /* --max-pixels SCRY_MAX_PIXELS  100000000 */
    int max_attempts;           /* --max-attempts SCRY_MAX_ATTEMPTS 3 */
    int work_size;              /* --work-size SCRY_WORK_SIZE   1280 */
    int thumb_size;             /* --thumb-size SCRY_THUMB_SIZE 320 */
    int ort_threads;            /* --ort-threads SCRY_ORT_THREADS 1 */
    int vision;                 /* --vision    SCRY_VISION      1: models required (a missing one stops start-up) */
    int ocr;                    /* --ocr       SCRY_OCR         1: read text in images (with vision) */
    int concepts;               /* --concepts  SCRY_CONCEPTS    1: the learned concept head (tags, projection) */
    int face_attributes;        /* --face-attributes SCRY_FACE_ATTRIBUTES 1: age, gender, descriptor per face */
    int people;                 /* --people    SCRY_PEOPLE      1: recognise people (0: off, nothing deleted) */
    int people_min_faces;       /* --people-min-faces SCRY_PEOPLE_MIN_FACES 3: faces before a person is listed */
    double people_auto_recluster; /* --people-auto-recluster 0.2: re-cluster after this growth (0: never) */
    char log_level[16];         /* --log-level SCRY_LOG         info */
    double compact_fraction;    /* --compact-fraction SCRY_COMPACT_FRACTION 0.2 (0: never) */
    int compact_min;            /* --compact-min SCRY_COMPACT_MIN 1000 tombstones at least */
    /* Scale-out (docs/scale.md): where metadata and blobs live, and what
     * this process does. "" = the embedded defaults under --data. */
    char meta[1024];            /* --meta      SCRY_META        "" (DATA/meta.db) or postgres://... */
    char blobs[1024];           /* --blobs     SCRY_BLOBS       "" (DATA/blobs) or s3://bucket/prefix */
    char s3_endpoint[512];      /* --s3-endpoint AWS_ENDPOINT_URL "" (AWS) */
    char s3_region[64];         /* --s3-region AWS_REGION       us-east-1 */
    char s3_access_key[256];    /* --s3-access-key AWS_ACCESS_KEY_ID */
    char s3_secret_key[256];    /* --s3-secret-key AWS_SECRET_ACCESS_KEY */
    char s3_addressing[16];     /* --s3-addressing SCRY_S3_ADDRESSING auto | path | virtual */
    int s3_multipart_mb;        /* --s3-multipart-mb SCRY_S3_MULTIPART_MB 16 */
    double s3_retry_s;          /* --s3-retry-s SCRY_S3_RETRY_S 15 */
    char role[16];              /* --role      SCRY_ROLE        all | api | worker | search */
    int lease_s;                /* --lease-s   SCRY_LEASE_S     30 (claims on PostgreSQL) */
    int snapshot_s;             /* --snapshot-s SCRY_SNAPSHOT_S 300 (0: no snapshots) */
    /* Access and limits (http/auth, http/guard, http/ratelimit; docs/security.md). */
    char auth[8];               /* --auth      SCRY_AUTH        auto: on unless bound to loopback */
    char tls_cert[1024];        /* --tls-cert  SCRY_TLS_CERT    PEM certificate (chain); "" = plain HTTP */
    char tls_key[1024];         /* --tls-key   SCRY_TLS_KEY     PEM private key */
    char cors_origins[1024];    /* --cors-origins SCRY_CORS_ORIGINS "" = CORS off */
    double rate_ip, rate_ip_burst;   /* --rate-ip 50, --rate-ip-burst 200 (requests/s per client address) */
    double rate_key, rate_key_burst; /* --rate-key 100, --rate-key-burst 400 (per API key / session) */
    int max_connections;        /* --max-connections 1000 */
    int max_connections_per_ip; /* --max-connections-per-ip 64 */
    int header_timeout;         /* --header-timeout 10 s */
    int idle_timeout;           /* --idle-timeout 30 s without a byte */
    int min_body_rate;          /* --min-body-rate 1024 bytes/s */
    int max_parts;              /* --max-parts 1000 files per upload */
    int max_filename;           /* --max-filename 255 bytes (longer names are cut) */
    int max_query;              /* --max-query 1000 bytes of q */
    int max_uri;                /* --max-uri 8192 bytes of request target */
    int max_params;             /* --max-params 64 query parameters */
} scry_config;

void config_defaults(scry_config *c);
/* Apply SCRY_* environment variables. */
int config_from_env(scry_config *c, scry_err *err);
/* Apply one "--name value" (name without dashes). SCRY_ENOTFOUND when the
 * name is not a config flag (the caller may then handle it itself). */
int config_set(scry_config *c, const char *name, const char *value, scry_err *err);
/* Print the flags table (for --help). */
void config_print_help(FILE *out);

#endif
