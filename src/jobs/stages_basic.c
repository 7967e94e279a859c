/* stages_basic.c -- the model-free stages: decode (+ dimensions, format,
 * EXIF), thumbnail, dominant colours and the perceptual hash. All of them
 * work from the one decoded working copy (see vision/image.h). */
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
    rc = blob_put(ctx->blobs, jpeg, len, ctx->rec.thumb_sha256, err);
    free(jpeg);
    return rc;
}

static int run_colors(stage_ctx *ctx, scry_err *err) {
    char *json = img_colors_json(&ctx->dec.work, 5);
    if (!json) return scry_fail(err, SCRY_ENOMEM, "colour analysis failed");
    free(ctx->rec.colors_json);
    ctx->rec.colors_json = json;
    return SCRY_OK;
}

static int run_phash(stage_ctx *ctx, scry_err *err) {
    (void)err;
    ctx->rec.phash = img_phash(&ctx->dec.work);
    ctx->rec.has_phash = 1;
    return SCRY_OK;
}

const stage stage_decode = {"decode", 1, run_decode};
const stage stage_thumbnail = {"thumbnail", 0, run_thumbnail};
const stage stage_colors = {"colors", 0, run_colors};
const stage stage_phash = {"phash", 0, run_phash};
