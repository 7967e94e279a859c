/* labels.h -- the closed vocabularies Scry's facts are expressed in.
 *
 * The detector speaks COCO-80, the emotion model seven FER classes, and the
 * colour stage a small palette of basic colour terms (the ones people type:
 * "red car", not "crimson car"). Vision writes these names into the store and
 * query understanding maps free words onto them, so both sides share this one
 * list instead of spelling names twice. Indices are stable: the detector's
 * class id is the index into scry_coco_labels. */
#ifndef SCRY_LABELS_H
#define SCRY_LABELS_H

#define SCRY_COCO_COUNT 80
#define SCRY_EMOTION_COUNT 7
#define SCRY_COLOR_COUNT 11

extern const char *const scry_coco_labels[SCRY_COCO_COUNT];
/* Same order as the emotion model's softmax: angry, disgust, fear, happy,
 * sad, surprise, neutral. */
extern const char *const scry_emotion_labels[SCRY_EMOTION_COUNT];
/* black, white, gray, red, orange, yellow, green, blue, purple, pink, brown. */
extern const char *const scry_color_names[SCRY_COLOR_COUNT];

/* Index of a name in its list, or -1. Case-sensitive; names are lowercase. */
int scry_coco_index(const char *label);
int scry_emotion_index(const char *emotion);
int scry_color_index(const char *color);

#endif
