/* stages_basic.c -- the model-free stages: decode (+ dimensions, format,
 * EXIF), thumbnail, dominant colours and the perceptual hash. All of them
 * work from the one decoded working copy (see vision/image.h). */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "jobs/stage.h"

static int run_decode(stage_ctx *ctx, scry_err *err) {
    img_limits lim = {.max_pixels = ctx->cfg->max_pixels, .work_size = ctx->cfg->work_size};
    int rc = img_decode(ctx->bytes, ctx->nbytes, &lim, &ctx->dec, err);
    if (rc != SCRY_OK) return rc;
    ctx->decoded = 1;
    image_rec *r = &ctx->rec;
    r->width = ctx->dec.width;
    r->height = ctx->dec.height;
    if (ctx->dec.format[0]) snprintf(r->format, sizeof r->format, "%s", ctx->dec.format);
    free(r->exif_json);
    r->exif_json = scry_strdup(ctx->dec.exif_json ? ctx->dec.exif_json : "{}");
    r->taken_at = ctx->dec.taken_at;
    return SCRY_OK;
}

static int run_thumbnail(stage_ctx *ctx, scry_err *err) {
    void *jpeg = NULL;
    size_t len = 0;
    int rc = img_thumbnail_jpeg(&ctx->dec.work, ctx->cfg->thumb_size, &jpeg, &len, err);
    if (rc != SCRY_OK) return rc;
    return stage_put_deferred(ctx, jpeg, len, ctx->rec.thumb_sha256, err);
}

/* Dominant colours, and the photo statistics (kept for the concept head)
 * with the photo-level attributes they give ("black and white", "dark"...;
 * written as tags by the caption stage, with "close-up"). */
static int run_colors(stage_ctx *ctx, scry_err *err) {
    char *json = img_colors_json(&ctx->dec.work, 5);
    if (!json) return scry_fail(err, SCRY_ENOMEM, "colour analysis failed");
    free(ctx->rec.colors_json);
    ctx->rec.colors_json = json;
    if (!ctx->stats && !(ctx->stats = malloc(sizeof *ctx->stats)))
        return scry_fail(err, SCRY_ENOMEM, "out of memory");
    img_stats_compute(&ctx->dec.work, ctx->stats);
    ctx->photo_attrs = img_photo_attributes(ctx->stats);
    return SCRY_OK;
}

static int run_phash(stage_ctx *ctx, scry_err *err) {
    (void)err;
    ctx->rec.phash = img_phash(&ctx->dec.work);
    ctx->rec.has_phash = 1;
    return SCRY_OK;
}

/* ---- deferred blob writes ---- */

struct deferred_put {
    pthread_t thread;
    const char *stage;          /* the stage that started it */
    blob_store *blobs;
    void *data;
    size_t n;
    char *sha_out;
    char sha[SCRY_SHA256_HEX + 1];
    int rc;
    scry_err err;
};

static void *deferred_run(void *arg) {
    struct deferred_put *d = arg;
    d->rc = blob_put(d->blobs, d->data, d->n, d->sha, &d->err);
    return NULL;
}

int stage_put_deferred(stage_ctx *ctx, void *data, size_t n, char *sha_out, scry_err *err) {
    int rc = stage_ctx_finish_deferred(ctx, NULL, err);   /* one at a time */
    if (rc != SCRY_OK) {
        free(data);
        return rc;
    }
    struct deferred_put *d = calloc(1, sizeof *d);
    if (d) {
        *d = (struct deferred_put){.stage = ctx->stage, .blobs = ctx->blobs, .data = data, .n = n,
                                   .sha_out = sha_out};
        if (pthread_create(&d->thread, NULL, deferred_run, d) == 0) {
            ctx->deferred = d;
            return SCRY_OK;
        }
        free(d);
    }
    rc = blob_put(ctx->blobs, data, n, sha_out, err);
    free(data);
    return rc;
}

int stage_ctx_finish_deferred(stage_ctx *ctx, const char **stage, scry_err *err) {
    struct deferred_put *d = ctx->deferred;
    if (!d) return SCRY_OK;
    ctx->deferred = NULL;
    pthread_join(d->thread, NULL);
    int rc = d->rc;
    if (rc == SCRY_OK) {
        memcpy(d->sha_out, d->sha, sizeof d->sha);
    } else {
        d->sha_out[0] = 0;
        if (err) *err = d->err;
        if (stage) *stage = d->stage ? d->stage : "?";
    }
    free(d->data);
    free(d);
    return rc;
}

const stage stage_decode = {"decode", 1, run_decode};
const stage stage_thumbnail = {"thumbnail", 0, run_thumbnail};
const stage stage_colors = {"colors", 0, run_colors};
const stage stage_phash = {"phash", 0, run_phash};
