/* concepts.h -- visual concepts learned here from captioned photos.
 *
 * What people write about photos ("a man", "on the grass", "in the snow",
 * "riding", "at night") is mostly not among the detector's 80 classes. This
 * module turns what the pipeline already computed for a photo into a fixed
 * feature vector, and applies a small head trained in this repository
 * (tools/train_concepts.py, on ../shared/data/flickr8k-train and coco-extra;
 * never on the coco/ benchmark) to it:
 *   - one calibrated probability per concept word (multi-label logistic
 *     regression; Platt-calibrated on held-out folds, so 0.7 means "about 7
 *     in 10 photos scored like this have the word in their captions");
 *   - a projection of the photo into the sentence encoder's space (ridge
 *     regression onto the captions' SIF vectors, DeViSE-style), so that a
 *     query can be compared with the pixels, not only with the facts.
 * The head is a file (models/concepts.bin, committed: it is ours, a few MB)
 * checked against the feature layout version below when it is loaded.
 *
 * Features (CONCEPT_FEAT_DIM floats), all free byproducts of stages that run
 * anyway: the detector's pooled inner tensors (objects_features), a summary
 * of its detections (per class: log(1 + count), total box area fraction),
 * and the photo statistics (img_stats: colour layout, lightness, sharpness).
 * Changing the layout means bumping CONCEPT_FEAT_VERSION and retraining.
 *
 * A concepts_model is read-only after loading: any number of threads may
 * use it. */
#ifndef SCRY_CONCEPTS_H
#define SCRY_CONCEPTS_H

#include <stddef.h>

#include "core/err.h"
#include "vision/image.h"
#include "vision/objects.h"

#define CONCEPT_FEAT_VERSION 1

enum {
    CF_BB_MEAN, CF_BB_MAX, CF_BB_GRID, CF_SE14, CF_SE11, CF_HEAD,
    CF_KP_MAX, CF_KP_MEAN, CF_DET_COUNT, CF_DET_AREA, CF_STATS, CF_NBLOCKS
};

typedef struct concept_block {
    const char *name;
    int offset, size;
} concept_block;

/* The layout: blocks in order, contiguous. */
extern const concept_block concept_blocks[CF_NBLOCKS];
#define CONCEPT_FEAT_DIM                                                               \
    (OBJECTS_FEAT_BACKBONE * 11 + OBJECTS_FEAT_SE14 + OBJECTS_FEAT_SE11 +              \
     OBJECTS_FEAT_HEAD + 80 * 4 + IMG_STATS_COUNT)

/* Assemble the feature vector of one photo: its detector features, its
 * detections (pixel boxes in an img_w x img_h image; as objects_detect
 * returns them) and its statistics. out has CONCEPT_FEAT_DIM floats. */
void concepts_features(const objects_features *of, const det_box *dets, int ndets, int img_w,
                       int img_h, const img_stats *st, float *out);

/* ---- the trained head ------------------------------------------------ */

#define CONCEPTS_MODEL_FILE "concepts.bin"

typedef struct concepts_model concepts_model;

/* Load models_dir/concepts.bin (installed by ./scripts/setup.sh from the
 * committed models/concepts.bin). A missing, truncated or corrupt file, or
 * one made for another feature layout, fails with a message naming the file
 * and the fix. */
int concepts_load(const char *models_dir, concepts_model **out, scry_err *err);
void concepts_free(concepts_model *m);

/* Identifies this head ("concepts-" + the start of the file's SHA-256):
 * vectors computed with it are stored under a name that includes it. */
const char *concepts_name(const concepts_model *m);
/* The sentence encoder the projection was trained against (its name). */
const char *concepts_encoder(const concepts_model *m);

int concepts_count(const concepts_model *m);
/* Concept i: the word as captions say it ("grass", "running"), its term in
 * the keyword index (stemmed base form) and its cross-validated AP. */
const char *concepts_word(const concepts_model *m, int i);
const char *concepts_key(const concepts_model *m, int i);
float concepts_quality(const concepts_model *m, int i);
/* Dimension of the shared image-text space. */
int concepts_proj_dim(const concepts_model *m);
/* Dimension of the sentence vectors it takes (the encoder's). */
int concepts_text_dim(const concepts_model *m);

/* Apply the head to a photo's features (CONCEPT_FEAT_DIM floats):
 * probs[concepts_count] calibrated probabilities; proj[concepts_proj_dim]
 * the photo in the shared space, unit length. Either may be NULL. */
void concepts_apply(const concepts_model *m, const float *feat, float *probs, float *proj);
/* A sentence into the shared space: its vector q (concepts_text_dim floats,
 * the encoder's, unit) and the concept keys of its words (keys: each word's
 * base form as a keyword-index term -- what tools/train_concepts.py calls a
 * key; unknown keys are ignored) -> out[concepts_proj_dim], unit length
 * (zeros when nothing is known). */
void concepts_project_text(const concepts_model *m, const float *q, const char *const *keys,
                           int nkeys, float *out);
/* Index of a key in the text side's vocabulary, or -1. */
int concepts_vocab_index(const concepts_model *m, const char *key);

#endif
