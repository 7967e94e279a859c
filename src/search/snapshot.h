/* snapshot.h -- a search engine's in-memory state as one byte string.
 *
 * Why: a search node restarting at 100k images spent ~13 s rebuilding its
 * catalog and keyword index from rows (parsing every image's JSON facts
 * again) and re-reading every vector. A snapshot holds the built structures
 * -- the catalog's entries, the keyword index's dictionary, postings and
 * documents, the HNSW index file -- and the change-feed sequence they are
 * current to; loading one and replaying the feed from that sequence gives
 * the same state as a rebuild (docs/scale.md has the figures).
 *
 * Format (little-endian, this build's struct layouts):
 *   "SCRYSNAP" u32 version, u64 layout fingerprint (sizes of the packed
 *   records, label and colour counts: a build whose catalog entries differ
 *   refuses the snapshot and rebuilds), i64 sequence, str vector name, then
 *   three sections (u64 length + bytes): catalog, keyword index, HNSW
 *   file; then the SHA-256 of everything before it. A truncated, corrupt
 *   or foreign snapshot is refused as a whole (SCRY_ECORRUPT).
 *
 * Where: the blob store's named object "search-<vector name>" (blob.h):
 * DATA/blobs/named/ on the embedded default, PREFIX/named/ in S3, so a new
 * search node on another machine finds the latest one. Written by search
 * nodes every --snapshot-s seconds when something changed, and at shutdown.
 *
 * This header also has the small byte-buffer codec the sections use
 * (catalog.c and kwindex.c write and read their own structures with it). */
#ifndef SCRY_SNAPSHOT_H
#define SCRY_SNAPSHOT_H

#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

/* A growable output buffer; oom sticks. */
typedef struct snap_out {
    uint8_t *p;
    size_t len, cap;
    int oom;
} snap_out;
void snap_put(snap_out *o, const void *data, size_t n);
void snap_u32(snap_out *o, uint32_t v);
void snap_u64(snap_out *o, uint64_t v);
void snap_str(snap_out *o, const char *s);   /* u32 length + bytes; NULL as 0xffffffff */

/* A reader over bytes; bad sticks (reads past the end return zeros). */
typedef struct snap_in {
    const uint8_t *p;
    size_t len, off;
    int bad;
} snap_in;
int snap_get(snap_in *in, void *out, size_t n);
uint32_t snap_get_u32(snap_in *in);
uint64_t snap_get_u64(snap_in *in);
/* A malloc'ed copy (NULL for a NULL string; sets bad when out of memory). */
char *snap_get_str(snap_in *in);
/* Pointer to the next n bytes in place, or NULL (bad) past the end. */
const void *snap_take(snap_in *in, size_t n);

typedef struct snapshot_parts {
    uint64_t layout;
    int64_t seq;
    char vname[128];
    const void *catalog, *kw, *index;   /* on decode: pointers into the snapshot */
    size_t ncatalog, nkw, nindex;
} snapshot_parts;

/* Parts -> one malloc'ed snapshot. */
int snapshot_encode(const snapshot_parts *p, void **out, size_t *n, scry_err *err);
/* Check and split a snapshot (its sections point into data). */
int snapshot_decode(const void *data, size_t n, snapshot_parts *p, scry_err *err);
/* The blob store object name for a vector name ("search-" + sanitised). */
void snapshot_name(const char *vname, char *out, size_t cap);

#endif
