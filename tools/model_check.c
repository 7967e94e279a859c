/* model_check.c -- check converted ONNX models and our C pipeline against
 * the original TF.js models (run by scripts/setup.d/20-models-human.sh).
 *
 *   model-check rgb IMAGE OUT.rgb
 *       decode IMAGE to raw RGB8 (libvips); prints "W H"
 *   model-check objects MODELS_DIR IMAGE REFDIR
 *       REFDIR holds tools/tfjs_ref.js output for IMAGE. Checks, in order:
 *       1. our pre-processing == TF.js resizeBilinear (max |d| on 0..255);
 *       2. ONNX on TF.js's own input == TF.js outputs: heatmap max |d|, and
 *          every TF.js candidate with score >= 0.1 found in the ONNX output
 *          (same class, coordinates within 0.5 px, score within 2e-3);
 *       3. the whole C pipeline (objects_detect with Human's parameters) ==
 *          Human's final list (same classes, scores within 0.011, boxes
 *          within 2 px).
 *   model-check emotion MODELS_DIR RGB N W H REFDIR
 *       N face crops of WxH: our input == TF.js input, ONNX scores == TF.js
 *       scores (max |d|), and the same top class for every crop.
 *   model-check faceapi-expression MODELS_DIR RGB N W H REFDIR
 *       the same for face-api's expression model against face-api's own
 *       code (REFDIR from tfjs_ref.js faceapi-expression): our 112x112
 *       input == face-api's toBatchTensor, ONNX softmax == face-api's, and
 *       our C path (mirror view off, as face-api has none) gives the same
 *       top class for every crop.
 *   model-check faceres MODELS_DIR IMAGE BOXES REFDIR
 *       BOXES: detector boxes "x y w h", one a line. For each face: our
 *       pre-processing == TF.js's input; ONNX on that input == TF.js's
 *       gender, age probabilities and descriptor (max |d|, cosine); our
 *       whole C path (faceres_describe) == Human's gender, genderScore and
 *       age (human.txt).
 *
 * Prints one "verify ..." line per check with the figures, exits 1 when any
 * figure is over its tolerance: a conversion that differs must stop setup. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../tools/rgbload.h"
#include "core/labels.h"
#include "core/log.h"
#include "vision/emotion.h"
#include "vision/faceres.h"
#include "vision/objects.h"
#include "vision/onnx.h"

#define TOL_INPUT 1e-3       /* 0..255 units (objects) or [-1,1] (emotion) */
#define TOL_HEATMAP 2e-3
#define TOL_COORD 0.5
#define TOL_SCORE 2e-3
#define TOL_EMOTION 1e-3
#define TOL_PROB 1e-3        /* gender sigmoid, age softmax */
#define TOL_FEATURE 2e-3     /* raw descriptor features (0..6) */
#define MIN_COSINE 0.99999

static float *read_f32(const char *dir, const char *name, size_t want) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "model-check: cannot open %s\n", path);
        exit(2);
    }
    float *buf = malloc(want * sizeof(float) + 1);
    size_t got = fread(buf, sizeof(float), want + 1, f);
    fclose(f);
    if (got != want) {
        fprintf(stderr, "model-check: %s has %zu floats, want %zu\n", path, got, want);
        exit(2);
    }
    return buf;
}

static double max_abs_diff(const float *a, const float *b, size_t n) {
    double m = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - b[i]);
        if (d > m || d != d) m = d != d ? INFINITY : d;
    }
    return m;
}

static int check_objects(const char *models, const char *image, const char *ref) {
    int w, h;
    uint8_t *px;
    if (rgbload(image, &w, &h, &px)) {
        fprintf(stderr, "model-check: cannot decode %s\n", image);
        return 2;
    }
    img_rgb img = {.w = w, .h = h, .px = px};
    const size_t nin = (size_t)OBJECTS_INPUT_SIZE * OBJECTS_INPUT_SIZE * 3;
    const size_t nkp = 128 * 128 * 80;
    float *ref_in = read_f32(ref, "input.f32", nin);
    float *ref_det = read_f32(ref, "detections.f32", 600);
    float *ref_kp = read_f32(ref, "keypoints.f32", nkp);
    int bad = 0;
    const char *base = strrchr(image, '/') ? strrchr(image, '/') + 1 : image;

    /* 1. pre-processing */
    float *ours = malloc(nin * sizeof(float));
    objects_prepare_input(&img, ours);
    double d_in = max_abs_diff(ours, ref_in, nin);
    free(ours);
    printf("verify objects %s: preprocess max|d|=%.2g (tol %.0e)\n", base, d_in, TOL_INPUT);
    bad |= !(d_in <= TOL_INPUT);

    /* 2. the converted graph on identical input */
    scry_err err = {0};
    onnx_model *net = NULL;
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", models, OBJECTS_MODEL_FILE);
    if (onnx_model_load(path, &net, &err)) {
        fprintf(stderr, "model-check: %s\n", err.msg);
        return 2;
    }
    onnx_tensor in = {.data = ref_in, .rank = 4, .shape = {1, 512, 512, 3}};
    onnx_tensor out[2] = {{0}};
    if (onnx_run(net, &in, 1, out, 2, &err)) {
        fprintf(stderr, "model-check: %s\n", err.msg);
        return 2;
    }
    double d_kp = max_abs_diff(out[1].data, ref_kp, nkp);
    int cand = 0, found = 0;
    double d_det = 0;
    for (int i = 0; i < 100; i++) {
        const float *r = ref_det + i * 6;
        if (r[4] < 0.1f) continue;
        cand++;
        for (int j = 0; j < 100; j++) {
            const float *o = out[0].data + j * 6;
            double dc = 0;
            for (int k = 0; k < 4; k++) dc = fmax(dc, fabs((double)o[k] - r[k]));
            if (o[5] == r[5] && dc <= TOL_COORD && fabs((double)o[4] - r[4]) <= TOL_SCORE) {
                found++;
                d_det = fmax(d_det, fmax(dc, fabs((double)o[4] - r[4])));
                break;
            }
        }
    }
    printf("verify objects %s: onnx vs tfjs heatmap max|d|=%.2g (tol %.0e), candidates>=0.1 "
           "matched %d/%d (max|d| %.2g)\n", base, d_kp, TOL_HEATMAP, found, cand, d_det);
    bad |= !(d_kp <= TOL_HEATMAP) || found != cand || cand == 0;
    onnx_tensor_free(&out[0]);
    onnx_tensor_free(&out[1]);
    onnx_model_free(net);

    /* 3. the whole C pipeline vs Human's final objects */
    objects_model *om = NULL;
    if (objects_load(models, &om, &err)) {
        fprintf(stderr, "model-check: %s\n", err.msg);
        return 2;
    }
    objects_params p = {.min_score = 0.2f, .nms_iou = 0.4f, .max_boxes = 10, .class_agnostic = 1, .dup_iou = 1.0f};
    det_box *boxes = NULL;
    int n = 0;
    if (objects_detect_with(om, &img, &p, &boxes, &n, &err)) {
        fprintf(stderr, "model-check: %s\n", err.msg);
        return 2;
    }
    snprintf(path, sizeof path, "%s/human.txt", ref);
    FILE *f = fopen(path, "r");
    int hn = 0, matched = 0;
    char names[512] = "";
    float cls, score, x, y, bw, bh;
    while (f && fscanf(f, "%f %f %f %f %f %f", &cls, &score, &x, &y, &bw, &bh) == 6) {
        hn++;
        for (int i = 0; i < n; i++) {
            det_box *b = &boxes[i];
            if (b->label == (int)cls && fabsf(b->score - score) <= 0.011f &&
                fabsf(b->x - x) <= 2 && fabsf(b->y - y) <= 2 && fabsf(b->w - bw) <= 2 &&
                fabsf(b->h - bh) <= 2) {
                matched++;
                break;
            }
        }
        if (strlen(names) < sizeof names - 40)
            snprintf(names + strlen(names), sizeof names - strlen(names), "%s%s:%.2f",
                     hn > 1 ? "," : "", scry_coco_labels[(int)cls], score);
    }
    if (f) fclose(f);
    printf("verify objects %s: C pipeline vs Human %d/%d objects match, ours %d [%s]\n", base,
           matched, hn, n, names);
    bad |= matched != hn || n != hn;
    free(boxes);
    objects_free(om);
    free(ref_in);
    free(ref_det);
    free(ref_kp);
    free(px);
    return bad;
}

/* The two expression models differ only in their input, file and label
 * order: one check for both. */
typedef struct expr_model {
    const char *name, *file;
    int kind, side, ch;
    void (*prepare)(const img_rgb *face, float *out);
    int to_ours[SCRY_EMOTION_COUNT];   /* reference softmax index -> ours */
} expr_model;

static const expr_model mini_xception = {
    "emotion", EMOTION_MODEL_FILE, EMOTION_MINI_XCEPTION, EMOTION_INPUT_SIZE, 1,
    emotion_prepare_crop, {0, 1, 2, 3, 4, 5, 6}};
/* face-api order: neutral, happy, sad, angry, fearful, disgusted, surprised */
static const expr_model faceapi = {
    "faceapi-expression", EMOTION_FACEAPI_FILE, EMOTION_FACEAPI, EMOTION_FACEAPI_SIZE, 3,
    emotion_prepare_crop_faceapi, {6, 3, 4, 0, 2, 1, 5}};

static int check_expression(const expr_model *em_kind, const char *models, const char *rgb, int n,
                            int w, int h, const char *ref) {
    const size_t one = (size_t)w * h * 3;
    uint8_t *px = malloc((size_t)n * one);
    FILE *f = fopen(rgb, "rb");
    if (!f || fread(px, 1, (size_t)n * one, f) != (size_t)n * one) {
        fprintf(stderr, "model-check: cannot read %s\n", rgb);
        return 2;
    }
    fclose(f);
    const size_t nin = (size_t)em_kind->side * em_kind->side * em_kind->ch;
    float *ref_in = read_f32(ref, "input.f32", (size_t)n * nin);
    float *ref_sc = read_f32(ref, "scores.f32", (size_t)n * SCRY_EMOTION_COUNT);
    float *ours = malloc(nin * sizeof(float));
    img_rgb *faces = calloc((size_t)n, sizeof *faces);
    double d_in = 0;
    for (int i = 0; i < n; i++) {
        faces[i] = (img_rgb){.w = w, .h = h, .px = px + (size_t)i * one};
        em_kind->prepare(&faces[i], ours);
        d_in = fmax(d_in, max_abs_diff(ours, ref_in + i * nin, nin));
    }
    free(ours);
    int bad = !(d_in <= TOL_INPUT);
    printf("verify %s: %d crops, preprocess max|d|=%.2g (tol %.0e)\n", em_kind->name, n, d_in,
           TOL_INPUT);

    /* the converted graph on the reference's own input */
    scry_err err = {0};
    onnx_model *net = NULL;
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", models, em_kind->file);
    if (onnx_model_load(path, &net, &err)) {
        fprintf(stderr, "model-check: %s\n", err.msg);
        return 2;
    }
    onnx_tensor in = {.data = ref_in, .rank = 4,
                      .shape = {n, em_kind->side, em_kind->side, em_kind->ch}};
    onnx_tensor out = {0};
    if (onnx_run(net, &in, 1, &out, 1, &err)) {
        fprintf(stderr, "model-check: %s\n", err.msg);
        return 2;
    }
    double d_sc = max_abs_diff(out.data, ref_sc, (size_t)n * SCRY_EMOTION_COUNT);
    onnx_tensor_free(&out);
    onnx_model_free(net);

    /* our C path (no mirror view: the references have none) */
    emotion_model *em = NULL;
    if (emotion_load_kind(models, em_kind->kind, &em, &err)) {
        fprintf(stderr, "model-check: %s\n", err.msg);
        return 2;
    }
    emotion_set_flip(em, 0);
    float *sc = malloc((size_t)n * SCRY_EMOTION_COUNT * sizeof(float));
    if (emotion_classify_crops(em, faces, n, sc, &err)) {
        fprintf(stderr, "model-check: %s\n", err.msg);
        return 2;
    }
    int same = 0;
    for (int i = 0; i < n; i++) {
        int best = 0;
        for (int k = 1; k < SCRY_EMOTION_COUNT; k++)
            if (ref_sc[i * SCRY_EMOTION_COUNT + k] > ref_sc[i * SCRY_EMOTION_COUNT + best]) best = k;
        same += emotion_top(sc + i * SCRY_EMOTION_COUNT) == em_kind->to_ours[best];
    }
    printf("verify %s: onnx vs reference softmax max|d|=%.2g (tol %.0e), C pipeline top class "
           "same %d/%d\n", em_kind->name, d_sc, TOL_EMOTION, same, n);
    bad |= !(d_sc <= TOL_EMOTION) || same != n;
    emotion_free(em);
    free(sc);
    free(faces);
    free(ref_in);
    free(ref_sc);
    free(px);
    return bad;
}

static double cosine(const float *a, const float *b, int n) {
    double ab = 0, aa = 0, bb = 0;
    for (int i = 0; i < n; i++) ab += (double)a[i] * b[i], aa += (double)a[i] * a[i], bb += (double)b[i] * b[i];
    return aa > 0 && bb > 0 ? ab / sqrt(aa * bb) : 0;
}

static int check_faceres(const char *models, const char *image, const char *boxes_file,
                         const char *ref) {
    int w, h;
    uint8_t *px;
    if (rgbload(image, &w, &h, &px)) {
        fprintf(stderr, "model-check: cannot decode %s\n", image);
        return 2;
    }
    img_rgb img = {.w = w, .h = h, .px = px};
    float boxes[64][4];
    int n = 0;
    FILE *f = fopen(boxes_file, "r");
    while (f && n < 64 && fscanf(f, "%f %f %f %f", &boxes[n][0], &boxes[n][1], &boxes[n][2],
                                 &boxes[n][3]) == 4)
        n++;
    if (f) fclose(f);
    if (n == 0) {
        fprintf(stderr, "model-check: no boxes in %s\n", boxes_file);
        return 2;
    }
    const size_t nin = (size_t)FACERES_INPUT_SIZE * FACERES_INPUT_SIZE * 3;
    float *ref_in = read_f32(ref, "input.f32", n * nin);
    float *ref_g = read_f32(ref, "gender.f32", (size_t)n);
    float *ref_a = read_f32(ref, "age.f32", (size_t)n * FACERES_AGE_BINS);
    float *ref_d = read_f32(ref, "descriptor.f32", (size_t)n * FACERES_DIM);
    const char *base = strrchr(image, '/') ? strrchr(image, '/') + 1 : image;
    int bad = 0;

    /* 1. pre-processing */
    float *ours = malloc(nin * sizeof(float));
    double d_in = 0;
    for (int i = 0; i < n; i++) {
        faceres_prepare_box(&img, boxes[i][0], boxes[i][1], boxes[i][2], boxes[i][3], ours);
        d_in = fmax(d_in, max_abs_diff(ours, ref_in + i * nin, nin));
    }
    free(ours);
    printf("verify faceres %s: %d faces, preprocess max|d|=%.2g (tol %.0e, 0..255)\n", base, n,
           d_in, TOL_INPUT);
    bad |= !(d_in <= TOL_INPUT);

    /* 2. the converted graph on TF.js's own input */
    scry_err err = {0};
    onnx_model *net = NULL;
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", models, FACERES_MODEL_FILE);
    if (onnx_model_load(path, &net, &err)) {
        fprintf(stderr, "model-check: %s\n", err.msg);
        return 2;
    }
    double d_g = 0, d_a = 0, d_d = 0, cos_min = 1;
    for (int i = 0; i < n; i++) {
        onnx_tensor in = {.data = ref_in + i * nin, .rank = 4,
                          .shape = {1, FACERES_INPUT_SIZE, FACERES_INPUT_SIZE, 3}};
        onnx_tensor out[3] = {{0}};
        if (onnx_run(net, &in, 1, out, 3, &err)) {
            fprintf(stderr, "model-check: %s\n", err.msg);
            return 2;
        }
        d_g = fmax(d_g, fabs((double)out[0].data[0] - ref_g[i]));
        d_a = fmax(d_a, max_abs_diff(out[1].data, ref_a + i * FACERES_AGE_BINS, FACERES_AGE_BINS));
        d_d = fmax(d_d, max_abs_diff(out[2].data, ref_d + i * FACERES_DIM, FACERES_DIM));
        cos_min = fmin(cos_min, cosine(out[2].data, ref_d + i * FACERES_DIM, FACERES_DIM));
        for (int k = 0; k < 3; k++) onnx_tensor_free(&out[k]);
    }
    onnx_model_free(net);
    printf("verify faceres %s: onnx vs tfjs gender max|d|=%.2g age max|d|=%.2g (tol %.0e), "
           "descriptor max|d|=%.2g (tol %.0e) min cosine %.7f\n", base, d_g, d_a, TOL_PROB, d_d,
           TOL_FEATURE, cos_min);
    bad |= !(d_g <= TOL_PROB) || !(d_a <= TOL_PROB) || !(d_d <= TOL_FEATURE) ||
           !(cos_min >= MIN_COSINE);

    /* 3. the whole C path vs Human's age and gender */
    faceres_model *fm = NULL;
    if (faceres_load(models, &fm, &err)) {
        fprintf(stderr, "model-check: %s\n", err.msg);
        return 2;
    }
    snprintf(path, sizeof path, "%s/human.txt", ref);
    f = fopen(path, "r");
    int same = 0;
    char list[1024] = "";
    for (int i = 0; i < n; i++) {
        char hg[16] = "";
        float hs = -1, ha = -1;
        if (!f || fscanf(f, "%15s %f %f", hg, &hs, &ha) != 3) break;
        faceres_result r;
        if (faceres_describe(fm, &img, boxes[i][0], boxes[i][1], boxes[i][2], boxes[i][3], &r,
                             &err)) {
            fprintf(stderr, "model-check: %s\n", err.msg);
            return 2;
        }
        /* Human: genderScore = min(0.99, trunc(200 |p - 0.5|) / 100), gender
         * "unknown" when that is <= 0.1 */
        double ours_t = fmin(0.99, 2.0 * r.gender_score - 1.0);
        int g_ok = !strcmp(hg, "unknown") ? ours_t <= 0.111
                                          : !strcmp(hg, scry_gender_labels[r.gender]);
        double cos = cosine(r.descriptor, ref_d + i * FACERES_DIM, FACERES_DIM);
        if (g_ok && fabs(ours_t - hs) <= 0.011 && fabs(r.age - ha) <= 0.11 && cos >= MIN_COSINE)
            same++;
        if (strlen(list) < sizeof list - 48)
            snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s:%.2f:%.1f", i ? "," : "",
                     hg, hs, ha);
    }
    if (f) fclose(f);
    printf("verify faceres %s: C pipeline vs Human %d/%d faces match (gender, score, age, "
           "descriptor) [%s]\n", base, same, n, list);
    bad |= same != n;
    faceres_free(fm);
    free(ref_in);
    free(ref_g);
    free(ref_a);
    free(ref_d);
    free(px);
    return bad;
}

int main(int argc, char **argv) {
    log_set_level(LOG_WARN);
    if (argc == 4 && strcmp(argv[1], "rgb") == 0) {
        int w, h;
        uint8_t *px;
        if (rgbload(argv[2], &w, &h, &px)) {
            fprintf(stderr, "model-check: cannot decode %s\n", argv[2]);
            return 2;
        }
        FILE *f = fopen(argv[3], "wb");
        if (!f || fwrite(px, 1, (size_t)w * h * 3, f) != (size_t)w * h * 3) return 2;
        fclose(f);
        free(px);
        printf("%d %d\n", w, h);
        return 0;
    }
    if (argc == 5 && strcmp(argv[1], "objects") == 0) return check_objects(argv[2], argv[3], argv[4]);
    if (argc == 8 && strcmp(argv[1], "emotion") == 0)
        return check_expression(&mini_xception, argv[2], argv[3], atoi(argv[4]), atoi(argv[5]),
                                atoi(argv[6]), argv[7]);
    if (argc == 8 && strcmp(argv[1], "faceapi-expression") == 0)
        return check_expression(&faceapi, argv[2], argv[3], atoi(argv[4]), atoi(argv[5]),
                                atoi(argv[6]), argv[7]);
    if (argc == 6 && strcmp(argv[1], "faceres") == 0)
        return check_faceres(argv[2], argv[3], argv[4], argv[5]);
    fprintf(stderr, "usage: see the header of tools/model_check.c\n");
    return 2;
}
