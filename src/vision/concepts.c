/* concepts.c -- see concepts.h.
 *
 * The head file (written by tools/train_concepts.py; little-endian):
 *   "SCRYCNPT", u32 file version, feature layout version, layout dimension,
 *   d (features used), C (concepts), t (sentence vector dimension), V (bag
 *   of words vocabulary), k (shared space)
 *   u32 + bytes   the sentence encoder's name
 *   u32 cols[d]   which layout dimensions are used
 *   f32 mean[d], inv_std[d]
 *   C x (u16 + word, u16 + key)
 *   f32 bias[C], platt_a[C], platt_b[C], cv_ap[C]
 *   f16 W[d][C]   concept weights (on standardised features)
 *   V x (u16 + key), sorted; f32 idf[V], f32 alpha   the text side's bag
 *   f32 text_mean[t+V], corr[k]; f32 Wt[t+V][k]; f16 Wi[d][k]   the CCA
 *   32 bytes      SHA-256 of everything before
 * Weights are float16 on disk (half the size; the heads are ridge
 * regressions whose weights need no more) and float32 in memory.
 *
 * Applying the head is two small dense products (2.7k x 89 and 2.7k x 100):
 * ~0.5 M multiply-adds, well under a millisecond. */
#include "vision/concepts.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/labels.h"
#include "core/util.h"

/* Offsets, each block after the previous one. */
#define O_GRID (OBJECTS_FEAT_BACKBONE * 2)
#define O_SE14 (O_GRID + OBJECTS_FEAT_BACKBONE * 9)
#define O_SE11 (O_SE14 + OBJECTS_FEAT_SE14)
#define O_HEAD (O_SE11 + OBJECTS_FEAT_SE11)
#define O_KP (O_HEAD + OBJECTS_FEAT_HEAD)
#define O_DET (O_KP + 160)
#define O_STATS (O_DET + 160)
_Static_assert(O_STATS + IMG_STATS_COUNT == CONCEPT_FEAT_DIM, "layout and dimension agree");

const concept_block concept_blocks[CF_NBLOCKS] = {
    {"backbone_mean", 0, OBJECTS_FEAT_BACKBONE},
    {"backbone_max", OBJECTS_FEAT_BACKBONE, OBJECTS_FEAT_BACKBONE},
    {"backbone_grid", O_GRID, OBJECTS_FEAT_BACKBONE * 9},
    {"se14", O_SE14, OBJECTS_FEAT_SE14},
    {"se11", O_SE11, OBJECTS_FEAT_SE11},
    {"head", O_HEAD, OBJECTS_FEAT_HEAD},
    {"kp_max", O_KP, 80},
    {"kp_mean", O_KP + 80, 80},
    {"det_count", O_DET, 80},
    {"det_area", O_DET + 80, 80},
    {"stats", O_STATS, IMG_STATS_COUNT},
};

_Static_assert(SCRY_COCO_COUNT == 80, "detection blocks are 80 wide");

void concepts_features(const objects_features *of, const det_box *dets, int ndets, int img_w,
                       int img_h, const img_stats *st, float *out) {
    float *o = out;
#define PUT(src, n) (memcpy(o, (src), (size_t)(n) * sizeof(float)), o += (n))
    PUT(of->backbone_mean, OBJECTS_FEAT_BACKBONE);
    PUT(of->backbone_max, OBJECTS_FEAT_BACKBONE);
    for (int g = 0; g < 9; g++) PUT(of->backbone_grid[g], OBJECTS_FEAT_BACKBONE);
    PUT(of->se14, OBJECTS_FEAT_SE14);
    PUT(of->se11, OBJECTS_FEAT_SE11);
    PUT(of->head, OBJECTS_FEAT_HEAD);
    PUT(of->kp_max, 80);
    PUT(of->kp_mean, 80);
#undef PUT
    float count[80] = {0}, area[80] = {0};
    double img_area = (double)img_w * img_h;
    for (int i = 0; i < ndets; i++) {
        int l = dets[i].label;
        if (l < 0 || l >= 80) continue;
        count[l] += 1;
        if (img_area > 0) area[l] += (float)((double)dets[i].w * dets[i].h / img_area);
    }
    for (int l = 0; l < 80; l++) *o++ = log1pf(count[l]);
    for (int l = 0; l < 80; l++) *o++ = area[l];
    img_stats_flatten(st, o);
    o += IMG_STATS_COUNT;
}

/* ---- the trained head ------------------------------------------------ */

#define CONCEPTS_FILE_VERSION 2
#define CONCEPTS_MAX_DIM (1 << 20)

struct concepts_model {
    char name[32];
    char encoder[64];
    int d, C, t, V, k;
    uint32_t *cols;
    float *mean, *inv_std;
    char **words, **keys;
    float *bias, *platt_a, *platt_b, *cv_ap;
    float *W;                   /* d x C */
    char **vocab;               /* V keys, sorted (strcmp) */
    float *idf, alpha;          /* V; the bag's weight beside the sentence vector */
    float *text_mean, *corr;    /* t + V, k */
    float *Wt;                  /* (t + V) x k */
    float *Wi;                  /* d x k */
};

typedef struct reader {
    const uint8_t *p, *end;
    int bad;
} reader;

static const uint8_t *take(reader *r, size_t n) {
    if (r->bad || (size_t)(r->end - r->p) < n) {
        r->bad = 1;
        return NULL;
    }
    const uint8_t *at = r->p;
    r->p += n;
    return at;
}

static uint32_t u32(reader *r) {
    const uint8_t *b = take(r, 4);
    return b ? (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24 : 0;
}

static float f32_of(const uint8_t *b) {
    uint32_t v = (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
    float f;
    memcpy(&f, &v, sizeof f);
    return f;
}

/* IEEE half -> float (subnormals, infinities and NaN included). */
static float f16_of(const uint8_t *b) {
    uint16_t h = (uint16_t)(b[0] | b[1] << 8);
    uint32_t sign = (uint32_t)(h >> 15) << 31, e = (h >> 10) & 31, m = h & 1023, v;
    if (e == 0) {
        if (m == 0) v = sign;
        else {
            e = 127 - 15 + 1;
            while (!(m & 1024)) m <<= 1, e--;
            v = sign | e << 23 | (m & 1023) << 13;
        }
    } else if (e == 31) {
        v = sign | 0x7f800000u | m << 13;
    } else {
        v = sign | (e + 127 - 15) << 23 | m << 13;
    }
    float f;
    memcpy(&f, &v, sizeof f);
    return f;
}

/* n floats (f32 or f16 on disk) into a new array. */
static float *floats(reader *r, size_t n, int half) {
    const uint8_t *b = take(r, n * (half ? 2 : 4));
    float *out = b ? malloc((n ? n : 1) * sizeof *out) : NULL;
    if (!out) {
        r->bad = 1;
        return NULL;
    }
    for (size_t i = 0; i < n; i++) out[i] = half ? f16_of(b + 2 * i) : f32_of(b + 4 * i);
    return out;
}

static char *string16(reader *r) {
    const uint8_t *b = take(r, 2);
    size_t n = b ? (size_t)(b[0] | b[1] << 8) : 0;
    const uint8_t *s = take(r, n);
    char *out = s ? malloc(n + 1) : NULL;
    if (!out) {
        r->bad = 1;
        return NULL;
    }
    memcpy(out, s, n);
    out[n] = 0;
    return out;
}

void concepts_free(concepts_model *m) {
    if (!m) return;
    for (int i = 0; m->words && i < m->C; i++) free(m->words[i]);
    for (int i = 0; m->keys && i < m->C; i++) free(m->keys[i]);
    for (int i = 0; m->vocab && i < m->V; i++) free(m->vocab[i]);
    free(m->vocab);
    free(m->idf);
    free(m->words);
    free(m->keys);
    free(m->cols);
    free(m->mean);
    free(m->inv_std);
    free(m->bias);
    free(m->platt_a);
    free(m->platt_b);
    free(m->cv_ap);
    free(m->W);
    free(m->text_mean);
    free(m->corr);
    free(m->Wt);
    free(m->Wi);
    free(m);
}

static int parse(concepts_model *m, const uint8_t *data, size_t n, const char *path, scry_err *err) {
    if (n < 8 + 8 * 4 + 32 || memcmp(data, "SCRYCNPT", 8) != 0)
        return scry_fail(err, SCRY_ECORRUPT, "%s is not a concept head file; run ./scripts/setup.sh",
                         path);
    char want[SCRY_SHA256_HEX + 1], got[SCRY_SHA256_HEX + 1];
    scry_sha256_hex(data, n - 32, want);
    for (int i = 0; i < 32; i++) snprintf(got + 2 * i, 3, "%02x", data[n - 32 + i]);
    if (strcmp(want, got) != 0)
        return scry_fail(err, SCRY_ECORRUPT, "%s is corrupt (checksum); run ./scripts/setup.sh", path);
    snprintf(m->name, sizeof m->name, "concepts-%.12s", want);
    reader r = {data + 8, data + n - 32, 0};
    uint32_t version = u32(&r), layout = u32(&r), layout_dim = u32(&r);
    uint32_t d = u32(&r), C = u32(&r), t = u32(&r), V = u32(&r), k = u32(&r);
    if (version != CONCEPTS_FILE_VERSION || layout != CONCEPT_FEAT_VERSION ||
        layout_dim != CONCEPT_FEAT_DIM)
        return scry_fail(err, SCRY_ECORRUPT,
                         "%s is for feature layout %u (dimension %u), this build computes %d (%d); "
                         "retrain it with tools/train_concepts.py", path, layout, layout_dim,
                         CONCEPT_FEAT_VERSION, CONCEPT_FEAT_DIM);
    if (d == 0 || d > CONCEPT_FEAT_DIM || C > 4096 || t == 0 || t > 4096 || V > 65536 || k == 0 ||
        k > 4096)
        return scry_fail(err, SCRY_ECORRUPT, "%s has implausible dimensions", path);
    m->d = (int)d, m->C = (int)C, m->t = (int)t, m->V = (int)V, m->k = (int)k;
    uint32_t elen = u32(&r);
    const uint8_t *ename = elen < sizeof m->encoder ? take(&r, elen) : NULL;
    if (!ename) r.bad = 1;
    else memcpy(m->encoder, ename, elen), m->encoder[elen] = 0;
    m->cols = malloc(d * sizeof *m->cols);
    if (!m->cols) return scry_fail(err, SCRY_ENOMEM, "out of memory");
    for (uint32_t i = 0; i < d && !r.bad; i++)
        if ((m->cols[i] = u32(&r)) >= CONCEPT_FEAT_DIM) r.bad = 1;
    m->mean = floats(&r, d, 0);
    m->inv_std = floats(&r, d, 0);
    m->words = calloc(C ? C : 1, sizeof *m->words);
    m->keys = calloc(C ? C : 1, sizeof *m->keys);
    if (!m->words || !m->keys) return scry_fail(err, SCRY_ENOMEM, "out of memory");
    for (uint32_t i = 0; i < C && !r.bad; i++) {
        m->words[i] = string16(&r);
        m->keys[i] = string16(&r);
    }
    m->bias = floats(&r, C, 0);
    m->platt_a = floats(&r, C, 0);
    m->platt_b = floats(&r, C, 0);
    m->cv_ap = floats(&r, C, 0);
    m->W = floats(&r, (size_t)d * C, 1);
    m->vocab = calloc(V ? V : 1, sizeof *m->vocab);
    if (!m->vocab) return scry_fail(err, SCRY_ENOMEM, "out of memory");
    for (uint32_t i = 0; i < V && !r.bad; i++) {
        m->vocab[i] = string16(&r);
        if (i > 0 && !r.bad && strcmp(m->vocab[i - 1], m->vocab[i]) >= 0) r.bad = 1;   /* sorted */
    }
    m->idf = floats(&r, V, 0);
    const uint8_t *ab = take(&r, 4);
    if (ab) m->alpha = f32_of(ab);
    m->text_mean = floats(&r, (size_t)t + V, 0);
    m->corr = floats(&r, k, 0);
    m->Wt = floats(&r, ((size_t)t + V) * k, 0);
    m->Wi = floats(&r, (size_t)d * k, 1);
    if (r.bad || r.p != r.end)
        return scry_fail(err, SCRY_ECORRUPT, "%s is truncated or malformed; run ./scripts/setup.sh",
                         path);
    return SCRY_OK;
}

int concepts_load(const char *models_dir, concepts_model **out, scry_err *err) {
    *out = NULL;
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", models_dir, CONCEPTS_MODEL_FILE);
    FILE *f = fopen(path, "rb");
    if (!f)
        return scry_fail(err, SCRY_ENOTFOUND, "concept head %s is missing; run ./scripts/setup.sh",
                         path);
    uint8_t *data = NULL;
    long len = -1;
    if (fseek(f, 0, SEEK_END) == 0 && (len = ftell(f)) >= 0 && len < 64L << 20 &&
        fseek(f, 0, SEEK_SET) == 0 && (data = malloc((size_t)len + 1)) &&
        fread(data, 1, (size_t)len, f) != (size_t)len) {
        free(data);
        data = NULL;
    }
    fclose(f);
    if (!data) return scry_fail(err, SCRY_EIO, "cannot read %s", path);
    concepts_model *m = calloc(1, sizeof *m);
    int rc = m ? parse(m, data, (size_t)len, path, err) : scry_fail(err, SCRY_ENOMEM, "out of memory");
    free(data);
    if (rc != SCRY_OK) {
        concepts_free(m);
        return rc;
    }
    *out = m;
    return SCRY_OK;
}

const char *concepts_name(const concepts_model *m) { return m->name; }
const char *concepts_encoder(const concepts_model *m) { return m->encoder; }
int concepts_count(const concepts_model *m) { return m->C; }
const char *concepts_word(const concepts_model *m, int i) { return m->words[i]; }
const char *concepts_key(const concepts_model *m, int i) { return m->keys[i]; }
float concepts_quality(const concepts_model *m, int i) { return m->cv_ap[i]; }
int concepts_proj_dim(const concepts_model *m) { return m->k; }
int concepts_text_dim(const concepts_model *m) { return m->t; }

static void unit(float *v, int n) {
    double s = 0;
    for (int i = 0; i < n; i++) s += (double)v[i] * v[i];
    if (s <= 0) return;
    float inv = (float)(1.0 / sqrt(s));
    for (int i = 0; i < n; i++) v[i] *= inv;
}

void concepts_apply(const concepts_model *m, const float *feat, float *probs, float *proj) {
    float *x = malloc((size_t)m->d * sizeof *x);
    float *acc = calloc((size_t)(m->C + m->k), sizeof *acc);
    if (!x || !acc) {           /* out of memory: no evidence either way */
        if (probs) for (int j = 0; j < m->C; j++) probs[j] = 0;
        if (proj) memset(proj, 0, (size_t)m->k * sizeof *proj);
        free(x);
        free(acc);
        return;
    }
    for (int i = 0; i < m->d; i++) x[i] = (feat[m->cols[i]] - m->mean[i]) * m->inv_std[i];
    float *s = acc, *p = acc + m->C;
    for (int i = 0; i < m->d; i++) {
        const float xi = x[i], *w = m->W + (size_t)i * m->C, *wi = m->Wi + (size_t)i * m->k;
        for (int j = 0; j < m->C; j++) s[j] += xi * w[j];
        for (int j = 0; j < m->k; j++) p[j] += xi * wi[j];
    }
    if (probs)
        for (int j = 0; j < m->C; j++)
            probs[j] = 1.0f / (1.0f + expf(-(m->platt_a[j] * (s[j] + m->bias[j]) + m->platt_b[j])));
    if (proj) {
        for (int j = 0; j < m->k; j++) proj[j] = p[j] * m->corr[j];
        unit(proj, m->k);
    }
    free(x);
    free(acc);
}

static int cmp_key(const void *a, const void *b) {
    return strcmp((const char *)a, *(const char *const *)b);
}

int concepts_vocab_index(const concepts_model *m, const char *key) {
    char *const *at = bsearch(key, m->vocab, (size_t)m->V, sizeof *m->vocab, cmp_key);
    return at ? (int)(at - m->vocab) : -1;
}

void concepts_project_text(const concepts_model *m, const float *q, const char *const *keys,
                           int nkeys, float *out) {
    int zero = 1;
    for (int i = 0; i < m->t && zero; i++) zero = q[i] == 0;
    memset(out, 0, (size_t)m->k * sizeof *out);
    /* the bag: idf of each known key once, unit length, times alpha */
    int idx[64], nb = 0;
    double bn = 0;
    for (int i = 0; i < nkeys && nb < 64; i++) {
        int v = concepts_vocab_index(m, keys[i]), seen = 0;
        for (int j = 0; j < nb && !seen; j++) seen = idx[j] == v;
        if (v < 0 || seen) continue;
        idx[nb++] = v;
        bn += (double)m->idf[v] * m->idf[v];
    }
    if (zero && !nb) return;
    float bs = bn > 0 ? (float)(m->alpha / sqrt(bn)) : 0;
    /* (x - mean) Wt over the dense sentence part and the whole bag part
     * (most of whose entries are 0 - mean) */
    for (int i = 0; i < m->t + m->V; i++) {
        float xi = (i < m->t ? q[i] : 0) - m->text_mean[i];
        if (xi == 0) continue;
        const float *w = m->Wt + (size_t)i * m->k;
        for (int j = 0; j < m->k; j++) out[j] += xi * w[j];
    }
    for (int b = 0; b < nb; b++) {
        const float xi = m->idf[idx[b]] * bs, *w = m->Wt + ((size_t)m->t + idx[b]) * m->k;
        for (int j = 0; j < m->k; j++) out[j] += xi * w[j];
    }
    for (int j = 0; j < m->k; j++) out[j] *= m->corr[j];
    unit(out, m->k);
}
