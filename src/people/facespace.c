/* facespace.c -- see facespace.h. */
#include "people/facespace.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"

#define HEADER (8 + 4 + 4 + 64)

static uint32_t le32(const unsigned char *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

int facespace_load(const char *models_dir, facespace *out, scry_err *err) {
    memset(out, 0, sizeof *out);
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", models_dir, FACESPACE_FILE);
    FILE *f = fopen(path, "rb");
    if (!f)
        return scry_fail(err, SCRY_ENOTFOUND, "face statistics %s missing; run ./scripts/setup.sh",
                         path);
    unsigned char h[HEADER];
    int rc = SCRY_OK;
    if (fread(h, 1, HEADER, f) != HEADER || memcmp(h, FACESPACE_MAGIC, 8)) {
        rc = scry_fail(err, SCRY_ECORRUPT, "%s is not a face statistics file", path);
        goto out;
    }
    out->dim = (int)le32(h + 8);
    out->faces = le32(h + 12);
    memcpy(out->model, h + 16, 63);
    out->model[63] = 0;
    if (out->dim <= 0 || out->dim > 65536) {
        rc = scry_fail(err, SCRY_ECORRUPT, "%s: bad dimension %d", path, out->dim);
        goto out;
    }
    out->mean = malloc((size_t)out->dim * sizeof *out->mean);
    if (!out->mean) {
        rc = scry_fail(err, SCRY_ENOMEM, "out of memory");
        goto out;
    }
    if (fread(out->mean, sizeof *out->mean, (size_t)out->dim, f) != (size_t)out->dim) {
        rc = scry_fail(err, SCRY_ECORRUPT, "%s is truncated", path);
        goto out;
    }
    for (int i = 0; i < out->dim; i++)
        if (!isfinite(out->mean[i])) {
            rc = scry_fail(err, SCRY_ECORRUPT, "%s holds a non-finite value", path);
            goto out;
        }
out:
    fclose(f);
    if (rc) facespace_free(out);
    return rc;
}

int facespace_save(const char *path, const facespace *fs, scry_err *err) {
    unsigned char h[HEADER] = {0};
    memcpy(h, FACESPACE_MAGIC, 8);
    uint32_t v[2] = {(uint32_t)fs->dim, fs->faces};
    for (int k = 0; k < 2; k++)
        for (int b = 0; b < 4; b++) h[8 + 4 * k + b] = (unsigned char)(v[k] >> (8 * b));
    snprintf((char *)h + 16, 64, "%s", fs->model);
    size_t n = HEADER + (size_t)fs->dim * sizeof(float);
    unsigned char *buf = malloc(n);
    if (!buf) return scry_fail(err, SCRY_ENOMEM, "out of memory");
    memcpy(buf, h, HEADER);
    memcpy(buf + HEADER, fs->mean, (size_t)fs->dim * sizeof(float));
    int rc = scry_write_file_durable(path, buf, n, err);
    free(buf);
    return rc;
}

void facespace_free(facespace *fs) {
    if (!fs) return;
    free(fs->mean);
    memset(fs, 0, sizeof *fs);
}

void facespace_apply(const facespace *fs, const float *in, float *out) {
    double s = 0;
    for (int i = 0; i < fs->dim; i++) {
        out[i] = in[i] - fs->mean[i];
        s += (double)out[i] * out[i];
    }
    s = s > 0 ? 1.0 / sqrt(s) : 0;
    for (int i = 0; i < fs->dim; i++) out[i] = (float)(out[i] * s);
}
