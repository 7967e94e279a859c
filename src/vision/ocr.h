/* ocr.h -- text in images: words with boxes, for search.
 *
 * Two engines behind one interface (choice and numbers in
 * docs/vision-faces-ocr.md):
 *   OCR_PPOCR      PaddleOCR PP-OCRv4 on ONNX Runtime (default): a DB text
 *                  detector finds (possibly rotated) text lines, each line is
 *                  rectified to height 48 and read by a CTC recogniser.
 *                  Built for scene text -- signs, shop fronts, labels.
 *   OCR_TESSERACT  Tesseract 5 LSTM (Debian's libtesseract, eng), word level.
 *                  Good on documents and screenshots, weak on scene text.
 *
 * Output is for English-language search: the PP-OCRv4 model reads Chinese
 * as well, and anything that is not Latin text is treated as a word break
 * and dropped (full-width ASCII forms are folded to ASCII). Words are split
 * on spaces, stripped of leading/trailing punctuation, and words with no
 * letter or digit are dropped. Case is kept as read.
 *
 * Word boxes are axis-aligned, in the pixel coordinates of the image given to
 * ocr_read. PP-OCR reads lines, so its word boxes are estimated from where in
 * the line the recogniser emitted the word's characters: good for
 * highlighting, not exact.
 *
 * An ocr_model may be shared by threads: PP-OCR sessions are thread-safe,
 * and for Tesseract (which is not) each concurrent ocr_read borrows its own
 * TessBaseAPI from a small pool inside the model. */
#ifndef SCRY_OCR_H
#define SCRY_OCR_H

#include "core/err.h"
#include "vision/image.h"

typedef struct ocr_word {
    char *text;                 /* UTF-8 (ASCII in practice), owned */
    float x, y, w, h;           /* img pixel coordinates */
    float conf;                 /* 0..1 */
} ocr_word;

enum { OCR_PPOCR = 0, OCR_TESSERACT = 1 };

typedef struct ocr_opts {
    int engine;                 /* OCR_PPOCR (default) or OCR_TESSERACT */
    int det_max_side;           /* PP-OCR: detector input longest side; default 1280
                                   (the whole working copy; smaller images are
                                   not enlarged) */
    float min_conf;             /* words below are dropped; default 0.5 */
    int tess_psm;               /* Tesseract page segmentation mode; default 11 (sparse) */
} ocr_opts;

void ocr_default_opts(ocr_opts *o);

typedef struct ocr_model ocr_model;

/* PP-OCR: models_dir holds ppocrv4_det.onnx, ppocrv4_rec.onnx and
 * ppocr_keys_v1.txt (scripts/setup.d/21-models-faces-ocr.sh). Tesseract:
 * models_dir is unused; tessdata comes from $TESSDATA_PREFIX or Debian's
 * /usr/share/tesseract-ocr/5/tessdata. */
int ocr_load(const char *models_dir, ocr_model **out, scry_err *err);
int ocr_load_opts(const char *models_dir, const ocr_opts *opts, ocr_model **out, scry_err *err);
void ocr_free(ocr_model *m);

/* Words in img, in reading order (lines top to bottom, then left to right).
 * *out is NULL when *n == 0; free with ocr_words_free. */
int ocr_read(ocr_model *m, const img_rgb *img, ocr_word **out, int *n, scry_err *err);
void ocr_words_free(ocr_word *w, int n);

/* The words joined by single spaces (malloc'ed; "" when n == 0), NULL on
 * out-of-memory. */
char *ocr_join(const ocr_word *w, int n);

#endif
