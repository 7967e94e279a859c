/* rowmap.h -- an open-addressing hash from image rowid to a 32-bit slot.
 *
 * The catalog and the keyword index both keep per-image records in arrays
 * and need rowid -> array index in O(1); this is that map, once. Linear
 * probing over power-of-two tables kept at most half full (deleted markers
 * included, so a probe always ends at an empty slot); a resize drops the
 * markers. Keys must be > 0 (SQLite rowids are): 0 marks an empty slot, -1 a
 * deleted one. A zero-initialised rowmap is empty and ready. Not thread-safe:
 * the owner locks. */
#ifndef SCRY_ROWMAP_H
#define SCRY_ROWMAP_H

#include <stddef.h>
#include <stdint.h>

typedef struct rowmap {
    int64_t *keys;
    uint32_t *vals;
    size_t cap;                 /* power of two, or 0 before the first put */
    size_t used;                /* slots not empty: live keys + deleted markers */
    size_t live;
} rowmap;

/* 1 and *val when key is present, else 0. */
int rowmap_get(const rowmap *m, int64_t key, uint32_t *val);
/* Insert or overwrite (overwriting never allocates, so it cannot fail).
 * SCRY_OK, or SCRY_ENOMEM (the map is unchanged). */
int rowmap_put(rowmap *m, int64_t key, uint32_t val);
/* 1 when key was present and is removed. */
int rowmap_del(rowmap *m, int64_t key);
/* Remove every key, keeping the table. */
void rowmap_clear(rowmap *m);
void rowmap_free(rowmap *m);

#endif
