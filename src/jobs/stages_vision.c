/* stages_vision.c -- the model stages: objects (COCO-80, with the colour of
 * each object), and the caption composed from every fact found.
 *
 * Detections are made on the decoded working copy; boxes are stored in the
 * original image's pixel coordinates (scaled back), so clients can draw them
 * over /content. Per-image results the caption needs are kept in a scratch
 * struct hung on the stage context (ctx->vision). */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/labels.h"
#include "core/log.h"
#include "jobs/stage.h"
#include "vision/caption.h"
#include "vision/emotion.h"
#include "vision/objects.h"
#include "vision/onnx.h"

#define MAX_CAPTION_OBJECTS 12

typedef struct vision_scratch {
    det_box *objects;
    int *object_colors;
    int nobjects;
    int *face_emotions;
    int nfaces;
} vision_scratch;

static void scratch_free(void *p) {
    vision_scratch *vs = p;
    if (!vs) return;
    free(vs->objects);
    free(vs->object_colors);
    free(vs->face_emotions);
    free(vs);
}

static vision_scratch *scratch(stage_ctx *ctx) {
    if (!ctx->vision) {
        ctx->vision = calloc(1, sizeof(vision_scratch));
        ctx->vision_free = scratch_free;
    }
    return ctx->vision;
}

/* Load one model if its file is there (or required). */
static int load_one(const scry_config *cfg, const char *file,
                    int (*load)(const char *, void **, scry_err *), void **out, scry_err *err) {
    *out = NULL;
    if (cfg->vision == 0) return SCRY_OK;
    char path[1200];
    snprintf(path, sizeof path, "%s/%s", cfg->models_dir, file);
    if (cfg->vision < 0 && access(path, R_OK) != 0) {
        log_warn("vision.model_missing", "file=%s fix=\"./scripts/setup.sh\" stage_skipped=1", path);
        return SCRY_OK;
    }
    return load(cfg->models_dir, out, err);
}

static int load_objects(const char *dir, void **out, scry_err *err) {
    return objects_load(dir, (objects_model **)out, err);
}
static int load_emotion(const char *dir, void **out, scry_err *err) {
    return emotion_load(dir, (emotion_model **)out, err);
}

int vision_models_load(vision_models *vm, const scry_config *cfg, scry_err *err) {
    memset(vm, 0, sizeof *vm);
    if (cfg->vision != 0) {
        int orc = onnx_global_init(cfg->ort_threads, err);
        if (orc != SCRY_OK) return cfg->vision > 0 ? orc : SCRY_OK;
    }
    int rc = load_one(cfg, OBJECTS_MODEL_FILE, load_objects, (void **)&vm->objects, err);
    if (rc == SCRY_OK) rc = load_one(cfg, "emotion.onnx", load_emotion, (void **)&vm->emotion, err);
    if (rc != SCRY_OK) vision_models_free(vm);
    return rc;
}

void vision_models_free(vision_models *vm) {
    objects_free(vm->objects);
    emotion_free(vm->emotion);
    memset(vm, 0, sizeof *vm);
}

/* Working-copy pixels -> original pixels. */
static double scale_of(const stage_ctx *ctx) {
    return ctx->dec.work.w > 0 ? (double)ctx->dec.width / ctx->dec.work.w : 1.0;
}

static json_t *box_json(double s, float x, float y, float w, float h) {
    json_t *b = json_array();
    json_array_append_new(b, json_integer((json_int_t)(x * s + 0.5)));
    json_array_append_new(b, json_integer((json_int_t)(y * s + 0.5)));
    json_array_append_new(b, json_integer((json_int_t)(w * s + 0.5)));
    json_array_append_new(b, json_integer((json_int_t)(h * s + 0.5)));
    return b;
}

static int run_objects(stage_ctx *ctx, scry_err *err) {
    vision_scratch *vs = scratch(ctx);
    if (!vs) return scry_fail(err, SCRY_ENOMEM, "out of memory");
    int rc = objects_detect(ctx->models->objects, &ctx->dec.work, &vs->objects, &vs->nobjects, err);
    if (rc != SCRY_OK) return rc;
    vs->object_colors = calloc((size_t)(vs->nobjects ? vs->nobjects : 1), sizeof(int));
    if (!vs->object_colors) return scry_fail(err, SCRY_ENOMEM, "out of memory");
    double s = scale_of(ctx);
    json_t *tags = json_array();
    for (int i = 0; i < vs->nobjects; i++) {
        const det_box *d = &vs->objects[i];
        vs->object_colors[i] = img_region_color(&ctx->dec.work, (int)d->x, (int)d->y, (int)d->w,
                                                (int)d->h);
        json_t *t = json_object();
        json_object_set_new(t, "label", json_string(scry_coco_labels[d->label]));
        json_object_set_new(t, "score", json_real((double)(int)(d->score * 1000 + 0.5) / 1000));
        json_object_set_new(t, "box", box_json(s, d->x, d->y, d->w, d->h));
        int c = vs->object_colors[i];
        json_object_set_new(t, "color", c >= 0 ? json_string(scry_color_names[c]) : json_null());
        json_array_append_new(tags, t);
    }
    free(ctx->rec.tags_json);
    ctx->rec.tags_json = json_dumps(tags, JSON_COMPACT);
    json_decref(tags);
    return ctx->rec.tags_json ? SCRY_OK : scry_fail(err, SCRY_ENOMEM, "out of memory");
}

static int run_caption(stage_ctx *ctx, scry_err *err) {
    vision_scratch *vs = ctx->vision;
    if (!vs && !(ctx->rec.text && *ctx->rec.text)) return SCRY_OK;   /* nothing to say */
    caption_object objs[MAX_CAPTION_OBJECTS];
    int nobjs = 0;
    if (vs && vs->nobjects) {
        int *labels = malloc((size_t)vs->nobjects * sizeof *labels);
        if (!labels) return scry_fail(err, SCRY_ENOMEM, "out of memory");
        for (int i = 0; i < vs->nobjects; i++) labels[i] = vs->objects[i].label;
        nobjs = caption_tally(labels, vs->object_colors, vs->nobjects, objs, MAX_CAPTION_OBJECTS);
        free(labels);
    }
    caption_input in = {.objects = objs, .n_objects = nobjs,
                        .face_emotions = vs ? vs->face_emotions : NULL,
                        .n_faces = vs ? vs->nfaces : 0,
                        .ocr_text = ctx->rec.text && *ctx->rec.text ? ctx->rec.text : NULL};
    char *sentence = NULL;
    int rc = caption_composed.caption(caption_composed.self, &in, &sentence, err);
    if (rc != SCRY_OK) return rc;
    free(ctx->rec.caption);
    ctx->rec.caption = sentence;
    return SCRY_OK;
}

const stage stage_objects = {"objects", 0, run_objects};
const stage stage_caption = {"caption", 0, run_caption};
