/* caption.h -- one English sentence describing a photo, from its facts.
 *
 * This captioner is COMPOSED, NOT LEARNED: no model writes it. It turns the
 * facts other stages established -- object counts (COCO-80), dominant colours
 * of single objects, who the people are (person words from their faces) and
 * what they wear, relations read from the boxes (riding, holding, sitting
 * on), the scene and activity concepts the learned head is sure of, the
 * expressions of detected faces, the photo's own attributes, OCR text --
 * into a sentence with fixed grammar rules, e.g.
 *     "Two people and a dog on a couch; one person is smiling."
 *     "A girl and a dog on the grass; the girl is running."
 *     "A black and white photo of a man and a horse; the man is riding the horse."
 *     "A red car and a bus on a street; text reads 'OPEN'."
 * Everything it says is grounded in a fact it was given -- the caller passes
 * only facts above their thresholds, the weaker ones stay in the tags with
 * their scores -- and beyond those it adds only a few scene hints from
 * co-occurring labels that are reliable (a dining table with cups -> "at a
 * table", an oven -> "in a kitchen", skis -> "in the snow", ...). It is
 * deterministic: the same facts give the same sentence, byte for byte.
 *
 * No captioning model is reachable from our machines (see the models notes),
 * so a learned captioner is not an option today; the `captioner` interface
 * below is where one would plug in, taking the same facts plus whatever it
 * needs through `self`.
 *
 * Input is a plain struct so this module depends on no other stage: the
 * caller tallies its detections (caption_tally helps) and passes emotion and
 * colour indices from core/labels.h. */
#ifndef SCRY_CAPTION_H
#define SCRY_CAPTION_H

#include <stddef.h>

#include "core/err.h"

typedef struct caption_object {
    int label;                  /* index into scry_coco_labels */
    int count;                  /* how many were detected (>= 1) */
    int color;                  /* index into scry_color_names, or -1; used when count == 1 */
    const char *person;         /* people: what they are ("man", "girl"), or NULL */
    const char *clothing;       /* one person: the colour they wear ("red"), or NULL */
} caption_object;

/* Something someone does: a relation read from the boxes ("riding" the
 * horse) or an activity concept ("running"). */
typedef struct caption_action {
    int subject;                /* index into caption_input.objects (a living group) */
    const char *verb;           /* "riding", "holding", "sitting on", "running" */
    int object;                 /* index into caption_input.objects, or -1 */
} caption_action;

typedef struct caption_input {
    const caption_object *objects;  /* most important first; one entry per label (and person word) */
    int n_objects;
    const int *face_emotions;       /* per face: index into scry_emotion_labels, or -1 */
    int n_faces;
    const char *ocr_text;           /* recognised text, or NULL */
    const caption_action *actions;  /* at most a few, strongest first */
    int n_actions;
    const char *scene;              /* a scene concept ("beach", "grass"), or NULL */
    int photo_attrs;                /* IMG_ATTR_* bits (vision/image.h) */
} caption_input;

/* The pluggable interface: a composed captioner today, a learned one later. */
typedef struct captioner {
    const char *name;
    /* *out is a malloc'ed NUL-terminated sentence ("" when there is nothing
     * to say). */
    int (*caption)(void *self, const caption_input *in, char **out, scry_err *err);
    void *self;
} captioner;

extern const captioner caption_composed;

/* The composed captioner directly. */
int caption_compose(const caption_input *in, char **out, scry_err *err);

/* Tally per-detection labels (and colours, -1 when unknown; may be NULL)
 * into at most max entries of out, ordered by first appearance (pass
 * detections best first). A group's colour is kept only when every member
 * agrees. People are grouped by their person word (persons, may be NULL:
 * one word or NULL per detection), and a lone person keeps what they wear
 * (clothing, may be NULL: a colour name or NULL per detection). Returns the
 * number of entries written. */
int caption_tally(const int *labels, const int *colors, const char *const *persons,
                  const char *const *clothing, int n, caption_object *out, int max);

/* The phrase a scene concept is said with ("beach" -> "on a beach"), or
 * NULL when the captioner has no grammar for it. */
const char *caption_scene_phrase(const char *concept);
/* Whether a concept is an activity the captioner can say of someone
 * ("running" -> "the girl is running"). */
int caption_is_activity(const char *concept);

/* English helpers, exposed for tests and for other text that names objects:
 * "person" -> "people", "knife" -> "knives", "bus" -> "buses", "tv" -> "TVs".
 * Write into buf (size cap); return buf. */
const char *caption_plural(int label, char *buf, size_t cap);
/* "a dog", "an umbrella", "a pair of skis", "two people", "many cars",
 * "a red car" (color >= 0 and count == 1 and the object takes a colour). */
const char *caption_noun_phrase(int label, int count, int color, char *buf, size_t cap);

#endif
