/* pipeline.c -- see pipeline.h. */
#include "jobs/pipeline.h"

#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/metrics.h"
#include "core/util.h"
#include "jobs/stage.h"
#include "vision/objects.h"

#define MAX_STAGES 24

struct pipeline {
    const scry_config *cfg;
    blob_store *blobs;
    meta_db *meta;
    vision_models models;
    const scry_encoder *enc;
    const concepts_model *vector_concepts;  /* fixes the image vector's layout (search.h) */
    void (*hook)(void *);
    void *hook_ctx;
    const stage *stages[MAX_STAGES];
    const char *names[MAX_STAGES + 1];
    int nstages;
    /* Fault injection for the crash-recovery tests: SCRY_FAULT_CRASH=
     * "stage:substring" aborts the process when that stage starts on an
     * image whose filename contains substring. Unset in normal runs. */
    char fault_stage[32];
    char fault_name[128];
    /* SCRY_FAULT_FAIL="stage:substring": that stage fails (returns an
     * error) instead, to test that the other stages and images go on. */
    char fail_stage[32];
    char fail_name[128];
};

/* Parse "stage:substring" from an environment variable. */
static void parse_fault(const char *var, char *stage, size_t scap, char *name, size_t ncap) {
    const char *v = getenv(var);
    const char *colon = v ? strchr(v, ':') : NULL;
    if (!colon) return;
    snprintf(stage, scap, "%.*s", (int)(colon - v), v);
    snprintf(name, ncap, "%s", colon + 1);
    log_warn("pipeline.fault_injection", "var=%s stage=%s filename_contains=%s", var, stage, name);
}

static int fault_matches(const char *stage, const char *name, const char *s, const char *filename) {
    return stage[0] && !strcmp(stage, s) && filename && strstr(filename, name);
}

static void add_stage(pipeline *p, const stage *s) {
    if (p->nstages == MAX_STAGES) return;
    p->names[p->nstages] = s->name;
    p->stages[p->nstages++] = s;
    p->names[p->nstages] = NULL;
}

int pipeline_create(pipeline **out, const scry_config *cfg, blob_store *blobs, meta_db *meta,
                    const scry_encoder *enc, const concepts_model *concepts, scry_err *err) {
    (void)err;
    pipeline *p = calloc(1, sizeof *p);
    if (!p) return scry_fail(err, SCRY_ENOMEM, "out of memory");
    p->cfg = cfg;
    p->blobs = blobs;
    p->meta = meta;
    p->enc = enc;
    p->vector_concepts = concepts;
    parse_fault("SCRY_FAULT_CRASH", p->fault_stage, sizeof p->fault_stage, p->fault_name,
                sizeof p->fault_name);
    parse_fault("SCRY_FAULT_FAIL", p->fail_stage, sizeof p->fail_stage, p->fail_name,
                sizeof p->fail_name);
    int rc = vision_models_load(&p->models, cfg, err);
    if (rc != SCRY_OK) {
        free(p);
        return rc;
    }
    /* The concept head reads the detector's inner tensors: a model file
     * converted before they were exposed cannot feed it. */
    if (concepts && p->models.objects && !objects_has_features(p->models.objects)) {
        if (cfg->vision > 0) {
            vision_models_free(&p->models);
            free(p);
            return scry_fail(err, SCRY_EUNSUPPORTED,
                             "%s/%s does not expose the features the concept head needs; run "
                             "./scripts/setup.sh", cfg->models_dir, OBJECTS_MODEL_FILE);
        }
        log_warn("vision.concepts_unavailable", "reason=\"detector without feature outputs\" "
                 "fix=\"./scripts/setup.sh\" stage_skipped=1");
    } else if (p->models.objects) {
        p->models.concepts = concepts;
    }
    add_stage(p, &stage_decode);
    add_stage(p, &stage_thumbnail);
    add_stage(p, &stage_colors);
    add_stage(p, &stage_phash);
    if (p->models.objects) add_stage(p, &stage_objects);
    if (p->models.faces) add_stage(p, &stage_faces);
    if (p->models.concepts) add_stage(p, &stage_concepts);
    if (p->models.ocr) add_stage(p, &stage_ocr);
    add_stage(p, &stage_caption);
    if (enc) add_stage(p, &stage_embed);
    *out = p;
    return SCRY_OK;
}

void pipeline_free(pipeline *p) {
    if (!p) return;
    vision_models_free(&p->models);
    free(p);
}

void pipeline_set_hook(pipeline *p, void (*fn)(void *ctx), void *ctx) {
    p->hook = fn;
    p->hook_ctx = ctx;
}

const char *const *pipeline_stage_names(const pipeline *p) { return p->names; }

/* Log a stage's failure and keep the first one as the item's reason. */
static void note_failure(pipeline_result *res, const char *image_id, const char *stage,
                         int required, const char *msg) {
    log_warn("stage.failed", "image=%s stage=%s required=%d reason=\"%s\"", image_id, stage,
             required, msg);
    if (!res->stage[0]) {
        snprintf(res->stage, sizeof res->stage, "%s", stage);
        snprintf(res->message, sizeof res->message, "%s", msg);
    }
}

static void ctx_free(stage_ctx *ctx) {
    stage_ctx_finish_deferred(ctx, NULL, NULL);
    if (ctx->vision && ctx->vision_free) ctx->vision_free(ctx->vision);
    if (ctx->decoded) img_decoded_free(&ctx->dec);
    free(ctx->image_vec);
    free(ctx->stats);
    free(ctx->faces_rows);
    free(ctx->faces_vecs);
    free(ctx->bytes);
    image_rec_free(&ctx->rec);
}

int pipeline_process(pipeline *p, const work_item *w, pipeline_result *res, scry_err *err) {
    memset(res, 0, sizeof *res);
    stage_ctx ctx = {.cfg = p->cfg, .blobs = p->blobs, .meta = p->meta, .models = &p->models,
                     .encoder = p->enc, .vector_concepts = p->vector_concepts};
    int rc = meta_image_get(p->meta, w->image_id, &ctx.rec, err);
    if (rc == SCRY_ENOTFOUND) {
        /* Deleted while queued: nothing to do, and nothing went wrong. */
        res->ok = 1;
        return SCRY_OK;
    }
    if (rc != SCRY_OK) return rc;
    scry_err serr = {0};
    rc = blob_get(p->blobs, ctx.rec.sha256, &ctx.bytes, &ctx.nbytes, &serr);
    if (rc != SCRY_OK) {
        snprintf(res->stage, sizeof res->stage, "load");
        snprintf(res->message, sizeof res->message, "%s", serr.msg);
        snprintf(ctx.rec.status, sizeof ctx.rec.status, "failed");
        int prc = meta_image_update_facts(p->meta, &ctx.rec, err);
        ctx_free(&ctx);
        return prc;
    }
    res->ok = 1;
    for (int i = 0; i < p->nstages; i++) {
        const stage *s = p->stages[i];
        rc = meta_item_stage(p->meta, w, s->name, err);
        if (rc != SCRY_OK) {
            ctx_free(&ctx);
            return rc;
        }
        if (fault_matches(p->fault_stage, p->fault_name, s->name, ctx.rec.filename)) {
            log_error("pipeline.fault_injected", "image=%s stage=%s", w->image_id, s->name);
            abort();
        }
        memset(&serr, 0, sizeof serr);
        ctx.stage = s->name;
        double t0 = scry_mono_s();
        int src = fault_matches(p->fail_stage, p->fail_name, s->name, ctx.rec.filename)
                      ? scry_fail(&serr, SCRY_EIO, "injected failure (SCRY_FAULT_FAIL)")
                      : s->run(&ctx, &serr);
        metrics_stage(s->name, scry_mono_s() - t0, src == SCRY_OK);
        if (src == SCRY_OK) continue;
        if (serr.code == SCRY_ENOSPC) break;    /* not the image's fault: retried (below) */
        note_failure(res, w->image_id, s->name, s->required, serr.msg);
        if (s->required) {
            res->ok = 0;
            break;
        }
        res->nonfatal++;
    }
    /* A blob write still in flight (the thumbnail) must be on disk before
     * the row that names it; its failure counts as the failure of the
     * (optional) stage that started it. */
    scry_err full = serr;
    memset(&serr, 0, sizeof serr);
    const char *deferred_stage = NULL;
    if (stage_ctx_finish_deferred(&ctx, &deferred_stage, &serr) != SCRY_OK) {
        if (serr.code == SCRY_ENOSPC) full = serr;
        else {
            note_failure(res, w->image_id, deferred_stage, 0, serr.msg);
            res->nonfatal++;
        }
    }
    /* A full disk fails no image: the caller keeps the item and retries
     * it once there is room (nothing of this attempt is persisted). */
    if (full.code == SCRY_ENOSPC) {
        ctx_free(&ctx);
        return scry_fail(err, SCRY_ENOSPC, "%s", full.msg);
    }
    snprintf(ctx.rec.status, sizeof ctx.rec.status, "%s", res->ok ? "ready" : "failed");
    rc = meta_image_update_facts_faces(p->meta, &ctx.rec,
                                       ctx.faces_update.model ? &ctx.faces_update : NULL, err);
    ctx_free(&ctx);
    if (rc == SCRY_OK && p->hook) p->hook(p->hook_ctx);
    return rc;
}
