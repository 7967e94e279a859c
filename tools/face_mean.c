/* face_mean.c -- the mean face descriptor of a set of training photos, for
 * people/facespace.h (models/face_mean.bin; docs/people.md).
 *
 * Every photo under the given folders goes through the product's detector
 * (faces_detect) and faceres (faceres_describe, the descriptor the faces
 * table stores); faces at least MIN_FACE px wide count. The photos must be
 * training photos (../shared/data/flickr8k-train, coco-extra,
 * coco-unlabelled), never LFW (the benchmark) nor coco/.
 *
 * usage: face-mean MODELS_DIR OUT.bin DIR... */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../tools/rgbload.h"
#include "core/log.h"
#include "people/facespace.h"
#include "vision/faceres.h"
#include "vision/faces.h"
#include "vision/onnx.h"

#define MIN_FACE 32

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

int main(int argc, char **argv) {
    if (argc < 4) {
        fprintf(stderr, "usage: face-mean MODELS_DIR OUT.bin DIR...\n");
        return 2;
    }
    log_set_level(LOG_WARN);
    scry_err err = {0};
    faces_model *fm = NULL;
    faceres_model *rm = NULL;
    if (onnx_global_init(1, &err) || faces_load(argv[1], &fm, &err) || faceres_load(argv[1], &rm, &err)) {
        fprintf(stderr, "face-mean: %s\n", err.msg);
        return 1;
    }
    double *acc = calloc(FACERES_DIM, sizeof *acc);
    faceres_result *r = malloc(sizeof *r);
    unsigned faces = 0;
    for (int a = 3; a < argc; a++) {
        DIR *d = opendir(argv[a]);
        if (!d) {
            fprintf(stderr, "face-mean: cannot open %s\n", argv[a]);
            return 1;
        }
        char **names = NULL;
        int n = 0, cap = 0, photos = 0, before = (int)faces;
        struct dirent *e;
        while ((e = readdir(d))) {
            if (e->d_name[0] == '.') continue;
            if (n == cap) names = realloc(names, (size_t)(cap = cap ? cap * 2 : 256) * sizeof *names);
            names[n++] = strdup(e->d_name);
        }
        closedir(d);
        qsort(names, (size_t)n, sizeof *names, cmp_str);
        for (int i = 0; i < n; i++) {
            char path[4096];
            snprintf(path, sizeof path, "%s/%s", argv[a], names[i]);
            free(names[i]);
            img_rgb img;
            if (rgbload(path, &img.w, &img.h, &img.px)) continue;
            photos++;
            face_box *b = NULL;
            int nb = 0;
            if (faces_detect(fm, &img, &b, &nb, &err) == SCRY_OK)
                for (int k = 0; k < nb; k++) {
                    if (b[k].w < MIN_FACE) continue;
                    if (faceres_describe(rm, &img, b[k].x, b[k].y, b[k].w, b[k].h, r, &err)) continue;
                    for (int q = 0; q < FACERES_DIM; q++) acc[q] += r->descriptor[q];
                    faces++;
                }
            free(b);
            free(img.px);
        }
        free(names);
        printf("face-mean: %s: %d photos, %d faces >= %d px\n", argv[a], photos, (int)faces - before,
               MIN_FACE);
    }
    if (!faces) {
        fprintf(stderr, "face-mean: no faces found\n");
        return 1;
    }
    facespace fs = {.dim = FACERES_DIM, .faces = faces, .mean = malloc(FACERES_DIM * sizeof(float))};
    snprintf(fs.model, sizeof fs.model, "%s", FACERES_MODEL_NAME);
    for (int q = 0; q < FACERES_DIM; q++) fs.mean[q] = (float)(acc[q] / faces);
    if (facespace_save(argv[2], &fs, &err)) {
        fprintf(stderr, "face-mean: %s\n", err.msg);
        return 1;
    }
    printf("face-mean: %u faces -> %s\n", faces, argv[2]);
    facespace_free(&fs);
    free(acc);
    free(r);
    faceres_free(rm);
    faces_free(fm);
    return 0;
}
