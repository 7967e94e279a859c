/* wordvec.h -- pretrained word vectors, memory-mapped (GloVe 6B 100d).
 *
 * Setup (scripts/setup.d/30-wordvec.sh) converts the npm JSON once into
 * wordvec.bin (layout in text/wvformat.h). Opening it is an mmap plus checks
 * of the header and of the vocabulary section (~8 MB hashed, a few ms): the
 * vocabulary hash table and the vectors are used in place, so a process is
 * ready in milliseconds and several processes share the page cache. The
 * 136 MB of vectors are only checksummed on demand (scry_wordvec_verify).
 *
 * A scry_wordvec is immutable after open: every lookup is safe from any
 * number of threads without locking. */
#ifndef SCRY_WORDVEC_H
#define SCRY_WORDVEC_H

#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

typedef struct scry_wordvec scry_wordvec;

/* Where the file is expected: $SCRY_WORDVEC if set, else
 * $SCRY_DEPS/wordvec/wordvec.bin, else deps/wordvec/wordvec.bin (relative to
 * the working directory, i.e. the repo root). Writes into buf and returns it. */
const char *scry_wordvec_default_path(char *buf, size_t n);

/* Map and check path. A missing or corrupt file gives SCRY_ENOTFOUND or
 * SCRY_ECORRUPT with a message naming the file and the fix
 * (./scripts/setup.sh). */
int scry_wordvec_open(const char *path, scry_wordvec **out, scry_err *err);
void scry_wordvec_close(scry_wordvec *wv);
/* Full check of the vector payload checksum (reads all 136 MB). */
int scry_wordvec_verify(const scry_wordvec *wv, scry_err *err);

uint32_t scry_wordvec_dim(const scry_wordvec *wv);
uint32_t scry_wordvec_count(const scry_wordvec *wv);
/* Row of a word (exact bytes, the vocabulary is lowercase), or -1. */
int64_t scry_wordvec_find(const scry_wordvec *wv, const char *word, size_t len);
/* The row's vector (dim floats, raw GloVe scale, not normalised), word and
 * frequency rank (0 = most frequent). row must be < count. */
const float *scry_wordvec_vector(const scry_wordvec *wv, uint32_t row);
const char *scry_wordvec_word(const scry_wordvec *wv, uint32_t row);
uint32_t scry_wordvec_rank(const scry_wordvec *wv, uint32_t row);

#endif
