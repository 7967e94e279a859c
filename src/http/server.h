/* server.h -- the REST API (v1) over libmicrohttpd.
 *
 * Routes (all JSON unless noted):
 *   POST   /v1/images               multipart/form-data file parts, or a raw
 *                                   image/... (or application/octet-stream) body
 *   GET    /v1/images               recent images (?limit, ?offset)
 *   GET    /v1/images/{id}          everything known about one image
 *   GET    /v1/images/{id}/content  the original bytes (not JSON)
 *   GET    /v1/images/{id}/thumbnail a JPEG thumbnail (not JSON)
 *   DELETE /v1/images/{id}          204
 *   GET    /v1/images/{id}/similar  nearest images by vector (app/browse.h)
 *   GET    /v1/jobs, /v1/jobs/{id}
 *   GET    /v1/search?q=&limit=&offset=&sort=&label=&emotion=&has_text=&from=&to=
 *   GET    /v1/facets               labels, emotions, text, dates present (app/browse.h)
 *   GET    /v1/openapi.json         this API described in OpenAPI 3.0 (http/openapi.h)
 *   GET    /healthz, /metrics (Prometheus text)
 *   GET    /, /library, /jobs, /people, /assets/...  the web app (http/assets.h)
 *
 * Uploads stream: each file part goes straight into a blob writer (a temp
 * file) while it arrives, its first bytes sniffed for an image signature.
 * Nothing is committed until the whole body is in and every part is an
 * image; then all blobs are committed (durable) and one transaction records
 * the images and their job. A refused request therefore stores nothing.
 *
 * Access (http/auth, docs/security.md): every route has a scope per method
 * (read, write, admin, or public); with auth on a request needs a bearer
 * key or a session cookie (plus X-CSRF-Token when it changes state) with
 * that scope, else 401/403. Before any of that, http/guard checks the
 * request's framing and http/ratelimit the client's rate (429).
 *   GET/POST/DELETE /v1/session     sign in with a key (cookies), status, out
 *   GET/POST /v1/keys, DELETE /v1/keys/{id}   admin
 *
 * Threading: libmicrohttpd's internal thread pool (cfg.http_threads); handlers
 * block on fsync and SQLite, which is why there are several. */
#ifndef SCRY_SERVER_H
#define SCRY_SERVER_H

#include "app/app.h"
#include "core/err.h"

typedef struct http_server http_server;

/* Whether a server with this configuration requires API keys: --auth on,
 * or auto (the default) with a --host outside 127.0.0.0/8. */
int http_auth_required(const scry_config *cfg);

int http_start(http_server **out, scry_app *app, scry_err *err);
/* The port actually bound (useful with --port 0). */
int http_port(const http_server *s);
void http_stop(http_server *s);

#endif
