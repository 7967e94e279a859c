/* emotion.c -- see emotion.h.
 *
 * The two resampling steps follow TF.js's CPU kernels (cropAndResize and the
 * legacy resizeBilinear) with their double-precision arithmetic, so the
 * tensor we feed matches Human's to float rounding. */
#include "vision/emotion.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vision/onnx.h"

struct emotion_model {
    onnx_model *net;
};

#define S EMOTION_INPUT_SIZE
#define CROP 256   /* Human's intermediate face tensor side */

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
static float grey_norm(const double rgb[3]) {
    double g = (rgb[0] / 255.0) * 0.2989 + (rgb[1] / 255.0) * 0.587 + (rgb[2] / 255.0) * 0.114;
    return (float)((g - 0.5) * 2.0);
}

/* Bilinear sample at (fy, fx) with floor/ceil neighbours, as TF.js does. */
static void sample(const img_rgb *img, double fy, double fx, double rgb[3]) {
    int y0 = (int)floor(fy), y1 = (int)ceil(fy), x0 = (int)floor(fx), x1 = (int)ceil(fx);
    if (y1 > img->h - 1) y1 = img->h - 1;
    if (x1 > img->w - 1) x1 = img->w - 1;
    double wy = fy - y0, wx = fx - x0;
    const size_t stride = (size_t)img->w * 3;
    const uint8_t *r0 = img->px + (size_t)y0 * stride, *r1 = img->px + (size_t)y1 * stride;
    for (int c = 0; c < 3; c++) {
        double top = r0[x0 * 3 + c] + ((double)r0[x1 * 3 + c] - r0[x0 * 3 + c]) * wx;
        double bot = r1[x0 * 3 + c] + ((double)r1[x1 * 3 + c] - r1[x0 * 3 + c]) * wx;
        rgb[c] = top + (bot - top) * wy;
    }
}

void emotion_prepare_crop(const img_rgb *face, float *out) {
    const double ry = (double)face->h / S, rx = (double)face->w / S;
    for (int i = 0; i < S; i++)
        for (int j = 0; j < S; j++) {
            double rgb[3];
            sample(face, ry * i, rx * j, rgb);
            out[i * S + j] = grey_norm(rgb);
        }
}

void emotion_prepare_box(const img_rgb *img, float x, float y, float w, float h, float *out) {
    /* Human: enlarge by detector.scale about the centre, square on the
     * longer side, round the corners (JS Math.round). */
    double cx = x + w / 2.0, cy = y + h / 2.0;
    double half = fmax(w * (double)EMOTION_BOX_SCALE, h * (double)EMOTION_BOX_SCALE) / 2.0;
    double sx = floor(cx - half + 0.5), sy = floor(cy - half + 0.5);
    double ex = floor(cx + half + 0.5), ey = floor(cy + half + 0.5);
    /* cropAndResize box, normalised in float32 as the tensor holds it */
    float y1n = (float)(sy / img->h), x1n = (float)(sx / img->w);
    float y2n = (float)(ey / img->h), x2n = (float)(ex / img->w);
    double hs = ((double)y2n - y1n) * (img->h - 1) / (CROP - 1);
    double ws = ((double)x2n - x1n) * (img->w - 1) / (CROP - 1);
    const int step = CROP / S;   /* legacy resize 256->64 reads crop pixel 4i exactly */
    for (int i = 0; i < S; i++) {
        double fy = (double)y1n * (img->h - 1) + (double)(i * step) * hs;
        for (int j = 0; j < S; j++) {
            double fx = (double)x1n * (img->w - 1) + (double)(j * step) * ws;
            double rgb[3] = {0, 0, 0};   /* extrapolation value: black */
            if (fy >= 0 && fy <= img->h - 1 && fx >= 0 && fx <= img->w - 1) sample(img, fy, fx, rgb);
            out[i * S + j] = grey_norm(rgb);
        }
    }
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
