/* smile.c -- bench driver: does an expression model tell smiling faces in
 * real photos, where the crop comes from a BlazeFace box? (FER2013 crops
 * are already faces; the product's are not.)
 *
 * Weak labels from human captions: in the captioned photos of
 * $SHARED/data/{flickr8k-train,coco-extra} (training photos: where the box
 * margin was chosen) and coco/ (held out), a photo in which faces_detect
 * finds exactly one face at least 24 px wide is "smiling" when any of its 5
 * captions says smil*, laugh* or grin*, else "not smiling" (which includes
 * faces nobody mentioned: a noisy negative). For each model the score is
 * P(happy); reported: ROC AUC of smiling vs not, and at the caption's bar
 * (happy >= 0.5) the recall of smiling faces, the share of the others left
 * out, and their mean (balanced accuracy).
 *
 * Models: mini-Xception with Human's box (x1.4), as it shipped; face-api +
 * mirror with box margins 1.0, 1.2 (the product's EMOTION_FACEAPI_BOX_SCALE)
 * and 1.4. Last line: "smile: auc_new=A auc_old=B n_train=N n_heldout=M".
 *
 * usage: vq-smile MODELS_DIR SHARED_DIR */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../tools/rgbload.h"
#include "core/labels.h"
#include "core/log.h"
#include "vision/emotion.h"
#include "vision/faces.h"

#define MAXF 2000
#define NM 4

static const char *const model_names[NM] = {"mini-Xception, box x1.4", "face-api + mirror, box x1.0",
                                            "face-api + mirror, box x1.2 (product)",
                                            "face-api + mirror, box x1.4"};
static const float fa_scales[3] = {1.0f, 1.2f, 1.4f};

static int smiling(json_t *caps) {
    size_t i;
    json_t *c;
    json_array_foreach(caps, i, c) {
        const char *s = json_string_value(c);
        for (const char *p = s; p && *p; p++) {
            if (p != s && ((p[-1] | 32) >= 'a' && (p[-1] | 32) <= 'z')) continue;   /* word start */
            if (!strncasecmp(p, "smil", 4) || !strncasecmp(p, "laugh", 5) || !strncasecmp(p, "grin", 4))
                return 1;
        }
    }
    return 0;
}

static double auc(const double *p, const int *y, int n) {
    double s = 0;
    int np = 0, nn = 0;
    for (int i = 0; i < n; i++) y[i] ? np++ : nn++;
    for (int i = 0; i < n; i++)
        if (y[i])
            for (int j = 0; j < n; j++)
                if (!y[j]) s += p[i] > p[j] ? 1 : p[i] == p[j] ? 0.5 : 0;
    return np && nn ? s / np / nn : NAN;
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: vq-smile MODELS_DIR SHARED_DIR\n");
        return 2;
    }
    log_set_level(LOG_WARN);
    scry_err err = {0};
    emotion_model *old = NULL, *neu = NULL;
    faces_model *fm = NULL;
    if (emotion_load_kind(argv[1], EMOTION_MINI_XCEPTION, &old, &err) ||
        emotion_load_kind(argv[1], EMOTION_FACEAPI, &neu, &err) || faces_load(argv[1], &fm, &err)) {
        fprintf(stderr, "vq-smile: %s\n", err.msg);
        return 2;
    }
    static double p[NM][MAXF];
    static int y[MAXF], heldout[MAXF];
    int n = 0;
    const char *sets[] = {"flickr8k-train", "coco-extra", "coco"};
    for (int si = 0; si < 3; si++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/data/%s/captions.jsonl", argv[2], sets[si]);
        FILE *f = fopen(path, "r");
        if (!f) {
            fprintf(stderr, "vq-smile: cannot open %s\n", path);
            return 2;
        }
        char line[16384];
        while (fgets(line, sizeof line, f) && n < MAXF) {
            json_t *j = json_loads(line, 0, NULL);
            if (!j) continue;
            char img_path[4096];
            snprintf(img_path, sizeof img_path, "%s/data/%s/images/%s", argv[2], sets[si],
                     json_string_value(json_object_get(j, "file")));
            int smile = smiling(json_object_get(j, "captions"));
            json_decref(j);
            img_rgb img;
            if (rgbload(img_path, &img.w, &img.h, &img.px)) continue;
            face_box *b = NULL;
            int nb = 0;
            if (faces_detect(fm, &img, &b, &nb, &err) == SCRY_OK && nb == 1 && b[0].w >= 24) {
                float s[SCRY_EMOTION_COUNT];
                const int happy = scry_emotion_index("happy");
                if (emotion_classify(old, &img, b[0].x, b[0].y, b[0].w, b[0].h, s, &err)) return 2;
                p[0][n] = s[happy];
                for (int k = 0; k < 3; k++) {
                    /* a box whose x1.2 square is the x scale square */
                    float g = fa_scales[k] / EMOTION_FACEAPI_BOX_SCALE;
                    float w = b[0].w * g, h = b[0].h * g;
                    float x = b[0].x + (b[0].w - w) / 2, yy = b[0].y + (b[0].h - h) / 2;
                    if (emotion_classify(neu, &img, x, yy, w, h, s, &err)) return 2;
                    p[1 + k][n] = s[happy];
                }
                y[n] = smile;
                heldout[n++] = si == 2;
            }
            free(b);
            free(img.px);
        }
        fclose(f);
    }
    int ntr = 0, nte = 0, str = 0, ste = 0;
    for (int i = 0; i < n; i++) {
        if (heldout[i]) nte++, ste += y[i];
        else ntr++, str += y[i];
    }
    printf("smile: one-face photos (face >= 24 px): training %d (%d smiling), held out %d (%d "
           "smiling)\n", ntr, str, nte, ste);
    printf("smile: %-40s %9s %9s %9s | at happy >= 0.5 on training: %s\n", "model", "AUC train",
           "AUC held", "AUC all", "smiling recall, others left out, balanced");
    double auc_tr[NM];
    for (int m = 0; m < NM; m++) {
        static double a[MAXF], b[MAXF];
        static int ya[MAXF], yb[MAXF];
        int na = 0, nbb = 0, tp = 0, tn = 0;
        for (int i = 0; i < n; i++) {
            if (heldout[i]) b[nbb] = p[m][i], yb[nbb++] = y[i];
            else {
                a[na] = p[m][i], ya[na++] = y[i];
                if (y[i]) tp += p[m][i] >= 0.5;
                else tn += p[m][i] < 0.5;
            }
        }
        auc_tr[m] = auc(a, ya, na);
        double rec = str ? (double)tp / str : NAN, spec = ntr - str ? (double)tn / (ntr - str) : NAN;
        printf("smile: %-40s %9.3f %9.3f %9.3f | %.2f, %.2f, %.3f\n", model_names[m], auc_tr[m],
               auc(b, yb, nbb), auc(p[m], y, n), rec, spec, (rec + spec) / 2);
    }
    printf("smile: auc_new=%.3f auc_old=%.3f n_train=%d n_heldout=%d\n", auc_tr[2], auc_tr[0], ntr,
           nte);
    emotion_free(old);
    emotion_free(neu);
    faces_free(fm);
    return 0;
}
