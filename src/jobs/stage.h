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

/* Models the vision stages use, loaded once per process and shared by every
 * worker (each is thread-safe). A NULL model means its stage is skipped. */
typedef struct objects_model objects_model;
typedef struct emotion_model emotion_model;
typedef struct faces_model faces_model;
typedef struct ocr_model ocr_model;
typedef struct concepts_model concepts_model;
typedef struct faceres_model faceres_model;
typedef struct vision_models {
    objects_model *objects;
    emotion_model *emotion;
    faces_model *faces;         /* whole image + tiles (small faces) */
    faceres_model *faceres;     /* age, gender, descriptor of each face */
    ocr_model *ocr;
    const concepts_model *concepts; /* borrowed (the app owns it: search uses it too) */
} vision_models;

/* Load the models under cfg->models_dir. cfg->vision: 1 = every model is
 * required (a missing file is an error naming it and the fix); -1 = load
 * what is there and log what is missing; 0 = load nothing. */
int vision_models_load(vision_models *vm, const scry_config *cfg, scry_err *err);
void vision_models_free(vision_models *vm);

typedef struct stage_ctx {
    const scry_config *cfg;
    blob_store *blobs;
    meta_db *meta;
    const vision_models *models;
    const struct scry_encoder *encoder; /* NULL: no embed stage */
    const concepts_model *vector_concepts; /* the head image vectors are laid out for (or NULL) */
    image_rec rec;              /* facts so far; persisted at the end */
    void *bytes;                /* original file (owned) */
    size_t nbytes;
    img_decoded dec;            /* filled by the decode stage */
    int decoded;
    void *vision;               /* per-image scratch of the vision stages (owned by them) */
    void (*vision_free)(void *);
    const char *stage;          /* name of the stage running (set by the pipeline) */
    img_stats *stats;           /* the photo's statistics (colors stage; owned), or NULL */
    int photo_attrs;            /* IMG_ATTR_* bits: black and white, dark, ... */
    float *image_vec;           /* the photo in the learned image-text space (owned), or NULL */
    int image_vec_dim;
    /* Face descriptors from the faces stage, written with the facts
     * (meta_image_update_facts_faces): faces_update.model is set only when
     * the stage finished, and its faces then replace the stored ones.
     * faces_rows and faces_vecs own what faces_update points to. */
    meta_faces_update faces_update;
    meta_face *faces_rows;
    float *faces_vecs;
    struct deferred_put *deferred;  /* a blob write still running (see below) */
} stage_ctx;

/* A blob write handed to a background thread so that its fsyncs overlap the
 * stages after it (the thumbnail's two fsyncs cost a few ms of a worker's
 * time otherwise). The digest is written to sha_out when the write is done
 * ("" if it failed); stage_ctx_finish_deferred joins it -- the pipeline
 * calls it before the facts are persisted -- and reports the write's
 * failure, if any, in err, with the name of the stage that started it in
 * *stage (either may be NULL). Takes ownership of data (freed with free).
 * Falls back to writing at once when no thread can be started. */
int stage_put_deferred(stage_ctx *ctx, void *data, size_t n, char *sha_out, scry_err *err);
int stage_ctx_finish_deferred(stage_ctx *ctx, const char **stage, scry_err *err);

typedef struct stage {
    const char *name;
    int required;
    int (*run)(stage_ctx *ctx, scry_err *err);
} stage;

/* Stages provided by stages_basic.c: decode, thumbnail, colors, phash. */
extern const stage stage_decode, stage_thumbnail, stage_colors, stage_phash;
/* Stages provided by stages_vision.c: objects (with per-object colour),
 * faces (with emotions; age, gender, person word and descriptor when the
 * faceres model is loaded), concepts (the learned head: concept tags and the
 * image-text projection, from the detector's features), ocr, caption. The
 * pipeline includes a model stage only when its model is loaded. */
extern const stage stage_objects, stage_faces, stage_concepts, stage_ocr, stage_caption;
/* stages_embed.c: the sentence vector of the facts, stored with the image. */
extern const stage stage_embed;

#endif
