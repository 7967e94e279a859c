/* testutil.h -- helpers shared by the cmocka unit tests. */
#ifndef SCRY_TESTUTIL_H
#define SCRY_TESTUTIL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

/* A fresh empty directory under $TMPDIR (or /tmp); caller frees the string
 * and may remove the tree with tu_rmtree. */
char *tu_tempdir(const char *tag);
void tu_rmtree(const char *path);
/* Path of a file in ../shared/data (relative to the repo root, where the tests
 * run), or of a darknet sample photo. NULL-safe: returns a static buffer. */
const char *tu_shared(const char *rel);
const char *tu_darknet(const char *name);   /* e.g. "dog.jpg" */
/* Path of something prepared by ./scripts/setup.sh: rel under $SCRY_DEPS
 * (default deps/, relative to the repo root), e.g. tu_deps("models").
 * Static buffer, like tu_shared. */
const char *tu_deps(const char *rel);
/* The real text stack: WordNet, the word vectors (SCRY_WORDVEC, else
 * SCRY_DEPS/wordvec, else deps/wordvec) and the SIF encoder over them.
 * 0, or -1 with a message naming ./scripts/setup.sh (for group setups). */
struct scry_wordvec;
struct scry_lexicon;
struct scry_encoder;
int tu_text_open(struct scry_wordvec **wv, struct scry_lexicon **lex, struct scry_encoder **enc);
void tu_text_close(struct scry_wordvec *wv, struct scry_lexicon *lex, struct scry_encoder *enc);
/* n deterministic pseudo-random bytes (xorshift), different per seed;
 * malloc'ed (fails the test when out of memory). */
unsigned char *tu_bytes(size_t n, uint32_t seed);
/* Whole file into memory; fails the test when it cannot be read. */
void *tu_read(const char *path, size_t *n);
/* PostgreSQL for tests that run on both metadata backends: the server is
 * $SCRY_TEST_PG ("postgres://user@host:port", started by tests/run; NULL
 * when unset). tu_pg_create makes a fresh database and writes its URL;
 * tu_pg_drop drops it. 0 or -1 (message on stderr). */
const char *tu_pg(void);
int tu_pg_create(char *url, size_t cap);
int tu_pg_drop(const char *url);

#endif
