/* jobs.c -- see jobs.h. */
#include "jobs/jobs.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/log.h"
#include "core/metrics.h"
#include "core/util.h"
#include "vision/image.h"

struct job_manager {
    meta_db *meta;
    pipeline *pipe;
    int nworkers;
    pthread_t *threads;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    int stopping;
    unsigned long generation;   /* bumped by jobs_notify */
    atomic_int busy;
};

static void sleep_until_notified(job_manager *jm, double seconds) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    long ns = ts.tv_nsec + (long)((seconds - (long)seconds) * 1e9);
    ts.tv_sec += (time_t)seconds + ns / 1000000000L;
    ts.tv_nsec = ns % 1000000000L;
    pthread_mutex_lock(&jm->lock);
    unsigned long gen = jm->generation;
    while (!jm->stopping && gen == jm->generation)
        if (pthread_cond_timedwait(&jm->wake, &jm->lock, &ts) == ETIMEDOUT) break;
    pthread_mutex_unlock(&jm->lock);
}

static int stopping(job_manager *jm) {
    pthread_mutex_lock(&jm->lock);
    int s = jm->stopping;
    pthread_mutex_unlock(&jm->lock);
    return s;
}

static void *worker_main(void *arg) {
    job_manager *jm = arg;
    while (!stopping(jm)) {
        work_item w;
        scry_err err = {0};
        atomic_fetch_add(&jm->busy, 1);
        int rc = meta_item_claim(jm->meta, &w, &err);
        if (rc == SCRY_ENOTFOUND) {
            atomic_fetch_sub(&jm->busy, 1);
            sleep_until_notified(jm, 1.0);
            continue;
        }
        if (rc != SCRY_OK) {
            atomic_fetch_sub(&jm->busy, 1);
            log_error("jobs.claim_failed", "reason=\"%s\"", err.msg);
            sleep_until_notified(jm, 1.0);
            continue;
        }
        double t0 = scry_mono_s();
        pipeline_result res;
        rc = pipeline_process(jm->pipe, &w, &res, &err);
        /* Disk full: the item stays claimed and is retried until there is
         * room again (recording anything would need the disk too). */
        while (rc == SCRY_ENOSPC && !stopping(jm)) {
            log_warn("jobs.disk_full", "image=%s reason=\"%s\" retry_in_s=2", w.image_id, err.msg);
            sleep_until_notified(jm, 2.0);
            rc = pipeline_process(jm->pipe, &w, &res, &err);
        }
        if (rc == SCRY_ENOSPC) {                /* stopping: recovery requeues it */
            atomic_fetch_sub(&jm->busy, 1);
            break;
        }
        if (rc != SCRY_OK) {
            /* The machinery failed (database, blob store), not the image:
             * record it against the image so the job still finishes; the
             * attempts bound keeps this from looping. */
            res.ok = 0;
            snprintf(res.stage, sizeof res.stage, "pipeline");
            snprintf(res.message, sizeof res.message, "%s", err.msg);
        }
        rc = meta_item_finish(jm->meta, &w, res.ok, res.stage[0] ? res.stage : NULL,
                              res.stage[0] ? res.message : NULL, &err);
        if (rc != SCRY_OK) log_error("jobs.finish_failed", "image=%s reason=\"%s\"", w.image_id, err.msg);
        metrics_add(res.ok ? M_IMAGES_INDEXED : M_IMAGES_FAILED, 1);
        log_info("image.indexed", "job=%s image=%s ok=%d attempt=%d ms=%.1f%s%s", w.job_id,
                 w.image_id, res.ok, w.attempt, (scry_mono_s() - t0) * 1000,
                 res.stage[0] ? " stage=" : "", res.stage);
        atomic_fetch_sub(&jm->busy, 1);
    }
    img_thread_done();          /* libvips keeps per-thread buffers */
    return NULL;
}

int jobs_start(job_manager **out, meta_db *meta, pipeline *pipe, int workers, int max_attempts,
               int recover, scry_err *err) {
    int requeued = 0, failed = 0;
    int rc = recover ? meta_recover(meta, max_attempts, &requeued, &failed, err) : SCRY_OK;
    if (rc != SCRY_OK) return rc;
    if (requeued || failed)
        log_info("jobs.recovered", "requeued=%d failed=%d", requeued, failed);
    job_manager *jm = calloc(1, sizeof *jm);
    if (!jm) return scry_fail(err, SCRY_ENOMEM, "out of memory");
    jm->meta = meta;
    jm->pipe = pipe;
    jm->nworkers = workers > 0 ? workers : 1;
    pthread_mutex_init(&jm->lock, NULL);
    pthread_cond_init(&jm->wake, NULL);
    jm->threads = calloc((size_t)jm->nworkers, sizeof *jm->threads);
    if (!jm->threads) {
        free(jm);
        return scry_fail(err, SCRY_ENOMEM, "out of memory");
    }
    for (int i = 0; i < jm->nworkers; i++) {
        if (pthread_create(&jm->threads[i], NULL, worker_main, jm) != 0) {
            jm->nworkers = i;
            jobs_stop(jm);
            return scry_fail(err, SCRY_EIO, "cannot start worker thread");
        }
    }
    log_info("jobs.started", "workers=%d", jm->nworkers);
    *out = jm;
    return SCRY_OK;
}

void jobs_notify(job_manager *jm) {
    pthread_mutex_lock(&jm->lock);
    jm->generation++;
    pthread_cond_broadcast(&jm->wake);
    pthread_mutex_unlock(&jm->lock);
}

int jobs_busy(job_manager *jm) { return atomic_load(&jm->busy); }

int jobs_wait_idle(job_manager *jm, double timeout_s, void (*progress)(void *), void *ctx) {
    double t0 = scry_mono_s();
    for (;;) {
        meta_stats st;
        scry_err err = {0};
        if (meta_get_stats(jm->meta, &st, &err) == SCRY_OK && st.items_pending == 0 &&
            atomic_load(&jm->busy) == 0) {
            /* Re-check once: a worker may have claimed between the reads. */
            if (meta_get_stats(jm->meta, &st, &err) == SCRY_OK && st.items_pending == 0 &&
                atomic_load(&jm->busy) == 0) {
                if (progress) progress(ctx);
                return 1;
            }
        }
        if (progress) progress(ctx);
        if (timeout_s >= 0 && scry_mono_s() - t0 > timeout_s) return 0;
        struct timespec ts = {0, 100 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
}

void jobs_stop(job_manager *jm) {
    if (!jm) return;
    pthread_mutex_lock(&jm->lock);
    jm->stopping = 1;
    pthread_cond_broadcast(&jm->wake);
    pthread_mutex_unlock(&jm->lock);
    for (int i = 0; i < jm->nworkers; i++) pthread_join(jm->threads[i], NULL);
    free(jm->threads);
    pthread_mutex_destroy(&jm->lock);
    pthread_cond_destroy(&jm->wake);
    free(jm);
}
