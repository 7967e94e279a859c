/* Unit tests for vision/caption: grammar (plurals, articles, numbers),
 * clause composition, scene hints, OCR cleaning, determinism, the captioner
 * interface, and -- when the detector is prepared -- a caption grounded in
 * real detections on a darknet photo. */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../tools/rgbload.h"
#include "core/labels.h"
#include "core/log.h"
#include "vision/caption.h"
#include "vision/image.h"
#include "vision/objects.h"

static int L(const char *name) {
    int i = scry_coco_index(name);
    assert_true(i >= 0);
    return i;
}

static char *compose(const caption_object *objs, int n, const int *faces, int nf, const char *ocr) {
    caption_input in = {.objects = objs, .n_objects = n, .face_emotions = faces, .n_faces = nf,
                        .ocr_text = ocr};
    char *s = NULL;
    scry_err err = {0};
    assert_int_equal(caption_compose(&in, &s, &err), SCRY_OK);
    assert_non_null(s);
    return s;
}

#define ASSERT_CAPTION(want, ...)              \
    do {                                       \
        char *got_ = compose(__VA_ARGS__);     \
        assert_string_equal(got_, want);       \
        free(got_);                            \
    } while (0)

static void test_plurals_and_articles(void **state) {
    (void)state;
    char b[128];
    assert_string_equal(caption_plural(L("person"), b, sizeof b), "people");
    assert_string_equal(caption_plural(L("mouse"), b, sizeof b), "mice");
    assert_string_equal(caption_plural(L("knife"), b, sizeof b), "knives");
    assert_string_equal(caption_plural(L("bus"), b, sizeof b), "buses");
    assert_string_equal(caption_plural(L("skis"), b, sizeof b), "skis");
    assert_string_equal(caption_plural(L("wine glass"), b, sizeof b), "wine glasses");
    assert_string_equal(caption_plural(L("bench"), b, sizeof b), "benches");
    assert_string_equal(caption_plural(L("sheep"), b, sizeof b), "sheep");
    assert_string_equal(caption_plural(L("giraffe"), b, sizeof b), "giraffes");
    assert_string_equal(caption_plural(L("tv"), b, sizeof b), "TVs");
    assert_string_equal(caption_noun_phrase(L("dog"), 1, -1, b, sizeof b), "a dog");
    assert_string_equal(caption_noun_phrase(L("umbrella"), 1, -1, b, sizeof b), "an umbrella");
    assert_string_equal(caption_noun_phrase(L("elephant"), 3, -1, b, sizeof b), "three elephants");
    assert_string_equal(caption_noun_phrase(L("skis"), 1, -1, b, sizeof b), "a pair of skis");
    assert_string_equal(caption_noun_phrase(L("skis"), 2, -1, b, sizeof b), "two pairs of skis");
    assert_string_equal(caption_noun_phrase(L("person"), 12, -1, b, sizeof b), "twelve people");
    assert_string_equal(caption_noun_phrase(L("person"), 13, -1, b, sizeof b), "many people");
    assert_string_equal(caption_noun_phrase(L("tv"), 1, -1, b, sizeof b), "a TV");
    /* colour: said for objects that take one, with the article following it */
    assert_string_equal(caption_noun_phrase(L("car"), 1, scry_color_index("red"), b, sizeof b),
                        "a red car");
    assert_string_equal(caption_noun_phrase(L("car"), 1, scry_color_index("orange"), b, sizeof b),
                        "an orange car");
    assert_string_equal(caption_noun_phrase(L("person"), 1, scry_color_index("red"), b, sizeof b),
                        "a person");
    assert_string_equal(caption_noun_phrase(L("car"), 2, scry_color_index("red"), b, sizeof b),
                        "two cars");
}

static void test_people_and_dog_on_couch_smiling(void **state) {
    (void)state;
    caption_object o[] = {{L("dog"), 1, -1, NULL, NULL}, {L("couch"), 1, -1, NULL, NULL}, {L("person"), 2, -1, NULL, NULL}};
    int faces[] = {scry_emotion_index("happy"), scry_emotion_index("neutral")};
    ASSERT_CAPTION("Two people and a dog on a couch; one person is smiling.", o, 3, faces, 2, NULL);
}

static void test_table_hint_drops_anchor(void **state) {
    (void)state;
    caption_object o[] = {{L("dining table"), 1, -1, NULL, NULL}, {L("cup"), 2, -1, NULL, NULL}, {L("person"), 3, -1, NULL, NULL},
                          {L("pizza"), 1, -1, NULL, NULL}};
    ASSERT_CAPTION("Three people at a table with two cups and a pizza.", o, 4, NULL, 0, NULL);
    /* a dining table alone is just that */
    caption_object t[] = {{L("dining table"), 1, -1, NULL, NULL}};
    ASSERT_CAPTION("A dining table.", t, 1, NULL, 0, NULL);
    /* a couch without anyone on it is furniture, not a scene */
    caption_object c[] = {{L("couch"), 1, scry_color_index("blue"), NULL, NULL}, {L("tv"), 1, -1, NULL, NULL}};
    ASSERT_CAPTION("A blue couch and a TV.", c, 2, NULL, 0, NULL);
}

static void test_street_with_text(void **state) {
    (void)state;
    caption_object o[] = {{L("car"), 1, scry_color_index("red"), NULL, NULL}, {L("bus"), 2, -1, NULL, NULL},
                          {L("traffic light"), 1, -1, NULL, NULL}};
    ASSERT_CAPTION("A red car, two buses and a traffic light on a street; text reads 'OPEN'.", o, 3,
                   NULL, 0, "  OPEN\n");
}

static void test_all_three_clauses(void **state) {
    (void)state;
    caption_object o[] = {{L("person"), 1, -1, NULL, NULL}, {L("skis"), 1, -1, NULL, NULL}};
    int faces[] = {scry_emotion_index("surprise"), scry_emotion_index("surprise"),
                   scry_emotion_index("sad")};
    ASSERT_CAPTION("A person in the snow with a pair of skis; two people look surprised and one "
                   "person looks sad, and text reads 'SKI AREA'.",
                   o, 2, faces, 3, "SKI\tAREA");
}

static void test_faces_or_text_alone_and_nothing(void **state) {
    (void)state;
    int faces[] = {scry_emotion_index("happy"), scry_emotion_index("happy"), -1};
    ASSERT_CAPTION("Two people are smiling.", NULL, 0, faces, 3, NULL);
    ASSERT_CAPTION("Text reads 'Hello world'.", NULL, 0, NULL, 0, "Hello \n\n world");
    int neutral[] = {scry_emotion_index("neutral")};
    ASSERT_CAPTION("", NULL, 0, neutral, 1, "   ");
}

static void test_long_ocr_is_cut_at_a_word(void **state) {
    (void)state;
    char *s = compose(NULL, 0, NULL, 0,
                      "The quick brown fox jumps over the lazy dog and keeps running far away");
    assert_string_equal(s, "Text reads 'The quick brown fox jumps over the lazy...'.");
    free(s);
    /* one long word of multi-byte characters is cut on a character boundary */
    char word[200] = "";
    for (int i = 0; i < 30; i++) strcat(word, "\xc3\xa9");   /* é */
    s = compose(NULL, 0, NULL, 0, word);
    size_t n = strlen(s);
    assert_true(n < 60);
    const char *q = strstr(s, "'") + 1;
    for (const char *p = q; *p != '.'; p += ((unsigned char)*p == 0xc3) ? 2 : 1)
        assert_true((unsigned char)*p == 0xc3 || *p == '.');
    free(s);
}

static void test_at_most_four_groups_people_first(void **state) {
    (void)state;
    caption_object o[] = {{L("bottle"), 1, -1, NULL, NULL}, {L("chair"), 2, -1, NULL, NULL}, {L("laptop"), 1, -1, NULL, NULL},
                          {L("book"), 5, -1, NULL, NULL}, {L("cat"), 1, -1, NULL, NULL}, {L("person"), 1, -1, NULL, NULL}};
    ASSERT_CAPTION("A person and a cat with a bottle and two chairs.", o, 6, NULL, 0, NULL);
}

static void test_tally_and_interface(void **state) {
    (void)state;
    int labels[] = {L("car"), L("person"), L("car"), L("dog"), L("car"), -1, 99};
    int red = scry_color_index("red"), blue = scry_color_index("blue");
    int colors[] = {red, -1, red, blue, red, -1, -1};
    caption_object g[8];
    int n = caption_tally(labels, colors, NULL, NULL, 7, g, 8);
    assert_int_equal(n, 3);
    assert_int_equal(g[0].label, L("car"));
    assert_int_equal(g[0].count, 3);
    assert_int_equal(g[0].color, red);
    assert_int_equal(g[2].color, blue);
    colors[2] = blue;   /* disagreeing colours: the group has none */
    n = caption_tally(labels, colors, NULL, NULL, 7, g, 8);
    assert_int_equal(g[0].color, -1);
    assert_int_equal(caption_tally(labels, NULL, NULL, NULL, 7, g, 2), 2);

    caption_input in = {.objects = g, .n_objects = 3};
    char *a = NULL, *b = NULL;
    scry_err err = {0};
    assert_string_equal(caption_composed.name, "composed");
    assert_int_equal(caption_composed.caption(caption_composed.self, &in, &a, &err), SCRY_OK);
    assert_int_equal(caption_compose(&in, &b, &err), SCRY_OK);
    assert_string_equal(a, b);   /* deterministic, and the interface is the same captioner */
    assert_string_equal(a, "A person and a dog with three cars.");
    free(a);
    free(b);
    caption_input bad = {.objects = NULL, .n_objects = 2};
    assert_int_equal(caption_compose(&bad, &a, &err), SCRY_EINVAL);
    assert_null(a);
}

static char *compose_in(const caption_input *in) {
    char *s = NULL;
    scry_err err = {0};
    assert_int_equal(caption_compose(in, &s, &err), SCRY_OK);
    return s;
}

/* Who, what they do, where, and what kind of photo (issue 9). */
static void test_people_actions_scene_photo(void **state) {
    (void)state;
    /* "A girl and a dog on the grass; the girl is running." */
    caption_object g[] = {{L("person"), 1, -1, "girl", NULL}, {L("dog"), 1, -1, NULL, NULL}};
    caption_action run = {0, "running", -1};
    caption_input in = {.objects = g, .n_objects = 2, .actions = &run, .n_actions = 1,
                        .scene = "grass"};
    char *s = compose_in(&in);
    assert_string_equal(s, "A girl and a dog on the grass; the girl is running.");
    free(s);
    /* a rider and the mount: the relation names both */
    caption_object h[] = {{L("person"), 1, -1, "man", "red"}, {L("horse"), 1, -1, NULL, NULL}};
    caption_action ride = {0, "riding", 1};
    in = (caption_input){.objects = h, .n_objects = 2, .actions = &ride, .n_actions = 1,
                         .photo_attrs = IMG_ATTR_BW};
    s = compose_in(&in);
    assert_string_equal(s, "A black and white photo of a man in red and a horse; the man is riding the horse.");
    free(s);
    /* mixed people: words where faces said them, the others counted */
    caption_object p[] = {{L("person"), 2, -1, "woman", NULL}, {L("person"), 1, -1, NULL, NULL},
                          {L("person"), 2, -1, NULL, NULL}};
    in = (caption_input){.objects = p, .n_objects = 2};
    s = compose_in(&in);
    assert_string_equal(s, "Two women and another person.");
    free(s);
    in = (caption_input){.objects = p + 2, .n_objects = 1, .scene = "beach"};
    s = compose_in(&in);
    assert_string_equal(s, "Two people on a beach.");
    free(s);
    /* one of several holds something; several do the same */
    caption_object q[] = {{L("person"), 3, -1, "man", NULL}, {L("umbrella"), 1, -1, NULL, NULL}};
    caption_action acts[] = {{0, "holding", 1}, {0, "walking", -1}};
    in = (caption_input){.objects = q, .n_objects = 2, .actions = acts, .n_actions = 2};
    s = compose_in(&in);
    assert_string_equal(s, "Three men with an umbrella; one man is holding the umbrella, the men are walking.");
    free(s);
    /* a prefix alone, and a close-up */
    in = (caption_input){.photo_attrs = IMG_ATTR_DARK | IMG_ATTR_BLURRY, .ocr_text = "EXIT"};
    s = compose_in(&in);
    assert_string_equal(s, "A dark, blurry photo; text reads 'EXIT'.");
    free(s);
    caption_object c[] = {{L("cat"), 1, -1, NULL, NULL}};
    in = (caption_input){.objects = c, .n_objects = 1, .photo_attrs = IMG_ATTR_CLOSEUP};
    s = compose_in(&in);
    assert_string_equal(s, "A close-up of a cat.");
    free(s);
    /* grammar tables */
    assert_string_equal(caption_scene_phrase("snow"), "in the snow");
    assert_null(caption_scene_phrase("mouth"));
    assert_true(caption_is_activity("swimming"));
    assert_false(caption_is_activity("riding"));    /* said with its object, from the boxes */
    /* tally keeps people apart by word, and a lone person's clothing */
    int labels[] = {L("person"), L("person"), L("person"), L("dog")};
    const char *who[] = {"man", NULL, "man", NULL};
    const char *wear[] = {"red", "blue", "green", NULL};
    caption_object t[8];
    int n = caption_tally(labels, NULL, who, wear, 4, t, 8);
    assert_int_equal(n, 3);
    assert_string_equal(t[0].person, "man");
    assert_int_equal(t[0].count, 2);
    assert_null(t[0].clothing);         /* two men: whose clothing? */
    assert_null(t[1].person);
    assert_string_equal(t[1].clothing, "blue");
}

/* End to end on a real photo: detections -> tally -> caption. */
static void test_caption_of_real_detections(void **state) {
    (void)state;
    log_set_level(LOG_WARN);
    char dir[1024];
    snprintf(dir, sizeof dir, "%s", tu_deps("models"));
    objects_model *m = NULL;
    scry_err err = {0};
    if (objects_load(dir, &m, &err) != SCRY_OK) skip();
    img_rgb img;
    assert_int_equal(rgbload(tu_darknet("dog.jpg"), &img.w, &img.h, &img.px), 0);
    det_box *b;
    int n;
    assert_int_equal(objects_detect(m, &img, &b, &n, &err), SCRY_OK);
    int labels[64];
    for (int i = 0; i < n && i < 64; i++) labels[i] = b[i].label;
    caption_object g[16];
    int ng = caption_tally(labels, NULL, NULL, NULL, n < 64 ? n : 64, g, 16);
    caption_input in = {.objects = g, .n_objects = ng};
    char *s = NULL;
    assert_int_equal(caption_compose(&in, &s, &err), SCRY_OK);
    print_message("dog.jpg: %s\n", s);
    assert_true(strncmp(s, "A dog ", 6) == 0);
    assert_non_null(strstr(s, "a bicycle"));
    assert_non_null(strstr(s, "a car"));
    free(s);
    free(b);
    free(img.px);
    objects_free(m);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plurals_and_articles),
        cmocka_unit_test(test_people_and_dog_on_couch_smiling),
        cmocka_unit_test(test_table_hint_drops_anchor),
        cmocka_unit_test(test_street_with_text),
        cmocka_unit_test(test_all_three_clauses),
        cmocka_unit_test(test_faces_or_text_alone_and_nothing),
        cmocka_unit_test(test_long_ocr_is_cut_at_a_word),
        cmocka_unit_test(test_at_most_four_groups_people_first),
        cmocka_unit_test(test_tally_and_interface),
        cmocka_unit_test(test_people_actions_scene_photo),
        cmocka_unit_test(test_caption_of_real_detections),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
