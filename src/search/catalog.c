/* catalog.c -- see catalog.h. */
#include "search/catalog.h"

#include <ctype.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "vision/image.h"

#include "search/rowmap.h"
#include "search/snapshot.h"

struct catalog {
    cat_entry *entries;
    cat_hot *hot;               /* parallel to entries */
    size_t n, cap;
    rowmap index;               /* rowid -> index into entries */
};

catalog *catalog_new(void) { return calloc(1, sizeof(catalog)); }

void catalog_free(catalog *c) {
    if (!c) return;
    for (size_t i = 0; i < c->n; i++) free(c->entries[i].text_lc);
    free(c->entries);
    free(c->hot);
    rowmap_free(&c->index);
    free(c);
}


static const char *str_of(json_t *o, const char *key) { return json_string_value(json_object_get(o, key)); }

void catalog_fill(cat_entry *e, const image_rec *r) {
    memset(e, 0, sizeof *e);
    e->rowid = r->rowid;
    memcpy(e->id, r->id, sizeof e->id);
    e->status = !strcmp(r->status, "ready") ? CAT_READY : !strcmp(r->status, "failed") ? CAT_FAILED : CAT_PENDING;
    e->taken_at = r->taken_at;
    e->created_at = r->created_at;
    size_t i;
    json_t *el;
    json_t *tags = r->tags_json ? json_loads(r->tags_json, 0, NULL) : NULL;
    json_array_foreach(tags, i, el) {
        const char *kind = str_of(el, "kind");
        if (kind && !strcmp(kind, "photo")) {
            int a = img_attr_index(str_of(el, "label"));
            if (a >= 0) e->photo_attrs |= (uint8_t)(1u << a);
            continue;
        }
        if (kind) continue;     /* concepts and relations: the keyword index has them */
        int l = scry_coco_index(str_of(el, "label"));
        if (l < 0) continue;
        int up = l == 0 ? scry_color_index(str_of(el, "upper")) : -1;
        if (up >= 0) e->person_upper |= (uint16_t)(1u << up);
        if (e->label_count[l] < 255) e->label_count[l]++;
        json_t *box = json_object_get(el, "box");
        if (json_array_size(box) == 4 && r->width > 0 && r->height > 0) {
            double a = json_number_value(json_array_get(box, 2)) * json_number_value(json_array_get(box, 3)) /
                       ((double)r->width * r->height);
            int q8 = a >= 1 ? 255 : a <= 0 ? 0 : (int)(a * 255 + 0.5);
            if (q8 > e->label_area[l]) e->label_area[l] = (uint8_t)q8;
        }
        e->labels[l / 64] |= 1ULL << (l % 64);
        int c = scry_color_index(str_of(el, "color"));
        if (c >= 0) e->label_colors[l] |= (uint16_t)(1u << c);
    }
    json_decref(tags);
    json_t *faces = r->faces_json ? json_loads(r->faces_json, 0, NULL) : NULL;
    json_array_foreach(faces, i, el) {
        if (e->nfaces < 255) e->nfaces++;
        int em = scry_emotion_index(str_of(el, "emotion"));
        if (em >= 0 && e->emotion_count[em] < 255) e->emotion_count[em]++;
        int pw = scry_person_index(str_of(el, "person"));
        if (pw >= 0 && e->person_count[pw] < 255) e->person_count[pw]++;
    }
    json_decref(faces);
    json_t *colors = r->colors_json ? json_loads(r->colors_json, 0, NULL) : NULL;
    json_array_foreach(colors, i, el) {
        int c = scry_color_index(str_of(el, "name"));
        if (c >= 0 && json_number_value(json_object_get(el, "fraction")) >= 0.10)
            e->image_colors |= (uint16_t)(1u << c);
    }
    json_decref(colors);
    if (r->text && *r->text) {
        e->has_text = 1;
        e->text_lc = strdup(r->text);
        if (e->text_lc)
            for (char *p = e->text_lc; *p; p++) *p = (char)tolower((unsigned char)*p);
    }
}

void catalog_hot_fill(cat_hot *h, const cat_entry *e) {
    memset(h, 0, sizeof *h);
    h->rowid = e->rowid;
    h->labels[0] = e->labels[0];
    h->labels[1] = e->labels[1];
    h->taken_at = e->taken_at;
    h->image_colors = e->image_colors;
    h->status = e->status;
    h->has_text = e->has_text;
    h->photo_attrs = e->photo_attrs;
    for (int i = 0; i < SCRY_EMOTION_COUNT; i++)
        if (e->emotion_count[i]) h->emotions |= (uint8_t)(1u << i);
}

int catalog_upsert(catalog *c, const image_rec *r) {
    if (r->rowid <= 0) return SCRY_EINVAL;
    uint32_t at;
    if (rowmap_get(&c->index, r->rowid, &at)) {
        cat_entry *e = &c->entries[at];
        free(e->text_lc);
        catalog_fill(e, r);
        catalog_hot_fill(&c->hot[at], e);
        return SCRY_OK;
    }
    if (c->n == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 1024;
        cat_entry *p = realloc(c->entries, cap * sizeof *p);
        if (!p) return SCRY_ENOMEM;
        c->entries = p;
        cat_hot *h = realloc(c->hot, cap * sizeof *h);
        if (!h) return SCRY_ENOMEM;
        c->hot = h;
        c->cap = cap;
    }
    if (rowmap_put(&c->index, r->rowid, (uint32_t)c->n) != SCRY_OK) return SCRY_ENOMEM;
    catalog_fill(&c->entries[c->n], r);
    catalog_hot_fill(&c->hot[c->n], &c->entries[c->n]);
    c->n++;
    return SCRY_OK;
}

void catalog_remove(catalog *c, int64_t rowid) {
    uint32_t e;
    if (!rowmap_get(&c->index, rowid, &e)) return;
    free(c->entries[e].text_lc);
    rowmap_del(&c->index, rowid);
    size_t last = c->n - 1;
    if (e != last) {            /* move the last entry into the hole */
        c->entries[e] = c->entries[last];
        c->hot[e] = c->hot[last];
        rowmap_put(&c->index, c->entries[e].rowid, e);   /* overwrite: cannot fail */
    }
    c->n--;
}

const cat_entry *catalog_get(const catalog *c, int64_t rowid) {
    uint32_t at;
    return rowmap_get(&c->index, rowid, &at) ? &c->entries[at] : NULL;
}

size_t catalog_count(const catalog *c) { return c->n; }
const cat_entry *catalog_at(const catalog *c, size_t i) { return i < c->n ? &c->entries[i] : NULL; }
const cat_hot *catalog_hot(const catalog *c) { return c->hot; }

/* ---- snapshots ---------------------------------------------------------------- */

uint64_t catalog_layout(void) {
    uint64_t h = SCRY_FNV1A_INIT;
    size_t v[] = {sizeof(cat_entry), sizeof(cat_hot), SCRY_COCO_COUNT, SCRY_EMOTION_COUNT,
                  SCRY_PERSON_COUNT, offsetof(cat_entry, text_lc), offsetof(cat_entry, id)};
    return scry_fnv1a(h, v, sizeof v);
}

/* Entries as they are in memory, text_lc as a string after each. */
void catalog_write(const catalog *c, snap_out *o) {
    snap_u64(o, c->n);
    for (size_t i = 0; i < c->n; i++) {
        cat_entry e = c->entries[i];
        const char *text = e.text_lc;
        e.text_lc = NULL;
        snap_put(o, &e, sizeof e);
        snap_str(o, text);
    }
}

int catalog_read(catalog **out, snap_in *in) {
    *out = NULL;
    uint64_t n = snap_get_u64(in);
    if (in->bad || n > (in->len - in->off) / sizeof(cat_entry)) return SCRY_ECORRUPT;
    catalog *c = catalog_new();
    if (!c) return SCRY_ENOMEM;
    if (n) {
        c->entries = malloc((size_t)n * sizeof *c->entries);
        c->hot = malloc((size_t)n * sizeof *c->hot);
        if (!c->entries || !c->hot) {
            catalog_free(c);
            return SCRY_ENOMEM;
        }
        c->cap = (size_t)n;
    }
    for (uint64_t i = 0; i < n; i++) {
        cat_entry *e = &c->entries[c->n];
        if (snap_get(in, e, sizeof *e)) break;
        e->text_lc = snap_get_str(in);
        if (in->bad || e->rowid <= 0 || rowmap_put(&c->index, e->rowid, (uint32_t)c->n) != SCRY_OK) {
            free(e->text_lc);
            in->bad = 1;
            break;
        }
        catalog_hot_fill(&c->hot[c->n], e);
        c->n++;
    }
    if (in->bad) {
        catalog_free(c);
        return SCRY_ECORRUPT;
    }
    *out = c;
    return SCRY_OK;
}
