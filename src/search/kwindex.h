/* kwindex.h -- the in-memory keyword index: BM25 over each image's facts.
 *
 * Why not SQLite's FTS5 (which the store keeps anyway)? Its bm25() reads
 * every matching row's column sizes from a B-tree: ~2 us per match, so a
 * common word ("person" is in ~45% of photos) costs ~100 ms at 100k images,
 * and image facts are made of common words (labels, colours). An inverted
 * index in memory scores the same 45k postings in well under a millisecond.
 * The facts are short and drawn from small vocabularies, so the whole index
 * is ~25 postings per image (~20 MB at 100k).
 *
 * Fields and weights follow the store's FTS row (meta.h): filename words
 * (camelCase and letter/digit runs split) 1, caption 2, tags ("[colour]
 * label" per detection, "[emotion] face" per face; a learned concept or a
 * relation weighted by its score) 2, OCR text 1.5 (as terms of their own,
 * so that queries can weigh them apart), EXIF
 * camera and date words ("2019", "july") 1, dominant colour names 1. A term's
 * weighted frequency is the sum of its field weights; the document length is
 * the weighted token count. Score: Okapi BM25, k1 = 1.2, b = 0.75, idf =
 * ln(1 + (N - df + 0.5) / (df + 0.5)) (never negative).
 *
 * Tokens: runs of ASCII letters/digits (lowercased) or bytes >= 0x80;
 * English stopwords dropped; a light suffix stemmer (plurals, -ing, -ed)
 * applied identically to documents and queries ("dogs" = "dog", "buses" =
 * "bus", "puppies" = "puppy").
 *
 * Searches run term at a time, rarest term first, and prune (MaxScore):
 * once k documents score more than the terms left could give a document
 * not yet seen, the long lists that remain ("person": ~45% of photos) only
 * add to documents already seen. The result is the same as without the
 * pruning; at 1M images it skips most of the work of common words.
 *
 * Deletes and replacements tombstone the old document (its terms' document
 * frequencies are decremented at once); postings of dead documents are
 * skipped by searches and dropped by a compaction once they make up half of
 * the index. Not thread-safe: the engine's rwlock guards it (searches are
 * read-only and may run concurrently). */
#ifndef SCRY_KWINDEX_H
#define SCRY_KWINDEX_H

#include <stddef.h>
#include <stdint.h>

#include "search/topk.h"
#include "store/meta.h"

typedef struct kwindex kwindex;

/* rowid and score (ref unused); see search/topk.h */
typedef topk_hit kw_hit;

kwindex *kw_new(void);
void kw_free(kwindex *kw);

/* Index (or re-index) an image from its record. SCRY_OK or SCRY_ENOMEM. */
int kw_put(kwindex *kw, const image_rec *r);
void kw_remove(kwindex *kw, int64_t rowid);
size_t kw_count(const kwindex *kw);

/* The best k documents for the words of text (any word may match), best
 * first, ties by newer rowid; allow (may be NULL) filters documents. A word
 * read in the image (OCR text) scores ocr_weight times what the same word
 * seen (caption, tags, ...) scores: 1 when the query asks for text, less
 * when a word may as well describe the scene. Returns
 * the number written to out (<= k), or SCRY_ENOMEM. Safe to call from
 * several threads at once (the index is only read; scratch buffers come
 * from an internal pool behind its own mutex). */
int kw_search(const kwindex *kw, const char *text, int k, float ocr_weight,
              int (*allow)(int64_t rowid, void *ctx), void *ctx, kw_hit *out);

/* The documents whose OCR text (as words, the way documents are indexed)
 * holds the rarest word of text: candidates for a text constraint ("a sign
 * that says OPEN"), which the caller verifies against the text itself.
 * *out (malloc'd, the caller frees; NULL when none) gets their rowids, *n
 * how many. SCRY_OK; SCRY_ENOTFOUND when text has no word the index keeps
 * (all stopwords or symbols: look elsewhere); SCRY_ENOMEM. */
int kw_read_docs(const kwindex *kw, const char *text, int64_t **out, size_t *n);

/* Searches so far whose pruning skipped the documents only long posting
 * lists would have added (they could not reach the top k). */
size_t kw_pruned_searches(const kwindex *kw);

/* Snapshots (search/snapshot.h): the dictionary, postings and documents as
 * bytes, and an index from them (SCRY_ECORRUPT when they do not parse). */
struct snap_out;
struct snap_in;
void kw_write(const kwindex *kw, struct snap_out *o);
int kw_read(kwindex **out, struct snap_in *in);

/* The index form of one word (lowercased, stemmed) into buf; "" for a
 * stopword. Exposed for tests and explanations. */
const char *kw_term(const char *word, char *buf, size_t cap);

#endif
