/* Unit tests for text/lexicon on the real WordNet 3.0 (Debian wordnet-base). */
#include "testutil.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "core/labels.h"
#include "text/lexicon.h"

static scry_lexicon *lex;

static int setup(void **state) {
    (void)state;
    scry_err err = {0};
    if (scry_lexicon_open(&lex, &err) != SCRY_OK) {
        fprintf(stderr, "lexicon: %s\n", err.msg);
        return -1;
    }
    return 0;
}

static int teardown(void **state) {
    (void)state;
    scry_lexicon_close(lex);
    return 0;
}

/* The comma-separated labels as a bit set. */
static void label_bits(const char *labels, uint64_t want[2]) {
    want[0] = want[1] = 0;
    char buf[512];
    snprintf(buf, sizeof buf, "%s", labels);
    for (char *save, *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        int l = scry_coco_index(tok);
        if (l < 0) fail_msg("bad label in test: %s", tok);
        want[l / 64] |= 1ULL << (l % 64);
    }
}

/* Asserts that word maps to exactly the comma-separated labels. */
static void expect_labels(const char *word, const char *labels) {
    scry_lex_match m;
    scry_lexicon_map(lex, word, &m);
    uint64_t want[2];
    label_bits(labels, want);
    if (m.coco[0] != want[0] || m.coco[1] != want[1]) {
        char got[1024] = "";
        for (int l = 0; l < SCRY_COCO_COUNT; l++)
            if (scry_lex_has(&m, l)) strncat(got, scry_coco_labels[l], sizeof got - strlen(got) - 2), strcat(got, ",");
        fail_msg("'%s' -> {%s}, want {%s}", word, got, labels);
    }
}

static void expect_emotion(const char *word, const char *emotion) {
    scry_lex_match m;
    scry_lexicon_map(lex, word, &m);
    if (m.emotion != scry_emotion_index(emotion))
        fail_msg("'%s' -> emotion %s, want %s", word, m.emotion >= 0 ? scry_emotion_labels[m.emotion] : "none", emotion);
}

static void expect_color(const char *word, const char *color) {
    scry_lex_match m;
    scry_lexicon_map(lex, word, &m);
    if (m.color != scry_color_index(color))
        fail_msg("'%s' -> colour %s, want %s", word, m.color >= 0 ? scry_color_names[m.color] : "none", color);
}

static void test_synonyms_hyponyms_plurals(void **state) {
    (void)state;
    expect_labels("puppy", "dog");
    expect_labels("puppies", "dog");
    expect_labels("canine", "dog");
    expect_labels("dogs", "dog");
    expect_labels("poodle", "dog");
    expect_labels("automobile", "car");
    expect_labels("cars", "car");
    expect_labels("motorbike", "motorcycle");
    expect_labels("kids", "person");
    expect_labels("children", "person");
    expect_labels("man", "person");
    expect_labels("woman", "person");
    expect_labels("people", "person");
    expect_labels("eagle", "bird");
    expect_labels("sofa", "couch");
    expect_labels("television", "tv");
    expect_labels("jet", "airplane");
    expect_labels("hot dogs", "hot dog");
    expect_labels("teddy bear", "teddy bear");
}

static void test_hypernyms_cover_sets(void **state) {
    (void)state;
    expect_labels("animals", "bird,cat,dog,horse,sheep,cow,elephant,bear,zebra,giraffe");
    expect_labels("animal", "bird,cat,dog,horse,sheep,cow,elephant,bear,zebra,giraffe");
    expect_labels("vehicles", "bicycle,car,motorcycle,airplane,bus,train,truck,boat");
    expect_labels("food", "banana,apple,sandwich,orange,broccoli,carrot,hot dog,pizza,donut,cake");
    expect_labels("fruit", "banana,apple,orange");
    expect_labels("furniture", "bench,chair,couch,bed,dining table");
    scry_lex_match m;
    scry_lexicon_map(lex, "furniture", &m);
    assert_int_equal(m.coco_how, SCRY_LEX_HYPERNYM);
    scry_lexicon_map(lex, "puppy", &m);
    assert_int_equal(m.coco_how, SCRY_LEX_HYPONYM);
    scry_lexicon_map(lex, "automobile", &m);
    assert_int_equal(m.coco_how, SCRY_LEX_SYNONYM);
}

static void test_no_false_mappings(void **state) {
    (void)state;
    scry_lex_match m;
    /* too vague: covers more than SCRY_LEX_MAX_COVER labels */
    assert_int_equal(scry_lexicon_map(lex, "object", &m), 0);
    assert_int_equal(scry_lexicon_map(lex, "artifact", &m), 0);
    /* dominant sense is the celestial body, not a performer */
    scry_lexicon_map(lex, "star", &m);
    assert_int_equal(m.ncoco, 0);
    /* colour words do not become objects through rare noun senses */
    scry_lexicon_map(lex, "grey", &m);
    assert_int_equal(m.ncoco, 0);
    assert_int_equal(scry_lexicon_map(lex, "blorfzibble", &m), 0);
    assert_int_equal(m.emotion, -1);
    assert_int_equal(m.color, -1);
    /* "sign" means OCR text to us, never a stop sign */
    scry_lexicon_map(lex, "sign", &m);
    assert_int_equal(m.ncoco, 0);
}

/* Activities and agents imply the objects their definitions name; words
 * whose main sense is a place or a thing imply nothing. */
static void expect_implied(const char *word, const char *labels) {
    scry_lex_match m;
    scry_lexicon_map(lex, word, &m);
    uint64_t want[2];
    label_bits(labels, want);
    if (m.implied[0] != want[0] || m.implied[1] != want[1])
        fail_msg("'%s' implies %llx:%llx, want %s", word, (unsigned long long)m.implied[0],
                 (unsigned long long)m.implied[1], labels);
}

static void test_implied_objects(void **state) {
    (void)state;
    expect_implied("surfing", "surfboard");
    expect_implied("surfer", "surfboard");          /* via "surfboarding" */
    expect_implied("skier", "skis");
    expect_implied("cyclist", "bicycle");
    expect_implied("cycling", "bicycle,motorcycle");
    expect_implied("tennis", "sports ball,tennis racket");
    expect_implied("windsurfing", "surfboard");
    scry_lex_match m;
    /* an agent is still a person */
    scry_lexicon_map(lex, "skier", &m);
    assert_true(scry_lex_has(&m, scry_coco_index("person")));
    /* places and things, and words with unrelated senses, imply nothing */
    const char *none[] = {"beach", "grass", "field", "street", "snow", "running", "driving", "kitchen"};
    for (size_t i = 0; i < sizeof none / sizeof *none; i++) expect_implied(none[i], "");
    /* an object word has no implied objects of its own */
    scry_lexicon_map(lex, "surfboard", &m);
    assert_true(m.implied[0] == 0 && m.implied[1] == 0);
}

static void test_emotions(void **state) {
    (void)state;
    expect_emotion("joyful", "happy");
    expect_emotion("smiling", "happy");
    expect_emotion("cheerful", "happy");
    expect_emotion("glad", "happy");
    expect_emotion("happiness", "happy");
    expect_emotion("furious", "angry");
    expect_emotion("fury", "angry");
    expect_emotion("scared", "fear");
    expect_emotion("terrified", "fear");
    expect_emotion("terror", "fear");
    expect_emotion("astonished", "surprise");
    expect_emotion("disgusted", "disgust");
    expect_emotion("sad", "sad");
    expect_emotion("crying", "sad");
    expect_emotion("expressionless", "neutral");
}

static void test_colors(void **state) {
    (void)state;
    expect_color("grey", "gray");
    expect_color("gray", "gray");
    expect_color("crimson", "red");
    expect_color("navy", "blue");
    expect_color("blue", "blue");
    expect_color("golden", "yellow");
    scry_lex_match m;
    /* both a fruit and a colour: the query parser decides from context */
    scry_lexicon_map(lex, "orange", &m);
    assert_true(scry_lex_has(&m, scry_coco_index("orange")));
    assert_int_equal(m.color, scry_color_index("orange"));
}

static void test_lemmas(void **state) {
    (void)state;
    char forms[4][SCRY_LEX_WORD_MAX];
    int n = scry_lexicon_lemmas(lex, "children", forms, 4);
    assert_true(n >= 1);
    assert_string_equal(forms[0], "child");
    n = scry_lexicon_lemmas(lex, "running", forms, 4);
    int found = 0;
    for (int i = 0; i < n; i++) found |= strcmp(forms[i], "run") == 0;
    assert_true(found);
    assert_int_equal(scry_lexicon_lemmas(lex, "dog", forms, 4), 0);   /* already a base form */
    assert_int_equal(scry_lexicon_lemmas(lex, "", forms, 4), 0);
}

static void *map_many(void *arg) {
    const char *const *words = arg;
    for (int r = 0; r < 20; r++)
        for (int i = 0; words[i]; i++) {
            scry_lex_match m;
            scry_lexicon_map(lex, words[i], &m);
            if (strcmp(words[i], "puppies") == 0 && !scry_lex_has(&m, scry_coco_index("dog"))) return (void *)1;
            if (strcmp(words[i], "furious") == 0 && m.emotion != scry_emotion_index("angry")) return (void *)1;
        }
    return NULL;
}

static void test_concurrent_lookups(void **state) {
    (void)state;
    static const char *const a[] = {"puppies", "furious", "crimson", "children", NULL};
    static const char *const b[] = {"furious", "vehicles", "puppies", "gloomy", NULL};
    pthread_t t1, t2;
    void *r1, *r2;
    pthread_create(&t1, NULL, map_many, (void *)a);
    pthread_create(&t2, NULL, map_many, (void *)b);
    pthread_join(t1, &r1);
    pthread_join(t2, &r2);
    assert_null(r1);
    assert_null(r2);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_synonyms_hyponyms_plurals),
        cmocka_unit_test(test_hypernyms_cover_sets),
        cmocka_unit_test(test_no_false_mappings),
        cmocka_unit_test(test_implied_objects),
        cmocka_unit_test(test_emotions),
        cmocka_unit_test(test_colors),
        cmocka_unit_test(test_lemmas),
        cmocka_unit_test(test_concurrent_lookups),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
