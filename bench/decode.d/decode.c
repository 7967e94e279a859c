/* decode.c -- benchmark driver for vision/image (run by bench/decode).
 *
 * Loads every file named on the command line into memory first (so disk
 * reads are not measured), then runs the per-image pipeline the job workers
 * run -- decode to the working copy, a 320-px JPEG thumbnail, dominant
 * colours, pHash -- with T threads pulling images from a shared counter.
 * Prints per-step mean milliseconds and whole-pipeline images/s. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/util.h"
#include "vision/image.h"

typedef struct { void *data; size_t n; } input;

static input *inputs;
static int n_inputs, passes;
static atomic_int next_job;

enum { S_DECODE, S_THUMB, S_COLORS, S_PHASH, S_COUNT };
static const char *const step_names[S_COUNT] = {"decode", "thumbnail", "colours", "phash"};

typedef struct { double step_s[S_COUNT]; int done, failed; } stats;

static void *worker(void *arg) {
    stats *st = arg;
    for (;;) {
        int j = atomic_fetch_add(&next_job, 1);
        if (j >= n_inputs * passes) break;
        input *in = &inputs[j % n_inputs];
        img_decoded d;
        scry_err err = {0};
        double t0 = scry_mono_s();
        if (img_decode(in->data, in->n, NULL, &d, &err) != SCRY_OK) {
            st->failed++;
            continue;
        }
        double t1 = scry_mono_s();
        void *jpg = NULL;
        size_t len = 0;
        if (img_thumbnail_jpeg(&d.work, 320, &jpg, &len, &err) != SCRY_OK) st->failed++;
        free(jpg);
        double t2 = scry_mono_s();
        free(img_colors_json(&d.work, 5));
        double t3 = scry_mono_s();
        volatile uint64_t h = img_phash(&d.work);
        (void)h;
        double t4 = scry_mono_s();
        st->step_s[S_DECODE] += t1 - t0;
        st->step_s[S_THUMB] += t2 - t1;
        st->step_s[S_COLORS] += t3 - t2;
        st->step_s[S_PHASH] += t4 - t3;
        st->done++;
        img_decoded_free(&d);
    }
    img_thread_done();
    return NULL;
}

/* Process CPU seconds: on a shared, loaded machine wall time includes
 * waiting for a core; CPU time per image is the steadier cost figure. */
static double cpu_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static double run(int threads) {
    atomic_store(&next_job, 0);
    stats st[8];
    memset(st, 0, sizeof st);
    pthread_t th[8];
    double t0 = scry_mono_s(), c0 = cpu_s();
    for (int i = 0; i < threads; i++) pthread_create(&th[i], NULL, worker, &st[i]);
    for (int i = 0; i < threads; i++) pthread_join(th[i], NULL);
    double wall = scry_mono_s() - t0, cpu = cpu_s() - c0;
    stats sum = {{0}, 0, 0};
    for (int i = 0; i < threads; i++) {
        for (int s = 0; s < S_COUNT; s++) sum.step_s[s] += st[i].step_s[s];
        sum.done += st[i].done;
        sum.failed += st[i].failed;
    }
    double ips = sum.done / wall;
    printf("threads=%d:", threads);
    for (int s = 0; s < S_COUNT; s++)
        printf(" %s=%.2fms", step_names[s], sum.done ? 1e3 * sum.step_s[s] / sum.done : 0.0);
    printf(" cpu_per_image=%.2fms images=%d failed=%d wall=%.2fs images_per_s=%.1f\n",
           sum.done ? 1e3 * cpu / sum.done : 0.0, sum.done, sum.failed, wall, ips);
    return ips;
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: %s PASSES FILE...\n", argv[0]);
        return 2;
    }
    scry_err err = {0};
    if (img_global_init(argv[0], &err) != SCRY_OK) {
        fprintf(stderr, "init: %s\n", err.msg);
        return 1;
    }
    passes = atoi(argv[1]);
    if (passes < 1) passes = 1;
    inputs = calloc((size_t)argc, sizeof *inputs);
    size_t bytes = 0;
    int64_t pixels = 0;
    for (int i = 2; i < argc; i++) {
        input in;
        if (scry_read_file(argv[i], &in.data, &in.n, &err) != SCRY_OK) {
            fprintf(stderr, "skip %s: %s\n", argv[i], err.msg);
            continue;
        }
        inputs[n_inputs++] = in;
        bytes += in.n;
    }
    /* Original sizes, for context (one untimed decode each). */
    for (int i = 0; i < n_inputs; i++) {
        img_decoded d;
        if (img_decode(inputs[i].data, inputs[i].n, NULL, &d, &err) == SCRY_OK) {
            pixels += (int64_t)d.width * d.height;
            img_decoded_free(&d);
        }
    }
    printf("inputs: %d files, %.1f MB, mean %.2f Mpixel, %d pass(es) each\n", n_inputs,
           bytes / 1e6, n_inputs ? pixels / 1e6 / n_inputs : 0.0, passes);
    run(1);
    double ips2 = run(2);
    for (int i = 0; i < n_inputs; i++) free(inputs[i].data);
    free(inputs);
    img_global_shutdown();
    printf("decode: images_per_s=%.1f\n", ips2);
    return 0;
}
