/* warp.c -- see warp.h.
 *
 * The inner loop works in source pixel-centre coordinates: a bilinear tap at
 * (x, y) blends the four pixels around (x-0.5, y-0.5). Taps outside the image
 * blend with the pad colour, so letterbox borders come out clean rather than
 * smeared edge pixels. */
#include "vision/warp.h"

#include <math.h>

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

void warp_to_tensor(const img_rgb *src, const warp_affine *m, int dw, int dh,
                    const warp_format *fmt, float *out) {
    /* Footprint of one destination pixel in the source, per axis. */
    float sx = sqrtf(m->a * m->a + m->d * m->d);
    float sy = sqrtf(m->b * m->b + m->e * m->e);
    int kx = sx > 1.5f ? (int)ceilf(sx) : 1, ky = sy > 1.5f ? (int)ceilf(sy) : 1;
    if (kx > 4) kx = 4;
    if (ky > 4) ky = 4;
    float inv_k = 1.0f / (float)(kx * ky);
    float mul[3], add[3];
    for (int c = 0; c < 3; c++) {
        mul[c] = 1.0f / (255.0f * fmt->std[c]);
        add[c] = -fmt->mean[c] / fmt->std[c];
    }
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
            size_t at = (size_t)v * (size_t)dw + (size_t)u;
            for (int c = 0; c < 3; c++) {
                int oc = fmt->bgr ? 2 - c : c;
                float val = acc[c] * inv_k * mul[c] + add[c];
                if (fmt->planar) out[(size_t)oc * plane + at] = val;
                else out[at * 3 + (size_t)oc] = val;
            }
        }
    }
}

warp_affine warp_rect(float x, float y, float w, float h, int dw, int dh) {
    warp_affine m = {w / (float)dw, 0, x, 0, h / (float)dh, y};
    return m;
}
