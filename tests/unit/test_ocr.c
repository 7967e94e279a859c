/* Unit tests for vision/ocr: the real PP-OCRv4 models (and Tesseract) on
 * rendered text and on ICDAR 2015 street photos. The PP-OCR tests skip when
 * the models are not installed (./scripts/setup.sh). */
#include "testutil.h"

#include <ctype.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <vips/vips.h>

#include "vision/ocr.h"
#include "vision/onnx.h"
#include "../../tools/rgbload.h"

static char g_models[1024];
static ocr_model *g_pp;

/* Draw text (rendered by libvips/pango) in colour fg onto canvas at (x, y);
 * returns the width and height drawn. */
static void draw_text(img_rgb *canvas, const char *text, const char *font, int x, int y,
                      const uint8_t fg[3], int *tw, int *th) {
    VipsImage *mask = NULL;
    assert_int_equal(vips_text(&mask, text, "font", font, "dpi", 72, NULL), 0);
    size_t n = 0;
    uint8_t *a = vips_image_write_to_memory(mask, &n);
    int w = vips_image_get_width(mask), h = vips_image_get_height(mask);
    g_object_unref(mask);
    assert_non_null(a);
    for (int j = 0; j < h && y + j < canvas->h; j++)
        for (int i = 0; i < w && x + i < canvas->w; i++) {
            uint8_t *p = canvas->px + ((size_t)(y + j) * (size_t)canvas->w + (size_t)(x + i)) * 3;
            float t = a[(size_t)j * (size_t)w + (size_t)i] / 255.0f;
            for (int c = 0; c < 3; c++) p[c] = (uint8_t)lroundf(p[c] * (1 - t) + fg[c] * t);
        }
    g_free(a);
    *tw = w, *th = h;
}

static img_rgb canvas(int w, int h, const uint8_t bg[3]) {
    img_rgb c = {w, h, malloc((size_t)w * (size_t)h * 3)};
    for (size_t i = 0; i < (size_t)w * (size_t)h; i++) memcpy(c.px + i * 3, bg, 3);
    return c;
}

static const ocr_word *find_word(const ocr_word *w, int n, const char *text) {
    for (int i = 0; i < n; i++)
        if (!strcasecmp(w[i].text, text)) return &w[i];
    return NULL;
}

static int inside(const ocr_word *w, float x0, float y0, float x1, float y1) {
    float cx = w->x + w->w / 2, cy = w->y + w->h / 2;
    return cx >= x0 && cx <= x1 && cy >= y0 && cy <= y1;
}

static int setup(void **state) {
    (void)state;
    snprintf(g_models, sizeof g_models, "%s", tu_deps("models"));
    char p[1100];
    snprintf(p, sizeof p, "%s/ppocrv4_rec.onnx", g_models);
    if (access(p, R_OK) != 0) return 0;   /* PP-OCR tests skip */
    scry_err err = {0};
    if (ocr_load(g_models, &g_pp, &err) != SCRY_OK) {
        fprintf(stderr, "ocr_load: %s\n", err.msg);
        return -1;
    }
    return 0;
}

static int teardown(void **state) {
    (void)state;
    ocr_free(g_pp);
    onnx_global_shutdown();
    return 0;
}

#define NEED_MODEL()                                                                 \
    do {                                                                             \
        if (!g_pp) {                                                                 \
            fprintf(stderr, "OCR models absent in %s: run ./scripts/setup.sh\n", g_models); \
            skip();                                                                  \
        }                                                                            \
    } while (0)

/* "OPEN" and "SALE" painted dark blue on yellow, side by side: both are read
 * back, each with a box on the place it was drawn. */
static void test_reads_rendered_words(void **state) {
    (void)state;
    NEED_MODEL();
    static const uint8_t yellow[3] = {250, 215, 40}, blue[3] = {20, 30, 120};
    img_rgb c = canvas(900, 320, yellow);
    int w1, h1, w2, h2;
    draw_text(&c, "OPEN", "DejaVu Sans Bold 64", 60, 90, blue, &w1, &h1);
    draw_text(&c, "SALE", "DejaVu Sans Bold 64", 520, 150, blue, &w2, &h2);
    ocr_word *w = NULL;
    int n = 0;
    scry_err err = {0};
    assert_int_equal(ocr_read(g_pp, &c, &w, &n, &err), SCRY_OK);
    const ocr_word *open = find_word(w, n, "OPEN"), *sale = find_word(w, n, "SALE");
    assert_non_null(open);
    assert_non_null(sale);
    assert_true(inside(open, 60, 90, 60 + w1, 90 + h1));
    assert_true(inside(sale, 520, 150, 520 + w2, 150 + h2));
    assert_true(open->conf > 0.5f && open->conf <= 1.0f);
    /* Reading order: OPEN's line is higher, so it comes first. */
    assert_true(open < sale);
    char *joined = ocr_join(w, n);
    assert_non_null(strstr(joined, "OPEN"));
    assert_non_null(strstr(joined, "SALE"));
    free(joined);
    ocr_words_free(w, n);
    free(c.px);
}

/* A line of several words, rotated by 20 degrees: the detector's rotated
 * rectangles and the rectification must bring it back. */
static void test_reads_rotated_line(void **state) {
    (void)state;
    NEED_MODEL();
    static const uint8_t white[3] = {255, 255, 255}, black[3] = {0, 0, 0};
    img_rgb c = canvas(700, 200, white);
    int tw, th;
    draw_text(&c, "fresh bread daily", "DejaVu Sans 40", 40, 60, black, &tw, &th);
    VipsImage *im = vips_image_new_from_memory(c.px, (size_t)c.w * c.h * 3, c.w, c.h, 3,
                                               VIPS_FORMAT_UCHAR);
    VipsImage *rot = NULL;
    double white_bg[3] = {255, 255, 255};
    VipsArrayDouble *bg = vips_array_double_new(white_bg, 3);
    assert_int_equal(vips_rotate(im, &rot, 20.0, "background", bg, NULL), 0);
    vips_area_unref(VIPS_AREA(bg));
    size_t nb = 0;
    img_rgb r = {vips_image_get_width(rot), vips_image_get_height(rot), NULL};
    r.px = vips_image_write_to_memory(rot, &nb);
    g_object_unref(rot);
    g_object_unref(im);
    ocr_word *w = NULL;
    int n = 0;
    scry_err err = {0};
    assert_int_equal(ocr_read(g_pp, &r, &w, &n, &err), SCRY_OK);
    assert_non_null(find_word(w, n, "fresh"));
    assert_non_null(find_word(w, n, "bread"));
    assert_non_null(find_word(w, n, "daily"));
    ocr_words_free(w, n);
    g_free(r.px);
    free(c.px);
}

/* Street photos from ICDAR 2015 whose words we read (ground truth in
 * gt_img_5.txt and gt_img_2.txt). */
static void test_reads_icdar_photos(void **state) {
    (void)state;
    NEED_MODEL();
    img_rgb img;
    if (rgbload(tu_shared("data/icdar2015/images/img_5.jpg"), &img.w, &img.h, &img.px) != 0) {
        fprintf(stderr, "icdar2015 absent in %s\n", tu_shared("data"));
        skip();
    }
    ocr_word *w = NULL;
    int n = 0;
    scry_err err = {0};
    assert_int_equal(ocr_read(g_pp, &img, &w, &n, &err), SCRY_OK);
    static const char *want5[] = {"speed", "regulating", "strips", "ahead", "slow"};
    int found = 0;
    for (int i = 0; i < 5; i++) found += find_word(w, n, want5[i]) != NULL;
    assert_true(found >= 4);
    /* "SLOW" is painted at x 608..680, y 199..232 (ground-truth quad). */
    const ocr_word *slow = find_word(w, n, "slow");
    assert_non_null(slow);
    assert_true(inside(slow, 600, 190, 690, 240));
    assert_true(slow->w < 120 && slow->h < 60);
    ocr_words_free(w, n);
    free(img.px);

    assert_int_equal(rgbload(tu_shared("data/icdar2015/images/img_2.jpg"), &img.w, &img.h, &img.px), 0);
    assert_int_equal(ocr_read(g_pp, &img, &w, &n, &err), SCRY_OK);
    static const char *want2[] = {"joint", "pain", "free", "from", "yourself"};
    found = 0;
    for (int i = 0; i < 5; i++) found += find_word(w, n, want2[i]) != NULL;
    assert_true(found >= 4);
    for (int i = 0; i < n; i++) {
        assert_true(w[i].x >= 0 && w[i].y >= 0);
        assert_true(w[i].x + w[i].w <= img.w + 0.5f && w[i].y + w[i].h <= img.h + 0.5f);
        for (const char *p = w[i].text; *p; p++) assert_true((unsigned char)*p < 0x80);
        assert_true(isalnum((unsigned char)w[i].text[0]));
    }
    ocr_words_free(w, n);
    free(img.px);
}

/* No text on a blank or noisy image; empty input is refused. */
static void test_no_text_and_bad_input(void **state) {
    (void)state;
    NEED_MODEL();
    static const uint8_t grey[3] = {128, 128, 128};
    img_rgb c = canvas(320, 240, grey);
    ocr_word *w = NULL;
    int n = -1;
    scry_err err = {0};
    assert_int_equal(ocr_read(g_pp, &c, &w, &n, &err), SCRY_OK);
    assert_int_equal(n, 0);
    assert_null(w);
    free(c.px);
    img_rgb empty = {0, 0, NULL};
    assert_int_equal(ocr_read(g_pp, &empty, &w, &n, &err), SCRY_EINVAL);
    char *s = ocr_join(NULL, 0);
    assert_string_equal(s, "");
    free(s);
    ocr_model *none = NULL;
    assert_int_equal(ocr_load("/nonexistent", &none, &err), SCRY_ENOTFOUND);
    assert_null(none);
    assert_non_null(strstr(err.msg, "setup.sh"));
}

/* The Tesseract engine behind the same interface, on clean rendered text. */
static void test_tesseract_engine(void **state) {
    (void)state;
    ocr_opts o;
    ocr_default_opts(&o);
    o.engine = OCR_TESSERACT;
    ocr_model *t = NULL;
    scry_err err = {0};
    if (ocr_load_opts(g_models, &o, &t, &err) != SCRY_OK) {
        fprintf(stderr, "tesseract unavailable: %s\n", err.msg);
        skip();
    }
    static const uint8_t white[3] = {255, 255, 255}, black[3] = {0, 0, 0};
    img_rgb c = canvas(800, 200, white);
    int tw, th;
    draw_text(&c, "OPEN today, SALE now", "DejaVu Sans 40", 40, 60, black, &tw, &th);
    ocr_word *w = NULL;
    int n = 0;
    for (int round = 0; round < 2; round++) {   /* the second read reuses the pooled instance */
        assert_int_equal(ocr_read(t, &c, &w, &n, &err), SCRY_OK);
        const ocr_word *open = find_word(w, n, "OPEN"), *sale = find_word(w, n, "SALE");
        assert_non_null(open);
        assert_non_null(sale);
        assert_non_null(find_word(w, n, "today"));   /* trailing comma stripped */
        assert_true(open->x < sale->x);
        assert_true(inside(open, 40, 60, 40 + tw, 60 + th));
        ocr_words_free(w, n);
    }
    free(c.px);
    ocr_free(t);
}

typedef struct job {
    ocr_model *m;
    const img_rgb *img;
    ocr_word *w;
    int n, rc;
} job;

static void *read_job(void *arg) {
    job *j = arg;
    scry_err err = {0};
    j->rc = ocr_read(j->m, j->img, &j->w, &j->n, &err);
    return NULL;
}

/* Two threads on one model at once: PP-OCR shares its sessions, Tesseract
 * lends each reader its own instance from the pool. */
static void test_concurrent_readers(void **state) {
    (void)state;
    NEED_MODEL();
    static const uint8_t white[3] = {255, 255, 255}, black[3] = {0, 0, 0};
    img_rgb c = canvas(640, 160, white);
    int tw, th;
    draw_text(&c, "OPEN SALE", "DejaVu Sans 40", 40, 50, black, &tw, &th);
    ocr_opts o;
    ocr_default_opts(&o);
    o.engine = OCR_TESSERACT;
    ocr_model *tess = NULL;
    scry_err err = {0};
    ocr_model *models[2] = {g_pp, NULL};
    if (ocr_load_opts(g_models, &o, &tess, &err) == SCRY_OK) models[1] = tess;
    for (int k = 0; k < 2 && models[k]; k++) {
        job a = {models[k], &c, NULL, 0, -1}, b = {models[k], &c, NULL, 0, -1};
        pthread_t ta, tb;
        pthread_create(&ta, NULL, read_job, &a);
        pthread_create(&tb, NULL, read_job, &b);
        pthread_join(ta, NULL);
        pthread_join(tb, NULL);
        assert_int_equal(a.rc, SCRY_OK);
        assert_int_equal(b.rc, SCRY_OK);
        assert_non_null(find_word(a.w, a.n, "OPEN"));
        assert_non_null(find_word(b.w, b.n, "SALE"));
        assert_int_equal(a.n, b.n);
        ocr_words_free(a.w, a.n);
        ocr_words_free(b.w, b.n);
    }
    ocr_free(tess);
    free(c.px);
}

int main(int argc, char **argv) {
    (void)argc;
    if (VIPS_INIT(argv[0])) return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reads_rendered_words),
        cmocka_unit_test(test_reads_rotated_line),
        cmocka_unit_test(test_reads_icdar_photos),
        cmocka_unit_test(test_no_text_and_bad_input),
        cmocka_unit_test(test_tesseract_engine),
        cmocka_unit_test(test_concurrent_readers),
    };
    int rc = cmocka_run_group_tests(tests, setup, teardown);
    vips_shutdown();
    return rc;
}
