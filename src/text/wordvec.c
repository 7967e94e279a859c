/* wordvec.c -- see wordvec.h; on-disk layout in wvformat.h.
 *
 * open() trusts nothing in the file: the header checksum and every offset
 * are checked against the real file size, the vocabulary section against its
 * checksum, and each string offset / hash entry against its bounds, so that a
 * damaged or foreign file is an error value and never a wild read later. */
#include "text/wordvec.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/log.h"
#include "text/wvformat.h"

#define FIX "run ./scripts/setup.sh (step 30-wordvec) to rebuild it"

struct scry_wordvec {
    char *path;
    unsigned char *map;
    size_t size;
    wv_header h;
    const char *strings;
    const uint32_t *stroff, *hash, *rank;
    const float *vectors;
};

const char *scry_wordvec_default_path(char *buf, size_t n) {
    const char *explicit_path = getenv("SCRY_WORDVEC");
    const char *deps = getenv("SCRY_DEPS");
    if (explicit_path && *explicit_path) snprintf(buf, n, "%s", explicit_path);
    else if (deps && *deps) snprintf(buf, n, "%s/wordvec/wordvec.bin", deps);
    else snprintf(buf, n, "deps/wordvec/wordvec.bin");
    return buf;
}

static int in_file(uint64_t off, uint64_t len, size_t size) {
    return off >= WV_HEADER_SIZE && off <= size && len <= size - off && off % 4 == 0;
}

static int check_layout(scry_wordvec *wv, scry_err *err) {
    const wv_header *h = &wv->h;
    const char *p = wv->path;
    if (memcmp(h->magic, WV_MAGIC, 8) != 0)
        return scry_fail(err, SCRY_ECORRUPT, "%s is not a word-vector file (bad magic); " FIX, p);
    if (h->version != WV_VERSION)
        return scry_fail(err, SCRY_ECORRUPT, "%s has format version %u, this build reads %u; " FIX, p,
                         h->version, WV_VERSION);
    wv_header z = *h;
    z.header_checksum = 0;
    if (wv_checksum(&z, sizeof z) != h->header_checksum)
        return scry_fail(err, SCRY_ECORRUPT, "%s: header checksum mismatch; " FIX, p);
    if (h->file_size != wv->size)
        return scry_fail(err, SCRY_ECORRUPT, "%s is %zu bytes, its header says %llu (truncated?); " FIX,
                         p, wv->size, (unsigned long long)h->file_size);
    uint64_t n = h->count, dim = h->dim;
    if (!n || !dim || dim > 4096 || h->hash_slots < n || (h->hash_slots & (h->hash_slots - 1)) ||
        !in_file(h->strings_off, h->strings_len, wv->size) || !in_file(h->stroff_off, n * 4, wv->size) ||
        !in_file(h->hash_off, (uint64_t)h->hash_slots * 4, wv->size) ||
        !in_file(h->rank_off, n * 4, wv->size) || !in_file(h->vec_off, n * dim * 4, wv->size) ||
        h->vec_off + n * dim * 4 != wv->size || h->strings_len == 0)
        return scry_fail(err, SCRY_ECORRUPT, "%s: inconsistent section table; " FIX, p);
    if (wv_checksum(wv->map + WV_HEADER_SIZE, h->vec_off - WV_HEADER_SIZE) != h->meta_checksum)
        return scry_fail(err, SCRY_ECORRUPT, "%s: vocabulary checksum mismatch; " FIX, p);
    wv->strings = (const char *)wv->map + h->strings_off;
    wv->stroff = (const uint32_t *)(wv->map + h->stroff_off);
    wv->hash = (const uint32_t *)(wv->map + h->hash_off);
    wv->rank = (const uint32_t *)(wv->map + h->rank_off);
    wv->vectors = (const float *)(wv->map + h->vec_off);
    if (wv->strings[h->strings_len - 1] != 0)
        return scry_fail(err, SCRY_ECORRUPT, "%s: string table not terminated; " FIX, p);
    for (uint64_t i = 0; i < n; i++)
        if (wv->stroff[i] >= h->strings_len)
            return scry_fail(err, SCRY_ECORRUPT, "%s: string offset out of range; " FIX, p);
    for (uint64_t i = 0; i < h->hash_slots; i++)
        if (wv->hash[i] > n)
            return scry_fail(err, SCRY_ECORRUPT, "%s: hash entry out of range; " FIX, p);
    return SCRY_OK;
}

int scry_wordvec_open(const char *path, scry_wordvec **out, scry_err *err) {
    *out = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        return scry_fail(err, e == ENOENT ? SCRY_ENOTFOUND : SCRY_EIO,
                         "word vectors %s: %s; run ./scripts/setup.sh (step 30-wordvec) to create it", path,
                         strerror(e));
    }
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return scry_fail(err, SCRY_EIO, "stat %s: %s", path, strerror(e));
    }
    if ((size_t)st.st_size < WV_HEADER_SIZE) {
        close(fd);
        return scry_fail(err, SCRY_ECORRUPT, "%s is too short (%lld bytes) to be a word-vector file; " FIX, path,
                         (long long)st.st_size);
    }
    scry_wordvec *wv = calloc(1, sizeof *wv);
    if (!wv || !(wv->path = strdup(path))) {
        free(wv);
        close(fd);
        return scry_fail(err, SCRY_ENOMEM, "out of memory");
    }
    wv->size = (size_t)st.st_size;
    wv->map = mmap(NULL, wv->size, PROT_READ, MAP_SHARED, fd, 0);
    close(fd);
    if (wv->map == MAP_FAILED) {
        int e = errno;
        free(wv->path);
        free(wv);
        return scry_fail(err, SCRY_EIO, "mmap %s: %s", path, strerror(e));
    }
    memcpy(&wv->h, wv->map, sizeof wv->h);
    int rc = check_layout(wv, err);
    if (rc != SCRY_OK) {
        scry_wordvec_close(wv);
        return rc;
    }
    log_debug("wordvec.open", "path=%s words=%u dim=%u", path, wv->h.count, wv->h.dim);
    *out = wv;
    return SCRY_OK;
}

void scry_wordvec_close(scry_wordvec *wv) {
    if (!wv) return;
    if (wv->map && wv->map != MAP_FAILED) munmap(wv->map, wv->size);
    free(wv->path);
    free(wv);
}

int scry_wordvec_verify(const scry_wordvec *wv, scry_err *err) {
    if (wv_checksum(wv->vectors, wv->size - wv->h.vec_off) != wv->h.vec_checksum)
        return scry_fail(err, SCRY_ECORRUPT, "%s: vector checksum mismatch; " FIX, wv->path);
    return SCRY_OK;
}

uint32_t scry_wordvec_dim(const scry_wordvec *wv) { return wv->h.dim; }
uint32_t scry_wordvec_count(const scry_wordvec *wv) { return wv->h.count; }

int64_t scry_wordvec_find(const scry_wordvec *wv, const char *word, size_t len) {
    uint32_t mask = wv->h.hash_slots - 1;
    /* Bounded probe: a well-formed table always has empty slots, but a damaged
     * one must not loop forever. */
    for (uint32_t s = (uint32_t)wv_hash(word, len) & mask, tries = 0; tries <= mask; s = (s + 1) & mask, tries++) {
        uint32_t e = wv->hash[s];
        if (!e) return -1;
        const char *w = wv->strings + wv->stroff[e - 1];
        if (strncmp(w, word, len) == 0 && w[len] == 0) return e - 1;
    }
    return -1;
}

const float *scry_wordvec_vector(const scry_wordvec *wv, uint32_t row) {
    return wv->vectors + (size_t)row * wv->h.dim;
}
const char *scry_wordvec_word(const scry_wordvec *wv, uint32_t row) { return wv->strings + wv->stroff[row]; }
uint32_t scry_wordvec_rank(const scry_wordvec *wv, uint32_t row) { return wv->rank[row]; }
