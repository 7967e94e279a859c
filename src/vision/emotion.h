/* emotion.h -- facial expression of one face (7 FER classes).
 *
 * Two converted models, both giving a softmax in scry_emotion_labels order
 * (angry, disgust, fear, happy, sad, surprise, neutral):
 *
 * EMOTION_FACEAPI (the default, what the pipeline runs): face-api's
 *   FaceExpressionNet (@vladmandic/face-api 1.7.15, model/face_expression_*:
 *   a small DenseNet of separable convolutions, weights only; the graph is
 *   written from face-api's own code by tools/tfjs2onnx.py --faceapi).
 *   Input [N,112,112,3] RGB 0..255 (the mean subtraction and /255 are in
 *   the graph); face-api's label order (neutral, happy, sad, angry,
 *   fearful, disgusted, surprised) is mapped to ours here. A crop is
 *   resized to 112x112 as face-api's toBatchTensor does (square crops: TF's
 *   legacy resizeBilinear); a detector box is squared and enlarged by
 *   EMOTION_FACEAPI_BOX_SCALE (facecrop.h) and cut out at 112x112 directly.
 *   Each face is read twice, as is and mirrored, and the two softmaxes
 *   averaged (EMOTION_FLIP; chosen on half of FER2013, see
 *   docs/vision-faces-ocr.md).
 * EMOTION_MINI_XCEPTION: Human's emotion model (@vladmandic/human 3.3.6,
 *   mini-Xception), kept for comparison (bench/vision-quality prints both).
 *   Input [N,64,64,1] grey in [-1,1]. Human's pre-processing in one pass:
 *   the detector box x1.4, squared, Human's 256x256 face tensor
 *   (facecrop.h), which its legacy resize to 64x64 samples at every 4th
 *   pixel; grey = 0.2989 R + 0.587 G + 0.114 B, then (grey - 0.5) * 2. A
 *   crop is resized straight to 64x64 (Human's resizeBilinear).
 *
 * Thread-safe: a shared session and per-call buffers. */
#ifndef SCRY_EMOTION_H
#define SCRY_EMOTION_H

#include "core/err.h"
#include "core/labels.h"
#include "vision/image.h"

enum { EMOTION_FACEAPI = 0, EMOTION_MINI_XCEPTION = 1 };

#define EMOTION_FACEAPI_FILE "faceapi_expression.onnx"
#define EMOTION_FACEAPI_SIZE 112
/* Box margin for face-api: chosen on faces in captioned training photos
 * (docs/vision-faces-ocr.md). */
#define EMOTION_FACEAPI_BOX_SCALE 1.2f

#define EMOTION_INPUT_SIZE 64              /* mini-Xception */
#define EMOTION_BOX_SCALE 1.4f             /* mini-Xception: Human's detector.scale */
#define EMOTION_MODEL_FILE "emotion.onnx"  /* mini-Xception */

typedef struct emotion_model emotion_model;

/* The default model (EMOTION_FACEAPI). */
int emotion_load(const char *models_dir, emotion_model **out, scry_err *err);
int emotion_load_kind(const char *models_dir, int kind, emotion_model **out, scry_err *err);
void emotion_free(emotion_model *m);
/* Mirror test-time augmentation on or off (on by default for face-api, off
 * for mini-Xception, where it measured worse). Not thread-safe: set it
 * before sharing the model. */
void emotion_set_flip(emotion_model *m, int on);

/* Classify the face in box (x, y, w, h) (pixels of img, as a face detector
 * reports it; the margin is added here). scores sum to 1. */
int emotion_classify(emotion_model *m, const img_rgb *img, float x, float y, float w, float h,
                     float scores[SCRY_EMOTION_COUNT], scry_err *err);
/* Classify an image that is already a face crop. */
int emotion_classify_crop(emotion_model *m, const img_rgb *face, float scores[SCRY_EMOTION_COUNT],
                          scry_err *err);
/* Classify n face crops in one run (batch); scores is n*SCRY_EMOTION_COUNT. */
int emotion_classify_crops(emotion_model *m, const img_rgb *faces, int n, float *scores,
                           scry_err *err);

/* Index of the largest score. */
int emotion_top(const float scores[SCRY_EMOTION_COUNT]);

/* The model inputs (exposed for the conversion check and tests):
 * mini-Xception's 64*64 grey, face-api's 112*112*3 RGB 0..255. */
void emotion_prepare_box(const img_rgb *img, float x, float y, float w, float h, float *out);
void emotion_prepare_crop(const img_rgb *face, float *out);
void emotion_prepare_crop_faceapi(const img_rgb *face, float *out);
void emotion_prepare_box_faceapi(const img_rgb *img, float x, float y, float w, float h,
                                 float *out);

#endif
