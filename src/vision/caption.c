/* caption.c -- see caption.h.
 *
 * Sentence shape (at most four clauses, joined "X; Y, Z, and W.", "X; Y."),
 * after an optional photo prefix ("A black and white photo of ..."):
 *   1. objects: the living subjects (people -- by their person words and
 *      what a lone one wears -- and animals) first, then one scene hint or
 *      scene concept, then " with " the other objects; at most MAX_GROUPS
 *      groups so the sentence stays readable (callers pass the important
 *      ones first);
 *   2. actions: "the man is riding the horse", "the girl is running",
 *      "people are playing";
 *   3. faces: "one person is smiling", "two people look surprised" (neutral
 *      and unknown faces say nothing);
 *   4. OCR: "text reads 'OPEN'", the text cleaned and cut at a word boundary.
 * Grammar is table-driven for the closed COCO vocabulary: irregular plurals
 * and display names are listed, the rest follow the regular -s/-es rule.
 * A scene hint may also drop its anchor object ("at a table" replaces "a
 * dining table") so the sentence does not say it twice. */
#include "vision/caption.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/labels.h"
#include "vision/image.h"

#define MAX_GROUPS 4
#define MAX_OCR 40

/* ---- a tiny growable string ------------------------------------------ */

typedef struct sbuf { char *s; size_t len, cap; int oom; } sbuf;

static void sb_add(sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_add(sbuf *b, const char *fmt, ...) {
    if (b->oom) return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0) { b->oom = 1; return; }
    if (b->len + (size_t)n + 1 > b->cap) {
        size_t cap = (b->len + (size_t)n + 1) * 2;
        char *s = realloc(b->s, cap);
        if (!s) { b->oom = 1; return; }
        b->s = s;
        b->cap = cap;
    }
    va_start(ap, fmt);
    vsnprintf(b->s + b->len, b->cap - b->len, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

/* ---- words ------------------------------------------------------------ */

/* Display names where COCO's label is not how one writes it in a sentence. */
static const char *display(int label) {
    const char *l = scry_coco_labels[label];
    if (strcmp(l, "tv") == 0) return "TV";
    return l;
}

static const struct { const char *singular, *plural; } irregular[] = {
    {"person", "people"}, {"mouse", "mice"}, {"knife", "knives"}, {"sheep", "sheep"},
    {"skis", "skis"},     {"scissors", "scissors"}, {"broccoli", "broccoli"}, {"tv", "TVs"},
};

const char *caption_plural(int label, char *buf, size_t cap) {
    if (label < 0 || label >= SCRY_COCO_COUNT) {
        snprintf(buf, cap, "things");
        return buf;
    }
    const char *l = scry_coco_labels[label];
    for (size_t i = 0; i < sizeof irregular / sizeof irregular[0]; i++)
        if (strcmp(l, irregular[i].singular) == 0) {
            snprintf(buf, cap, "%s", irregular[i].plural);
            return buf;
        }
    size_t n = strlen(l);
    const char *suffix = "s";
    if ((n >= 1 && (l[n - 1] == 's' || l[n - 1] == 'x' || l[n - 1] == 'z')) ||
        (n >= 2 && (strcmp(l + n - 2, "ch") == 0 || strcmp(l + n - 2, "sh") == 0)))
        suffix = "es";   /* bus -> buses, wine glass -> wine glasses, bench -> benches */
    snprintf(buf, cap, "%s%s", display(label), suffix);
    return buf;
}

static const char *const number_words[] = {
    "zero", "one", "two", "three", "four", "five", "six",
    "seven", "eight", "nine", "ten", "eleven", "twelve",
};

/* Objects whose detected colour is worth saying ("a red car"). People,
 * animals and food are left out: a box's dominant colour there is mostly
 * clothing, fur in shadow or the plate, and would mislead. */
static int takes_color(int label) {
    static const char *const ok[] = {
        "bicycle", "car", "motorcycle", "airplane", "bus", "train", "truck", "boat",
        "fire hydrant", "stop sign", "bench", "backpack", "umbrella", "handbag", "tie",
        "suitcase", "frisbee", "kite", "skateboard", "surfboard", "cup", "chair", "couch",
        "bed", "vase", "teddy bear", "cell phone", "laptop",
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
        if (strcmp(scry_coco_labels[label], ok[i]) == 0) return 1;
    return 0;
}

static const char *article(const char *word) {
    return strchr("aeiouAEIOU", word[0]) && word[0] ? "an" : "a";
}

const char *caption_noun_phrase(int label, int count, int color, char *buf, size_t cap) {
    if (label < 0 || label >= SCRY_COCO_COUNT || count < 1) {
        snprintf(buf, cap, "something");
        return buf;
    }
    const char *l = scry_coco_labels[label];
    int pair = strcmp(l, "skis") == 0 || strcmp(l, "scissors") == 0;
    int mass = strcmp(l, "broccoli") == 0;
    char plural[64];
    caption_plural(label, plural, sizeof plural);
    if (count == 1) {
        const char *col = color >= 0 && color < SCRY_COLOR_COUNT && takes_color(label)
                              ? scry_color_names[color] : NULL;
        char noun[96];
        if (pair) snprintf(noun, sizeof noun, "pair of %s", l);
        else if (col) snprintf(noun, sizeof noun, "%s %s", col, display(label));
        else snprintf(noun, sizeof noun, "%s", display(label));
        if (mass) snprintf(buf, cap, "some %s", noun);
        else snprintf(buf, cap, "%s %s", article(noun), noun);
        return buf;
    }
    const char *num = count < (int)(sizeof number_words / sizeof number_words[0])
                          ? number_words[count] : "many";
    if (mass) snprintf(buf, cap, "some %s", l);
    else if (pair) snprintf(buf, cap, "%s pairs of %s", num, l);
    else snprintf(buf, cap, "%s %s", num, plural);
    return buf;
}

/* ---- tally ------------------------------------------------------------ */

static int same_word(const char *a, const char *b) { return a == b || (a && b && !strcmp(a, b)); }

int caption_tally(const int *labels, const int *colors, const char *const *persons,
                  const char *const *clothing, int n, caption_object *out, int max) {
    int k = 0;
    for (int i = 0; i < n; i++) {
        if (labels[i] < 0 || labels[i] >= SCRY_COCO_COUNT) continue;
        int c = colors ? colors[i] : -1, j;
        const char *who = labels[i] == 0 && persons ? persons[i] : NULL;
        const char *wear = labels[i] == 0 && clothing ? clothing[i] : NULL;
        for (j = 0; j < k && !(out[j].label == labels[i] && same_word(out[j].person, who)); j++) {}
        if (j < k) {
            out[j].count++;
            if (out[j].color != c) out[j].color = -1;
            out[j].clothing = NULL;
        } else if (k < max) {
            out[k++] = (caption_object){.label = labels[i], .count = 1, .color = c, .person = who,
                                        .clothing = wear};
        }
    }
    return k;
}

/* ---- people, scenes, activities ------------------------------------------- */

static const struct { const char *word, *plural; } person_plurals[] = {
    {"man", "men"}, {"woman", "women"}, {"child", "children"}, {"baby", "babies"},
    {"elderly", "elderly people"}, {"person", "people"},
};

/* "a man", "two women", "a girl in red", "three children"; others: the
 * group is the rest of the people ("another person", "two other people"). */
static void person_phrase(const caption_object *g, int others, char *buf, size_t cap) {
    const char *w = g->person ? g->person : "person";
    char plural[64];
    snprintf(plural, sizeof plural, "%ss", w);
    for (size_t i = 0; i < sizeof person_plurals / sizeof *person_plurals; i++)
        if (!strcmp(person_plurals[i].word, w)) snprintf(plural, sizeof plural, "%s", person_plurals[i].plural);
    if (g->count == 1) {
        if (others && !g->person) snprintf(buf, cap, "another person");
        else snprintf(buf, cap, "%s %s", article(w), w);
        if (g->clothing && strcmp(g->clothing, "gray") != 0) {
            size_t l = strlen(buf);
            snprintf(buf + l, cap - l, " in %s", g->clothing);
        }
        return;
    }
    const char *num = g->count < (int)(sizeof number_words / sizeof number_words[0])
                          ? number_words[g->count] : "many";
    snprintf(buf, cap, "%s %s%s", num, others && !g->person ? "other " : "", plural);
}

/* Scene concepts and how a sentence places someone in them. */
static const struct { const char *concept, *phrase; } scenes[] = {
    {"grass", "on the grass"},       {"grassy", "on the grass"},    {"field", "in a field"},
    {"beach", "on a beach"},         {"sand", "on the sand"},       {"snow", "in the snow"},
    {"snowy", "in the snow"},        {"water", "in the water"},     {"ocean", "in the ocean"},
    {"pool", "in a pool"},           {"lake", "by a lake"},         {"river", "by a river"},
    {"stream", "by a stream"},       {"street", "on a street"},     {"road", "on a road"},
    {"sidewalk", "on a sidewalk"},   {"city", "in a city"},         {"park", "in a park"},
    {"mountain", "in the mountains"}, {"hill", "on a hill"},        {"rock", "on the rocks"},
    {"rocky", "on the rocks"},       {"cliff", "on a cliff"},       {"shore", "on the shore"},
    {"forest", "in a forest"},       {"room", "in a room"},         {"playground", "at a playground"},
    {"slope", "on a slope"},         {"wave", "in the waves"},
};

const char *caption_scene_phrase(const char *concept) {
    for (size_t i = 0; concept && i < sizeof scenes / sizeof *scenes; i++)
        if (!strcmp(scenes[i].concept, concept)) return scenes[i].phrase;
    return NULL;
}

/* Activities said of a subject ("is running"). Concepts that are
 * relations with an object (riding, holding) come from the boxes instead. */
static const char *const activities[] = {
    "running", "jumping", "swimming", "climbing", "playing", "walking", "sitting", "standing",
    "eating", "driving", "paddling", "posing", "waiting", "splashing", "surfing", "skiing",
    "skateboarding", "snowboarding", "catching", "leaping", NULL};

int caption_is_activity(const char *concept) {
    for (const char *const *a = activities; concept && *a; a++)
        if (!strcmp(*a, concept)) return 1;
    return 0;
}

/* ---- scene hints ------------------------------------------------------- */

static int has(const caption_object *g, int n, const char *label) {
    int idx = scry_coco_index(label);
    for (int i = 0; i < n; i++)
        if (g[i].label == idx && g[i].count > 0) return 1;
    return 0;
}

static int has_any(const caption_object *g, int n, const char *const *labels) {
    for (; *labels; labels++)
        if (has(g, n, *labels)) return 1;
    return 0;
}

static int is_living(int label) {
    return label == 0 || (label >= 14 && label <= 23);   /* person; bird .. giraffe */
}

/* Picks at most one hint; *drop is the label the hint replaces, or -1. */
static const char *scene_hint(const caption_object *g, int n, int *drop) {
    static const char *const tableware[] = {"cup", "fork", "knife", "spoon", "bowl", "wine glass",
                                            "bottle", "pizza", "cake", "sandwich", "donut",
                                            "hot dog", NULL};
    static const char *const living[] = {"person", "cat", "dog", NULL};
    static const char *const kitchen[] = {"oven", "microwave", "refrigerator", "toaster", NULL};
    static const char *const street[] = {"traffic light", "stop sign", "parking meter",
                                         "fire hydrant", NULL};
    static const char *const snow[] = {"skis", "snowboard", NULL};
    *drop = -1;
    if (has(g, n, "dining table") && has_any(g, n, tableware)) {
        *drop = scry_coco_index("dining table");
        return "at a table";
    }
    if (has(g, n, "couch") && has_any(g, n, living)) {
        *drop = scry_coco_index("couch");
        return "on a couch";
    }
    if (has(g, n, "bed") && has_any(g, n, living)) {
        *drop = scry_coco_index("bed");
        return "on a bed";
    }
    if (has(g, n, "toilet")) return "in a bathroom";
    if (has_any(g, n, kitchen)) return "in a kitchen";
    if (has_any(g, n, street)) return "on a street";
    if (has_any(g, n, snow)) return "in the snow";
    return NULL;
}

/* ---- clauses ------------------------------------------------------------ */

static void join_groups(sbuf *b, const caption_object *g, const int *idx, int n) {
    int people = 0;
    for (int i = 0; i < n; i++) people += g[idx[i]].label == 0;
    for (int i = 0; i < n; i++) {
        char np[128];
        if (g[idx[i]].label == 0) person_phrase(&g[idx[i]], people > 1, np, sizeof np);
        else caption_noun_phrase(g[idx[i]].label, g[idx[i]].count, g[idx[i]].color, np, sizeof np);
        sb_add(b, "%s%s", i == 0 ? "" : (i == n - 1 ? " and " : ", "), np);
    }
}

static int valid_group(const caption_object *o) {
    return o->label >= 0 && o->label < SCRY_COCO_COUNT && o->count > 0;
}

static void objects_clause(sbuf *b, const caption_input *in) {
    int n = 0, drop;
    caption_object g[SCRY_COCO_COUNT];
    for (int i = 0; i < in->n_objects && n < SCRY_COCO_COUNT; i++)
        if (valid_group(&in->objects[i])) g[n++] = in->objects[i];
    const char *hint = scene_hint(g, n, &drop);
    if (!hint) hint = caption_scene_phrase(in->scene);
    int subj[MAX_GROUPS], obj[MAX_GROUPS], ns = 0, no = 0, used = 0;
    /* people first, then the other living things, then objects */
    for (int pass = 0; pass < 3; pass++)
        for (int i = 0; i < n && used < MAX_GROUPS; i++) {
            int l = g[i].label;
            if (l == drop) continue;
            if (pass == 0 && l == 0) subj[ns++] = i, used++;
            else if (pass == 1 && l != 0 && is_living(l)) subj[ns++] = i, used++;
            else if (pass == 2 && !is_living(l)) obj[no++] = i, used++;
        }
    if (ns) {
        join_groups(b, g, subj, ns);
        if (hint) sb_add(b, " %s", hint);
        if (no) {
            sb_add(b, " with ");
            join_groups(b, g, obj, no);
        }
    } else if (no) {
        join_groups(b, g, obj, no);
        if (hint) sb_add(b, " %s", hint);
    } else if (drop >= 0) {   /* only the hint's anchor was seen: say it plainly */
        char np[128];
        caption_noun_phrase(drop, 1, -1, np, sizeof np);
        sb_add(b, "%s", np);
    }
}

/* "the man" / "one man" (one of several) / "the men" for a subject group. */
static void subject_phrase(const caption_object *g, int one_of, char *buf, size_t cap) {
    const char *w = g->label == 0 ? (g->person ? g->person : "person") : scry_coco_labels[g->label];
    char plural[64];
    if (g->label == 0) {
        caption_object many = *g;
        many.count = 2;
        many.clothing = NULL;
        person_phrase(&many, 0, plural, sizeof plural);
        memmove(plural, plural + 4, strlen(plural + 4) + 1);   /* drop "two " */
    } else {
        caption_plural(g->label, plural, sizeof plural);
    }
    if (g->count == 1) snprintf(buf, cap, "the %s", w);
    else if (one_of) snprintf(buf, cap, "one %s", w);
    else snprintf(buf, cap, "the %s", plural);
}

/* "the man is riding the horse and holding an umbrella, the dog is running":
 * actions of one subject joined, subjects in the order given, at most 3. */
static void actions_clause(sbuf *b, const caption_input *in) {
    int said = 0, done[8] = {0};
    int n = in->n_actions < 8 ? in->n_actions : 8;
    for (int i = 0; i < n; i++) {
        const caption_action *a = &in->actions[i];
        if (done[i] || a->subject < 0 || a->subject >= in->n_objects || !a->verb ||
            !valid_group(&in->objects[a->subject]))
            continue;
        const caption_object *s = &in->objects[a->subject];
        int relation = a->object >= 0;
        char subj[96];
        subject_phrase(s, relation, subj, sizeof subj);
        int plural = s->count > 1 && !relation;
        sb_add(b, "%s%s %s", said ? ", " : "", subj, plural ? "are" : "is");
        int verbs = 0;
        for (int j = i; j < n && verbs < 3; j++) {
            const caption_action *x = &in->actions[j];
            if (done[j] || x->subject != a->subject || (x->object >= 0) != relation || !x->verb) continue;
            done[j] = 1;
            sb_add(b, "%s %s", verbs ? " and" : "", x->verb);
            if (x->object >= 0 && x->object < in->n_objects && valid_group(&in->objects[x->object])) {
                const caption_object *o = &in->objects[x->object];
                char np[128];
                if (o->count == 1) snprintf(np, sizeof np, "the %s", display(o->label));
                else caption_noun_phrase(o->label, 1, -1, np, sizeof np);
                sb_add(b, " %s", np);
            }
            verbs++;
        }
        said++;
    }
}

/* "A black and white photo of", "A dark, blurry photo of", "A close-up of". */
static void photo_prefix(sbuf *b, int attrs) {
    const char *adj[4];
    int n = 0;
    if (attrs & IMG_ATTR_BW) adj[n++] = "black and white";
    if (attrs & IMG_ATTR_DARK) adj[n++] = "dark";
    if (attrs & IMG_ATTR_BLURRY) adj[n++] = "blurry";
    if (attrs & IMG_ATTR_OVEREXPOSED) adj[n++] = "overexposed";
    if (!n && !(attrs & IMG_ATTR_CLOSEUP)) return;
    sb_add(b, "%s ", n ? article(adj[0]) : "a");
    for (int i = 0; i < n; i++) sb_add(b, "%s%s", i ? ", " : "", adj[i]);
    sb_add(b, "%s", attrs & IMG_ATTR_CLOSEUP ? (n ? " close-up" : "close-up") : " photo");
}

static void faces_clause(sbuf *b, const caption_input *in) {
    /* emotion index -> verb phrase (singular, plural); neutral says nothing */
    static const char *const sing[SCRY_EMOTION_COUNT] = {
        "looks angry", "looks disgusted", "looks afraid", "is smiling", "looks sad",
        "looks surprised", NULL};
    static const char *const plur[SCRY_EMOTION_COUNT] = {
        "look angry", "look disgusted", "look afraid", "are smiling", "look sad",
        "look surprised", NULL};
    int count[SCRY_EMOTION_COUNT] = {0};
    for (int i = 0; i < in->n_faces; i++)
        if (in->face_emotions[i] >= 0 && in->face_emotions[i] < SCRY_EMOTION_COUNT)
            count[in->face_emotions[i]]++;
    int said = 0;
    for (int round = 0; round < 2; round++) {   /* the two most frequent expressions */
        int best = -1;
        for (int e = 0; e < SCRY_EMOTION_COUNT; e++)
            if (sing[e] && count[e] > 0 && (best < 0 || count[e] > count[best])) best = e;
        if (best < 0) break;
        int c = count[best];
        const char *num = c < (int)(sizeof number_words / sizeof number_words[0])
                              ? number_words[c] : "many";
        if (said) sb_add(b, " and ");
        sb_add(b, "%s %s %s", num, c == 1 ? "person" : "people", c == 1 ? sing[best] : plur[best]);
        count[best] = 0;
        said = 1;
    }
}

/* OCR text: printable, single-spaced, at most MAX_OCR bytes cut at a space
 * (or at a UTF-8 boundary for one long word), "..." when cut. */
static void ocr_clause(sbuf *b, const caption_input *in) {
    if (!in->ocr_text) return;
    char clean[4 * MAX_OCR];
    size_t n = 0;
    int space = 0, cut = 0;
    for (const unsigned char *p = (const unsigned char *)in->ocr_text; *p; p++) {
        if (isspace(*p) || *p < 0x20 || *p == 0x7f) {
            space = n > 0;
            continue;
        }
        if (n + 2 >= sizeof clean) {
            cut = 1;
            break;
        }
        if (space) clean[n++] = ' ';
        space = 0;
        clean[n++] = (char)*p;
    }
    clean[n] = 0;
    if (n > MAX_OCR) {
        cut = 1;
        size_t end = MAX_OCR;
        while (end > 0 && clean[end] != ' ') end--;
        if (end == 0) {   /* one long word: back off to a UTF-8 character start */
            end = MAX_OCR;
            while (end > 0 && ((unsigned char)clean[end] & 0xC0) == 0x80) end--;
        }
        clean[end] = 0;
        n = end;
    }
    if (n == 0) return;
    sb_add(b, "text reads '%s%s'", clean, cut ? "..." : "");
}

int caption_compose(const caption_input *in, char **out, scry_err *err) {
    *out = NULL;
    if (!in || (in->n_objects > 0 && !in->objects) || (in->n_faces > 0 && !in->face_emotions))
        return scry_fail(err, SCRY_EINVAL, "caption: malformed input");
    enum { NPARTS = 4 };
    sbuf parts[NPARTS] = {{0}}, prefix = {0};
    photo_prefix(&prefix, in->photo_attrs);
    objects_clause(&parts[0], in);
    actions_clause(&parts[1], in);
    faces_clause(&parts[2], in);
    ocr_clause(&parts[3], in);
    sbuf s = {0};
    int k = 0, total = 0;
    for (int i = 0; i < NPARTS; i++) total += parts[i].len > 0;
    if (prefix.len) {
        sb_add(&s, "%s", prefix.s);
        if (parts[0].len) sb_add(&s, " of ");
        else total++;           /* the prefix stands as the first clause */
        k = parts[0].len ? 0 : 1;
    }
    for (int i = 0; i < NPARTS; i++) {
        if (!parts[i].len) continue;
        if (k == 1) sb_add(&s, "; ");
        else if (k >= 2) sb_add(&s, k == total - 1 ? ", and " : ", ");
        sb_add(&s, "%s", parts[i].s);
        k++;
    }
    if (total) sb_add(&s, ".");
    else sb_add(&s, "%s", "");
    int oom = s.oom || prefix.oom;
    for (int i = 0; i < NPARTS; i++) oom |= parts[i].oom, free(parts[i].s);
    free(prefix.s);
    if (oom) {
        free(s.s);
        return scry_fail(err, SCRY_ENOMEM, "out of memory");
    }
    if (s.len) s.s[0] = (char)toupper((unsigned char)s.s[0]);
    *out = s.s;
    return SCRY_OK;
}

static int composed_caption(void *self, const caption_input *in, char **out, scry_err *err) {
    (void)self;
    return caption_compose(in, out, err);
}

const captioner caption_composed = {.name = "composed", .caption = composed_caption, .self = NULL};
