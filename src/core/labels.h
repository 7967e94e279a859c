/* labels.h -- the closed vocabularies Scry's facts are expressed in.
 *
 * The detector speaks COCO-80, the emotion model seven FER classes, the
 * face-attribute model two genders (and the person words derived from age
 * and gender), and the colour stage a small palette of basic colour terms
 * (the ones people type: "red car", not "crimson car"). Vision writes these names into the store and
 * query understanding maps free words onto them, so both sides share this one
 * list instead of spelling names twice. Indices are stable: the detector's
 * class id is the index into scry_coco_labels. */
#ifndef SCRY_LABELS_H
#define SCRY_LABELS_H

#define SCRY_COCO_COUNT 80
#define SCRY_EMOTION_COUNT 7
#define SCRY_COLOR_COUNT 11
#define SCRY_PERSON_COUNT 7
#define SCRY_GENDER_COUNT 2

extern const char *const scry_coco_labels[SCRY_COCO_COUNT];
/* Same order as the emotion model's softmax: angry, disgust, fear, happy,
 * sad, surprise, neutral. */
extern const char *const scry_emotion_labels[SCRY_EMOTION_COUNT];
/* black, white, gray, red, orange, yellow, green, blue, purple, pink, brown. */
extern const char *const scry_color_names[SCRY_COLOR_COUNT];

/* The person words derived from a face's age and gender
 * (vision/faceres.h faceres_person_word): man, woman, boy, girl, child,
 * baby, elderly. "child" is a young face whose gender is unsure, "baby"
 * carries no gender (the face's gender field still does). "elderly" is in
 * the vocabulary for query understanding, but faceres never emits it: its
 * age estimates cannot tell old age (docs/vision-faces-ocr.md). */
extern const char *const scry_person_labels[SCRY_PERSON_COUNT];
enum { SCRY_PERSON_MAN, SCRY_PERSON_WOMAN, SCRY_PERSON_BOY, SCRY_PERSON_GIRL,
       SCRY_PERSON_CHILD, SCRY_PERSON_BABY, SCRY_PERSON_ELDERLY };
/* female, male: the face-attribute model's two classes. */
extern const char *const scry_gender_labels[SCRY_GENDER_COUNT];
enum { SCRY_GENDER_FEMALE, SCRY_GENDER_MALE };

/* Index of a name in its list, or -1. Case-sensitive; names are lowercase. */
int scry_coco_index(const char *label);
int scry_emotion_index(const char *emotion);
int scry_color_index(const char *color);
int scry_person_index(const char *word);
int scry_gender_index(const char *gender);

#endif
