/* faces.c -- face detection quality driver (see ./faces).
 *
 * Matching rule: predictions in decreasing score order each take the
 * still-unmatched ground-truth box with the highest IoU, if that IoU >= 0.5.
 * recall = matched / ground-truth faces, precision = matched / predictions.
 * Also reports recall at IoU >= 0.3 to tell "missed" from "box convention". */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <vips/vips.h>

#include "core/util.h"
#include "vision/faces.h"
#include "vision/objects.h"
#include "../../tools/rgbload.h"
#include "cputime.h"

/* The photo as RGB8 (tools/rgbload.h), resized by scale (--scale). */
static int load_rgb(const char *path, double scale, img_rgb *out) {
    if (rgbload(path, &out->w, &out->h, &out->px)) return -1;
    if (scale == 1.0) return 0;
    VipsImage *im = vips_image_new_from_memory(out->px, (size_t)out->w * out->h * 3, out->w, out->h,
                                               3, VIPS_FORMAT_UCHAR);
    VipsImage *t = NULL;
    int rc = !im || vips_resize(im, &t, scale, NULL);
    size_t n = 0;
    void *mem = rc ? NULL : vips_image_write_to_memory(t, &n);
    if (mem) {
        out->w = vips_image_get_width(t);
        out->h = vips_image_get_height(t);
    }
    if (t) g_object_unref(t);
    if (im) g_object_unref(im);
    free(out->px);
    out->px = NULL;
    if (!mem) return -1;
    out->px = malloc(n);
    if (out->px) memcpy(out->px, mem, n);
    g_free(mem);
    return out->px ? 0 : -1;
}

static float iou4(const float *a, const face_box *b) {
    float x0 = a[0] > b->x ? a[0] : b->x, y0 = a[1] > b->y ? a[1] : b->y;
    float x1 = a[0] + a[2] < b->x + b->w ? a[0] + a[2] : b->x + b->w;
    float y1 = a[1] + a[3] < b->y + b->h ? a[1] + a[3] : b->y + b->h;
    float in = (x1 > x0 ? x1 - x0 : 0) * (y1 > y0 ? y1 - y0 : 0);
    return in / (a[2] * a[3] + b->w * b->h - in);
}

static int match(float (*gt)[4], int ngt, const face_box *p, int np, float thr) {
    int used[256] = {0}, hits = 0;
    for (int i = 0; i < np; i++) {
        int best = -1;
        float bi = thr;
        for (int g = 0; g < ngt; g++)
            if (!used[g] && iou4(gt[g], &p[i]) >= bi) bi = iou4(gt[g], &p[i]), best = g;
        if (best >= 0) used[best] = 1, hits++;
    }
    return hits;
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: %s MODELS_DIR FACES_DIR [--model back|front] [--tile N] "
                        "[--score S] [--scale F] [--guide objects|all] [-v]\n", argv[0]);
        return 2;
    }
    if (VIPS_INIT(argv[0])) return 2;
    faces_opts o;
    faces_default_opts(&o);
    int verbose = 0;
    double scale = 1.0;
    /* objects: tiles only over people the object detector found, as the
     * pipeline does; all: every tile (faces_detect). */
    int guided = 1;
    for (int i = 3; i < argc; i++) {
        if (!strcmp(argv[i], "--model") && i + 1 < argc)
            o.model = strcmp(argv[++i], "front") ? FACES_BACK_256 : FACES_FRONT_128;
        else if (!strcmp(argv[i], "--tile") && i + 1 < argc) o.tile = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--score") && i + 1 < argc) o.min_score = (float)atof(argv[++i]);
        else if (!strcmp(argv[i], "--scale") && i + 1 < argc) scale = atof(argv[++i]);
        else if (!strcmp(argv[i], "--guide") && i + 1 < argc) guided = !strcmp(argv[++i], "objects");
        else if (!strcmp(argv[i], "-v")) verbose = 1;
    }
    scry_err err = {0};
    faces_model *m = NULL;
    if (faces_load_opts(argv[1], &o, &m, &err)) {
        fprintf(stderr, "faces: %s\n", err.msg);
        return 1;
    }
    objects_model *om = NULL;
    if (guided && objects_load(argv[1], &om, &err)) {
        fprintf(stderr, "faces: %s\n", err.msg);
        return 1;
    }
    char path[2048];
    snprintf(path, sizeof path, "%s/faces.json", argv[2]);
    json_error_t je;
    json_t *root = json_load_file(path, 0, &je);
    if (!root) {
        fprintf(stderr, "faces: %s: %s\n", path, je.text);
        return 1;
    }
    int tot_gt = 0, tot_pred = 0, tot_hit = 0, tot_hit3 = 0;
    double tot_ms = 0, tot_cpu = 0;
    size_t k;
    json_t *e;
    json_array_foreach(root, k, e) {
        const char *file = json_string_value(json_object_get(e, "file"));
        json_t *boxes = json_object_get(e, "faces_xywh");
        float gt[256][4];
        int ngt = 0;
        size_t j;
        json_t *b;
        json_array_foreach(boxes, j, b) {
            if (ngt < 256)
                for (int c = 0; c < 4; c++)
                    gt[ngt][c] = (float)(json_number_value(json_array_get(b, (size_t)c)) * scale);
            ngt++;
        }
        snprintf(path, sizeof path, "%s/images/%s", argv[2], file);
        img_rgb img;
        if (load_rgb(path, scale, &img)) {
            fprintf(stderr, "faces: cannot load %s\n", path);
            return 1;
        }
        face_box *p = NULL, people[64];
        int np = 0, npeople = -1;
        if (om) {
            det_box *d = NULL;
            int nd = 0;
            if (objects_detect(om, &img, &d, &nd, &err)) {
                fprintf(stderr, "faces: objects: %s: %s\n", file, err.msg);
                return 1;
            }
            npeople = 0;
            for (int i = 0; i < nd && npeople < 64; i++)
                if (d[i].label == 0)
                    people[npeople++] = (face_box){d[i].x, d[i].y, d[i].w, d[i].h, d[i].score};
            free(d);
        }
        double t0 = scry_mono_s(), c0 = cpu_s();
        if (faces_detect_guided(m, &img, people, npeople, &p, &np, &err)) {
            fprintf(stderr, "faces: %s: %s\n", file, err.msg);
            return 1;
        }
        double ms = (scry_mono_s() - t0) * 1000;
        tot_cpu += (cpu_s() - c0) * 1000;
        int hit = match(gt, ngt, p, np, 0.5f), hit3 = match(gt, ngt, p, np, 0.3f);
        printf("%-18s %4dx%-4d gt=%2d pred=%2d hit=%2d hit@0.3=%2d people=%2d %6.1f ms\n", file,
               img.w, img.h, ngt, np, hit, hit3, npeople, ms);
        if (verbose)
            for (int i = 0; i < np; i++)
                printf("   pred %.0f,%.0f %.0fx%.0f s=%.2f\n", p[i].x, p[i].y, p[i].w, p[i].h,
                       p[i].score);
        tot_gt += ngt, tot_pred += np, tot_hit += hit, tot_hit3 += hit3, tot_ms += ms;
        free(p);
        free(img.px);
    }
    json_decref(root);
    faces_free(m);
    objects_free(om);
    int nimg = (int)k;
    printf("model=%s tile=%d guide=%s min_score=%.2f scale=%.2f: %d/%d faces found (IoU>=0.5), %d at IoU>=0.3, "
           "%d predictions, %.1f ms/image (cpu %.1f)\n",
           o.model == FACES_FRONT_128 ? "front128" : "back256", o.tile, om ? "objects" : "all",
           o.min_score, scale, tot_hit,
           tot_gt, tot_hit3, tot_pred, nimg ? tot_ms / nimg : 0, nimg ? tot_cpu / nimg : 0);
    printf("faces: recall=%.3f precision=%.3f\n", tot_gt ? (double)tot_hit / tot_gt : 0,
           tot_pred ? (double)tot_hit / tot_pred : 0);
    return 0;
}
