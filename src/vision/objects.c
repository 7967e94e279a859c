/* objects.c -- see objects.h.
 *
 * Pre-processing mirrors TF.js's resizeBilinear (CPU backend) arithmetic in
 * double precision, so our 512x512 input matches what Human feeds the model
 * to within float rounding (checked at setup by tools/model_check.c).
 *
 * The [100,6] detections tensor is already peak-picked by the graph (3x3
 * max-pool on the heatmap, top-100), so NMS only has to remove the few
 * duplicates CenterNet makes for one object at neighbouring peaks. Sorting
 * 100 rows and an O(n^2) NMS over them is negligible next to inference. */
#include "vision/objects.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/labels.h"
#include "core/log.h"
#include "vision/onnx.h"

struct objects_model {
    onnx_model *net;
};

void objects_default_params(objects_params *p) {
    p->min_score = 0.25f;
    p->nms_iou = 0.5f;
    p->max_boxes = 30;
    p->class_agnostic = 0;
    p->dup_iou = 0.8f;
}

int objects_load(const char *models_dir, objects_model **out, scry_err *err) {
    *out = NULL;
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", models_dir, OBJECTS_MODEL_FILE);
    objects_model *m = calloc(1, sizeof *m);
    if (!m) return scry_fail(err, SCRY_ENOMEM, "out of memory");
    int rc = onnx_model_load(path, &m->net, err);
    if (rc) {
        free(m);
        return rc;
    }
    if (onnx_input_count(m->net) != 1 || onnx_output_count(m->net) < 1) {
        objects_free(m);
        return scry_fail(err, SCRY_ECORRUPT,
                         "model file %s has an unexpected signature; run ./scripts/setup.sh "
                         "to prepare it again", path);
    }
    *out = m;
    return SCRY_OK;
}

void objects_free(objects_model *m) {
    if (!m) return;
    onnx_model_free(m->net);
    free(m);
}

/* Horizontal pass of one source row into S*3 floats: TF.js interpolates
 * along x within each of the two rows first, then along y. */
static void resize_row(const uint8_t *row, const int *x0, const int *x1, const float *wx, int S,
                       float *dst) {
    for (int ox = 0; ox < S; ox++) {
        const uint8_t *a = row + x0[ox], *b = row + x1[ox];
        float w = wx[ox];
        for (int c = 0; c < 3; c++) dst[ox * 3 + c] = (float)a[c] + ((float)b[c] - (float)a[c]) * w;
    }
}

void objects_prepare_input(const img_rgb *img, float *out) {
    /* Separable, with the per-column taps computed once and each source
     * row's horizontal pass computed once even when the vertical scale
     * reuses it (upscaling): ~10x cheaper than the direct per-pixel form
     * in double precision, and within float rounding of it (the setup
     * check compares with TF.js at 1e-3 of a grey level). */
    enum { S = OBJECTS_INPUT_SIZE };
    const double ry = (double)img->h / S, rx = (double)img->w / S;
    const size_t stride = (size_t)img->w * 3;
    int x0[S], x1[S];
    float wx[S];
    for (int ox = 0; ox < S; ox++) {
        double fx = rx * ox;
        int a = (int)floor(fx), b = (int)ceil(fx) < img->w - 1 ? (int)ceil(fx) : img->w - 1;
        x0[ox] = a * 3, x1[ox] = b * 3, wx[ox] = (float)(fx - a);
    }
    /* The horizontal passes of the two source rows in use (12 KB). */
    float buf[2][S * 3];
    float *rows[2] = {buf[0], buf[1]};
    int have[2] = {-1, -1};
    for (int oy = 0; oy < S; oy++) {
        double fy = ry * oy;
        int y0 = (int)floor(fy);
        int y1 = (int)ceil(fy) < img->h - 1 ? (int)ceil(fy) : img->h - 1;
        float wy = (float)(fy - y0);
        /* Reuse the row computed for the previous output row if possible. */
        if (have[0] != y0) {
            if (have[1] == y0) {
                float *t = rows[0];
                rows[0] = rows[1], rows[1] = t;
                have[0] = y0, have[1] = -1;
            } else {
                resize_row(img->px + (size_t)y0 * stride, x0, x1, wx, S, rows[0]);
                have[0] = y0;
            }
        }
        if (have[1] != y1) {
            resize_row(img->px + (size_t)y1 * stride, x0, x1, wx, S, rows[1]);
            have[1] = y1;
        }
        float *o = out + (size_t)oy * S * 3;
        const float *t = rows[0], *b = rows[1];
        for (int i = 0; i < S * 3; i++) o[i] = t[i] + (b[i] - t[i]) * wy;
    }
}

static int by_score_desc(const void *a, const void *b) {
    float sa = ((const det_box *)a)->score, sb = ((const det_box *)b)->score;
    return (sa < sb) - (sa > sb);
}

static float iou(const det_box *a, const det_box *b) {
    float ix = fminf(a->x + a->w, b->x + b->w) - fmaxf(a->x, b->x);
    float iy = fminf(a->y + a->h, b->y + b->h) - fmaxf(a->y, b->y);
    if (ix <= 0 || iy <= 0) return 0;
    float inter = ix * iy, uni = a->w * a->h + b->w * b->h - inter;
    return uni > 0 ? inter / uni : 0;
}

int objects_decode(const float *det, int rows, int img_w, int img_h, const objects_params *p,
                   det_box **out, int *n, scry_err *err) {
    *out = NULL;
    *n = 0;
    det_box *cand = malloc((size_t)(rows > 0 ? rows : 1) * sizeof *cand);
    if (!cand) return scry_fail(err, SCRY_ENOMEM, "out of memory");
    const float sx = (float)img_w / OBJECTS_INPUT_SIZE, sy = (float)img_h / OBJECTS_INPUT_SIZE;
    int nc = 0;
    for (int i = 0; i < rows; i++) {
        const float *r = det + (size_t)i * 6;
        float score = r[4], cls = r[5];
        if (!(score >= p->min_score) || !(cls >= 0) || cls >= SCRY_COCO_COUNT) continue;
        float x1 = fmaxf(0, r[0] * sx), y1 = fmaxf(0, r[1] * sy);
        float x2 = fminf((float)img_w, r[2] * sx), y2 = fminf((float)img_h, r[3] * sy);
        if (!(x2 > x1) || !(y2 > y1)) continue;
        cand[nc++] = (det_box){.label = (int)cls, .score = score, .x = x1, .y = y1,
                               .w = x2 - x1, .h = y2 - y1};
    }
    qsort(cand, (size_t)nc, sizeof *cand, by_score_desc);
    int kept = 0;
    for (int i = 0; i < nc && kept < p->max_boxes; i++) {
        int suppressed = 0;
        for (int j = 0; j < kept && !suppressed; j++)
            if (p->class_agnostic || cand[j].label == cand[i].label)
                suppressed = iou(&cand[j], &cand[i]) > p->nms_iou;
            else
                suppressed = iou(&cand[j], &cand[i]) > p->dup_iou;
        if (!suppressed) cand[kept++] = cand[i];
    }
    if (kept == 0) {
        free(cand);
        return SCRY_OK;
    }
    *out = cand;
    *n = kept;
    return SCRY_OK;
}

int objects_has_features(const objects_model *m) {
    return m && onnx_output_count(m->net) >= OBJECTS_FEAT_OUTPUTS;
}

/* Channels-last tensor [1, H, W, C] with C == want (0 = any). */
static int nhwc(const onnx_tensor *t, int64_t want) {
    return t->rank == 4 && t->shape[0] == 1 && t->shape[1] > 0 && t->shape[2] > 0 &&
           (want == 0 || t->shape[3] == want);
}

/* Mean of a [1,1,1,C] (or any [1,H,W,C]) tensor over its positions. */
static void pool_mean(const onnx_tensor *t, float *out, int c) {
    size_t np = (size_t)(t->shape[1] * t->shape[2]);
    for (int k = 0; k < c; k++) out[k] = 0;
    for (size_t i = 0; i < np; i++)
        for (int k = 0; k < c; k++) out[k] += t->data[i * (size_t)c + k];
    for (int k = 0; k < c; k++) out[k] /= (float)np;
}

/* The pooled features from the model's outputs (see objects.h). */
static int fill_features(const onnx_tensor *o, objects_features *f, scry_err *err) {
    const onnx_tensor *kp = &o[1], *bb = &o[3], *se14 = &o[4], *head = &o[5], *se11 = &o[6];
    if (!nhwc(kp, 80) || !nhwc(bb, OBJECTS_FEAT_BACKBONE) || !nhwc(se14, OBJECTS_FEAT_SE14) ||
        !nhwc(head, OBJECTS_FEAT_HEAD) || !nhwc(se11, OBJECTS_FEAT_SE11) || bb->shape[1] < 3 ||
        bb->shape[2] < 3)
        return scry_fail(err, SCRY_ECORRUPT,
                         "objects: unexpected feature outputs; run ./scripts/setup.sh");
    enum { C = OBJECTS_FEAT_BACKBONE };
    const int H = (int)bb->shape[1], W = (int)bb->shape[2];
    memset(f->backbone_mean, 0, sizeof f->backbone_mean);
    memset(f->backbone_grid, 0, sizeof f->backbone_grid);
    for (int k = 0; k < C; k++) f->backbone_max[k] = -INFINITY;
    int cells[9] = {0};
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
            const float *v = bb->data + ((size_t)y * W + x) * C;
            int g = (y * 3 / H) * 3 + x * 3 / W;
            cells[g]++;
            float *gm = f->backbone_grid[g];
            for (int k = 0; k < C; k++) {
                f->backbone_mean[k] += v[k];
                gm[k] += v[k];
                if (v[k] > f->backbone_max[k]) f->backbone_max[k] = v[k];
            }
        }
    for (int k = 0; k < C; k++) f->backbone_mean[k] /= (float)(H * W);
    for (int g = 0; g < 9; g++)
        for (int k = 0; k < C; k++) f->backbone_grid[g][k] /= (float)cells[g];
    pool_mean(se14, f->se14, OBJECTS_FEAT_SE14);
    pool_mean(se11, f->se11, OBJECTS_FEAT_SE11);
    pool_mean(head, f->head, OBJECTS_FEAT_HEAD);
    size_t np = (size_t)(kp->shape[1] * kp->shape[2]);
    for (int k = 0; k < 80; k++) f->kp_max[k] = 0, f->kp_mean[k] = 0;
    for (size_t i = 0; i < np; i++)
        for (int k = 0; k < 80; k++) {
            float v = kp->data[i * 80 + k];
            f->kp_mean[k] += v;
            if (v > f->kp_max[k]) f->kp_max[k] = v;
        }
    for (int k = 0; k < 80; k++) f->kp_mean[k] /= (float)np;
    return SCRY_OK;
}

int objects_detect_features(objects_model *m, const img_rgb *img, const objects_params *p,
                            det_box **out, int *n, objects_features *feats, scry_err *err) {
    *out = NULL;
    *n = 0;
    if (!img || !img->px || img->w < 1 || img->h < 1)
        return scry_fail(err, SCRY_EINVAL, "objects: empty image");
    if (feats && !objects_has_features(m))
        return scry_fail(err, SCRY_EUNSUPPORTED,
                         "objects: %s does not expose the feature outputs; run ./scripts/setup.sh",
                         OBJECTS_MODEL_FILE);
    const size_t count = (size_t)OBJECTS_INPUT_SIZE * OBJECTS_INPUT_SIZE * 3;
    onnx_tensor in = {.rank = 4, .shape = {1, OBJECTS_INPUT_SIZE, OBJECTS_INPUT_SIZE, 3}};
    in.data = malloc(count * sizeof(float));
    if (!in.data) return scry_fail(err, SCRY_ENOMEM, "out of memory");
    objects_prepare_input(img, in.data);
    onnx_tensor o[OBJECTS_FEAT_OUTPUTS] = {{0}};
    int nout = feats ? OBJECTS_FEAT_OUTPUTS : 1;
    int rc = onnx_run(m->net, &in, 1, o, nout, err);
    free(in.data);
    if (rc) return rc;
    if (o[0].rank != 3 || o[0].shape[2] != 6)
        rc = scry_fail(err, SCRY_ECORRUPT, "objects: unexpected detections shape");
    if (rc == SCRY_OK && feats) rc = fill_features(o, feats, err);
    if (rc == SCRY_OK) rc = objects_decode(o[0].data, (int)o[0].shape[1], img->w, img->h, p, out, n, err);
    for (int i = 0; i < nout; i++) onnx_tensor_free(&o[i]);
    return rc;
}

int objects_detect_with(objects_model *m, const img_rgb *img, const objects_params *p,
                        det_box **out, int *n, scry_err *err) {
    return objects_detect_features(m, img, p, out, n, NULL, err);
}

int objects_detect(objects_model *m, const img_rgb *img, det_box **out, int *n, scry_err *err) {
    objects_params p;
    objects_default_params(&p);
    return objects_detect_with(m, img, &p, out, n, err);
}
