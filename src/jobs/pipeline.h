/* pipeline.h -- the indexing pipeline: every stage, in order, for one image.
 *
 * The pipeline owns the long-lived resources stages need (loaded models), is
 * shared by all worker threads, and is stateless per call: each
 * pipeline_process builds its own stage context, so images run in parallel.
 *
 * For each image: load its record and original bytes, run the stages (each
 * preceded by meta_item_stage so that a crash inside one is attributed to
 * it), persist the facts once, and return. Stage failures are reported
 * through *result rather than as the return value, which is reserved for
 * failures of the machinery itself (database or blob store unavailable). */
#ifndef SCRY_PIPELINE_H
#define SCRY_PIPELINE_H

#include "core/config.h"
#include "core/err.h"
#include "store/blob.h"
#include "store/meta.h"

typedef struct pipeline pipeline;

typedef struct pipeline_result {
    int ok;                     /* 1: image indexed (maybe with non-fatal stage errors) */
    char stage[32];             /* the failing stage, "" if none */
    char message[512];          /* its reason */
    int nonfatal;               /* count of optional stages that failed */
} pipeline_result;

typedef struct scry_encoder scry_encoder;
typedef struct concepts_model concepts_model;

/* Loads models as cfg says (vision: -1 auto, 0 off, 1 required). enc (may be
 * NULL: no vectors) is the sentence encoder of the embed stage; concepts (may
 * be NULL; borrowed) the learned concept head, whose stage runs when the
 * detector exposes its features. */
int pipeline_create(pipeline **out, const scry_config *cfg, blob_store *blobs, meta_db *meta,
                    const scry_encoder *enc, const concepts_model *concepts, scry_err *err);
/* fn(ctx) runs after each image's facts are persisted and before its work
 * item is finished: the app uses it to put the image in the search index
 * before the job can complete. */
void pipeline_set_hook(pipeline *p, void (*fn)(void *ctx), void *ctx);
void pipeline_free(pipeline *p);

int pipeline_process(pipeline *p, const work_item *w, pipeline_result *result, scry_err *err);

/* Names of the stages in order, NULL-terminated (for metrics and benches). */
const char *const *pipeline_stage_names(const pipeline *p);

#endif
