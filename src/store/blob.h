/* blob.h -- the blob store: content-addressed bytes (originals, thumbnails).
 *
 * A blob is named by the SHA-256 of its bytes, so storing the same bytes twice
 * keeps one copy and a name always denotes exactly one content. The store is
 * an interface (a table of operations) with one backend today, a local folder
 * (blob_open_fs); an S3-compatible backend implements the same table later.
 *
 * Writes stream through a blob_writer so that a large upload never has to sit
 * in memory: bytes go to a temp object while their hash is computed, and
 * commit makes them durable under their final name before returning (for the
 * folder backend: fsync temp, rename to objects/ab/cdef..., fsync dir). Only
 * after commit returns may the caller tell a client the upload is stored.
 *
 * Thread safety: every operation may be called from any thread concurrently;
 * a blob_writer belongs to one thread at a time. */
#ifndef SCRY_BLOB_H
#define SCRY_BLOB_H

#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "core/util.h"

typedef struct blob_store blob_store;
typedef struct blob_writer blob_writer;

/* Open (creating if needed) a folder-backed store rooted at dir. Leftover
 * temp files from a crash are removed. */
int blob_open_fs(blob_store **out, const char *dir, scry_err *err);
void blob_close(blob_store *bs);

/* Streaming write. */
int blob_writer_open(blob_store *bs, blob_writer **out, scry_err *err);
int blob_writer_write(blob_writer *w, const void *data, size_t n, scry_err *err);
uint64_t blob_writer_size(const blob_writer *w);
/* Make the bytes durable under their hash; fills sha (hex). Frees w whatever
 * the outcome. If the same content already exists the temp is discarded. */
int blob_writer_commit(blob_writer *w, char sha[SCRY_SHA256_HEX + 1], scry_err *err);
/* Discard; frees w. NULL-safe. */
void blob_writer_abort(blob_writer *w);

/* Whole-buffer convenience over the writer. */
int blob_put(blob_store *bs, const void *data, size_t n, char sha[SCRY_SHA256_HEX + 1],
             scry_err *err);
/* Read a whole blob into a malloc'ed buffer (caller frees). SCRY_ENOTFOUND
 * when absent. */
int blob_get(blob_store *bs, const char *sha, void **data, size_t *n, scry_err *err);
/* Size of a blob, or SCRY_ENOTFOUND. */
int blob_stat(blob_store *bs, const char *sha, uint64_t *size, scry_err *err);
/* Remove a blob (absent is not an error). The caller is responsible for
 * knowing that nothing references it any more. */
int blob_remove(blob_store *bs, const char *sha, scry_err *err);
/* For the folder backend, the file path of a blob (for zero-copy serving);
 * returns SCRY_EUNSUPPORTED for backends without local files. */
int blob_local_path(blob_store *bs, const char *sha, char *path, size_t cap, scry_err *err);

#endif
