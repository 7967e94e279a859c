/* Unit tests for vision/warp: exact on identity maps, layouts and channel
 * order as asked, padding outside the source, area averaging on shrink. */
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vision/warp.h"

static img_rgb gradient(int w, int h) {
    img_rgb im = {w, h, malloc((size_t)w * h * 3)};
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            uint8_t *p = im.px + ((size_t)y * w + x) * 3;
            p[0] = (uint8_t)(x * 7), p[1] = (uint8_t)(y * 11), p[2] = (uint8_t)(x + y);
        }
    return im;
}

/* mean 0, std 1/255: the tensor holds raw 0..255 values. */
static const warp_format RAW_NHWC = {{0, 0, 0}, {1 / 255.f, 1 / 255.f, 1 / 255.f}, 0, 0, {9, 9, 9}};

static void test_identity_is_exact(void **state) {
    (void)state;
    img_rgb im = gradient(13, 7);
    float *out = malloc(13 * 7 * 3 * sizeof(float));
    warp_affine id = warp_rect(0, 0, 13, 7, 13, 7);
    warp_to_tensor(&im, &id, 13, 7, &RAW_NHWC, out);
    for (int i = 0; i < 13 * 7 * 3; i++) assert_true(fabsf(out[i] - im.px[i]) < 1e-3f);
    free(out);
    free(im.px);
}

static void test_planar_bgr_normalised(void **state) {
    (void)state;
    img_rgb im = gradient(5, 4);
    float *out = malloc(5 * 4 * 3 * sizeof(float));
    warp_format f = {{0.1f, 0.2f, 0.3f}, {0.5f, 0.25f, 0.125f}, 1, 1, {0, 0, 0}};
    warp_affine id = warp_rect(0, 0, 5, 4, 5, 4);
    warp_to_tensor(&im, &id, 5, 4, &f, out);
    for (int y = 0; y < 4; y++)
        for (int x = 0; x < 5; x++) {
            const uint8_t *p = im.px + ((size_t)y * 5 + x) * 3;
            int at = y * 5 + x;
            /* plane 0 = blue, plane 2 = red */
            assert_true(fabsf(out[0 * 20 + at] - (p[2] / 255.f - 0.3f) / 0.125f) < 1e-3f);
            assert_true(fabsf(out[1 * 20 + at] - (p[1] / 255.f - 0.2f) / 0.25f) < 1e-3f);
            assert_true(fabsf(out[2 * 20 + at] - (p[0] / 255.f - 0.1f) / 0.5f) < 1e-3f);
        }
    free(out);
    free(im.px);
}

static void test_pad_and_shrink(void **state) {
    (void)state;
    /* Letterbox a 40x20 image into 20x20: top and bottom quarters are pad. */
    img_rgb im = {40, 20, malloc(40 * 20 * 3)};
    for (int i = 0; i < 40 * 20; i++) {
        /* 1-pixel checkerboard: averages to 127.5 when shrunk 2x. */
        int x = i % 40, y = i / 40;
        memset(im.px + i * 3, (x + y) % 2 ? 255 : 0, 3);
    }
    float out[20 * 20 * 3];
    warp_affine box = warp_rect(0, -10, 40, 40, 20, 20);
    warp_to_tensor(&im, &box, 20, 20, &RAW_NHWC, out);
    assert_true(fabsf(out[0] - 9) < 1e-3f);                       /* row 0: pad */
    assert_true(fabsf(out[(19 * 20 + 19) * 3] - 9) < 1e-3f);      /* row 19: pad */
    for (int y = 6; y < 14; y++)
        for (int x = 1; x < 19; x++) assert_true(fabsf(out[(y * 20 + x) * 3] - 127.5f) < 1.0f);
    free(im.px);
}

/* The separable path for axis-aligned maps computes what the general path
 * (taken for any map with a shear term) does, to float rounding: compared on
 * noise, for shrinks with 1..4 samples per axis, upscales, letterbox pads and
 * crops hanging over every edge. */
static void test_separable_matches_general(void **state) {
    (void)state;
    img_rgb im = {203, 151, malloc(203 * 151 * 3)};
    srand(7);
    for (int i = 0; i < 203 * 151 * 3; i++) im.px[i] = (uint8_t)(rand() & 255);
    static const float rects[][6] = {
        /* x, y, w, h, dw, dh */
        {0, -26, 203, 203, 64, 64},      /* letterbox, 3.2x: 4 samples */
        {10, 20, 120, 90, 80, 60},       /* 1.5x: 1 sample */
        {-15, -9, 60, 40, 96, 64},       /* upscale, over the top-left edge */
        {150, 100, 90, 90, 36, 36},      /* 2.5x, over the bottom-right edge */
        {0, 0, 203, 151, 25, 20},        /* 8x: samples capped at 4 */
        {33.3f, 17.7f, 101.1f, 57.9f, 47, 31},
    };
    const warp_format fmts[2] = {RAW_NHWC, {{0.5f, 0.4f, 0.3f}, {0.2f, 0.3f, 0.4f}, 1, 1, {1, 2, 3}}};
    for (size_t r = 0; r < sizeof rects / sizeof rects[0]; r++) {
        int dw = (int)rects[r][4], dh = (int)rects[r][5];
        size_t n = (size_t)dw * (size_t)dh * 3;
        float *a = malloc(n * sizeof(float)), *b = malloc(n * sizeof(float));
        for (int f = 0; f < 2; f++) {
            warp_affine m = warp_rect(rects[r][0], rects[r][1], rects[r][2], rects[r][3], dw, dh);
            warp_to_tensor(&im, &m, dw, dh, &fmts[f], a);
            m.b = 1e-30f;               /* a shear too small to move a sample */
            warp_to_tensor(&im, &m, dw, dh, &fmts[f], b);
            float worst = 0;
            for (size_t i = 0; i < n; i++) worst = fmaxf(worst, fabsf(a[i] - b[i]));
            /* 1e-3 of a grey level (RAW) or of a normalised unit. */
            assert_true(worst < 1e-3f);
        }
        free(a);
        free(b);
    }
    free(im.px);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_identity_is_exact),
        cmocka_unit_test(test_planar_bgr_normalised),
        cmocka_unit_test(test_pad_and_shrink),
        cmocka_unit_test(test_separable_matches_general),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
