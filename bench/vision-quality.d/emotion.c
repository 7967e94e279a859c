/* emotion.c -- bench driver: facial expression accuracy and speed, the old
 * model and the new one side by side.
 *
 * Every crop under $SHARED/data/fer2013/<class>/ (48x48 grey faces; the
 * folder is the label) goes through emotion_classify_crop one at a time (the
 * product's per-face path). The crops of each class, sorted by file name,
 * are split in two halves: even positions ("choose": the variants were
 * compared there and the product's choice made on it) and odd positions
 * ("report": never used for a choice). Printed per variant: accuracy on
 * each half and on all 655, per class (all), ms per face.
 *
 *   mini-Xception            Human's emotion model (the old default)
 *   face-api + mirror        face-api's expression model, each face read
 *                            as is and mirrored (the product's default)
 * and with --all the other variants compared when choosing (both models,
 * with and without the mirror view, their average, and pre-processings:
 * histogram equalisation, crop 0.9 / 0.8 (zoom in), black margin 1.1 / 1.2).
 *
 * Last line: "emotion: emotion_acc=NEW emotion_acc_old=OLD
 * emotion_acc_report=NEW_ON_REPORT_HALF emotion_ms=MS" (NEW, OLD: all 655).
 *
 * usage: vq-emotion MODELS_DIR SHARED_DIR [--all] */
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../tools/rgbload.h"
#include "core/labels.h"
#include "core/log.h"
#include "core/util.h"
#include "vision/emotion.h"

#define MAXN 1024

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Pre-processing variants applied to the 48x48 crop before the model. */
enum { V_NONE, V_HISTEQ, V_ZOOM90, V_ZOOM80, V_PAD110, V_PAD120, V_COUNT };
static const char *const v_names[V_COUNT] = {"", " histeq", " zoom 0.9", " zoom 0.8",
                                             " margin 1.1", " margin 1.2"};

static img_rgb variant(const img_rgb *f, int v) {
    img_rgb o = {.w = f->w, .h = f->h};
    if (v == V_NONE || v == V_HISTEQ) {
        o.px = malloc((size_t)o.w * o.h * 3);
        memcpy(o.px, f->px, (size_t)o.w * o.h * 3);
        if (v == V_HISTEQ) {   /* equalise the grey level histogram */
            int hist[256] = {0}, n = o.w * o.h, cdf[256], acc = 0, lo = -1;
            for (int i = 0; i < n; i++) hist[f->px[i * 3 + 1]]++;
            for (int i = 0; i < 256; i++) {
                acc += hist[i];
                cdf[i] = acc;
                if (lo < 0 && acc) lo = acc;
            }
            for (int i = 0; i < n; i++) {
                int g = f->px[i * 3 + 1];
                int q = n > lo ? (int)lround((double)(cdf[g] - lo) * 255 / (n - lo)) : g;
                o.px[i * 3] = o.px[i * 3 + 1] = o.px[i * 3 + 2] = (uint8_t)q;
            }
        }
        return o;
    }
    double z = v == V_ZOOM90 ? 0.9 : v == V_ZOOM80 ? 0.8 : v == V_PAD110 ? 1.1 : 1.2;
    int side = (int)lround(f->w * z), off = (f->w - side) / 2;
    o.w = o.h = side;
    o.px = calloc((size_t)side * side * 3, 1);
    for (int y = 0; y < side; y++)
        for (int x = 0; x < side; x++) {
            int sx = x + off, sy = y + off;
            if (sx >= 0 && sy >= 0 && sx < f->w && sy < f->h)
                memcpy(o.px + ((size_t)y * side + x) * 3, f->px + ((size_t)sy * f->w + sx) * 3, 3);
        }
    return o;
}

typedef struct run_stats {
    const char *name;
    int ok[2], n[2], cls_ok[SCRY_EMOTION_COUNT], cls_n[SCRY_EMOTION_COUNT];
    double secs;
} run_stats;

static void report(const run_stats *r) {
    printf("emotion: %-34s choose %.3f  report %.3f  all %.3f |", r->name,
           (double)r->ok[0] / r->n[0], (double)r->ok[1] / r->n[1],
           (double)(r->ok[0] + r->ok[1]) / (r->n[0] + r->n[1]));
    for (int c = 0; c < SCRY_EMOTION_COUNT; c++)
        printf(" %s %.2f", scry_emotion_labels[c], r->cls_n[c] ? (double)r->cls_ok[c] / r->cls_n[c] : 0);
    printf(" | %.2f ms/face\n", 1000 * r->secs / (r->n[0] + r->n[1]));
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: vq-emotion MODELS_DIR SHARED_DIR [--all]\n");
        return 2;
    }
    int all = argc > 3 && !strcmp(argv[3], "--all");
    log_set_level(LOG_WARN);
    scry_err err = {0};
    emotion_model *m[2] = {NULL, NULL};
    if (emotion_load_kind(argv[1], EMOTION_MINI_XCEPTION, &m[0], &err) ||
        emotion_load_kind(argv[1], EMOTION_FACEAPI, &m[1], &err)) {
        fprintf(stderr, "vq-emotion: %s\n", err.msg);
        return 2;
    }
    static img_rgb faces[MAXN];
    static int label[MAXN], half[MAXN];
    int n = 0;
    for (int c = 0; c < SCRY_EMOTION_COUNT; c++) {
        char dir[4096];
        snprintf(dir, sizeof dir, "%s/data/fer2013/%s", argv[2], scry_emotion_labels[c]);
        DIR *dp = opendir(dir);
        if (!dp) {
            fprintf(stderr, "vq-emotion: cannot open %s\n", dir);
            return 2;
        }
        char *names[MAXN];
        int k = 0;
        struct dirent *e;
        while ((e = readdir(dp)) && k < MAXN)
            if (e->d_name[0] != '.') names[k++] = strdup(e->d_name);
        closedir(dp);
        qsort(names, (size_t)k, sizeof *names, cmp_str);
        for (int i = 0; i < k; i++) {
            char path[8192];
            snprintf(path, sizeof path, "%s/%s", dir, names[i]);
            if (n < MAXN && rgbload(path, &faces[n].w, &faces[n].h, &faces[n].px) == 0) {
                label[n] = c;
                half[n++] = i % 2;
            }
            free(names[i]);
        }
    }
    /* scores[model][flip][variant][face] */
    static float s[2][2][V_COUNT][MAXN][SCRY_EMOTION_COUNT];
    double secs[2][2][V_COUNT] = {{{0}}};
    int nv = all ? V_COUNT : 1;
    for (int md = 0; md < 2; md++)
        for (int fl = 0; fl < 2; fl++) {
            if (!all && fl != (md == 1)) continue;   /* old: as shipped; new: with the mirror */
            emotion_set_flip(m[md], fl);
            for (int v = 0; v < nv; v++)
                for (int i = 0; i < n; i++) {
                    img_rgb x = variant(&faces[i], v);
                    double t0 = scry_mono_s();
                    int rc = emotion_classify_crop(m[md], &x, s[md][fl][v][i], &err);
                    secs[md][fl][v] += scry_mono_s() - t0;
                    free(x.px);
                    if (rc) {
                        fprintf(stderr, "vq-emotion: %s\n", err.msg);
                        return 2;
                    }
                }
        }
    printf("emotion: %d FER2013 crops (choose: even positions of each class by file name, "
           "report: odd)\n", n);
    run_stats rs[64];
    int nr = 0;
    /* md 0/1 a model alone, 2 the average of both */
    for (int md = 0; md < 3; md++)
        for (int fl = 0; fl < 2; fl++)
            for (int v = 0; v < nv; v++) {
                if (!all && !((md == 0 && fl == 0) || (md == 1 && fl == 1)) ) continue;
                if (!all && v) continue;
                run_stats *r = &rs[nr++];
                memset(r, 0, sizeof *r);
                static char names[64][96];
                snprintf(names[nr - 1], sizeof names[0], "%s%s%s",
                         md == 0 ? "mini-Xception" : md == 1 ? "face-api" : "average of both",
                         fl ? " + mirror" : "", v_names[v]);
                r->name = names[nr - 1];
                for (int i = 0; i < n; i++) {
                    float p[SCRY_EMOTION_COUNT];
                    for (int k = 0; k < SCRY_EMOTION_COUNT; k++)
                        p[k] = md < 2 ? s[md][fl][v][i][k]
                                      : (s[0][fl][v][i][k] + s[1][fl][v][i][k]) / 2;
                    int top = emotion_top(p), ok = top == label[i];
                    r->ok[half[i]] += ok;
                    r->n[half[i]]++;
                    r->cls_ok[label[i]] += ok;
                    r->cls_n[label[i]]++;
                }
                r->secs = md < 2 ? secs[md][fl][v] : secs[0][fl][v] + secs[1][fl][v];
                report(r);
            }
    /* the old default (mini-Xception, no mirror) and the new one */
    const run_stats *old = NULL, *neu = NULL;
    for (int i = 0; i < nr; i++) {
        if (!strcmp(rs[i].name, "mini-Xception")) old = &rs[i];
        if (!strcmp(rs[i].name, "face-api + mirror")) neu = &rs[i];
    }
    double acc_new = (double)(neu->ok[0] + neu->ok[1]) / n;
    double acc_old = (double)(old->ok[0] + old->ok[1]) / n;
    printf("emotion: old (mini-Xception) %.3f -> new (face-api + mirror) %.3f on all %d; "
           "report half %.3f -> %.3f\n", acc_old, acc_new, n, (double)old->ok[1] / old->n[1],
           (double)neu->ok[1] / neu->n[1]);
    printf("emotion: emotion_acc=%.3f emotion_acc_old=%.3f emotion_acc_report=%.3f emotion_ms=%.2f\n",
           acc_new, acc_old, (double)neu->ok[1] / neu->n[1], 1000 * neu->secs / n);
    for (int i = 0; i < n; i++) free(faces[i].px);
    emotion_free(m[0]);
    emotion_free(m[1]);
    return 0;
}
