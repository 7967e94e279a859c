/* ocr.c -- see ocr.h.
 *
 * PP-OCRv4 pipeline (PaddleOCR's inference defaults, re-implemented):
 *
 *  1. Detection. The image is resized so its longest side is at most
 *     det_max_side, each side rounded to a multiple of 32, normalised with
 *     the ImageNet mean/std in BGR channel order (the model was trained on
 *     OpenCV's BGR images) and run through the DB network, which returns a
 *     text probability map at input resolution.
 *  2. DB post-processing. Pixels with p > 0.3 form a bitmap; each 8-connected
 *     component is one text candidate. Its minimum-area rectangle (convex
 *     hull of the component + rotating calipers) is scored by the mean p
 *     inside it (kept if >= 0.6), then "unclipped": grown on every side by
 *     d = area * 1.5 / perimeter, because DB is trained to predict a shrunk
 *     text kernel. Rectangles thinner than 5 map pixels are dropped.
 *  3. Recognition. Each rectangle is rectified with one affine map (its
 *     corners ordered left-to-right so text reads horizontally; a rectangle
 *     taller than 1.5x its width is turned 90 degrees) to height 48 and the
 *     width that keeps its aspect ratio, normalised to [-1, 1] and run
 *     through the CTC recogniser. Greedy CTC decoding: best class per time
 *     step, repeats collapsed, blanks removed. Class 0 is the blank, classes
 *     1..N the lines of ppocr_keys_v1.txt, class N+1 the space.
 *  4. Words. The line is cut into words at spaces and at non-Latin
 *     characters; each word's box spans the time steps of its characters,
 *     mapped back through the rectification.
 *
 * Tesseract runs on the RGB raster directly with word-level iteration. A
 * TessBaseAPI costs ~100 ms and tens of MB to initialise and is not
 * thread-safe, so the model keeps a pool: a reader takes a free instance or
 * creates one, and gives it back afterwards. */
#include "vision/ocr.h"

#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <tesseract/capi.h>

#include "core/log.h"
#include "core/util.h"
#include "vision/onnx.h"
#include "vision/warp.h"

#define DB_THRESH 0.3f
#define DB_BOX_THRESH 0.6f
#define DB_UNCLIP 1.5f
#define DB_MAX_CANDIDATES 1000
#define REC_H 48
#define REC_MAX_W 1600          /* 33:1 aspect; longer lines are squeezed */
#define TESS_POOL 8

struct ocr_model {
    ocr_opts opts;
    onnx_model *det, *rec;
    char **keys;                /* keys[i] = UTF-8 of class i+1 */
    int nkeys;
    char *keys_buf;
    pthread_mutex_t lock;       /* guards the Tesseract pool */
    TessBaseAPI *pool[TESS_POOL];
    int npool;
    char tessdata[512];
};

void ocr_default_opts(ocr_opts *o) {
    o->engine = OCR_PPOCR;
    o->det_max_side = 1280;
    o->min_conf = 0.5f;
    o->tess_psm = 11;
}

/* ---------------------------------------------------------------- words */

typedef struct words {
    ocr_word *v;
    int n, cap;
} words;

static int words_push(words *ws, const char *text, size_t len, float x, float y, float w,
                      float h, float conf) {
    if (ws->n == ws->cap) {
        int cap = ws->cap ? ws->cap * 2 : 32;
        ocr_word *v = realloc(ws->v, (size_t)cap * sizeof *v);
        if (!v) return SCRY_ENOMEM;
        ws->v = v, ws->cap = cap;
    }
    char *t = malloc(len + 1);
    if (!t) return SCRY_ENOMEM;
    memcpy(t, text, len);
    t[len] = 0;
    ws->v[ws->n++] = (ocr_word){t, x, y, w, h, conf};
    return SCRY_OK;
}

void ocr_words_free(ocr_word *w, int n) {
    if (!w) return;
    for (int i = 0; i < n; i++) free(w[i].text);
    free(w);
}

char *ocr_join(const ocr_word *w, int n) {
    size_t len = 1;
    for (int i = 0; i < n; i++) len += strlen(w[i].text) + 1;
    char *s = malloc(len), *p = s;
    if (!s) return NULL;
    for (int i = 0; i < n; i++) {
        if (i) *p++ = ' ';
        size_t l = strlen(w[i].text);
        memcpy(p, w[i].text, l);
        p += l;
    }
    *p = 0;
    return s;
}

static int is_alnum_ascii(unsigned char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* Fold one UTF-8 character to a printable ASCII byte, 0 for "not Latin"
 * (treated as a word break), ' ' for whitespace. */
static char fold_char(const char *s, int *adv) {
    const unsigned char *u = (const unsigned char *)s;
    if (u[0] < 0x80) {
        *adv = 1;
        if (u[0] <= ' ' || u[0] == 0x7f) return ' ';
        return (char)u[0];
    }
    uint32_t cp;
    int n;
    if ((u[0] & 0xe0) == 0xc0) cp = u[0] & 0x1f, n = 2;
    else if ((u[0] & 0xf0) == 0xe0) cp = u[0] & 0x0f, n = 3;
    else if ((u[0] & 0xf8) == 0xf0) cp = u[0] & 0x07, n = 4;
    else return *adv = 1, 0;
    for (int i = 1; i < n; i++) {
        if ((u[i] & 0xc0) != 0x80) return *adv = i, 0;
        cp = (cp << 6) | (u[i] & 0x3f);
    }
    *adv = n;
    if (cp >= 0xff01 && cp <= 0xff5e) return (char)(cp - 0xfee0);   /* full-width ASCII */
    if (cp == 0x3000) return ' ';
    if (cp == 0x2018 || cp == 0x2019) return '\'';
    if (cp == 0x201c || cp == 0x201d) return '"';
    if (cp == 0x2013 || cp == 0x2014) return '-';
    return 0;
}

/* A word candidate: trim punctuation at both ends; keep it when something
 * alphanumeric is left. Returns the trimmed [*b, *e). */
static int trim_word(const char *s, int b, int e, int *ob, int *oe) {
    while (b < e && !is_alnum_ascii((unsigned char)s[b])) b++;
    while (e > b && !is_alnum_ascii((unsigned char)s[e - 1])) e--;
    *ob = b, *oe = e;
    return e > b;
}

/* ---------------------------------------------------------------- geometry */

typedef struct pt {
    float x, y;
} pt;

static float cross(pt o, pt a, pt b) { return (a.x - o.x) * (b.y - o.y) - (a.y - o.y) * (b.x - o.x); }

static int pt_cmp(const void *pa, const void *pb) {
    const pt *a = pa, *b = pb;
    if (a->x != b->x) return a->x < b->x ? -1 : 1;
    return (a->y > b->y) - (a->y < b->y);
}

/* Andrew's monotone chain; hull written to h (needs 2n slots), returns its size. */
static int convex_hull(pt *p, int n, pt *h) {
    qsort(p, (size_t)n, sizeof *p, pt_cmp);
    if (n < 3) {
        memcpy(h, p, (size_t)n * sizeof *p);
        return n;
    }
    int k = 0;
    for (int i = 0; i < n; i++) {
        while (k >= 2 && cross(h[k - 2], h[k - 1], p[i]) <= 0) k--;
        h[k++] = p[i];
    }
    for (int i = n - 2, t = k + 1; i >= 0; i--) {
        while (k >= t && cross(h[k - 2], h[k - 1], p[i]) <= 0) k--;
        h[k++] = p[i];
    }
    return k - 1;
}

/* A rotated rectangle: centre, unit axis u (the "width" direction), half
 * extents along u and its normal. */
typedef struct rrect {
    pt c;
    float ux, uy;
    float hw, hh;
} rrect;

/* Minimum-area rectangle of a convex polygon (rotating calipers: the best
 * rectangle has a side on a hull edge). */
static rrect min_area_rect(const pt *h, int n) {
    rrect best = {{h[0].x, h[0].y}, 1, 0, 0, 0};
    if (n == 1) return best;
    float best_area = INFINITY;
    for (int i = 0; i < n; i++) {
        pt a = h[i], b = h[(i + 1) % n];
        float dx = b.x - a.x, dy = b.y - a.y, len = sqrtf(dx * dx + dy * dy);
        if (len < 1e-6f) continue;
        float ux = dx / len, uy = dy / len;
        float minu = INFINITY, maxu = -INFINITY, minv = INFINITY, maxv = -INFINITY;
        for (int j = 0; j < n; j++) {
            float pu = h[j].x * ux + h[j].y * uy, pv = -h[j].x * uy + h[j].y * ux;
            minu = fminf(minu, pu), maxu = fmaxf(maxu, pu);
            minv = fminf(minv, pv), maxv = fmaxf(maxv, pv);
        }
        float area = (maxu - minu) * (maxv - minv);
        if (area < best_area) {
            best_area = area;
            float cu = (minu + maxu) / 2, cv = (minv + maxv) / 2;
            best.c.x = cu * ux - cv * uy;
            best.c.y = cu * uy + cv * ux;
            best.ux = ux, best.uy = uy;
            best.hw = (maxu - minu) / 2, best.hh = (maxv - minv) / 2;
        }
    }
    /* Make u the more horizontal axis, pointing right, so that width runs
     * along the reading direction of (roughly) horizontal text. */
    if (fabsf(best.ux) < fabsf(best.uy)) {
        float ux = best.ux, uy = best.uy;
        best.ux = uy, best.uy = -ux;
        float t = best.hw;
        best.hw = best.hh, best.hh = t;
    }
    if (best.ux < 0) best.ux = -best.ux, best.uy = -best.uy;
    return best;
}

/* Corners: top-left, top-right, bottom-right, bottom-left (normal v = (-uy,
 * ux) points down in image coordinates when u points right). */
static void rect_corners(const rrect *r, pt q[4]) {
    float vx = -r->uy, vy = r->ux;
    static const float su[4] = {-1, 1, 1, -1}, sv[4] = {-1, -1, 1, 1};
    for (int i = 0; i < 4; i++) {
        q[i].x = r->c.x + su[i] * r->hw * r->ux + sv[i] * r->hh * vx;
        q[i].y = r->c.y + su[i] * r->hw * r->uy + sv[i] * r->hh * vy;
    }
}

/* ---------------------------------------------------------------- DB post-processing */

typedef struct textbox {
    rrect r;                    /* in image pixel coordinates */
    float score;
} textbox;

/* Mean probability inside the rectangle (map coordinates). */
static float rect_score(const float *prob, int W, int H, const rrect *r) {
    pt q[4];
    rect_corners(r, q);
    float x0 = q[0].x, x1 = q[0].x, y0 = q[0].y, y1 = q[0].y;
    for (int i = 1; i < 4; i++) {
        x0 = fminf(x0, q[i].x), x1 = fmaxf(x1, q[i].x);
        y0 = fminf(y0, q[i].y), y1 = fmaxf(y1, q[i].y);
    }
    int ix0 = (int)floorf(x0), ix1 = (int)ceilf(x1), iy0 = (int)floorf(y0), iy1 = (int)ceilf(y1);
    if (ix0 < 0) ix0 = 0;
    if (iy0 < 0) iy0 = 0;
    if (ix1 > W - 1) ix1 = W - 1;
    if (iy1 > H - 1) iy1 = H - 1;
    double sum = 0;
    int cnt = 0;
    for (int y = iy0; y <= iy1; y++)
        for (int x = ix0; x <= ix1; x++) {
            float dx = (float)x + 0.5f - r->c.x, dy = (float)y + 0.5f - r->c.y;
            float pu = dx * r->ux + dy * r->uy, pv = -dx * r->uy + dy * r->ux;
            if (fabsf(pu) <= r->hw + 0.5f && fabsf(pv) <= r->hh + 0.5f) {
                sum += prob[(size_t)y * (size_t)W + (size_t)x];
                cnt++;
            }
        }
    return cnt ? (float)(sum / cnt) : 0;
}

/* Text rectangles from the probability map (W x H), scaled by (sx, sy) to
 * image coordinates. *out malloc'ed. */
static int db_boxes(const float *prob, int W, int H, float sx, float sy, textbox **out, int *nout) {
    size_t npx = (size_t)W * (size_t)H;
    uint8_t *seen = calloc(npx, 1);
    int *stack = malloc(npx * sizeof *stack);
    pt *pts = malloc(2 * (size_t)(H + 1) * sizeof *pts);
    pt *hull = malloc(4 * (size_t)(H + 1) * sizeof *hull);
    int *rmin = malloc((size_t)H * sizeof *rmin), *rmax = malloc((size_t)H * sizeof *rmax);
    textbox *boxes = NULL;
    int nbox = 0, cap = 0, rc = SCRY_OK;
    if (!seen || !stack || !pts || !hull || !rmin || !rmax) {
        rc = SCRY_ENOMEM;
        goto done;
    }
    for (int i = 0; i < H; i++) rmin[i] = INT32_MAX, rmax[i] = -1;
    for (size_t start = 0; start < npx && nbox < DB_MAX_CANDIDATES; start++) {
        if (seen[start] || prob[start] <= DB_THRESH) continue;
        /* Flood fill, remembering each row's extreme pixels (enough for the hull). */
        int sp = 0, ymin = H, ymax = -1, count = 0;
        stack[sp++] = (int)start;
        seen[start] = 1;
        while (sp) {
            int p = stack[--sp], x = p % W, y = p / W;
            count++;
            if (x < rmin[y]) rmin[y] = x;
            if (x > rmax[y]) rmax[y] = x;
            if (y < ymin) ymin = y;
            if (y > ymax) ymax = y;
            for (int dy = -1; dy <= 1; dy++)
                for (int dx = -1; dx <= 1; dx++) {
                    int nx = x + dx, ny = y + dy;
                    if (nx < 0 || ny < 0 || nx >= W || ny >= H) continue;
                    size_t q = (size_t)ny * (size_t)W + (size_t)nx;
                    if (seen[q] || prob[q] <= DB_THRESH) continue;
                    seen[q] = 1;
                    stack[sp++] = (int)q;
                }
        }
        int np = 0;
        for (int y = ymin; y <= ymax; y++) {
            if (rmax[y] < 0) continue;
            pts[np++] = (pt){(float)rmin[y] + 0.5f, (float)y + 0.5f};
            if (rmax[y] != rmin[y]) pts[np++] = (pt){(float)rmax[y] + 0.5f, (float)y + 0.5f};
            rmin[y] = INT32_MAX, rmax[y] = -1;
        }
        if (count < 4) continue;
        int nh = convex_hull(pts, np, hull);
        rrect r = min_area_rect(hull, nh);
        if (2 * fminf(r.hw, r.hh) < 3) continue;
        float score = rect_score(prob, W, H, &r);
        if (score < DB_BOX_THRESH) continue;
        float w = 2 * r.hw, h = 2 * r.hh;
        float d = w * h * DB_UNCLIP / (2 * (w + h));
        r.hw += d, r.hh += d;
        if (2 * fminf(r.hw, r.hh) < 5) continue;
        /* To image coordinates: scale corners, then re-derive the rectangle. */
        pt q[4];
        rect_corners(&r, q);
        for (int i = 0; i < 4; i++) q[i].x *= sx, q[i].y *= sy;
        float ex = q[1].x - q[0].x, ey = q[1].y - q[0].y, fx = q[3].x - q[0].x,
              fy = q[3].y - q[0].y;
        float lw = sqrtf(ex * ex + ey * ey), lh = sqrtf(fx * fx + fy * fy);
        if (lw < 1e-3f || lh < 1e-3f) continue;
        rrect ir = {{(q[0].x + q[2].x) / 2, (q[0].y + q[2].y) / 2}, ex / lw, ey / lw, lw / 2,
                    lh / 2};
        if (nbox == cap) {
            cap = cap ? cap * 2 : 64;
            textbox *nb = realloc(boxes, (size_t)cap * sizeof *nb);
            if (!nb) {
                rc = SCRY_ENOMEM;
                goto done;
            }
            boxes = nb;
        }
        boxes[nbox++] = (textbox){ir, score};
    }
done:
    free(seen), free(stack), free(pts), free(hull), free(rmin), free(rmax);
    if (rc) {
        free(boxes);
        return rc;
    }
    *out = boxes;
    *nout = nbox;
    return SCRY_OK;
}

/* Reading order: by top edge, then left to right among boxes whose tops are
 * within half a line height of each other. */
static int reading_cmp(const void *pa, const void *pb) {
    const textbox *a = pa, *b = pb;
    float ta = a->r.c.y - a->r.hh, tb = b->r.c.y - b->r.hh;
    float tol = 0.5f * fminf(a->r.hh, b->r.hh) * 2;
    if (fabsf(ta - tb) > tol) return ta < tb ? -1 : 1;
    return (a->r.c.x > b->r.c.x) - (a->r.c.x < b->r.c.x);
}

/* ---------------------------------------------------------------- recognition */

static const warp_format REC_FMT = {{0.5f, 0.5f, 0.5f}, {0.5f, 0.5f, 0.5f}, 1, 1, {128, 128, 128}};

static int int_cmp(const void *a, const void *b) { return *(const int *)a - *(const int *)b; }

/* The Chinese-trained recogniser often emits no space between Latin words
 * ("BLOCK441B" for "BLOCK 441B"), but the characters' time steps still show
 * the gap: a step distance of at least 4 and 1.6x the line's median
 * character pitch becomes a word break (a 0 byte in line). */
static void split_on_gaps(const char *line, const int *step, int n, uint8_t *brk) {
    memset(brk, 0, (size_t)n + 1);
    int gaps[512], ng = 0;
    for (int i = 1; i < n && ng < 512; i++)
        if (line[i] && line[i] != ' ' && line[i - 1] && line[i - 1] != ' ')
            gaps[ng++] = step[i] - step[i - 1];
    if (ng < 2) return;
    qsort(gaps, (size_t)ng, sizeof *gaps, int_cmp);
    float limit = fmaxf(4.0f, 1.6f * (float)gaps[ng / 2]);
    for (int i = 1; i < n; i++)
        brk[i] = (float)(step[i] - step[i - 1]) >= limit;
}

/* Read one rectangle; append its words to ws. */
static int rec_box(ocr_model *m, const img_rgb *img, const textbox *tb, words *ws,
                   scry_err *err) {
    const rrect *r = &tb->r;
    pt q[4];
    rect_corners(r, q);
    float cw = 2 * r->hw, ch = 2 * r->hh;
    /* Crop space (x along the text, y across it) -> image, as an affine map
     * from the recogniser's input pixels. */
    int vertical = ch >= 1.5f * cw;
    float len = vertical ? ch : cw, thick = vertical ? cw : ch;
    int W = (int)ceilf((float)REC_H * len / thick);
    if (W < 16) W = 16;
    if (W > REC_MAX_W) W = REC_MAX_W;
    /* Unit steps in the image per input pixel along x (text) and y (across). */
    float ax, ay, bx, by, ox, oy;
    if (!vertical) {
        ax = (q[1].x - q[0].x) / (float)W, ay = (q[1].y - q[0].y) / (float)W;
        bx = (q[3].x - q[0].x) / REC_H, by = (q[3].y - q[0].y) / REC_H;
        ox = q[0].x, oy = q[0].y;
    } else {
        /* Turned 90 degrees counter-clockwise, as PaddleOCR does: the
         * right edge becomes the top one, so the line is read from the
         * top-right corner downwards. */
        ax = (q[2].x - q[1].x) / (float)W, ay = (q[2].y - q[1].y) / (float)W;
        bx = (q[0].x - q[1].x) / REC_H, by = (q[0].y - q[1].y) / REC_H;
        ox = q[1].x, oy = q[1].y;
    }
    warp_affine map = {ax, bx, ox, ay, by, oy};
    float *input = malloc((size_t)3 * REC_H * (size_t)W * sizeof(float));
    if (!input) return scry_fail(err, SCRY_ENOMEM, "out of memory");
    warp_to_tensor(img, &map, W, REC_H, &REC_FMT, input);
    onnx_tensor in = {input, {1, 3, REC_H, W}, 4}, out;
    memset(&out, 0, sizeof out);
    int rc = onnx_run(m->rec, &in, 1, &out, 1, err);
    free(input);
    if (rc) return rc;
    int T = out.rank == 3 ? (int)out.shape[1] : 0, C = out.rank == 3 ? (int)out.shape[2] : 0;
    if (C != m->nkeys + 2) {
        onnx_tensor_free(&out);
        return scry_fail(err, SCRY_EUNSUPPORTED,
                         "recogniser has %d classes but the key file has %d (+2)", C, m->nkeys);
    }
    /* Greedy CTC: the line as folded ASCII with, per byte, its time step
     * and probability. */
    char *line = malloc((size_t)T + 1);
    int *step = malloc(((size_t)T + 1) * sizeof *step);
    float *prob = malloc(((size_t)T + 1) * sizeof *prob);
    uint8_t *brk = malloc((size_t)T + 1);
    if (!line || !step || !prob || !brk) {
        free(line), free(step), free(prob), free(brk), onnx_tensor_free(&out);
        return scry_fail(err, SCRY_ENOMEM, "out of memory");
    }
    int n = 0, prev = 0;
    for (int t = 0; t < T; t++) {
        const float *p = out.data + (size_t)t * (size_t)C;
        int best = 0;
        for (int c = 1; c < C; c++)
            if (p[c] > p[best]) best = c;
        if (best != 0 && best != prev) {
            char ch;
            if (best == C - 1) ch = ' ';
            else {
                int adv;
                ch = fold_char(m->keys[best - 1], &adv);
            }
            line[n] = ch ? ch : 0;   /* 0 = non-Latin: a word break */
            step[n] = t;
            prob[n] = p[best];
            n++;
        }
        prev = best;
    }
    onnx_tensor_free(&out);
    split_on_gaps(line, step, n, brk);
    /* Split into words; a word's box spans its first to last time step. */
    float step_w = (float)W / (float)(T > 0 ? T : 1);
    for (int i = 0; i < n && rc == SCRY_OK;) {
        if (line[i] == ' ' || line[i] == 0) {
            i++;
            continue;
        }
        int j = i;
        while (j < n && line[j] != ' ' && line[j] != 0 && (j == i || !brk[j])) j++;
        int b, e;
        if (trim_word(line, i, j, &b, &e)) {
            float conf = 0;
            for (int k = b; k < e; k++) conf += prob[k];
            conf /= (float)(e - b);
            if (conf >= m->opts.min_conf) {
                float u0 = (float)step[b] * step_w, u1 = (float)(step[e - 1] + 1) * step_w;
                float xs[4], ys[4];
                float us[4] = {u0, u1, u1, u0}, vs[4] = {0, 0, REC_H, REC_H};
                for (int k = 0; k < 4; k++) {
                    xs[k] = ax * us[k] + bx * vs[k] + ox;
                    ys[k] = ay * us[k] + by * vs[k] + oy;
                }
                float x0 = fminf(fminf(xs[0], xs[1]), fminf(xs[2], xs[3]));
                float x1 = fmaxf(fmaxf(xs[0], xs[1]), fmaxf(xs[2], xs[3]));
                float y0 = fminf(fminf(ys[0], ys[1]), fminf(ys[2], ys[3]));
                float y1 = fmaxf(fmaxf(ys[0], ys[1]), fmaxf(ys[2], ys[3]));
                x0 = fmaxf(x0, 0), y0 = fmaxf(y0, 0);
                x1 = fminf(x1, (float)img->w), y1 = fminf(y1, (float)img->h);
                if (words_push(ws, line + b, (size_t)(e - b), x0, y0, fmaxf(x1 - x0, 0),
                               fmaxf(y1 - y0, 0), conf * tb->score))
                    rc = scry_fail(err, SCRY_ENOMEM, "out of memory");
            }
        }
        i = j;
    }
    free(line), free(step), free(prob), free(brk);
    return rc;
}

static int ppocr_read(ocr_model *m, const img_rgb *img, words *ws, scry_err *err) {
    /* Detector input: longest side <= det_max_side, multiples of 32. */
    float side = (float)(img->w > img->h ? img->w : img->h);
    float scale = side > (float)m->opts.det_max_side ? (float)m->opts.det_max_side / side : 1.0f;
    int W = (int)lroundf((float)img->w * scale / 32.0f) * 32;
    int H = (int)lroundf((float)img->h * scale / 32.0f) * 32;
    if (W < 32) W = 32;
    if (H < 32) H = 32;
    /* ImageNet mean/std, given per RGB channel; the tensor is BGR. */
    static const warp_format det_fmt = {
        {0.406f, 0.456f, 0.485f}, {0.225f, 0.224f, 0.229f}, 1, 1, {0, 0, 0}};
    double t0 = scry_mono_s();
    float *input = malloc((size_t)3 * (size_t)W * (size_t)H * sizeof(float));
    if (!input) return scry_fail(err, SCRY_ENOMEM, "out of memory");
    warp_affine map = warp_rect(0, 0, (float)img->w, (float)img->h, W, H);
    warp_to_tensor(img, &map, W, H, &det_fmt, input);
    onnx_tensor in = {input, {1, 3, H, W}, 4}, out;
    memset(&out, 0, sizeof out);
    int rc = onnx_run(m->det, &in, 1, &out, 1, err);
    free(input);
    if (rc) return rc;
    if (onnx_tensor_count(&out) != (size_t)W * (size_t)H) {
        onnx_tensor_free(&out);
        return scry_fail(err, SCRY_EUNSUPPORTED, "text detector output has an unexpected shape");
    }
    textbox *boxes = NULL;
    int nbox = 0;
    rc = db_boxes(out.data, W, H, (float)img->w / (float)W, (float)img->h / (float)H, &boxes,
                  &nbox);
    onnx_tensor_free(&out);
    if (rc) return scry_fail(err, rc, "out of memory in text detection");
    if (nbox > 1) qsort(boxes, (size_t)nbox, sizeof *boxes, reading_cmp);
    double t1 = scry_mono_s();
    for (int i = 0; i < nbox && rc == SCRY_OK; i++) rc = rec_box(m, img, &boxes[i], ws, err);
    free(boxes);
    log_debug("ocr.timing", "det_input=%dx%d lines=%d det_ms=%.0f rec_ms=%.0f", W, H, nbox,
              (t1 - t0) * 1000, (scry_mono_s() - t1) * 1000);
    return rc;
}

/* ---------------------------------------------------------------- Tesseract */

static TessBaseAPI *tess_take(ocr_model *m, scry_err *err) {
    pthread_mutex_lock(&m->lock);
    TessBaseAPI *api = m->npool ? m->pool[--m->npool] : NULL;
    pthread_mutex_unlock(&m->lock);
    if (api) return api;
    api = TessBaseAPICreate();
    if (!api) {
        scry_fail(err, SCRY_ENOMEM, "cannot create a Tesseract instance");
        return NULL;
    }
    if (TessBaseAPIInit3(api, m->tessdata, "eng") != 0) {
        TessBaseAPIDelete(api);
        scry_fail(err, SCRY_ENOTFOUND,
                  "Tesseract cannot load eng.traineddata from %s; install tesseract-ocr-eng "
                  "(./scripts/setup.sh)", m->tessdata);
        return NULL;
    }
    TessBaseAPISetPageSegMode(api, (TessPageSegMode)m->opts.tess_psm);
    /* Photos carry no trustworthy DPI; saying so also silences Tesseract's
     * "Estimating resolution" chatter on stderr. */
    TessBaseAPISetVariable(api, "user_defined_dpi", "300");
    return api;
}

static void tess_give(ocr_model *m, TessBaseAPI *api) {
    TessBaseAPIClear(api);
    pthread_mutex_lock(&m->lock);
    if (m->npool < TESS_POOL) {
        m->pool[m->npool++] = api;
        api = NULL;
    }
    pthread_mutex_unlock(&m->lock);
    if (api) {
        TessBaseAPIEnd(api);
        TessBaseAPIDelete(api);
    }
}

static int tess_read(ocr_model *m, const img_rgb *img, words *ws, scry_err *err) {
    TessBaseAPI *api = tess_take(m, err);
    if (!api) return err ? err->code : SCRY_EIO;
    TessBaseAPISetImage(api, img->px, img->w, img->h, 3, img->w * 3);
    int rc = SCRY_OK;
    if (TessBaseAPIRecognize(api, NULL) != 0) {
        rc = scry_fail(err, SCRY_EIO, "Tesseract recognition failed");
    } else {
        TessResultIterator *it = TessBaseAPIGetIterator(api);
        if (it) {
            do {
                char *text = TessResultIteratorGetUTF8Text(it, RIL_WORD);
                if (!text) continue;
                float conf = TessResultIteratorConfidence(it, RIL_WORD) / 100.0f;
                int x0, y0, x1, y1;
                const TessPageIterator *pi = TessResultIteratorGetPageIteratorConst(it);
                if (conf >= m->opts.min_conf &&
                    TessPageIteratorBoundingBox(pi, RIL_WORD, &x0, &y0, &x1, &y1)) {
                    /* Fold to ASCII; non-Latin characters break the word. */
                    size_t L = strlen(text);
                    char *f = malloc(L + 1);
                    size_t nf = 0;
                    for (size_t i = 0; f && i < L;) {
                        int adv;
                        char c = fold_char(text + i, &adv);
                        f[nf++] = c ? c : ' ';
                        i += (size_t)adv;
                    }
                    for (size_t i = 0; f && i < nf && rc == SCRY_OK;) {
                        if (f[i] == ' ') {
                            i++;
                            continue;
                        }
                        size_t j = i;
                        while (j < nf && f[j] != ' ') j++;
                        int b, e;
                        if (trim_word(f, (int)i, (int)j, &b, &e) &&
                            words_push(ws, f + b, (size_t)(e - b), (float)x0, (float)y0,
                                       (float)(x1 - x0), (float)(y1 - y0), conf))
                            rc = scry_fail(err, SCRY_ENOMEM, "out of memory");
                        i = j;
                    }
                    if (!f) rc = scry_fail(err, SCRY_ENOMEM, "out of memory");
                    free(f);
                }
                TessDeleteText(text);
            } while (rc == SCRY_OK && TessResultIteratorNext(it, RIL_WORD));
            TessResultIteratorDelete(it);
        }
    }
    tess_give(m, api);
    return rc;
}

/* ---------------------------------------------------------------- model */

static int load_keys(ocr_model *m, const char *path, scry_err *err) {
    void *data = NULL;
    size_t n = 0;
    int rc = scry_read_file(path, &data, &n, NULL);
    if (rc)
        return scry_fail(err, rc, "cannot read %s; run ./scripts/setup.sh to fetch the OCR models",
                         path);
    char *buf = data;
    int lines = 0;
    for (size_t i = 0; i < n; i++) lines += buf[i] == '\n';
    m->keys = malloc(((size_t)lines + 1) * sizeof *m->keys);
    if (!m->keys) {
        free(buf);
        return scry_fail(err, SCRY_ENOMEM, "out of memory");
    }
    m->keys_buf = buf;
    char *p = buf, *end = buf + n;
    while (p < end) {
        char *nl = memchr(p, '\n', (size_t)(end - p));
        if (!nl) nl = end;
        *nl = 0;
        if (nl > p && nl[-1] == '\r') nl[-1] = 0;
        m->keys[m->nkeys++] = p;
        p = nl + 1;
    }
    return SCRY_OK;
}

int ocr_load(const char *models_dir, ocr_model **out, scry_err *err) {
    return ocr_load_opts(models_dir, NULL, out, err);
}

int ocr_load_opts(const char *models_dir, const ocr_opts *opts, ocr_model **out, scry_err *err) {
    *out = NULL;
    ocr_model *m = calloc(1, sizeof *m);
    if (!m) return scry_fail(err, SCRY_ENOMEM, "out of memory");
    if (opts) m->opts = *opts;
    else ocr_default_opts(&m->opts);
    if (m->opts.det_max_side < 64) m->opts.det_max_side = 1280;
    pthread_mutex_init(&m->lock, NULL);
    int rc = SCRY_OK;
    if (m->opts.engine == OCR_TESSERACT) {
        const char *td = getenv("TESSDATA_PREFIX");
        snprintf(m->tessdata, sizeof m->tessdata, "%s",
                 td && *td ? td : "/usr/share/tesseract-ocr/5/tessdata");
        /* Create one instance now so that a missing language fails at load. */
        TessBaseAPI *api = tess_take(m, err);
        if (!api) rc = err ? err->code : SCRY_ENOTFOUND;
        else tess_give(m, api);
    } else {
        char path[1024];
        snprintf(path, sizeof path, "%s/ppocrv4_det.onnx", models_dir);
        rc = onnx_model_load(path, &m->det, err);
        if (!rc) {
            snprintf(path, sizeof path, "%s/ppocrv4_rec.onnx", models_dir);
            rc = onnx_model_load(path, &m->rec, err);
        }
        if (!rc) {
            snprintf(path, sizeof path, "%s/ppocr_keys_v1.txt", models_dir);
            rc = load_keys(m, path, err);
        }
    }
    if (rc) {
        ocr_free(m);
        return rc;
    }
    *out = m;
    return SCRY_OK;
}

void ocr_free(ocr_model *m) {
    if (!m) return;
    onnx_model_free(m->det);
    onnx_model_free(m->rec);
    for (int i = 0; i < m->npool; i++) {
        TessBaseAPIEnd(m->pool[i]);
        TessBaseAPIDelete(m->pool[i]);
    }
    pthread_mutex_destroy(&m->lock);
    free(m->keys);
    free(m->keys_buf);
    free(m);
}

int ocr_read(ocr_model *m, const img_rgb *img, ocr_word **out, int *n, scry_err *err) {
    *out = NULL;
    *n = 0;
    if (!img || !img->px || img->w <= 0 || img->h <= 0)
        return scry_fail(err, SCRY_EINVAL, "ocr_read: empty image");
    words ws = {0};
    int rc = m->opts.engine == OCR_TESSERACT ? tess_read(m, img, &ws, err)
                                               : ppocr_read(m, img, &ws, err);
    if (rc) {
        ocr_words_free(ws.v, ws.n);
        return rc;
    }
    if (ws.n == 0) {
        free(ws.v);
        return SCRY_OK;
    }
    *out = ws.v;
    *n = ws.n;
    return SCRY_OK;
}
