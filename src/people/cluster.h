/* cluster.h -- grouping face descriptors into people.
 *
 * Two methods, with the same similarity and threshold semantics: the mean
 * cosine between a face and the faces of a cluster (average linkage), so a
 * cluster of n faces with descriptor sum S takes face d when d.S / n >= t.
 *
 *   cluster_average_link  agglomerative, order-independent: repeatedly merge
 *                         the two clusters whose faces are the most similar
 *                         on average, while that mean is >= threshold. Used
 *                         by the full re-cluster job.
 *   cluster_online        one pass in the given order: each face joins the
 *                         most similar existing cluster when the mean is >=
 *                         threshold, else starts its own (measured only:
 *                         clusters never merge afterwards).
 *   cluster_incremental   one pass in the given order, as faces arrive: a
 *                         face starts its own cluster, which then merges
 *                         with its best match while their average link is
 *                         >= threshold, and so on with the merged cluster.
 *                         Only sums and counts are needed (the mean cosine
 *                         of two clusters is Sa.Sb / (na nb)), and the state
 *                         keeps average_link's invariant: no two clusters
 *                         that could merge are that similar. What indexing
 *                         does with each new face (people/people.c keeps
 *                         the sums), here over a whole set for the bench.
 *
 * Constraints (both methods): faces of one photo (same `group`, non-zero)
 * are never put together -- one person appears once in a photo; faces a
 * user placed (`fixed` > 0) stay with their label, clusters holding two
 * different fixed labels never merge, and faces fixed to nobody (`fixed` <
 * 0) are left out (label -1).
 *
 * Scale: average_link keeps only the pairs with cosine >= CLUSTER_EDGE_MIN
 * (found by blocked brute force; others count as 0 in a mean, which can only
 * make a merge less likely: the error is on the side of a split), so memory
 * is O(n + edges), time O(n^2 dim) for the pairs plus O(edges log edges) for
 * the merges. Measured in docs/people.md (bench/people).
 *
 * Pure computation over the caller's arrays: thread-safe. */
#ifndef SCRY_CLUSTER_H
#define SCRY_CLUSTER_H

#include <stdint.h>

#include "core/err.h"

/* Pairs less similar than this are not kept by cluster_average_link. */
#define CLUSTER_EDGE_MIN 0.15f

typedef struct cluster_face {
    const float *desc;          /* dim floats, unit length (borrowed) */
    int64_t group;              /* photo: faces of one group are never together; 0 = none */
    int64_t fixed;              /* > 0 a user's label, < 0 left out, 0 free */
} cluster_face;

/* labels[i] = cluster number in 0..k-1 (numbered in order of first face),
 * or -1 (left out); *k = number of clusters. */
int cluster_average_link(const cluster_face *faces, int n, int dim, float threshold, int *labels,
                         int *k, scry_err *err);
int cluster_online(const cluster_face *faces, int n, int dim, float threshold, int *labels, int *k,
                   scry_err *err);
int cluster_incremental(const cluster_face *faces, int n, int dim, float threshold, int *labels,
                        int *k, scry_err *err);

/* Quality of a clustering against the truth (truth[i] = a person, labels[i]
 * as above; -1 in labels counts as a cluster of its own). Pairwise: over
 * pairs of faces put together, the fraction of the same person (precision),
 * and over pairs of the same person the fraction put together (recall).
 * BCubed: per face, the share of its cluster that is its person (precision)
 * and of its person that is in its cluster (recall), averaged over faces. */
typedef struct cluster_quality {
    double pair_precision, pair_recall;
    double bcubed_precision, bcubed_recall;
    int clusters;               /* with at least 2 faces */
    int singletons;
} cluster_quality;

void cluster_evaluate(const int *truth, const int *labels, int n, cluster_quality *q);

#endif
