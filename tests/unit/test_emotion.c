/* Unit tests for vision/emotion: the two real converted models (face-api's
 * expression net, the default, and Human's mini-Xception) on FER2013 crops
 * from the shared data (skipped when a model or the data is absent).
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

static emotion_model *g_model;   /* the default: face-api + mirror */
static emotion_model *g_old;     /* mini-Xception */

static emotion_model *load_if_there(const char *dir, const char *file, int kind) {
    char path[1100];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fclose(f);
    scry_err err = {0};
    emotion_model *m = NULL;
    if (emotion_load_kind(dir, kind, &m, &err)) fprintf(stderr, "emotion_load: %s\n", err.msg);
    return m;
}

static int setup(void **state) {
    (void)state;
    log_set_level(LOG_WARN);
    char dir[1024];
    snprintf(dir, sizeof dir, "%s", tu_deps("models"));
    g_model = load_if_there(dir, EMOTION_FACEAPI_FILE, EMOTION_FACEAPI);
    g_old = load_if_there(dir, EMOTION_MODEL_FILE, EMOTION_MINI_XCEPTION);
    return 0;
}

static int teardown(void **state) {
    (void)state;
    emotion_free(g_model);
    emotion_free(g_old);
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

static double class_accuracy(emotion_model *model, const char *cls) {
    img_rgb faces[PER_CLASS];
    int n = load_class(cls, faces, PER_CLASS);
    if (n == 0) return -1;
    float *s = malloc((size_t)n * SCRY_EMOTION_COUNT * sizeof(float));
    scry_err err = {0};
    assert_int_equal(emotion_classify_crops(model, faces, n, s, &err), SCRY_OK);
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
    if (!g_model || !g_old) skip();
    double acc = class_accuracy(g_model, "happy"), old = class_accuracy(g_old, "happy");
    if (acc < 0) skip();
    assert_true(acc >= 0.6);   /* face-api + mirror measured 0.73 on these 30 files */
    assert_true(old >= 0.6);   /* mini-Xception 0.67 on these 30 files, 0.75 on all 100 */
}

static void test_other_classes_above_chance(void **state) {
    (void)state;
    if (!g_model) skip();
    /* chance is 1/7; floors under what face-api + mirror measured on these
     * 30-file subsets: sad 0.60, neutral 0.53, surprise 0.50, disgust 0.83,
     * angry 0.50 */
    double sad = class_accuracy(g_model, "sad"), neutral = class_accuracy(g_model, "neutral");
    double surprise = class_accuracy(g_model, "surprise"), disgust = class_accuracy(g_model, "disgust");
    double angry = class_accuracy(g_model, "angry");
    if (sad < 0) skip();
    assert_true(sad >= 0.4);
    assert_true(neutral >= 0.4);
    assert_true(surprise >= 0.35);
    assert_true(disgust >= 0.6);
    assert_true(angry >= 0.35);
}

/* A face pasted into a bigger picture, classified through its detector box
 * (the model's margin added inside), agrees with classifying the crop
 * itself; for both models. */
static void box_in_scene(emotion_model *model, float scale) {
    img_rgb faces[PER_CLASS];
    int n = load_class("happy", faces, 12);
    if (n == 0) return;
    int agree = 0, happy = 0;
    for (int i = 0; i < n; i++) {
        const int W = 320, H = 240, fx = 150, fy = 60;
        img_rgb scene = {.w = W, .h = H, .px = calloc((size_t)W * H * 3, 1)};
        memset(scene.px, 90, (size_t)W * H * 3);
        for (int y = 0; y < faces[i].h; y++)
            memcpy(scene.px + ((size_t)(fy + y) * W + fx) * 3, faces[i].px + (size_t)y * faces[i].w * 3,
                   (size_t)faces[i].w * 3);
        /* the detector box whose 1.4x enlargement is the 48x48 crop */
        float side = faces[i].w / scale;
        float bx = fx + (faces[i].w - side) / 2, by = fy + (faces[i].h - side) / 2;
        float a[SCRY_EMOTION_COUNT], b[SCRY_EMOTION_COUNT];
        scry_err err = {0};
        assert_int_equal(emotion_classify(model, &scene, bx, by, side, side, a, &err), SCRY_OK);
        assert_int_equal(emotion_classify_crop(model, &faces[i], b, &err), SCRY_OK);
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

static void test_box_in_scene_matches_crop(void **state) {
    (void)state;
    if (!g_model || !g_old) skip();
    box_in_scene(g_model, EMOTION_FACEAPI_BOX_SCALE);
    box_in_scene(g_old, EMOTION_BOX_SCALE);
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
    /* face-api: RGB 0..255 kept (its mean and /255 are in the graph); the
     * box path reads black outside the image */
    static float rgb[EMOTION_FACEAPI_SIZE * EMOTION_FACEAPI_SIZE * 3];
    emotion_prepare_crop_faceapi(&img, rgb);
    for (int i = 0; i < EMOTION_FACEAPI_SIZE * EMOTION_FACEAPI_SIZE; i++) {
        assert_float_equal(rgb[i * 3], 255, 1e-4);
        assert_float_equal(rgb[i * 3 + 1], 0, 1e-4);
        assert_float_equal(rgb[i * 3 + 2], 51, 1e-4);
    }
    emotion_prepare_box_faceapi(&img, 100, 100, 5, 5, rgb);
    for (int i = 0; i < EMOTION_FACEAPI_SIZE * EMOTION_FACEAPI_SIZE * 3; i++)
        assert_float_equal(rgb[i], 0, 1e-6);
    free(img.px);
}

/* The mirror view changes the scores but is a real second view: with it
 * off, face-api's scores are those of the crop alone. */
static void test_mirror_view(void **state) {
    (void)state;
    if (!g_model) skip();
    img_rgb faces[4];
    int n = load_class("happy", faces, 4);
    if (n == 0) skip();
    scry_err err = {0};
    emotion_model *m = NULL;
    assert_int_equal(emotion_load_kind(tu_deps("models"), EMOTION_FACEAPI, &m, &err), SCRY_OK);
    float on[SCRY_EMOTION_COUNT], off[SCRY_EMOTION_COUNT], mir[SCRY_EMOTION_COUNT];
    assert_int_equal(emotion_classify_crop(m, &faces[0], on, &err), SCRY_OK);
    emotion_set_flip(m, 0);
    assert_int_equal(emotion_classify_crop(m, &faces[0], off, &err), SCRY_OK);
    img_rgb flipped = {.w = faces[0].w, .h = faces[0].h, .px = malloc((size_t)faces[0].w * faces[0].h * 3)};
    for (int y = 0; y < flipped.h; y++)
        for (int x = 0; x < flipped.w; x++)
            memcpy(flipped.px + ((size_t)y * flipped.w + x) * 3,
                   faces[0].px + ((size_t)y * flipped.w + flipped.w - 1 - x) * 3, 3);
    assert_int_equal(emotion_classify_crop(m, &flipped, mir, &err), SCRY_OK);
    double d = 0;
    for (int k = 0; k < SCRY_EMOTION_COUNT; k++) {
        d += fabs(on[k] - off[k]);
        /* the average of the two views, up to the legacy resize's asymmetry */
        assert_float_equal(on[k], (off[k] + mir[k]) / 2, 0.05);
    }
    assert_true(d > 1e-4);
    emotion_free(m);
    free(flipped.px);
    for (int i = 0; i < n; i++) free(faces[i].px);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_prepare_matches_human_normalisation),
        cmocka_unit_test(test_happy_crops_mostly_happy),
        cmocka_unit_test(test_other_classes_above_chance),
        cmocka_unit_test(test_box_in_scene_matches_crop),
        cmocka_unit_test(test_box_off_the_edge_and_bad_args),
        cmocka_unit_test(test_mirror_view),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
