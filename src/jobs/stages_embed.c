/* stages_embed.c -- the embed stage: one sentence vector per image.
 *
 * The vector is computed from the facts as plain text (search_document_text:
 * caption, objects with colours, face emotions, OCR text, filename words)
 * with the same encoder that encodes queries, and stored in the database
 * under the encoder's name; the search engine's index is built from those
 * stored vectors, so it can always be rebuilt. It runs last, after every
 * stage that adds facts. */
#include <stdlib.h>

#include "jobs/stage.h"
#include "search/search.h"
#include "text/encoder.h"

static int run_embed(stage_ctx *ctx, scry_err *err) {
    const scry_encoder *enc = ctx->encoder;
    char *text = search_document_text(&ctx->rec);
    float *v = malloc((size_t)enc->dim * sizeof *v);
    int rc = text && v ? SCRY_OK : scry_fail(err, SCRY_ENOMEM, "out of memory");
    int words = rc == SCRY_OK ? scry_encode(enc, text, v, err) : 0;
    if (words < 0) rc = words;
    /* No known word at all: no vector (a zero vector has no direction);
     * the image stays findable by keywords and structured facts. */
    if (rc == SCRY_OK && words > 0)
        rc = meta_vector_put(ctx->meta, ctx->rec.rowid, enc->name, v, enc->dim, err);
    free(text);
    free(v);
    return rc;
}

const stage stage_embed = {"embed", 0, run_embed};
