/* faces.h -- face detection (MediaPipe BlazeFace on ONNX Runtime).
 *
 * Boxes are in the pixel coordinates of the image given to faces_detect and
 * follow BlazeFace's convention: a square-ish box from the eyebrows to the
 * chin and roughly ear to ear -- tight, no hair, no margin (the same
 * convention as the dlib-labelled boxes we measure against). A classifier
 * that wants context around the face (FER-style emotion crops include the
 * forehead and some background) should widen it with face_box_expand, e.g.
 * by 0.2 of the box size on each side.
 *
 * Small faces: BlazeFace sees a 256x256 (back model) or 128x128 (front
 * model) rendition of the image, so a 40-pixel face in a 500-pixel group
 * photo shrinks to ~20 pixels and is often missed. faces_detect therefore
 * also runs the model on overlapping tiles at a finer scale when the image is
 * large enough for that to matter, and merges everything with MediaPipe's
 * weighted non-maximum suppression. The defaults were chosen by measurement
 * on ../shared/data/faces (docs/vision-faces-ocr.md).
 *
 * A faces_model is read-only after faces_load: any number of threads may call
 * faces_detect on it concurrently. */
#ifndef SCRY_FACES_H
#define SCRY_FACES_H

#include "core/err.h"
#include "vision/image.h"

typedef struct face_box {
    float x, y, w, h;           /* img pixel coordinates, top-left + size */
    float score;                /* 0..1 */
} face_box;

/* BlazeFace's 6 keypoints, in image pixels, in MediaPipe's order: the
 * person's right eye (on the image's left in a frontal face), left eye, nose
 * tip, mouth centre, right ear tragion, left ear tragion. Face alignment
 * (vision/facerec.h) reads the first four. */
#define FACES_KEYPOINTS 6
enum { FACES_KP_RIGHT_EYE = 0, FACES_KP_LEFT_EYE, FACES_KP_NOSE, FACES_KP_MOUTH,
       FACES_KP_RIGHT_EAR, FACES_KP_LEFT_EAR };
typedef struct face_landmarks {
    float pt[FACES_KEYPOINTS][2];
} face_landmarks;

enum { FACES_BACK_256 = 0, FACES_FRONT_128 = 1 };

typedef struct faces_opts {
    int model;                  /* FACES_BACK_256 (default) or FACES_FRONT_128 */
    float min_score;            /* detections below are dropped; default 0.6 */
    int tile;                   /* tile side in image pixels for the fine pass;
                                   0 = whole image only; -1 (default) = auto:
                                   0.6 x the longest side (a 2x2 grid for
                                   most photos), none below 1.25 x the input */
    int max_faces;              /* keep the best this many; default 64 */
} faces_opts;

void faces_default_opts(faces_opts *o);

typedef struct faces_model faces_model;

/* Load from models_dir (blazeface_back_256.onnx / blazeface_front_128.onnx,
 * installed by scripts/setup.d/21-models-faces-ocr.sh) with the defaults. */
int faces_load(const char *models_dir, faces_model **out, scry_err *err);
/* Same with explicit options (opts NULL = defaults). */
int faces_load_opts(const char *models_dir, const faces_opts *opts, faces_model **out,
                    scry_err *err);
void faces_free(faces_model *m);

/* Detect faces in img. *out (malloc'ed, caller frees; NULL when *n == 0) is
 * sorted by decreasing score. */
int faces_detect(faces_model *m, const img_rgb *img, face_box **out, int *n, scry_err *err);

/* A face at least this many pixels wide in the whole-image pass's input is
 * found by that pass alone (measured in docs/vision-faces-ocr.md). */
#define FACES_WHOLE_PASS_MIN_FACE 40.0f

/* faces_detect guided by person boxes (image pixels, e.g. from the object
 * detector; only x, y, w, h are read): the finer tiled pass runs only on
 * tiles overlapping a person whose face the whole-image pass did not find
 * and may be too small for it. npeople == 0: whole image only; npeople < 0:
 * every tile (same as faces_detect). Faces are still found anywhere in the
 * image by the whole-image pass. */
int faces_detect_guided(faces_model *m, const img_rgb *img, const face_box *people, int npeople,
                        face_box **out, int *n, scry_err *err);

/* faces_detect_guided that also returns each face's keypoints: *lm (may be
 * NULL: not wanted) is malloc'ed, parallel to *out, merged across passes by
 * the same weighted vote as the boxes. */
int faces_detect_landmarks(faces_model *m, const img_rgb *img, const face_box *people,
                           int npeople, face_box **out, face_landmarks **lm, int *n,
                           scry_err *err);

/* b grown by margin * its size on every side, clipped to a w x h image. */
face_box face_box_expand(face_box b, float margin, int w, int h);

#endif
