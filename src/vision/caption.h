/* caption.h -- one English sentence describing a photo, from its facts.
 *
 * This captioner is COMPOSED, NOT LEARNED: no model writes it. It turns the
 * facts other stages established -- object counts (COCO-80), dominant colours
 * of single objects, the expressions of detected faces, OCR text -- into a
 * sentence with fixed grammar rules, e.g.
 *     "Two people and a dog on a couch; one person is smiling."
 *     "A red car and a bus on a street; text reads 'OPEN'."
 * Everything it says is grounded in a fact it was given; it never guesses
 * actions or relations beyond a few scene hints from co-occurring labels
 * that are reliable (a dining table with cups -> "at a table", an oven ->
 * "in a kitchen", skis -> "in the snow", ...). It is deterministic: the same
 * facts give the same sentence, byte for byte.
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
} caption_object;

typedef struct caption_input {
    const caption_object *objects;  /* most important first; one entry per label */
    int n_objects;
    const int *face_emotions;       /* per face: index into scry_emotion_labels, or -1 */
    int n_faces;
    const char *ocr_text;           /* recognised text, or NULL */
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
 * agrees. Returns the number of entries written. */
int caption_tally(const int *labels, const int *colors, int n, caption_object *out, int max);

/* English helpers, exposed for tests and for other text that names objects:
 * "person" -> "people", "knife" -> "knives", "bus" -> "buses", "tv" -> "TVs".
 * Write into buf (size cap); return buf. */
const char *caption_plural(int label, char *buf, size_t cap);
/* "a dog", "an umbrella", "a pair of skis", "two people", "many cars",
 * "a red car" (color >= 0 and count == 1 and the object takes a colour). */
const char *caption_noun_phrase(int label, int count, int color, char *buf, size_t cap);

#endif
