/* catalog.h -- the compact in-memory facts of every image, for ranking.
 *
 * Search must check structured constraints ("two dogs", "a red car", "no
 * people", "smiling", text "OPEN", a date range) against many candidates in
 * a few milliseconds, so parsing each image's JSON facts per query is out.
 * The catalog keeps, per image, what those checks need in ~200 bytes: label
 * counts, the colours seen on each label, face emotions, whole-image colours,
 * the lowercase OCR text and dates. 100k images take ~20 MB.
 *
 * It is a plain array plus an open-addressing hash from rowid to slot;
 * deletes move the last entry into the hole. The caller (search.c) holds a
 * read-write lock around it. */
#ifndef SCRY_CATALOG_H
#define SCRY_CATALOG_H

#include <stddef.h>
#include <stdint.h>

#include "core/labels.h"
#include "core/util.h"
#include "store/meta.h"

enum { CAT_PENDING = 0, CAT_READY = 1, CAT_FAILED = 2 };

typedef struct cat_entry {
    /* First cache line: what the hard filters and a scan read. */
    int64_t rowid;
    uint64_t labels[2];                        /* bit l: label l detected (fast set tests) */
    int64_t taken_at;                          /* unix seconds, 0 unknown */
    uint8_t status;
    uint8_t has_text;
    uint8_t nfaces;
    uint16_t image_colors;                     /* bit c: colour c covers >= 10% of the image */
    uint8_t emotion_count[SCRY_EMOTION_COUNT]; /* faces by top emotion */
    char *text_lc;                             /* lowercase OCR text, NULL if none (owned) */
    /* Then counts and colours per label, read for images with the label. */
    uint8_t label_count[SCRY_COCO_COUNT];      /* saturating at 255 */
    uint16_t label_colors[SCRY_COCO_COUNT];    /* bit c: an object of this label is colour c */
    uint8_t label_area[SCRY_COCO_COUNT];       /* largest box of the label, x255 of the image */
    uint16_t person_upper;                     /* bit c: some person wears colour c (upper body) */
    uint8_t person_count[SCRY_PERSON_COUNT];   /* faces by person word (man, woman, ...) */
    uint8_t photo_attrs;                       /* IMG_ATTR_* bits: black and white, dark, ... */
    int64_t created_at;                        /* ms */
    char id[SCRY_ID_LEN + 1];
} cat_entry;

/* The fields every per-query scan reads, in a dense array parallel to the
 * entries (40 bytes instead of ~350 a stride): a scan over 100k images then
 * streams 4 MB instead of missing the cache once per image. */
typedef struct cat_hot {
    int64_t rowid;
    uint64_t labels[2];         /* as cat_entry.labels */
    int64_t taken_at;
    uint16_t image_colors;
    uint8_t status;
    uint8_t has_text;
    uint8_t emotions;           /* bit e: some face has top emotion e */
    uint8_t photo_attrs;        /* as cat_entry.photo_attrs */
} cat_hot;

typedef struct catalog catalog;

catalog *catalog_new(void);
void catalog_free(catalog *c);

/* Insert or replace the entry for r->rowid from a full image record. */
int catalog_upsert(catalog *c, const image_rec *r);
void catalog_remove(catalog *c, int64_t rowid);
/* NULL when absent. The pointer is valid until the next upsert/remove. */
const cat_entry *catalog_get(const catalog *c, int64_t rowid);
size_t catalog_count(const catalog *c);
/* Entry i in [0, count), for scans. */
const cat_entry *catalog_at(const catalog *c, size_t i);
/* The hot fields of entries [0, count), same order (valid until the next
 * upsert/remove). */
const cat_hot *catalog_hot(const catalog *c);
void catalog_hot_fill(cat_hot *h, const cat_entry *e);

/* Snapshots (search/snapshot.h): the entries as bytes, and a catalog from
 * them (SCRY_ECORRUPT when they do not parse). catalog_layout is the
 * fingerprint of cat_entry's layout a snapshot must match. */
struct snap_out;
struct snap_in;
uint64_t catalog_layout(void);
void catalog_write(const catalog *c, struct snap_out *o);
int catalog_read(catalog **out, struct snap_in *in);

/* Fill an entry from a record (exposed for tests). e->text_lc is malloc'ed. */
void catalog_fill(cat_entry *e, const image_rec *r);

#endif
