/* Unit tests for vision/objects: the real converted CenterNet on the darknet
 * sample photos (skipped when the models are not prepared; CI runs setup
 * first), and the decode/NMS step on hand-made candidate rows. */
#include "testutil.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../tools/rgbload.h"
#include "core/labels.h"
#include "core/log.h"
#include "vision/objects.h"
#include "vision/onnx.h"

static char g_models[1024];
static objects_model *g_model;

static const char *models_dir(void) {
    snprintf(g_models, sizeof g_models, "%s", tu_deps("models"));
    return g_models;
}

static int setup(void **state) {
    (void)state;
    log_set_level(LOG_WARN);
    char path[1100];
    snprintf(path, sizeof path, "%s/%s", models_dir(), OBJECTS_MODEL_FILE);
    FILE *f = fopen(path, "rb");
    if (!f) return 0;   /* tests that need the model skip */
    fclose(f);
    scry_err err = {0};
    if (objects_load(models_dir(), &g_model, &err)) fprintf(stderr, "objects_load: %s\n", err.msg);
    return 0;
}

static int teardown(void **state) {
    (void)state;
    objects_free(g_model);
    g_model = NULL;
    onnx_global_shutdown();
    return 0;
}

static img_rgb load(const char *name) {
    img_rgb img = {0};
    if (rgbload(tu_darknet(name), &img.w, &img.h, &img.px)) fail_msg("cannot decode %s", name);
    return img;
}

static float iou(const det_box *b, float x1, float y1, float x2, float y2) {
    float ix = (b->x + b->w < x2 ? b->x + b->w : x2) - (b->x > x1 ? b->x : x1);
    float iy = (b->y + b->h < y2 ? b->y + b->h : y2) - (b->y > y1 ? b->y : y1);
    if (ix <= 0 || iy <= 0) return 0;
    return ix * iy / (b->w * b->h + (x2 - x1) * (y2 - y1) - ix * iy);
}

/* Best IoU of any box labelled `label` with the reference box. */
static float best_iou(const det_box *b, int n, const char *label, float x1, float y1, float x2,
                      float y2) {
    int want = scry_coco_index(label);
    assert_true(want >= 0);
    float best = 0;
    for (int i = 0; i < n; i++)
        if (b[i].label == want && iou(&b[i], x1, y1, x2, y2) > best) best = iou(&b[i], x1, y1, x2, y2);
    return best;
}

static int count(const det_box *b, int n, const char *label) {
    int c = 0;
    for (int i = 0; i < n; i++) c += b[i].label == scry_coco_index(label);
    return c;
}

static void detect(const char *name, det_box **b, int *n, img_rgb *img) {
    *img = load(name);
    scry_err err = {0};
    assert_int_equal(objects_detect(g_model, img, b, n, &err), SCRY_OK);
    for (int i = 0; i < *n; i++) {   /* invariants of every result */
        assert_true((*b)[i].label >= 0 && (*b)[i].label < SCRY_COCO_COUNT);
        assert_true((*b)[i].x >= 0 && (*b)[i].y >= 0 && (*b)[i].w > 0 && (*b)[i].h > 0);
        assert_true((*b)[i].x + (*b)[i].w <= img->w + 0.01f && (*b)[i].y + (*b)[i].h <= img->h + 0.01f);
        if (i) assert_true((*b)[i - 1].score >= (*b)[i].score);
    }
}

/* dog.jpg (768x576): a dog lower left, a bicycle across the middle, a car
 * top right. Reference boxes drawn by hand from the photo. */
static void test_dog_bicycle_car(void **state) {
    (void)state;
    if (!g_model) skip();
    det_box *b;
    int n;
    img_rgb img;
    detect("dog.jpg", &b, &n, &img);
    assert_true(best_iou(b, n, "dog", 130, 220, 315, 540) >= 0.6f);
    assert_true(best_iou(b, n, "bicycle", 120, 125, 570, 430) >= 0.6f);
    assert_true(best_iou(b, n, "car", 465, 75, 690, 170) >= 0.6f);
    assert_int_equal(count(b, n, "person"), 0);
    assert_int_equal(count(b, n, "truck"), 0);   /* same box as the car: dropped */
    free(b);
    free(img.px);
}

static void test_horses(void **state) {
    (void)state;
    if (!g_model) skip();
    det_box *b;
    int n;
    img_rgb img;
    detect("horses.jpg", &b, &n, &img);
    assert_true(count(b, n, "horse") >= 3);
    assert_int_equal(b[0].label, scry_coco_index("horse"));
    assert_int_equal(count(b, n, "person") + count(b, n, "car"), 0);
    free(b);
    free(img.px);
}

static void test_person(void **state) {
    (void)state;
    if (!g_model) skip();
    det_box *b;
    int n;
    img_rgb img;
    detect("person.jpg", &b, &n, &img);
    /* the woman stands at x ~190-275 of 640, the full height of the frame */
    assert_int_equal(b[0].label, scry_coco_index("person"));
    assert_true(b[0].score >= 0.5f);
    assert_true(best_iou(b, n, "person", 185, 100, 280, 380) >= 0.6f);
    assert_true(count(b, n, "dog") >= 1);
    free(b);
    free(img.px);
}

static void test_giraffe(void **state) {
    (void)state;
    if (!g_model) skip();
    det_box *b;
    int n;
    img_rgb img;
    detect("giraffe.jpg", &b, &n, &img);
    assert_true(best_iou(b, n, "giraffe", 160, 25, 455, 445) >= 0.6f);
    free(b);
    free(img.px);
}

typedef struct run_arg { img_rgb *img; det_box *b; int n, rc; } run_arg;

static void *run_detect(void *p) {
    run_arg *a = p;
    scry_err err = {0};
    a->rc = objects_detect(g_model, a->img, &a->b, &a->n, &err);
    return NULL;
}

/* Two threads on one shared session get the same answer as one thread. */
static void test_threads_share_model(void **state) {
    (void)state;
    if (!g_model) skip();
    img_rgb img = load("giraffe.jpg");
    run_arg a = {.img = &img}, c = {.img = &img};
    pthread_t t1, t2;
    pthread_create(&t1, NULL, run_detect, &a);
    pthread_create(&t2, NULL, run_detect, &c);
    pthread_join(t1, NULL);
    pthread_join(t2, NULL);
    assert_int_equal(a.rc, SCRY_OK);
    assert_int_equal(c.rc, SCRY_OK);
    assert_int_equal(a.n, c.n);
    assert_true(a.n > 0);
    assert_memory_equal(a.b, c.b, (size_t)a.n * sizeof(det_box));
    free(a.b);
    free(c.b);
    free(img.px);
}

static void test_missing_model_names_file(void **state) {
    (void)state;
    objects_model *m = NULL;
    scry_err err = {0};
    int rc = objects_load("/nonexistent/models", &m, &err);
    assert_int_equal(rc, SCRY_ENOTFOUND);
    assert_null(m);
    assert_non_null(strstr(err.msg, "/nonexistent/models/centernet.onnx"));
    assert_non_null(strstr(err.msg, "scripts/setup.sh"));
}

static void test_corrupt_model_is_refused(void **state) {
    (void)state;
    char *dir = tu_tempdir("objects");
    char path[1100];
    snprintf(path, sizeof path, "%s/%s", dir, OBJECTS_MODEL_FILE);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    fputs("not an onnx model", f);
    fclose(f);
    objects_model *m = NULL;
    scry_err err = {0};
    assert_int_equal(objects_load(dir, &m, &err), SCRY_ECORRUPT);
    assert_non_null(strstr(err.msg, path));
    tu_rmtree(dir);
    free(dir);
}

/* Decode + NMS on hand-made rows (512-px coordinates, image 1024x512). */
static void test_decode_nms(void **state) {
    (void)state;
    const float rows[][6] = {
        {10, 10, 110, 210, 0.90f, 0},    /* person */
        {12, 12, 112, 212, 0.80f, 0},    /* same person again: suppressed */
        {10, 10, 110, 210, 0.60f, 17},   /* a horse on the person's exact box: duplicate */
        {0, 100, 300, 300, 0.70f, 17},   /* the horse under the person: kept */
        {400, 400, 600, 520, 0.50f, 2},  /* car running off the image: clipped */
        {200, 200, 250, 250, 0.10f, 16}, /* below threshold */
        {300, 300, 300, 350, 0.90f, 5},  /* empty box */
        {1, 1, 5, 5, 0.95f, 80},         /* class out of range */
    };
    objects_params p;
    objects_default_params(&p);
    det_box *b;
    int n;
    scry_err err = {0};
    assert_int_equal(objects_decode(&rows[0][0], 8, 1024, 512, &p, &b, &n, &err), SCRY_OK);
    assert_int_equal(n, 3);
    assert_int_equal(b[0].label, 0);
    assert_float_equal(b[0].x, 20, 1e-4);
    assert_float_equal(b[0].w, 200, 1e-4);
    assert_float_equal(b[0].h, 200, 1e-4);
    assert_int_equal(b[1].label, 17);
    assert_int_equal(b[2].label, 2);
    assert_float_equal(b[2].x + b[2].w, 1024, 1e-4);
    assert_float_equal(b[2].y + b[2].h, 512, 1e-4);
    free(b);
    p.class_agnostic = 1;   /* Human's behaviour: the horse under the person goes too */
    p.nms_iou = 0.1f;
    assert_int_equal(objects_decode(&rows[0][0], 8, 1024, 512, &p, &b, &n, &err), SCRY_OK);
    assert_int_equal(n, 2);
    free(b);
    p.min_score = 0.99f;
    assert_int_equal(objects_decode(&rows[0][0], 8, 1024, 512, &p, &b, &n, &err), SCRY_OK);
    assert_int_equal(n, 0);
    assert_null(b);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_decode_nms),
        cmocka_unit_test(test_missing_model_names_file),
        cmocka_unit_test(test_corrupt_model_is_refused),
        cmocka_unit_test(test_dog_bicycle_car),
        cmocka_unit_test(test_horses),
        cmocka_unit_test(test_person),
        cmocka_unit_test(test_giraffe),
        cmocka_unit_test(test_threads_share_model),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
