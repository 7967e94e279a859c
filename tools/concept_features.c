/* concept_features.c -- the concept heads' training input: the feature
 * vector (vision/concepts.h) of every photo in a list, computed by the same
 * code the pipeline's concepts stage runs (decode as the pipeline does, the
 * detector with its feature outputs, the photo statistics), so the head
 * tools/train_concepts.py fits sees exactly what it will see at index time.
 *
 *   concept-features MODELS_DIR LIST OUT [--work-size N] [--flip]
 *     LIST  one image path a line
 *     OUT   OUT.f32: N x CONCEPT_FEAT_DIM float32 rows, in LIST order;
 *           OUT.dets.jsonl: per photo {"file","w","h","dets":[[label,score,x,y,w,h],...]}
 *           (working-copy pixels) for the geometry rules
 *   concept-features --apply HEAD_DIR FEATS.f32 OUT
 *     applies HEAD_DIR/concepts.bin to feature rows (as written above):
 *     OUT.probs.f32 (N x concepts) and OUT.proj.f32 (N x k), so that the
 *     trainer can check that the C head computes what it fitted.
 *   concept-features --project HEAD_DIR SIF.f32 OUT [KEYS]
 *     the text side: sentence vectors (N x t) and, from KEYS, each
 *     sentence's concept keys (a line each, space-separated) into the
 *     shared space, OUT.f32 (N x k).
 * --flip mirrors every photo left to right first (training augmentation).
 * A photo that fails to decode gets a row of zeros and "error" in its JSON
 * line. Progress goes to stderr. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/util.h"
#include "vision/concepts.h"
#include "vision/image.h"
#include "vision/objects.h"
#include "vision/onnx.h"

static char *slurp(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = len >= 0 ? malloc((size_t)len + 1) : NULL;
    if (buf && fread(buf, 1, (size_t)len, f) != (size_t)len) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    if (buf) buf[len] = 0, *n = (size_t)len;
    return buf;
}

static void mirror(img_rgb *im) {
    for (int y = 0; y < im->h; y++) {
        uint8_t *row = im->px + (size_t)y * im->w * 3;
        for (int a = 0, b = im->w - 1; a < b; a++, b--)
            for (int c = 0; c < 3; c++) {
                uint8_t t = row[a * 3 + c];
                row[a * 3 + c] = row[b * 3 + c];
                row[b * 3 + c] = t;
            }
    }
}

/* --apply / --project: rows of IN (and, for text, the lines of KEYS)
 * through the head into OUT files. */
static int apply_head(int text, const char *dir, const char *in, const char *out, const char *keyfile) {
    scry_err err = {0};
    concepts_model *m = NULL;
    if (concepts_load(dir, &m, &err)) {
        fprintf(stderr, "concept-features: %s\n", err.msg);
        return 1;
    }
    size_t nbytes = 0;
    char *raw = slurp(in, &nbytes);
    int width = text ? concepts_text_dim(m) : CONCEPT_FEAT_DIM;
    if (!raw || nbytes % ((size_t)width * sizeof(float))) {
        fprintf(stderr, "concept-features: %s is not rows of %d floats\n", in, width);
        return 1;
    }
    size_t rows = nbytes / ((size_t)width * sizeof(float));
    char path[4096];
    snprintf(path, sizeof path, text ? "%s.f32" : "%s.proj.f32", out);
    FILE *fp = fopen(path, "wb");
    snprintf(path, sizeof path, "%s.probs.f32", out);
    FILE *fc = text ? NULL : fopen(path, "wb");
    float *probs = malloc(((size_t)concepts_count(m) + 1) * sizeof *probs);
    float *proj = malloc((size_t)concepts_proj_dim(m) * sizeof *proj);
    size_t nkeytext = 0;
    char *keytext = keyfile ? slurp(keyfile, &nkeytext) : NULL, *kline = keytext, *ksave = NULL;
    for (size_t i = 0; fp && (text || fc) && i < rows; i++) {
        const float *row = (const float *)(void *)raw + i * (size_t)width;
        const char *keys[64];
        int nk = 0;
        if (kline) {               /* this row's line of keys */
            char *end = strchr(kline, '\n');
            if (end) *end = 0;
            for (char *k = strtok_r(kline, " ", &ksave); k && nk < 64; k = strtok_r(NULL, " ", &ksave))
                keys[nk++] = k;
            kline = end ? end + 1 : kline + strlen(kline);
        }
        if (text) concepts_project_text(m, row, keys, nk, proj);
        else concepts_apply(m, row, probs, proj);
        fwrite(proj, sizeof *proj, (size_t)concepts_proj_dim(m), fp);
        if (fc) fwrite(probs, sizeof *probs, (size_t)concepts_count(m), fc);
    }
    int ok = fp && (text || fc);
    if (fp) fclose(fp);
    if (fc) fclose(fc);
    free(probs);
    free(proj);
    free(raw);
    free(keytext);
    concepts_free(m);
    return ok ? 0 : 1;
}

int main(int argc, char **argv) {
    if (argc == 5 && strcmp(argv[1], "--apply") == 0) return apply_head(0, argv[2], argv[3], argv[4], NULL);
    if ((argc == 5 || argc == 6) && strcmp(argv[1], "--project") == 0)
        return apply_head(1, argv[2], argv[3], argv[4], argc == 6 ? argv[5] : NULL);
    if (argc < 4) {
        fprintf(stderr, "usage: concept-features MODELS_DIR LIST OUT [--work-size N] [--flip]\n");
        return 2;
    }
    int work_size = 1280, flip = 0;
    for (int i = 4; i < argc; i++) {
        if (strcmp(argv[i], "--work-size") == 0 && i + 1 < argc) work_size = atoi(argv[++i]);
        else if (strcmp(argv[i], "--flip") == 0) flip = 1;
    }
    scry_err err = {0};
    objects_model *om = NULL;
    if (img_global_init(argv[0], &err) || onnx_global_init(1, &err) ||
        objects_load(argv[1], &om, &err)) {
        fprintf(stderr, "concept-features: %s\n", err.msg);
        return 1;
    }
    if (!objects_has_features(om)) {
        fprintf(stderr, "concept-features: %s/%s has no feature outputs; run ./scripts/setup.sh\n",
                argv[1], OBJECTS_MODEL_FILE);
        return 1;
    }
    size_t nlist = 0;
    char *list = slurp(argv[2], &nlist);
    if (!list) {
        fprintf(stderr, "concept-features: cannot read %s\n", argv[2]);
        return 1;
    }
    char path[4096];
    snprintf(path, sizeof path, "%s.f32", argv[3]);
    FILE *fo = fopen(path, "wb");
    snprintf(path, sizeof path, "%s.dets.jsonl", argv[3]);
    FILE *fd = fopen(path, "w");
    if (!fo || !fd) {
        fprintf(stderr, "concept-features: cannot write %s\n", path);
        return 1;
    }
    int total = 0;
    for (char *p = list; *p; p++) total += *p == '\n';
    float *feat = malloc(CONCEPT_FEAT_DIM * sizeof(float));
    objects_features *of = malloc(sizeof *of);
    int done = 0, failed = 0;
    objects_params op;
    objects_default_params(&op);
    char *save = NULL;
    for (char *line = strtok_r(list, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        size_t n = 0;
        char *bytes = slurp(line, &n);
        img_limits lim = {.max_pixels = 0, .work_size = work_size};
        img_decoded dec = {0};
        det_box *dets = NULL;
        int nd = 0;
        int rc = bytes ? img_decode(bytes, n, &lim, &dec, &err) : SCRY_EIO;
        if (rc == SCRY_OK && flip) mirror(&dec.work);
        if (rc == SCRY_OK) rc = objects_detect_features(om, &dec.work, &op, &dets, &nd, of, &err);
        memset(feat, 0, CONCEPT_FEAT_DIM * sizeof(float));
        if (rc == SCRY_OK) {
            img_stats st;
            img_stats_compute(&dec.work, &st);
            concepts_features(of, dets, nd, dec.work.w, dec.work.h, &st, feat);
            fprintf(fd, "{\"file\":\"%s\",\"w\":%d,\"h\":%d,\"dets\":[", line, dec.work.w, dec.work.h);
            for (int i = 0; i < nd; i++)
                fprintf(fd, "%s[%d,%.4f,%.1f,%.1f,%.1f,%.1f]", i ? "," : "", dets[i].label,
                        dets[i].score, dets[i].x, dets[i].y, dets[i].w, dets[i].h);
            fprintf(fd, "]}\n");
        } else {
            failed++;
            fprintf(fd, "{\"file\":\"%s\",\"error\":\"%s\"}\n", line, bytes ? "decode" : "read");
        }
        fwrite(feat, sizeof(float), CONCEPT_FEAT_DIM, fo);
        free(dets);
        img_decoded_free(&dec);
        free(bytes);
        if (++done % 50 == 0 || done == total)
            fprintf(stderr, "concept-features: %d/%d (%d failed)\n", done, total, failed);
    }
    fclose(fo);
    fclose(fd);
    free(feat);
    free(of);
    free(list);
    objects_free(om);
    printf("concept-features: rows=%d dim=%d failed=%d\n", done, CONCEPT_FEAT_DIM, failed);
    return 0;
}
