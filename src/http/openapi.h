/* openapi.h -- the OpenAPI 3.0 description of the v1 API, served at
 * GET /v1/openapi.json so that an integrator can generate a client.
 *
 * The document is written by hand in src/http/openapi.json (reviewed like
 * code, next to the routes it describes) and compiled into the binary, so
 * the description can never be missing or belong to another version.
 * tests/e2e/test_openapi.py checks it against the OpenAPI 3.0 schema, against
 * the routes the server really answers (both ways), and every response the
 * suite gets against the schema it documents. */
#ifndef SCRY_OPENAPI_H
#define SCRY_OPENAPI_H

#include <stddef.h>

/* The document's JSON text (static, NUL-terminated) and its length. */
const char *openapi_document(size_t *len);

#endif
