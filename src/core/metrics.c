/* metrics.c -- see metrics.h. */
#include "core/metrics.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static _Atomic uint64_t g_counters[M_COUNTER_COUNT];
static const char *const g_names[M_COUNTER_COUNT][2] = {
    {"scry_upload_requests_total", "Upload requests received"},
    {"scry_upload_images_total", "Images stored by uploads"},
    {"scry_upload_bytes_total", "Bytes stored by uploads"},
    {"scry_upload_rejected_total", "Upload requests refused (4xx)"},
    {"scry_http_requests_total", "HTTP requests answered"},
    {"scry_http_responses_2xx_total", "HTTP 2xx responses"},
    {"scry_http_responses_4xx_total", "HTTP 4xx responses"},
    {"scry_http_responses_5xx_total", "HTTP 5xx responses"},
    {"scry_images_indexed_total", "Images processed successfully by the pipeline"},
    {"scry_images_failed_total", "Images the pipeline failed on"},
    {"scry_searches_total", "Search queries answered"},
    {"scry_index_compactions_total", "ANN index compactions completed"},
    {"scry_index_compaction_dropped_total", "Tombstones removed by ANN index compactions"},
    {"scry_index_compaction_ms_total", "Milliseconds spent rebuilding the ANN index"},
    {"scry_index_compaction_failures_total", "ANN index compactions that failed"},
    {"scry_auth_denied_total", "Requests refused 401 or 403 (no key, bad key, scope, CSRF)"},
    {"scry_rate_limited_total", "Requests refused 429 by a rate limit"},
    {"scry_connections_timed_out_total", "Connections closed for a slow request head or body"},
    {"scry_connections_evicted_total", "Idle connections closed to make room near the connection cap"},
    {"scry_requests_malformed_total", "Requests refused by the HTTP guard (framing, smuggling, bad paths)"},
};

#define MAX_STAGES 32
static struct stage_stat {
    const char *name;
    uint64_t runs, errors;
    double seconds;
} g_stages[MAX_STAGES];
static int g_nstages;
static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;

void metrics_add(metric_counter c, uint64_t n) { atomic_fetch_add(&g_counters[c], n); }
uint64_t metrics_get(metric_counter c) { return atomic_load(&g_counters[c]); }

static struct stage_stat *find_stage(const char *name, int create) {
    for (int i = 0; i < g_nstages; i++)
        if (strcmp(g_stages[i].name, name) == 0) return &g_stages[i];
    if (!create || g_nstages == MAX_STAGES) return NULL;
    g_stages[g_nstages].name = name;
    return &g_stages[g_nstages++];
}

void metrics_stage(const char *stage, double seconds, int ok) {
    pthread_mutex_lock(&g_lock);
    struct stage_stat *s = find_stage(stage, 1);
    if (s) {
        s->runs++;
        s->seconds += seconds;
        if (!ok) s->errors++;
    }
    pthread_mutex_unlock(&g_lock);
}

double metrics_stage_mean(const char *stage) {
    pthread_mutex_lock(&g_lock);
    struct stage_stat *s = find_stage(stage, 0);
    double mean = s && s->runs ? s->seconds / (double)s->runs : -1;
    pthread_mutex_unlock(&g_lock);
    return mean;
}

char *metrics_render(void) {
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f) return NULL;
    for (int i = 0; i < M_COUNTER_COUNT; i++)
        fprintf(f, "# HELP %s %s\n# TYPE %s counter\n%s %llu\n", g_names[i][0], g_names[i][1],
                g_names[i][0], g_names[i][0], (unsigned long long)metrics_get((metric_counter)i));
    fprintf(f, "# HELP scry_stage_seconds_total Time spent in each pipeline stage\n"
               "# TYPE scry_stage_seconds_total counter\n");
    pthread_mutex_lock(&g_lock);
    for (int i = 0; i < g_nstages; i++)
        fprintf(f, "scry_stage_seconds_total{stage=\"%s\"} %.6f\n", g_stages[i].name,
                g_stages[i].seconds);
    fprintf(f, "# HELP scry_stage_runs_total Runs of each pipeline stage\n"
               "# TYPE scry_stage_runs_total counter\n");
    for (int i = 0; i < g_nstages; i++)
        fprintf(f, "scry_stage_runs_total{stage=\"%s\"} %llu\n", g_stages[i].name,
                (unsigned long long)g_stages[i].runs);
    fprintf(f, "# HELP scry_stage_errors_total Failed runs of each pipeline stage\n"
               "# TYPE scry_stage_errors_total counter\n");
    for (int i = 0; i < g_nstages; i++)
        fprintf(f, "scry_stage_errors_total{stage=\"%s\"} %llu\n", g_stages[i].name,
                (unsigned long long)g_stages[i].errors);
    pthread_mutex_unlock(&g_lock);
    fclose(f);
    return buf;
}
