/* warp.h -- sample an RGB8 raster into a model's float input tensor.
 *
 * Every detector and recogniser needs the same step: take a region of the
 * image (a letterboxed square, a tile, a rotated text line), resample it to the
 * network's input size, normalise each channel and lay it out the way the
 * network wants (NHWC or NCHW, RGB or BGR). Doing it in one pass straight from
 * the RGB8 raster into the float tensor avoids an intermediate resized image.
 *
 * The region is given as an affine map from destination pixel centres to
 * source coordinates, so crops, scales, letterboxes and rotations are all one
 * code path. Sampling is bilinear; when the map shrinks the source by more
 * than 1.5x we average a k x k grid of bilinear taps over the destination
 * pixel's footprint (k <= 4) so that small text and small faces are not
 * aliased away. Pixels that fall outside the source take the pad colour.
 *
 * Self-contained (no libvips): it runs inside worker threads on memory the
 * caller owns; axis-aligned maps take a separable path that mallocs a few
 * rows of scratch (and falls back to the general path if it cannot). */
#ifndef SCRY_WARP_H
#define SCRY_WARP_H

#include "vision/image.h"

/* Source point (x, y) of destination pixel centre (u+0.5, v+0.5):
 *   x = a*(u+0.5) + b*(v+0.5) + c,  y = d*(u+0.5) + e*(v+0.5) + f
 * (source pixel centres are at integer+0.5 too). */
typedef struct warp_affine {
    float a, b, c;
    float d, e, f;
} warp_affine;

typedef struct warp_format {
    float mean[3];              /* out = (px/255 - mean[ch]) / std[ch], per RGB channel */
    float std[3];
    int bgr;                    /* 1: channel order B,G,R in the tensor */
    int planar;                 /* 1: NCHW (C planes of h*w); 0: NHWC interleaved */
    unsigned char pad[3];       /* RGB colour of pixels outside the source */
} warp_format;

/* Fill out (3*dw*dh floats) with the region of src that m maps onto a
 * dw x dh destination. */
void warp_to_tensor(const img_rgb *src, const warp_affine *m, int dw, int dh,
                    const warp_format *fmt, float *out);

/* The map that fits the rectangle (x, y, w, h) of the source into dw x dh,
 * scaling both axes independently. */
warp_affine warp_rect(float x, float y, float w, float h, int dw, int dh);

#endif
