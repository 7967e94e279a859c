/* people_api.h -- the People part of the REST API (v1), without the HTTP
 * transport: server.c hands over the method, path, query arguments and
 * body, and sends back what this returns. Same JSON error shape as every
 * route: {"error": {"code", "message"}}.
 *
 *   GET    /v1/people                 {"people": [person...], "total", "min_faces"}:
 *                                     persons with >= min_faces faces (or a name),
 *                                     most faces first; ?limit ?offset ?min_faces
 *   GET    /v1/people/{id}            person: {"id", "name" (null), "faces",
 *                                     "images", "cover_face", "cover_thumbnail",
 *                                     "created_at", "updated_at"}
 *   GET    /v1/people/{id}/faces      {"person", "faces": [face...], "total"}, largest first
 *   GET    /v1/people/{id}/images     {"person", "images": [image...], "total"}, newest first
 *   PATCH  /v1/people/{id}            {"name": "Anna" | null, "cover": FACE_ID | null}
 *                                     -> person; a name another person has: 409 name_taken
 *   POST   /v1/people/{id}/merge      {"from": [ID, ...]} -> the merged person
 *   DELETE /v1/people/{id}            204: the person and its name are forgotten,
 *                                     its faces kept (with nobody)
 *   POST   /v1/people/recluster       202 {"job_id", "status"}: a full re-cluster,
 *                                     followed at GET /v1/jobs/{job_id}
 *   GET    /v1/faces/{id}             face: {"id", "image_id", "face_index", "box",
 *                                     "person": {"id", "name"} | null, "assigned":
 *                                     "new" | "auto" | "manual", "thumbnail"}
 *   PATCH  /v1/faces/{id}             {"person": ID | null | "new"}: move the face to
 *                                     a person, to nobody, or to a new person -> face
 *   GET    /v1/faces/{id}/thumbnail   a JPEG crop of the face
 *
 * With --people 0 every one of these answers 403 people_disabled. */
#ifndef SCRY_PEOPLE_API_H
#define SCRY_PEOPLE_API_H

#include <jansson.h>
#include <stddef.h>

#include "app/app.h"

/* A reply: JSON (doc), or bytes of another type; status 0 = not ours. */
typedef struct api_reply {
    unsigned status;
    json_t *doc;                /* owned */
    void *bytes;                /* owned (free) */
    size_t len;
    const char *ctype;
} api_reply;

/* Query argument lookup (NULL when absent). */
typedef const char *(*api_arg_fn)(void *ctx, const char *name);

/* Whether path is one of these routes (before reading a body for it). */
int people_api_route(const char *path);
/* Handle it. body may be NULL (len 0). */
void people_api_handle(scry_app *app, const char *method, const char *path, const char *body,
                       size_t len, api_arg_fn arg, void *arg_ctx, api_reply *out);

/* GET /v1/images/{id} and the like: each described face of r's JSON (doc,
 * from render_image) gets "face_id", "person_id" and "person_name". No-op
 * with people off. */
void people_api_enrich_image(scry_app *app, const image_rec *r, json_t *doc);

#endif
