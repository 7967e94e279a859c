/* search_bench.c -- query latency of the search engine at 10k and 100k images.
 * Built and run by bench/search against build/libscry.a.
 *
 * Images are synthetic but shaped like the pipeline's output: COCO labels
 * drawn with a skewed distribution (person in ~45% of images, a long tail
 * for the rest), counts, per-object colours, faces with emotions, OCR text on
 * ~10%, EXIF dates on ~70%, the composed caption (vision/caption.h) and the
 * sentence vector of search_document_text() from the real SIF encoder. They
 * are written through the store API exactly as the pipeline writes them
 * (meta_upload_commit, meta_image_update_facts, meta_vector_put).
 *
 * The query mix: the 1,195 human COCO captions (free text, like a person
 * describing a photo) and as many templated structured queries (labels,
 * counts, colours, negations, emotions, hypernyms, quoted text, dates).
 * Latency is search_run end to end (sync check + parse + encode + rank +
 * fetch of the page) on one thread, limit 20. Each size starts with a fresh
 * lexicon so that query-word lookups are measured cold on the first pass;
 * the second pass repeats the mix (warm).
 *
 *   search_bench DIR N1 [N2 ...]       (sizes ascending)
 *   SEARCH_BENCH_POPULATE_ONLY=1 search_bench DIR N   only write DIR (a data
 *                                       folder `scry serve` opens; bench/web)
 *   SEARCH_BENCH_META=postgres://...    the metadata there instead of DIR/meta.db
 * Last line: search: p50_ms_100k=A p99_ms_100k=B  (first pass, largest size) */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/labels.h"
#include "core/log.h"
#include "core/util.h"
#include "search/search.h"
#include "store/meta.h"
#include "text/encoder.h"
#include "text/lexicon.h"
#include "text/query.h"
#include "text/wordvec.h"
#include "vision/caption.h"
#include "vision/concepts.h"

#define MAXQ 4096

static uint64_t rng = 0x9E3779B97F4A7C15ULL;
static uint64_t next_u64(void) {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}
static int rnd(int n) { return (int)(next_u64() % (uint64_t)n); }
static double unif(void) { return (double)(next_u64() >> 11) / 9007199254740992.0; }

/* Non-person labels by a Zipf-like law over a fixed shuffled order. */
static int order[SCRY_COCO_COUNT - 1];
static double cdf[SCRY_COCO_COUNT - 1];
static void init_labels(void) {
    for (int i = 0; i < SCRY_COCO_COUNT - 1; i++) order[i] = i + 1;
    for (int i = SCRY_COCO_COUNT - 2; i > 0; i--) {
        int j = rnd(i + 1), t = order[i];
        order[i] = order[j];
        order[j] = t;
    }
    double s = 0;
    for (int i = 0; i < SCRY_COCO_COUNT - 1; i++) s += 1.0 / (i + 2);
    double c = 0;
    for (int i = 0; i < SCRY_COCO_COUNT - 1; i++) cdf[i] = (c += 1.0 / (i + 2) / s);
}
static int draw_label(void) {
    double u = unif();
    for (int i = 0; i < SCRY_COCO_COUNT - 1; i++)
        if (u <= cdf[i]) return order[i];
    return order[SCRY_COCO_COUNT - 2];
}

static const char *const ocr_words[] = {"OPEN", "STOP", "EXIT", "SALE", "CAFE", "HOTEL", "PIZZA",
                                        "PARKING", "BUS", "POLICE", "TAXI", "BAR", "MARKET",
                                        "HAPPY BIRTHDAY", "WELCOME", "NO ENTRY", "BANK"};
#define NOCR (int)(sizeof ocr_words / sizeof *ocr_words)
/* happy and neutral dominate real faces */
static const int emotion_mix[] = {3, 3, 3, 6, 6, 6, 4, 5, 0, 2, 3, 6};

typedef struct gen {
    image_rec rec;
    char text[64];
} gen;

static void make_image(image_rec *r, int serial) {
    int labels[24], colors[24], n = 0;
    if (unif() < 0.45) {
        int k = unif() < 0.6 ? 1 : 2 + rnd(7);
        for (int i = 0; i < k && n < 24; i++) {
            labels[n] = 0;
            colors[n++] = unif() < 0.7 ? rnd(SCRY_COLOR_COUNT) : -1;
        }
    }
    int others = 1 + rnd(4);
    for (int o = 0; o < others; o++) {
        int l = draw_label(), k = unif() < 0.65 ? 1 : 2 + rnd(4);
        for (int i = 0; i < k && n < 24; i++) {
            labels[n] = l;
            colors[n++] = unif() < 0.7 ? rnd(SCRY_COLOR_COUNT) : -1;
        }
    }
    json_t *tags = json_array();
    for (int i = 0; i < n; i++) {
        json_t *t = json_pack("{s:s,s:f,s:[i,i,i,i]}", "label", scry_coco_labels[labels[i]], "score",
                              0.3 + 0.7 * unif(), "box", rnd(500), rnd(400), 20 + rnd(300), 20 + rnd(300));
        if (colors[i] >= 0) json_object_set_new(t, "color", json_string(scry_color_names[colors[i]]));
        json_array_append_new(tags, t);
    }
    int emotions[8], nf = 0;
    json_t *faces = json_array();
    if (n && labels[0] == 0 && unif() < 0.5) {
        nf = 1 + rnd(3);
        for (int i = 0; i < nf; i++) {
            emotions[i] = emotion_mix[rnd((int)(sizeof emotion_mix / sizeof *emotion_mix))];
            json_array_append_new(faces, json_pack("{s:[i,i,i,i],s:s,s:{}}", "box", rnd(500), rnd(400), 40, 40,
                                                   "emotion", scry_emotion_labels[emotions[i]], "scores"));
        }
    }
    const char *ocr = unif() < 0.10 ? ocr_words[rnd(NOCR)] : NULL;
    json_t *cols = json_array();
    double left = 1.0;
    int nc = 2 + rnd(3);
    for (int i = 0; i < nc; i++) {
        double f = i == nc - 1 ? left : left * (0.3 + 0.5 * unif());
        left -= f;
        json_array_append_new(cols, json_pack("{s:s,s:s,s:f}", "name", scry_color_names[rnd(SCRY_COLOR_COUNT)],
                                              "hex", "#808080", "fraction", f));
    }
    caption_object objs[24];
    int nobj = caption_tally(labels, colors, NULL, NULL, n, objs, 24);
    caption_input in = {.objects = objs, .n_objects = nobj, .face_emotions = emotions, .n_faces = nf,
                        .ocr_text = ocr};
    char *cap = NULL;
    caption_compose(&in, &cap, NULL);

    memset(r, 0, sizeof *r);
    scry_new_id(r->id);
    snprintf(r->sha256, sizeof r->sha256, "%064x", serial);
    char fn[64];
    snprintf(fn, sizeof fn, serial % 3 ? "IMG_%05d.jpg" : "DSC%05d.JPG", serial % 100000);
    r->filename = strdup(fn);
    strcpy(r->format, "jpeg");
    r->bytes = 100000 + rnd(4000000);
    r->width = 1024;
    r->height = 768;
    if (unif() < 0.7) {
        int64_t t0 = 1104537600; /* 2005-01-01 */
        r->taken_at = t0 + (int64_t)(unif() * 20 * 365.25 * 86400);
    }
    r->exif_json = strdup("{}");
    r->colors_json = json_dumps(cols, JSON_COMPACT);
    r->caption = cap ? cap : strdup("");
    r->tags_json = json_dumps(tags, JSON_COMPACT);
    r->faces_json = json_dumps(faces, JSON_COMPACT);
    r->text = ocr ? strdup(ocr) : NULL;
    r->text_json = strdup("[]");
    r->phash = next_u64();
    r->has_phash = 1;
    strcpy(r->status, "ready");
    json_decref(tags);
    json_decref(faces);
    json_decref(cols);
}

/* ---- queries ------------------------------------------------------------------ */

static char *queries[MAXQ];
static int nq;

static void add_query(const char *s) {
    if (nq < MAXQ) queries[nq++] = strdup(s);
}

static void load_captions(const char *path) {
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "note: %s missing, templated queries only\n", path);
        return;
    }
    char line[65536];
    while (fgets(line, sizeof line, f)) {
        json_t *o = json_loads(line, 0, NULL);
        json_t *caps = o ? json_object_get(o, "captions") : NULL;
        for (size_t i = 0; i < json_array_size(caps); i++) add_query(json_string_value(json_array_get(caps, i)));
        json_decref(o);
    }
    fclose(f);
}

static void templated_queries(int n) {
    static const char *const numbers[] = {"two", "three", "four", "five"};
    static const char *const hyper[] = {"animals", "vehicles", "furniture", "food", "kitchen stuff",
                                        "sports equipment", "electronics", "fruit", "pets", "birds"};
    static const char *const emo[] = {"smiling", "happy", "sad", "angry", "surprised", "crying",
                                      "laughing", "scared"};
    static const char *const dates[] = {"in 2019", "from summer 2018", "last year", "in march 2015",
                                        "from the 2010s", "between 2012 and 2014"};
    for (int i = 0; i < n; i++) {
        char q[256], pl[64], pl2[64];
        int l = draw_label(), l2 = draw_label();
        caption_plural(l, pl, sizeof pl);
        caption_plural(l2, pl2, sizeof pl2);
        const char *name = scry_coco_labels[l], *color = scry_color_names[rnd(SCRY_COLOR_COUNT)];
        switch (rnd(14)) {
        case 0: snprintf(q, sizeof q, "%s", name); break;
        case 1: snprintf(q, sizeof q, "a %s and a %s", name, scry_coco_labels[l2]); break;
        case 2: snprintf(q, sizeof q, "%s %s", numbers[rnd(4)], pl); break;
        case 3: snprintf(q, sizeof q, "at least %d people with a %s", 2 + rnd(4), name); break;
        case 4: snprintf(q, sizeof q, "a %s %s", color, name); break;
        case 5: snprintf(q, sizeof q, "%s without people", pl); break;
        case 6: snprintf(q, sizeof q, "%s but no %s", pl, pl2); break;
        case 7: snprintf(q, sizeof q, "%s people", emo[rnd(8)]); break;
        case 8: snprintf(q, sizeof q, "%s", hyper[rnd(10)]); break;
        case 9: snprintf(q, sizeof q, "a sign that says \"%s\"", ocr_words[rnd(NOCR)]); break;
        case 10: snprintf(q, sizeof q, "%s %s", pl, dates[rnd(6)]); break;
        case 11: snprintf(q, sizeof q, "%s %s", color, pl); break;
        case 12: snprintf(q, sizeof q, "a %s person next to a %s %s", emo[rnd(8)], color, name); break;
        default: snprintf(q, sizeof q, "photos of %s on a %s", pl, scry_coco_labels[l2]); break;
        }
        add_query(q);
    }
}

/* ---- measuring ------------------------------------------------------------------ */

static int cmp_d(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}
static double pct(const double *sorted, int n, double p) {
    if (!n) return 0;
    int i = (int)(p * (n - 1) + 0.5);
    return sorted[i];
}

typedef struct lat { double p50, p90, p99, max, mean, cpu_p50; } lat;

static double thread_cpu_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* dump (may be NULL): one line per query, the ranked rowids and scores, for
 * comparing the rankings of two builds (bench/search.d/compare.py). */
static lat run_mix(search_engine *se, double *ms, int *nresults_out, FILE *dump) {
    int nres = 0;
    double *cpu = malloc(sizeof(double) * nq);
    for (int i = 0; i < nq; i++) {
        search_params p;
        search_params_init(&p);
        p.q = queries[i];
        p.limit = 20;
        p.now = 1735689600; /* 2025-01-01, fixed for relative dates */
        search_response r;
        scry_err err = {0};
        double t0 = scry_mono_s(), c0 = thread_cpu_s();
        int rc = search_run(se, &p, &r, &err);
        ms[i] = (scry_mono_s() - t0) * 1000;
        cpu[i] = (thread_cpu_s() - c0) * 1000;
        if (rc) {
            fprintf(stderr, "search failed: %s\n", err.msg);
            exit(1);
        }
        nres += r.n;
        if (dump) {
            fprintf(dump, "%d", i);
            for (int j = 0; j < r.n; j++) fprintf(dump, " %lld:%.5f", (long long)r.results[j].rowid, r.results[j].score);
            fputc('\n', dump);
        }
        search_response_free(&r);
    }
    /* SEARCH_BENCH_SLOW=1: every query's wall and CPU ms on stderr, to find
     * what the slowest have in common. */
    if (dump && getenv("SEARCH_BENCH_SLOW"))
        for (int i = 0; i < nq; i++) fprintf(stderr, "slow %.2f %.2f %s\n", ms[i], cpu[i], queries[i]);
    double *s = malloc(sizeof(double) * nq), sum = 0;
    memcpy(s, ms, sizeof(double) * nq);
    qsort(s, (size_t)nq, sizeof *s, cmp_d);
    for (int i = 0; i < nq; i++) sum += s[i];
    lat l = {pct(s, nq, 0.5), pct(s, nq, 0.9), pct(s, nq, 0.99), s[nq - 1], sum / nq, 0};
    qsort(cpu, (size_t)nq, sizeof *cpu, cmp_d);
    l.cpu_p50 = pct(cpu, nq, 0.5);
    free(cpu);
    free(s);
    *nresults_out = nres;
    return l;
}

static void die(const char *what, const scry_err *err) {
    fprintf(stderr, "%s: %s\n", what, err->msg);
    exit(1);
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: search_bench DIR N1 [N2 ...]\n");
        return 2;
    }
    log_set_level(LOG_WARN);
    const char *dir = argv[1];
    const char *shared = getenv("SCRY_SHARED") ? getenv("SCRY_SHARED") : "../shared";
    const char *wvpath = getenv("SCRY_WORDVEC") ? getenv("SCRY_WORDVEC") : "deps/wordvec/wordvec.bin";
    scry_err err = {0};
    init_labels();

    scry_wordvec *wv;
    scry_lexicon *lex;
    scry_encoder *enc;
    if (scry_wordvec_open(wvpath, &wv, &err)) die("word vectors", &err);
    if (scry_lexicon_open(&lex, &err)) die("lexicon", &err);
    if (scry_sif_encoder_new(wv, lex, NULL, &enc, &err)) die("encoder", &err);
    /* The concept head, as the server loads it: image vectors are then the
     * facts' sentence vector and a projection side by side (search.h), and
     * every query is also projected. Synthetic images have no pixels, so
     * their projection half is the projection of their facts' text -- a
     * stand-in of the same size in the same space, so the index, the
     * fusion and the query side cost what they cost (SEARCH_BENCH_CONCEPTS=0:
     * without the head, as before it existed). */
    concepts_model *cm = NULL;
    const char *models = getenv("SCRY_MODELS") ? getenv("SCRY_MODELS") : "deps/models";
    if (!getenv("SEARCH_BENCH_CONCEPTS") || atoi(getenv("SEARCH_BENCH_CONCEPTS")))
        if (concepts_load(models, &cm, &err)) die("concept head", &err);
    int vdim = search_vector_dim(enc, cm);
    char vname[128];
    search_vector_name(enc, cm, vname, sizeof vname);
    printf("image vectors: %s (%d floats)\n", vname, vdim);

    char path[1024];
    snprintf(path, sizeof path, "%s/meta.db", dir);
    /* SEARCH_BENCH_META=postgres://...: write the images there instead
     * (bench/cluster populates a PostgreSQL database this way). */
    if (getenv("SEARCH_BENCH_META")) snprintf(path, sizeof path, "%s", getenv("SEARCH_BENCH_META"));
    meta_db *db;
    if (meta_open(&db, path, &err)) die("meta_open", &err);

    char cap_path[1024];
    snprintf(cap_path, sizeof cap_path, "%s/data/coco/captions.jsonl", shared);
    load_captions(cap_path);
    templated_queries(nq > 0 ? nq : 1200);
    /* SEARCH_BENCH_QUERIES=N: an evenly spaced subset, for quick runs */
    int want = getenv("SEARCH_BENCH_QUERIES") ? atoi(getenv("SEARCH_BENCH_QUERIES")) : 0;
    if (want > 0 && want < nq) {
        int k = 0;
        for (int i = 0; i < want; i++) {
            int j = (int)((long)i * nq / want);
            char *t = queries[k];
            queries[k++] = queries[j];
            queries[j] = t;
        }
        for (int i = k; i < nq; i++) free(queries[i]);
        nq = k;
    }
    printf("query mix: %d queries (COCO captions + templated structured queries)\n", nq);

    float *vec = malloc(sizeof(float) * (size_t)vdim);
    float *sif = malloc(sizeof(float) * (size_t)enc->dim);
    float *proj = cm ? malloc(sizeof(float) * (size_t)concepts_proj_dim(cm)) : NULL;
    double enc_s = 0;
    long enc_n = 0;
    int have = (int)meta_image_count(db); /* a kept DIR is reused */
    double p50_last = 0, p99_last = 0;
    printf("\n%8s %9s %9s %9s %9s %9s | %9s %9s | %10s %10s\n", "images", "p50 ms", "p90 ms", "p99 ms",
           "max ms", "mean ms", "warm p50", "warm p99", "start s", "restart s");
    for (int a = 2; a < argc; a++) {
        int target = atoi(argv[a]);
        /* 1. grow the collection to target through the store API */
        double t_ins = scry_mono_s();
        while (have < target) {
            int batch = target - have < 1000 ? target - have : 1000;
            image_rec *recs = calloc((size_t)batch, sizeof *recs);
            meta_new_image *news = calloc((size_t)batch, sizeof *news);
            for (int i = 0; i < batch; i++) {
                make_image(&recs[i], have + i);
                memcpy(news[i].id, recs[i].id, sizeof news[i].id);
                memcpy(news[i].sha256, recs[i].sha256, sizeof news[i].sha256);
                news[i].filename = recs[i].filename;
                news[i].format = "jpeg";
                news[i].bytes = recs[i].bytes;
            }
            char job[SCRY_ID_LEN + 1];
            scry_new_id(job);
            if (meta_upload_commit(db, job, news, batch, &err)) die("upload_commit", &err);
            for (int i = 0; i < batch; i++) {
                if (meta_image_update_facts(db, &recs[i], &err)) die("update_facts", &err);
                image_rec got;
                if (meta_image_get(db, recs[i].id, &got, &err)) die("image_get", &err);
                char *doc = search_document_text(&recs[i]);
                double t0 = scry_mono_s();
                if (cm && scry_encode(enc, doc, sif, &err) > 0) concepts_project_text(cm, sif, NULL, 0, proj);
                else if (cm) memset(proj, 0, sizeof(float) * (size_t)concepts_proj_dim(cm));
                int words = search_image_vector(enc, cm, &recs[i], proj, vec, &err);
                enc_s += scry_mono_s() - t0;
                enc_n++;
                if (words > 0 && meta_vector_put(db, got.rowid, vname, vec, vdim, &err))
                    die("vector_put", &err);
                free(doc);
                image_rec_free(&got);
                image_rec_free(&recs[i]);
            }
            free(recs);
            free(news);
            have += batch;
        }
        double ins_s = scry_mono_s() - t_ins;
        /* SEARCH_BENCH_POPULATE_ONLY=1: leave DIR as a data folder of
         * `target` images for another benchmark (bench/web serves it) */
        if (getenv("SEARCH_BENCH_POPULATE_ONLY")) {
            printf("%8d images in %s (written in %.0f s)\n", target, dir, ins_s);
            continue;
        }

        /* 2. start-up: fresh index dir (index built from stored vectors), then
         * a restart that loads the saved index. Both sync the catalog. */
        char idx[1100];
        snprintf(idx, sizeof idx, "%s/index-%d", dir, target);
        search_engine *se;
        double t0 = scry_mono_s();
        if (search_create(&se, db, enc, lex, cm, idx, &err)) die("search_create", &err);
        double start_s = scry_mono_s() - t0;
        search_free(se); /* saves the index */
        t0 = scry_mono_s();
        if (search_create(&se, db, enc, lex, cm, idx, &err)) die("search_create", &err);
        double restart_s = scry_mono_s() - t0;

        /* 3. fresh lexicon + encoder: query words are looked up cold */
        search_free(se);
        scry_encoder_free(enc);
        scry_lexicon_close(lex);
        if (scry_lexicon_open(&lex, &err)) die("lexicon", &err);
        if (scry_sif_encoder_new(wv, lex, NULL, &enc, &err)) die("encoder", &err);
        if (search_create(&se, db, enc, lex, cm, idx, &err)) die("search_create", &err);

        double *ms = malloc(sizeof(double) * nq);
        int nres1, nres2;
        /* SEARCH_BENCH_DUMP=FILE: the first pass's rankings, largest size */
        const char *dump_path = getenv("SEARCH_BENCH_DUMP");
        FILE *dump = dump_path && a == argc - 1 ? fopen(dump_path, "w") : NULL;
        lat cold = run_mix(se, ms, &nres1, dump);
        if (dump) fclose(dump);
        lat warm = run_mix(se, ms, &nres2, NULL);
        printf("%8d %9.2f %9.2f %9.2f %9.2f %9.2f | %9.2f %9.2f | %10.2f %10.2f   (inserted in %.0f s; %.1f results/query)\n",
               target, cold.p50, cold.p90, cold.p99, cold.max, cold.mean, warm.p50, warm.p99, start_s,
               restart_s, ins_s, (double)nres1 / nq);
        /* CPU time of the searching thread: what the engine costs, without
         * the time other processes on a shared box took from it */
        printf("%8s cpu p50 %.2f ms (first pass), %.2f ms (warm)\n", "", cold.cpu_p50, warm.cpu_p50);
        /* The process's resident memory with the engine open (catalog,
         * keyword index, HNSW; plus the lexicon, the word vectors mapped,
         * SQLite's cache), per image: what a search node needs. */
        long rss_kb = 0;
        FILE *st = fopen("/proc/self/status", "r");
        char line[256];
        while (st && fgets(line, sizeof line, st))
            if (!strncmp(line, "VmRSS:", 6)) rss_kb = atol(line + 6);
        if (st) fclose(st);
        hnsw_stats hs;
        int have_ix = search_index_stats(se, &hs) == SCRY_OK;
        printf("%8s RSS %.0f MiB = %.0f B per image (index %zu B per vector)\n", "", rss_kb / 1024.0,
               rss_kb * 1024.0 / target, have_ix && hs.live ? (hs.bytes_heap + hs.bytes_mapped) / hs.live : 0);
        /* graph searches that found too few and were answered by an exact
         * scan (islands in the graph; each costs a scan of every vector) */
        printf("%8s graph searches answered exactly: %zu of %d queries x 2 passes\n", "",
               have_ix ? hs.graph_short : 0, nq);
        if (getenv("SEARCH_BENCH_SLOW")) {
            /* the slowest queries of the warm pass, for profiling */
            for (int k = 0; k < 8; k++) {
                int worst = 0;
                for (int i = 1; i < nq; i++) if (ms[i] > ms[worst]) worst = i;
                printf("   slow: %7.2f ms  %s\n", ms[worst], queries[worst]);
                ms[worst] = -1;
            }
        }
        free(ms);
        search_free(se);
        p50_last = cold.p50;
        p99_last = cold.p99;
    }
    if (enc_n) printf("\nencoder: %.0f sentences/s (document texts, 1 thread, %ld sentences)\n", enc_n / enc_s, enc_n);
    printf("search: p50_ms_100k=%.2f p99_ms_100k=%.2f\n", p50_last, p99_last);
    free(vec);
    free(sif);
    free(proj);
    concepts_free(cm);
    for (int i = 0; i < nq; i++) free(queries[i]);
    meta_close(db);
    scry_encoder_free(enc);
    scry_lexicon_close(lex);
    scry_wordvec_close(wv);
    return 0;
}
