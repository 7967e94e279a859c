/* emotion.c -- see emotion.h.
 *
 * The resampling steps are TF.js's CPU kernels (vision/facecrop.h), so the
 * tensor we feed matches Human's to float rounding. */
#include "vision/emotion.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vision/facecrop.h"
#include "vision/onnx.h"

struct emotion_model {
    onnx_model *net;
};

#define S EMOTION_INPUT_SIZE

int emotion_load(const char *models_dir, emotion_model **out, scry_err *err) {
    *out = NULL;
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", models_dir, EMOTION_MODEL_FILE);
    emotion_model *m = calloc(1, sizeof *m);
    if (!m) return scry_fail(err, SCRY_ENOMEM, "out of memory");
    int rc = onnx_model_load(path, &m->net, err);
    if (rc) {
        free(m);
        return rc;
    }
    if (onnx_input_count(m->net) != 1 || onnx_output_count(m->net) != 1) {
        emotion_free(m);
        return scry_fail(err, SCRY_ECORRUPT,
                         "model file %s has an unexpected signature; run ./scripts/setup.sh "
                         "to prepare it again", path);
    }
    *out = m;
    return SCRY_OK;
}

void emotion_free(emotion_model *m) {
    if (!m) return;
    onnx_model_free(m->net);
    free(m);
}

/* Human's grey conversion and normalisation of one RGB sample in 0..255. */
static float grey_norm(const float rgb[3]) {
    double g = (rgb[0] / 255.0) * 0.2989 + (rgb[1] / 255.0) * 0.587 + (rgb[2] / 255.0) * 0.114;
    return (float)((g - 0.5) * 2.0);
}

void emotion_prepare_crop(const img_rgb *face, float *out) {
    const double ry = (double)face->h / S, rx = (double)face->w / S;
    for (int i = 0; i < S; i++)
        for (int j = 0; j < S; j++) {
            float rgb[3];
            facecrop_pixel(face, ry * i, rx * j, rgb);
            out[i * S + j] = grey_norm(rgb);
        }
}

void emotion_prepare_box(const img_rgb *img, float x, float y, float w, float h, float *out) {
    /* Human's face tensor (facecrop.h), then its legacy resize 256 -> 64,
     * which reads crop pixel 4i exactly: only those pixels are sampled. */
    double sq[4];
    facecrop_square(x, y, w, h, EMOTION_BOX_SCALE, sq);
    float rgb[S * S * 3];
    facecrop_sample(img, sq, FACECROP_SIDE, FACECROP_SIDE / S, S, rgb);
    for (int i = 0; i < S * S; i++) out[i] = grey_norm(rgb + i * 3);
}

static int run(emotion_model *m, float *input, int n, float *scores, scry_err *err) {
    onnx_tensor in = {.data = input, .rank = 4, .shape = {n, S, S, 1}};
    onnx_tensor out = {0};
    int rc = onnx_run(m->net, &in, 1, &out, 1, err);
    if (rc) return rc;
    if (onnx_tensor_count(&out) != (size_t)n * SCRY_EMOTION_COUNT) {
        onnx_tensor_free(&out);
        return scry_fail(err, SCRY_ECORRUPT, "emotion: unexpected output size");
    }
    memcpy(scores, out.data, (size_t)n * SCRY_EMOTION_COUNT * sizeof(float));
    onnx_tensor_free(&out);
    return SCRY_OK;
}

static int valid(const img_rgb *img) { return img && img->px && img->w > 0 && img->h > 0; }

int emotion_classify(emotion_model *m, const img_rgb *img, float x, float y, float w, float h,
                     float scores[SCRY_EMOTION_COUNT], scry_err *err) {
    if (!valid(img)) return scry_fail(err, SCRY_EINVAL, "emotion: empty image");
    if (!(w > 0) || !(h > 0)) return scry_fail(err, SCRY_EINVAL, "emotion: empty face box");
    float *input = malloc(S * S * sizeof(float));
    if (!input) return scry_fail(err, SCRY_ENOMEM, "out of memory");
    emotion_prepare_box(img, x, y, w, h, input);
    int rc = run(m, input, 1, scores, err);
    free(input);
    return rc;
}

int emotion_classify_crops(emotion_model *m, const img_rgb *faces, int n, float *scores,
                           scry_err *err) {
    if (n < 1) return scry_fail(err, SCRY_EINVAL, "emotion: no faces");
    for (int i = 0; i < n; i++)
        if (!valid(&faces[i])) return scry_fail(err, SCRY_EINVAL, "emotion: empty face %d", i);
    float *input = malloc((size_t)n * S * S * sizeof(float));
    if (!input) return scry_fail(err, SCRY_ENOMEM, "out of memory");
    for (int i = 0; i < n; i++) emotion_prepare_crop(&faces[i], input + (size_t)i * S * S);
    int rc = run(m, input, n, scores, err);
    free(input);
    return rc;
}

int emotion_classify_crop(emotion_model *m, const img_rgb *face, float scores[SCRY_EMOTION_COUNT],
                          scry_err *err) {
    return emotion_classify_crops(m, face, 1, scores, err);
}

int emotion_top(const float scores[SCRY_EMOTION_COUNT]) {
    int best = 0;
    for (int i = 1; i < SCRY_EMOTION_COUNT; i++)
        if (scores[i] > scores[best]) best = i;
    return best;
}
