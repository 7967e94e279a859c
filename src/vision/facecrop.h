/* facecrop.h -- the face crop Human (@vladmandic/human 3.3.6) feeds to its
 * face models, shared by the emotion and face-attribute classifiers.
 *
 * Human turns a detector box into a face tensor in two steps, read from its
 * dist/human.node.js: the box is enlarged about its centre by
 * detector.scale (1.4) and made square on its longer side with corners
 * rounded (JS Math.round); that square is cut out with TF's cropAndResize to
 * a fixed side (256 when there is no face mesh, our case), outside the image
 * reading as black. Each model then resizes that tensor to its own input.
 * Reproducing those steps exactly (TF.js's CPU kernels: floor/ceil
 * neighbours, box normalised to the image in float32) is what lets setup
 * check our C pre-processing against TF.js to float rounding.
 *
 * Everything here is pure arithmetic on the caller's buffers: thread-safe. */
#ifndef SCRY_FACECROP_H
#define SCRY_FACECROP_H

#include "vision/image.h"

#define FACECROP_SCALE 1.4f     /* Human's face.detector.scale */
#define FACECROP_SIDE 256       /* Human's face tensor side without a mesh model */

/* The square Human crops for detector box (x, y, w, h) enlarged by scale:
 * sq = {x0, y0, x1, y1} in image pixels (rounded, may lie outside). */
void facecrop_square(float x, float y, float w, float h, float scale, double sq[4]);

/* Sample the side x side cropAndResize of square sq at every step-th row and
 * column: out[(i*n + j)*3 + c] = crop pixel (i*step, j*step), 0..255 as the
 * float32 TF.js holds, for i, j < n (n*step <= side). step 1 and n = side
 * is the whole crop. */
void facecrop_sample(const img_rgb *img, const double sq[4], int side, int step, int n,
                     float *out);

/* One bilinear sample of img at (fy, fx), floor/ceil neighbours clamped to
 * the image, as TF.js's kernels take it (0..255). */
void facecrop_pixel(const img_rgb *img, double fy, double fx, float rgb[3]);

/* TF's legacy resizeBilinear (align_corners and half_pixel_centers false) of
 * an interleaved float image with ch channels, in double arithmetic stored
 * as float, as TF.js's CPU kernel computes it. */
void facecrop_resize(const float *in, int ih, int iw, int ch, float *out, int oh, int ow);

#endif
