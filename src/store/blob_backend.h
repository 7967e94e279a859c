/* blob_backend.h -- what a blob store backend implements (not for callers).
 *
 * blob.h is the interface the rest of Scry uses; this header is the contract
 * between the generic front end (blob.c) and a backend (blob_fs.c, blob_s3.c). The split puts everything that must be the
 * same for every backend in one place:
 *
 *   - blob.c validates names (exactly 64 lowercase hex chars, so that a name
 *     can never escape a directory or a bucket prefix), hashes the bytes as
 *     they stream through a writer, counts them, and poisons a writer after a
 *     failed write so that a half-written blob can never be committed;
 *   - a backend only moves bytes: it opens a temp object, appends to it, and
 *     at commit makes it durable under the final name it is given.
 *
 * A backend therefore never hashes and never sees an invalid name. Every op
 * may be called from any thread concurrently (a temp object is used by one
 * thread at a time). */
#ifndef SCRY_BLOB_BACKEND_H
#define SCRY_BLOB_BACKEND_H

#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "store/blob.h"

typedef struct blob_ops {
    const char *name;           /* "fs", "s3": for logs */
    /* Free the backend state (not the blob_store itself). */
    void (*close)(void *backend);
    /* Start a temp object; *tmp is the backend's state for it. */
    int (*tmp_open)(void *backend, void **tmp, scry_err *err);
    int (*tmp_write)(void *backend, void *tmp, const void *data, size_t n, scry_err *err);
    /* Make the temp durable under sha (size bytes in total, as counted by the
     * front end) and free tmp, whatever the outcome. When a blob named sha
     * exists already the temp is discarded (dedup) and this succeeds. */
    int (*tmp_commit)(void *backend, void *tmp, const char *sha, uint64_t size, scry_err *err);
    /* Discard the temp and free tmp. */
    void (*tmp_abort)(void *backend, void *tmp);
    int (*get)(void *backend, const char *sha, void **data, size_t *n, scry_err *err);
    int (*get_range)(void *backend, const char *sha, uint64_t offset, size_t len, void *buf,
                     size_t *got, scry_err *err);
    int (*stat)(void *backend, const char *sha, uint64_t *size, scry_err *err);
    int (*remove)(void *backend, const char *sha, scry_err *err);
    /* NULL for backends without local files (the front end then answers
     * SCRY_EUNSUPPORTED). */
    int (*local_path)(void *backend, const char *sha, char *path, size_t cap, scry_err *err);
    /* Named objects (blob.h); the front end has validated name. */
    int (*named_put)(void *backend, const char *name, const void *data, size_t n, scry_err *err);
    int (*named_get)(void *backend, const char *name, void **data, size_t *n, scry_err *err);
} blob_ops;

/* Wrap a backend in a store; the store owns backend from now on (released
 * with ops->close by blob_close). NULL when out of memory, in which case the
 * caller still owns backend. */
blob_store *blob_store_new(const blob_ops *ops, void *backend);

/* 1 when name is a well-formed blob name (64 lowercase hex chars). */
int blob_name_valid(const char *sha);

#endif
