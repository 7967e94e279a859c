// ann_bench.cc -- benchmark harness for bench/ann (C++ only because hnswlib
// and FAISS are C++ libraries; Scry's index is used through its C header).
//
// Same data, same process image, single thread. Each library runs in its own
// forked child so that its memory is measured as the RSS growth of a process
// that holds nothing else, and so that one library's heap cannot flatter or
// penalise the next. Results come back through a shared anonymous mapping.
//
// Environment (all optional):
//   SCRY_ANN_DATA  raw float32 N x 100 file (default $SCRY_DEPS/wordvec/vectors.f32)
//   SCRY_ANN_SET   glove (the rows themselves) | 1m (normalised sums of random
//                  pairs of rows, 1,000,000 of them)
//   SCRY_ANN_N     cap on base vectors (quick runs)
//   SCRY_ANN_NQ    queries (default 1000; held out of the base set)
//   SCRY_ANN_M, SCRY_ANN_EFC   graph parameters shared by all HNSWs (16, 200)
//   SCRY_ANN_LIBS  comma list of scry,hnswlib,faiss-hnsw,faiss-ivf (default all)
//   SCRY_ANN_DIM   dimension of the file rows (default 100)
#include <faiss/IndexFlat.h>
#include <faiss/IndexHNSW.h>
#include <faiss/IndexIVFFlat.h>
#include <hnswlib/hnswlib.h>
#include <omp.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <thread>
#include <vector>

extern "C" {
#include "index/hnsw.h"
}

static double now_s() {
    return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// CPU seconds of this (single-threaded) process: the machine is shared, so
// wall-clock time would measure the neighbours' load as much as ours.
static double cpu_s() {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static long rss_bytes() {
    FILE *f = fopen("/proc/self/statm", "r");
    long pages = 0, rss = 0;
    if (f) {
        if (fscanf(f, "%ld %ld", &pages, &rss) != 2) rss = 0;
        fclose(f);
    }
    return rss * sysconf(_SC_PAGESIZE);
}

static const char *env_or(const char *k, const char *d) {
    const char *v = getenv(k);
    return v && *v ? v : d;
}

static void normalise(float *v, int d) {
    double s = 0;
    for (int i = 0; i < d; i++) s += (double)v[i] * v[i];
    float inv = s > 0 ? (float)(1.0 / std::sqrt(s)) : 0.f;
    for (int i = 0; i < d; i++) v[i] *= inv;
}

// ---------------------------------------------------------------- results

enum { MAXPTS = 48, K = 10 };
struct Point { int param; double recall, qps; };
struct LibResult {
    char name[32];
    char param_name[16];
    int ok;
    double build_s, bytes_per_vec;
    int npts;
    Point pts[MAXPTS];
};

// --------------------------------------------------------------- dataset

struct Data {
    int d = 100;
    size_t n = 0, nq = 0;
    std::vector<float> base, queries;
    std::vector<int> gt;  // nq x K row ids into base
};

static Data load_data() {
    Data ds;
    ds.d = atoi(env_or("SCRY_ANN_DIM", "100"));
    std::string deps = env_or("SCRY_DEPS", "deps");
    std::string path = env_or("SCRY_ANN_DATA", (deps + "/wordvec/vectors.f32").c_str());
    FILE *f = fopen(path.c_str(), "rb");
    if (!f) {
        fprintf(stderr, "ann: cannot open %s (run scripts/setup.sh or set SCRY_ANN_DATA)\n", path.c_str());
        exit(2);
    }
    fseek(f, 0, SEEK_END);
    size_t rows = (size_t)ftell(f) / (sizeof(float) * ds.d);
    fseek(f, 0, SEEK_SET);
    std::vector<float> all(rows * ds.d);
    if (fread(all.data(), sizeof(float) * ds.d, rows, f) != rows) {
        fprintf(stderr, "ann: short read on %s\n", path.c_str());
        exit(2);
    }
    fclose(f);
    for (size_t i = 0; i < rows; i++) normalise(&all[i * ds.d], ds.d);
    std::string set = env_or("SCRY_ANN_SET", "glove");
    ds.nq = (size_t)atol(env_or("SCRY_ANN_NQ", "1000"));
    size_t cap = (size_t)atol(env_or("SCRY_ANN_N", "0"));
    std::mt19937_64 rng(20261128);
    // Held-out queries: a random subset of rows removed from the base.
    std::vector<size_t> perm(rows);
    for (size_t i = 0; i < rows; i++) perm[i] = i;
    std::shuffle(perm.begin(), perm.end(), rng);
    std::vector<char> is_query(rows, 0);
    for (size_t i = 0; i < ds.nq; i++) is_query[perm[i]] = 1;
    if (set == "1m") {
        // Base: normalised sums of two random non-query rows; queries: sums of
        // two held-out rows (never seen by the index).
        ds.n = cap ? cap : 1000000;
        ds.base.resize(ds.n * ds.d);
        std::uniform_int_distribution<size_t> pick(ds.nq, rows - 1);
        for (size_t i = 0; i < ds.n; i++) {
            const float *a = &all[perm[pick(rng)] * ds.d], *b = &all[perm[pick(rng)] * ds.d];
            float *o = &ds.base[i * ds.d];
            for (int j = 0; j < ds.d; j++) o[j] = a[j] + b[j];
            normalise(o, ds.d);
        }
        ds.queries.resize(ds.nq * ds.d);
        for (size_t i = 0; i < ds.nq; i++) {
            const float *a = &all[perm[i] * ds.d], *b = &all[perm[(i + 1) % ds.nq] * ds.d];
            float *o = &ds.queries[i * ds.d];
            for (int j = 0; j < ds.d; j++) o[j] = a[j] + b[j];
            normalise(o, ds.d);
        }
    } else {
        size_t avail = rows - ds.nq;
        ds.n = cap && cap < avail ? cap : avail;
        ds.base.reserve(ds.n * ds.d);
        for (size_t i = 0; i < rows && ds.base.size() < ds.n * ds.d; i++)
            if (!is_query[i]) ds.base.insert(ds.base.end(), &all[i * ds.d], &all[(i + 1) * ds.d]);
        for (size_t i = 0; i < ds.nq; i++)
            ds.queries.insert(ds.queries.end(), &all[perm[i] * ds.d], &all[(perm[i] + 1) * ds.d]);
    }
    printf("ann: data %s set=%s base=%zu queries=%zu dim=%d\n", path.c_str(), set.c_str(), ds.n, ds.nq, ds.d);
    return ds;
}

// Ground truth by plain brute force (independent of every library), on two
// threads: the timed runs below are single-threaded.
static void ground_truth(Data &ds) {
    double t0 = now_s();
    ds.gt.assign(ds.nq * K, -1);
    auto work = [&](size_t q0, size_t q1) {
        std::vector<std::pair<float, int>> top;
        for (size_t q = q0; q < q1; q++) {
            const float *qv = &ds.queries[q * ds.d];
            top.clear();
            float worst = -1e30f;
            for (size_t i = 0; i < ds.n; i++) {
                const float *v = &ds.base[i * ds.d];
                float s = 0;
#pragma omp simd reduction(+ : s)
                for (int j = 0; j < ds.d; j++) s += qv[j] * v[j];
                if (top.size() < K || s > worst) {
                    top.emplace_back(s, (int)i);
                    std::sort(top.begin(), top.end(), [](auto &a, auto &b) { return a.first > b.first; });
                    if (top.size() > K) top.pop_back();
                    worst = top.back().first;
                }
            }
            for (int k = 0; k < K; k++) ds.gt[q * K + k] = top[k].second;
        }
    };
    std::thread t1(work, 0, ds.nq / 2);
    work(ds.nq / 2, ds.nq);
    t1.join();
    printf("ann: ground truth in %.1fs\n", now_s() - t0);
}

static double recall_of(const Data &ds, size_t q, const long *ids, int n) {
    int hit = 0;
    for (int k = 0; k < K; k++)
        for (int j = 0; j < n; j++)
            if (ids[j] == ds.gt[q * K + k]) { hit++; break; }
    return hit / (double)K;
}

// ------------------------------------------------------------ libraries

// A library under test: build() then search(q, param, out ids) -> count.
struct Lib {
    virtual ~Lib() {}
    virtual void build(const Data &ds) = 0;
    virtual int search(const float *q, int param, long *ids) = 0;
};

struct ScryLib : Lib {
    hnsw_index *ix = nullptr;
    int M, efc;
    ScryLib(int M_, int efc_) : M(M_), efc(efc_) {}
    ~ScryLib() { hnsw_free(ix); }
    void build(const Data &ds) override {
        hnsw_params p;
        hnsw_params_default(&p);
        p.M = M;
        p.ef_construction = efc;
        p.capacity = ds.n;
        scry_err err{};
        if (hnsw_create(&ix, ds.d, &p, &err)) { fprintf(stderr, "%s\n", err.msg); exit(1); }
        for (size_t i = 0; i < ds.n; i++)
            if (hnsw_add(ix, (int64_t)i, &ds.base[i * ds.d], &err)) { fprintf(stderr, "%s\n", err.msg); exit(1); }
    }
    int search(const float *q, int ef, long *ids) override {
        hnsw_hit h[K];
        int n = 0;
        scry_err err{};
        hnsw_search(ix, q, K, ef, nullptr, h, &n, &err);
        for (int i = 0; i < n; i++) ids[i] = (long)h[i].label;
        return n;
    }
};

struct ScryExact : ScryLib {
    ScryExact() : ScryLib(16, 16) {}
    void build(const Data &) override {}
    // Exact search needs only the stored vectors; time it on the graph built
    // by the scry run is not possible across processes, so this entry builds
    // nothing and is run inside the scry child (see run_lib).
    int search(const float *q, int, long *ids) override {
        hnsw_hit h[K];
        int n = 0;
        scry_err err{};
        hnsw_exact_search(ix, q, K, nullptr, h, &n, &err);
        for (int i = 0; i < n; i++) ids[i] = (long)h[i].label;
        return n;
    }
};

struct HnswlibLib : Lib {
    hnswlib::InnerProductSpace *space = nullptr;
    hnswlib::HierarchicalNSW<float> *alg = nullptr;
    int M, efc;
    HnswlibLib(int M_, int efc_) : M(M_), efc(efc_) {}
    ~HnswlibLib() { delete alg; delete space; }
    void build(const Data &ds) override {
        space = new hnswlib::InnerProductSpace(ds.d);
        alg = new hnswlib::HierarchicalNSW<float>(space, ds.n, M, efc);
        for (size_t i = 0; i < ds.n; i++) alg->addPoint(&ds.base[i * ds.d], i);
    }
    int search(const float *q, int ef, long *ids) override {
        alg->setEf(ef);
        auto pq = alg->searchKnn(q, K);
        int n = (int)pq.size();
        for (int i = n - 1; i >= 0; i--) { ids[i] = (long)pq.top().second; pq.pop(); }
        return n;
    }
};

// Top-K ids of one query on a FAISS index (both FAISS libraries).
static int faiss_top(faiss::Index *idx, const float *q, long *ids) {
    float dist[K];
    faiss::Index::idx_t lab[K];
    idx->search(1, q, K, dist, lab);
    int n = 0;
    for (int i = 0; i < K; i++) if (lab[i] >= 0) ids[n++] = (long)lab[i];
    return n;
}

struct FaissHnsw : Lib {
    faiss::IndexHNSWFlat *idx = nullptr;
    int M, efc;
    FaissHnsw(int M_, int efc_) : M(M_), efc(efc_) {}
    ~FaissHnsw() { delete idx; }
    void build(const Data &ds) override {
        idx = new faiss::IndexHNSWFlat(ds.d, M, faiss::METRIC_INNER_PRODUCT);
        idx->hnsw.efConstruction = efc;
        idx->add((faiss::Index::idx_t)ds.n, ds.base.data());
    }
    int search(const float *q, int ef, long *ids) override {
        idx->hnsw.efSearch = ef;
        return faiss_top(idx, q, ids);
    }
};

struct FaissIvf : Lib {
    faiss::IndexFlatIP *quant = nullptr;
    faiss::IndexIVFFlat *idx = nullptr;
    ~FaissIvf() { delete idx; delete quant; }
    void build(const Data &ds) override {
        // nlist ~ 2*sqrt(n); k-means on a 40-per-list sample, 10 iterations
        // (Debian's reference BLAS makes training the slow part).
        size_t nlist = (size_t)(2 * std::sqrt((double)ds.n));
        quant = new faiss::IndexFlatIP(ds.d);
        idx = new faiss::IndexIVFFlat(quant, ds.d, nlist, faiss::METRIC_INNER_PRODUCT);
        idx->cp.niter = 10;
        size_t nt = std::min(ds.n, nlist * 40);
        idx->train((faiss::Index::idx_t)nt, ds.base.data());
        idx->add((faiss::Index::idx_t)ds.n, ds.base.data());
    }
    int search(const float *q, int nprobe, long *ids) override {
        idx->nprobe = nprobe;
        return faiss_top(idx, q, ids);
    }
};

// Sweep params ascending; stop once recall is ~saturated.
static void sweep(const Data &ds, Lib &lib, const std::vector<int> &params, LibResult &r,
                  int reps = 2) {
    std::vector<long> ids(K);
    for (int p : params) {
        if (r.npts >= MAXPTS) break;
        // Several passes, best time kept: damps interference from other processes.
        double rsum = 0, dt = 1e30;
        for (int rep = 0; rep < reps; rep++) {
            double t0 = cpu_s();
            rsum = 0;
            for (size_t q = 0; q < ds.nq; q++) {
                int n = lib.search(&ds.queries[q * ds.d], p, ids.data());
                rsum += recall_of(ds, q, ids.data(), n);
            }
            dt = std::min(dt, cpu_s() - t0);
        }
        Point &pt = r.pts[r.npts++];
        pt.param = p;
        pt.recall = rsum / ds.nq;
        pt.qps = ds.nq / dt;
        if (pt.recall >= 0.995) break;
    }
}

static void run_lib(const Data &ds, const std::string &name, int M, int efc, LibResult *out,
                    LibResult *exact_out) {
    std::vector<int> ef_grid = {10, 12, 14, 16, 20, 24, 28, 32, 40, 48, 56, 64, 80, 96, 112, 128,
                                160, 192, 224, 256, 320, 384, 448, 512, 640, 768, 1024, 1280, 1536, 2048};
    std::vector<int> probe_grid = {1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64, 96, 128, 192, 256};
    Lib *lib = nullptr;
    if (name == "scry") lib = new ScryLib(M, efc);
    else if (name == "hnswlib") lib = new HnswlibLib(M, efc);
    else if (name == "faiss-hnsw") lib = new FaissHnsw(M, efc);
    else if (name == "faiss-ivf") lib = new FaissIvf();
    else { fprintf(stderr, "ann: unknown library %s\n", name.c_str()); return; }
    snprintf(out->name, sizeof out->name, "%s", name.c_str());
    snprintf(out->param_name, sizeof out->param_name, "%s", name == "faiss-ivf" ? "nprobe" : "ef");
    long rss0 = rss_bytes();
    double t0 = cpu_s(), w0 = now_s();
    lib->build(ds);
    out->build_s = cpu_s() - t0;
    out->bytes_per_vec = (double)(rss_bytes() - rss0) / ds.n;
    printf("  %-11s built in %.1f CPU s (%.1f s wall), %.0f B/vector\n", name.c_str(), out->build_s,
           now_s() - w0, out->bytes_per_vec);
    fflush(stdout);
    sweep(ds, *lib, name == "faiss-ivf" ? probe_grid : ef_grid, *out);
    out->ok = 1;
    // The operating point decides the summary: time it again, best of 5
    // passes, so one disturbed pass on a shared machine cannot decide it.
    for (int i = 0; i < out->npts; i++)
        if (out->pts[i].recall >= 0.95) {
            LibResult again{};
            sweep(ds, *lib, {out->pts[i].param}, again, 5);
            out->pts[i].qps = std::max(out->pts[i].qps, again.pts[0].qps);
            break;
        }
    for (int i = 0; i < out->npts; i++)
        if (out->pts[i].recall >= 0.95 || i == out->npts - 1) {
            printf("  %-11s %s=%d recall@10=%.4f QPS=%.0f\n", name.c_str(), out->param_name,
                   out->pts[i].param, out->pts[i].recall, out->pts[i].qps);
            break;
        }
    fflush(stdout);
    if (name == "scry" && exact_out) {
        // Exact search over the same storage (what the server does below its
        // size threshold); 200 queries are plenty to time it.
        ScryExact ex;
        ex.ix = static_cast<ScryLib *>(lib)->ix;
        Data sub = ds;
        sub.nq = std::min<size_t>(ds.nq, 200);
        snprintf(exact_out->name, sizeof exact_out->name, "exact");
        snprintf(exact_out->param_name, sizeof exact_out->param_name, "-");
        exact_out->build_s = 0;
        exact_out->bytes_per_vec = out->bytes_per_vec;
        sweep(sub, ex, {0}, *exact_out);
        exact_out->ok = 1;
        ex.ix = nullptr;
        // Persistence: durable save, then load (checksums + validation) and
        // one search, the way the server starts.
        std::string file = std::string(env_or("TMPDIR", "/tmp")) + "/scry-ann-bench.hnsw";
        scry_err err{};
        double ts = now_s();
        if (hnsw_save(static_cast<ScryLib *>(lib)->ix, file.c_str(), &err) == SCRY_OK) {
            double save_s = now_s() - ts;
            hnsw_index *lx = nullptr;
            ts = now_s();
            if (hnsw_load(&lx, file.c_str(), &err) == SCRY_OK) {
                hnsw_hit hh[K];
                int nh = 0;
                hnsw_search(lx, &ds.queries[0], K, 64, nullptr, hh, &nh, &err);
                double load_s = now_s() - ts;
                FILE *ff = fopen(file.c_str(), "rb");
                fseek(ff, 0, SEEK_END);
                long sz = ftell(ff);
                fclose(ff);
                printf("  scry file: %.1f MB, save %.2fs (fsync'd), load+first search %.3fs (warm cache)\n",
                       sz / 1e6, save_s, load_s);
                hnsw_free(lx);
            } else {
                printf("  scry load failed: %s\n", err.msg);
            }
            unlink(file.c_str());
        } else {
            printf("  scry save failed: %s\n", err.msg);
        }
        hnsw_stats st;
        hnsw_get_stats(static_cast<ScryLib *>(lib)->ix, &st);
        printf("  scry stats: nodes=%zu heap=%zu B (%.0f B/vector by accounting) max_level=%d\n",
               st.nodes, st.bytes_heap, (double)st.bytes_heap / st.nodes, st.max_level);
    }
    delete lib;
}

// First point reaching the target recall (the operating point), or the best.
static const Point *op_point(const LibResult &r, double target) {
    for (int i = 0; i < r.npts; i++)
        if (r.pts[i].recall >= target) return &r.pts[i];
    return r.npts ? &r.pts[r.npts - 1] : nullptr;
}

// QPS at exactly `target` recall, interpolated linearly in log(QPS).
static double qps_at(const LibResult &r, double target) {
    for (int i = 1; i < r.npts; i++) {
        const Point &a = r.pts[i - 1], &b = r.pts[i];
        if (a.recall < target && b.recall >= target) {
            double t = (target - a.recall) / (b.recall - a.recall);
            return std::exp(std::log(a.qps) + t * (std::log(b.qps) - std::log(a.qps)));
        }
    }
    if (r.npts && r.pts[0].recall >= target) return r.pts[0].qps;
    return 0;
}

int main() {
    omp_set_num_threads(1);
    int M = atoi(env_or("SCRY_ANN_M", "16")), efc = atoi(env_or("SCRY_ANN_EFC", "200"));
    std::string libs = env_or("SCRY_ANN_LIBS", "scry,hnswlib,faiss-ivf,faiss-hnsw");
    Data ds = load_data();
    ground_truth(ds);
    printf("ann: M=%d ef_construction=%d, single thread, k=%d; times are CPU seconds\n", M, efc, K);
    fflush(stdout);

    std::vector<std::string> names;
    for (size_t p = 0; p < libs.size();) {
        size_t c = libs.find(',', p);
        if (c == std::string::npos) c = libs.size();
        if (c > p) names.push_back(libs.substr(p, c - p));
        p = c + 1;
    }
    size_t nres = names.size() + 1;
    LibResult *res = (LibResult *)mmap(nullptr, nres * sizeof(LibResult), PROT_READ | PROT_WRITE,
                                       MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    memset(res, 0, nres * sizeof(LibResult));
    LibResult *exact = &res[names.size()];
    for (size_t i = 0; i < names.size(); i++) {
        fflush(stdout);
        pid_t pid = fork();
        if (pid == 0) {
            run_lib(ds, names[i], M, efc, &res[i], exact);
            fflush(stdout);
            _exit(0);
        }
        int status = 0;
        waitpid(pid, &status, 0);
        if (!res[i].ok) printf("  %s: failed (status %d)\n", names[i].c_str(), status);
    }

    printf("\n%-11s %8s %8s %9s %10s %8s\n", "library", "build_s", "B/vec", "param", "recall@10", "QPS");
    std::vector<LibResult *> all;
    for (size_t i = 0; i < nres; i++) if (res[i].ok) all.push_back(&res[i]);
    for (LibResult *r : all)
        for (int i = 0; i < r->npts; i++)
            printf("%-11s %8.1f %8.0f %6s=%-3d %10.4f %8.0f\n", r->name, r->build_s, r->bytes_per_vec,
                   r->param_name, r->pts[i].param, r->pts[i].recall, r->pts[i].qps);
    printf("\noperating points (first setting with recall@10 >= 0.95; QPS@0.95 interpolated):\n");
    for (LibResult *r : all) {
        const Point *p = op_point(*r, 0.95);
        if (!p) continue;
        printf("  %-11s %s=%-4d recall=%.4f qps=%.0f  qps@0.95=%.0f  build=%.1fs  mem=%.0f B/vec\n",
               r->name, r->param_name, p->param, p->recall, p->qps, qps_at(*r, 0.95), r->build_s,
               r->bytes_per_vec);
    }
    LibResult *s = nullptr, *h = nullptr;
    for (LibResult *r : all) {
        if (!strcmp(r->name, "scry")) s = r;
        if (!strcmp(r->name, "hnswlib")) h = r;
    }
    if (s && h) {
        const Point *ps = op_point(*s, 0.95), *ph = op_point(*h, 0.95);
        printf("ann: recall10=%.4f qps_ratio_vs_hnswlib=%.3f mem_ratio_vs_hnswlib=%.3f build_ratio_vs_hnswlib=%.3f\n",
               ps->recall, ps->qps / ph->qps, s->bytes_per_vec / h->bytes_per_vec, s->build_s / h->build_s);
    } else {
        printf("ann: recall10=nan qps_ratio_vs_hnswlib=nan mem_ratio_vs_hnswlib=nan build_ratio_vs_hnswlib=nan\n");
    }
    return 0;
}
