/* objects.c -- bench driver: COCO-80 detection quality and speed.
 *
 * Against $SHARED/data/coco/instances.json (159 COCO val2017 photos): runs
 * the detector once per image at a low threshold, keeping every candidate
 * (per-class NMS), then reports
 *   - mAP@0.5 (all-point interpolated AP per class, mean over the classes
 *     present in the ground truth; iscrowd boxes neither count as misses nor
 *     make matching detections false positives);
 *   - precision / recall / F1 over a sweep of score thresholds -- the default
 *     threshold in objects.c is the F1-best one measured here;
 *   - mean ms per image for pre-processing and for the whole detect call.
 * COCO category ids (1..90 with gaps) map to our 0..79 index by name.
 * Last line: "objects: map50=... precision=... recall=... threshold=..."
 *
 * usage: vq-objects MODELS_DIR SHARED_DIR */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../tools/rgbload.h"
#include "core/labels.h"
#include "core/log.h"
#include "core/util.h"
#include "vision/objects.h"

typedef struct gt { int image, label, crowd, used; float x, y, w, h; } gt;
typedef struct det { int image, label; float score; det_box b; int tp, ignore; } det;

static float iou(float ax, float ay, float aw, float ah, float bx, float by, float bw, float bh) {
    float ix = fminf(ax + aw, bx + bw) - fmaxf(ax, bx), iy = fminf(ay + ah, by + bh) - fmaxf(ay, by);
    if (ix <= 0 || iy <= 0) return 0;
    return ix * iy / (aw * ah + bw * bh - ix * iy);
}

static int by_score(const void *a, const void *b) {
    float sa = ((const det *)a)->score, sb = ((const det *)b)->score;
    return (sa < sb) - (sa > sb);
}

/* Greedy COCO-style matching at IoU 0.5 of score-sorted detections. */
static void match(det *d, int nd, gt *g, int ng) {
    for (int i = 0; i < ng; i++) g[i].used = 0;
    for (int i = 0; i < nd; i++) {
        d[i].tp = 0;
        d[i].ignore = 0;
        float best = 0.5f;
        int bj = -1;
        for (int j = 0; j < ng; j++) {
            if (g[j].image != d[i].image || g[j].label != d[i].label || g[j].used || g[j].crowd)
                continue;
            float o = iou(d[i].b.x, d[i].b.y, d[i].b.w, d[i].b.h, g[j].x, g[j].y, g[j].w, g[j].h);
            if (o >= best) { best = o; bj = j; }
        }
        if (bj >= 0) {
            g[bj].used = 1;
            d[i].tp = 1;
            continue;
        }
        for (int j = 0; j < ng; j++)   /* on a crowd region: neither TP nor FP */
            if (g[j].image == d[i].image && g[j].label == d[i].label && g[j].crowd &&
                iou(d[i].b.x, d[i].b.y, d[i].b.w, d[i].b.h, g[j].x, g[j].y, g[j].w, g[j].h) >= 0.5f)
                d[i].ignore = 1;
    }
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: vq-objects MODELS_DIR SHARED_DIR\n");
        return 2;
    }
    log_set_level(LOG_WARN);
    char path[4096];
    snprintf(path, sizeof path, "%s/data/coco/instances.json", argv[2]);
    json_error_t jerr;
    json_t *root = json_load_file(path, 0, &jerr);
    if (!root) {
        fprintf(stderr, "vq-objects: %s: %s\n", path, jerr.text);
        return 2;
    }
    int catmap[100];
    for (int i = 0; i < 100; i++) catmap[i] = -1;
    size_t k;
    json_t *v;
    json_array_foreach(json_object_get(root, "categories"), k, v) {
        int id = (int)json_integer_value(json_object_get(v, "id"));
        const char *name = json_string_value(json_object_get(v, "name"));
        int idx = scry_coco_index(name);
        if (id < 0 || id >= 100 || idx < 0) {
            fprintf(stderr, "vq-objects: COCO category %d '%s' has no label\n", id, name);
            return 2;
        }
        catmap[id] = idx;
    }
    json_t *images = json_object_get(root, "images");
    int nimg = (int)json_array_size(images);
    long long *ids = calloc((size_t)nimg, sizeof *ids);
    json_array_foreach(images, k, v) ids[k] = json_integer_value(json_object_get(v, "id"));
    json_t *anns = json_object_get(root, "annotations");
    int ng = 0;
    gt *g = calloc(json_array_size(anns) + 1, sizeof *g);
    json_array_foreach(anns, k, v) {
        long long iid = json_integer_value(json_object_get(v, "image_id"));
        int im = -1;
        for (int i = 0; i < nimg; i++)
            if (ids[i] == iid) im = i;
        int cat = (int)json_integer_value(json_object_get(v, "category_id"));
        json_t *bb = json_object_get(v, "bbox");
        if (im < 0 || cat < 0 || cat >= 100 || catmap[cat] < 0) continue;
        g[ng++] = (gt){.image = im, .label = catmap[cat],
                       .crowd = (int)json_integer_value(json_object_get(v, "iscrowd")),
                       .x = (float)json_number_value(json_array_get(bb, 0)),
                       .y = (float)json_number_value(json_array_get(bb, 1)),
                       .w = (float)json_number_value(json_array_get(bb, 2)),
                       .h = (float)json_number_value(json_array_get(bb, 3))};
    }

    scry_err err = {0};
    objects_model *m = NULL;
    if (objects_load(argv[1], &m, &err)) {
        fprintf(stderr, "vq-objects: %s\n", err.msg);
        return 2;
    }
    objects_params p;
    objects_default_params(&p);
    const float chosen = p.min_score;
    p.min_score = 0.05f;
    p.max_boxes = OBJECTS_CANDIDATES;
    int cap = 1024, nd = 0;
    det *d = malloc((size_t)cap * sizeof *d);
    double t_pre = 0, t_all = 0;
    float *buf = malloc((size_t)OBJECTS_INPUT_SIZE * OBJECTS_INPUT_SIZE * 3 * sizeof(float));
    json_array_foreach(images, k, v) {
        snprintf(path, sizeof path, "%s/data/coco/images/%s", argv[2],
                 json_string_value(json_object_get(v, "file_name")));
        img_rgb img;
        if (rgbload(path, &img.w, &img.h, &img.px)) {
            fprintf(stderr, "vq-objects: cannot decode %s\n", path);
            return 2;
        }
        double t0 = scry_mono_s();
        objects_prepare_input(&img, buf);
        double t1 = scry_mono_s();
        det_box *boxes;
        int n;
        if (objects_detect_with(m, &img, &p, &boxes, &n, &err)) {
            fprintf(stderr, "vq-objects: %s\n", err.msg);
            return 2;
        }
        double t2 = scry_mono_s();
        t_pre += t1 - t0;
        t_all += t2 - t1;
        for (int i = 0; i < n; i++) {
            if (nd == cap) d = realloc(d, (size_t)(cap *= 2) * sizeof *d);
            d[nd++] = (det){.image = (int)k, .label = boxes[i].label, .score = boxes[i].score,
                            .b = boxes[i]};
        }
        free(boxes);
        free(img.px);
    }
    free(buf);
    qsort(d, (size_t)nd, sizeof *d, by_score);
    match(d, nd, g, ng);

    /* AP per class, all-point interpolation */
    double ap_sum = 0;
    int ncls = 0;
    for (int c = 0; c < SCRY_COCO_COUNT; c++) {
        int npos = 0;
        for (int j = 0; j < ng; j++) npos += g[j].label == c && !g[j].crowd;
        if (!npos) continue;
        int n = 0, tp = 0;
        double *prec = malloc((size_t)(nd + 1) * sizeof *prec), *rec = malloc((size_t)(nd + 1) * sizeof *rec);
        for (int i = 0; i < nd; i++) {
            if (d[i].label != c || d[i].ignore) continue;
            tp += d[i].tp;
            n++;
            prec[n - 1] = (double)tp / n;
            rec[n - 1] = (double)tp / npos;
        }
        double ap = 0, prev_r = 0;
        for (int i = 0; i < n; i++) {
            double pmax = 0;
            for (int j = i; j < n; j++) pmax = fmax(pmax, prec[j]);
            ap += (rec[i] - prev_r) * pmax;
            prev_r = rec[i];
        }
        free(prec);
        free(rec);
        ap_sum += ap;
        ncls++;
    }
    double map50 = ncls ? ap_sum / ncls : 0;
    int npos_all = 0;
    for (int j = 0; j < ng; j++) npos_all += !g[j].crowd;
    printf("objects: %d images, %d ground-truth boxes, %d classes present, %d candidates >= 0.05\n",
           nimg, npos_all, ncls, nd);
    printf("objects: threshold  precision  recall  F1\n");
    double best_f1 = 0, best_t = 0, cp = 0, cr = 0;
    for (float t = 0.10f; t < 0.61f; t += 0.05f) {
        int tp = 0, fp = 0;
        for (int i = 0; i < nd; i++)
            if (d[i].score >= t && !d[i].ignore) {
                tp += d[i].tp;
                fp += !d[i].tp;
            }
        double pr = tp + fp ? (double)tp / (tp + fp) : 0, rc = (double)tp / npos_all;
        double f1 = pr + rc > 0 ? 2 * pr * rc / (pr + rc) : 0;
        printf("objects:   %.2f      %.3f     %.3f   %.3f%s\n", t, pr, rc, f1,
               fabsf(t - chosen) < 1e-3f ? "   <- default" : "");
        if (f1 > best_f1) { best_f1 = f1; best_t = t; }
        if (fabsf(t - chosen) < 1e-3f) { cp = pr; cr = rc; }
    }
    printf("objects: best F1 %.3f at threshold %.2f (default in objects.c: %.2f)\n", best_f1, best_t,
           chosen);
    printf("objects: speed per image: preprocess %.1f ms, detect (preprocess+inference+decode) "
           "%.1f ms\n", 1000 * t_pre / nimg, 1000 * t_all / nimg);
    printf("objects: map50=%.3f precision=%.3f recall=%.3f threshold=%.2f detect_ms=%.1f\n", map50,
           cp, cr, chosen, 1000 * t_all / nimg);
    objects_free(m);
    free(d);
    free(g);
    free(ids);
    json_decref(root);
    return 0;
}
