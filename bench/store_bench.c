/* store_bench.c -- figures for the storage layer (run through bench/store).
 *
 * What costs what on this machine's disk: a durable blob put, an upload
 * commit, the per-image bookkeeping a worker does (claim, stages, facts,
 * vector, finish), keyword search over N images, and a full vector walk.
 * Synthetic but realistic sizes: 1 MiB originals, 512-d vectors, captions and
 * tags drawn from the shared COCO/colour vocabularies. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/labels.h"
#include "core/util.h"
#include "store/blob.h"
#include "store/meta.h"

static void die(const char *what, const scry_err *err) {
    fprintf(stderr, "bench: %s: %s\n", what, err->msg);
    exit(1);
}

static uint32_t rng = 12345;
static uint32_t next(void) {
    rng ^= rng << 13; rng ^= rng >> 17; rng ^= rng << 5;
    return rng;
}

static int count_vec(int64_t rowid, const float *v, int dim, void *ctx) {
    (void)rowid;
    double *sum = ctx;
    for (int i = 0; i < dim; i++) *sum += v[i];
    return 0;
}

int main(int argc, char **argv) {
    if (argc < 3) { fprintf(stderr, "usage: store_bench DIR N\n"); return 2; }
    const char *dir = argv[1];
    int N = atoi(argv[2]);
    scry_err err = {0};
    char path[1024];

    /* ---- blobs ---- */
    blob_store *bs;
    snprintf(path, sizeof path, "%s/blobs", dir);
    if (blob_open_fs(&bs, path, &err) != SCRY_OK) die("blob open", &err);
    enum { BLOBS = 100, BLOB_SIZE = 1 << 20 };
    unsigned char *buf = malloc(BLOB_SIZE);
    char shas[BLOBS][65];
    double t0 = scry_mono_s();
    for (int i = 0; i < BLOBS; i++) {
        for (int k = 0; k < BLOB_SIZE; k += 4) *(uint32_t *)(buf + k) = next();
        blob_writer *w;
        if (blob_writer_open(bs, &w, &err) != SCRY_OK) die("writer", &err);
        for (int off = 0; off < BLOB_SIZE; off += 64 * 1024)
            if (blob_writer_write(w, buf + off, 64 * 1024, &err) != SCRY_OK) die("write", &err);
        if (blob_writer_commit(w, shas[i], &err) != SCRY_OK) die("commit", &err);
    }
    double put_s = scry_mono_s() - t0;
    t0 = scry_mono_s();
    for (int i = 0; i < BLOBS; i++) {
        void *d; size_t n;
        if (blob_get(bs, shas[i], &d, &n, &err) != SCRY_OK) die("get", &err);
        free(d);
    }
    double get_s = scry_mono_s() - t0;
    t0 = scry_mono_s();
    char dup[65];
    for (int i = 0; i < 20; i++)
        if (blob_put(bs, buf, BLOB_SIZE, dup, &err) != SCRY_OK) die("dup", &err);
    double dup_s = (scry_mono_s() - t0) / 20;
    printf("blob put (1 MiB, streamed, durable): %.1f ms each, %.0f MiB/s\n",
           put_s * 1000 / BLOBS, BLOBS / put_s);
    printf("blob get (1 MiB):                    %.2f ms each\n", get_s * 1000 / BLOBS);
    printf("blob put of existing content (dedup): %.1f ms each\n", dup_s * 1000);
    blob_close(bs);
    free(buf);

    /* ---- metadata ---- */
    meta_db *db;
    snprintf(path, sizeof path, "%s/meta.db", dir);
    if (meta_open(&db, path, &err) != SCRY_OK) die("meta open", &err);
    meta_new_image *imgs = calloc((size_t)N, sizeof *imgs);
    char (*names)[32] = calloc((size_t)N, sizeof *names);
    for (int i = 0; i < N; i++) {
        scry_new_id(imgs[i].id);
        snprintf(names[i], sizeof names[i], "IMG_%05d_%s.jpg", i,
                 scry_coco_labels[next() % SCRY_COCO_COUNT]);
        scry_sha256_hex(names[i], strlen(names[i]), imgs[i].sha256);
        imgs[i].filename = names[i];
        imgs[i].format = "jpeg";
        imgs[i].bytes = 1 << 20;
    }
    /* single-image uploads first (the latency a client sees), then batches */
    int singles = N < 50 ? N : 50;
    t0 = scry_mono_s();
    for (int i = 0; i < singles; i++) {
        char job[SCRY_ID_LEN + 1];
        scry_new_id(job);
        if (meta_upload_commit(db, job, &imgs[i], 1, &err) != SCRY_OK) die("upload", &err);
    }
    double one_s = (scry_mono_s() - t0) / singles;
    t0 = scry_mono_s();
    int batches = 0;
    for (int i = singles; i < N; i += 100, batches++) {
        char job[SCRY_ID_LEN + 1];
        scry_new_id(job);
        int k = N - i < 100 ? N - i : 100;
        if (meta_upload_commit(db, job, &imgs[i], k, &err) != SCRY_OK) die("upload", &err);
    }
    double batch_s = batches ? (scry_mono_s() - t0) / batches : 0;
    printf("upload commit, 1 image:              %.1f ms\n", one_s * 1000);
    printf("upload commit, 100 images:           %.1f ms\n", batch_s * 1000);

    /* worker bookkeeping per image */
    const char *stages[] = {"decode", "thumbnail", "colors", "detect", "caption", "ocr"};
    float vec[512];
    double claim_t = 0, stage_t = 0, facts_t = 0, vec_t = 0, finish_t = 0;
    for (int i = 0; i < N; i++) {
        work_item w;
        double a = scry_mono_s();
        if (meta_item_claim(db, &w, &err) != SCRY_OK) die("claim", &err);
        double b = scry_mono_s();
        for (int s = 0; s < 6; s++)
            if (meta_item_stage(db, &w, stages[s], &err) != SCRY_OK) die("stage", &err);
        double c = scry_mono_s();
        image_rec r;
        if (meta_image_get(db, w.image_id, &r, &err) != SCRY_OK) die("get", &err);
        image_rec_free(&r);
        char caption[256], tags[512], colors[128];
        const char *l1 = scry_coco_labels[next() % SCRY_COCO_COUNT];
        const char *l2 = scry_coco_labels[next() % SCRY_COCO_COUNT];
        const char *c1 = scry_color_names[next() % SCRY_COLOR_COUNT];
        snprintf(caption, sizeof caption, "a %s %s next to a %s", c1, l1, l2);
        snprintf(tags, sizeof tags, "[{\"label\":\"%s\",\"score\":0.9,\"box\":[1,2,3,4],"
                 "\"color\":\"%s\"},{\"label\":\"%s\",\"score\":0.7,\"box\":[5,6,7,8]}]",
                 l1, c1, l2);
        snprintf(colors, sizeof colors, "[{\"name\":\"%s\",\"hex\":\"#123456\","
                 "\"fraction\":0.5}]", c1);
        r.caption = caption;
        r.tags_json = tags;
        r.colors_json = colors;
        r.width = 4000; r.height = 3000;
        r.has_phash = 1; r.phash = next();
        snprintf(r.status, sizeof r.status, "ready");
        if (meta_image_update_facts(db, &r, &err) != SCRY_OK) die("facts", &err);
        double d = scry_mono_s();
        for (int k = 0; k < 512; k++) vec[k] = (float)(next() % 1000) / 1000.0f;
        if (meta_vector_put(db, r.rowid, "clip", vec, 512, &err) != SCRY_OK) die("vec", &err);
        double e = scry_mono_s();
        if (meta_item_finish(db, &w, 1, NULL, NULL, &err) != SCRY_OK) die("finish", &err);
        double f = scry_mono_s();
        claim_t += b - a; stage_t += c - b; facts_t += d - c; vec_t += e - d; finish_t += f - e;
    }
    printf("per image: claim %.2f ms, 6 stages %.2f ms, facts %.2f ms, vector %.2f ms, "
           "finish %.2f ms = %.1f ms\n", claim_t * 1000 / N, stage_t * 1000 / N,
           facts_t * 1000 / N, vec_t * 1000 / N, finish_t * 1000 / N,
           (claim_t + stage_t + facts_t + vec_t + finish_t) * 1000 / N);

    /* keyword search */
    int Q = 500;
    long total_hits = 0;
    t0 = scry_mono_s();
    for (int q = 0; q < Q; q++) {
        char text[128];
        snprintf(text, sizeof text, "%s %s", scry_color_names[next() % SCRY_COLOR_COUNT],
                 scry_coco_labels[next() % SCRY_COCO_COUNT]);
        char *m = meta_fts_query_from_text(text);
        meta_hit *hits; int n;
        if (meta_fts_search(db, m, 50, &hits, &n, &err) != SCRY_OK) die("search", &err);
        total_hits += n;
        free(hits);
        free(m);
    }
    double search_ms = (scry_mono_s() - t0) * 1000 / Q;
    printf("keyword search over %d images (2 words, top 50): %.2f ms, %.0f hits avg\n", N,
           search_ms, (double)total_hits / Q);

    double sum = 0;
    t0 = scry_mono_s();
    if (meta_vector_each(db, "clip", count_vec, &sum, &err) != SCRY_OK) die("each", &err);
    double walk_s = scry_mono_s() - t0;
    printf("vector walk, %d x 512-d:            %.1f ms (%.0f vectors/s)\n", N, walk_s * 1000,
           N / walk_s);
    meta_close(db);
    free(imgs);
    free(names);
    printf("summary: blob put %.1f ms/MiB, upload commit %.1f ms, worker bookkeeping %.1f "
           "ms/image, search %.2f ms @%d images\n", put_s * 1000 / BLOBS, one_s * 1000,
           (claim_t + stage_t + facts_t + vec_t + finish_t) * 1000 / N, search_ms, N);
    return 0;
}
