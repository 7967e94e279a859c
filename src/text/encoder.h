/* encoder.h -- text -> fixed-size unit vector, behind a swappable interface.
 *
 * Scry encodes each image's facts (caption, tags, emotions, OCR text,
 * colours) and each query with the same encoder and compares them by cosine
 * (= dot product: outputs are L2-normalised). The interface is a struct of
 * function pointers so that a transformer encoder (ONNX Runtime + its own
 * tokenizer) can replace the implementation below without touching callers;
 * `name` identifies the model so the index can refuse vectors from another.
 *
 * The implementation today is SIF (Arora, Liang & Ma, "A simple but
 * tough-to-beat baseline for sentence embeddings", ICLR 2017) over GloVe 6B
 * 100d: a weighted average of word vectors, weight a/(a + p(w)), with p(w)
 * from the word's frequency rank via Zipf's law, followed by removal of the
 * projection on a "common component" u. u is computed once at open from a
 * FIXED reference corpus (a deterministic sample of ~2,600 WordNet glosses),
 * never from the indexed images: an encoder whose output drifts as the corpus
 * grows would silently invalidate every vector already in the ANN index.
 * See docs/text.md for the measurements behind the choices.
 *
 * Tokenisation: ASCII letters are lowercased, any byte >= 0x80 counts as a
 * letter (GloVe's few non-ASCII words survive), everything else separates;
 * inside a word an apostrophe splits off a clitic: "n't" becomes "not",
 * "'s" "'re" "'ll" "'ve" "'d" "'m" are dropped. A word missing from the
 * vocabulary is replaced by its first WordNet base form that is present,
 * else skipped.
 *
 * Deterministic (same text -> bit-identical vector) and thread-safe: encode()
 * only reads immutable state; WordNet calls go through the lexicon's lock. */
#ifndef SCRY_ENCODER_H
#define SCRY_ENCODER_H

#include <stddef.h>

#include "core/err.h"
#include "text/lexicon.h"
#include "text/wordvec.h"

typedef struct scry_encoder scry_encoder;
struct scry_encoder {
    const char *name;   /* model id, e.g. "sif-glove6b-100d-v1" */
    int dim;
    /* Encode text into out[dim], L2-normalised. Returns the number of words
     * that contributed (>= 0); 0 means nothing was recognised and out is all
     * zeros (cosine 0 with everything). Negative SCRY_E* on error. */
    int (*encode)(const scry_encoder *enc, const char *text, float *out, scry_err *err);
    void (*free)(scry_encoder *enc);
    void *impl;
};

static inline int scry_encode(const scry_encoder *enc, const char *text, float *out, scry_err *err) {
    return enc->encode(enc, text, out, err);
}
static inline void scry_encoder_free(scry_encoder *enc) {
    if (enc) enc->free(enc);
}

typedef struct scry_sif_options {
    double a;            /* SIF smoothing; default 1e-3 */
    int remove_pc;       /* remove the common component; default 1 */
    /* Reference corpus for the common component: NULL-terminated sentences
     * (borrowed, only read during construction), or NULL for the built-in
     * WordNet gloss sample. For experiments; see the header comment. */
    const char *const *reference;
} scry_sif_options;

/* The SIF encoder. wv and lex are borrowed and must outlive the encoder;
 * lex may be NULL (no lemmatisation of unknown words). opts NULL = defaults.
 * Reads WordNet's gloss files ($WNSEARCHDIR or /usr/share/wordnet) for the
 * reference corpus; fails with SCRY_ENOTFOUND if they are missing. */
int scry_sif_encoder_new(const scry_wordvec *wv, const scry_lexicon *lex, const scry_sif_options *opts,
                         scry_encoder **out, scry_err *err);

/* Cosine of two L2-normalised vectors (a plain dot product). */
float scry_vec_dot(const float *a, const float *b, int dim);

#endif
