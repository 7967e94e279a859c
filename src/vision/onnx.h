/* onnx.h -- the smallest useful face of ONNX Runtime's C API.
 *
 * One OrtEnv per process (onnx_global_init); a model is one OrtSession that
 * every worker thread shares (OrtSession::Run is thread-safe). Intra-op
 * threads default to 1: on a 2-core machine we get more images per second by
 * running one image per worker than by splitting one image across cores.
 *
 * Tensors crossing this interface are float32 (inputs and outputs); integer
 * outputs (int64/int32) are converted to float so callers need one path.
 * A missing or unreadable model file fails with an error that names the file
 * and the command that fixes it (./scripts/setup.sh). */
#ifndef SCRY_ONNX_H
#define SCRY_ONNX_H

#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

#define ONNX_MAX_RANK 8
#define ONNX_MAX_IO 16

typedef struct onnx_tensor {
    float *data;                /* inputs: borrowed; outputs: owned (onnx_tensor_free) */
    int64_t shape[ONNX_MAX_RANK];
    int rank;
} onnx_tensor;

typedef struct onnx_model onnx_model;

/* intra_threads <= 0 means 1. Idempotent; the first call's value wins. */
int onnx_global_init(int intra_threads, scry_err *err);
void onnx_global_shutdown(void);

int onnx_model_load(const char *path, onnx_model **out, scry_err *err);
void onnx_model_free(onnx_model *m);

int onnx_input_count(const onnx_model *m);
int onnx_output_count(const onnx_model *m);
const char *onnx_input_name(const onnx_model *m, int i);
const char *onnx_output_name(const onnx_model *m, int i);

/* Run with nin inputs (in the model's input order) and fill the first nout
 * outputs (in the model's output order). Outputs must be freed. */
int onnx_run(onnx_model *m, const onnx_tensor *in, int nin, onnx_tensor *out, int nout,
             scry_err *err);

size_t onnx_tensor_count(const onnx_tensor *t);   /* product of the shape */
void onnx_tensor_free(onnx_tensor *t);

#endif
