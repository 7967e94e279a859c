/* encoder.c -- the SIF sentence encoder (see encoder.h for the recipe).
 *
 * Word probability. The GloVe vocabulary is stored in frequency order, so a
 * word's rank r (0-based) is known but not its count. Zipf's law, p(r) =
 * 1 / ((r+1) * H_N) with H_N the N-th harmonic number, is a good fit for
 * English frequency (and is what Arora et al.'s own weights look like when
 * plotted by rank). With a = 1e-3 the weight a/(a+p) is 0.01 for "the",
 * 0.5 around rank 75, 0.9 at rank 700 and ~1 beyond: function words fade
 * without a stop-word list.
 *
 * Common component. Sentence averages share a large direction driven by
 * frequent words and syntax; removing its projection sharpens similarity.
 * The reference corpus is read from WordNet's data files at open: K evenly
 * spaced byte positions in each of data.{noun,verb,adj,adv}, the gloss of
 * the next whole line. That gives the same ~2,600 sentences on every machine
 * with Debian's (frozen, 2006) WordNet 3.0, costs ~20 ms, needs no extra
 * artefact in deps/ and cannot drift from the tokeniser (it is this code).
 * The principal direction is the top eigenvector of X^T X (no centring, as
 * in the paper) by power iteration from a fixed start: deterministic. */
#include "text/encoder.h"

#include <ctype.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"

#define MAX_WORD 64
#define PC_ITER 200

typedef struct {
    const scry_wordvec *wv;
    const scry_lexicon *lex;
    int dim;
    double a;
    double harmonic;     /* H_N for the vocabulary size */
    int has_pc;
    float *pc;           /* dim, unit length */
} sif;

/* ---- tokenisation ---------------------------------------------------------- */

/* Calls emit(ctx, word, len) for each word of text, with clitics resolved. */
typedef void (*emit_fn)(void *ctx, const char *word, size_t len);

/* Bytes taken by a separator at p (0 when p starts a letter). ASCII letters
 * are letters, other ASCII separates; UTF-8 punctuation people paste (curly
 * quotes, dashes, ellipsis, no-break space, guillemets) separates; any other
 * non-ASCII byte is a letter. */
static size_t sep_len(const unsigned char *p) {
    if (*p < 0x80) return (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ? 0 : 1;
    if (p[0] == 0xC2 && (p[1] == 0xA0 || p[1] == 0xAB || p[1] == 0xBB)) return 2;
    if (p[0] == 0xE2 && p[1] == 0x80 && p[2] >= 0x90 && p[2] <= 0xA6) return 3;
    return 0;
}

/* Length of an apostrophe at p (ASCII ' or UTF-8 U+2019), else 0. */
static size_t apostrophe_len(const unsigned char *p) {
    if (p[0] == '\'') return 1;
    if (p[0] == 0xE2 && p[1] == 0x80 && p[2] == 0x99) return 3;
    return 0;
}

static void tokenize(const char *text, emit_fn emit, void *ctx) {
    const unsigned char *p = (const unsigned char *)text;
    char word[MAX_WORD];
    while (*p) {
        size_t sl = sep_len(p);
        if (sl) {
            p += sl;
            continue;
        }
        size_t n = 0;
        int overflow = 0;
        for (; *p && !sep_len(p); p++) {
            if (n + 1 < sizeof word) word[n++] = (char)tolower(*p);
            else overflow = 1;
        }
        size_t al = apostrophe_len(p);
        if (al && p[al] && !sep_len(p + al)) {
            const unsigned char *s = p + al;
            size_t cl = 0;
            while (s[cl] && !sep_len(s + cl)) cl++;
            p = s + cl;
            if (overflow) continue;
            if (cl == 1 && (s[0] == 't' || s[0] == 'T') && n > 1 && word[n - 1] == 'n') {
                /* n't: "don't" -> do not, "can't" -> can not, "won't" -> will not */
                n--;
                if (n == 2 && memcmp(word, "wo", 2) == 0) { memcpy(word, "will", 4); n = 4; }
                else if (n == 2 && memcmp(word, "ca", 2) == 0) { memcpy(word, "can", 3); n = 3; }
                emit(ctx, word, n);
                emit(ctx, "not", 3);
                continue;
            }
            emit(ctx, word, n);   /* 's 're 'll 've 'd 'm and others: dropped */
            continue;
        }
        if (!overflow && n) emit(ctx, word, n);
    }
}

/* ---- SIF -------------------------------------------------------------------- */

typedef struct {
    const sif *m;
    double *acc;
    int words;
} sif_acc;

static void add_word(void *vctx, const char *word, size_t len) {
    sif_acc *c = vctx;
    const sif *m = c->m;
    int64_t row = scry_wordvec_find(m->wv, word, len);
    /* The vocabulary has no one-letter words ("a", "i" were dropped by the
     * package) and WordNet has no useful base form for them: skip the
     * lemmatiser, which costs ~50 us of file I/O per call. */
    if (row < 0 && m->lex && len >= 3) {
        char w[SCRY_LEX_WORD_MAX], forms[4][SCRY_LEX_WORD_MAX];
        if (len >= sizeof w) return;
        memcpy(w, word, len);
        w[len] = 0;
        int nf = scry_lexicon_lemmas(m->lex, w, forms, 4);
        for (int i = 0; i < nf && row < 0; i++) row = scry_wordvec_find(m->wv, forms[i], strlen(forms[i]));
    }
    if (row < 0) return;
    double p = 1.0 / (((double)scry_wordvec_rank(m->wv, (uint32_t)row) + 1.0) * m->harmonic);
    double weight = m->a / (m->a + p);
    const float *v = scry_wordvec_vector(m->wv, (uint32_t)row);
    for (int i = 0; i < m->dim; i++) c->acc[i] += weight * v[i];
    c->words++;
}

/* Weighted average of the text's words into acc (dim doubles); returns the
 * number of words used. */
static int sif_average(const sif *m, const char *text, double *acc) {
    memset(acc, 0, sizeof(double) * (size_t)m->dim);
    sif_acc c = {m, acc, 0};
    tokenize(text, add_word, &c);
    if (c.words)
        for (int i = 0; i < m->dim; i++) acc[i] /= c.words;
    return c.words;
}

static int sif_encode(const scry_encoder *enc, const char *text, float *out, scry_err *err) {
    const sif *m = enc->impl;
    if (!text) return scry_fail(err, SCRY_EINVAL, "encode: NULL text");
    double acc[512];
    int words = sif_average(m, text, acc);
    if (m->has_pc) {
        double proj = 0;
        for (int i = 0; i < m->dim; i++) proj += acc[i] * m->pc[i];
        for (int i = 0; i < m->dim; i++) acc[i] -= proj * m->pc[i];
    }
    double norm = 0;
    for (int i = 0; i < m->dim; i++) norm += acc[i] * acc[i];
    norm = sqrt(norm);
    for (int i = 0; i < m->dim; i++) out[i] = words && norm > 0 ? (float)(acc[i] / norm) : 0.0f;
    return words && norm > 0 ? words : 0;
}

static void sif_free(scry_encoder *enc) {
    if (!enc) return;
    sif *m = enc->impl;
    if (m) free(m->pc);
    free(m);
    free(enc);
}

/* ---- the reference corpus and its principal component ------------------- */

/* Reads the gloss of the first whole line at or after byte pos of f into
 * out; returns 1 on success. Glosses follow "| " at the end of a line. */
static int gloss_at(FILE *f, long pos, char *out, size_t n) {
    char line[16384];
    if (fseek(f, pos, SEEK_SET) != 0) return 0;
    if (pos > 0 && !fgets(line, sizeof line, f)) return 0;   /* finish the partial line */
    for (int tries = 0; tries < 4; tries++) {
        if (!fgets(line, sizeof line, f)) return 0;
        if (line[0] == ' ') continue;                        /* licence header */
        char *bar = strstr(line, "| ");
        if (!bar) continue;
        snprintf(out, n, "%s", bar + 2);
        return 1;
    }
    return 0;
}

/* Top eigenvector of cov (dim x dim, symmetric) into m->pc, by power
 * iteration from a fixed start vector. */
static void principal_component(sif *m, const double *cov) {
    int dim = m->dim;
    double v[512], w[512];
    for (int i = 0; i < dim; i++) v[i] = 1.0 / sqrt(dim);
    for (int it = 0; it < PC_ITER; it++) {
        double norm = 0;
        for (int i = 0; i < dim; i++) {
            double s = 0;
            for (int j = 0; j < dim; j++) s += cov[i * dim + j] * v[j];
            w[i] = s;
            norm += s * s;
        }
        norm = sqrt(norm);
        if (norm == 0) return;
        for (int i = 0; i < dim; i++) v[i] = w[i] / norm;
    }
    for (int i = 0; i < dim; i++) m->pc[i] = (float)v[i];
    m->has_pc = 1;
}

static void add_outer(double *cov, const double *x, int dim) {
    for (int i = 0; i < dim; i++)
        for (int j = i; j < dim; j++) cov[i * dim + j] += x[i] * x[j];
}

static int compute_pc_from(sif *m, const char *const *sentences, scry_err *err) {
    int dim = m->dim, rows = 0;
    double *cov = calloc((size_t)dim * dim, sizeof *cov), acc[512];
    if (!cov) return scry_fail(err, SCRY_ENOMEM, "out of memory");
    for (size_t s = 0; sentences[s]; s++)
        if (sif_average(m, sentences[s], acc)) {
            add_outer(cov, acc, dim);
            rows++;
        }
    for (int i = 0; i < dim; i++)
        for (int j = 0; j < i; j++) cov[i * dim + j] = cov[j * dim + i];
    if (rows) principal_component(m, cov);
    free(cov);
    return SCRY_OK;
}

static int compute_pc(sif *m, scry_err *err) {
    static const struct { const char *file; int samples; } parts[] = {
        {"data.noun", 1600}, {"data.verb", 400}, {"data.adj", 450}, {"data.adv", 150},
    };
    const char *dir = getenv("WNSEARCHDIR");
    if (!dir || !*dir) dir = "/usr/share/wordnet";
    int dim = m->dim, rows = 0;
    double *cov = calloc((size_t)dim * dim, sizeof *cov);
    if (!cov) return scry_fail(err, SCRY_ENOMEM, "out of memory");
    double acc[512];
    char gloss[16384];
    for (size_t p = 0; p < sizeof parts / sizeof parts[0]; p++) {
        char path[1024];
        snprintf(path, sizeof path, "%s/%s", dir, parts[p].file);
        FILE *f = fopen(path, "r");
        if (!f) {
            free(cov);
            return scry_fail(err, SCRY_ENOTFOUND,
                             "WordNet data %s missing (reference corpus of the encoder); install wordnet-base "
                             "(./scripts/setup.sh)", path);
        }
        fseek(f, 0, SEEK_END);
        long size = ftell(f);
        for (int s = 0; s < parts[p].samples; s++) {
            long pos = (long)((double)size * s / parts[p].samples);
            if (!gloss_at(f, pos, gloss, sizeof gloss)) continue;
            if (!sif_average(m, gloss, acc)) continue;
            add_outer(cov, acc, dim);
            rows++;
        }
        fclose(f);
    }
    if (rows < 100) {
        free(cov);
        return scry_fail(err, SCRY_ECORRUPT, "only %d reference sentences from %s; WordNet data damaged?", rows, dir);
    }
    for (int i = 0; i < dim; i++)
        for (int j = 0; j < i; j++) cov[i * dim + j] = cov[j * dim + i];
    principal_component(m, cov);
    free(cov);
    log_debug("encoder.sif.pc", "sentences=%d", rows);
    return SCRY_OK;
}

/* ---- construction ---------------------------------------------------------- */

int scry_sif_encoder_new(const scry_wordvec *wv, const scry_lexicon *lex, const scry_sif_options *opts,
                         scry_encoder **out, scry_err *err) {
    *out = NULL;
    if (!wv) return scry_fail(err, SCRY_EINVAL, "SIF encoder needs word vectors");
    int dim = (int)scry_wordvec_dim(wv);
    if (dim > 512) return scry_fail(err, SCRY_EUNSUPPORTED, "word vectors of dim %d > 512", dim);
    scry_encoder *enc = calloc(1, sizeof *enc);
    sif *m = calloc(1, sizeof *m);
    float *pc = calloc((size_t)dim, sizeof *pc);
    if (!enc || !m || !pc) {
        free(enc);
        free(m);
        free(pc);
        return scry_fail(err, SCRY_ENOMEM, "out of memory");
    }
    m->wv = wv;
    m->lex = lex;
    m->dim = dim;
    m->pc = pc;
    m->a = opts && opts->a > 0 ? opts->a : 1e-3;
    double n = scry_wordvec_count(wv);
    m->harmonic = log(n) + 0.5772156649 + 1.0 / (2 * n);
    enc->name = "sif-glove6b-100d-v1";
    enc->dim = dim;
    enc->encode = sif_encode;
    enc->free = sif_free;
    enc->impl = m;
    if (!opts || opts->remove_pc) {
        int rc = opts && opts->reference ? compute_pc_from(m, opts->reference, err) : compute_pc(m, err);
        if (rc != SCRY_OK) {
            sif_free(enc);
            return rc;
        }
    } else {
        enc->name = "sif-glove6b-100d-nopc-v1";
    }
    *out = enc;
    return SCRY_OK;
}

float scry_vec_dot(const float *a, const float *b, int dim) {
    float s = 0;
    for (int i = 0; i < dim; i++) s += a[i] * b[i];
    return s;
}
