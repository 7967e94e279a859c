/* render.c -- see render.h. Stored JSON text columns are parsed back into
 * values; a column a later stage has not filled yet renders as its empty
 * value ({} , [] or "") so clients see a stable shape. */
#include "app/render.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"

/* A JSON string from bytes that may not be UTF-8 (filenames, OCR output):
 * invalid bytes become '?' rather than dropping the whole field. */
static json_t *jstr(const char *s) {
    if (!s) s = "";
    json_t *v = json_string(s);
    if (v) return v;
    char *copy = strdup(s);
    if (!copy) return json_string("");
    for (char *p = copy; *p; p++)
        if ((unsigned char)*p >= 0x80) *p = '?';
    v = json_string(copy);
    free(copy);
    return v ? v : json_string("");
}

static json_t *parsed_or(const char *text, json_t *fallback) {
    if (text && *text) {
        json_t *v = json_loads(text, 0, NULL);
        if (v) {
            json_decref(fallback);
            return v;
        }
    }
    return fallback;
}

static json_t *iso(int64_t ms) {
    char buf[32];
    scry_iso8601(ms, buf);
    return jstr(buf);
}

json_t *render_image(const image_rec *r) {
    json_t *o = json_object();
    json_object_set_new(o, "id", jstr(r->id));
    json_object_set_new(o, "filename", jstr(r->filename ? r->filename : ""));
    json_object_set_new(o, "status", jstr(r->status));
    json_object_set_new(o, "format", jstr(r->format));
    json_object_set_new(o, "width", json_integer(r->width));
    json_object_set_new(o, "height", json_integer(r->height));
    json_object_set_new(o, "bytes", json_integer(r->bytes));
    json_object_set_new(o, "sha256", jstr(r->sha256));
    json_object_set_new(o, "exif", parsed_or(r->exif_json, json_object()));
    json_object_set_new(o, "colors", parsed_or(r->colors_json, json_array()));
    json_object_set_new(o, "caption", jstr(r->caption ? r->caption : ""));
    json_object_set_new(o, "tags", parsed_or(r->tags_json, json_array()));
    json_object_set_new(o, "faces", parsed_or(r->faces_json, json_array()));
    json_object_set_new(o, "text", jstr(r->text ? r->text : ""));
    json_object_set_new(o, "words", parsed_or(r->text_json, json_array()));
    if (r->has_phash) {
        char hex[17];
        snprintf(hex, sizeof hex, "%016" PRIx64, r->phash);
        json_object_set_new(o, "phash", jstr(hex));
    } else {
        json_object_set_new(o, "phash", json_null());
    }
    json_object_set_new(o, "created_at", iso(r->created_at));
    json_object_set_new(o, "updated_at", iso(r->updated_at));
    return o;
}

json_t *render_job(const job_rec *j, int with_errors) {
    json_t *o = json_object();
    json_object_set_new(o, "job_id", jstr(j->id));
    json_object_set_new(o, "status", jstr(j->status));
    json_object_set_new(o, "total", json_integer(j->total));
    json_object_set_new(o, "done", json_integer(j->done));
    json_object_set_new(o, "failed", json_integer(j->failed));
    if (j->error) json_object_set_new(o, "error", jstr(j->error));
    if (with_errors) {
        json_t *errs = json_array();
        for (int i = 0; i < j->nerrors; i++) {
            json_t *e = json_object();
            json_object_set_new(e, "image_id", jstr(j->errors[i].image_id));
            json_object_set_new(e, "filename",
                                jstr(j->errors[i].filename ? j->errors[i].filename : ""));
            json_object_set_new(e, "stage", jstr(j->errors[i].stage));
            json_object_set_new(e, "message",
                                jstr(j->errors[i].message ? j->errors[i].message : ""));
            json_array_append_new(errs, e);
        }
        json_object_set_new(o, "errors", errs);
    }
    json_object_set_new(o, "created_at", iso(j->created_at));
    json_object_set_new(o, "updated_at", iso(j->updated_at));
    return o;
}

json_t *render_search(const char *query, const search_response *resp) {
    const search_result *res = resp->results;
    int n = resp->n;
    json_t *o = json_object();
    json_object_set_new(o, "query", jstr(query ? query : ""));
    json_object_set_new(o, "understood", parsed_or(resp->understood, json_object()));
    json_t *arr = json_array();
    for (int i = 0; i < n; i++) {
        json_t *r = json_object();
        json_object_set_new(r, "id", jstr(res[i].id));
        json_object_set_new(r, "filename", jstr(res[i].filename ? res[i].filename : ""));
        json_object_set_new(r, "score", json_real(res[i].score));
        json_object_set_new(r, "caption", jstr(res[i].caption ? res[i].caption : ""));
        json_object_set_new(r, "why", jstr(res[i].why ? res[i].why : ""));
        if (res[i].has_signals) {
            const search_signals *sg = &res[i].signals;
            json_t *g = json_object();
            json_object_set_new(g, "vector", json_real(sg->vector));
            json_object_set_new(g, "image", json_real(sg->image));
            json_object_set_new(g, "bm25", json_real(sg->bm25));
            json_object_set_new(g, "structured", json_real(sg->structured));
            json_object_set_new(g, "absent", json_boolean(sg->absent));
            json_object_set_new(r, "signals", g);
        }
        json_array_append_new(arr, r);
    }
    json_object_set_new(o, "results", arr);
    return o;
}

json_t *render_error(const char *code, const char *message) {
    json_t *e = json_object();
    json_object_set_new(e, "code", jstr(code));
    json_object_set_new(e, "message", jstr(message ? message : ""));
    json_t *o = json_object();
    json_object_set_new(o, "error", e);
    return o;
}
