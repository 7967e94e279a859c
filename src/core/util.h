/* util.h -- small shared helpers: ids, clocks, hashing, durable files.
 *
 * Durability rule used everywhere bytes must survive a crash: write to a temp
 * file in the same directory, fsync it, rename over the target, fsync the
 * directory. A reader therefore sees either the old file or the whole new one. */
#ifndef SCRY_UTIL_H
#define SCRY_UTIL_H

#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

#define SCRY_ID_LEN 24          /* chars of an image/job id, without the NUL */
#define SCRY_SHA256_HEX 64

/* A new random id: SCRY_ID_LEN lowercase hex chars, time-ordered prefix so
 * that ids sort roughly by creation. out must hold SCRY_ID_LEN+1 bytes. */
void scry_new_id(char *out);
/* 1 when s looks like an id we issued (right length, lowercase hex). */
int scry_id_valid(const char *s);

int64_t scry_now_ms(void);            /* wall clock, ms since the epoch */
double scry_mono_s(void);             /* monotonic seconds, for timings */
/* ms since epoch -> "2026-11-28T20:41:07Z"; out must hold 32 bytes. */
void scry_iso8601(int64_t ms, char *out);

/* SHA-256 of a buffer as 64 lowercase hex chars + NUL. */
void scry_sha256_hex(const void *data, size_t n, char out[SCRY_SHA256_HEX + 1]);
/* Incremental SHA-256 (wraps OpenSSL's EVP interface). */
typedef struct scry_sha256 scry_sha256;
scry_sha256 *scry_sha256_new(void);
void scry_sha256_update(scry_sha256 *h, const void *data, size_t n);
void scry_sha256_final(scry_sha256 *h, char out[SCRY_SHA256_HEX + 1]); /* frees h */

/* mkdir -p. */
int scry_mkdirs(const char *path, scry_err *err);
/* Write data to path durably (temp + fsync + rename + fsync dir). */
int scry_write_file_durable(const char *path, const void *data, size_t n, scry_err *err);
/* write() all n bytes, retrying short writes and EINTR: 0, or -1 with errno
 * set. Writes at most 1 GiB per call (Linux caps a write near 2 GiB). */
int scry_write_all(int fd, const void *data, size_t n);
/* FNV-1a (64-bit) of n bytes, continuing from h: start from SCRY_FNV1A_INIT.
 * For hash tables and change fingerprints, not for anything adversarial. */
#define SCRY_FNV1A_INIT 1469598103934665603ULL
uint64_t scry_fnv1a(uint64_t h, const void *p, size_t n);
/* fsync a directory so that a rename or unlink inside it is durable. */
int scry_fsync_dir(const char *dir, scry_err *err);
/* Read a whole file into a malloc'ed buffer (NUL-terminated for convenience,
 * the NUL not counted in *n). Caller frees. */
int scry_read_file(const char *path, void **data, size_t *n, scry_err *err);

/* strdup that tolerates NULL. */
char *scry_strdup(const char *s);

#endif
