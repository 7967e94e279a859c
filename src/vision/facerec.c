/* facerec.c -- see facerec.h.
 *
 * Alignment is a least-squares similarity (scale, rotation, shift: 4
 * unknowns) from BlazeFace's right eye, left eye, nose tip and mouth centre
 * to the same points of the 112x112 template ArcFace-style models are
 * trained on (insightface's five points, the two mouth corners averaged into
 * one centre, as BlazeFace gives). Solved in closed form as the map from
 * template to image, which is what warp_to_tensor samples with (bilinear,
 * supersampled when it shrinks; black outside the image, as Human's crop).
 *
 * The mirror view, when a variant asks for it, runs in the same call as a
 * batch of two. */
#include "vision/facerec.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vision/facecrop.h"
#include "vision/onnx.h"
#include "vision/warp.h"

#define PM1_MEAN 127.5f
#define PM1_SCALE (1.0f / 128.0f)

/* Chosen by bench/people on LFW View-1 (docs/people.md). */
const char *const FACEREC_DEFAULT = "human-faceres-3.3.6";

/* name, file, side, output, dim, crop, box scale, mean, scale, bgr, flip */
#define V(name, file, side, out, dim, crop, bs, mean, scale, bgr, flip) \
    {name, file, side, out, dim, crop, bs, mean, scale, bgr, flip}
const facerec_variant facerec_variants[] = {
    /* Human's faceres as Human crops it (the age/gender model's features) */
    V("human-faceres-3.3.6", "faceres.onnx", 224, 2, 1024, FACEREC_CROP_HUMAN, 1.4f, 0, 1, 0, 0),
    V("faceres-flip", "faceres.onnx", 224, 2, 1024, FACEREC_CROP_HUMAN, 1.4f, 0, 1, 0, 1),
    V("faceres-box1.2", "faceres.onnx", 224, 2, 1024, FACEREC_CROP_HUMAN, 1.2f, 0, 1, 0, 0),
    V("faceres-box1.6", "faceres.onnx", 224, 2, 1024, FACEREC_CROP_HUMAN, 1.6f, 0, 1, 0, 0),
    V("faceres-box1.8", "faceres.onnx", 224, 2, 1024, FACEREC_CROP_HUMAN, 1.8f, 0, 1, 0, 0),
    V("faceres-aligned", "faceres.onnx", 224, 2, 1024, FACEREC_CROP_ALIGN, 0, 0, 1, 0, 0),
    V("faceres-upright", "faceres.onnx", 224, 2, 1024, FACEREC_CROP_UPRIGHT, 0, 0, 1, 0, 0),
    V("faceres-deep", "faceres_deep.onnx", 224, 2, 1024, FACEREC_CROP_HUMAN, 1.4f, 0, 1, 0, 0),
    V("faceres-deep-aligned", "faceres_deep.onnx", 224, 2, 1024, FACEREC_CROP_ALIGN, 0, 0, 1, 0, 0),
    /* MobileFaceNet: Human feeds its 0..1 face tensor; such networks are
     * usually trained on (x - 127.5) / 128 of aligned faces */
    V("mobilefacenet-human", "mobilefacenet.onnx", 112, 0, 192, FACEREC_CROP_HUMAN, 1.4f, 0, 1.0f / 255, 0, 0),
    V("mobilefacenet-human-pm1", "mobilefacenet.onnx", 112, 0, 192, FACEREC_CROP_HUMAN, 1.4f, PM1_MEAN, PM1_SCALE, 0, 0),
    V("mobilefacenet-aligned", "mobilefacenet.onnx", 112, 0, 192, FACEREC_CROP_ALIGN, 0, 0, 1.0f / 255, 0, 0),
    V("mobilefacenet-aligned-pm1", "mobilefacenet.onnx", 112, 0, 192, FACEREC_CROP_ALIGN, 0, PM1_MEAN, PM1_SCALE, 0, 0),
    V("mobilefacenet-aligned-255", "mobilefacenet.onnx", 112, 0, 192, FACEREC_CROP_ALIGN, 0, 0, 1, 0, 0),
    V("mobilefacenet-aligned-255-bgr", "mobilefacenet.onnx", 112, 0, 192, FACEREC_CROP_ALIGN, 0, 0, 1, 1, 0),
    /* MobileFace normalises inside the graph ((x - 127.5) * 0.0078125) */
    V("mobileface-human", "mobileface.onnx", 112, 0, 256, FACEREC_CROP_HUMAN, 1.4f, 0, 1, 0, 0),
    V("mobileface-aligned", "mobileface.onnx", 112, 0, 256, FACEREC_CROP_ALIGN, 0, 0, 1, 0, 0),
    V("mobileface-upright", "mobileface.onnx", 112, 0, 256, FACEREC_CROP_UPRIGHT, 0, 0, 1, 0, 0),
    V("mobileface-aligned-bgr", "mobileface.onnx", 112, 0, 256, FACEREC_CROP_ALIGN, 0, 0, 1, 1, 0),
    V("mobileface-aligned-flip", "mobileface.onnx", 112, 0, 256, FACEREC_CROP_ALIGN, 0, 0, 1, 0, 1),
    {0},
};
#undef V

const facerec_variant *facerec_find(const char *name) {
    for (const facerec_variant *v = facerec_variants; name && v->name; v++)
        if (!strcmp(v->name, name)) return v;
    return NULL;
}

struct facerec_model {
    onnx_model *net;
    facerec_variant v;
};

int facerec_load(const char *models_dir, facerec_model **out, scry_err *err) {
    return facerec_load_variant(models_dir, facerec_find(FACEREC_DEFAULT), out, err);
}

int facerec_load_variant(const char *models_dir, const facerec_variant *v, facerec_model **out,
                         scry_err *err) {
    *out = NULL;
    if (!v || !v->name) return scry_fail(err, SCRY_EINVAL, "facerec: no such variant");
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", models_dir, v->file);
    facerec_model *m = calloc(1, sizeof *m);
    if (!m) return scry_fail(err, SCRY_ENOMEM, "out of memory");
    m->v = *v;
    int rc = onnx_model_load(path, &m->net, err);
    if (rc) {
        free(m);
        return rc;
    }
    if (onnx_input_count(m->net) != 1 || onnx_output_count(m->net) <= v->output) {
        facerec_free(m);
        return scry_fail(err, SCRY_ECORRUPT,
                         "model file %s has an unexpected signature; run ./scripts/setup.sh "
                         "to prepare it again", path);
    }
    *out = m;
    return SCRY_OK;
}

void facerec_free(facerec_model *m) {
    if (!m) return;
    onnx_model_free(m->net);
    free(m);
}

const facerec_variant *facerec_info(const facerec_model *m) { return &m->v; }

/* ArcFace's 112x112 template (insightface), mouth corners averaged. */
static const float template112[4][2] = {
    {38.2946f, 51.6963f}, {73.5318f, 51.5014f}, {56.0252f, 71.7366f},
    {(41.5493f + 70.7299f) / 2, (92.3655f + 92.2041f) / 2},
};

/* The map from the template (side S) to the image that best puts the
 * template's points on the face's: src = [a -b; b a] dst + t. upright:
 * no rotation (b = 0, a from the same fit's scale). */
static warp_affine align_map(const face_landmarks *lm, int S, int upright) {
    float k = (float)S / 112.0f;
    double dx[4], dy[4], sx[4], sy[4], mdx = 0, mdy = 0, msx = 0, msy = 0;
    for (int i = 0; i < 4; i++) {
        /* template points are pixel indices (OpenCV); ours are continuous */
        dx[i] = (template112[i][0] + 0.5) * k, dy[i] = (template112[i][1] + 0.5) * k;
        sx[i] = lm->pt[i][0], sy[i] = lm->pt[i][1];
        mdx += dx[i] / 4, mdy += dy[i] / 4, msx += sx[i] / 4, msy += sy[i] / 4;
    }
    double num_a = 0, num_b = 0, den = 0;
    for (int i = 0; i < 4; i++) {
        double u = dx[i] - mdx, v = dy[i] - mdy, x = sx[i] - msx, y = sy[i] - msy;
        num_a += u * x + v * y;
        num_b += u * y - v * x;
        den += u * u + v * v;
    }
    double a = den > 0 ? num_a / den : 1, b = den > 0 ? num_b / den : 0;
    if (upright) {
        a = sqrt(a * a + b * b);
        b = 0;
    }
    warp_affine w = {(float)a, (float)-b, (float)(msx - a * mdx + b * mdy),
                     (float)b, (float)a, (float)(msy - b * mdx - a * mdy)};
    return w;
}

void facerec_prepare(const facerec_variant *v, const img_rgb *img, const face_box *b,
                     const face_landmarks *lm, float *out) {
    const int S = v->size, n = S * S * 3;
    if (v->crop == FACEREC_CROP_HUMAN || !lm) {
        /* Human: crop 256x256 (0..255), /255, legacy resize, then our scaling */
        float *crop = malloc((size_t)FACECROP_SIDE * FACECROP_SIDE * 3 * sizeof *crop);
        if (!crop) {
            memset(out, 0, (size_t)n * sizeof *out);
            return;
        }
        double sq[4];
        facecrop_square(b->x, b->y, b->w, b->h, v->box_scale, sq);
        facecrop_sample(img, sq, FACECROP_SIDE, 1, FACECROP_SIDE, crop);
        for (int i = 0; i < FACECROP_SIDE * FACECROP_SIDE * 3; i++) crop[i] = crop[i] / 255.0f;
        facecrop_resize(crop, FACECROP_SIDE, FACECROP_SIDE, 3, out, S, S);
        free(crop);
        for (int i = 0; i < n; i++) out[i] = (out[i] * 255.0f - v->mean) * v->scale;
        if (v->bgr)
            for (int i = 0; i < n; i += 3) {
                float t = out[i];
                out[i] = out[i + 2];
                out[i + 2] = t;
            }
        return;
    }
    warp_affine map = align_map(lm, S, v->crop == FACEREC_CROP_UPRIGHT);
    /* (px/255 - mean/255) / (1/(255*scale)) == (px - mean) * scale */
    float m = v->mean / 255.0f, sd = 1.0f / (255.0f * v->scale);
    warp_format fmt = {{m, m, m}, {sd, sd, sd}, v->bgr, 0, {0, 0, 0}};
    warp_to_tensor(img, &map, S, S, &fmt, out);
}

static void normalise(float *v, int n) {
    double s = 0;
    for (int i = 0; i < n; i++) s += (double)v[i] * v[i];
    s = s > 0 ? 1.0 / sqrt(s) : 0;
    for (int i = 0; i < n; i++) v[i] = (float)(v[i] * s);
}

int facerec_describe(facerec_model *m, const img_rgb *img, const face_box *b,
                     const face_landmarks *lm, float *out, scry_err *err) {
    if (!img || !img->px || img->w <= 0 || img->h <= 0)
        return scry_fail(err, SCRY_EINVAL, "facerec: empty image");
    if (!b || !(b->w > 0) || !(b->h > 0)) return scry_fail(err, SCRY_EINVAL, "facerec: empty face box");
    const facerec_variant *v = &m->v;
    const int S = v->size, views = v->flip ? 2 : 1;
    const size_t n = (size_t)S * S * 3;
    float *input = malloc(n * (size_t)views * sizeof *input);
    if (!input) return scry_fail(err, SCRY_ENOMEM, "out of memory");
    facerec_prepare(v, img, b, lm, input);
    if (v->flip) {
        float *mir = input + n;
        for (int y = 0; y < S; y++)
            for (int x = 0; x < S; x++)
                memcpy(mir + ((size_t)y * S + x) * 3, input + ((size_t)y * S + (S - 1 - x)) * 3,
                       3 * sizeof *input);
    }
    onnx_tensor in = {.data = input, .rank = 4, .shape = {views, S, S, 3}};
    onnx_tensor res[4] = {{0}};
    int nout = v->output + 1;
    int rc = onnx_run(m->net, &in, 1, res, nout, err);
    free(input);
    if (rc) return rc;
    const onnx_tensor *d = &res[v->output];
    if (onnx_tensor_count(d) != (size_t)v->dim * views) {
        rc = scry_fail(err, SCRY_ECORRUPT, "facerec %s: descriptor has %zu values, expected %d",
                       v->name, onnx_tensor_count(d), v->dim * views);
    } else {
        /* each view unit length, then their mean, unit length */
        float *tmp = d->data;
        for (int k = 0; k < views; k++) normalise(tmp + (size_t)k * v->dim, v->dim);
        for (int i = 0; i < v->dim; i++) out[i] = views == 2 ? tmp[i] + tmp[v->dim + i] : tmp[i];
        normalise(out, v->dim);
        for (int i = 0; i < v->dim && rc == SCRY_OK; i++)
            if (!isfinite(out[i])) rc = scry_fail(err, SCRY_ECORRUPT, "facerec: model returned NaN");
    }
    for (int i = 0; i < nout; i++) onnx_tensor_free(&res[i]);
    return rc;
}

float facerec_similarity(const float *a, const float *b, int dim) {
    double s = 0;
    for (int i = 0; i < dim; i++) s += (double)a[i] * b[i];
    return (float)s;
}
