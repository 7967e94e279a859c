/* blob.c -- the backend-independent half of the blob store.
 *
 * A blob_store is a pointer to a table of operations (blob_backend.h) plus
 * the backend's own state; every public call in blob.h lands here, is
 * checked, and is dispatched through the table. What must hold whatever the
 * backend lives here and only here:
 *
 *   - names are validated before any backend sees them (64 lowercase hex
 *     chars), so a crafted name such as "../../etc/passwd" is refused with
 *     SCRY_EINVAL instead of becoming a path or an object key;
 *   - the writer hashes and counts the bytes on their way to the backend, so
 *     the name is known the moment the last byte arrives, without a second
 *     pass over a possibly large temp file;
 *   - a writer whose write failed is poisoned: it accepts no more bytes and
 *     its commit fails (and discards the temp), so a partial upload can never
 *     be stored under the hash of its prefix. */
#include "store/blob.h"

#include <stdlib.h>
#include <string.h>

#include "store/blob_backend.h"

struct blob_store {
    const blob_ops *ops;
    void *backend;
};

struct blob_writer {
    blob_store *bs;
    void *tmp;                  /* backend temp object */
    scry_sha256 *hash;
    uint64_t size;
    int poisoned;               /* a write failed: commit must fail */
};

blob_store *blob_store_new(const blob_ops *ops, void *backend) {
    blob_store *bs = calloc(1, sizeof *bs);
    if (!bs) return NULL;
    bs->ops = ops;
    bs->backend = backend;
    return bs;
}

int blob_name_valid(const char *sha) {
    if (!sha) return 0;
    for (int i = 0; i < SCRY_SHA256_HEX; i++) {
        char c = sha[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return 0;
    }
    return sha[SCRY_SHA256_HEX] == 0;
}

static int check_name(const char *sha, scry_err *err) {
    if (blob_name_valid(sha)) return SCRY_OK;
    return scry_fail(err, SCRY_EINVAL, "invalid blob name (want 64 lowercase hex chars)");
}

void blob_close(blob_store *bs) {
    if (!bs) return;
    bs->ops->close(bs->backend);
    free(bs);
}

int blob_writer_open(blob_store *bs, blob_writer **out, scry_err *err) {
    *out = NULL;
    blob_writer *w = calloc(1, sizeof *w);
    if (!w) return scry_fail(err, SCRY_ENOMEM, "out of memory (blob writer)");
    w->bs = bs;
    w->hash = scry_sha256_new();
    if (!w->hash) {
        free(w);
        return scry_fail(err, SCRY_ENOMEM, "out of memory (sha256)");
    }
    int rc = bs->ops->tmp_open(bs->backend, &w->tmp, err);
    if (rc != SCRY_OK) {
        char discard[SCRY_SHA256_HEX + 1];
        scry_sha256_final(w->hash, discard);
        free(w);
        return rc;
    }
    *out = w;
    return SCRY_OK;
}

int blob_writer_write(blob_writer *w, const void *data, size_t n, scry_err *err) {
    if (w->poisoned) return scry_fail(err, SCRY_EIO, "blob writer failed earlier");
    if (n == 0) return SCRY_OK;
    int rc = w->bs->ops->tmp_write(w->bs->backend, w->tmp, data, n, err);
    if (rc != SCRY_OK) {
        w->poisoned = 1;
        return rc;
    }
    scry_sha256_update(w->hash, data, n);
    w->size += n;
    return SCRY_OK;
}

uint64_t blob_writer_size(const blob_writer *w) { return w->size; }

int blob_writer_commit(blob_writer *w, char sha[SCRY_SHA256_HEX + 1], scry_err *err) {
    blob_store *bs = w->bs;
    char name[SCRY_SHA256_HEX + 1];
    scry_sha256_final(w->hash, name);
    int rc;
    if (w->poisoned) {
        bs->ops->tmp_abort(bs->backend, w->tmp);
        rc = scry_fail(err, SCRY_EIO, "blob writer failed earlier; nothing stored");
    } else {
        rc = bs->ops->tmp_commit(bs->backend, w->tmp, name, w->size, err);
    }
    free(w);
    if (rc == SCRY_OK) memcpy(sha, name, sizeof name);
    else sha[0] = 0;
    return rc;
}

void blob_writer_abort(blob_writer *w) {
    if (!w) return;
    char discard[SCRY_SHA256_HEX + 1];
    scry_sha256_final(w->hash, discard);
    w->bs->ops->tmp_abort(w->bs->backend, w->tmp);
    free(w);
}

int blob_put(blob_store *bs, const void *data, size_t n, char sha[SCRY_SHA256_HEX + 1],
             scry_err *err) {
    blob_writer *w;
    int rc = blob_writer_open(bs, &w, err);
    if (rc != SCRY_OK) return rc;
    rc = blob_writer_write(w, data, n, err);
    if (rc != SCRY_OK) {
        blob_writer_abort(w);
        return rc;
    }
    return blob_writer_commit(w, sha, err);
}

int blob_get(blob_store *bs, const char *sha, void **data, size_t *n, scry_err *err) {
    int rc = check_name(sha, err);
    if (rc != SCRY_OK) return rc;
    return bs->ops->get(bs->backend, sha, data, n, err);
}

int blob_stat(blob_store *bs, const char *sha, uint64_t *size, scry_err *err) {
    int rc = check_name(sha, err);
    if (rc != SCRY_OK) return rc;
    return bs->ops->stat(bs->backend, sha, size, err);
}

int blob_remove(blob_store *bs, const char *sha, scry_err *err) {
    int rc = check_name(sha, err);
    if (rc != SCRY_OK) return rc;
    return bs->ops->remove(bs->backend, sha, err);
}

int blob_local_path(blob_store *bs, const char *sha, char *path, size_t cap, scry_err *err) {
    int rc = check_name(sha, err);
    if (rc != SCRY_OK) return rc;
    if (!bs->ops->local_path)
        return scry_fail(err, SCRY_EUNSUPPORTED, "blob backend %s has no local files",
                         bs->ops->name);
    return bs->ops->local_path(bs->backend, sha, path, cap, err);
}

int blob_get_range(blob_store *bs, const char *sha, uint64_t offset, size_t len, void *buf,
                   size_t *got, scry_err *err) {
    *got = 0;
    int rc = check_name(sha, err);
    if (rc != SCRY_OK) return rc;
    if (len == 0) return SCRY_OK;
    return bs->ops->get_range(bs->backend, sha, offset, len, buf, got, err);
}

static int check_object_name(const char *name, scry_err *err) {
    size_t n = name ? strlen(name) : 0;
    int ok = n >= 1 && n <= 100;
    for (size_t i = 0; ok && i < n; i++) {
        char c = name[i];
        ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
    }
    if (ok && (!strcmp(name, ".") || !strcmp(name, ".."))) ok = 0;
    return ok ? SCRY_OK : scry_fail(err, SCRY_EINVAL, "invalid object name (want [a-z0-9._-]{1,100})");
}

int blob_put_named(blob_store *bs, const char *name, const void *data, size_t n, scry_err *err) {
    int rc = check_object_name(name, err);
    return rc ? rc : bs->ops->named_put(bs->backend, name, data, n, err);
}

int blob_get_named(blob_store *bs, const char *name, void **data, size_t *n, scry_err *err) {
    *data = NULL;
    *n = 0;
    int rc = check_object_name(name, err);
    return rc ? rc : bs->ops->named_get(bs->backend, name, data, n, err);
}

const char *blob_backend_name(blob_store *bs) { return bs->ops->name; }
