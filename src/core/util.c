/* util.c -- see util.h. */
#include "core/util.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

void scry_new_id(char *out) {
    /* 6 bytes of milliseconds (sortable) + 6 random bytes = 24 hex chars. */
    uint64_t ms = (uint64_t)scry_now_ms();
    unsigned char rnd[6];
    if (getrandom(rnd, sizeof rnd, 0) != (ssize_t)sizeof rnd) {
        /* getrandom on Linux does not fail for 6 bytes once the pool is up;
         * fall back to the clock's nanoseconds rather than failing. */
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        for (size_t i = 0; i < sizeof rnd; i++) rnd[i] = (unsigned char)(ts.tv_nsec >> (i * 5));
    }
    static const char hex[] = "0123456789abcdef";
    for (int i = 0; i < 12; i++) out[i] = hex[(ms >> (4 * (11 - i))) & 15];
    for (int i = 0; i < 6; i++) {
        out[12 + 2 * i] = hex[rnd[i] >> 4];
        out[13 + 2 * i] = hex[rnd[i] & 15];
    }
    out[SCRY_ID_LEN] = 0;
}

int scry_id_valid(const char *s) {
    if (!s || strlen(s) != SCRY_ID_LEN) return 0;
    for (const char *p = s; *p; p++)
        if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f'))) return 0;
    return 1;
}

int64_t scry_now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

double scry_mono_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

void scry_iso8601(int64_t ms, char *out) {
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

struct scry_sha256 { EVP_MD_CTX *ctx; };

scry_sha256 *scry_sha256_new(void) {
    scry_sha256 *h = malloc(sizeof *h);
    if (!h) return NULL;
    h->ctx = EVP_MD_CTX_new();
    if (!h->ctx || EVP_DigestInit_ex(h->ctx, EVP_sha256(), NULL) != 1) {
        EVP_MD_CTX_free(h->ctx);
        free(h);
        return NULL;
    }
    return h;
}

void scry_sha256_update(scry_sha256 *h, const void *data, size_t n) {
    EVP_DigestUpdate(h->ctx, data, n);
}

void scry_sha256_final(scry_sha256 *h, char out[SCRY_SHA256_HEX + 1]) {
    unsigned char md[32];
    unsigned int len = 0;
    EVP_DigestFinal_ex(h->ctx, md, &len);
    static const char hex[] = "0123456789abcdef";
    for (int i = 0; i < 32; i++) {
        out[2 * i] = hex[md[i] >> 4];
        out[2 * i + 1] = hex[md[i] & 15];
    }
    out[64] = 0;
    EVP_MD_CTX_free(h->ctx);
    free(h);
}

void scry_sha256_hex(const void *data, size_t n, char out[SCRY_SHA256_HEX + 1]) {
    scry_sha256 *h = scry_sha256_new();
    if (!h) { memset(out, '0', 64); out[64] = 0; return; }
    scry_sha256_update(h, data, n);
    scry_sha256_final(h, out);
}

int scry_mkdirs(const char *path, scry_err *err) {
    char buf[4096];
    if (snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf)
        return scry_fail(err, SCRY_EINVAL, "path too long: %s", path);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/') continue;
        *p = 0;
        if (mkdir(buf, 0755) != 0 && errno != EEXIST)
            return scry_fail(err, SCRY_EIO, "mkdir %s: %s", buf, strerror(errno));
        *p = '/';
    }
    if (mkdir(buf, 0755) != 0 && errno != EEXIST)
        return scry_fail(err, SCRY_EIO, "mkdir %s: %s", buf, strerror(errno));
    return SCRY_OK;
}

int scry_fsync_dir(const char *dir, scry_err *err) {
    int fd = open(dir, O_RDONLY | O_DIRECTORY);
    if (fd < 0) return scry_fail(err, SCRY_EIO, "open dir %s: %s", dir, strerror(errno));
    int rc = fsync(fd);
    int e = errno;
    close(fd);
    if (rc != 0) return scry_fail(err, SCRY_EIO, "fsync dir %s: %s", dir, strerror(e));
    return SCRY_OK;
}

int scry_write_all(int fd, const void *data, size_t n) {
    const char *p = data;
    while (n > 0) {
        ssize_t w = write(fd, p, n > (1u << 30) ? (1u << 30) : n);
        if (w < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

uint64_t scry_fnv1a(uint64_t h, const void *p, size_t n) {
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++) h = (h ^ b[i]) * 1099511628211ULL;
    return h;
}

int scry_write_file_durable(const char *path, const void *data, size_t n, scry_err *err) {
    char tmp[4200], dir[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp.%d.%lx", path, (int)getpid(), (unsigned long)random());
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0) return scry_fail(err, SCRY_EIO, "create %s: %s", tmp, strerror(errno));
    if (scry_write_all(fd, data, n) != 0) {
        int e = errno;
        close(fd);
        unlink(tmp);
        return scry_fail(err, SCRY_EIO, "write %s: %s", tmp, strerror(e));
    }
    if (fsync(fd) != 0) {
        int e = errno;
        close(fd);
        unlink(tmp);
        return scry_fail(err, SCRY_EIO, "fsync %s: %s", tmp, strerror(e));
    }
    close(fd);
    if (rename(tmp, path) != 0) {
        int e = errno;
        unlink(tmp);
        return scry_fail(err, SCRY_EIO, "rename %s: %s", path, strerror(e));
    }
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash) *slash = 0; else snprintf(dir, sizeof dir, ".");
    return scry_fsync_dir(*dir ? dir : "/", err);
}

int scry_read_file(const char *path, void **data, size_t *n, scry_err *err) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return scry_fail(err, errno == ENOENT ? SCRY_ENOTFOUND : SCRY_EIO, "open %s: %s", path,
                         strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return scry_fail(err, SCRY_EIO, "stat %s: %s", path, strerror(e));
    }
    size_t size = (size_t)st.st_size;
    char *buf = malloc(size + 1);
    if (!buf) {
        close(fd);
        return scry_fail(err, SCRY_ENOMEM, "out of memory reading %s", path);
    }
    size_t got = 0;
    while (got < size) {
        ssize_t r = read(fd, buf + got, size - got);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) break;
        got += (size_t)r;
    }
    close(fd);
    if (got != size) {
        free(buf);
        return scry_fail(err, SCRY_EIO, "short read on %s", path);
    }
    buf[size] = 0;
    *data = buf;
    *n = size;
    return SCRY_OK;
}

char *scry_strdup(const char *s) { return s ? strdup(s) : NULL; }
