/* rowmap.c -- see rowmap.h. */
#include "search/rowmap.h"

#include <stdlib.h>
#include <string.h>

#include "core/err.h"

static uint64_t mix(int64_t k) {
    uint64_t x = (uint64_t)k;
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    return x;
}

/* Slot holding key, or the slot where it would go (first deleted marker on
 * the probe path, else the empty slot that ends it). Needs cap > 0. */
static size_t find(const rowmap *m, int64_t key, int *found) {
    size_t mask = m->cap - 1, i = mix(key) & mask, tomb = (size_t)-1;
    for (;;) {
        int64_t k = m->keys[i];
        if (k == key) { *found = 1; return i; }
        if (k == 0) { *found = 0; return tomb != (size_t)-1 ? tomb : i; }
        if (k == -1 && tomb == (size_t)-1) tomb = i;
        i = (i + 1) & mask;
    }
}

static int resize(rowmap *m, size_t cap) {
    int64_t *keys = calloc(cap, sizeof *keys);
    uint32_t *vals = calloc(cap, sizeof *vals);
    if (!keys || !vals) {
        free(keys);
        free(vals);
        return SCRY_ENOMEM;
    }
    rowmap old = *m;
    m->keys = keys;
    m->vals = vals;
    m->cap = cap;
    m->used = m->live = 0;
    for (size_t i = 0; i < old.cap; i++) {
        if (old.keys[i] <= 0) continue;
        int found;
        size_t s = find(m, old.keys[i], &found);
        m->keys[s] = old.keys[i];
        m->vals[s] = old.vals[i];
        m->used++;
        m->live++;
    }
    free(old.keys);
    free(old.vals);
    return SCRY_OK;
}

int rowmap_get(const rowmap *m, int64_t key, uint32_t *val) {
    if (!m->cap) return 0;
    int found;
    size_t s = find(m, key, &found);
    if (found && val) *val = m->vals[s];
    return found;
}

int rowmap_put(rowmap *m, int64_t key, uint32_t val) {
    int found;
    size_t s;
    if (m->cap) {               /* overwriting never allocates */
        s = find(m, key, &found);
        if (found) {
            m->vals[s] = val;
            return SCRY_OK;
        }
    }
    if ((m->used + 1) * 2 > m->cap) {
        size_t cap = 1024;
        while ((m->live + 1) * 4 > cap) cap *= 2;
        if (resize(m, cap) != SCRY_OK) return SCRY_ENOMEM;
    }
    s = find(m, key, &found);
    if (m->keys[s] == 0) m->used++;
    m->keys[s] = key;
    m->vals[s] = val;
    m->live++;
    return SCRY_OK;
}

int rowmap_del(rowmap *m, int64_t key) {
    if (!m->cap) return 0;
    int found;
    size_t s = find(m, key, &found);
    if (!found) return 0;
    m->keys[s] = -1;
    m->live--;
    return 1;
}

void rowmap_clear(rowmap *m) {
    if (m->cap) memset(m->keys, 0, m->cap * sizeof *m->keys);
    m->used = m->live = 0;
}

void rowmap_free(rowmap *m) {
    free(m->keys);
    free(m->vals);
    memset(m, 0, sizeof *m);
}
