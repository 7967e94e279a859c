/* emotion.c -- bench driver: facial expression accuracy and speed.
 *
 * Every crop under $SHARED/data/fer2013/<class>/ (48x48 grey faces; the
 * folder is the label) goes through emotion_classify_crop one at a time (the
 * product's per-face path), and we report accuracy per class, overall, and
 * the confusion of each class's most frequent wrong answer, plus mean ms per
 * face. Last line: "emotion: emotion_acc=... emotion_ms=..."
 *
 * usage: vq-emotion MODELS_DIR SHARED_DIR */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../tools/rgbload.h"
#include "core/labels.h"
#include "core/log.h"
#include "core/util.h"
#include "vision/emotion.h"

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: vq-emotion MODELS_DIR SHARED_DIR\n");
        return 2;
    }
    log_set_level(LOG_WARN);
    scry_err err = {0};
    emotion_model *m = NULL;
    if (emotion_load(argv[1], &m, &err)) {
        fprintf(stderr, "vq-emotion: %s\n", err.msg);
        return 2;
    }
    int confusion[SCRY_EMOTION_COUNT][SCRY_EMOTION_COUNT] = {{0}};
    int total = 0, correct = 0;
    double secs = 0;
    for (int c = 0; c < SCRY_EMOTION_COUNT; c++) {
        char dir[4096];
        snprintf(dir, sizeof dir, "%s/data/fer2013/%s", argv[2], scry_emotion_labels[c]);
        DIR *dp = opendir(dir);
        if (!dp) {
            fprintf(stderr, "vq-emotion: cannot open %s\n", dir);
            return 2;
        }
        struct dirent *e;
        while ((e = readdir(dp))) {
            if (e->d_name[0] == '.') continue;
            char path[8192];
            snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
            img_rgb face;
            if (rgbload(path, &face.w, &face.h, &face.px)) continue;
            float s[SCRY_EMOTION_COUNT];
            double t0 = scry_mono_s();
            int rc = emotion_classify_crop(m, &face, s, &err);
            secs += scry_mono_s() - t0;
            free(face.px);
            if (rc) {
                fprintf(stderr, "vq-emotion: %s\n", err.msg);
                return 2;
            }
            int top = emotion_top(s);
            confusion[c][top]++;
            total++;
            correct += top == c;
        }
        closedir(dp);
    }
    printf("emotion: %d FER2013 crops\n", total);
    for (int c = 0; c < SCRY_EMOTION_COUNT; c++) {
        int n = 0, worst = -1;
        for (int j = 0; j < SCRY_EMOTION_COUNT; j++) {
            n += confusion[c][j];
            if (j != c && (worst < 0 || confusion[c][j] > confusion[c][worst])) worst = j;
        }
        printf("emotion:   %-9s n=%3d  accuracy %.3f  (most often mistaken for %s: %d)\n",
               scry_emotion_labels[c], n, n ? (double)confusion[c][c] / n : 0,
               scry_emotion_labels[worst], confusion[c][worst]);
    }
    double acc = total ? (double)correct / total : 0;
    printf("emotion: speed per face %.2f ms (batch of 1)\n", 1000 * secs / (total ? total : 1));
    printf("emotion: emotion_acc=%.3f emotion_ms=%.2f\n", acc, 1000 * secs / (total ? total : 1));
    emotion_free(m);
    return 0;
}
