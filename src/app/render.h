/* render.h -- the JSON shapes of the v1 API, shared by the HTTP server and
 * the CLI (which prints the same documents). */
#ifndef SCRY_RENDER_H
#define SCRY_RENDER_H

#include <jansson.h>

#include "search/search.h"
#include "store/meta.h"

json_t *render_image(const image_rec *r);
json_t *render_job(const job_rec *j, int with_errors);
json_t *render_search(const char *query, const search_response *res);
/* {"error": {"code": ..., "message": ...}} */
json_t *render_error(const char *code, const char *message);

#endif
