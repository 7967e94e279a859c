/* metrics.h -- process-wide counters, rendered in Prometheus text format.
 *
 * A fixed set of named counters and per-stage timing sums, updated with
 * atomics from any thread: no registry, no allocation on the hot path.
 * Gauges that live in the database (jobs by status) are appended by the
 * HTTP layer when it renders /metrics. */
#ifndef SCRY_METRICS_H
#define SCRY_METRICS_H

#include <stddef.h>
#include <stdint.h>

typedef enum {
    M_UPLOAD_REQUESTS, M_UPLOAD_IMAGES, M_UPLOAD_BYTES, M_UPLOAD_REJECTED,
    M_HTTP_REQUESTS, M_HTTP_2XX, M_HTTP_4XX, M_HTTP_5XX,
    M_IMAGES_INDEXED, M_IMAGES_FAILED, M_SEARCHES,
    M_INDEX_COMPACTIONS, M_INDEX_COMPACT_DROPPED, M_INDEX_COMPACT_MS, M_INDEX_COMPACT_FAILURES,
    M_AUTH_DENIED, M_RATE_LIMITED, M_CONN_TIMED_OUT, M_CONN_EVICTED, M_REQ_MALFORMED,
    M_COUNTER_COUNT
} metric_counter;

void metrics_add(metric_counter c, uint64_t n);
uint64_t metrics_get(metric_counter c);
/* Record one run of a pipeline stage (name must be a string literal or
 * otherwise live forever; at most 32 distinct stages). */
void metrics_stage(const char *stage, double seconds, int ok);
/* Mean seconds of a stage so far, -1 when it never ran. */
double metrics_stage_mean(const char *stage);
/* Append the Prometheus text exposition to buf (malloc'ed, caller frees). */
char *metrics_render(void);

#endif
