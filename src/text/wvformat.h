/* wvformat.h -- the on-disk layout of the word-vector file (wordvec.bin).
 *
 * Shared by the setup-time converter (tools/wordvec_convert.c) and the loader
 * (text/wordvec.c) so that the two cannot drift. The file is designed to be
 * mmapped and used in place, with no parsing at load time:
 *
 *   header (WV_HEADER_SIZE bytes, fields below, little-endian)
 *   strings   every word, UTF-8, NUL-terminated, in row order
 *   stroff    u32 per row: offset of the row's word inside `strings`
 *   hash      u32 per slot (slots = power of two >= 2*count): row+1, 0 = empty;
 *             open addressing with linear probing on wv_hash(word)
 *   rank      u32 per row: frequency rank in the source corpus (0 = most
 *             frequent); the rows are stored in rank order, so rank == row for
 *             the GloVe data, but the field is explicit so that another source
 *             may order rows differently
 *   vectors   float32, count x dim, row-major
 *
 * Every section starts on a 64-byte boundary. Three checksums: one over the
 * header, one over everything between the header and the vectors ("meta",
 * ~8 MB, checked at every load), one over the vectors (136 MB, checked by the
 * converter's --verify and by scry_wordvec_verify(), not at every load: a
 * truncated file is already caught by the size check, and hashing 136 MB on
 * every start would cost more than the rest of the load together). */
#ifndef SCRY_WVFORMAT_H
#define SCRY_WVFORMAT_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define WV_MAGIC "SCRYWVEC"
#define WV_VERSION 1u
#define WV_HEADER_SIZE 128u
#define WV_ALIGN 64u

typedef struct wv_header {
    char magic[8];
    uint32_t version;
    uint32_t dim;
    uint32_t count;
    uint32_t hash_slots;
    uint64_t strings_off, strings_len;
    uint64_t stroff_off;
    uint64_t hash_off;
    uint64_t rank_off;
    uint64_t vec_off;
    uint64_t file_size;
    uint64_t meta_checksum;   /* bytes [WV_HEADER_SIZE, vec_off) */
    uint64_t vec_checksum;    /* bytes [vec_off, file_size) */
    uint64_t header_checksum; /* this header with header_checksum = 0 */
    uint8_t reserved[WV_HEADER_SIZE - 8 - 4 * 4 - 10 * 8];
} wv_header;

_Static_assert(sizeof(wv_header) == WV_HEADER_SIZE, "wv_header layout");

/* FNV-1a, 64 bits: the vocabulary hash (short keys, good spread). */
static inline uint64_t wv_hash(const char *s, size_t n) {
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= 1099511628211ULL;
    }
    return h;
}

/* Corruption check, not security: four independent multiply-rotate lanes over
 * 8-byte words (~3 GB/s here), then a tail and a final mix. */
static inline uint64_t wv_checksum(const void *data, size_t n) {
    const unsigned char *p = data;
    uint64_t lane[4] = {0x9E3779B97F4A7C15ULL, 0xC2B2AE3D27D4EB4FULL,
                        0x165667B19E3779F9ULL, 0x27D4EB2F165667C5ULL};
    size_t i = 0;
    for (; i + 32 <= n; i += 32) {
        for (int k = 0; k < 4; k++) {
            uint64_t w;
            memcpy(&w, p + i + 8 * k, 8);
            lane[k] ^= w * 0x87C37B91114253D5ULL;
            lane[k] = (lane[k] << 31 | lane[k] >> 33) * 0x4CF5AD432745937FULL;
        }
    }
    uint64_t h = lane[0] ^ (lane[1] << 1) ^ (lane[2] << 2) ^ (lane[3] << 3) ^ (uint64_t)n;
    for (; i < n; i++) h = (h ^ p[i]) * 1099511628211ULL;
    h ^= h >> 33;
    h *= 0xFF51AFD7ED558CCDULL;
    h ^= h >> 33;
    return h;
}

static inline uint64_t wv_align(uint64_t x) { return (x + WV_ALIGN - 1) & ~(uint64_t)(WV_ALIGN - 1); }

#endif
