/* faceres.c -- see faceres.h.
 *
 * The input is built in Human's three steps with TF.js's float32 rounding at
 * the same points (crop, /255, resize, x255), so that setup can compare it
 * with TF.js's tensor to ~1e-5 instead of to a loose tolerance. The crop is
 * the full 256x256 (the 224 resize reads non-integer positions), ~1 ms. */
#include "vision/faceres.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vision/facecrop.h"
#include "vision/onnx.h"

struct faceres_model {
    onnx_model *net;
};

#define S FACERES_INPUT_SIZE

int faceres_load(const char *models_dir, faceres_model **out, scry_err *err) {
    *out = NULL;
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", models_dir, FACERES_MODEL_FILE);
    faceres_model *m = calloc(1, sizeof *m);
    if (!m) return scry_fail(err, SCRY_ENOMEM, "out of memory");
    int rc = onnx_model_load(path, &m->net, err);
    if (rc) {
        free(m);
        return rc;
    }
    if (onnx_input_count(m->net) != 1 || onnx_output_count(m->net) != 3) {
        faceres_free(m);
        return scry_fail(err, SCRY_ECORRUPT,
                         "model file %s has an unexpected signature; run ./scripts/setup.sh "
                         "to prepare it again", path);
    }
    *out = m;
    return SCRY_OK;
}

void faceres_free(faceres_model *m) {
    if (!m) return;
    onnx_model_free(m->net);
    free(m);
}

/* Same as faceres_prepare_box with a caller-provided 256x256x3 scratch. */
static void prepare(const img_rgb *img, float x, float y, float w, float h, float *crop,
                    float *out) {
    double sq[4];
    facecrop_square(x, y, w, h, FACECROP_SCALE, sq);
    const int n = FACECROP_SIDE * FACECROP_SIDE * 3;
    facecrop_sample(img, sq, FACECROP_SIDE, 1, FACECROP_SIDE, crop);
    for (int i = 0; i < n; i++) crop[i] = crop[i] / 255.0f;      /* T5: div(crop, 255) */
    facecrop_resize(crop, FACECROP_SIDE, FACECROP_SIDE, 3, out, S, S);
    for (int i = 0; i < S * S * 3; i++) out[i] = out[i] * 255.0f;   /* bA: mul(resized, 255) */
}

void faceres_prepare_box(const img_rgb *img, float x, float y, float w, float h, float *out) {
    float *crop = malloc((size_t)FACECROP_SIDE * FACECROP_SIDE * 3 * sizeof(float));
    if (!crop) {
        memset(out, 0, (size_t)S * S * 3 * sizeof(float));
        return;
    }
    prepare(img, x, y, w, h, crop, out);
    free(crop);
}

void faceres_decode(float p_male, const float age_probs[FACERES_AGE_BINS],
                    const float features[FACERES_DIM], faceres_result *r) {
    r->gender = p_male <= 0.5f ? SCRY_GENDER_FEMALE : SCRY_GENDER_MALE;
    r->gender_score = p_male <= 0.5f ? 1.0f - p_male : p_male;
    int b = 0;
    for (int i = 1; i < FACERES_AGE_BINS; i++)
        if (age_probs[i] > age_probs[b]) b = i;   /* tf.argMax: first maximum */
    const float *k = age_probs;
    double age;
    if (b == 0) age = 10.0 * b + 100.0 * k[b + 1];   /* JS: undefined > x is false */
    else if (b == FACERES_AGE_BINS - 1 || k[b - 1] > k[b + 1]) age = 10.0 * b - 100.0 * k[b - 1];
    else age = 10.0 * b + 100.0 * k[b + 1];
    r->age = (float)(floor(age + 0.5) / 10.0);   /* JS Math.round (may be < 0: kept) */
    double norm = 0;
    for (int i = 0; i < FACERES_DIM; i++) norm += (double)features[i] * features[i];
    norm = norm > 0 ? 1.0 / sqrt(norm) : 0;
    for (int i = 0; i < FACERES_DIM; i++) r->descriptor[i] = (float)(features[i] * norm);
}

int faceres_describe(faceres_model *m, const img_rgb *img, float x, float y, float w, float h,
                     faceres_result *out, scry_err *err) {
    if (!img || !img->px || img->w <= 0 || img->h <= 0)
        return scry_fail(err, SCRY_EINVAL, "faceres: empty image");
    if (!(w > 0) || !(h > 0)) return scry_fail(err, SCRY_EINVAL, "faceres: empty face box");
    float *buf = malloc(((size_t)FACECROP_SIDE * FACECROP_SIDE + (size_t)S * S) * 3 *
                        sizeof(float));
    if (!buf) return scry_fail(err, SCRY_ENOMEM, "out of memory");
    float *input = buf + (size_t)FACECROP_SIDE * FACECROP_SIDE * 3;
    prepare(img, x, y, w, h, buf, input);
    onnx_tensor in = {.data = input, .rank = 4, .shape = {1, S, S, 3}};
    onnx_tensor res[3] = {{0}};
    int rc = onnx_run(m->net, &in, 1, res, 3, err);
    free(buf);
    if (rc) return rc;
    if (onnx_tensor_count(&res[0]) != 1 || onnx_tensor_count(&res[1]) != FACERES_AGE_BINS ||
        onnx_tensor_count(&res[2]) != FACERES_DIM) {
        rc = scry_fail(err, SCRY_ECORRUPT, "faceres: unexpected output sizes");
    } else {
        faceres_decode(res[0].data[0], res[1].data, res[2].data, out);
        if (!isfinite(out->age) || !isfinite(out->gender_score))
            rc = scry_fail(err, SCRY_ECORRUPT, "faceres: model returned NaN");
    }
    for (int i = 0; i < 3; i++) onnx_tensor_free(&res[i]);
    return rc;
}

int faceres_person_word(const faceres_result *r, float face_px) {
    if (!(face_px >= FACERES_MIN_FACE_PX)) return -1;
    if (r->age < FACERES_BABY_MAX) return SCRY_PERSON_BABY;
    if (r->age < FACERES_CHILD_MAX) {
        if (r->gender_score < FACERES_CHILD_GENDER_MIN) return SCRY_PERSON_CHILD;
        return r->gender == SCRY_GENDER_MALE ? SCRY_PERSON_BOY : SCRY_PERSON_GIRL;
    }
    if (r->gender_score < FACERES_ADULT_GENDER_MIN) return -1;
    return r->gender == SCRY_GENDER_MALE ? SCRY_PERSON_MAN : SCRY_PERSON_WOMAN;
}
