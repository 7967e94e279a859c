/* encoder_bench.c -- speed and retrieval quality of the text encoder.
 * Built and run by bench/encoder against build/libscry.a.
 *
 * Speed: load time (mmap word vectors + WordNet lexicon + reference PC) and
 * sentences encoded per second on one thread and on two.
 * Quality (when $SCRY_SHARED/data/coco/captions.jsonl exists): each image's
 * first caption is a query, the other four captions joined are the image's
 * document; Recall@1/@5 and MRR over the 239 images, for plain averaging,
 * SIF without and with common-component removal. */
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "text/encoder.h"

#define MAXIMG 512

static char *queries[MAXIMG], *docs[MAXIMG + 1];
static int nimg;

static void load_captions(const char *path) {
    FILE *f = fopen(path, "r");
    if (!f) return;
    char line[65536];
    while (nimg < MAXIMG && fgets(line, sizeof line, f)) {
        json_t *o = json_loads(line, 0, NULL);
        json_t *caps = o ? json_object_get(o, "captions") : NULL;
        if (caps && json_array_size(caps) >= 2) {
            queries[nimg] = strdup(json_string_value(json_array_get(caps, 0)));
            size_t n = 0;
            char *d = calloc(1, 8192);
            for (size_t i = 1; i < json_array_size(caps); i++)
                n += (size_t)snprintf(d + n, 8192 - n, "%s. ", json_string_value(json_array_get(caps, i)));
            docs[nimg++] = d;
        }
        json_decref(o);
    }
    fclose(f);
}

static void quality(const scry_encoder *enc, const char *label) {
    if (!nimg) return;
    int dim = enc->dim;
    float *dv = malloc(sizeof(float) * dim * nimg), *qv = malloc(sizeof(float) * dim);
    for (int i = 0; i < nimg; i++) scry_encode(enc, docs[i], dv + (size_t)i * dim, NULL);
    int r1 = 0, r5 = 0;
    double mrr = 0;
    for (int q = 0; q < nimg; q++) {
        scry_encode(enc, queries[q], qv, NULL);
        float own = scry_vec_dot(qv, dv + (size_t)q * dim, dim);
        int rank = 1;
        for (int i = 0; i < nimg; i++)
            if (i != q && scry_vec_dot(qv, dv + (size_t)i * dim, dim) > own) rank++;
        r1 += rank == 1;
        r5 += rank <= 5;
        mrr += 1.0 / rank;
    }
    printf("quality %-14s images=%d R@1=%.3f R@5=%.3f MRR=%.3f\n", label, nimg, (double)r1 / nimg,
           (double)r5 / nimg, mrr / nimg);
    free(dv);
    free(qv);
}

static const char *sample[] = {
    "Two people and a dog on a sofa; one person is smiling; a sign reads 'OPEN'.",
    "A red car parked on a city street next to a fire hydrant.",
    "tags: person, dog, couch. emotions: happy. colors: red, white. text: open",
    "A woman stands in the dining area at the table.",
    "Kitchen appliances and cabinets in a bright room.",
    "A man riding a motorcycle down a dirt road.",
};
#define NSAMPLE (int)(sizeof sample / sizeof sample[0])

typedef struct { const scry_encoder *enc; int n; } job;
static void *run(void *vj) {
    job *j = vj;
    float v[512];
    for (int i = 0; i < j->n; i++) scry_encode(j->enc, sample[i % NSAMPLE], v, NULL);
    return NULL;
}

int main(void) {
    scry_err err = {0};
    char path[1024];
    double t0 = scry_mono_s();
    scry_wordvec *wv;
    if (scry_wordvec_open(scry_wordvec_default_path(path, sizeof path), &wv, &err)) { fprintf(stderr, "%s\n", err.msg); return 1; }
    double t1 = scry_mono_s();
    scry_lexicon *lex;
    if (scry_lexicon_open(&lex, &err)) { fprintf(stderr, "%s\n", err.msg); return 1; }
    double t2 = scry_mono_s();
    scry_encoder *enc;
    if (scry_sif_encoder_new(wv, lex, NULL, &enc, &err)) { fprintf(stderr, "%s\n", err.msg); return 1; }
    double t3 = scry_mono_s();
    printf("load wordvec_ms=%.1f lexicon_ms=%.1f encoder_ms=%.1f\n", (t1 - t0) * 1e3, (t2 - t1) * 1e3, (t3 - t2) * 1e3);
    double load_ms = (t3 - t0) * 1e3;

    int n = 200000;
    job j = {enc, n};
    double s0 = scry_mono_s();
    run(&j);
    double one = n / (scry_mono_s() - s0);
    pthread_t th[2];
    job j2 = {enc, n / 2};
    s0 = scry_mono_s();
    for (int i = 0; i < 2; i++) pthread_create(&th[i], NULL, run, &j2);
    for (int i = 0; i < 2; i++) pthread_join(th[i], NULL);
    double two = n / (scry_mono_s() - s0);
    printf("speed threads=1 sentences_per_s=%.0f\nspeed threads=2 sentences_per_s=%.0f\n", one, two);

    const char *shared = getenv("SCRY_SHARED");
    char cap[1024];
    snprintf(cap, sizeof cap, "%s/data/coco/captions.jsonl", shared && *shared ? shared : "../shared");
    load_captions(cap);
    scry_sif_options mean = {1e9, 0}, nopc = {1e-3, 0};
    scry_encoder *e_mean, *e_nopc;
    scry_sif_encoder_new(wv, lex, &mean, &e_mean, &err);
    scry_sif_encoder_new(wv, lex, &nopc, &e_nopc, &err);
    scry_sif_options corpus = {1e-3, 1, (const char *const *)docs};
    scry_encoder *e_corpus = NULL;
    if (nimg) scry_sif_encoder_new(wv, lex, &corpus, &e_corpus, &err);
    quality(e_mean, "mean");
    if (e_corpus) quality(e_corpus, "sif+pc(corpus)");
    scry_encoder_free(e_corpus);
    quality(e_nopc, "sif-no-pc");
    quality(enc, "sif+pc(wordnet)");
    scry_encoder_free(e_mean);
    scry_encoder_free(e_nopc);
    scry_encoder_free(enc);
    scry_lexicon_close(lex);
    scry_wordvec_close(wv);
    printf("encoder: sentences_per_s=%.0f load_ms=%.0f\n", one, load_ms);
    return 0;
}
