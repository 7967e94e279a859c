/* topk.h -- keep the k best hits of a scan.
 *
 * Both rankers that scan many documents -- BM25 over the postings
 * (kwindex.c) and the structured-constraint scan over the catalog
 * (search.c) -- keep the k best (score, rowid) pairs in a min-heap whose
 * root is the weakest kept hit, so that a new hit costs one comparison
 * unless it gets in. Ties go to the newer (larger) rowid, which makes
 * rankings deterministic. `ref` carries whatever the caller wants back with
 * the hit (a catalog entry); it takes no part in the order. */
#ifndef SCRY_TOPK_H
#define SCRY_TOPK_H

#include <stdint.h>

typedef struct topk_hit {
    int64_t rowid;
    double score;
    const void *ref;
} topk_hit;

/* 1 if a ranks below b. Inline: the scans call it for every document. */
static inline int topk_weaker(const topk_hit *a, const topk_hit *b) {
    return a->score < b->score || (a->score == b->score && a->rowid < b->rowid);
}

/* Offer x to the heap h[0..*n) of capacity k: kept if it beats the weakest
 * (or there is room). */
void topk_offer(topk_hit *h, int *n, int k, topk_hit x);

/* Turn the heap h[0..n) into a list sorted best first. */
void topk_sort(topk_hit *h, int n);

#endif
