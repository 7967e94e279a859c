/* start_bench.c -- how long a search node takes to be ready: rebuilt from
 * rows (catalog and keyword index from every image row, the ANN index from
 * every stored vector) against loaded from the latest snapshot
 * (search/snapshot.h) and caught up from the change feed. Run by
 * bench/cluster over a populated database (SQLite file or PostgreSQL URL)
 * and a blob store for the snapshot (a folder, or s3://bucket/prefix with
 * the AWS_* variables).
 *
 *   start_bench META BLOBS INDEXDIR [ROUNDS]
 * Prints one line per round and, last:
 *   start: images=N rebuild_s=A snapshot_s=B snapshot_bytes=C  (medians) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/util.h"
#include "search/search.h"
#include "search/snapshot.h"
#include "store/blob.h"
#include "store/meta.h"
#include "text/encoder.h"
#include "text/lexicon.h"
#include "text/wordvec.h"

static void die(const char *what, const scry_err *e) {
    fprintf(stderr, "start_bench: %s: %s\n", what, e->msg);
    exit(1);
}

static int cmp_d(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv) {
    if (argc < 4) {
        fprintf(stderr, "usage: start_bench META BLOBDIR INDEXDIR [ROUNDS]\n");
        return 2;
    }
    log_set_level(LOG_WARN);
    int rounds = argc > 4 ? atoi(argv[4]) : 3;
    if (rounds < 1 || rounds > 20) rounds = 3;
    const char *wvpath = getenv("SCRY_WORDVEC") ? getenv("SCRY_WORDVEC") : "deps/wordvec/wordvec.bin";
    scry_err err = {0};
    scry_wordvec *wv;
    scry_lexicon *lex;
    scry_encoder *enc;
    meta_db *db;
    blob_store *bs;
    if (scry_wordvec_open(wvpath, &wv, &err)) die("word vectors", &err);
    if (scry_lexicon_open(&lex, &err)) die("lexicon", &err);
    if (scry_sif_encoder_new(wv, lex, NULL, &enc, &err)) die("encoder", &err);
    if (meta_open(&db, argv[1], &err)) die("meta_open", &err);
    if (!strncmp(argv[2], "s3://", 5)) {
        blob_s3_config c = {.url = argv[2], .endpoint = getenv("AWS_ENDPOINT_URL"),
                            .region = getenv("AWS_REGION"), .access_key = getenv("AWS_ACCESS_KEY_ID"),
                            .secret_key = getenv("AWS_SECRET_ACCESS_KEY"), .addressing = "path"};
        if (blob_open_s3(&bs, &c, &err)) die("blob_open_s3", &err);
    } else if (blob_open_fs(&bs, argv[2], &err)) {
        die("blob_open_fs", &err);
    }
    double rebuild[20], snap[20];
    size_t snap_bytes = 0;
    for (int r = 0; r < rounds; r++) {
        /* Rebuild: no snapshot, no saved index file. */
        char idx[1100], cmd[1200];
        snprintf(idx, sizeof idx, "%s/rebuild", argv[3]);
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", idx);
        if (system(cmd) != 0) return 1;
        search_options none = {0};
        search_engine *se;
        double t0 = scry_mono_s();
        if (search_create_with(&se, db, enc, lex, NULL, idx, &none, &err)) die("rebuild", &err);
        rebuild[r] = scry_mono_s() - t0;
        /* Snapshot it, then a node that starts from the snapshot (its own
         * index folder, empty: the index comes from the snapshot). */
        search_options so = {.blobs = bs, .snapshot_s = 3600};
        search_free(se);
        if (search_create_with(&se, db, enc, lex, NULL, idx, &so, &err)) die("reopen", &err);
        if (search_snapshot_save(se, &err)) die("snapshot", &err);
        search_free(se);
        snprintf(idx, sizeof idx, "%s/fromsnap", argv[3]);
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", idx);
        if (system(cmd) != 0) return 1;
        t0 = scry_mono_s();
        if (search_create_with(&se, db, enc, lex, NULL, idx, &so, &err)) die("from snapshot", &err);
        snap[r] = scry_mono_s() - t0;
        int from = 0;
        double ms;
        search_start_info(se, &from, &ms);
        if (!from) {
            fprintf(stderr, "start_bench: the node did not start from the snapshot\n");
            return 1;
        }
        search_free(se);
        void *data;
        size_t n;
        char name[160], vname[128];
        search_vector_name(enc, NULL, vname, sizeof vname);
        snapshot_name(vname, name, sizeof name);
        if (blob_get_named(bs, name, &data, &n, &err) == SCRY_OK) {
            snap_bytes = n;
            free(data);
        }
        printf("round %d: rebuild %.2f s, from snapshot %.2f s\n", r + 1, rebuild[r], snap[r]);
        fflush(stdout);
    }
    qsort(rebuild, (size_t)rounds, sizeof *rebuild, cmp_d);
    qsort(snap, (size_t)rounds, sizeof *snap, cmp_d);
    printf("start: images=%lld rebuild_s=%.2f snapshot_s=%.2f snapshot_bytes=%zu\n",
           (long long)meta_image_count(db), rebuild[rounds / 2], snap[rounds / 2], snap_bytes);
    blob_close(bs);
    meta_close(db);
    scry_encoder_free(enc);
    scry_lexicon_close(lex);
    scry_wordvec_close(wv);
    return 0;
}
