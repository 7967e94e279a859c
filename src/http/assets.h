/* assets.h -- the web app's files, served by `scry serve` at / (docs/web.md).
 *
 * The app is a folder of static files (web/ in the tree, assembled as
 * build/web with its vendored modules, installed as PREFIX/share/scry/web;
 * found by core/paths.h). At start-up every file is read into memory once:
 * the whole app is ~100 KB, so serving from memory costs nothing and makes
 * each response a pointer into a table. For each file we precompute:
 *   - its Content-Type, from the extension;
 *   - a strong ETag (a hash of the bytes), so a revalidation is a 304;
 *   - a gzip copy, kept when it is at least 10% smaller (text files);
 * and for the whole set a version (a hash of every file but index.html).
 *
 * URLs and caching:
 *   /, /library, /jobs, /people     the app's pages: index.html, no-cache
 *                                   (revalidated on each load: 304s)
 *   /assets/VERSION/PATH            PATH under the folder, cacheable for a
 *                                   year ("immutable"): index.html names
 *                                   its files under the current version
 *                                   ({{version}} is replaced at load), so a
 *                                   new build changes every URL at once
 *   /assets/OTHER/PATH, /assets/PATH  the same file, no-cache (a page open
 *                                   across an upgrade still loads)
 * Every response carries a Content-Security-Policy that allows only this
 * origin (no inline script except index.html's import map, allowed by its
 * sha256, computed here), X-Content-Type-Options: nosniff and
 * Referrer-Policy: same-origin.
 *
 * The app's files are read-only after load, so lookups take no lock. */
#ifndef SCRY_ASSETS_H
#define SCRY_ASSETS_H

#include <microhttpd.h>
#include <stddef.h>

#include "core/err.h"

typedef struct web_assets web_assets;

/* Load every regular, non-hidden file under dir. SCRY_ENOTFOUND when dir
 * does not exist or holds no index.html; SCRY_ETOOBIG past the limits
 * (2000 files, 64 MiB). */
int web_assets_open(web_assets **out, const char *dir, scry_err *err);
void web_assets_free(web_assets *w);
/* The version in the app's asset URLs (12 hex chars). */
const char *web_assets_version(const web_assets *w);
/* Number of files loaded. */
int web_assets_count(const web_assets *w);

/* What to answer for a request. Strings and body are borrowed from w. */
typedef struct web_reply {
    unsigned status;            /* 200, 304, 404 or 405 */
    const char *ctype;
    const char *body;
    size_t len;
    const char *etag;           /* NULL on 404/405 */
    const char *cache_control;
    int gzip;                   /* body is the gzip copy */
} web_reply;

/* Whether path (no query string) is the web app's, and if so the reply.
 * accept_encoding and if_none_match are the request's headers (or NULL).
 * Paths under /v1/ and the server's own (/healthz, /metrics) are never the
 * app's. w may be NULL (no app installed): the app's paths then get a 503
 * page that says how to install it. */
int web_assets_lookup(const web_assets *w, const char *method, const char *path,
                      const char *accept_encoding, const char *if_none_match, web_reply *out);

/* The Content-Security-Policy sent with the app (for tests and docs). */
const char *web_assets_csp(const web_assets *w);

/* web_assets_lookup + queue the response on c. Returns 1 when handled
 * (*result set), 0 when path is not the app's. Counts HTTP metrics. */
int web_assets_serve(const web_assets *w, struct MHD_Connection *c, const char *method,
                     const char *path, enum MHD_Result *result);

#endif
