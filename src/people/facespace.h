/* facespace.h -- where face descriptors are compared: the stored descriptor
 * minus the mean face of a set of training photos, unit length again.
 *
 * Human's faceres descriptor (vision/faceres.h, what the faces table
 * stores) is a mean of ReLU6 activations: every component is >= 0, so any
 * two faces share a large common direction (different people: cosine 0.385
 * on average on LFW, same person 0.690). Taking out the mean face of
 * photos that are neither LFW nor COCO's benchmark (flickr8k-train,
 * coco-extra, coco-unlabelled: tools/face_mean.c) leaves verification as it
 * was (0.957-0.962, within noise) and lets average-linkage clustering reach
 * more of each person at the same precision (bench/people, docs/people.md).
 * This is the one statistic learned here; the network is Human's.
 *
 * File (FACESPACE_FILE in the models folder, from models/ by setup):
 *   "SCRYFSP1", u32 dim, u32 faces it was computed from, char[64] the
 *   descriptor model's name, float32[dim] the mean. Little-endian. */
#ifndef SCRY_FACESPACE_H
#define SCRY_FACESPACE_H

#include <stdint.h>

#include "core/err.h"

#define FACESPACE_FILE "face_mean.bin"
#define FACESPACE_MAGIC "SCRYFSP1"

typedef struct facespace {
    char model[64];             /* the descriptors it applies to */
    int dim;
    uint32_t faces;             /* training faces behind the mean */
    float *mean;                /* dim floats (owned) */
} facespace;

/* Read models_dir/FACESPACE_FILE. SCRY_ENOTFOUND (with the fix in the
 * message) when absent, SCRY_ECORRUPT when malformed. */
int facespace_load(const char *models_dir, facespace *out, scry_err *err);
int facespace_save(const char *path, const facespace *fs, scry_err *err);
void facespace_free(facespace *fs);

/* out = (in - mean) / |in - mean| (in and out may alias). */
void facespace_apply(const facespace *fs, const float *in, float *out);

#endif
