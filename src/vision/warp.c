/* warp.c -- see warp.h.
 *
 * The inner loop works in source pixel-centre coordinates: a bilinear tap at
 * (x, y) blends the four pixels around (x-0.5, y-0.5). Taps outside the image
 * blend with the pad colour, so letterbox borders come out clean rather than
 * smeared edge pixels.
 *
 * Axis-aligned maps (every crop, tile and letterbox; only OCR's rotated text
 * lines are not) take a separable path with the same arithmetic: k bilinear
 * taps averaged per axis are a fixed set of (source index, weight) pairs per
 * destination column and per destination row, so each needed source row is
 * filtered horizontally once (kept in a small direct-mapped cache of rows)
 * and the rows are then blended vertically. For a 640-px photo shrunk to
 * 256 with 3x3 taps that is ~3x less work than tapping every sample; the
 * results agree to float rounding (tests/unit/test_warp.c). */
#include "vision/warp.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static inline void px_at(const img_rgb *s, int x, int y, const unsigned char pad[3],
                         float rgb[3]) {
    if (x < 0 || y < 0 || x >= s->w || y >= s->h) {
        rgb[0] = pad[0], rgb[1] = pad[1], rgb[2] = pad[2];
        return;
    }
    const uint8_t *p = s->px + ((size_t)y * (size_t)s->w + (size_t)x) * 3;
    rgb[0] = p[0], rgb[1] = p[1], rgb[2] = p[2];
}

static void tap(const img_rgb *s, float x, float y, const unsigned char pad[3], float acc[3]) {
    x -= 0.5f;
    y -= 0.5f;
    float fx = floorf(x), fy = floorf(y);
    int x0 = (int)fx, y0 = (int)fy;
    float ax = x - fx, ay = y - fy;
    if (x0 >= 0 && y0 >= 0 && x0 + 1 < s->w && y0 + 1 < s->h) {
        /* Fast path, all four pixels inside: no bounds checks, no copies. */
        size_t stride = (size_t)s->w * 3;
        const uint8_t *p = s->px + (size_t)y0 * stride + (size_t)x0 * 3, *q = p + stride;
        for (int c = 0; c < 3; c++) {
            float top = (float)p[c] + ((float)p[c + 3] - (float)p[c]) * ax;
            float bot = (float)q[c] + ((float)q[c + 3] - (float)q[c]) * ax;
            acc[c] += top + (bot - top) * ay;
        }
        return;
    }
    float p00[3], p10[3], p01[3], p11[3];
    px_at(s, x0, y0, pad, p00);
    px_at(s, x0 + 1, y0, pad, p10);
    px_at(s, x0, y0 + 1, pad, p01);
    px_at(s, x0 + 1, y0 + 1, pad, p11);
    for (int c = 0; c < 3; c++) {
        float top = p00[c] + (p10[c] - p00[c]) * ax;
        float bot = p01[c] + (p11[c] - p01[c]) * ax;
        acc[c] += top + (bot - top) * ay;
    }
}

/* Samples per destination pixel along an axis of footprint s source pixels. */
static int samples_for(float s) {
    int k = s > 1.5f ? (int)ceilf(s) : 1;
    return k > 4 ? 4 : k;
}

static void store(const warp_format *fmt, const float mul[3], const float add[3], float *out,
                  size_t plane, size_t at, const float acc[3], float scale) {
    for (int c = 0; c < 3; c++) {
        int oc = fmt->bgr ? 2 - c : c;
        float val = acc[c] * scale * mul[c] + add[c];
        if (fmt->planar) out[(size_t)oc * plane + at] = val;
        else out[at * 3 + (size_t)oc] = val;
    }
}

/* ------------------------------------------------ separable (axis-aligned) */

#define MAX_TAPS 8              /* 4 samples x 2 bilinear neighbours */
#define ROW_CACHE 16

typedef struct axis_taps {
    int n;
    int idx[MAX_TAPS];          /* source pixel index */
    float w[MAX_TAPS];          /* weights; with pad_w they sum to 1 */
    float pad_w;                /* total weight of taps outside the source */
} axis_taps;

/* The taps of destination index u: k samples at scale*(u+(i+0.5)/k)+offset,
 * each blending the two source pixels around it. Taps outside [0, len) are
 * folded into pad_w (they all read the pad colour), so that the inner loops
 * only ever read inside the source. */
static void make_taps(float scale, float offset, int k, int u, int len, axis_taps *t) {
    t->n = 0;
    t->pad_w = 0;
    for (int i = 0; i < k; i++) {
        float x = scale * ((float)u + ((float)i + 0.5f) / (float)k) + offset - 0.5f;
        float fx = floorf(x);
        int x0 = (int)fx;
        float ax = x - fx;
        int idx[2] = {x0, x0 + 1};
        float w[2] = {(1.0f - ax) / (float)k, ax / (float)k};
        for (int j = 0; j < 2; j++) {
            if (idx[j] < 0 || idx[j] >= len) {
                t->pad_w += w[j];
                continue;
            }
            int at = 0;
            while (at < t->n && t->idx[at] != idx[j]) at++;
            if (at == t->n) t->idx[t->n] = idx[j], t->w[t->n++] = 0;
            t->w[at] += w[j];
        }
    }
}

/* Source row y filtered horizontally into dw*3 floats; fsrc is scratch for
 * the row as floats (each source pixel feeds several taps: convert once). */
static void filter_row(const img_rgb *s, int y, const axis_taps *cols, int dw,
                       const unsigned char pad[3], float *fsrc, float *dst) {
    if (y < 0 || y >= s->h) {
        for (int u = 0; u < dw; u++)
            for (int c = 0; c < 3; c++) dst[u * 3 + c] = pad[c];
        return;
    }
    const uint8_t *row = s->px + (size_t)y * (size_t)s->w * 3;
    for (int i = 0; i < s->w * 3; i++) fsrc[i] = (float)row[i];
    const float p0 = pad[0], p1 = pad[1], p2 = pad[2];
    for (int u = 0; u < dw; u++) {
        const axis_taps *t = &cols[u];
        float a0 = t->pad_w * p0, a1 = t->pad_w * p1, a2 = t->pad_w * p2;
        for (int j = 0; j < t->n; j++) {
            const float *p = fsrc + (size_t)t->idx[j] * 3;
            const float w = t->w[j];
            a0 += w * p[0], a1 += w * p[1], a2 += w * p[2];
        }
        dst[u * 3] = a0, dst[u * 3 + 1] = a1, dst[u * 3 + 2] = a2;
    }
}

/* Returns 0 when it could not allocate its scratch (the caller falls back). */
static int warp_separable(const img_rgb *src, const warp_affine *m, int dw, int dh,
                          const warp_format *fmt, const float mul[3], const float add[3],
                          float *out) {
    int kx = samples_for(fabsf(m->a)), ky = samples_for(fabsf(m->e));
    size_t row_floats = (size_t)dw * 3;
    axis_taps *cols = malloc((size_t)dw * sizeof *cols);
    float *rows = malloc((ROW_CACHE * row_floats + row_floats + (size_t)src->w * 3) *
                         sizeof(float));
    if (!cols || !rows) {
        free(cols);
        free(rows);
        return 0;
    }
    float *acc = rows + ROW_CACHE * row_floats, *fsrc = acc + row_floats;
    int cached[ROW_CACHE];
    for (int i = 0; i < ROW_CACHE; i++) cached[i] = INT32_MIN;
    for (int u = 0; u < dw; u++) make_taps(m->a, m->c, kx, u, src->w, &cols[u]);
    const float p[3] = {fmt->pad[0], fmt->pad[1], fmt->pad[2]};
    size_t plane = (size_t)dw * (size_t)dh;
    for (int v = 0; v < dh; v++) {
        axis_taps rt;
        make_taps(m->e, m->f, ky, v, src->h, &rt);
        for (int u = 0; u < dw; u++)
            for (int c = 0; c < 3; c++) acc[u * 3 + c] = rt.pad_w * p[c];
        for (int j = 0; j < rt.n; j++) {
            int y = rt.idx[j];
            int slot = (int)((unsigned)y % ROW_CACHE);
            float *r = rows + (size_t)slot * row_floats;
            if (cached[slot] != y) {
                filter_row(src, y, cols, dw, fmt->pad, fsrc, r);
                cached[slot] = y;
            }
            const float w = rt.w[j];
            for (size_t i = 0; i < row_floats; i++) acc[i] += w * r[i];
        }
        if (!fmt->planar && !fmt->bgr) {
            float *o = out + (size_t)v * row_floats;
            for (size_t i = 0; i < row_floats; i++) o[i] = acc[i] * mul[i % 3] + add[i % 3];
        } else {
            for (int u = 0; u < dw; u++)
                store(fmt, mul, add, out, plane, (size_t)v * (size_t)dw + (size_t)u,
                      acc + u * 3, 1.0f);
        }
    }
    free(cols);
    free(rows);
    return 1;
}

/* ---------------------------------------------------------------- general */

void warp_to_tensor(const img_rgb *src, const warp_affine *m, int dw, int dh,
                    const warp_format *fmt, float *out) {
    float mul[3], add[3];
    for (int c = 0; c < 3; c++) {
        mul[c] = 1.0f / (255.0f * fmt->std[c]);
        add[c] = -fmt->mean[c] / fmt->std[c];
    }
    if (m->b == 0 && m->d == 0 && warp_separable(src, m, dw, dh, fmt, mul, add, out)) return;
    /* Footprint of one destination pixel in the source, per axis. */
    float sx = sqrtf(m->a * m->a + m->d * m->d);
    float sy = sqrtf(m->b * m->b + m->e * m->e);
    int kx = samples_for(sx), ky = samples_for(sy);
    float inv_k = 1.0f / (float)(kx * ky);
    size_t plane = (size_t)dw * (size_t)dh;
    for (int v = 0; v < dh; v++) {
        for (int u = 0; u < dw; u++) {
            float acc[3] = {0, 0, 0};
            for (int j = 0; j < ky; j++) {
                float vv = (float)v + ((float)j + 0.5f) / (float)ky;
                for (int i = 0; i < kx; i++) {
                    float uu = (float)u + ((float)i + 0.5f) / (float)kx;
                    tap(src, m->a * uu + m->b * vv + m->c, m->d * uu + m->e * vv + m->f,
                        fmt->pad, acc);
                }
            }
            store(fmt, mul, add, out, plane, (size_t)v * (size_t)dw + (size_t)u, acc, inv_k);
        }
    }
}

warp_affine warp_rect(float x, float y, float w, float h, int dw, int dh) {
    warp_affine m = {w / (float)dw, 0, x, 0, h / (float)dh, y};
    return m;
}
