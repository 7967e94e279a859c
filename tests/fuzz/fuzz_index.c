/* fuzz_index.c -- libFuzzer harness for the ANN index loader (index/hnsw).
 *
 * The index file under DATA/index/ is read back at every start; a corrupt,
 * truncated or hostile file must be refused (SCRY_ECORRUPT, then rebuilt
 * from SQLite), never trusted. Each input is written to a file and loaded;
 * when the loader accepts it, the index is searched, listed and saved again,
 * so that whatever the loader let through is also exercised. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "index/hnsw.h"

static char g_path[256], g_out[256];

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
    if (size) fwrite(data, 1, size, f);
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
