/* Unit tests for vision/concepts: the feature layout, the head file's
 * checks (missing, truncated, corrupt, another layout), and the trained head
 * itself on real photos through the real detector -- a beach reads "beach",
 * a street "street", and the projection ranks a photo first for a sentence
 * about it. */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../tools/rgbload.h"
#include "core/log.h"
#include "text/encoder.h"
#include "vision/concepts.h"
#include "vision/objects.h"
#include "vision/onnx.h"

static objects_model *om;
static concepts_model *cm;

static int setup(void **state) {
    (void)state;
    log_set_level(LOG_WARN);
    scry_err err = {0};
    if (onnx_global_init(1, &err) || objects_load(tu_deps("models"), &om, &err) ||
        concepts_load(tu_deps("models"), &cm, &err)) {
        fprintf(stderr, "concepts: %s (run ./scripts/setup.sh)\n", err.msg);
        return -1;
    }
    return 0;
}

static int teardown(void **state) {
    (void)state;
    concepts_free(cm);
    objects_free(om);
    return 0;
}

static void test_layout(void **state) {
    (void)state;
    int end = 0;
    for (int b = 0; b < CF_NBLOCKS; b++) {
        assert_int_equal(concept_blocks[b].offset, end);
        end += concept_blocks[b].size;
    }
    assert_int_equal(end, CONCEPT_FEAT_DIM);
    assert_true(objects_has_features(om));
}

/* The features of a darknet photo, as the concepts stage computes them. */
static float *features_of(const char *name) {
    img_rgb img;
    assert_int_equal(rgbload(tu_darknet(name), &img.w, &img.h, &img.px), 0);
    objects_features *of = malloc(sizeof *of);
    objects_params p;
    objects_default_params(&p);
    det_box *d = NULL;
    int n = 0;
    scry_err err = {0};
    assert_int_equal(objects_detect_features(om, &img, &p, &d, &n, of, &err), SCRY_OK);
    img_stats st;
    img_stats_compute(&img, &st);
    float *f = malloc(CONCEPT_FEAT_DIM * sizeof *f);
    concepts_features(of, d, n, img.w, img.h, &st, f);
    free(d);
    free(of);
    free(img.px);
    return f;
}

static int concept(const char *word) {
    for (int i = 0; i < concepts_count(cm); i++)
        if (!strcmp(concepts_word(cm, i), word)) return i;
    fail_msg("no concept '%s'", word);
    return -1;
}

static void test_head_on_real_photos(void **state) {
    (void)state;
    assert_true(concepts_count(cm) >= 40);
    assert_int_equal(strncmp(concepts_name(cm), "concepts-", 9), 0);
    int C = concepts_count(cm), k = concepts_proj_dim(cm);
    float *pk = malloc(C * sizeof *pk), *pd = malloc(C * sizeof *pd);
    float *jk = malloc(k * sizeof *jk), *jd = malloc(k * sizeof *jd);
    float *fk = features_of("kite.jpg"), *fd = features_of("dog.jpg");
    concepts_apply(cm, fk, pk, jk);
    concepts_apply(cm, fd, pd, jd);
    int beach = concept("beach"), street = concept("street");
    print_message("kite.jpg beach %.2f street %.2f; dog.jpg beach %.2f street %.2f\n", pk[beach],
                  pk[street], pd[beach], pd[street]);
    assert_true(pk[beach] > 0.5f && pk[beach] > pd[beach]);
    assert_true(pd[street] > 0.5f && pd[street] > pk[street]);
    for (int i = 0; i < C; i++) assert_true(pk[i] >= 0 && pk[i] <= 1);
    double n = 0;
    for (int i = 0; i < k; i++) n += (double)jk[i] * jk[i];
    assert_true(n > 0.999 && n < 1.001);
    /* deterministic */
    float *again = malloc(k * sizeof *again);
    concepts_apply(cm, fk, NULL, again);
    assert_memory_equal(again, jk, k * sizeof *jk);

    /* the text side: a sentence about each photo is closer to it */
    scry_wordvec *wv;
    scry_lexicon *lex;
    scry_encoder *enc;
    assert_int_equal(tu_text_open(&wv, &lex, &enc), 0);
    assert_string_equal(concepts_encoder(cm), enc->name);
    float q[512], t[512];
    scry_err err = {0};
    assert_true(scry_encode(enc, "people flying kites on a sandy beach", q, &err) > 0);
    concepts_project_text(cm, q, NULL, 0, t);
    assert_true(scry_vec_dot(t, jk, k) > scry_vec_dot(t, jd, k));
    assert_true(scry_encode(enc, "a dog sitting by a bicycle in the street", q, &err) > 0);
    concepts_project_text(cm, q, NULL, 0, t);
    assert_true(scry_vec_dot(t, jd, k) > scry_vec_dot(t, jk, k));
    /* the bag of words alone places a sentence too, and counts */
    const char *keys[] = {"kite", "beach", "sand", "nosuchword"};
    float zero[512] = {0};
    assert_true(concepts_vocab_index(cm, "beach") >= 0);
    assert_int_equal(concepts_vocab_index(cm, "nosuchword"), -1);
    concepts_project_text(cm, zero, keys, 4, t);
    assert_true(scry_vec_dot(t, jk, k) > scry_vec_dot(t, jd, k));
    concepts_project_text(cm, zero, NULL, 0, t);
    for (int i = 0; i < k; i++) assert_true(t[i] == 0);
    tu_text_close(wv, lex, enc);
    free(again);
    free(pk), free(pd), free(jk), free(jd), free(fk), free(fd);
}

static void write_file(const char *path, const void *data, size_t n) {
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, n, f), n);
    fclose(f);
}

static void test_bad_files(void **state) {
    (void)state;
    char path[1200];
    snprintf(path, sizeof path, "%s/%s", tu_deps("models"), CONCEPTS_MODEL_FILE);
    size_t n;
    uint8_t *good = tu_read(path, &n);
    char *dir = tu_tempdir("concepts");
    char file[1200];
    snprintf(file, sizeof file, "%s/%s", dir, CONCEPTS_MODEL_FILE);
    concepts_model *m = NULL;
    scry_err err = {0};
    /* missing: names the file and the fix */
    assert_int_equal(concepts_load(dir, &m, &err), SCRY_ENOTFOUND);
    assert_non_null(strstr(err.msg, file));
    assert_non_null(strstr(err.msg, "./scripts/setup.sh"));
    /* truncated, a flipped byte, another magic */
    write_file(file, good, n / 2);
    assert_int_equal(concepts_load(dir, &m, &err), SCRY_ECORRUPT);
    good[n / 3] ^= 0x40;
    write_file(file, good, n);
    assert_int_equal(concepts_load(dir, &m, &err), SCRY_ECORRUPT);
    assert_non_null(strstr(err.msg, "checksum"));
    good[n / 3] ^= 0x40;
    write_file(file, "not a head", 10);
    assert_int_equal(concepts_load(dir, &m, &err), SCRY_ECORRUPT);
    assert_null(m);
    /* the original loads from the copy */
    write_file(file, good, n);
    assert_int_equal(concepts_load(dir, &m, &err), SCRY_OK);
    assert_string_equal(concepts_name(m), concepts_name(cm));
    concepts_free(m);
    tu_rmtree(dir);
    free(dir);
    free(good);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_layout),
        cmocka_unit_test(test_head_on_real_photos),
        cmocka_unit_test(test_bad_files),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
