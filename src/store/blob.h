/* blob.h -- the blob store: content-addressed bytes (originals, thumbnails).
 *
 * A blob is named by the SHA-256 of its bytes, so storing the same bytes twice
 * keeps one copy and a name always denotes exactly one content. The store is
 * an interface (a table of operations) with two backends: a local folder
 * (blob_open_fs, the default) and S3-compatible object storage
 * (blob_open_s3: AWS S3, MinIO, Ceph RGW, s3rver...; blob_s3.c).
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

/* Open a bucket as a store. url is "s3://bucket[/prefix]"; objects live
 * under prefix/objects/ab/cdef... and named objects under prefix/named/.
 * endpoint "http[s]://host[:port]" or NULL/"" for AWS
 * (https://s3.REGION.amazonaws.com). addressing "path" (endpoint/bucket/key),
 * "virtual" (bucket.host/key) or "auto" (virtual for AWS, path for another
 * endpoint). Writes are spooled to a temp file under spool_dir and sent at
 * commit: one PUT up to multipart_bytes, a multipart upload above it (8 MiB
 * parts, or larger to stay within S3's 10,000). Every request is retried
 * with backoff on 5xx, 429 and transport errors (timeouts, refused or reset
 * connections) for retry_s (15 s); then the call fails with SCRY_EBUSY, "blob
 * store unavailable" (a 503 at the API). */
typedef struct blob_s3_config {
    const char *url;
    const char *endpoint;
    const char *region;         /* "" -> us-east-1 */
    const char *access_key, *secret_key;
    const char *addressing;
    const char *spool_dir;      /* "" -> $TMPDIR or /tmp */
    uint64_t multipart_bytes;   /* 0 -> 16 MiB */
    double retry_s;             /* how long to retry a failing request; 0 -> 15 s */
} blob_s3_config;
int blob_open_s3(blob_store **out, const blob_s3_config *cfg, scry_err *err);
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
/* Read up to len bytes from offset into buf; *got is what was read (less
 * than len only at the end of the blob). SCRY_ENOTFOUND when absent. */
int blob_get_range(blob_store *bs, const char *sha, uint64_t offset, size_t len, void *buf,
                   size_t *got, scry_err *err);
/* Size of a blob, or SCRY_ENOTFOUND. */
int blob_stat(blob_store *bs, const char *sha, uint64_t *size, scry_err *err);
/* Remove a blob (absent is not an error). The caller is responsible for
 * knowing that nothing references it any more. */
int blob_remove(blob_store *bs, const char *sha, scry_err *err);
/* For the folder backend, the file path of a blob (for zero-copy serving);
 * returns SCRY_EUNSUPPORTED for backends without local files. */
int blob_local_path(blob_store *bs, const char *sha, char *path, size_t cap, scry_err *err);

/* Named objects: the few things that are not content-addressed because
 * readers find them by name (a search node's latest snapshot). A put
 * replaces the object whole (readers see the old or the new bytes, never a
 * mix). Names are 1-100 chars of [a-z0-9._-]. */
int blob_put_named(blob_store *bs, const char *name, const void *data, size_t n, scry_err *err);
/* SCRY_ENOTFOUND when absent. *data malloc'ed. */
int blob_get_named(blob_store *bs, const char *name, void **data, size_t *n, scry_err *err);
/* "fs" or "s3". */
const char *blob_backend_name(blob_store *bs);

#endif
