/* Unit tests for vision/faceres: the real converted model on real face
 * photos (LFW, from the shared data) with boxes from the real BlazeFace
 * detector; Human's post-processing on hand-made outputs; the person word's
 * rules. Model tests skip when the models or the photos are absent. */
#include "testutil.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../tools/rgbload.h"
#include "core/labels.h"
#include "core/log.h"
#include "vision/faceres.h"
#include "vision/faces.h"

static faceres_model *g_model;
static faces_model *g_faces;

static int setup(void **state) {
    (void)state;
    log_set_level(LOG_WARN);
    char dir[1024], p1[1100], p2[1100];
    snprintf(dir, sizeof dir, "%s", tu_deps("models"));
    snprintf(p1, sizeof p1, "%s/%s", dir, FACERES_MODEL_FILE);
    snprintf(p2, sizeof p2, "%s/blazeface_back_256.onnx", dir);
    if (access(p1, R_OK) || access(p2, R_OK)) return 0;   /* model tests skip */
    scry_err err = {0};
    if (faceres_load(dir, &g_model, &err) || faces_load(dir, &g_faces, &err)) {
        fprintf(stderr, "load: %s\n", err.msg);
        return -1;
    }
    return 0;
}

static int teardown(void **state) {
    (void)state;
    faceres_free(g_model);
    faces_free(g_faces);
    return 0;
}

/* An LFW photo (person/person_NNNN.jpg) and its one detected face. */
static int lfw_face(const char *person, int n, img_rgb *img, face_box *box) {
    char rel[512];
    snprintf(rel, sizeof rel, "data/lfw/images/%s/%s_%04d.jpg", person, person, n);
    if (rgbload(tu_shared(rel), &img->w, &img->h, &img->px)) return -1;
    face_box *b = NULL;
    int nb = 0;
    scry_err err = {0};
    assert_int_equal(faces_detect(g_faces, img, &b, &nb, &err), SCRY_OK);
    assert_true(nb >= 1);   /* LFW photos are centred head-and-shoulders */
    *box = b[0];
    free(b);
    return 0;
}

static faceres_result *describe(const char *person, int n) {
    img_rgb img;
    face_box b;
    if (lfw_face(person, n, &img, &b)) return NULL;
    faceres_result *r = malloc(sizeof *r);
    scry_err err = {0};
    assert_int_equal(faceres_describe(g_model, &img, b.x, b.y, b.w, b.h, r, &err), SCRY_OK);
    free(img.px);
    return r;
}

static double dot(const float *a, const float *b) {
    double s = 0;
    for (int i = 0; i < FACERES_DIM; i++) s += (double)a[i] * b[i];
    return s;
}

/* Age and gender come out sensibly on well-known faces (ages when the
 * photos were taken: adults; the model's ages sit at 20-60). */
static void test_age_gender_on_real_faces(void **state) {
    (void)state;
    if (!g_model) skip();
    const struct { const char *who; int n, gender; } cases[] = {
        {"Nicole_Kidman", 1, SCRY_GENDER_FEMALE}, {"Madonna", 1, SCRY_GENDER_FEMALE},
        {"Aaron_Peirsol", 1, SCRY_GENDER_MALE},   {"Aaron_Peirsol", 2, SCRY_GENDER_MALE},
        {"Aaron_Tippin", 1, SCRY_GENDER_MALE},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        faceres_result *r = describe(cases[i].who, cases[i].n);
        if (!r) skip();
        print_message("%s %d: age %.1f %s %.3f\n", cases[i].who, cases[i].n, r->age,
                      scry_gender_labels[r->gender], r->gender_score);
        assert_int_equal(r->gender, cases[i].gender);
        assert_true(r->gender_score >= 0.75);
        assert_true(r->age >= 18 && r->age <= 65);
        double norm = dot(r->descriptor, r->descriptor);
        assert_float_equal(norm, 1.0, 1e-4);
        int word = faceres_person_word(r, 100);
        assert_int_equal(word, cases[i].gender == SCRY_GENDER_MALE ? SCRY_PERSON_MAN
                                                                   : SCRY_PERSON_WOMAN);
        free(r);
    }
}

/* The same face shrunk until it is narrower than FACERES_MIN_FACE_PX: the
 * model still answers, the person word is withheld. */
static void test_tiny_face_gets_no_word(void **state) {
    (void)state;
    if (!g_model) skip();
    img_rgb img;
    face_box b;
    if (lfw_face("Aaron_Peirsol", 1, &img, &b)) skip();
    const int k = 10;   /* 250 px -> 25 px: a ~11 px face */
    img_rgb small = {.w = img.w / k, .h = img.h / k};
    small.px = malloc((size_t)small.w * small.h * 3);
    for (int y = 0; y < small.h; y++)
        for (int x = 0; x < small.w; x++)
            for (int c = 0; c < 3; c++) {
                int s = 0;
                for (int dy = 0; dy < k; dy++)
                    for (int dx = 0; dx < k; dx++)
                        s += img.px[((size_t)(y * k + dy) * img.w + x * k + dx) * 3 + c];
                small.px[((size_t)y * small.w + x) * 3 + c] = (uint8_t)(s / (k * k));
            }
    faceres_result r;
    scry_err err = {0};
    float bw = b.w / k;
    assert_true(bw < FACERES_MIN_FACE_PX);
    assert_int_equal(faceres_describe(g_model, &small, b.x / k, b.y / k, bw, b.h / k, &r, &err),
                     SCRY_OK);
    assert_true(isfinite(r.age));
    assert_int_equal(faceres_person_word(&r, bw), -1);
    /* and the big one does get a word */
    faceres_result big;
    assert_int_equal(faceres_describe(g_model, &img, b.x, b.y, b.w, b.h, &big, &err), SCRY_OK);
    assert_int_equal(faceres_person_word(&big, b.w), SCRY_PERSON_MAN);
    free(small.px);
    free(img.px);
}

/* Descriptors: two photos of one person are closer than photos of two
 * people, over LFW's first same-person and different-person pairs. */
static void test_descriptor_same_person_closer(void **state) {
    (void)state;
    if (!g_model) skip();
    FILE *f = fopen(tu_shared("data/lfw/pairs_devtest.txt"), "r");
    if (!f) skip();
    char line[512];
    int nsame = 0, ndiff = 0;
    double same = 0, diff = 0, min_same = 2, max_diff = -2;
    int below = 0;
    double sims_same[12];
    while (fgets(line, sizeof line, f) && (nsame < 12 || ndiff < 12)) {
        char a[128], b[128];
        int i, j;
        faceres_result *ra = NULL, *rb = NULL;
        if (sscanf(line, "%127s %d %127s %d", a, &i, b, &j) == 4) {
            if (ndiff >= 12) continue;
            ra = describe(a, i);
            rb = describe(b, j);
            if (!ra || !rb) skip();
            double s = dot(ra->descriptor, rb->descriptor);
            ndiff++;
            diff += s;
            max_diff = fmax(max_diff, s);
        } else if (sscanf(line, "%127s %d %d", a, &i, &j) == 3) {
            if (nsame >= 12) continue;
            ra = describe(a, i);
            rb = describe(a, j);
            if (!ra || !rb) skip();
            double s = dot(ra->descriptor, rb->descriptor);
            sims_same[nsame++] = s;
            same += s;
            min_same = fmin(min_same, s);
        }
        free(ra);
        free(rb);
    }
    fclose(f);
    assert_int_equal(nsame, 12);
    assert_int_equal(ndiff, 12);
    same /= nsame;
    diff /= ndiff;
    /* how many same-person pairs fall below the mean different-person pair */
    for (int k = 0; k < nsame; k++) below += sims_same[k] <= diff;
    print_message("cosine: same person mean %.3f (min %.3f), different mean %.3f (max %.3f), "
                  "same below different mean: %d/12\n", same, min_same, diff, max_diff, below);
    /* measured: same 0.725 (min 0.664), different 0.373 (max 0.509) */
    assert_true(same > diff + 0.15);
    assert_true(below <= 1);
}

/* Two threads on one model describe the same face identically. */
typedef struct job {
    img_rgb *img;
    face_box b;
    faceres_result r;
    int rc;
} job;

static void *worker(void *p) {
    job *j = p;
    scry_err err = {0};
    for (int k = 0; k < 3 && j->rc == SCRY_OK; k++)
        j->rc = faceres_describe(g_model, j->img, j->b.x, j->b.y, j->b.w, j->b.h, &j->r, &err);
    return NULL;
}

static void test_threads_share_the_model(void **state) {
    (void)state;
    if (!g_model) skip();
    img_rgb img;
    face_box b;
    if (lfw_face("Madonna", 1, &img, &b)) skip();
    job *jobs = calloc(2, sizeof *jobs);
    pthread_t t[2];
    for (int i = 0; i < 2; i++) {
        jobs[i] = (job){.img = &img, .b = b};
        pthread_create(&t[i], NULL, worker, &jobs[i]);
    }
    for (int i = 0; i < 2; i++) pthread_join(t[i], NULL);
    assert_int_equal(jobs[0].rc, SCRY_OK);
    assert_int_equal(jobs[1].rc, SCRY_OK);
    assert_float_equal(jobs[0].r.age, jobs[1].r.age, 1e-6);
    assert_float_equal(jobs[0].r.gender_score, jobs[1].r.gender_score, 1e-6);
    assert_true(dot(jobs[0].r.descriptor, jobs[1].r.descriptor) > 0.99999);
    free(jobs);
    free(img.px);
}

/* Human's post-processing (dist/human.node.js N5) on hand-made outputs. */
static void test_decode_is_humans(void **state) {
    (void)state;
    float k[FACERES_AGE_BINS] = {0}, feat[FACERES_DIM];
    for (int i = 0; i < FACERES_DIM; i++) feat[i] = (float)(i % 7);
    faceres_result r;
    /* peak at 30, larger neighbour above: 10*30 + 100*0.2 -> 32.0 */
    k[29] = 0.1f, k[30] = 0.5f, k[31] = 0.2f;
    faceres_decode(0.3f, k, feat, &r);
    assert_float_equal(r.age, 32.0, 1e-5);
    assert_int_equal(r.gender, SCRY_GENDER_FEMALE);
    assert_float_equal(r.gender_score, 0.7, 1e-6);
    assert_float_equal(dot(r.descriptor, r.descriptor), 1.0, 1e-5);
    /* larger neighbour below: 10*30 - 100*0.25 -> 27.5 */
    k[29] = 0.25f;
    faceres_decode(0.9f, k, feat, &r);
    assert_float_equal(r.age, 27.5, 1e-5);
    assert_int_equal(r.gender, SCRY_GENDER_MALE);
    assert_float_equal(r.gender_score, 0.9, 1e-6);
    /* p = 0.5 is female in Human (p <= 0.5) */
    faceres_decode(0.5f, k, feat, &r);
    assert_int_equal(r.gender, SCRY_GENDER_FEMALE);
    /* the top bin, where Human reads past the array: lower neighbour */
    float top[FACERES_AGE_BINS] = {0};
    top[99] = 0.9f, top[98] = 0.05f;
    faceres_decode(0.9f, top, feat, &r);
    assert_float_equal(r.age, 98.5, 1e-4);
    /* bin 0: the neighbour above */
    float low[FACERES_AGE_BINS] = {0};
    low[0] = 0.8f, low[1] = 0.1f;
    faceres_decode(0.9f, low, feat, &r);
    assert_float_equal(r.age, 1.0, 1e-5);
}

static void test_person_word_rules(void **state) {
    (void)state;
    faceres_result r = {.age = 30, .gender = SCRY_GENDER_FEMALE, .gender_score = 0.9f};
    assert_int_equal(faceres_person_word(&r, 40), SCRY_PERSON_WOMAN);
    assert_int_equal(faceres_person_word(&r, FACERES_MIN_FACE_PX - 1), -1);   /* too small */
    r.gender_score = FACERES_ADULT_GENDER_MIN - 0.01f;
    assert_int_equal(faceres_person_word(&r, 40), -1);                        /* too unsure */
    r.age = 8;
    assert_int_equal(faceres_person_word(&r, 40), SCRY_PERSON_CHILD);         /* young, unsure */
    r.gender = SCRY_GENDER_MALE, r.gender_score = 0.95f;
    assert_int_equal(faceres_person_word(&r, 40), SCRY_PERSON_BOY);
    r.age = 1;
    assert_int_equal(faceres_person_word(&r, 40), SCRY_PERSON_BABY);
    r.age = 80;
    assert_int_equal(faceres_person_word(&r, 40), SCRY_PERSON_MAN);           /* no "elderly" */
    assert_string_equal(scry_person_labels[SCRY_PERSON_GIRL], "girl");
    assert_int_equal(scry_person_index("baby"), SCRY_PERSON_BABY);
    assert_int_equal(scry_gender_index("male"), SCRY_GENDER_MALE);
    assert_int_equal(scry_person_index("robot"), -1);
}

static void test_bad_args_and_missing_model(void **state) {
    (void)state;
    scry_err err = {0};
    faceres_model *m = NULL;
    assert_int_equal(faceres_load("/nonexistent-dir", &m, &err), SCRY_ENOTFOUND);
    assert_null(m);
    assert_non_null(strstr(err.msg, "faceres.onnx"));
    assert_non_null(strstr(err.msg, "setup.sh"));
    if (!g_model) return;
    img_rgb img = {.w = 32, .h = 32, .px = calloc(32 * 32 * 3, 1)};
    faceres_result r;
    assert_int_equal(faceres_describe(g_model, &img, 0, 0, 0, 10, &r, &err), SCRY_EINVAL);
    img_rgb empty = {0};
    assert_int_equal(faceres_describe(g_model, &empty, 0, 0, 10, 10, &r, &err), SCRY_EINVAL);
    /* a box hanging off the image reads black outside: still an answer */
    assert_int_equal(faceres_describe(g_model, &img, -20, -20, 40, 40, &r, &err), SCRY_OK);
    free(img.px);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_decode_is_humans),
        cmocka_unit_test(test_person_word_rules),
        cmocka_unit_test(test_bad_args_and_missing_model),
        cmocka_unit_test(test_age_gender_on_real_faces),
        cmocka_unit_test(test_tiny_face_gets_no_word),
        cmocka_unit_test(test_descriptor_same_person_closer),
        cmocka_unit_test(test_threads_share_the_model),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
