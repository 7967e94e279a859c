/* Unit tests for vision/faces: the real BlazeFace model on real photos.
 * Skipped when the models are not installed (./scripts/setup.sh). */
#include "testutil.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <jansson.h>
#include <vips/vips.h>

#include "vision/faces.h"
#include "vision/onnx.h"
#include "../../tools/rgbload.h"

static char g_models[1024];
static faces_model *g_model;

static float iou(const float *g, const face_box *b) {
    float x0 = fmaxf(g[0], b->x), y0 = fmaxf(g[1], b->y);
    float x1 = fminf(g[0] + g[2], b->x + b->w), y1 = fminf(g[1] + g[3], b->y + b->h);
    float in = fmaxf(0, x1 - x0) * fmaxf(0, y1 - y0);
    return in / (g[2] * g[3] + b->w * b->h - in);
}

static int setup(void **state) {
    (void)state;
    snprintf(g_models, sizeof g_models, "%s", tu_deps("models"));
    char p[1100];
    snprintf(p, sizeof p, "%s/blazeface_back_256.onnx", g_models);
    if (access(p, R_OK) != 0) return 0;   /* tests skip */
    scry_err err = {0};
    if (faces_load(g_models, &g_model, &err) != SCRY_OK) {
        fprintf(stderr, "faces_load: %s\n", err.msg);
        return -1;
    }
    return 0;
}

static int teardown(void **state) {
    (void)state;
    faces_free(g_model);
    onnx_global_shutdown();
    return 0;
}

#define NEED_MODEL()                                                                  \
    do {                                                                              \
        if (!g_model) {                                                               \
            fprintf(stderr, "face model absent in %s: run ./scripts/setup.sh\n", g_models); \
            skip();                                                                   \
        }                                                                             \
    } while (0)

/* Recall and precision at IoU >= 0.5 on the labelled group photos. Measured
 * 43/43 found with 43 predictions (docs/vision-faces-ocr.md); the floors
 * leave room for numeric noise across ONNX Runtime builds. */
static void test_group_photos_recall(void **state) {
    (void)state;
    NEED_MODEL();
    json_error_t je;
    json_t *root = json_load_file(tu_shared("data/faces/faces.json"), 0, &je);
    if (!root) {
        fprintf(stderr, "no %s: shared data absent\n", tu_shared("data/faces/faces.json"));
        skip();
    }
    int gt_total = 0, hits = 0, preds = 0;
    size_t k;
    json_t *e;
    json_array_foreach(root, k, e) {
        char rel[256];
        snprintf(rel, sizeof rel, "data/faces/images/%s",
                 json_string_value(json_object_get(e, "file")));
        img_rgb img;
        assert_int_equal(rgbload(tu_shared(rel), &img.w, &img.h, &img.px), 0);
        face_box *f = NULL;
        int n = 0;
        scry_err err = {0};
        assert_int_equal(faces_detect(g_model, &img, &f, &n, &err), SCRY_OK);
        json_t *boxes = json_object_get(e, "faces_xywh");
        char used[64] = {0};
        size_t j;
        json_t *b;
        json_array_foreach(boxes, j, b) {
            float g[4];
            for (int c = 0; c < 4; c++) g[c] = (float)json_number_value(json_array_get(b, (size_t)c));
            for (int i = 0; i < n && i < 64; i++)
                if (!used[i] && iou(g, &f[i]) >= 0.5f) {
                    used[i] = 1, hits++;
                    break;
                }
            gt_total++;
        }
        for (int i = 1; i < n; i++) assert_true(f[i - 1].score >= f[i].score);
        for (int i = 0; i < n; i++) {
            assert_true(f[i].score >= 0.5f && f[i].score <= 1.0f);
            assert_true(f[i].w > 0 && f[i].h > 0);
        }
        preds += n;
        free(f);
        free(img.px);
    }
    json_decref(root);
    assert_int_equal(gt_total, 43);
    assert_true(hits >= 40);              /* recall >= 0.93 */
    assert_true(hits >= preds * 0.9);     /* precision >= 0.9 */
}

/* A crop of one face pasted on a grey canvas at several sizes is found at
 * the right place each time; the blank canvas alone has no face. */
static void test_face_found_at_any_size(void **state) {
    (void)state;
    NEED_MODEL();
    img_rgb src;
    assert_int_equal(rgbload(tu_shared("data/faces/images/2008_002506.jpg"), &src.w, &src.h, &src.px), 0);
    /* Labelled face [329,78,109,109]; crop with some margin. */
    int cx0 = 309, cy0 = 58, cw = 150, ch = 150;
    static const int sizes[3] = {60, 150, 400};
    for (int s = 0; s < 3; s++) {
        int W = 800, H = 600, side = sizes[s], ox = 500, oy = 350;
        if (ox + side > W) ox = W - side;
        if (oy + side > H) oy = H - side;
        img_rgb canvas = {W, H, malloc((size_t)W * H * 3)};
        memset(canvas.px, 120, (size_t)W * H * 3);
        face_box *f = NULL;
        int n = -1;
        scry_err err = {0};
        if (s == 0) {
            assert_int_equal(faces_detect(g_model, &canvas, &f, &n, &err), SCRY_OK);
            assert_int_equal(n, 0);
            assert_null(f);
        }
        for (int y = 0; y < side; y++)
            for (int x = 0; x < side; x++) {
                int sx = cx0 + x * cw / side, sy = cy0 + y * ch / side;
                memcpy(canvas.px + ((size_t)(oy + y) * W + (size_t)(ox + x)) * 3,
                       src.px + ((size_t)sy * src.w + (size_t)sx) * 3, 3);
            }
        assert_int_equal(faces_detect(g_model, &canvas, &f, &n, &err), SCRY_OK);
        assert_int_equal(n, 1);
        float scale = (float)side / (float)cw;
        float g[4] = {ox + 20 * scale, oy + 20 * scale, 109 * scale, 109 * scale};
        assert_true(iou(g, &f[0]) >= 0.5f);
        free(f);
        free(canvas.px);
    }
    free(src.px);
}

/* Photos with no visible face: an eagle, a giraffe, horses, and a person
 * seen from behind (a hat, no face). */
static void test_no_faces_in_animal_photos(void **state) {
    (void)state;
    NEED_MODEL();
    const char *names[] = {"eagle.jpg", "giraffe.jpg", "horses.jpg", "person.jpg"};
    for (int i = 0; i < 4; i++) {
        img_rgb img;
        if (rgbload(tu_darknet(names[i]), &img.w, &img.h, &img.px) != 0) skip();
        face_box *f = NULL;
        int n = -1;
        scry_err err = {0};
        assert_int_equal(faces_detect(g_model, &img, &f, &n, &err), SCRY_OK);
        assert_int_equal(n, 0);
        free(f);
        free(img.px);
    }
}

/* Guided tiling: no people means the whole-image pass alone; one huge
 * "person" (its face would be large for the whole pass) adds no tile;
 * small people around every labelled face bring back every tile that
 * matters, so the result equals the fully tiled one. */
static void test_guided_tiling(void **state) {
    (void)state;
    NEED_MODEL();
    json_error_t je;
    json_t *root = json_load_file(tu_shared("data/faces/faces.json"), 0, &je);
    if (!root) skip();
    const char *file = "2008_002079.jpg";   /* the whole pass finds 5 of 6 */
    json_t *gt = NULL;
    size_t k;
    json_t *e;
    json_array_foreach(root, k, e)
        if (!strcmp(json_string_value(json_object_get(e, "file")), file))
            gt = json_object_get(e, "faces_xywh");
    assert_non_null(gt);
    img_rgb img;
    char rel[256];
    snprintf(rel, sizeof rel, "data/faces/images/%s", file);
    assert_int_equal(rgbload(tu_shared(rel), &img.w, &img.h, &img.px), 0);
    scry_err err = {0};
    face_box *all = NULL, *none = NULL, *big = NULL, *near = NULL;
    int n_all = 0, n_none = 0, n_big = 0, n_near = 0;
    assert_int_equal(faces_detect(g_model, &img, &all, &n_all, &err), SCRY_OK);
    assert_int_equal(faces_detect_guided(g_model, &img, NULL, 0, &none, &n_none, &err), SCRY_OK);
    face_box everyone = {0, 0, (float)img.w, (float)img.h, 0.9f};
    assert_int_equal(faces_detect_guided(g_model, &img, &everyone, 1, &big, &n_big, &err), SCRY_OK);
    face_box people[64];
    int np = 0;
    size_t j;
    json_t *b;
    json_array_foreach(gt, j, b) {
        float g[4];
        for (int c = 0; c < 4; c++) g[c] = (float)json_number_value(json_array_get(b, (size_t)c));
        /* A head-and-shoulders box around the face, as a detector gives. */
        people[np++] = (face_box){g[0] - g[2], g[1] - g[3] / 2, g[2] * 3, g[3] * 4, 0.9f};
    }
    assert_int_equal(faces_detect_guided(g_model, &img, people, np, &near, &n_near, &err),
                     SCRY_OK);
    assert_int_equal(n_all, (int)json_array_size(gt));
    assert_true(n_none < n_all);          /* this photo needs the tiles */
    assert_int_equal(n_big, n_none);
    for (int i = 0; i < n_big; i++) assert_true(fabsf(big[i].x - none[i].x) < 0.01f);
    assert_int_equal(n_near, n_all);
    for (int i = 0; i < n_all; i++) {
        int same = 0;
        for (int m = 0; m < n_near; m++)
            same |= fabsf(near[m].x - all[i].x) < 1.0f && fabsf(near[m].y - all[i].y) < 1.0f;
        assert_true(same);
    }
    free(all), free(none), free(big), free(near);
    free(img.px);
    json_decref(root);
}

typedef struct job {
    const img_rgb *img;
    face_box *f;
    int n, rc;
} job;

static void *detect_job(void *arg) {
    job *j = arg;
    scry_err err = {0};
    j->rc = faces_detect(g_model, j->img, &j->f, &j->n, &err);
    return NULL;
}

/* One model shared by two threads gives the same boxes as one thread. */
static void test_threads_share_a_model(void **state) {
    (void)state;
    NEED_MODEL();
    img_rgb img;
    assert_int_equal(rgbload(tu_shared("data/faces/images/2008_004176.jpg"), &img.w, &img.h, &img.px), 0);
    job a = {&img, NULL, 0, -1}, b = {&img, NULL, 0, -1}, c = {&img, NULL, 0, -1};
    detect_job(&c);
    pthread_t ta, tb;
    pthread_create(&ta, NULL, detect_job, &a);
    pthread_create(&tb, NULL, detect_job, &b);
    pthread_join(ta, NULL);
    pthread_join(tb, NULL);
    assert_int_equal(a.rc, SCRY_OK);
    assert_int_equal(b.rc, SCRY_OK);
    assert_true(c.n >= 5);
    assert_int_equal(a.n, c.n);
    assert_int_equal(b.n, c.n);
    for (int i = 0; i < c.n; i++) {
        assert_true(fabsf(a.f[i].x - c.f[i].x) < 0.01f && fabsf(b.f[i].y - c.f[i].y) < 0.01f);
    }
    free(a.f), free(b.f), free(c.f);
    free(img.px);
}

static void test_bad_input_and_expand(void **state) {
    (void)state;
    NEED_MODEL();
    img_rgb empty = {0, 0, NULL};
    face_box *f = NULL;
    int n = 7;
    scry_err err = {0};
    assert_int_equal(faces_detect(g_model, &empty, &f, &n, &err), SCRY_EINVAL);
    assert_int_equal(n, 0);
    face_box b = {100, 200, 100, 50, 0.9f};
    face_box e = face_box_expand(b, 0.2f, 1000, 1000);
    assert_true(fabsf(e.x - 80) < 1e-3f && fabsf(e.y - 190) < 1e-3f);
    assert_true(fabsf(e.w - 140) < 1e-3f && fabsf(e.h - 70) < 1e-3f);
    assert_true(e.score == b.score);
    face_box c = face_box_expand(b, 0.5f, 180, 240);   /* clipped at the image edges */
    assert_true(fabsf(c.x - 50) < 1e-3f && fabsf(c.x + c.w - 180) < 1e-3f);
    assert_true(fabsf(c.y + c.h - 240) < 1e-3f);
    scry_err lerr = {0};
    faces_model *none = NULL;
    assert_int_equal(faces_load("/nonexistent", &none, &lerr), SCRY_ENOTFOUND);
    assert_null(none);
    assert_non_null(strstr(lerr.msg, "setup.sh"));
}

int main(int argc, char **argv) {
    (void)argc;
    if (VIPS_INIT(argv[0])) return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_group_photos_recall),
        cmocka_unit_test(test_face_found_at_any_size),
        cmocka_unit_test(test_no_faces_in_animal_photos),
        cmocka_unit_test(test_guided_tiling),
        cmocka_unit_test(test_threads_share_a_model),
        cmocka_unit_test(test_bad_input_and_expand),
    };
    int rc = cmocka_run_group_tests(tests, setup, teardown);
    vips_shutdown();
    return rc;
}
