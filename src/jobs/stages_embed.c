/* stages_embed.c -- the embed stage: one sentence vector per image.
 *
 * The vector is computed from the facts as plain text (search_document_text:
 * caption, objects with colours, face emotions, OCR text, filename words)
 * with the same encoder that encodes queries, joined by the photo's learned
 * image-text projection when the concept head is loaded
 * (search_image_vector), and stored in the database under the name of that
 * pair; the search engine's index is built from those
 * stored vectors, so it can always be rebuilt. It runs last, after every
 * stage that adds facts. */
#include <stdlib.h>

#include "jobs/stage.h"
#include "search/search.h"
#include "text/encoder.h"

static int run_embed(stage_ctx *ctx, scry_err *err) {
    const scry_encoder *enc = ctx->encoder;
    const concepts_model *cm = ctx->vector_concepts;
    int dim = search_vector_dim(enc, cm);
    char name[128];
    search_vector_name(enc, cm, name, sizeof name);
    float *v = malloc((size_t)dim * sizeof *v);
    if (!v) return scry_fail(err, SCRY_ENOMEM, "out of memory");
    int rc = search_image_vector(enc, cm, &ctx->rec,
                                 ctx->image_vec_dim == dim - enc->dim ? ctx->image_vec : NULL, v, err);
    /* Nothing to encode (no known word, no projection): no vector (a zero
     * vector has no direction); the image stays findable by keywords and
     * structured facts. */
    if (rc > 0) rc = meta_vector_put(ctx->meta, ctx->rec.rowid, name, v, dim, err);
    free(v);
    return rc < 0 ? rc : SCRY_OK;
}

const stage stage_embed = {"embed", 0, run_embed};
