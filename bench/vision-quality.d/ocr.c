/* ocr.c -- OCR quality driver (see ./ocr).
 *
 * Scoring on ICDAR 2015 (gt_img_N.txt: x1,y1,..,x4,y4,transcription; "###"
 * = unreadable, ignored). Both ground-truth and predicted words are
 * normalised: lowercased, leading/trailing non-alphanumerics stripped;
 * words empty after that are ignored.
 *   word_recall  a GT word is found when an unused predicted word in the
 *                same image has the same normalised text (location is not
 *                checked: search only cares that the word is indexed).
 *   loc_recall   same, and the predicted box centre must lie inside the GT
 *                word's bounding box grown by half its height.
 *   precision    predicted words that found a GT word / predicted words
 *                (text-only rule; unlabelled "###" text inflates misses).
 *   cer          for each GT word, the smallest edit distance to a predicted
 *                word located as in loc_recall (the whole word length when
 *                none is), capped at the word length; sum / GT characters.
 *   ms_per_image wall time of ocr_read only (CPU time is printed too). */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <vips/vips.h>

#include "core/log.h"
#include "core/util.h"
#include "vision/ocr.h"
#include "../../tools/rgbload.h"
#include "cputime.h"

/* Lowercase, trim non-alphanumerics at both ends, into out (size cap). */
static void norm(const char *s, char *out, size_t cap) {
    size_t b = 0, e = strlen(s);
    while (b < e && !isalnum((unsigned char)s[b])) b++;
    while (e > b && !isalnum((unsigned char)s[e - 1])) e--;
    size_t n = 0;
    for (size_t i = b; i < e && n + 1 < cap; i++) out[n++] = (char)tolower((unsigned char)s[i]);
    out[n] = 0;
}

static int edit_distance(const char *a, const char *b) {
    int la = (int)strlen(a), lb = (int)strlen(b);
    int *row = malloc(((size_t)lb + 1) * sizeof *row);
    for (int j = 0; j <= lb; j++) row[j] = j;
    for (int i = 1; i <= la; i++) {
        int diag = row[0];
        row[0] = i;
        for (int j = 1; j <= lb; j++) {
            int up = row[j];
            int sub = diag + (a[i - 1] != b[j - 1]);
            int del = row[j] + 1, ins = row[j - 1] + 1;
            row[j] = sub < del ? (sub < ins ? sub : ins) : (del < ins ? del : ins);
            diag = up;
        }
    }
    int d = row[lb];
    free(row);
    return d;
}

typedef struct gtw {
    char text[128];
    float x0, y0, x1, y1;
} gtw;

static int load_gt(const char *path, gtw *g, int max) {
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    char line[1024];
    int n = 0;
    while (fgets(line, sizeof line, f) && n < max) {
        char *p = line;
        if ((unsigned char)p[0] == 0xef && (unsigned char)p[1] == 0xbb) p += 3;   /* BOM */
        line[strcspn(line, "\r\n")] = 0;
        float c[8];
        int k = 0;
        char *q = p;
        for (; k < 8; k++) {
            c[k] = strtof(q, &q);
            if (*q != ',') break;
            q++;
        }
        if (k < 8) continue;
        if (!strcmp(q, "###")) continue;
        norm(q, g[n].text, sizeof g[n].text);
        if (!g[n].text[0]) continue;
        g[n].x0 = g[n].x1 = c[0], g[n].y0 = g[n].y1 = c[1];
        for (int i = 1; i < 4; i++) {
            if (c[2 * i] < g[n].x0) g[n].x0 = c[2 * i];
            if (c[2 * i] > g[n].x1) g[n].x1 = c[2 * i];
            if (c[2 * i + 1] < g[n].y0) g[n].y0 = c[2 * i + 1];
            if (c[2 * i + 1] > g[n].y1) g[n].y1 = c[2 * i + 1];
        }
        n++;
    }
    fclose(f);
    return n;
}

static int located(const gtw *g, const ocr_word *w) {
    float m = (g->y1 - g->y0) / 2, cx = w->x + w->w / 2, cy = w->y + w->h / 2;
    return cx >= g->x0 - m && cx <= g->x1 + m && cy >= g->y0 - m && cy <= g->y1 + m;
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: %s MODELS_DIR ICDAR_DIR [--engine ppocr|tesseract] [--side N] "
                        "[--psm N] [--conf C] [--limit N] [-v]\n", argv[0]);
        return 2;
    }
    if (VIPS_INIT(argv[0])) return 2;
    if (getenv("SCRY_LOG")) log_set_level(log_level_from_name(getenv("SCRY_LOG")));
    ocr_opts o;
    ocr_default_opts(&o);
    int limit = 100, verbose = 0;
    for (int i = 3; i < argc; i++) {
        if (!strcmp(argv[i], "--engine") && i + 1 < argc)
            o.engine = strncmp(argv[++i], "tess", 4) ? OCR_PPOCR : OCR_TESSERACT;
        else if (!strcmp(argv[i], "--side") && i + 1 < argc) o.det_max_side = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--psm") && i + 1 < argc) o.tess_psm = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--conf") && i + 1 < argc) o.min_conf = (float)atof(argv[++i]);
        else if (!strcmp(argv[i], "--limit") && i + 1 < argc) limit = atoi(argv[++i]);
        else if (!strcmp(argv[i], "-v")) verbose = 1;
    }
    scry_err err = {0};
    ocr_model *m = NULL;
    if (ocr_load_opts(argv[1], &o, &m, &err)) {
        fprintf(stderr, "ocr: %s\n", err.msg);
        return 1;
    }
    long gt_words = 0, found = 0, found_loc = 0, pred_words = 0, pred_hit = 0;
    long gt_chars = 0, char_err = 0;
    double ms = 0, cpu_ms = 0;
    int images = 0;
    for (int id = 1; id <= limit; id++) {
        char path[2048];
        snprintf(path, sizeof path, "%s/gt/gt_img_%d.txt", argv[2], id);
        static gtw gt[512];
        int ng = load_gt(path, gt, 512);
        if (ng < 0) continue;
        snprintf(path, sizeof path, "%s/images/img_%d.jpg", argv[2], id);
        img_rgb img;
        if (rgbload(path, &img.w, &img.h, &img.px)) {
            fprintf(stderr, "ocr: cannot load %s\n", path);
            return 1;
        }
        ocr_word *w = NULL;
        int nw = 0;
        double t0 = scry_mono_s(), c0 = cpu_s();
        if (ocr_read(m, &img, &w, &nw, &err)) {
            fprintf(stderr, "ocr: img_%d: %s\n", id, err.msg);
            return 1;
        }
        ms += (scry_mono_s() - t0) * 1000;
        cpu_ms += (cpu_s() - c0) * 1000;
        images++;
        char (*pn)[128] = calloc((size_t)nw + 1, sizeof *pn);
        char *used = calloc((size_t)nw + 1, 1), *used_loc = calloc((size_t)nw + 1, 1);
        for (int i = 0; i < nw; i++) norm(w[i].text, pn[i], sizeof pn[i]);
        int f = 0;
        for (int g = 0; g < ng; g++) {
            int L = (int)strlen(gt[g].text), best = L;
            for (int i = 0; i < nw; i++) {
                if (!used[i] && !strcmp(pn[i], gt[g].text)) {
                    used[i] = 1, f++;
                    break;
                }
            }
            for (int i = 0; i < nw; i++) {
                if (!located(&gt[g], &w[i])) continue;
                int d = edit_distance(pn[i], gt[g].text);
                if (d < best) best = d;
                if (!used_loc[i] && d == 0) {
                    used_loc[i] = 1, found_loc++;
                    break;
                }
            }
            gt_chars += L, char_err += best;
        }
        for (int i = 0; i < nw; i++) pred_hit += used[i] != 0;
        found += f, gt_words += ng, pred_words += nw;
        if (verbose) {
            char *all = ocr_join(w, nw);
            printf("img_%d: %d/%d  [%s]\n   gt:", id, f, ng, all);
            for (int g = 0; g < ng; g++) printf(" %s", gt[g].text);
            printf("\n");
            free(all);
        }
        free(pn), free(used), free(used_loc);
        ocr_words_free(w, nw);
        free(img.px);
    }
    ocr_free(m);
    double recall = gt_words ? (double)found / (double)gt_words : 0;
    printf("engine=%s side=%d psm=%d min_conf=%.2f: %d images, %ld GT words, found %ld "
           "(located %ld), %ld predicted words, precision %.3f, loc_recall %.3f, cpu %.0f ms/image\n",
           o.engine == OCR_TESSERACT ? "tesseract" : "ppocrv4", o.det_max_side, o.tess_psm,
           o.min_conf, images, gt_words, found, found_loc, pred_words,
           pred_words ? (double)pred_hit / (double)pred_words : 0,
           gt_words ? (double)found_loc / (double)gt_words : 0, images ? cpu_ms / images : 0);
    printf("ocr: word_recall=%.3f cer=%.3f ms_per_image=%.0f\n", recall,
           gt_chars ? (double)char_err / (double)gt_chars : 0, images ? ms / images : 0);
    return 0;
}
