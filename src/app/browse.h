/* browse.h -- the API documents the web app browses the collection with,
 * besides search: "more like this" and the lists its filters offer. Shared
 * by the HTTP server and anything else that prints API JSON.
 *
 *   GET /v1/images/{id}/similar  -> browse_similar
 *   GET /v1/facets               -> browse_facets
 *
 * Both read the search engine's in-memory state (search/search.h), never
 * the database's JSON columns, so they stay cheap at 100k images. */
#ifndef SCRY_BROWSE_H
#define SCRY_BROWSE_H

#include <jansson.h>

#include "app/app.h"
#include "core/err.h"

/* {"image_id", "results": [{id, filename, score, caption, why}]}: the
 * nearest images by vector (search_similar). SCRY_ENOTFOUND for an unknown
 * id or an image without a vector yet. */
int browse_similar(scry_app *app, const char *id, int limit, int offset, json_t **out, scry_err *err);

/* {"images": N, "labels": [{"label", "count"}], "emotions": [{"emotion",
 * "count"}], "with_text": N, "dated": N, "dates": {"from", "to"} | null}.
 * Lists hold only what occurs, most frequent first. */
int browse_facets(scry_app *app, json_t **out, scry_err *err);

#endif
