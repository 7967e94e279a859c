/* people_api.c -- see people_api.h.
 *
 * Every write goes to the metadata store (store/meta.h); the people service
 * sees it through its change feed at its next call, so the API needs no
 * locking of its own. Ids in paths are positive decimal integers; anything
 * else is 404 like an unknown id. Bodies are JSON objects; a malformed one
 * is 400. */
#include "http/people_api.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "app/render.h"
#include "core/util.h"
#include "people/people.h"

#define LIST_MAX 1000

static void reply_json(api_reply *r, unsigned status, json_t *doc) {
    r->status = status;
    r->doc = doc;
}

static void reply_error(api_reply *r, unsigned status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void reply_error(api_reply *r, unsigned status, const char *code, const char *fmt, ...) {
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    reply_json(r, status, render_error(code, msg));
}

static unsigned status_of(int rc) {
    switch (rc) {
    case SCRY_EINVAL: return 400;
    case SCRY_ENOTFOUND: return 404;
    case SCRY_EBUSY: return 409;
    case SCRY_EUNSUPPORTED: return 415;
    default: return 500;
    }
}

static void reply_scry(api_reply *r, int rc, const scry_err *err) {
    reply_json(r, status_of(rc), render_error(rc == SCRY_EBUSY ? "busy" : scry_code_name(rc), err->msg));
}

/* A positive id from a path segment, or 0. */
static int64_t parse_id(const char *s, size_t n) {
    if (n == 0 || n > 18) return 0;
    int64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') return 0;
        v = v * 10 + (s[i] - '0');
    }
    return v;
}

static int int_arg(api_arg_fn arg, void *ctx, const char *name, long lo, long hi, long def, long *out,
                   api_reply *r) {
    const char *v = arg(ctx, name);
    *out = def;
    if (!v) return 1;
    char *end = NULL;
    errno = 0;
    long n = strtol(v, &end, 10);
    if (errno || !end || end == v || *end || n < lo || n > hi) {
        reply_error(r, 400, "invalid_request", "parameter '%s' must be an integer in [%ld, %ld]", name, lo, hi);
        return 0;
    }
    *out = n;
    return 1;
}

static json_t *iso(int64_t ms) {
    char buf[32];
    scry_iso8601(ms, buf);
    return json_string(buf);
}

static json_t *thumb_url(int64_t face_id) {
    if (!face_id) return json_null();
    char url[64];
    snprintf(url, sizeof url, "/v1/faces/%lld/thumbnail", (long long)face_id);
    return json_string(url);
}

static json_t *person_json(const meta_person *p) {
    json_t *o = json_object();
    json_object_set_new(o, "id", json_integer(p->person_id));
    json_object_set_new(o, "name", p->name ? json_string(p->name) : json_null());
    json_object_set_new(o, "faces", json_integer(p->faces));
    json_object_set_new(o, "images", json_integer(p->images));
    json_object_set_new(o, "cover_face", p->cover ? json_integer(p->cover) : json_null());
    json_object_set_new(o, "cover_thumbnail", thumb_url(p->cover));
    json_object_set_new(o, "created_at", iso(p->created_at));
    json_object_set_new(o, "updated_at", iso(p->updated_at));
    return o;
}

static const char *assigned_name(int a) {
    return a == META_FACE_MANUAL ? "manual" : a == META_FACE_AUTO ? "auto" : "new";
}

static json_t *box_json(const int b[4]) {
    json_t *a = json_array();
    for (int k = 0; k < 4; k++) json_array_append_new(a, json_integer(b[k]));
    return a;
}

static json_t *face_json(scry_app *app, const meta_face *f, const char *image_id) {
    json_t *o = json_object();
    json_object_set_new(o, "id", json_integer(f->face_id));
    json_object_set_new(o, "image_id", json_string(image_id));
    json_object_set_new(o, "face_index", json_integer(f->face_index));
    json_object_set_new(o, "box", box_json(f->box));
    if (f->person_id) {
        json_t *p = json_object();
        char name[PEOPLE_NAME_MAX + 1];
        int named = people_name(app->people, f->person_id, name, sizeof name);
        json_object_set_new(p, "id", json_integer(f->person_id));
        json_object_set_new(p, "name", named ? json_string(name) : json_null());
        json_object_set_new(o, "person", p);
    } else {
        json_object_set_new(o, "person", json_null());
    }
    json_object_set_new(o, "assigned", json_string(assigned_name(f->assigned)));
    json_object_set_new(o, "thumbnail", thumb_url(f->face_id));
    return o;
}

static void reply_person(scry_app *app, api_reply *r, unsigned status, int64_t id) {
    meta_person p;
    scry_err err = {0};
    int rc = meta_person_get(app->meta, id, &p, &err);
    if (rc) return reply_scry(r, rc, &err);
    reply_json(r, status, person_json(&p));
    meta_person_free(&p);
}

static void reply_face(scry_app *app, api_reply *r, int64_t face_id) {
    meta_face f;
    scry_err err = {0};
    int rc = meta_face_get(app->meta, face_id, &f, &err);
    if (rc) return reply_scry(r, rc, &err);
    free(f.vec);
    image_rec img;
    if ((rc = meta_image_get_by_rowid(app->meta, f.image_rowid, &img, &err))) return reply_scry(r, rc, &err);
    reply_json(r, 200, face_json(app, &f, img.id));
    image_rec_free(&img);
}

/* The body as a JSON object, or a 400 in r. */
static json_t *body_object(const char *body, size_t len, api_reply *r) {
    json_error_t je;
    json_t *doc = body && len ? json_loadb(body, len, 0, &je) : NULL;
    if (!json_is_object(doc)) {
        json_decref(doc);
        reply_error(r, 400, "invalid_request", "the body must be a JSON object%s%s",
                    body && len ? ": " : "", body && len ? je.text : "");
        return NULL;
    }
    return doc;
}

/* A name: trimmed, 1..PEOPLE_NAME_MAX bytes, no control characters. */
static int clean_name(const char *in, char *out, size_t cap, api_reply *r) {
    while (*in == ' ' || *in == '\t') in++;
    size_t n = strlen(in);
    while (n && (in[n - 1] == ' ' || in[n - 1] == '\t')) n--;
    if (n == 0 || n > PEOPLE_NAME_MAX || n >= cap) {
        reply_error(r, 400, "invalid_request", "'name' must be 1 to %d bytes (or null to clear it)", PEOPLE_NAME_MAX);
        return 0;
    }
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)in[i] < 0x20) {
            reply_error(r, 400, "invalid_request", "'name' holds a control character");
            return 0;
        }
    memcpy(out, in, n);
    out[n] = 0;
    return 1;
}

/* Another person already has this name (any case)? Its id, else 0. */
static int64_t name_taken(scry_app *app, const char *name, int64_t self) {
    meta_person *named = NULL;
    int n = 0;
    scry_err err = {0};
    int64_t other = 0;
    if (meta_people_named(app->meta, &named, &n, &err) == SCRY_OK)
        for (int i = 0; i < n && !other; i++)
            if (named[i].person_id != self && named[i].name && !strcasecmp(named[i].name, name))
                other = named[i].person_id;
    meta_people_free(named, n);
    return other;
}

static void patch_person(scry_app *app, int64_t id, const char *body, size_t len, api_reply *r) {
    json_t *doc = body_object(body, len, r);
    if (!doc) return;
    json_t *name = json_object_get(doc, "name"), *cover = json_object_get(doc, "cover");
    scry_err err = {0};
    int rc = SCRY_OK;
    if (!name && !cover) {
        reply_error(r, 400, "invalid_request", "nothing to change: give 'name' and/or 'cover'");
        goto out;
    }
    if (name && !json_is_string(name) && !json_is_null(name)) {
        reply_error(r, 400, "invalid_request", "'name' must be a string or null");
        goto out;
    }
    if (cover && !json_is_integer(cover) && !json_is_null(cover)) {
        reply_error(r, 400, "invalid_request", "'cover' must be a face id or null");
        goto out;
    }
    meta_person cur;
    if ((rc = meta_person_get(app->meta, id, &cur, &err))) {
        reply_scry(r, rc, &err);
        goto out;
    }
    meta_person_free(&cur);
    if (name && json_is_string(name)) {
        char clean[PEOPLE_NAME_MAX + 1];
        if (!clean_name(json_string_value(name), clean, sizeof clean, r)) goto out;
        int64_t other = name_taken(app, clean, id);
        if (other) {
            reply_error(r, 409, "name_taken",
                        "person %lld is already called '%s'; merge them with POST /v1/people/%lld/merge",
                        (long long)other, clean, (long long)other);
            goto out;
        }
        rc = meta_person_set_name(app->meta, id, clean, &err);
    } else if (name) {
        rc = meta_person_set_name(app->meta, id, NULL, &err);
    }
    if (rc == SCRY_OK && cover)
        rc = meta_person_set_cover(app->meta, id, json_is_null(cover) ? 0 : json_integer_value(cover), &err);
    if (rc) reply_scry(r, rc, &err);
    else reply_person(app, r, 200, id);
out:
    json_decref(doc);
}

static void merge_people(scry_app *app, int64_t into, const char *body, size_t len, api_reply *r) {
    json_t *doc = body_object(body, len, r);
    if (!doc) return;
    json_t *from = json_object_get(doc, "from");
    size_t n = json_array_size(from);
    if (!json_is_array(from) || n == 0 || n > 1000) {
        reply_error(r, 400, "invalid_request", "'from' must be a list of 1 to 1000 person ids");
        json_decref(doc);
        return;
    }
    int64_t *ids = malloc(n * sizeof *ids);
    size_t i;
    json_t *v;
    int ok = ids != NULL;
    json_array_foreach(from, i, v) {
        if (!ok) break;
        if (!json_is_integer(v) || json_integer_value(v) <= 0) ok = 0;
        else ids[i] = json_integer_value(v);
    }
    if (!ok) {
        reply_error(r, 400, "invalid_request", "'from' must hold positive person ids");
    } else {
        scry_err err = {0};
        int rc = meta_people_merge(app->meta, into, ids, (int)n, &err);
        if (rc) reply_scry(r, rc, &err);
        else reply_person(app, r, 200, into);
    }
    free(ids);
    json_decref(doc);
}

static void patch_face(scry_app *app, int64_t face_id, const char *body, size_t len, api_reply *r) {
    json_t *doc = body_object(body, len, r);
    if (!doc) return;
    json_t *to = json_object_get(doc, "person");
    int64_t target;
    if (!to) target = INT64_MIN;
    else if (json_is_null(to)) target = 0;
    else if (json_is_string(to) && !strcmp(json_string_value(to), "new")) target = -1;
    else if (json_is_integer(to) && json_integer_value(to) > 0) target = json_integer_value(to);
    else target = INT64_MIN;
    if (target == INT64_MIN) {
        reply_error(r, 400, "invalid_request", "'person' must be a person id, null (nobody) or \"new\"");
        json_decref(doc);
        return;
    }
    meta_face f;
    scry_err err = {0};
    int rc = meta_face_get(app->meta, face_id, &f, &err);
    if (rc == SCRY_OK) {
        free(f.vec);
        meta_assignment a = {face_id, target};
        int64_t made = 0;
        rc = meta_faces_assign(app->meta, &a, 1, META_FACE_MANUAL, &made, NULL, &err);
    }
    if (rc) reply_scry(r, rc, &err);
    else reply_face(app, r, face_id);
    json_decref(doc);
}

/* limit (1..LIST_MAX, def_limit when absent) and offset of a listing. */
static int page_args(api_arg_fn arg, void *ctx, long def_limit, long *limit, long *offset, api_reply *r) {
    return int_arg(arg, ctx, "limit", 1, LIST_MAX, def_limit, limit, r) &&
           int_arg(arg, ctx, "offset", 0, 100000000, 0, offset, r);
}

/* {"person": id, key: items, "total": total}: a person's faces or images. */
static void reply_person_list(api_reply *r, int64_t id, const char *key, json_t *items, int64_t total) {
    json_t *doc = json_object();
    json_object_set_new(doc, "person", json_integer(id));
    json_object_set_new(doc, key, items);
    json_object_set_new(doc, "total", json_integer(total));
    reply_json(r, 200, doc);
}

static void list_people(scry_app *app, api_arg_fn arg, void *ctx, api_reply *r) {
    long limit, offset, min_faces;
    if (!page_args(arg, ctx, 50, &limit, &offset, r) ||
        !int_arg(arg, ctx, "min_faces", 1, 100000, app->cfg.people_min_faces, &min_faces, r))
        return;
    meta_person *p = NULL;
    int n = 0;
    int64_t total = 0;
    scry_err err = {0};
    int rc = meta_people_list(app->meta, (int)min_faces, (int)offset, (int)limit, &p, &n, &total, &err);
    if (rc) return reply_scry(r, rc, &err);
    json_t *arr = json_array();
    for (int i = 0; i < n; i++) json_array_append_new(arr, person_json(&p[i]));
    meta_people_free(p, n);
    json_t *doc = json_object();
    json_object_set_new(doc, "people", arr);
    json_object_set_new(doc, "total", json_integer(total));
    json_object_set_new(doc, "min_faces", json_integer(min_faces));
    reply_json(r, 200, doc);
}

static void person_faces(scry_app *app, int64_t id, api_arg_fn arg, void *ctx, api_reply *r) {
    long limit, offset;
    if (!page_args(arg, ctx, 100, &limit, &offset, r)) return;
    meta_face *f = NULL;
    char (*ids)[SCRY_ID_LEN + 1] = NULL;
    int n = 0;
    int64_t total = 0;
    scry_err err = {0};
    int rc = meta_person_faces(app->meta, id, (int)offset, (int)limit, &f, &ids, &n, &total, &err);
    if (rc) return reply_scry(r, rc, &err);
    json_t *arr = json_array();
    for (int i = 0; i < n; i++) json_array_append_new(arr, face_json(app, &f[i], ids[i]));
    free(f);
    free(ids);
    reply_person_list(r, id, "faces", arr, total);
}

static void person_images(scry_app *app, int64_t id, api_arg_fn arg, void *ctx, api_reply *r) {
    long limit, offset;
    if (!page_args(arg, ctx, 50, &limit, &offset, r)) return;
    image_rec *recs = NULL;
    int n = 0;
    int64_t total = 0;
    scry_err err = {0};
    int rc = meta_person_images(app->meta, id, (int)offset, (int)limit, &recs, &n, &total, &err);
    if (rc) return reply_scry(r, rc, &err);
    json_t *arr = json_array();
    for (int i = 0; i < n; i++) {
        json_t *img = render_image(&recs[i]);
        people_api_enrich_image(app, &recs[i], img);
        json_array_append_new(arr, img);
        image_rec_free(&recs[i]);
    }
    free(recs);
    reply_person_list(r, id, "images", arr, total);
}

static void face_thumbnail(scry_app *app, int64_t face_id, api_reply *r) {
    void *jpeg = NULL;
    size_t len = 0;
    scry_err err = {0};
    int rc = app_face_thumbnail(app, face_id, &jpeg, &len, &err);
    if (rc) return reply_scry(r, rc, &err);
    r->status = 200;
    r->bytes = jpeg;
    r->len = len;
    r->ctype = "image/jpeg";
}

int people_api_route(const char *path) {
    return !strcmp(path, "/v1/people") || !strncmp(path, "/v1/people/", 11) || !strncmp(path, "/v1/faces/", 10);
}

void people_api_handle(scry_app *app, const char *method, const char *path, const char *body,
                       size_t len, api_arg_fn arg, void *arg_ctx, api_reply *r) {
    memset(r, 0, sizeof *r);
    if (!people_api_route(path)) return;
    if (!app->people)
        return reply_error(r, 403, "people_disabled",
                           "recognition of people is turned off (--people 0); nothing was deleted");
    int get = !strcmp(method, "GET") || !strcmp(method, "HEAD");
    if (!strcmp(path, "/v1/people")) {
        if (!get) return reply_error(r, 405, "method_not_allowed", "use GET");
        return list_people(app, arg, arg_ctx, r);
    }
    if (!strcmp(path, "/v1/people/recluster")) {
        if (strcmp(method, "POST")) return reply_error(r, 405, "method_not_allowed", "use POST");
        char job[SCRY_ID_LEN + 1];
        scry_err err = {0};
        int rc = people_recluster_start(app->people, job, &err);
        if (rc) return reply_scry(r, rc, &err);
        json_t *doc = json_object();
        json_object_set_new(doc, "job_id", json_string(job));
        json_object_set_new(doc, "status", json_string("pending"));
        return reply_json(r, 202, doc);
    }
    int faces = !strncmp(path, "/v1/faces/", 10);
    const char *id_s = path + (faces ? 10 : 11);
    const char *slash = strchr(id_s, '/');
    size_t idlen = slash ? (size_t)(slash - id_s) : strlen(id_s);
    const char *part = slash ? slash + 1 : NULL;
    /* the resource, then the method, then the id: a method a resource does
     * not serve is 405 whatever the id */
    enum { P_PERSON, P_PERSON_FACES, P_PERSON_IMAGES, P_MERGE, P_FACE, P_FACE_THUMB } what;
    if (part && strchr(part, '/')) return reply_error(r, 404, "not_found", "no such resource");
    if (faces) {
        if (!part) what = P_FACE;
        else if (!strcmp(part, "thumbnail")) what = P_FACE_THUMB;
        else return reply_error(r, 404, "not_found", "no such resource");
    } else {
        if (!part) what = P_PERSON;
        else if (!strcmp(part, "faces")) what = P_PERSON_FACES;
        else if (!strcmp(part, "images")) what = P_PERSON_IMAGES;
        else if (!strcmp(part, "merge")) what = P_MERGE;
        else return reply_error(r, 404, "not_found", "no such resource");
    }
    int patch = !strcmp(method, "PATCH"), del = !strcmp(method, "DELETE"), post = !strcmp(method, "POST");
    switch (what) {
    case P_PERSON:
        if (!get && !patch && !del) return reply_error(r, 405, "method_not_allowed", "use GET, PATCH or DELETE");
        break;
    case P_FACE:
        if (!get && !patch) return reply_error(r, 405, "method_not_allowed", "use GET or PATCH");
        break;
    case P_MERGE:
        if (!post) return reply_error(r, 405, "method_not_allowed", "use POST");
        break;
    default:
        if (!get) return reply_error(r, 405, "method_not_allowed", "use GET");
    }
    int64_t id = parse_id(id_s, idlen);
    if (!id) return reply_error(r, 404, "not_found", faces ? "no such face" : "no such person");
    scry_err err = {0};
    int rc;
    switch (what) {
    case P_FACE: return get ? reply_face(app, r, id) : patch_face(app, id, body, len, r);
    case P_FACE_THUMB: return face_thumbnail(app, id, r);
    case P_PERSON_FACES: return person_faces(app, id, arg, arg_ctx, r);
    case P_PERSON_IMAGES: return person_images(app, id, arg, arg_ctx, r);
    case P_MERGE: return merge_people(app, id, body, len, r);
    case P_PERSON:
        if (get) return reply_person(app, r, 200, id);
        if (patch) return patch_person(app, id, body, len, r);
        if ((rc = meta_person_delete(app->meta, id, &err))) return reply_scry(r, rc, &err);
        r->status = 204;
        return;
    }
}

void people_api_enrich_image(scry_app *app, const image_rec *r, json_t *doc) {
    if (!app->people) return;
    json_t *faces = json_object_get(doc, "faces");
    if (!json_is_array(faces) || !json_array_size(faces)) return;
    meta_face *f = NULL;
    int n = 0;
    scry_err err = {0};
    if (meta_faces_get(app->meta, r->rowid, people_model(app->people), &f, &n, &err) != SCRY_OK) return;
    for (int i = 0; i < n; i++) {
        json_t *o = json_array_get(faces, (size_t)f[i].face_index);
        if (!json_is_object(o)) continue;
        json_object_set_new(o, "face_id", json_integer(f[i].face_id));
        json_object_set_new(o, "person_id", f[i].person_id ? json_integer(f[i].person_id) : json_null());
        char name[PEOPLE_NAME_MAX + 1];
        int named = f[i].person_id && people_name(app->people, f[i].person_id, name, sizeof name);
        json_object_set_new(o, "person_name", named ? json_string(name) : json_null());
    }
    meta_faces_free(f, n);
}
