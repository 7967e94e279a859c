/* onnx.c -- see onnx.h.
 *
 * We ask for ORT_API_VERSION from the header we compiled against; a shared
 * library older than the header returns NULL from GetApi and we say so
 * instead of crashing. */
#include "vision/onnx.h"

#include <onnxruntime_c_api.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/log.h"

struct onnx_model {
    OrtSession *session;
    int nin, nout;
    char *in_names[ONNX_MAX_IO];
    char *out_names[ONNX_MAX_IO];
    char *path;
};

static const OrtApi *g_api;
static OrtEnv *g_env;
static int g_threads = 1;
static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;

/* Turn an OrtStatus into our error (and release it). */
/* Release a status whose failure we tolerate (metadata queries); returns 1
 * when the call succeeded. */
static int ort_ok(OrtStatus *st) {
    if (!st) return 1;
    g_api->ReleaseStatus(st);
    return 0;
}

static int ort_fail(OrtStatus *st, scry_err *err, const char *what) {
    int rc = scry_fail(err, SCRY_EIO, "%s: %s", what, g_api->GetErrorMessage(st));
    g_api->ReleaseStatus(st);
    return rc;
}

int onnx_global_init(int intra_threads, scry_err *err) {
    pthread_mutex_lock(&g_lock);
    int rc = SCRY_OK;
    if (!g_env) {
        const OrtApiBase *base = OrtGetApiBase();
        g_api = base ? base->GetApi(ORT_API_VERSION) : NULL;
        if (!g_api) {
            rc = scry_fail(err, SCRY_EUNSUPPORTED,
                           "ONNX Runtime library %s is older than API %d; run ./scripts/setup.sh",
                           base ? base->GetVersionString() : "?", ORT_API_VERSION);
        } else {
            OrtStatus *st = g_api->CreateEnv(ORT_LOGGING_LEVEL_ERROR, "scry", &g_env);
            if (st) rc = ort_fail(st, err, "CreateEnv");
            else g_threads = intra_threads > 0 ? intra_threads : 1;
        }
    }
    pthread_mutex_unlock(&g_lock);
    return rc;
}

void onnx_global_shutdown(void) {
    pthread_mutex_lock(&g_lock);
    if (g_env) g_api->ReleaseEnv(g_env);
    g_env = NULL;
    pthread_mutex_unlock(&g_lock);
}

int onnx_model_load(const char *path, onnx_model **out, scry_err *err) {
    *out = NULL;
    if (!g_env) {
        int rc = onnx_global_init(1, err);
        if (rc) return rc;
    }
    if (access(path, R_OK) != 0)
        return scry_fail(err, SCRY_ENOTFOUND,
                         "model file %s is missing; run ./scripts/setup.sh to fetch and prepare "
                         "the models", path);
    onnx_model *m = calloc(1, sizeof *m);
    if (!m) return scry_fail(err, SCRY_ENOMEM, "out of memory");
    OrtSessionOptions *opt = NULL;
    OrtStatus *st = g_api->CreateSessionOptions(&opt);
    if (!st) st = g_api->SetIntraOpNumThreads(opt, g_threads);
    if (!st) st = g_api->SetInterOpNumThreads(opt, 1);
    if (!st) st = g_api->SetSessionGraphOptimizationLevel(opt, ORT_ENABLE_ALL);
    if (!st) st = g_api->CreateSession(g_env, path, opt, &m->session);
    if (opt) g_api->ReleaseSessionOptions(opt);
    if (st) {
        int rc = scry_fail(err, SCRY_ECORRUPT,
                           "model file %s cannot be loaded (%s); run ./scripts/setup.sh to "
                           "prepare it again", path, g_api->GetErrorMessage(st));
        g_api->ReleaseStatus(st);
        free(m);
        return rc;
    }
    OrtAllocator *alloc = NULL;
    size_t nin = 0, nout = 0;
    if (!ort_ok(g_api->GetAllocatorWithDefaultOptions(&alloc)) ||
        !ort_ok(g_api->SessionGetInputCount(m->session, &nin)) ||
        !ort_ok(g_api->SessionGetOutputCount(m->session, &nout)) || nin > ONNX_MAX_IO ||
        nout > ONNX_MAX_IO) {
        g_api->ReleaseSession(m->session);
        free(m);
        return scry_fail(err, SCRY_EUNSUPPORTED, "model %s has too many inputs/outputs", path);
    }
    m->nin = (int)nin;
    m->nout = (int)nout;
    for (size_t i = 0; i < nin; i++) {
        char *name = NULL;
        if (!ort_ok(g_api->SessionGetInputName(m->session, i, alloc, &name))) name = NULL;
        m->in_names[i] = strdup(name ? name : "");
        if (name) ort_ok(g_api->AllocatorFree(alloc, name));
    }
    for (size_t i = 0; i < nout; i++) {
        char *name = NULL;
        if (!ort_ok(g_api->SessionGetOutputName(m->session, i, alloc, &name))) name = NULL;
        m->out_names[i] = strdup(name ? name : "");
        if (name) ort_ok(g_api->AllocatorFree(alloc, name));
    }
    m->path = strdup(path);
    log_info("model.loaded", "path=%s inputs=%d outputs=%d threads=%d", path, m->nin, m->nout,
             g_threads);
    *out = m;
    return SCRY_OK;
}

void onnx_model_free(onnx_model *m) {
    if (!m) return;
    if (m->session) g_api->ReleaseSession(m->session);
    for (int i = 0; i < m->nin; i++) free(m->in_names[i]);
    for (int i = 0; i < m->nout; i++) free(m->out_names[i]);
    free(m->path);
    free(m);
}

int onnx_input_count(const onnx_model *m) { return m->nin; }
int onnx_output_count(const onnx_model *m) { return m->nout; }
const char *onnx_input_name(const onnx_model *m, int i) {
    return i >= 0 && i < m->nin ? m->in_names[i] : NULL;
}
const char *onnx_output_name(const onnx_model *m, int i) {
    return i >= 0 && i < m->nout ? m->out_names[i] : NULL;
}

size_t onnx_tensor_count(const onnx_tensor *t) {
    size_t n = 1;
    for (int i = 0; i < t->rank; i++) n *= (size_t)(t->shape[i] > 0 ? t->shape[i] : 0);
    return n;
}

void onnx_tensor_free(onnx_tensor *t) {
    if (!t) return;
    free(t->data);
    t->data = NULL;
    t->rank = 0;
}

/* Copy one output value into an owned float tensor. */
static int take_output(OrtValue *v, onnx_tensor *t, scry_err *err) {
    OrtTensorTypeAndShapeInfo *info = NULL;
    OrtStatus *st = g_api->GetTensorTypeAndShape(v, &info);
    if (st) return ort_fail(st, err, "GetTensorTypeAndShape");
    size_t rank = 0, count = 0;
    ONNXTensorElementDataType type;
    if (!ort_ok(g_api->GetDimensionsCount(info, &rank)) ||
        !ort_ok(g_api->GetTensorShapeElementCount(info, &count)) ||
        !ort_ok(g_api->GetTensorElementType(info, &type)) || rank > ONNX_MAX_RANK) {
        g_api->ReleaseTensorTypeAndShapeInfo(info);
        return scry_fail(err, SCRY_EUNSUPPORTED, "cannot read output shape (rank %zu)", rank);
    }
    if (!ort_ok(g_api->GetDimensions(info, t->shape, rank))) {
        g_api->ReleaseTensorTypeAndShapeInfo(info);
        return scry_fail(err, SCRY_EIO, "cannot read output dimensions");
    }
    g_api->ReleaseTensorTypeAndShapeInfo(info);
    t->rank = (int)rank;
    t->data = malloc((count ? count : 1) * sizeof(float));
    if (!t->data) return scry_fail(err, SCRY_ENOMEM, "out of memory for output");
    void *raw = NULL;
    st = g_api->GetTensorMutableData(v, &raw);
    if (st) return ort_fail(st, err, "GetTensorMutableData");
    switch (type) {
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT: memcpy(t->data, raw, count * sizeof(float)); break;
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_INT64:
        for (size_t i = 0; i < count; i++) t->data[i] = (float)((int64_t *)raw)[i];
        break;
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_INT32:
        for (size_t i = 0; i < count; i++) t->data[i] = (float)((int32_t *)raw)[i];
        break;
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_DOUBLE:
        for (size_t i = 0; i < count; i++) t->data[i] = (float)((double *)raw)[i];
        break;
    default:
        return scry_fail(err, SCRY_EUNSUPPORTED, "output element type %d not supported",
                         (int)type);
    }
    return SCRY_OK;
}

int onnx_run(onnx_model *m, const onnx_tensor *in, int nin, onnx_tensor *out, int nout,
             scry_err *err) {
    if (nin != m->nin || nout > m->nout || nout < 1)
        return scry_fail(err, SCRY_EINVAL, "model %s takes %d inputs and %d outputs", m->path,
                         m->nin, m->nout);
    OrtMemoryInfo *mem = NULL;
    OrtStatus *st = g_api->CreateCpuMemoryInfo(OrtArenaAllocator, OrtMemTypeDefault, &mem);
    if (st) return ort_fail(st, err, "CreateCpuMemoryInfo");
    OrtValue *ins[ONNX_MAX_IO] = {0}, *outs[ONNX_MAX_IO] = {0};
    int rc = SCRY_OK;
    for (int i = 0; i < nin && rc == SCRY_OK; i++) {
        size_t count = onnx_tensor_count(&in[i]);
        st = g_api->CreateTensorWithDataAsOrtValue(mem, in[i].data, count * sizeof(float),
                                                   in[i].shape, (size_t)in[i].rank,
                                                   ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT, &ins[i]);
        if (st) rc = ort_fail(st, err, "CreateTensor");
    }
    if (rc == SCRY_OK) {
        st = g_api->Run(m->session, NULL, (const char *const *)m->in_names,
                        (const OrtValue *const *)ins, (size_t)nin,
                        (const char *const *)m->out_names, (size_t)nout, outs);
        if (st) rc = ort_fail(st, err, "Run");
    }
    for (int i = 0; i < nout && rc == SCRY_OK; i++) {
        memset(&out[i], 0, sizeof out[i]);
        rc = take_output(outs[i], &out[i], err);
    }
    if (rc != SCRY_OK)
        for (int i = 0; i < nout; i++) onnx_tensor_free(&out[i]);
    for (int i = 0; i < nin; i++)
        if (ins[i]) g_api->ReleaseValue(ins[i]);
    for (int i = 0; i < nout; i++)
        if (outs[i]) g_api->ReleaseValue(outs[i]);
    g_api->ReleaseMemoryInfo(mem);
    return rc;
}
