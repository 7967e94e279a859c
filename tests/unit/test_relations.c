/* Unit tests for vision/relations: each geometric rule on boxes laid out the
 * way the detector reports a person riding, holding, sitting -- and the
 * near misses that must not fire -- and clothing colour on a synthetic
 * person. */
#include "testutil.h"

#include <stdlib.h>
#include <string.h>

#include "core/labels.h"
#include "vision/relations.h"

static det_box box(const char *label, float x, float y, float w, float h) {
    return (det_box){.label = scry_coco_index(label), .score = 0.8f, .x = x, .y = y, .w = w, .h = h};
}

/* The relation of kind between subject s and object o, or NULL. */
static const relation *find(const relation *r, int n, rel_kind kind, int s, int o) {
    for (int i = 0; i < n; i++)
        if (r[i].kind == kind && r[i].subject == s && r[i].object == o) return &r[i];
    return NULL;
}

static void test_riding(void **state) {
    (void)state;
    relation r[8];
    /* a rider over a horse: centred, above, feet inside its box */
    det_box d[] = {box("person", 140, 40, 60, 140), box("horse", 100, 110, 160, 130)};
    int n = relations_find(d, 2, r, 8);
    const relation *x = find(r, n, REL_RIDING, 0, 1);
    assert_non_null(x);
    assert_true(x->score > 0.5f);
    /* standing beside the horse: no */
    det_box beside[] = {box("person", 20, 80, 60, 160), box("horse", 100, 110, 160, 130)};
    assert_null(find(r, relations_find(beside, 2, r, 8), REL_RIDING, 0, 1));
    /* a skateboard under the feet */
    det_box sk[] = {box("person", 100, 20, 50, 150), box("skateboard", 95, 160, 60, 20)};
    assert_non_null(find(r, relations_find(sk, 2, r, 8), REL_RIDING, 0, 1));
    /* a skateboard held up high is not ridden */
    det_box up[] = {box("person", 100, 20, 50, 150), box("skateboard", 95, 20, 60, 20)};
    assert_null(find(r, relations_find(up, 2, r, 8), REL_RIDING, 0, 1));
    /* one mount per rider: the better-placed one */
    det_box two[] = {box("person", 140, 40, 60, 140), box("horse", 100, 110, 160, 130),
                     box("bicycle", 300, 110, 100, 80)};
    n = relations_find(two, 3, r, 8);
    assert_non_null(find(r, n, REL_RIDING, 0, 1));
    assert_null(find(r, n, REL_RIDING, 0, 2));
}

static void test_holding_and_sitting(void **state) {
    (void)state;
    relation r[8];
    det_box d[] = {box("person", 100, 50, 80, 200), box("cell phone", 140, 90, 15, 25),
                   box("umbrella", 400, 10, 80, 60)};
    int n = relations_find(d, 3, r, 8);
    assert_non_null(find(r, n, REL_HOLDING, 0, 1));
    assert_null(find(r, n, REL_HOLDING, 0, 2));       /* far away */
    /* an object as big as the person is not held */
    det_box big[] = {box("person", 100, 50, 80, 200), box("umbrella", 90, 60, 100, 150)};
    assert_null(find(r, relations_find(big, 2, r, 8), REL_HOLDING, 0, 1));
    /* on a bench: lower half over the seat, head above it */
    det_box bench[] = {box("person", 100, 40, 60, 120), box("bench", 60, 110, 160, 70)};
    assert_non_null(find(r, relations_find(bench, 2, r, 8), REL_SITTING_ON, 0, 1));
    /* a dog is nobody's subject */
    det_box dog[] = {box("dog", 140, 40, 60, 140), box("horse", 100, 110, 160, 130)};
    assert_int_equal(relations_find(dog, 2, r, 8), 0);
    /* max is respected */
    assert_int_equal(relations_find(d, 3, r, 0), 0);
}

static void test_clothing(void **state) {
    (void)state;
    /* grey background, a person: skin-coloured head, red torso, blue legs */
    int w = 200, h = 300;
    img_rgb img = {w, h, malloc((size_t)w * h * 3)};
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            uint8_t *p = img.px + ((size_t)y * w + x) * 3;
            uint8_t c[3] = {128, 128, 128};
            if (x >= 60 && x < 140) {
                if (y < 60) c[0] = 224, c[1] = 172, c[2] = 140;         /* face */
                else if (y < 160) c[0] = 200, c[1] = 20, c[2] = 30;     /* shirt */
                else c[0] = 30, c[1] = 40, c[2] = 160;                  /* trousers */
            }
            memcpy(p, c, 3);
        }
    det_box person = box("person", 60, 10, 80, 290);
    assert_int_equal(relations_clothing(&img, &person, 1.0f), scry_color_index("red"));
    det_box tiny = box("person", 60, 10, 20, 30);          /* too small to tell */
    assert_int_equal(relations_clothing(&img, &tiny, 1.0f), -1);
    free(img.px);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_riding),
        cmocka_unit_test(test_holding_and_sitting),
        cmocka_unit_test(test_clothing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
