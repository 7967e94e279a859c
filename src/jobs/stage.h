/* stage.h -- the interface every indexing stage implements.
 *
 * The pipeline is a list of stages run in order on one image. A stage reads
 * what earlier stages left in the context (the original bytes, the decoded
 * working copy, detections...) and writes facts into ctx->rec, which the
 * pipeline persists once at the end. A stage that fails returns an error:
 * if it is `required` the image fails there (nothing later can run without
 * it, e.g. decode); otherwise the failure is reported on the job with the
 * stage's name and the remaining stages go on.
 *
 * Adding a learned model later (a captioner, a transformer encoder) means
 * adding or replacing one entry in the stage table of pipeline.c. */
#ifndef SCRY_STAGE_H
#define SCRY_STAGE_H

#include "core/config.h"
#include "core/err.h"
#include "store/blob.h"
#include "store/meta.h"
#include "vision/image.h"

typedef struct pipeline pipeline;

typedef struct stage_ctx {
    const scry_config *cfg;
    blob_store *blobs;
    meta_db *meta;
    pipeline *pipe;             /* for model handles owned by the pipeline */
    image_rec rec;              /* facts so far; persisted at the end */
    void *bytes;                /* original file (owned) */
    size_t nbytes;
    img_decoded dec;            /* filled by the decode stage */
    int decoded;
    void *vision;               /* per-image scratch of the vision stages (owned by them) */
    void (*vision_free)(void *);
} stage_ctx;

typedef struct stage {
    const char *name;
    int required;
    int (*run)(stage_ctx *ctx, scry_err *err);
} stage;

/* Stages provided by stages_basic.c: decode, thumbnail, colors, phash. */
extern const stage stage_decode, stage_thumbnail, stage_colors, stage_phash;

#endif
