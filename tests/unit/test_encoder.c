/* Unit tests for text/wordvec and text/encoder on the real GloVe vectors
 * (deps/wordvec, built by ./scripts/setup.sh) and the real WordNet. Tests
 * that need the vectors are skipped, saying so, when the file is absent. */
#include "testutil.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/util.h"
#include "text/encoder.h"

static scry_wordvec *wv;
static scry_lexicon *lex;
static scry_encoder *enc;
static char wv_path[1024];

static int setup(void **state) {
    (void)state;
    scry_err err = {0};
    if (scry_lexicon_open(&lex, &err) != SCRY_OK) {
        fprintf(stderr, "lexicon: %s\n", err.msg);
        return -1;
    }
    scry_wordvec_default_path(wv_path, sizeof wv_path);
    if (access(wv_path, R_OK) != 0) {
        fprintf(stderr, "note: %s absent (run ./scripts/setup.sh); vector tests will be skipped\n", wv_path);
        return 0;
    }
    if (scry_wordvec_open(wv_path, &wv, &err) != SCRY_OK) {
        fprintf(stderr, "wordvec: %s\n", err.msg);
        return -1;
    }
    if (scry_sif_encoder_new(wv, lex, NULL, &enc, &err) != SCRY_OK) {
        fprintf(stderr, "encoder: %s\n", err.msg);
        return -1;
    }
    return 0;
}

static int teardown(void **state) {
    (void)state;
    scry_encoder_free(enc);
    scry_wordvec_close(wv);
    scry_lexicon_close(lex);
    return 0;
}

#define NEED_VECTORS()                                                                             \
    do {                                                                                           \
        if (!enc) {                                                                                \
            fprintf(stderr, "skipped: word vectors %s absent; run ./scripts/setup.sh\n", wv_path); \
            skip();                                                                                \
        }                                                                                          \
    } while (0)

static float cos_of(const char *a, const char *b) {
    float va[512], vb[512];
    assert_true(scry_encode(enc, a, va, NULL) > 0);
    assert_true(scry_encode(enc, b, vb, NULL) > 0);
    return scry_vec_dot(va, vb, enc->dim);
}

static void test_wordvec_lookup(void **state) {
    (void)state;
    NEED_VECTORS();
    assert_int_equal(scry_wordvec_dim(wv), 100);
    assert_int_equal(scry_wordvec_count(wv), 341479);
    assert_int_equal(scry_wordvec_find(wv, "the", 3), 0);
    assert_int_equal(scry_wordvec_rank(wv, 0), 0);
    int64_t dog = scry_wordvec_find(wv, "dog", 3), cat = scry_wordvec_find(wv, "cat", 3);
    assert_true(dog > 0 && cat > 0);
    assert_string_equal(scry_wordvec_word(wv, (uint32_t)dog), "dog");
    assert_true(scry_wordvec_rank(wv, (uint32_t)dog) < scry_wordvec_rank(wv, (uint32_t)scry_wordvec_find(wv, "poodle", 6)));
    assert_int_equal(scry_wordvec_find(wv, "zzqxqzz", 7), -1);
    assert_int_equal(scry_wordvec_find(wv, "do", 2) == scry_wordvec_find(wv, "dog", 2), 1); /* length-bounded */
    /* dog is closer to cat than to parliament in raw GloVe space */
    const float *d = scry_wordvec_vector(wv, (uint32_t)dog), *c = scry_wordvec_vector(wv, (uint32_t)cat),
                *p = scry_wordvec_vector(wv, (uint32_t)scry_wordvec_find(wv, "parliament", 10));
    double dc = 0, dp = 0, nd = 0, nc = 0, np = 0;
    for (int i = 0; i < 100; i++) dc += d[i] * c[i], dp += d[i] * p[i], nd += d[i] * d[i], nc += c[i] * c[i], np += p[i] * p[i];
    assert_true(dc / sqrt(nd * nc) > dp / sqrt(nd * np) + 0.3);
    scry_err err = {0};
    assert_int_equal(scry_wordvec_verify(wv, &err), SCRY_OK);
}

static void test_wordvec_errors_name_file_and_fix(void **state) {
    (void)state;
    scry_err err = {0};
    scry_wordvec *w = NULL;
    assert_int_equal(scry_wordvec_open("/nonexistent/wordvec.bin", &w, &err), SCRY_ENOTFOUND);
    assert_null(w);
    assert_non_null(strstr(err.msg, "/nonexistent/wordvec.bin"));
    assert_non_null(strstr(err.msg, "./scripts/setup.sh"));

    char *dir = tu_tempdir("wordvec");
    char path[700];
    snprintf(path, sizeof path, "%s/garbage.bin", dir);
    char junk[4096];
    for (size_t i = 0; i < sizeof junk; i++) junk[i] = (char)(i * 7 + 3);
    assert_int_equal(scry_write_file_durable(path, junk, sizeof junk, &err), SCRY_OK);
    assert_int_equal(scry_wordvec_open(path, &w, &err), SCRY_ECORRUPT);
    assert_non_null(strstr(err.msg, path));
    assert_non_null(strstr(err.msg, "./scripts/setup.sh"));

    if (enc) {
        /* the real file cut short, and with one byte of the vocabulary flipped */
        size_t n = 0;
        FILE *f = fopen(wv_path, "rb");
        assert_non_null(f);
        size_t keep = 1u << 22;
        char *head = malloc(keep);
        n = fread(head, 1, keep, f);
        fclose(f);
        assert_int_equal(n, keep);
        snprintf(path, sizeof path, "%s/short.bin", dir);
        assert_int_equal(scry_write_file_durable(path, head, keep, &err), SCRY_OK);
        assert_int_equal(scry_wordvec_open(path, &w, &err), SCRY_ECORRUPT);
        assert_non_null(strstr(err.msg, "truncated"));
        free(head);
    }
    tu_rmtree(dir);
    free(dir);
}

static void test_similar_sentences_are_closer(void **state) {
    (void)state;
    NEED_VECTORS();
    const char *a = "a puppy on the grass";
    assert_true(cos_of(a, "a dog in a field") > cos_of(a, "a red car on the street") + 0.1f);
    const char *b = "a man riding a horse";
    assert_true(cos_of(b, "a person on horseback") > cos_of(b, "a plate of pasta with tomato sauce"));
    const char *c = "a sign reads 'OPEN' above a shop door";
    assert_true(cos_of(c, "an open sign on a store") > cos_of(c, "two giraffes eating leaves"));
    const char *d = "two people and a dog on a sofa; one person is smiling";
    assert_true(cos_of(d, "a smiling woman sits on a couch with her dog") > cos_of(d, "an airplane on the runway"));
}

static void test_unit_length_and_deterministic(void **state) {
    (void)state;
    NEED_VECTORS();
    float v1[512], v2[512];
    int words = scry_encode(enc, "Two people and a dog on a sofa.", v1, NULL);
    assert_true(words >= 4);   /* "a" is not in the vocabulary */
    assert_int_equal(scry_encode(enc, "Two people and a dog on a sofa.", v2, NULL), words);
    assert_memory_equal(v1, v2, sizeof(float) * enc->dim);
    double n = 0;
    for (int i = 0; i < enc->dim; i++) n += (double)v1[i] * v1[i];
    assert_true(fabs(n - 1.0) < 1e-5);
    /* case and punctuation do not matter */
    assert_int_equal(scry_encode(enc, "TWO PEOPLE -- and a DOG, on a sofa!!", v2, NULL), words);
    assert_memory_equal(v1, v2, sizeof(float) * enc->dim);
    /* nothing known: zero vector and 0 words */
    assert_int_equal(scry_encode(enc, "qzxv zzqq 1234 ?!", v2, NULL), 0);
    for (int i = 0; i < enc->dim; i++) assert_true(v2[i] == 0.0f);
    assert_int_equal(scry_encode(enc, "", v2, NULL), 0);
    scry_err err = {0};
    assert_int_equal(scry_encode(enc, NULL, v2, &err), SCRY_EINVAL);
}

static void test_tokenizer_clitics_and_quotes(void **state) {
    (void)state;
    NEED_VECTORS();
    float a[512], b[512];
    scry_encode(enc, "the dog's bone", a, NULL);
    scry_encode(enc, "the dog bone", b, NULL);
    assert_memory_equal(a, b, sizeof(float) * enc->dim);
    scry_encode(enc, "I don't see it", a, NULL);
    scry_encode(enc, "I do not see it", b, NULL);
    assert_memory_equal(a, b, sizeof(float) * enc->dim);
    scry_encode(enc, "won't", a, NULL);
    scry_encode(enc, "will not", b, NULL);
    assert_memory_equal(a, b, sizeof(float) * enc->dim);
    scry_encode(enc, "a sign reading \xE2\x80\x9CSALE\xE2\x80\x9D", a, NULL);
    scry_encode(enc, "a sign reading \"sale\"", b, NULL);
    assert_memory_equal(a, b, sizeof(float) * enc->dim);
}

static void test_common_component_changes_vectors(void **state) {
    (void)state;
    NEED_VECTORS();
    scry_sif_options nopc = {1e-3, 0, NULL};
    scry_encoder *e2 = NULL;
    scry_err err = {0};
    assert_int_equal(scry_sif_encoder_new(wv, lex, &nopc, &e2, &err), SCRY_OK);
    assert_string_not_equal(e2->name, enc->name);
    float a[512], b[512];
    scry_encode(enc, "a cat sleeping on a bed", a, NULL);
    scry_encode(e2, "a cat sleeping on a bed", b, NULL);
    float c = scry_vec_dot(a, b, enc->dim);
    assert_true(c < 0.9999f && c > 0.5f);   /* related but not identical */
    scry_encoder_free(e2);
}

static const char *const sentences[] = {"a puppy on the grass", "a red car on the street", "two people on a sofa",
                                        "a bowl of fruit", "children playing football in a park", NULL};

static void *encode_loop(void *arg) {
    const float *want = arg;
    float v[512];
    for (int r = 0; r < 300; r++)
        for (int s = 0; sentences[s]; s++) {
            scry_encode(enc, sentences[s], v, NULL);
            if (memcmp(v, want + s * 512, sizeof(float) * enc->dim) != 0) return (void *)1;
        }
    return NULL;
}

static void test_concurrent_encodes_match(void **state) {
    (void)state;
    NEED_VECTORS();
    static float want[8 * 512];
    for (int s = 0; sentences[s]; s++) scry_encode(enc, sentences[s], want + s * 512, NULL);
    pthread_t t[2];
    void *r[2];
    for (int i = 0; i < 2; i++) pthread_create(&t[i], NULL, encode_loop, want);
    for (int i = 0; i < 2; i++) pthread_join(t[i], &r[i]);
    assert_null(r[0]);
    assert_null(r[1]);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_wordvec_lookup),
        cmocka_unit_test(test_wordvec_errors_name_file_and_fix),
        cmocka_unit_test(test_similar_sentences_are_closer),
        cmocka_unit_test(test_unit_length_and_deterministic),
        cmocka_unit_test(test_tokenizer_clitics_and_quotes),
        cmocka_unit_test(test_common_component_changes_vectors),
        cmocka_unit_test(test_concurrent_encodes_match),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
