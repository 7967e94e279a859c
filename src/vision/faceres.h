/* faceres.h -- age, gender and a face descriptor for one face.
 *
 * Human's "faceres" model (@vladmandic/human 3.3.6, models/faceres.json: a
 * MobileNet-v1 trunk with three heads), converted to ONNX at setup and
 * checked there against TF.js (scripts/setup.d/20-models-human.sh). Input
 * [N,224,224,3] RGB in 0..255; outputs, in this order:
 *   gender_pred/Sigmoid  [N,1]     P(male)
 *   age_pred/Softmax     [N,100]   one bin per year, 0..99
 *   global_pooling/Mean  [N,1024]  the trunk's pooled features: the descriptor
 *
 * Pre-processing is Human's (dist/human.node.js): the face tensor of
 * vision/facecrop.h (detector box x1.4, squared, cropAndResize to 256x256,
 * /255), resizeBilinear to 224x224 (legacy), x255.
 * Post-processing is Human's too:
 *   gender = P(male) <= 0.5 ? female : male; Human's genderScore is
 *            2|p - 0.5|, we report the probability of the chosen gender,
 *            max(p, 1 - p), in [0.5, 1] (the same information);
 *   age    = argmax bin b moved toward its larger neighbour n by 10 x that
 *            neighbour's probability (b - 10 k[b-1] or b + 10 k[b+1]),
 *            rounded to 0.1 -- verbatim Human. At the top bin (99), where
 *            Human reads past the array and gets NaN, we take the lower
 *            neighbour;
 *   descriptor = the 1024 pooled features, L2-normalised here (Human
 *            returns them raw); compare two with a dot product.
 *
 * The person word (faceres_person_word) turns age and gender into one of
 * scry_person_labels with thresholds measured on captioned photos
 * (bench/faces-attr, docs/vision-faces-ocr.md), and withholds it from a face
 * too small or too unsure to judge.
 *
 * Thread-safe: a shared session and per-call buffers. */
#ifndef SCRY_FACERES_H
#define SCRY_FACERES_H

#include "core/err.h"
#include "core/labels.h"
#include "vision/image.h"

#define FACERES_MODEL_FILE "faceres.onnx"
/* Stored with every descriptor: a descriptor from another model (or another
 * pre-processing) is not comparable, so changing either means a new name. */
#define FACERES_MODEL_NAME "human-faceres-3.3.6"
#define FACERES_INPUT_SIZE 224
#define FACERES_DIM 1024
#define FACERES_AGE_BINS 100

typedef struct faceres_result {
    float age;                  /* years */
    int gender;                 /* SCRY_GENDER_FEMALE or SCRY_GENDER_MALE */
    float gender_score;         /* probability of that gender, 0.5..1 */
    float descriptor[FACERES_DIM];  /* unit length */
} faceres_result;

typedef struct faceres_model faceres_model;

int faceres_load(const char *models_dir, faceres_model **out, scry_err *err);
void faceres_free(faceres_model *m);

/* Describe the face in detector box (x, y, w, h) (pixels of img, the raw
 * BlazeFace box: the margin is added here). */
int faceres_describe(faceres_model *m, const img_rgb *img, float x, float y, float w, float h,
                     faceres_result *out, scry_err *err);

/* The 224*224*3 model input for a box (exposed for the conversion check). */
void faceres_prepare_box(const img_rgb *img, float x, float y, float w, float h, float *out);
/* Human's post-processing of one face's raw outputs (gender sigmoid, 100
 * age probabilities, 1024 raw features) into r. */
void faceres_decode(float p_male, const float age_probs[FACERES_AGE_BINS],
                    const float features[FACERES_DIM], faceres_result *r);

/* ---- the person word ------------------------------------------------------
 * Thresholds chosen on the training photos (flickr8k-train, coco-extra:
 * 180 photos whose captions name one kind of person and that show one
 * face) by bench/faces-attr --sweep; held-out figures on coco/ and the
 * measurements behind each choice in docs/vision-faces-ocr.md. */

/* A face narrower than this (detector box, pixels of the working copy) gets
 * no word and is not described at all: below it the model answers "29 years"
 * for nearly every face and its gender is near chance (0.62 on 12-16 px). */
#define FACERES_MIN_FACE_PX 16.0f
/* Age groups: baby below FACERES_BABY_MAX (the model says 0 for those: 4 of
 * 4 such faces on the training photos were in photos captioned with a
 * baby), child below FACERES_CHILD_MAX, adult above. No "elderly": the
 * model's ages stay under ~45 but for 2 of 482 faces, and of the 2 it put
 * at 69 one was captioned old -- it cannot tell old age, so the word is
 * never emitted (an old person's face gets man/woman). */
#define FACERES_BABY_MAX 3.0f
#define FACERES_CHILD_MAX 13.0f
/* gender_score an adult needs for "man"/"woman" (below: no word), and a
 * child for "boy"/"girl" (below: "child"). Children's gender is the weak
 * spot: most children score 0.5-0.7. */
#define FACERES_ADULT_GENDER_MIN 0.75f
#define FACERES_CHILD_GENDER_MIN 0.80f

/* The person word for a described face whose detector box is face_px wide in
 * the working copy: an index into scry_person_labels, or -1 (no word). */
int faceres_person_word(const faceres_result *r, float face_px);

#endif
