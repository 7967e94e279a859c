/* facecrop.c -- see facecrop.h.
 *
 * Both kernels follow TF.js's CPU implementations line for line
 * (cropAndResize: box corners normalised in float32, scale
 * (y2 - y1) * (H - 1) / (side - 1), bilinear with floor/ceil neighbours,
 * extrapolation value 0; resizeBilinear: source = dest * in / out), so the
 * tensors we feed match Human's to float rounding. */
#include "vision/facecrop.h"

#include <math.h>

void facecrop_square(float x, float y, float w, float h, float scale, double sq[4]) {
    double cx = x + w / 2.0, cy = y + h / 2.0;
    double half = fmax(w * (double)scale, h * (double)scale) / 2.0;
    sq[0] = floor(cx - half + 0.5);
    sq[1] = floor(cy - half + 0.5);
    sq[2] = floor(cx + half + 0.5);
    sq[3] = floor(cy + half + 0.5);
}

void facecrop_pixel(const img_rgb *img, double fy, double fx, float rgb[3]) {
    int y0 = (int)floor(fy), y1 = (int)ceil(fy), x0 = (int)floor(fx), x1 = (int)ceil(fx);
    if (y1 > img->h - 1) y1 = img->h - 1;
    if (x1 > img->w - 1) x1 = img->w - 1;
    double wy = fy - y0, wx = fx - x0;
    const size_t stride = (size_t)img->w * 3;
    const uint8_t *r0 = img->px + (size_t)y0 * stride, *r1 = img->px + (size_t)y1 * stride;
    for (int c = 0; c < 3; c++) {
        double top = r0[x0 * 3 + c] + ((double)r0[x1 * 3 + c] - r0[x0 * 3 + c]) * wx;
        double bot = r1[x0 * 3 + c] + ((double)r1[x1 * 3 + c] - r1[x0 * 3 + c]) * wx;
        rgb[c] = (float)(top + (bot - top) * wy);
    }
}

void facecrop_sample(const img_rgb *img, const double sq[4], int side, int step, int n,
                     float *out) {
    /* the cropAndResize box, normalised in float32 as the tensor holds it */
    float y1n = (float)(sq[1] / img->h), x1n = (float)(sq[0] / img->w);
    float y2n = (float)(sq[3] / img->h), x2n = (float)(sq[2] / img->w);
    double hs = ((double)y2n - y1n) * (img->h - 1) / (side - 1);
    double ws = ((double)x2n - x1n) * (img->w - 1) / (side - 1);
    for (int i = 0; i < n; i++) {
        double fy = (double)y1n * (img->h - 1) + (double)(i * step) * hs;
        int row_in = fy >= 0 && fy <= img->h - 1;
        for (int j = 0; j < n; j++) {
            double fx = (double)x1n * (img->w - 1) + (double)(j * step) * ws;
            float *o = out + ((size_t)i * n + j) * 3;
            if (row_in && fx >= 0 && fx <= img->w - 1) facecrop_pixel(img, fy, fx, o);
            else o[0] = o[1] = o[2] = 0;   /* extrapolation value: black */
        }
    }
}

void facecrop_resize(const float *in, int ih, int iw, int ch, float *out, int oh, int ow) {
    const double ry = (double)ih / oh, rx = (double)iw / ow;
    for (int i = 0; i < oh; i++) {
        double fy = ry * i;
        int y0 = (int)floor(fy), y1 = (int)ceil(fy);
        if (y1 > ih - 1) y1 = ih - 1;
        double wy = fy - y0;
        const float *r0 = in + (size_t)y0 * iw * ch, *r1 = in + (size_t)y1 * iw * ch;
        for (int j = 0; j < ow; j++) {
            double fx = rx * j;
            int x0 = (int)floor(fx), x1 = (int)ceil(fx);
            if (x1 > iw - 1) x1 = iw - 1;
            double wx = fx - x0;
            for (int c = 0; c < ch; c++) {
                double tl = r0[x0 * ch + c], tr = r0[x1 * ch + c];
                double bl = r1[x0 * ch + c], br = r1[x1 * ch + c];
                double top = tl + (tr - tl) * wx, bot = bl + (br - bl) * wx;
                out[((size_t)i * ow + j) * ch + c] = (float)(top + (bot - top) * wy);
            }
        }
    }
}
