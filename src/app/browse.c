/* browse.c -- see browse.h. */
#include "app/browse.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "app/render.h"
#include "core/labels.h"
#include "core/util.h"
#include "search/search.h"

int browse_similar(scry_app *app, const char *id, int limit, int offset, json_t **out, scry_err *err) {
    *out = NULL;
    image_rec rec;
    int rc = meta_image_get(app->meta, id, &rec, err);
    if (rc) return rc;
    int64_t rowid = rec.rowid;
    image_rec_free(&rec);
    search_response res;
    rc = search_similar(app->search, rowid, limit, offset, &res, err);
    if (rc) return rc;
    json_t *doc = render_search(NULL, &res);
    search_response_free(&res);
    json_t *results = json_incref(json_object_get(doc, "results"));
    json_decref(doc);
    *out = json_pack("{s:s,s:o}", "image_id", id, "results", results);
    return *out ? SCRY_OK : scry_fail(err, SCRY_ENOMEM, "out of memory");
}

typedef struct count_item {
    const char *name;
    int64_t count;
} count_item;

static int by_count_desc(const void *a, const void *b) {
    const count_item *x = a, *y = b;
    if (x->count != y->count) return x->count < y->count ? 1 : -1;
    return strcmp(x->name, y->name);
}

/* [{key: name, "count": n}] for the names that occur, most frequent first. */
static json_t *counts_json(const char *key, const char *const *names, const int64_t *counts, int n) {
    count_item items[SCRY_COCO_COUNT];
    int k = 0;
    for (int i = 0; i < n && k < SCRY_COCO_COUNT; i++)
        if (counts[i] > 0) items[k++] = (count_item){names[i], counts[i]};
    qsort(items, (size_t)k, sizeof *items, by_count_desc);
    json_t *arr = json_array();
    for (int i = 0; i < k; i++)
        json_array_append_new(arr, json_pack("{s:s,s:I}", key, items[i].name, "count", (json_int_t)items[i].count));
    return arr;
}

static json_t *day_json(int64_t unix_s) {
    char buf[16];
    time_t t = (time_t)unix_s;
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, sizeof buf, "%Y-%m-%d", &tm);
    return json_string(buf);
}

int browse_facets(scry_app *app, json_t **out, scry_err *err) {
    *out = NULL;
    search_facets f;
    int rc = search_get_facets(app->search, &f, err);
    if (rc) return rc;
    json_t *doc = json_object();
    json_object_set_new(doc, "images", json_integer(f.images));
    json_object_set_new(doc, "labels", counts_json("label", scry_coco_labels, f.label_images, SCRY_COCO_COUNT));
    json_object_set_new(doc, "emotions",
                        counts_json("emotion", scry_emotion_labels, f.emotion_images, SCRY_EMOTION_COUNT));
    json_object_set_new(doc, "with_text", json_integer(f.with_text));
    json_object_set_new(doc, "dated", json_integer(f.dated));
    json_object_set_new(doc, "dates", f.dated ? json_pack("{s:o,s:o}", "from", day_json(f.first_taken), "to",
                                                          day_json(f.last_taken))
                                              : json_null());
    *out = doc;
    return SCRY_OK;
}
