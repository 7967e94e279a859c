/* emotion.c -- see emotion.h.
 *
 * The resampling steps are TF.js's CPU kernels (vision/facecrop.h), so the
 * tensor we feed matches Human's (face-api's) to float rounding. The mirror
 * view rides in the same batch as the face itself: one ONNX run per call. */
#include "vision/emotion.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vision/facecrop.h"
#include "vision/onnx.h"

struct emotion_model {
    onnx_model *net;
    int kind;
    int flip;                   /* average with the mirrored face */
};

#define S EMOTION_INPUT_SIZE
#define FS EMOTION_FACEAPI_SIZE

/* face-api's softmax order (neutral, happy, sad, angry, fearful, disgusted,
 * surprised) -> scry_emotion_labels */
static const int faceapi_to_ours[SCRY_EMOTION_COUNT] = {6, 3, 4, 0, 2, 1, 5};

int emotion_load(const char *models_dir, emotion_model **out, scry_err *err) {
    return emotion_load_kind(models_dir, EMOTION_FACEAPI, out, err);
}

int emotion_load_kind(const char *models_dir, int kind, emotion_model **out, scry_err *err) {
    *out = NULL;
    if (kind != EMOTION_FACEAPI && kind != EMOTION_MINI_XCEPTION)
        return scry_fail(err, SCRY_EINVAL, "emotion: unknown model kind %d", kind);
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", models_dir,
             kind == EMOTION_FACEAPI ? EMOTION_FACEAPI_FILE : EMOTION_MODEL_FILE);
    emotion_model *m = calloc(1, sizeof *m);
    if (!m) return scry_fail(err, SCRY_ENOMEM, "out of memory");
    m->kind = kind;
    m->flip = kind == EMOTION_FACEAPI;
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

void emotion_set_flip(emotion_model *m, int on) { m->flip = on != 0; }

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

void emotion_prepare_crop_faceapi(const img_rgb *face, float *out) {
    /* toBatchTensor(112): the crop (square here; padToSquare pads a
     * non-square one) resized with TF's legacy resizeBilinear on 0..255 */
    const double ry = (double)face->h / FS, rx = (double)face->w / FS;
    for (int i = 0; i < FS; i++)
        for (int j = 0; j < FS; j++) facecrop_pixel(face, ry * i, rx * j, out + ((size_t)i * FS + j) * 3);
}

void emotion_prepare_box_faceapi(const img_rgb *img, float x, float y, float w, float h,
                                 float *out) {
    double sq[4];
    facecrop_square(x, y, w, h, EMOTION_FACEAPI_BOX_SCALE, sq);
    facecrop_sample(img, sq, FS, 1, FS, out);
}

/* Input values per face for the model's kind. */
static size_t input_size(const emotion_model *m) {
    return m->kind == EMOTION_FACEAPI ? (size_t)FS * FS * 3 : (size_t)S * S;
}

/* The mirror image of one prepared input (rows of w pixels of ch values). */
static void mirror(const float *in, float *out, int side, int ch) {
    for (int i = 0; i < side; i++)
        for (int j = 0; j < side; j++)
            for (int c = 0; c < ch; c++)
                out[((size_t)i * side + j) * ch + c] = in[((size_t)i * side + (side - 1 - j)) * ch + c];
}

/* Run n prepared inputs (with room for n more after them when m->flip) and
 * write n softmaxes in our label order. */
static int run(emotion_model *m, float *input, int n, float *scores, scry_err *err) {
    const int side = m->kind == EMOTION_FACEAPI ? FS : S, ch = m->kind == EMOTION_FACEAPI ? 3 : 1;
    const size_t one = input_size(m);
    int views = m->flip ? 2 : 1;
    if (m->flip)
        for (int i = 0; i < n; i++) mirror(input + i * one, input + (size_t)(n + i) * one, side, ch);
    onnx_tensor in = {.data = input, .rank = 4, .shape = {(int64_t)n * views, side, side, ch}};
    onnx_tensor out = {0};
    int rc = onnx_run(m->net, &in, 1, &out, 1, err);
    if (rc) return rc;
    if (onnx_tensor_count(&out) != (size_t)n * views * SCRY_EMOTION_COUNT) {
        onnx_tensor_free(&out);
        return scry_fail(err, SCRY_ECORRUPT, "emotion: unexpected output size");
    }
    for (int i = 0; i < n; i++)
        for (int k = 0; k < SCRY_EMOTION_COUNT; k++) {
            float v = out.data[i * SCRY_EMOTION_COUNT + k];
            if (views == 2) v = (v + out.data[(n + i) * SCRY_EMOTION_COUNT + k]) / 2;
            int to = m->kind == EMOTION_FACEAPI ? faceapi_to_ours[k] : k;
            scores[i * SCRY_EMOTION_COUNT + to] = v;
        }
    onnx_tensor_free(&out);
    return SCRY_OK;
}

static int valid(const img_rgb *img) { return img && img->px && img->w > 0 && img->h > 0; }

int emotion_classify(emotion_model *m, const img_rgb *img, float x, float y, float w, float h,
                     float scores[SCRY_EMOTION_COUNT], scry_err *err) {
    if (!valid(img)) return scry_fail(err, SCRY_EINVAL, "emotion: empty image");
    if (!(w > 0) || !(h > 0)) return scry_fail(err, SCRY_EINVAL, "emotion: empty face box");
    float *input = malloc(2 * input_size(m) * sizeof(float));
    if (!input) return scry_fail(err, SCRY_ENOMEM, "out of memory");
    if (m->kind == EMOTION_FACEAPI) emotion_prepare_box_faceapi(img, x, y, w, h, input);
    else emotion_prepare_box(img, x, y, w, h, input);
    int rc = run(m, input, 1, scores, err);
    free(input);
    return rc;
}

int emotion_classify_crops(emotion_model *m, const img_rgb *faces, int n, float *scores,
                           scry_err *err) {
    if (n < 1) return scry_fail(err, SCRY_EINVAL, "emotion: no faces");
    for (int i = 0; i < n; i++)
        if (!valid(&faces[i])) return scry_fail(err, SCRY_EINVAL, "emotion: empty face %d", i);
    const size_t one = input_size(m);
    float *input = malloc(2 * (size_t)n * one * sizeof(float));
    if (!input) return scry_fail(err, SCRY_ENOMEM, "out of memory");
    for (int i = 0; i < n; i++) {
        if (m->kind == EMOTION_FACEAPI) emotion_prepare_crop_faceapi(&faces[i], input + i * one);
        else emotion_prepare_crop(&faces[i], input + i * one);
    }
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
