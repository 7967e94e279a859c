/* Unit tests for vision/emotion: the real converted mini-Xception on FER2013
 * crops from the shared data (skipped when the model or the data is absent).
 * Floors sit below the figures measured by bench/vision-quality on the same
 * files (docs/vision-objects.md), so a broken pre-processing or label order
 * fails them while ordinary model noise does not. */
#include "testutil.h"

#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../tools/rgbload.h"
#include "core/labels.h"
#include "core/log.h"
#include "vision/emotion.h"

#define PER_CLASS 30

static emotion_model *g_model;

static int setup(void **state) {
    (void)state;
    log_set_level(LOG_WARN);
    char dir[1024], path[1100];
    snprintf(dir, sizeof dir, "%s", tu_deps("models"));
    snprintf(path, sizeof path, "%s/%s", dir, EMOTION_MODEL_FILE);
    FILE *f = fopen(path, "rb");
    if (!f) return 0;
    fclose(f);
    scry_err err = {0};
    if (emotion_load(dir, &g_model, &err)) fprintf(stderr, "emotion_load: %s\n", err.msg);
    return 0;
}

static int teardown(void **state) {
    (void)state;
    emotion_free(g_model);
    return 0;
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The first `max` crops (by file name) of one FER class; returns how many. */
static int load_class(const char *cls, img_rgb *out, int max) {
    char dir[1024];
    snprintf(dir, sizeof dir, "%s", tu_shared("data/fer2013/"));
    strncat(dir, cls, sizeof dir - strlen(dir) - 1);
    DIR *dp = opendir(dir);
    if (!dp) return 0;
    char *names[256];
    int n = 0;
    struct dirent *e;
    while ((e = readdir(dp)) && n < 256)
        if (e->d_name[0] != '.') names[n++] = strdup(e->d_name);
    closedir(dp);
    qsort(names, (size_t)n, sizeof *names, cmp_str);
    int got = 0;
    for (int i = 0; i < n; i++) {
        char path[2048];
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        if (got < max && rgbload(path, &out[got].w, &out[got].h, &out[got].px) == 0) got++;
        free(names[i]);
    }
    return got;
}

static double class_accuracy(const char *cls) {
    img_rgb faces[PER_CLASS];
    int n = load_class(cls, faces, PER_CLASS);
    if (n == 0) return -1;
    float *s = malloc((size_t)n * SCRY_EMOTION_COUNT * sizeof(float));
    scry_err err = {0};
    assert_int_equal(emotion_classify_crops(g_model, faces, n, s, &err), SCRY_OK);
    int want = scry_emotion_index(cls), right = 0;
    for (int i = 0; i < n; i++) {
        double sum = 0;
        for (int k = 0; k < SCRY_EMOTION_COUNT; k++) {
            assert_true(s[i * SCRY_EMOTION_COUNT + k] >= 0);
            sum += s[i * SCRY_EMOTION_COUNT + k];
        }
        assert_float_equal(sum, 1.0, 1e-4);
        right += emotion_top(s + i * SCRY_EMOTION_COUNT) == want;
        free(faces[i].px);
    }
    free(s);
    print_message("emotion %s: %d/%d top-1\n", cls, right, n);
    return (double)right / n;
}

static void test_happy_crops_mostly_happy(void **state) {
    (void)state;
    if (!g_model) skip();
    double acc = class_accuracy("happy");
    if (acc < 0) skip();
    assert_true(acc >= 0.6);   /* measured 0.67 on these 30 files, 0.75 on all 100 */
}

static void test_other_classes_above_chance(void **state) {
    (void)state;
    if (!g_model) skip();
    /* chance is 1/7; measured on these 30-file subsets: sad 0.53, neutral
     * 0.53, surprise 0.43 */
    double sad = class_accuracy("sad"), neutral = class_accuracy("neutral");
    double surprise = class_accuracy("surprise");
    if (sad < 0) skip();
    assert_true(sad >= 0.4);
    assert_true(neutral >= 0.4);
    assert_true(surprise >= 0.3);
}

/* A face pasted into a bigger picture, classified through its detector box
 * (1.4x margin added inside), agrees with classifying the crop itself. */
static void test_box_in_scene_matches_crop(void **state) {
    (void)state;
    if (!g_model) skip();
    img_rgb faces[PER_CLASS];
    int n = load_class("happy", faces, 12);
    if (n == 0) skip();
    int agree = 0, happy = 0;
    for (int i = 0; i < n; i++) {
        const int W = 320, H = 240, fx = 150, fy = 60;
        img_rgb scene = {.w = W, .h = H, .px = calloc((size_t)W * H * 3, 1)};
        memset(scene.px, 90, (size_t)W * H * 3);
        for (int y = 0; y < faces[i].h; y++)
            memcpy(scene.px + ((size_t)(fy + y) * W + fx) * 3, faces[i].px + (size_t)y * faces[i].w * 3,
                   (size_t)faces[i].w * 3);
        /* the detector box whose 1.4x enlargement is the 48x48 crop */
        float side = faces[i].w / EMOTION_BOX_SCALE;
        float bx = fx + (faces[i].w - side) / 2, by = fy + (faces[i].h - side) / 2;
        float a[SCRY_EMOTION_COUNT], b[SCRY_EMOTION_COUNT];
        scry_err err = {0};
        assert_int_equal(emotion_classify(g_model, &scene, bx, by, side, side, a, &err), SCRY_OK);
        assert_int_equal(emotion_classify_crop(g_model, &faces[i], b, &err), SCRY_OK);
        agree += emotion_top(a) == emotion_top(b);
        happy += emotion_top(a) == scry_emotion_index("happy");
        free(scene.px);
        free(faces[i].px);
    }
    /* Human's cropAndResize maps the box through (size-1)/size, a ~1 px
     * shift against the crop path, and FER models are that sensitive:
     * measured 9/12 agreeing and 8/12 happy on these files */
    print_message("box vs crop: same top class %d/%d, box path happy %d/%d\n", agree, n, happy, n);
    assert_true(agree >= n / 2);
    assert_true(happy >= n / 2);
}

static void test_box_off_the_edge_and_bad_args(void **state) {
    (void)state;
    if (!g_model) skip();
    img_rgb img = {.w = 64, .h = 64, .px = calloc(64 * 64 * 3, 1)};
    float s[SCRY_EMOTION_COUNT];
    scry_err err = {0};
    /* a face box hanging off the corner reads black outside: still a result */
    assert_int_equal(emotion_classify(g_model, &img, -20, -20, 50, 50, s, &err), SCRY_OK);
    float sum = 0;
    for (int k = 0; k < SCRY_EMOTION_COUNT; k++) sum += s[k];
    assert_float_equal(sum, 1.0, 1e-4);
    assert_int_equal(emotion_classify(g_model, &img, 0, 0, 0, 10, s, &err), SCRY_EINVAL);
    img_rgb empty = {0};
    assert_int_equal(emotion_classify_crop(g_model, &empty, s, &err), SCRY_EINVAL);
    free(img.px);
}

static void test_prepare_matches_human_normalisation(void **state) {
    (void)state;
    /* uniform colour: grey = 0.2989 R + 0.587 G + 0.114 B on 0..1, then
     * (g - 0.5) * 2; no model needed */
    img_rgb img = {.w = 10, .h = 10, .px = malloc(300)};
    for (int i = 0; i < 100; i++) {
        img.px[i * 3] = 255;
        img.px[i * 3 + 1] = 0;
        img.px[i * 3 + 2] = 51;
    }
    float in[EMOTION_INPUT_SIZE * EMOTION_INPUT_SIZE];
    emotion_prepare_crop(&img, in);
    double g = 0.2989 + 0.114 * 0.2;
    for (int i = 0; i < EMOTION_INPUT_SIZE * EMOTION_INPUT_SIZE; i++)
        assert_float_equal(in[i], (g - 0.5) * 2, 1e-5);
    /* a box fully outside the image reads as black: -1 everywhere */
    emotion_prepare_box(&img, 100, 100, 5, 5, in);
    for (int i = 0; i < EMOTION_INPUT_SIZE * EMOTION_INPUT_SIZE; i++)
        assert_float_equal(in[i], -1.0, 1e-6);
    free(img.px);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_prepare_matches_human_normalisation),
        cmocka_unit_test(test_happy_crops_mostly_happy),
        cmocka_unit_test(test_other_classes_above_chance),
        cmocka_unit_test(test_box_in_scene_matches_crop),
        cmocka_unit_test(test_box_off_the_edge_and_bad_args),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
