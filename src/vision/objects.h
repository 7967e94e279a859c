/* objects.h -- COCO-80 object detection (MobileNetV3-CenterNet on ONNX Runtime).
 *
 * The model is Human's centernet (@vladmandic/human 3.3.6), converted once at
 * setup from TF.js to ONNX by tools/tfjs2onnx.py and checked against TF.js on
 * real images (scripts/setup.d/20-models-human.sh). Pre- and post-processing
 * follow Human's own code (dist/human.node.js):
 *   - the whole image is stretched (no letterbox) to 512x512 with TF's legacy
 *     bilinear resize (align_corners=false, half_pixel_centers=false), RGB
 *     values kept in 0..255;
 *   - the graph itself decodes CenterNet's heatmap into 100 candidates
 *     [x1, y1, x2, y2, score, class] in 512-pixel coordinates, class 0-based
 *     = index into scry_coco_labels;
 *   - we keep candidates above a score threshold and run a greedy NMS.
 * Human runs class-agnostic NMS (IoU 0.4, 10 boxes, score 0.2); we run it per
 * class so that a person on a horse keeps both boxes, plus a cross-class
 * pass that drops near-identical boxes of a second class (a "cow" on the
 * very box of a "horse"), and take the threshold from measurement on COCO
 * (bench/vision-quality, docs/vision-objects.md).
 *
 * Thread-safety: the ONNX session is shared; every call allocates its own
 * buffers, so any number of threads may call objects_detect on one model. */
#ifndef SCRY_OBJECTS_H
#define SCRY_OBJECTS_H

#include "core/err.h"
#include "vision/image.h"

#define OBJECTS_INPUT_SIZE 512   /* model input side, pixels */
#define OBJECTS_CANDIDATES 100   /* rows of the model's detections output */
#define OBJECTS_MODEL_FILE "centernet.onnx"

/* One detection in pixel coordinates of the image given to objects_detect:
 * (x, y) top-left corner, w x h size, clipped to the image. */
typedef struct det_box {
    int label;                   /* index into scry_coco_labels */
    float score;                 /* 0..1 */
    float x, y, w, h;
} det_box;

typedef struct objects_params {
    float min_score;             /* drop candidates below this */
    float nms_iou;               /* suppress same-class boxes overlapping more */
    int max_boxes;               /* keep at most this many, best first */
    int class_agnostic;          /* 1: NMS across classes (Human's behaviour) */
    float dup_iou;               /* a box of another class overlapping a kept one
                                    more than this is the same object seen as
                                    two classes (CenterNet's size head is
                                    class-agnostic): drop it. >= 1 disables */
} objects_params;

/* The measured defaults (see docs/vision-objects.md). */
void objects_default_params(objects_params *p);

typedef struct objects_model objects_model;

/* Loads models_dir/centernet.onnx. A missing or corrupt file fails with a
 * message naming the file and ./scripts/setup.sh. */
int objects_load(const char *models_dir, objects_model **out, scry_err *err);
void objects_free(objects_model *m);

/* Detect with the default parameters. *out is malloc'ed (free()), sorted by
 * descending score; *n may be 0 (then *out is NULL). */
int objects_detect(objects_model *m, const img_rgb *img, det_box **out, int *n, scry_err *err);
int objects_detect_with(objects_model *m, const img_rgb *img, const objects_params *p,
                        det_box **out, int *n, scry_err *err);

/* Inner tensors of the detector, pooled, for the learned concept heads
 * (vision/concepts.h): what the network already computed about the whole
 * scene, taken at no extra inference cost. The converted model exposes them
 * as extra outputs after detections, keypoints and wh (see
 * scripts/setup.d/20-models-human.sh):
 *   backbone  the last MobileNetV3 feature map (stride 32: 16x16 x 480 at
 *             512 px), as its mean, its max and the means of a 3x3 grid
 *             (rows top to bottom) -- "where" matters for sky, ground, water;
 *   se14/se11 the squeeze-and-excite means of blocks 14 and 11 (720 and 528
 *             channels), global summaries at two depths;
 *   head      the global mean of the detection head's last feature map (128);
 *   kp_max, kp_mean  the per-class maximum and mean of the 128x128 class
 *             heatmaps (80 each): how much of each class the image holds,
 *             including what falls below the detection threshold. */
#define OBJECTS_FEAT_BACKBONE 480
#define OBJECTS_FEAT_SE14 720
#define OBJECTS_FEAT_SE11 528
#define OBJECTS_FEAT_HEAD 128
#define OBJECTS_FEAT_OUTPUTS 7     /* model outputs when the features are exposed */
typedef struct objects_features {
    float backbone_mean[OBJECTS_FEAT_BACKBONE];
    float backbone_max[OBJECTS_FEAT_BACKBONE];
    float backbone_grid[9][OBJECTS_FEAT_BACKBONE];
    float se14[OBJECTS_FEAT_SE14];
    float se11[OBJECTS_FEAT_SE11];
    float head[OBJECTS_FEAT_HEAD];
    float kp_max[80], kp_mean[80];
} objects_features;

/* Whether the loaded model exposes the feature outputs (an older
 * centernet.onnx does not: ./scripts/setup.sh converts it again). */
int objects_has_features(const objects_model *m);

/* objects_detect_with that also fills *feats (when feats is not NULL; a
 * model without the feature outputs then fails with SCRY_EUNSUPPORTED). */
int objects_detect_features(objects_model *m, const img_rgb *img, const objects_params *p,
                            det_box **out, int *n, objects_features *feats, scry_err *err);

/* The model input for img: 512*512*3 floats, NHWC, RGB 0..255, exactly as
 * Human prepares it. Exposed for the conversion check (tools/model_check.c). */
void objects_prepare_input(const img_rgb *img, float *out);

/* Candidates -> boxes: the post-processing half of objects_detect, on a raw
 * [100,6] detections output, for an image of img_w x img_h. */
int objects_decode(const float *detections, int rows, int img_w, int img_h,
                   const objects_params *p, det_box **out, int *n, scry_err *err);

#endif
