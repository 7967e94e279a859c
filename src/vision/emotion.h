/* emotion.h -- facial expression of one face (mini-Xception, FER classes).
 *
 * Human's emotion model (@vladmandic/human 3.3.6, models/emotion.json),
 * converted to ONNX at setup. Input [N,64,64,1] grey in [-1,1]; output a
 * softmax over the seven classes in scry_emotion_labels order (angry,
 * disgust, fear, happy, sad, surprise, neutral) -- Human's own label order for
 * this one-channel model, checked in dist/human.node.js.
 *
 * Pre-processing is Human's, in one pass:
 *   - the face box from a detector is enlarged 1.4x about its centre and made
 *     square on its longer side (Human's detector.scale and squarify);
 *   - that square is cropped from the image with TF's cropAndResize to
 *     256x256 (outside the image reads as black), /255, then resized to
 *     64x64 with the legacy bilinear resize -- which samples every 4th crop
 *     pixel exactly, so we sample those 64x64 points straight from the image;
 *   - grey = 0.2989 R + 0.587 G + 0.114 B, then (grey - 0.5) * 2.
 * emotion_classify_crop skips the box step for an image that already is a
 * face crop (FER2013-style): Human resizes its face tensor straight to 64x64.
 *
 * Thread-safe: a shared session and per-call buffers. */
#ifndef SCRY_EMOTION_H
#define SCRY_EMOTION_H

#include "core/err.h"
#include "core/labels.h"
#include "vision/image.h"

#define EMOTION_INPUT_SIZE 64
#define EMOTION_BOX_SCALE 1.4f
#define EMOTION_MODEL_FILE "emotion.onnx"

typedef struct emotion_model emotion_model;

int emotion_load(const char *models_dir, emotion_model **out, scry_err *err);
void emotion_free(emotion_model *m);

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

/* The 64*64 model input (exposed for the conversion check). */
void emotion_prepare_box(const img_rgb *img, float x, float y, float w, float h, float *out);
void emotion_prepare_crop(const img_rgb *face, float *out);

#endif
