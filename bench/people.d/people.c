/* people.c -- bench driver: face recognition and clustering into people, on
 * LFW (../shared/data/lfw, see its README).
 *
 * Faces: every photo goes through BlazeFace (faces_detect_landmarks, the
 * product's detector); the face kept is the one whose centre is nearest the
 * photo's centre (LFW photos are centred on their person). A photo where no
 * face is found gets the box BlazeFace gives on an average LFW photo and no
 * keypoints (counted: "no face").
 *
 * Verification: the 1000 pairs of pairs_devtest.txt (View 1 DevTest: 500
 * same-person, 500 different), cosine of the two descriptors; accuracy at
 * the best threshold chosen by 10-fold cross-validation (pairs dealt to
 * folds in turn within each half: every fold 50 + 50; the threshold that is
 * best on 9 folds is applied to the tenth; the mean over folds is
 * verify_acc). Also the accuracy at the best threshold on all 1000 (an
 * upper bound) and that threshold.
 *
 * Clustering: the 710 photos of the 120 people of clusters.json, no two
 * from one photo, by each method (people/cluster.h) over a sweep of
 * thresholds. The people are split in two halves by their order in the
 * file: even ones to CHOOSE (the method and threshold of the product were
 * picked there, by the rule below), odd ones to REPORT (never used for a
 * choice); figures for all 710 are printed too. Pairwise and BCubed
 * precision/recall (cluster_evaluate). Rule: on the choose half, the
 * highest pairwise recall with pairwise precision >= 0.98.
 *
 * Time: CPU ms per face of facerec_describe (one intra-op thread), which is
 * what recognition adds to each described face in the pipeline.
 *
 * Variants: the product's (FACEREC_DEFAULT) and, as the baseline measured in
 * the same run, Human's faceres descriptor (what the faces table stored
 * before); --all runs every variant of facerec_variants; --variant NAME those whose name starts with NAME.
 * --sweep prints every threshold of the clustering sweep; --scale N times
 * clustering N synthetic faces.
 *
 * Last line: "people: verify_acc=A cluster_precision=P cluster_recall=R
 * ms_per_face=M" for the product's variant (P, R: pairwise, all 710 faces,
 * at the chosen method and threshold).
 *
 * usage: bp-people MODELS_DIR SHARED_DIR [--all | --variant NAME] [--sweep] [--scale N]
 *                  [--combine A,B] */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../tools/rgbload.h"
#include "../vision-quality.d/cputime.h"
#include "core/log.h"
#include "people/cluster.h"
#include "people/facespace.h"
#include "people/people.h"
#include "vision/facerec.h"
#include "vision/faces.h"
#include "vision/onnx.h"

#define MAX_IMAGES 4096
#define NPAIRS_MAX 1000
#define FOLDS 10

typedef struct photo {
    char path[512];
    img_rgb img;
    face_box box;
    face_landmarks lm;
    int has_face;
} photo;

static photo *g_photos;
static int g_nphotos;

static int photo_index(const char *rel) {
    for (int i = 0; i < g_nphotos; i++)
        if (!strcmp(g_photos[i].path, rel)) return i;
    if (g_nphotos == MAX_IMAGES) {
        fprintf(stderr, "people: too many photos\n");
        exit(1);
    }
    snprintf(g_photos[g_nphotos].path, sizeof g_photos[g_nphotos].path, "%s", rel);
    return g_nphotos++;
}

static void lfw_rel(char *out, size_t cap, const char *name, int n) {
    snprintf(out, cap, "%s/%s_%04d.jpg", name, name, n);
}

typedef struct pair { int a, b, same; } pair;

static int read_pairs(const char *path, pair *pairs) {
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "people: cannot open %s\n", path);
        exit(1);
    }
    char line[512];
    int per = 0, n = 0;
    if (!fgets(line, sizeof line, f) || sscanf(line, "%d", &per) != 1) exit(1);
    while (fgets(line, sizeof line, f) && n < NPAIRS_MAX) {
        char n1[200], n2[200], rel[512];
        int i, j;
        if (sscanf(line, "%199s %d %199s %d", n1, &i, n2, &j) == 4) {
            lfw_rel(rel, sizeof rel, n1, i);
            pairs[n].a = photo_index(rel);
            lfw_rel(rel, sizeof rel, n2, j);
            pairs[n].b = photo_index(rel);
            pairs[n++].same = 0;
        } else if (sscanf(line, "%199s %d %d", n1, &i, &j) == 3) {
            lfw_rel(rel, sizeof rel, n1, i);
            pairs[n].a = photo_index(rel);
            lfw_rel(rel, sizeof rel, n1, j);
            pairs[n].b = photo_index(rel);
            pairs[n++].same = 1;
        }
    }
    fclose(f);
    return n;
}

/* clusters.json -> photo index and person number per face. */
static int read_clusters(const char *path, int *photo_of, int *person_of, int max) {
    json_error_t je;
    json_t *root = json_load_file(path, 0, &je);
    if (!json_is_array(root)) {
        fprintf(stderr, "people: %s: %s\n", path, je.text);
        exit(1);
    }
    size_t i, j;
    json_t *p, *file;
    int n = 0;
    json_array_foreach(root, i, p) {
        json_array_foreach(json_object_get(p, "files"), j, file) {
            if (n == max) break;
            photo_of[n] = photo_index(json_string_value(file));
            person_of[n++] = (int)i;
        }
    }
    json_decref(root);
    return n;
}

static void detect_all(faces_model *fm, const char *lfw) {
    int missing = 0;
    for (int i = 0; i < g_nphotos; i++) {
        photo *p = &g_photos[i];
        char full[2048];
        snprintf(full, sizeof full, "%s/%s", lfw, p->path);
        if (rgbload(full, &p->img.w, &p->img.h, &p->img.px)) {
            fprintf(stderr, "people: cannot read %s\n", full);
            exit(1);
        }
        face_box *b = NULL;
        face_landmarks *lm = NULL;
        int n = 0;
        scry_err err = {0};
        if (faces_detect_landmarks(fm, &p->img, NULL, -1, &b, &lm, &n, &err)) {
            fprintf(stderr, "people: %s: %s\n", p->path, err.msg);
            exit(1);
        }
        int best = -1;
        double bd = 1e18;
        for (int k = 0; k < n; k++) {
            double dx = b[k].x + b[k].w / 2 - p->img.w / 2.0, dy = b[k].y + b[k].h / 2 - p->img.h / 2.0;
            if (dx * dx + dy * dy < bd) bd = dx * dx + dy * dy, best = k;
        }
        if (best >= 0) {
            p->box = b[best];
            p->lm = lm[best];
            p->has_face = 1;
        } else {
            /* BlazeFace's box on a typical LFW photo */
            p->box = (face_box){70, 80, 110, 110, 0};
            missing++;
        }
        free(b);
        free(lm);
    }
    printf("photos: %d, no face found in %d (a default centre box is used)\n", g_nphotos, missing);
}

/* Descriptors of every photo for a variant; ms per face (CPU). */
static float *describe_all(const char *models, const facerec_variant *v, double *ms) {
    facerec_model *m = NULL;
    scry_err err = {0};
    if (facerec_load_variant(models, v, &m, &err)) {
        fprintf(stderr, "people: %s: %s\n", v->name, err.msg);
        return NULL;
    }
    float *d = malloc((size_t)g_nphotos * v->dim * sizeof *d);
    double t0 = cpu_s();
    for (int i = 0; i < g_nphotos; i++) {
        photo *p = &g_photos[i];
        if (facerec_describe(m, &p->img, &p->box, p->has_face ? &p->lm : NULL, d + (size_t)i * v->dim,
                             &err)) {
            fprintf(stderr, "people: %s on %s: %s\n", v->name, p->path, err.msg);
            exit(1);
        }
    }
    *ms = (cpu_s() - t0) * 1000 / g_nphotos;
    facerec_free(m);
    return d;
}

/* Best threshold (highest accuracy) over the pairs with use[i] set. */
static double best_threshold(const double *sim, const pair *pairs, int n, const int *use, double *acc) {
    double best_t = 0, best_acc = -1;
    for (int i = 0; i < n; i++) {
        if (!use[i]) continue;
        double t = sim[i];          /* same if sim >= t */
        int right = 0, tot = 0;
        for (int j = 0; j < n; j++) {
            if (!use[j]) continue;
            tot++;
            right += (sim[j] >= t) == pairs[j].same;
        }
        double a = (double)right / tot;
        if (a > best_acc) best_acc = a, best_t = t;
    }
    *acc = best_acc;
    return best_t;
}

typedef struct verify_fig {
    double cv_acc, all_acc, all_t, same_mean, diff_mean;
    double tar, far;            /* at PEOPLE_FACE_MATCH: same-person pairs accepted, others accepted */
} verify_fig;

static verify_fig verify(const float *d, int dim, const pair *pairs, int n) {
    verify_fig v = {0};
    double *sim = malloc((size_t)n * sizeof *sim);
    int *fold = malloc((size_t)n * sizeof *fold), *use = malloc((size_t)n * sizeof *use);
    int ks = 0, kd = 0, ns = 0, nd = 0;
    for (int i = 0; i < n; i++) {
        sim[i] = facerec_similarity(d + (size_t)pairs[i].a * dim, d + (size_t)pairs[i].b * dim, dim);
        fold[i] = pairs[i].same ? ks++ % FOLDS : kd++ % FOLDS;
        if (pairs[i].same) v.same_mean += sim[i], ns++;
        else v.diff_mean += sim[i], nd++;
    }
    v.same_mean /= ns ? ns : 1;
    v.diff_mean /= nd ? nd : 1;
    double sum = 0;
    for (int f = 0; f < FOLDS; f++) {
        double a;
        for (int i = 0; i < n; i++) use[i] = fold[i] != f;
        double t = best_threshold(sim, pairs, n, use, &a);
        int right = 0, tot = 0;
        for (int i = 0; i < n; i++)
            if (fold[i] == f) tot++, right += (sim[i] >= t) == pairs[i].same;
        sum += (double)right / tot;
    }
    v.cv_acc = sum / FOLDS;
    for (int i = 0; i < n; i++) use[i] = 1;
    v.all_t = best_threshold(sim, pairs, n, use, &v.all_acc);
    for (int i = 0; i < n; i++)
        if (sim[i] >= PEOPLE_FACE_MATCH) *(pairs[i].same ? &v.tar : &v.far) += 1;
    v.tar /= ns ? ns : 1;
    v.far /= nd ? nd : 1;
    free(sim);
    free(fold);
    free(use);
    return v;
}

/* ---- clustering ---------------------------------------------------------- */

enum { HALF_CHOOSE = 0, HALF_REPORT = 1, HALF_ALL = 2 };
static const char *const half_names[3] = {"choose", "report", "all"};

typedef int (*cluster_fn)(const cluster_face *, int, int, float, int *, int *, scry_err *);
static const struct { const char *name; cluster_fn fn; } methods[] = {
    {"average-link", cluster_average_link},
    {"online", cluster_online},
    {"incremental", cluster_incremental},
};
#define NMETHODS 3

static cluster_quality run_cluster(int method, const float *d, int dim, const int *photo_of,
                                   const int *person_of, int n, int half, float t) {
    cluster_face *cf = malloc((size_t)n * sizeof *cf);
    int *truth = malloc((size_t)n * sizeof *truth), *labels = malloc((size_t)n * sizeof *labels);
    int m = 0;
    for (int i = 0; i < n; i++) {
        if (half != HALF_ALL && person_of[i] % 2 != half) continue;
        cf[m] = (cluster_face){d + (size_t)photo_of[i] * dim, photo_of[i] + 1, 0};
        truth[m++] = person_of[i];
    }
    int k = 0;
    scry_err err = {0};
    if (methods[method].fn(cf, m, dim, t, labels, &k, &err)) {
        fprintf(stderr, "people: clustering: %s\n", err.msg);
        exit(1);
    }
    cluster_quality q;
    cluster_evaluate(truth, labels, m, &q);
    free(cf);
    free(truth);
    free(labels);
    return q;
}

typedef struct choice { int method; float t; cluster_quality q[3]; } choice;

#define CHOOSE_MIN_PRECISION 0.98

static choice cluster_sweep(const float *d, int dim, const int *photo_of, const int *person_of,
                            int n, int print_sweep) {
    choice best = {.method = -1};
    for (int m = 0; m < NMETHODS; m++) {
        choice mb = {.method = -1};
        for (float t = 0.20f; t <= 0.801f; t += 0.02f) {
            cluster_quality q = run_cluster(m, d, dim, photo_of, person_of, n, HALF_CHOOSE, t);
            if (print_sweep)
                printf("  sweep %-12s t=%.2f choose: pair P %.3f R %.3f  bcubed P %.3f R %.3f  "
                       "clusters %d singletons %d\n", methods[m].name, t, q.pair_precision,
                       q.pair_recall, q.bcubed_precision, q.bcubed_recall, q.clusters, q.singletons);
            if (q.pair_precision >= CHOOSE_MIN_PRECISION &&
                (mb.method < 0 || q.pair_recall > mb.q[HALF_CHOOSE].pair_recall))
                mb = (choice){.method = m, .t = t, .q = {q}};
        }
        if (mb.method < 0) {
            printf("  %-12s: no threshold reaches pairwise precision %.2f on the choose half\n",
                   methods[m].name, CHOOSE_MIN_PRECISION);
            continue;
        }
        for (int h = HALF_REPORT; h <= HALF_ALL; h++)
            mb.q[h] = run_cluster(m, d, dim, photo_of, person_of, n, h, mb.t);
        for (int h = 0; h < 3; h++)
            printf("  %-12s t=%.2f %-6s: pairwise P %.3f R %.3f   BCubed P %.3f R %.3f   "
                   "clusters >= 2: %d, singletons %d\n", methods[m].name, mb.t, half_names[h],
                   mb.q[h].pair_precision, mb.q[h].pair_recall, mb.q[h].bcubed_precision,
                   mb.q[h].bcubed_recall, mb.q[h].clusters, mb.q[h].singletons);
        if (best.method < 0 || mb.q[HALF_CHOOSE].pair_recall > best.q[HALF_CHOOSE].pair_recall)
            best = mb;
    }
    return best;
}

/* --scale N: N synthetic faces (dim-d, people of 8 faces around random
 * directions, cosine ~0.6 to their centre as real faces in the face space),
 * the re-cluster's and incremental clustering's CPU time. */
static void scale_run(int dim, int n) {
    uint64_t x = 0x9E3779B97F4A7C15ULL;
    float *v = malloc((size_t)n * dim * sizeof *v), *c = malloc((size_t)dim * sizeof *c);
    cluster_face *cf = malloc((size_t)n * sizeof *cf);
    int *labels = malloc((size_t)n * sizeof *labels), k;
    for (int i = 0; i < n; i++) {
        float *o = v + (size_t)i * dim;
        if (i % 8 == 0)
            for (int j = 0; j < dim; j++) {
                x ^= x << 13, x ^= x >> 7, x ^= x << 17;
                c[j] = (float)((double)(x >> 11) / 9007199254740992.0 - 0.5);
            }
        double s2 = 0;
        for (int j = 0; j < dim; j++) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            o[j] = c[j] + 0.8f * (float)((double)(x >> 11) / 9007199254740992.0 - 0.5);
            s2 += (double)o[j] * o[j];
        }
        for (int j = 0; j < dim; j++) o[j] /= (float)sqrt(s2);
        cf[i] = (cluster_face){o, i + 1, 0};
    }
    scry_err err = {0};
    double t0 = cpu_s();
    cluster_average_link(cf, n, dim, PEOPLE_RECLUSTER_MIN, labels, &k, &err);
    double full = cpu_s() - t0;
    t0 = cpu_s();
    cluster_incremental(cf, n, dim, PEOPLE_JOIN_MIN, labels, &k, &err);
    double inc = cpu_s() - t0;
    printf("scale, %d synthetic %d-d faces in %d people: re-cluster %.1f s, incremental %.2f ms per face "
           "(the last one: %d people to compare with)\n", n, dim, n / 8, full, inc * 1000 / n, k);
    free(v), free(c), free(cf), free(labels);
}

/* --combine A,B: the cosines of two variants mixed, w A + (1 - w) B (their
 * descriptors side by side, scaled by sqrt(w) and sqrt(1 - w)). */
static void combine(const char *models, const char *names, const pair *pairs, int npairs,
                    const int *photo_of, const int *person_of, int nfaces, int sweep) {
    char buf[256];
    snprintf(buf, sizeof buf, "%s", names);
    char *comma = strchr(buf, ',');
    if (!comma) return;
    *comma = 0;
    const facerec_variant *va = facerec_find(buf), *vb = facerec_find(comma + 1);
    if (!va || !vb) return;
    double ma, mb;
    float *da = describe_all(models, va, &ma), *db = describe_all(models, vb, &mb);
    int dim = va->dim + vb->dim;
    float *dc = malloc((size_t)g_nphotos * dim * sizeof *dc);
    for (double w = 0.3; da && db && w <= 0.801; w += 0.1) {
        for (int p = 0; p < g_nphotos; p++) {
            for (int k = 0; k < va->dim; k++) dc[(size_t)p * dim + k] = da[(size_t)p * va->dim + k] * (float)sqrt(w);
            for (int k = 0; k < vb->dim; k++)
                dc[(size_t)p * dim + va->dim + k] = db[(size_t)p * vb->dim + k] * (float)sqrt(1 - w);
        }
        verify_fig vf = verify(dc, dim, pairs, npairs);
        printf("== combine %s x%.1f + %s: verify_acc %.4f (CV), best on all %.4f at %.3f\n", va->name, w,
               vb->name, vf.cv_acc, vf.all_acc, vf.all_t);
        if (sweep) cluster_sweep(dc, dim, photo_of, person_of, nfaces, 0);
    }
    free(da), free(db), free(dc);
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: bp-people MODELS_DIR SHARED_DIR [--all | --variant NAME] [--sweep] "
                        "[--combine A,B]\n");
        return 2;
    }
    log_set_level(LOG_WARN);
    const char *models = argv[1], *shared = argv[2], *only = NULL, *comb = NULL;
    int all = 0, sweep = 0, scale = 0;
    for (int i = 3; i < argc; i++) {
        if (!strcmp(argv[i], "--scale") && i + 1 < argc) {
            scale = atoi(argv[++i]);
            continue;
        }
        if (!strcmp(argv[i], "--all")) all = 1;
        else if (!strcmp(argv[i], "--sweep")) sweep = 1;
        else if (!strcmp(argv[i], "--variant") && i + 1 < argc) only = argv[++i];
        else if (!strcmp(argv[i], "--combine") && i + 1 < argc) comb = argv[++i];
    }
    scry_err err = {0};
    if (onnx_global_init(1, &err)) {
        fprintf(stderr, "people: %s\n", err.msg);
        return 1;
    }
    g_photos = calloc(MAX_IMAGES, sizeof *g_photos);
    char path[1200], lfw[1200];
    snprintf(lfw, sizeof lfw, "%s/data/lfw/images", shared);
    pair *pairs = malloc(NPAIRS_MAX * sizeof *pairs);
    snprintf(path, sizeof path, "%s/data/lfw/pairs_devtest.txt", shared);
    int npairs = read_pairs(path, pairs);
    static int photo_of[MAX_IMAGES], person_of[MAX_IMAGES];
    snprintf(path, sizeof path, "%s/data/lfw/clusters.json", shared);
    int nfaces = read_clusters(path, photo_of, person_of, MAX_IMAGES);
    printf("LFW: %d pairs, %d clustering photos of %d people\n", npairs, nfaces,
           person_of[nfaces - 1] + 1);
    faces_model *fm = NULL;
    if (faces_load(models, &fm, &err)) {
        fprintf(stderr, "people: %s\n", err.msg);
        return 1;
    }
    detect_all(fm, lfw);
    faces_free(fm);

    const facerec_variant *base = facerec_find("human-faceres-3.3.6");
    const facerec_variant *prod = facerec_find(FACEREC_DEFAULT);
    for (const facerec_variant *v = facerec_variants; v->name; v++) {
        int wanted = all || v == base || (only && !strncmp(only, v->name, strlen(only)));
        if (!wanted) continue;
        double ms = 0;
        float *d = describe_all(models, v, &ms);
        if (!d) continue;
        verify_fig vf = verify(d, v->dim, pairs, npairs);
        printf("== %s%s (%s, %d-d): verify_acc %.4f (10-fold CV); best on all 1000 %.4f at cos %.3f; "
               "mean cos same %.3f, different %.3f; %.2f ms/face CPU\n",
               v->name, v == base ? " [baseline: the stored descriptor as is]" : "", v->file, v->dim,
               vf.cv_acc, vf.all_acc, vf.all_t, vf.same_mean, vf.diff_mean, ms);
        if (v == base || all) {
            choice c = cluster_sweep(d, v->dim, photo_of, person_of, nfaces, sweep && v == base);
            if (c.method >= 0)
                printf("  best by the rule: %s t=%.2f (report half: pairwise P %.3f R %.3f)\n",
                       methods[c.method].name, c.t, c.q[HALF_REPORT].pair_precision,
                       c.q[HALF_REPORT].pair_recall);
        }
        free(d);
    }
    if (comb) combine(models, comb, pairs, npairs, photo_of, person_of, nfaces, sweep);

    /* The product: the stored descriptor (FACEREC_DEFAULT) in the face space
     * (people/facespace.h: the mean training face taken out), clustered as
     * people/people.c does, at its thresholds. */
    facespace fs = {0};
    if (!prod || facespace_load(models, &fs, &err)) {
        fprintf(stderr, "people: %s\n", prod ? err.msg : "no default variant");
        return 1;
    }
    double ms = 0;
    float *d = describe_all(models, prod, &ms);
    if (!d) return 1;
    for (int i = 0; i < g_nphotos; i++)
        facespace_apply(&fs, d + (size_t)i * prod->dim, d + (size_t)i * prod->dim);
    verify_fig pv = verify(d, prod->dim, pairs, npairs);
    printf("== product: %s in the face space (the mean of %u training faces taken out): verify_acc "
           "%.4f (10-fold CV); best on all 1000 %.4f at cos %.3f; mean cos same %.3f, different %.3f; "
           "%.2f ms/face CPU\n", prod->name, fs.faces, pv.cv_acc, pv.all_acc, pv.all_t, pv.same_mean,
           pv.diff_mean, ms);
    printf("  at cos %.2f (PEOPLE_FACE_MATCH, search by face): same-person pairs accepted %.3f, "
           "different people accepted %.3f\n", PEOPLE_FACE_MATCH, pv.tar, pv.far);
    choice c = cluster_sweep(d, prod->dim, photo_of, person_of, nfaces, sweep);
    if (c.method >= 0) printf("  best by the rule: %s t=%.2f\n", methods[c.method].name, c.t);
    cluster_quality q[2][3];
    const float ts[2] = {PEOPLE_RECLUSTER_MIN, PEOPLE_JOIN_MIN};
    const int meth[2] = {0, 2};
    const char *what[2] = {"re-cluster job (average-link)", "indexing (incremental)"};
    for (int k = 0; k < 2; k++)
        for (int h = 0; h < 3; h++) {
            q[k][h] = run_cluster(meth[k], d, prod->dim, photo_of, person_of, nfaces, h, ts[k]);
            printf("product %s t=%.2f %-6s: pairwise P %.3f R %.3f   BCubed P %.3f R %.3f   "
                   "clusters >= 2: %d, singletons %d\n", what[k], ts[k], half_names[h],
                   q[k][h].pair_precision, q[k][h].pair_recall, q[k][h].bcubed_precision,
                   q[k][h].bcubed_recall, q[k][h].clusters, q[k][h].singletons);
        }
    /* how sparse the re-cluster's graph is: pairs it keeps */
    long long face_pairs = 0, kept = 0;
    for (int i = 0; i < nfaces; i++)
        for (int j = i + 1; j < nfaces; j++, face_pairs++)
            kept += facerec_similarity(d + (size_t)photo_of[i] * prod->dim, d + (size_t)photo_of[j] * prod->dim,
                                       prod->dim) >= CLUSTER_EDGE_MIN;
    printf("pairs with cosine >= %.2f (kept by the re-cluster): %.1f%% of %lld\n", CLUSTER_EDGE_MIN,
           100.0 * kept / (face_pairs ? face_pairs : 1), face_pairs);
    /* time: clustering the 710 faces, and a synthetic library for scale */
    double t0 = cpu_s();
    run_cluster(0, d, prod->dim, photo_of, person_of, nfaces, HALF_ALL, PEOPLE_RECLUSTER_MIN);
    double t_full = cpu_s() - t0;
    t0 = cpu_s();
    run_cluster(2, d, prod->dim, photo_of, person_of, nfaces, HALF_ALL, PEOPLE_JOIN_MIN);
    double t_inc = cpu_s() - t0;
    printf("clustering time (CPU), %d faces: re-cluster %.2f s; incremental %.3f ms per face\n", nfaces,
           t_full, t_inc * 1000 / nfaces);
    if (scale > 0) scale_run(prod->dim, scale);
    free(d);
    facespace_free(&fs);
    for (int i = 0; i < g_nphotos; i++) free(g_photos[i].img.px);
    free(g_photos);
    free(pairs);
    printf("people: verify_acc=%.4f cluster_precision=%.3f cluster_recall=%.3f ms_per_face=%.2f\n",
           pv.cv_acc, q[0][HALF_ALL].pair_precision, q[0][HALF_ALL].pair_recall, ms);
    return 0;
}
