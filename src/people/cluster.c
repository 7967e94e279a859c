/* cluster.c -- see cluster.h.
 *
 * Average linkage over a sparse graph: each cluster keeps, per neighbouring
 * cluster, the sum of the cosines between their faces (a sorted array of
 * (cluster, sum)); the mean of a pair is sum / (na * nb). Candidate merges
 * sit in a max-heap with the sizes they were computed for: an entry whose
 * clusters have grown since (or gone) is stale and dropped when popped, and
 * every merge pushes the merged cluster's fresh pairs. Each cluster also
 * keeps its photos (sorted group ids) for the cannot-link test. */
#include "people/cluster.h"

#include <stdlib.h>
#include <string.h>

static float dotf(const float *a, const float *b, int dim) {
    float s = 0;
    for (int i = 0; i < dim; i++) s += a[i] * b[i];
    return s;
}

/* ---- growable arrays ---------------------------------------------------- */

typedef struct nb { int c; float sum; } nb;

typedef struct clus {
    int alive;
    int n;                      /* faces */
    int64_t fixed;              /* user label, 0 none */
    nb *nbs;                    /* sorted by c */
    int nnb, capnb;
    int64_t *groups;            /* sorted, distinct */
    int ngroups, capgroups;
} clus;

static int grow(void **p, int *cap, int need, size_t elem) {
    if (need <= *cap) return 0;
    int c = *cap ? *cap : 4;
    while (c < need) c *= 2;
    void *q = realloc(*p, (size_t)c * elem);
    if (!q) return -1;
    *p = q;
    *cap = c;
    return 0;
}

/* Index of c in a's neighbours, or -(insertion point + 1). */
static int nb_find(const clus *a, int c) {
    int lo = 0, hi = a->nnb - 1;
    while (lo <= hi) {
        int mid = (lo + hi) / 2;
        if (a->nbs[mid].c == c) return mid;
        if (a->nbs[mid].c < c) lo = mid + 1;
        else hi = mid - 1;
    }
    return -(lo + 1);
}

static int nb_add(clus *a, int c, float s) {
    int i = nb_find(a, c);
    if (i >= 0) {
        a->nbs[i].sum += s;
        return 0;
    }
    i = -i - 1;
    if (grow((void **)&a->nbs, &a->capnb, a->nnb + 1, sizeof *a->nbs)) return -1;
    memmove(a->nbs + i + 1, a->nbs + i, (size_t)(a->nnb - i) * sizeof *a->nbs);
    a->nbs[i] = (nb){c, s};
    a->nnb++;
    return 0;
}

static void nb_del(clus *a, int c) {
    int i = nb_find(a, c);
    if (i < 0) return;
    memmove(a->nbs + i, a->nbs + i + 1, (size_t)(a->nnb - i - 1) * sizeof *a->nbs);
    a->nnb--;
}

static int group_add(clus *a, int64_t g) {
    if (!g) return 0;
    int lo = 0, hi = a->ngroups;
    while (lo < hi) {
        int mid = (lo + hi) / 2;
        if (a->groups[mid] < g) lo = mid + 1;
        else hi = mid;
    }
    if (lo < a->ngroups && a->groups[lo] == g) return 0;
    if (grow((void **)&a->groups, &a->capgroups, a->ngroups + 1, sizeof *a->groups)) return -1;
    memmove(a->groups + lo + 1, a->groups + lo, (size_t)(a->ngroups - lo) * sizeof *a->groups);
    a->groups[lo] = g;
    a->ngroups++;
    return 0;
}

static int groups_disjoint(const clus *a, const clus *b) {
    int i = 0, j = 0;
    while (i < a->ngroups && j < b->ngroups) {
        if (a->groups[i] == b->groups[j]) return 0;
        if (a->groups[i] < b->groups[j]) i++;
        else j++;
    }
    return 1;
}

static int can_merge(const clus *a, const clus *b) {
    if (a->fixed && b->fixed && a->fixed != b->fixed) return 0;
    return groups_disjoint(a, b);
}

/* ---- heap of candidate merges ---------------------------------------------- */

typedef struct cand { float mean; int a, b, na, nb; } cand;
typedef struct heap { cand *v; int n, cap; } heap;

static int heap_push(heap *h, cand c) {
    if (grow((void **)&h->v, &h->cap, h->n + 1, sizeof *h->v)) return -1;
    int i = h->n++;
    while (i > 0) {
        int p = (i - 1) / 2;
        if (h->v[p].mean >= c.mean) break;
        h->v[i] = h->v[p];
        i = p;
    }
    h->v[i] = c;
    return 0;
}

static cand heap_pop(heap *h) {
    cand top = h->v[0], last = h->v[--h->n];
    int i = 0;
    for (;;) {
        int l = 2 * i + 1, r = l + 1, m = i;
        float mv = last.mean;
        if (l < h->n && h->v[l].mean > mv) m = l, mv = h->v[l].mean;
        if (r < h->n && h->v[r].mean > mv) m = r;
        if (m == i) break;
        h->v[i] = h->v[m];
        i = m;
    }
    if (h->n) h->v[i] = last;
    return top;
}

static int push_pair(heap *h, const clus *cl, int a, int b, float sum, float threshold) {
    float mean = sum / ((float)cl[a].n * (float)cl[b].n);
    if (mean < threshold || !can_merge(&cl[a], &cl[b])) return 0;
    return heap_push(h, (cand){mean, a, b, cl[a].n, cl[b].n});
}

/* The cluster a slot was merged into (-1 stays -1): parent[] links each
 * merged slot to the one that took it. */
static int root_of(const int *parent, int r) {
    while (r >= 0 && parent[r] != r) r = parent[r];
    return r;
}

/* Number clusters in order of first face: labels[i] holds a cluster slot
 * on entry (or -1). */
static int renumber(int *labels, int n, int slots) {
    int *map = malloc((size_t)(slots ? slots : 1) * sizeof *map), k = 0;
    if (!map) return -1;
    for (int i = 0; i < slots; i++) map[i] = -1;
    for (int i = 0; i < n; i++) {
        if (labels[i] < 0) continue;
        if (map[labels[i]] < 0) map[labels[i]] = k++;
        labels[i] = map[labels[i]];
    }
    free(map);
    return k;
}

int cluster_average_link(const cluster_face *f, int n, int dim, float threshold, int *labels,
                         int *k, scry_err *err) {
    *k = 0;
    if (n <= 0) return SCRY_OK;
    clus *cl = calloc((size_t)n, sizeof *cl);
    int *slot = malloc((size_t)n * sizeof *slot);   /* face -> its initial cluster */
    int *parent = malloc((size_t)n * sizeof *parent); /* merged cluster -> the one it went into */
    heap h = {0};
    int rc = SCRY_OK, nslots = 0;
    for (int i = 0; parent && i < n; i++) parent[i] = i;
    if (!cl || !slot || !parent) { rc = scry_fail(err, SCRY_ENOMEM, "out of memory (clustering)"); goto out; }
    /* Initial clusters: one per free face, one per fixed label. */
    for (int i = 0; i < n; i++) {
        slot[i] = -1;
        if (f[i].fixed < 0) continue;
        if (f[i].fixed > 0)
            for (int j = 0; j < i; j++)
                if (f[j].fixed == f[i].fixed) { slot[i] = slot[j]; break; }
        if (slot[i] < 0) {
            slot[i] = nslots++;
            cl[slot[i]].alive = 1;
            cl[slot[i]].fixed = f[i].fixed;
        }
        cl[slot[i]].n++;
        if (group_add(&cl[slot[i]], f[i].group)) { rc = scry_fail(err, SCRY_ENOMEM, "out of memory"); goto out; }
    }
    /* The similar pairs, summed per pair of initial clusters. */
    for (int i = 0; i < n; i++) {
        if (slot[i] < 0) continue;
        for (int j = i + 1; j < n; j++) {
            if (slot[j] < 0 || slot[j] == slot[i]) continue;
            float s = dotf(f[i].desc, f[j].desc, dim);
            if (s < CLUSTER_EDGE_MIN) continue;
            if (nb_add(&cl[slot[i]], slot[j], s) || nb_add(&cl[slot[j]], slot[i], s)) {
                rc = scry_fail(err, SCRY_ENOMEM, "out of memory (clustering)");
                goto out;
            }
        }
    }
    for (int a = 0; a < nslots; a++)
        for (int e = 0; e < cl[a].nnb; e++)
            if (cl[a].nbs[e].c > a && push_pair(&h, cl, a, cl[a].nbs[e].c, cl[a].nbs[e].sum, threshold)) {
                rc = scry_fail(err, SCRY_ENOMEM, "out of memory (clustering)");
                goto out;
            }
    while (h.n) {
        cand c = heap_pop(&h);
        clus *a = &cl[c.a], *b = &cl[c.b];
        if (!a->alive || !b->alive || a->n != c.na || b->n != c.nb) continue;   /* stale */
        if (!can_merge(a, b)) continue;
        /* b into a */
        nb_del(a, c.b);
        for (int e = 0; e < b->nnb; e++) {
            int o = b->nbs[e].c;
            if (o == c.a) continue;
            nb_del(&cl[o], c.b);
            if (nb_add(a, o, b->nbs[e].sum) || nb_add(&cl[o], c.a, b->nbs[e].sum)) {
                rc = scry_fail(err, SCRY_ENOMEM, "out of memory (clustering)");
                goto out;
            }
        }
        for (int g = 0; g < b->ngroups; g++)
            if (group_add(a, b->groups[g])) { rc = scry_fail(err, SCRY_ENOMEM, "out of memory"); goto out; }
        a->n += b->n;
        if (!a->fixed) a->fixed = b->fixed;
        b->alive = 0;
        free(b->nbs), b->nbs = NULL, b->nnb = b->capnb = 0;
        parent[c.b] = c.a;
        for (int e = 0; e < a->nnb; e++)
            if (push_pair(&h, cl, c.a, a->nbs[e].c, a->nbs[e].sum, threshold)) {
                rc = scry_fail(err, SCRY_ENOMEM, "out of memory (clustering)");
                goto out;
            }
    }
    for (int i = 0; i < n; i++) labels[i] = root_of(parent, slot[i]);
    *k = renumber(labels, n, nslots);
    if (*k < 0) rc = scry_fail(err, SCRY_ENOMEM, "out of memory");
out:
    for (int i = 0; cl && i < n; i++) free(cl[i].nbs), free(cl[i].groups);
    free(cl);
    free(slot);
    free(parent);
    free(h.v);
    return rc;
}

int cluster_online(const cluster_face *f, int n, int dim, float threshold, int *labels, int *k,
                   scry_err *err) {
    *k = 0;
    if (n <= 0) return SCRY_OK;
    float *sums = calloc((size_t)n * (size_t)dim, sizeof *sums);
    clus *cl = calloc((size_t)n, sizeof *cl);
    int nc = 0, rc = SCRY_OK;
    if (!sums || !cl) { rc = scry_fail(err, SCRY_ENOMEM, "out of memory (clustering)"); goto out; }
    for (int i = 0; i < n; i++) {
        labels[i] = -1;
        if (f[i].fixed < 0) continue;
        int best = -1;
        float best_mean = threshold;
        for (int c = 0; c < nc; c++) {
            if (f[i].fixed > 0) {           /* a user's label decides */
                if (cl[c].fixed == f[i].fixed) { best = c; break; }
                continue;
            }
            clus one = {.ngroups = f[i].group ? 1 : 0, .groups = (int64_t *)&f[i].group};
            if (!groups_disjoint(&cl[c], &one)) continue;
            float mean = dotf(f[i].desc, sums + (size_t)c * dim, dim) / (float)cl[c].n;
            if (mean >= best_mean) best_mean = mean, best = c;
        }
        if (best < 0) {
            best = nc++;
            cl[best].fixed = f[i].fixed;
        }
        float *s = sums + (size_t)best * dim;
        for (int d = 0; d < dim; d++) s[d] += f[i].desc[d];
        cl[best].n++;
        if (group_add(&cl[best], f[i].group)) { rc = scry_fail(err, SCRY_ENOMEM, "out of memory"); goto out; }
        labels[i] = best;
    }
    *k = nc;
out:
    for (int i = 0; cl && i < n; i++) free(cl[i].groups);
    free(cl);
    free(sums);
    return rc;
}

int cluster_incremental(const cluster_face *f, int n, int dim, float threshold, int *labels,
                        int *k, scry_err *err) {
    *k = 0;
    if (n <= 0) return SCRY_OK;
    float *sums = calloc((size_t)n * (size_t)dim, sizeof *sums);
    clus *cl = calloc((size_t)n, sizeof *cl);
    int *parent = malloc((size_t)n * sizeof *parent);
    int nc = 0, rc = SCRY_OK;
    if (!sums || !cl || !parent) { rc = scry_fail(err, SCRY_ENOMEM, "out of memory (clustering)"); goto out; }
    for (int i = 0; i < n; i++) {
        labels[i] = -1;
        if (f[i].fixed < 0) continue;
        /* a user's label goes straight to its cluster */
        int c = -1;
        for (int o = 0; f[i].fixed > 0 && o < nc; o++)
            if (cl[o].alive && cl[o].fixed == f[i].fixed) c = o;
        if (c < 0) {
            c = nc++;
            parent[c] = c;
            cl[c].alive = 1;
            cl[c].fixed = f[i].fixed;
        }
        float *s = sums + (size_t)c * dim;
        for (int d = 0; d < dim; d++) s[d] += f[i].desc[d];
        cl[c].n++;
        if (group_add(&cl[c], f[i].group)) { rc = scry_fail(err, SCRY_ENOMEM, "out of memory"); goto out; }
        labels[i] = c;
        /* then the cluster that changed merges while its best average link
         * to another is >= threshold (no other pair can have reached it) */
        for (;;) {
            int best = -1;
            float bm = threshold;
            for (int o = 0; o < nc; o++) {
                if (o == c || !cl[o].alive || !can_merge(&cl[c], &cl[o])) continue;
                float m = dotf(sums + (size_t)c * dim, sums + (size_t)o * dim, dim) /
                          ((float)cl[c].n * (float)cl[o].n);
                if (m >= bm) bm = m, best = o;
            }
            if (best < 0) break;
            int into = best < c ? best : c, from = best < c ? c : best;
            float *si = sums + (size_t)into * dim, *sf = sums + (size_t)from * dim;
            for (int d = 0; d < dim; d++) si[d] += sf[d];
            cl[into].n += cl[from].n;
            if (!cl[into].fixed) cl[into].fixed = cl[from].fixed;
            for (int g = 0; g < cl[from].ngroups; g++)
                if (group_add(&cl[into], cl[from].groups[g])) { rc = scry_fail(err, SCRY_ENOMEM, "out of memory"); goto out; }
            cl[from].alive = 0;
            parent[from] = into;
            c = into;
        }
    }
    for (int i = 0; i < n; i++) labels[i] = root_of(parent, labels[i]);
    *k = renumber(labels, n, nc);
    if (*k < 0) rc = scry_fail(err, SCRY_ENOMEM, "out of memory");
out:
    for (int i = 0; cl && i < n; i++) free(cl[i].groups);
    free(cl);
    free(sums);
    free(parent);
    return rc;
}

void cluster_evaluate(const int *truth, const int *labels, int n, cluster_quality *q) {
    memset(q, 0, sizeof *q);
    long long tp = 0, pred_pairs = 0, true_pairs = 0;
    double bp = 0, br = 0;
    for (int i = 0; i < n; i++) {
        int same_cluster = 0, same_person = 0, both = 0;
        for (int j = 0; j < n; j++) {
            int sc = labels[i] >= 0 ? labels[j] == labels[i] : j == i;
            int sp = truth[j] == truth[i];
            same_cluster += sc, same_person += sp, both += sc && sp;
            if (j > i) pred_pairs += sc, true_pairs += sp, tp += sc && sp;
        }
        bp += (double)both / same_cluster;
        br += (double)both / same_person;
        if (same_cluster == 1) q->singletons++;
    }
    q->pair_precision = pred_pairs ? (double)tp / (double)pred_pairs : 1.0;
    q->pair_recall = true_pairs ? (double)tp / (double)true_pairs : 1.0;
    q->bcubed_precision = n ? bp / n : 1.0;
    q->bcubed_recall = n ? br / n : 1.0;
    /* clusters with >= 2 faces */
    for (int i = 0; i < n; i++) {
        if (labels[i] < 0) continue;
        int first = 1, size = 0;
        for (int j = 0; j < n; j++)
            if (labels[j] == labels[i]) {
                if (j < i) first = 0;
                size++;
            }
        if (first && size >= 2) q->clusters++;
    }
}
