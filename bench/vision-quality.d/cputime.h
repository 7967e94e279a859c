/* cputime.h -- CPU seconds of this process, for the vision-quality drivers:
 * unlike wall time, not inflated when other work shares the cores (ONNX
 * Runtime runs 1 intra-op thread here). Header-only, like tools/rgbload.h. */
#ifndef SCRY_BENCH_CPUTIME_H
#define SCRY_BENCH_CPUTIME_H

#include <time.h>

static inline double cpu_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

#endif
