/* fuzz_index.c -- libFuzzer harness for the ANN index loader (index/hnsw).
 *
 * The index file under DATA/index/ is read back at every start; a corrupt,
 * truncated or hostile file must be refused (SCRY_ECORRUPT, then rebuilt
 * from SQLite), never trusted. Each input is written to a file and loaded;
 * when the loader accepts it, the index is searched, listed and saved again,
 * so that whatever the loader let through is also exercised.
 *
 * The file is checksummed (CRC32C of the header and of each section), so a
 * mutated byte is nearly always refused at the checksum and nothing behind
 * it gets fuzzed. Inputs of even length therefore have their checksums
 * recomputed before loading (the layout below mirrors hnsw.c's file header,
 * version 1: see docs/ann.md); odd-length ones are loaded as they are. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "index/hnsw.h"

static char g_path[256], g_out[256];

typedef struct fsect {
    uint64_t offset, size;
    uint32_t crc, pad;
} fsect;
typedef struct fheader {
    char magic[8];
    uint32_t version, header_size, dim, metric, M, M0, efc;
    int32_t max_level;
    uint32_t n, n_deleted;
    int64_t entry;
    uint64_t rec_size, upper_n, file_size, rng;
    fsect sect[6];
    uint32_t header_crc, pad;
} fheader;
_Static_assert(sizeof(fheader) == 240, "mirrors hnsw.c's file_header");

static uint32_t crc32c(const uint8_t *p, size_t n) {
    static uint32_t table[256];
    if (!table[1])
        for (uint32_t i = 0; i < 256; i++) {
            uint32_t c = i;
            for (int k = 0; k < 8; k++) c = (c >> 1) ^ (0x82F63B78u & (0u - (c & 1u)));
            table[i] = c;
        }
    uint32_t crc = ~0u;
    while (n--) crc = table[(crc ^ *p++) & 0xff] ^ (crc >> 8);
    return ~crc;
}

/* Recompute the section and header checksums of buf in place. */
static void fix_checksums(uint8_t *buf, size_t size) {
    if (size < 4096 || memcmp(buf, "SCRYHNSW", 8) != 0) return;
    fheader h;
    memcpy(&h, buf, sizeof h);
    for (int i = 0; i < 6; i++)
        if (h.sect[i].offset <= size && h.sect[i].size <= size - h.sect[i].offset)
            h.sect[i].crc = crc32c(buf + h.sect[i].offset, h.sect[i].size);
    h.file_size = size;
    h.header_crc = 0;
    h.header_crc = crc32c((const uint8_t *)&h, sizeof h);
    memcpy(buf, &h, sizeof h);
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc; (void)argv;
    const char *dir = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
    snprintf(g_path, sizeof g_path, "%s/scry-fuzz-index-%d.bin", dir, (int)getpid());
    snprintf(g_out, sizeof g_out, "%s/scry-fuzz-index-%d.out", dir, (int)getpid());
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    FILE *f = fopen(g_path, "wb");
    if (!f) return 0;
    if (size % 2 == 0 && size >= 4096) {
        uint8_t *copy = malloc(size);
        if (!copy) {
            fclose(f);
            return 0;
        }
        memcpy(copy, data, size);
        fix_checksums(copy, size);
        fwrite(copy, 1, size, f);
        free(copy);
    } else if (size) {
        fwrite(data, 1, size, f);
    }
    fclose(f);
    hnsw_index *idx = NULL;
    scry_err err = {0};
    if (hnsw_load(&idx, g_path, &err) == SCRY_OK) {
        hnsw_stats st;
        hnsw_get_stats(idx, &st);
        int dim = st.dim;
        if (dim > 0 && dim <= 4096) {
            float *q = calloc((size_t)dim, sizeof *q);
            if (q) {
                for (int i = 0; i < dim; i++) q[i] = (float)((i % 7) - 3);
                hnsw_hit hits[10];
                int n = 0;
                hnsw_search(idx, q, 10, 32, NULL, hits, &n, &err);
                hnsw_exact_search(idx, q, 10, NULL, hits, &n, &err);
                if (n > 0) {
                    hnsw_get(idx, hits[0].label, q, &err);
                    hnsw_remove(idx, hits[0].label);
                    hnsw_add(idx, hits[0].label + 1, q, &err);
                }
                free(q);
            }
        }
        int64_t *labels = NULL;
        size_t nl = 0;
        if (hnsw_labels(idx, &labels, &nl, &err) == SCRY_OK) free(labels);
        hnsw_save(idx, g_out, &err);
        hnsw_free(idx);
    }
    unlink(g_path);
    unlink(g_out);
    return 0;
}
