/* Unit tests for text/query: a wide table of parses on the real WordNet. */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/labels.h"
#include "text/query.h"
#include "vision/image.h"

static scry_lexicon *lex;
/* 2024-06-10T06:13:20Z, a Monday: every relative date below is relative to it. */
static const int64_t NOW = 1718000000;

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

static scry_query parse(const char *text) {
    scry_query q;
    scry_err err = {0};
    if (scry_query_parse(lex, text, NOW, &q, &err) != SCRY_OK) fail_msg("parse '%s': %s", text, err.msg);
    return q;
}

static int64_t day(int y, int m, int d) {
    struct tm tm = {0};
    tm.tm_year = y - 1900;
    tm.tm_mon = m - 1;
    tm.tm_mday = d;
    return (int64_t)timegm(&tm);
}

/* The object constraint covering exactly `labels` (comma-separated), or fail. */
static const scry_query_object *object(const scry_query *q, const char *labels, const char *text) {
    uint64_t want[2] = {0, 0};
    char buf[512];
    snprintf(buf, sizeof buf, "%s", labels);
    for (char *save, *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        int l = scry_coco_index(t);
        want[l / 64] |= 1ULL << (l % 64);
    }
    for (int i = 0; i < q->nobjects; i++)
        if (q->objects[i].labels[0] == want[0] && q->objects[i].labels[1] == want[1]) return &q->objects[i];
    char *j = scry_query_to_json(q);
    fail_msg("'%s': no object {%s} in %s", text, labels, j);
    return NULL;
}

static int excluded(const scry_query *q, const char *label) {
    int l = scry_coco_index(label);
    return (int)(q->excluded[l / 64] >> (l % 64) & 1);
}

static const struct {
    const char *text, *labels;
    int min, max, preferred;
    const char *color, *emotion;
} count_cases[] = {
    {"a dog", "dog", 1, -1, 0, NULL, NULL},
    {"dogs playing", "dog", 1, -1, 0, NULL, NULL},
    {"two dogs", "dog", 2, -1, 2, NULL, NULL},
    {"2 dogs on a beach", "dog", 2, -1, 2, NULL, NULL},
    {"exactly two cats", "cat", 2, 2, 2, NULL, NULL},
    {"at least 3 people", "person", 3, -1, 0, NULL, NULL},
    {"at most 2 people", "person", 0, 2, 0, NULL, NULL},
    {"more than three cars", "car", 4, -1, 0, NULL, NULL},
    {"fewer than 3 birds", "bird", 0, 2, 0, NULL, NULL},
    {"a crowd", "person", 5, -1, 0, NULL, NULL},
    {"a crowd of people at a concert", "person", 5, -1, 0, NULL, NULL},
    {"several sheep in a field", "sheep", 3, -1, 0, NULL, NULL},
    {"a couple of horses", "horse", 2, -1, 2, NULL, NULL},
    {"puppies", "dog", 1, -1, 0, NULL, NULL},
    {"an automobile", "car", 1, -1, 0, NULL, NULL},
    {"red car", "car", 1, -1, 0, "red", NULL},
    {"a crimson motorbike", "motorcycle", 1, -1, 0, "red", NULL},
    {"an orange cat", "cat", 1, -1, 0, "orange", NULL},
    {"oranges in a bowl", "orange", 1, -1, 0, NULL, NULL},
    {"three grey puppies", "dog", 3, -1, 3, "gray", NULL},
    {"smiling kids", "person", 1, -1, 0, NULL, "happy"},
    {"two smiling children", "person", 2, -1, 2, NULL, "happy"},
    {"angry man", "person", 1, -1, 0, NULL, "angry"},
    {"a woman who looks furious", "person", 1, -1, 0, NULL, "angry"},
    {"a man smiling", "person", 1, -1, 0, NULL, "happy"},
    {"scared people", "person", 1, -1, 0, NULL, "fear"},
    {"happy faces", "person", 1, -1, 0, NULL, "happy"},
    {"animals", "bird,cat,dog,horse,sheep,cow,elephant,bear,zebra,giraffe", 1, -1, 0, NULL, NULL},
    {"vehicles on a bridge", "bicycle,car,motorcycle,airplane,bus,train,truck,boat", 1, -1, 0, NULL, NULL},
    {"fruit", "banana,apple,orange", 1, -1, 0, NULL, NULL},
    {"hot dogs at a stadium", "hot dog", 1, -1, 0, NULL, NULL},
    {"a teddy bear", "teddy bear", 1, -1, 0, NULL, NULL},
};

static void test_counts_colours_emotions(void **state) {
    (void)state;
    for (size_t i = 0; i < sizeof count_cases / sizeof count_cases[0]; i++) {
        scry_query q = parse(count_cases[i].text);
        const scry_query_object *o = object(&q, count_cases[i].labels, count_cases[i].text);
        if (o->min_count != count_cases[i].min || o->max_count != count_cases[i].max ||
            o->preferred_count != count_cases[i].preferred)
            fail_msg("'%s': count [%d,%d] pref %d, want [%d,%d] pref %d", count_cases[i].text, o->min_count,
                     o->max_count, o->preferred_count, count_cases[i].min, count_cases[i].max, count_cases[i].preferred);
        int want_color = count_cases[i].color ? scry_color_index(count_cases[i].color) : -1;
        int want_emotion = count_cases[i].emotion ? scry_emotion_index(count_cases[i].emotion) : -1;
        if (o->color != want_color) fail_msg("'%s': colour %d, want %d", count_cases[i].text, o->color, want_color);
        if (o->emotion != want_emotion) fail_msg("'%s': emotion %d, want %d", count_cases[i].text, o->emotion, want_emotion);
        assert_int_equal(q.nobjects, 1 + (strstr(count_cases[i].text, "bowl") != NULL));
    }
}

/* Issue 9: who (person words), what they imply (activities), what they
 * wear, and what the photo itself is. */
static void test_people_activities_attributes(void **state) {
    (void)state;
    int man = 1 << SCRY_PERSON_MAN, woman = 1 << SCRY_PERSON_WOMAN, girl = 1 << SCRY_PERSON_GIRL;
    scry_query q = parse("a man with a dog");
    assert_int_equal(object(&q, "person", "a man with a dog")->person_kinds, man);
    object(&q, "dog", "a man with a dog");
    /* a man and a woman are two constraints, not "a man or a woman" */
    q = parse("a man and a woman");
    assert_int_equal(q.nobjects, 2);
    assert_int_equal(q.objects[0].person_kinds | q.objects[1].person_kinds, man | woman);
    assert_true(q.objects[0].person_kinds != q.objects[1].person_kinds);
    q = parse("two girls");
    assert_int_equal(object(&q, "person", "two girls")->person_kinds, girl);
    assert_int_equal(object(&q, "person", "two girls")->min_count, 2);
    q = parse("kids playing");
    assert_true(object(&q, "person", "kids")->person_kinds & girl);
    q = parse("people on a beach");
    assert_int_equal(object(&q, "person", "people")->person_kinds, 0);
    /* activities and agents imply their objects; an object named wins */
    q = parse("a man surfing a wave");
    assert_int_equal(object(&q, "surfboard", "surfing")->how, SCRY_LEX_IMPLIED);
    q = parse("a skier");
    object(&q, "skis", "a skier");
    object(&q, "person", "a skier");
    q = parse("a man riding a bike");
    object(&q, "bicycle", "riding a bike");
    assert_int_equal(q.nobjects, 2);        /* riding implies no horse here */
    q = parse("playing in the field");
    assert_int_equal(q.nobjects, 0);        /* a field is a place, not a sport */
    /* clothing, not colours of the photo */
    q = parse("a man in a red shirt");
    assert_int_equal(object(&q, "person", "red shirt")->clothing, scry_color_index("red"));
    assert_int_equal(q.ncolors, 0);
    q = parse("a woman in blue with a dog");
    assert_int_equal(object(&q, "person", "in blue")->clothing, scry_color_index("blue"));
    q = parse("a red car");
    assert_int_equal(object(&q, "car", "red car")->color, scry_color_index("red"));
    /* photo attributes */
    q = parse("a black and white photo");
    assert_int_equal(q.photo_attrs, IMG_ATTR_BW);
    assert_int_equal(q.ncolors, 0);
    assert_null(strstr(q.residual, "black"));
    q = parse("a street at night");
    assert_int_equal(q.photo_attrs, IMG_ATTR_DARK);
    assert_non_null(strstr(q.residual, "street"));
    q = parse("a dark dog");            /* a dark-coated dog, not a dark photo */
    assert_int_equal(q.photo_attrs, 0);
    q = parse("blurry close-up of a cat");
    assert_int_equal(q.photo_attrs, IMG_ATTR_BLURRY | IMG_ATTR_CLOSEUP);
    object(&q, "cat", "close-up of a cat");
    char *j = scry_query_to_json(&q);
    assert_non_null(strstr(j, "\"photo\":[\"blurry\",\"close-up\"]"));
    free(j);
}

static void test_negations(void **state) {
    (void)state;
    scry_query q = parse("no people");
    assert_true(excluded(&q, "person"));
    assert_int_equal(q.nobjects, 0);
    q = parse("a beach without people");
    assert_true(excluded(&q, "person"));
    assert_int_equal(q.nobjects, 0);
    assert_non_null(strstr(q.residual, "beach"));
    assert_null(strstr(q.residual, "people"));   /* negated words must not attract */
    q = parse("not a cat");
    assert_true(excluded(&q, "cat"));
    q = parse("a garden with no dogs");
    assert_true(excluded(&q, "dog"));
    assert_false(excluded(&q, "cat"));
    q = parse("without text");
    assert_int_equal(q.has_text, 0);
    q = parse("street scene with no text and no cars");
    assert_int_equal(q.has_text, 0);
    assert_true(excluded(&q, "car"));
    q = parse("a cat but no dogs");
    assert_true(excluded(&q, "dog"));
    object(&q, "cat", "a cat but no dogs");
    q = parse("no animals");
    assert_true(excluded(&q, "dog") && excluded(&q, "giraffe") && excluded(&q, "bird"));
    assert_false(excluded(&q, "person"));
}

static void test_quoted_and_said_text(void **state) {
    (void)state;
    scry_query q = parse("sign saying \"open\"");
    assert_int_equal(q.ntexts, 1);
    assert_string_equal(q.texts[0], "open");
    assert_int_equal(q.has_text, 1);
    q = parse("poster that says SALE");
    assert_int_equal(q.ntexts, 1);
    assert_string_equal(q.texts[0], "SALE");
    assert_null(strstr(q.residual, "says"));
    q = parse("a shop sign reading 'Fresh Bread' in the morning");
    assert_int_equal(q.ntexts, 1);
    assert_string_equal(q.texts[0], "Fresh Bread");
    q = parse("a sign with the word STOP on a pole");
    assert_int_equal(q.nobjects, 0);   /* "pole" is not a Pole (person) */
    assert_int_equal(q.ntexts, 1);
    assert_string_equal(q.texts[0], "STOP");
    q = parse("t-shirt reads \xE2\x80\x9CI love NY\xE2\x80\x9D");
    assert_int_equal(q.ntexts, 1);
    assert_string_equal(q.texts[0], "I love NY");
    q = parse("a dog's toy");   /* an apostrophe is not a quote */
    assert_int_equal(q.ntexts, 0);
    q = parse("photos with text");
    assert_int_equal(q.has_text, 1);
    /* reading and writing are what people do, unless a sign does them */
    const char *const activities[] = {"a woman reading a book", "a man reading the newspaper",
                                      "reading a tablet in bed", "kids reading books", "a man writing a letter",
                                      "a boy reads his comics", NULL};
    for (int i = 0; activities[i]; i++) {
        q = parse(activities[i]);
        assert_int_equal(q.ntexts, 0);
        assert_int_equal(q.has_text, -1);
    }
    q = parse("a sign that reads open");
    assert_int_equal(q.ntexts, 1);
    assert_string_equal(q.texts[0], "open");
    q = parse("a sign reading STOP");
    assert_int_equal(q.ntexts, 1);
    assert_string_equal(q.texts[0], "STOP");
    q = parse("a man reading \"The Times\"");
    assert_int_equal(q.ntexts, 1);
    assert_string_equal(q.texts[0], "The Times");
}

static const struct { const char *text; int64_t from, to; } date_cases[] = {
    {"2019", 0, 0},   /* filled in at run time: see below */
};

static void expect_date(const char *text, int64_t from, int64_t to) {
    scry_query q = parse(text);
    if (!q.has_date || q.date_from != from || q.date_to != to) {
        char *j = scry_query_to_json(&q);
        fail_msg("'%s': date %lld..%lld, want %lld..%lld (%s)", text, (long long)q.date_from, (long long)q.date_to,
                 (long long)from, (long long)to, j);
    }
}

static void test_dates(void **state) {
    (void)state;
    (void)date_cases;
    expect_date("2019", day(2019, 1, 1), day(2020, 1, 1));
    expect_date("beach photos in 2019", day(2019, 1, 1), day(2020, 1, 1));
    expect_date("summer 2018", day(2018, 6, 1), day(2018, 9, 1));
    expect_date("winter 2018", day(2018, 12, 1), day(2019, 3, 1));
    /* now is 10 June 2024: summer 2024 has begun but not ended */
    expect_date("last summer", day(2023, 6, 1), day(2023, 9, 1));
    expect_date("this summer", day(2024, 6, 1), day(2024, 9, 1));
    expect_date("last winter", day(2023, 12, 1), day(2024, 3, 1));
    expect_date("last year", day(2023, 1, 1), day(2024, 1, 1));
    expect_date("last month", day(2024, 5, 1), day(2024, 6, 1));
    expect_date("yesterday", day(2024, 6, 9), day(2024, 6, 10));
    expect_date("today", day(2024, 6, 10), day(2024, 6, 11));
    expect_date("last week", day(2024, 6, 3), day(2024, 6, 10));
    expect_date("in March 2020", day(2020, 3, 1), day(2020, 4, 1));
    expect_date("dogs in march", day(2024, 3, 1), day(2024, 4, 1));
    expect_date("kids in december", day(2023, 12, 1), day(2024, 1, 1));
    expect_date("July 4 2021 fireworks", day(2021, 7, 4), day(2021, 7, 5));
    expect_date("the 1990s", day(1990, 1, 1), day(2000, 1, 1));
    expect_date("before 2015", 0, day(2015, 1, 1));
    expect_date("since 2022", day(2022, 1, 1), NOW + 1);
    expect_date("between 2018 and 2020", day(2018, 1, 1), day(2021, 1, 1));
    expect_date("between summer 2018 and winter 2018", day(2018, 6, 1), day(2019, 3, 1));
    /* not dates */
    scry_query q = parse("march of the penguins");
    assert_int_equal(q.has_date, 0);
    q = parse("two dogs");
    assert_int_equal(q.has_date, 0);
    q = parse("may the force be with you");
    assert_int_equal(q.has_date, 0);
}

static void test_residual_and_fallthrough(void **state) {
    (void)state;
    scry_query q = parse("blorf zibble quux");
    assert_int_equal(q.nobjects, 0);
    assert_int_equal(q.has_date, 0);
    assert_int_equal(q.ntexts, 0);
    assert_int_equal(q.has_text, -1);
    assert_string_equal(q.residual, "blorf zibble quux");
    q = parse("a dog next to a glorptastic thing");
    object(&q, "dog", "glorptastic");
    assert_non_null(strstr(q.residual, "glorptastic"));
    q = parse("show me photos of two dogs on the beach last summer");
    assert_string_equal(q.residual, "dogs on the beach");
    q = parse("");
    assert_string_equal(q.residual, "");
    assert_int_equal(q.nobjects, 0);
    /* the full example from the brief */
    q = parse("Two smiling kids and a red car, no dogs, sign saying \"open\", summer 2019");
    const scry_query_object *kids = object(&q, "person", "full");
    assert_int_equal(kids->preferred_count, 2);
    assert_int_equal(kids->emotion, scry_emotion_index("happy"));
    assert_int_equal(object(&q, "car", "full")->color, scry_color_index("red"));
    assert_true(excluded(&q, "dog"));
    assert_string_equal(q.texts[0], "open");
    assert_int_equal(q.date_from, day(2019, 6, 1));
    assert_null(strstr(q.residual, "2019"));
    assert_null(strstr(q.residual, "dogs"));
    assert_non_null(strstr(q.residual, "kids"));
    scry_err err = {0};
    assert_int_equal(scry_query_parse(lex, NULL, NOW, &q, &err), SCRY_EINVAL);
}

static void test_json_explanation(void **state) {
    (void)state;
    scry_query q = parse("two red cars without people, sign saying \"taxi\" in 2019");
    char *j = scry_query_to_json(&q);
    assert_non_null(j);
    assert_non_null(strstr(j, "\"labels\":[\"car\"]"));
    assert_non_null(strstr(j, "\"preferred\":2"));
    assert_non_null(strstr(j, "\"color\":\"red\""));
    assert_non_null(strstr(j, "\"excluded\":[\"person\"]"));
    assert_non_null(strstr(j, "\"texts\":[\"taxi\"]"));
    assert_non_null(strstr(j, "\"from\":\"2019-01-01T00:00:00Z\""));
    assert_non_null(strstr(j, "\"residual\":"));
    free(j);
}

static void test_without_lexicon(void **state) {
    (void)state;
    scry_query q;
    scry_err err = {0};
    assert_int_equal(scry_query_parse(NULL, "two dogs and no cats in 2020", NOW, &q, &err), SCRY_OK);
    assert_int_equal(q.nobjects, 1);
    assert_int_equal(q.objects[0].preferred_count, 2);
    assert_true(excluded(&q, "cat"));
    assert_int_equal(q.date_from, day(2020, 1, 1));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_counts_colours_emotions),
        cmocka_unit_test(test_people_activities_attributes),
        cmocka_unit_test(test_negations),
        cmocka_unit_test(test_quoted_and_said_text),
        cmocka_unit_test(test_dates),
        cmocka_unit_test(test_residual_and_fallthrough),
        cmocka_unit_test(test_json_explanation),
        cmocka_unit_test(test_without_lexicon),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
