/* blob_fs.c -- the local-folder blob backend.
 *
 * Layout under the store's root:
 *
 *   objects/ab/cdef...   a blob, named by the 64 hex chars of its SHA-256;
 *                        the first two chars are a fan-out directory so that
 *                        no directory holds more than ~1/256 of the blobs
 *   tmp/w-XXXXXX         a write in progress
 *
 * Durability: commit fsyncs the temp, renames it into objects/ab/ (same file
 * system, so the rename is atomic: a reader sees no blob or the whole blob),
 * then fsyncs objects/ab/ so that the new name survives a power cut. Only
 * then does commit return, so an acknowledged upload is on disk. When the
 * fan-out directory had to be created, objects/ is fsynced as well.
 *
 * Dedup: if the final name exists already with the same size, the temp is
 * discarded before it is fsynced; the same bytes are stored once. (A same-named file of another
 * size can only be damage, e.g. a disk that lost data; it is replaced.)
 *
 * Leftover temps: a crash mid-upload leaves a file in tmp/. Opening the store
 * removes them, but only those no live writer holds: each writer keeps an
 * exclusive flock(2) on its temp while it is open, and the sweep deletes a
 * temp only when it can take that lock. So a CLI opening the store while the
 * server uploads does not delete the server's in-flight temps, and a lock
 * dies with its process, so a crashed writer's temp is always reclaimable.
 * (A writer that loses the race against a sweep between creating and locking
 * its temp notices the unlink -- st_nlink == 0 -- and makes another.)
 *
 * Removal is not fsynced: if a crash undoes an unlink, the blob comes back as
 * an unreferenced file, which wastes space but loses nothing. */
#include "store/blob.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/log.h"
#include "core/util.h"
#include "store/blob_backend.h"

/* The root is capped well below PATH_MAX so that every path derived from it
 * (root/objects/ab/<62 chars>) fits a PATH_MAX buffer by construction. */
#define ROOT_MAX (PATH_MAX - 256)

typedef struct fs_store {
    char root[ROOT_MAX];
    char objects[ROOT_MAX + 16];
    char tmpdir[ROOT_MAX + 16];
} fs_store;

typedef struct fs_tmp {
    int fd;
    char path[PATH_MAX];
} fs_tmp;

/* objects/ab and objects/ab/cdef... for a (validated) name. */
/* A full disk is its own error (the API answers 507), not a generic I/O one. */
static int io_code(int e) { return e == ENOSPC || e == EDQUOT ? SCRY_ENOSPC : SCRY_EIO; }

static void fanout_path(const fs_store *fs, const char *sha, char *out, size_t cap) {
    snprintf(out, cap, "%s/%.2s", fs->objects, sha);
}

static void blob_path(const fs_store *fs, const char *sha, char *out, size_t cap) {
    snprintf(out, cap, "%s/%.2s/%s", fs->objects, sha, sha + 2);
}

/* ---- temp objects ------------------------------------------------------ */

static int fs_tmp_open(void *backend, void **out, scry_err *err) {
    fs_store *fs = backend;
    fs_tmp *t = malloc(sizeof *t);
    if (!t) return scry_fail(err, SCRY_ENOMEM, "out of memory (blob temp)");
    for (int tries = 0; tries < 8; tries++) {
        snprintf(t->path, sizeof t->path, "%s/w-XXXXXX", fs->tmpdir);
        int fd = mkostemp(t->path, O_CLOEXEC);
        if (fd < 0) {
            int e = errno;
            free(t);
            return scry_fail(err, io_code(e), "create temp in %s: %s", fs->tmpdir, strerror(e));
        }
        /* Blocking: if a sweep holds the lock it is about to unlink the file
         * and lets go right after; we then see nlink == 0 and try again. */
        struct stat st;
        if (flock(fd, LOCK_EX) == 0 && fstat(fd, &st) == 0 && st.st_nlink > 0) {
            t->fd = fd;
            *out = t;
            return SCRY_OK;
        }
        close(fd);
    }
    free(t);
    return scry_fail(err, SCRY_EIO, "could not create a temp file in %s", fs->tmpdir);
}

static int fs_tmp_write(void *backend, void *tmp, const void *data, size_t n, scry_err *err) {
    (void)backend;
    fs_tmp *t = tmp;
    if (scry_write_all(t->fd, data, n) != 0)
        return scry_fail(err, io_code(errno), "write %s: %s", t->path, strerror(errno));
    return SCRY_OK;
}

static void fs_tmp_abort(void *backend, void *tmp) {
    (void)backend;
    fs_tmp *t = tmp;
    if (!t) return;
    unlink(t->path);            /* before close: the lock still protects it */
    close(t->fd);
    free(t);
}

static int fs_tmp_commit(void *backend, void *tmp, const char *sha, uint64_t size,
                         scry_err *err) {
    fs_store *fs = backend;
    fs_tmp *t = tmp;
    char dir[PATH_MAX], final[PATH_MAX];
    int rc = SCRY_OK;

    /* Dedup first: an existing copy makes the fsync of ours pointless. The
     * copy may be a concurrent writer's that has been renamed but whose
     * directory is not fsynced yet, so fsync the directory before saying
     * "stored" (cheap next to a data fsync). */
    fanout_path(fs, sha, dir, sizeof dir);
    blob_path(fs, sha, final, sizeof final);
    struct stat st;
    if (stat(final, &st) == 0 && (uint64_t)st.st_size == size) {
        fs_tmp_abort(fs, t);
        return scry_fsync_dir(dir, err);
    }
    if (fsync(t->fd) != 0) {
        rc = scry_fail(err, io_code(errno), "fsync %s: %s", t->path, strerror(errno));
        goto fail;
    }
    if (mkdir(dir, 0755) == 0) {
        /* New fan-out dir: make its entry in objects/ durable too. */
        if ((rc = scry_fsync_dir(fs->objects, err)) != SCRY_OK) goto fail;
    } else if (errno != EEXIST) {
        rc = scry_fail(err, io_code(errno), "mkdir %s: %s", dir, strerror(errno));
        goto fail;
    }
    if (rename(t->path, final) != 0) {
        rc = scry_fail(err, SCRY_EIO, "rename %s -> %s: %s", t->path, final, strerror(errno));
        goto fail;
    }
    close(t->fd);
    free(t);
    return scry_fsync_dir(dir, err);

fail:
    fs_tmp_abort(fs, t);
    return rc;
}

/* ---- reads and removal -------------------------------------------------- */

static int fs_get(void *backend, const char *sha, void **data, size_t *n, scry_err *err) {
    char path[PATH_MAX];
    blob_path(backend, sha, path, sizeof path);
    int rc = scry_read_file(path, data, n, err);
    if (rc == SCRY_ENOTFOUND) return scry_fail(err, rc, "blob %s not found", sha);
    return rc;
}

static int fs_get_range(void *backend, const char *sha, uint64_t offset, size_t len, void *buf,
                        size_t *got, scry_err *err) {
    char path[PATH_MAX];
    blob_path(backend, sha, path, sizeof path);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT) return scry_fail(err, SCRY_ENOTFOUND, "blob %s not found", sha);
        return scry_fail(err, SCRY_EIO, "open %s: %s", path, strerror(errno));
    }
    size_t done = 0;
    while (done < len) {
        ssize_t r = pread(fd, (char *)buf + done, len - done, (off_t)(offset + done));
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) {
            int e = errno;
            close(fd);
            return scry_fail(err, SCRY_EIO, "read %s: %s", path, strerror(e));
        }
        if (r == 0) break;
        done += (size_t)r;
    }
    close(fd);
    *got = done;
    return SCRY_OK;
}

/* Named objects live in root/named/NAME, replaced by a durable
 * write-temp-then-rename (scry_write_file_durable). */
static int fs_named_put(void *backend, const char *name, const void *data, size_t n,
                        scry_err *err) {
    fs_store *fs = backend;
    char dir[ROOT_MAX + 16], path[PATH_MAX];
    snprintf(dir, sizeof dir, "%s/named", fs->root);
    int rc = scry_mkdirs(dir, err);
    if (rc) return rc;
    snprintf(path, sizeof path, "%s/%.100s", dir, name);
    return scry_write_file_durable(path, data, n, err);
}

static int fs_named_get(void *backend, const char *name, void **data, size_t *n, scry_err *err) {
    fs_store *fs = backend;
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/named/%.100s", fs->root, name);
    int rc = scry_read_file(path, data, n, err);
    if (rc == SCRY_ENOTFOUND) return scry_fail(err, rc, "object %s not found", name);
    return rc;
}

static int fs_stat(void *backend, const char *sha, uint64_t *size, scry_err *err) {
    char path[PATH_MAX];
    blob_path(backend, sha, path, sizeof path);
    struct stat st;
    if (stat(path, &st) != 0) {
        if (errno == ENOENT) return scry_fail(err, SCRY_ENOTFOUND, "blob %s not found", sha);
        return scry_fail(err, SCRY_EIO, "stat %s: %s", path, strerror(errno));
    }
    *size = (uint64_t)st.st_size;
    return SCRY_OK;
}

static int fs_remove(void *backend, const char *sha, scry_err *err) {
    char path[PATH_MAX];
    blob_path(backend, sha, path, sizeof path);
    if (unlink(path) != 0 && errno != ENOENT)
        return scry_fail(err, SCRY_EIO, "unlink %s: %s", path, strerror(errno));
    return SCRY_OK;
}

static int fs_local_path(void *backend, const char *sha, char *path, size_t cap,
                         scry_err *err) {
    char p[PATH_MAX];
    blob_path(backend, sha, p, sizeof p);
    if (access(p, F_OK) != 0) return scry_fail(err, SCRY_ENOTFOUND, "blob %s not found", sha);
    if (strlen(p) + 1 > cap) return scry_fail(err, SCRY_EINVAL, "path buffer too small");
    memcpy(path, p, strlen(p) + 1);
    return SCRY_OK;
}

static void fs_close(void *backend) { free(backend); }

static const blob_ops fs_ops = {
    .name = "fs",
    .close = fs_close,
    .tmp_open = fs_tmp_open,
    .tmp_write = fs_tmp_write,
    .tmp_commit = fs_tmp_commit,
    .tmp_abort = fs_tmp_abort,
    .get = fs_get,
    .get_range = fs_get_range,
    .stat = fs_stat,
    .remove = fs_remove,
    .local_path = fs_local_path,
    .named_put = fs_named_put,
    .named_get = fs_named_get,
};

/* ---- open --------------------------------------------------------------- */

/* Remove temps that no live writer holds (see the comment at the top). */
static int sweep_tmp(const fs_store *fs) {
    DIR *d = opendir(fs->tmpdir);
    if (!d) return 0;
    int removed = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.') continue;
        char p[PATH_MAX];
        if (snprintf(p, sizeof p, "%s/%s", fs->tmpdir, de->d_name) >= (int)sizeof p) continue;
        int fd = open(p, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        if (fd < 0) continue;
        /* Unlink only if the name still denotes the inode we locked: a temp
         * name freed by its writer may already belong to a new, live writer. */
        struct stat held, now;
        if (flock(fd, LOCK_EX | LOCK_NB) == 0 && fstat(fd, &held) == 0 && held.st_nlink > 0 &&
            stat(p, &now) == 0 && now.st_ino == held.st_ino && now.st_dev == held.st_dev &&
            unlink(p) == 0)
            removed++;
        close(fd);
    }
    closedir(d);
    return removed;
}

int blob_open_fs(blob_store **out, const char *dir, scry_err *err) {
    *out = NULL;
    fs_store *fs = calloc(1, sizeof *fs);
    if (!fs) return scry_fail(err, SCRY_ENOMEM, "out of memory (blob store)");
    if (snprintf(fs->root, sizeof fs->root, "%s", dir) >= (int)sizeof fs->root) {
        free(fs);
        return scry_fail(err, SCRY_EINVAL, "blob store path too long: %s", dir);
    }
    snprintf(fs->objects, sizeof fs->objects, "%s/objects", fs->root);
    snprintf(fs->tmpdir, sizeof fs->tmpdir, "%s/tmp", fs->root);
    int rc;
    if ((rc = scry_mkdirs(fs->objects, err)) != SCRY_OK ||
        (rc = scry_mkdirs(fs->tmpdir, err)) != SCRY_OK) {
        free(fs);
        return rc;
    }
    int removed = sweep_tmp(fs);
    if (removed > 0) log_info("blob.tmp_swept", "dir=%s removed=%d", fs->tmpdir, removed);
    blob_store *bs = blob_store_new(&fs_ops, fs);
    if (!bs) {
        free(fs);
        return scry_fail(err, SCRY_ENOMEM, "out of memory (blob store)");
    }
    *out = bs;
    return SCRY_OK;
}
