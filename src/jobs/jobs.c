/* jobs.c -- see jobs.h.
 *
 * Leases (PostgreSQL, where several worker processes share the queue): a
 * keeper thread renews the lease of every item this process has in flight
 * every lease/3 (meta_item_heartbeat), so a long stage never loses its
 * claim, and every lease/2 runs meta_recover, which takes back the items
 * of workers that stopped renewing (killed, partitioned) once their lease
 * ran out. On SQLite there are no leases: recovery runs once, at start. */
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

typedef struct in_flight {
    work_item w;
    int active;
} in_flight;

struct job_manager {
    meta_db *meta;
    pipeline *pipe;
    int nworkers;
    int max_attempts;
    pthread_t *threads;
    in_flight *flight;          /* one slot per worker thread, under lock */
    int next_slot;
    pthread_t keeper;
    int keeper_started;
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
    pthread_mutex_lock(&jm->lock);
    int slot = jm->next_slot++;
    pthread_mutex_unlock(&jm->lock);
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
        pthread_mutex_lock(&jm->lock);
        jm->flight[slot] = (in_flight){w, 1};
        pthread_mutex_unlock(&jm->lock);
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
        pthread_mutex_lock(&jm->lock);
        jm->flight[slot].active = 0;
        pthread_mutex_unlock(&jm->lock);
        metrics_add(res.ok ? M_IMAGES_INDEXED : M_IMAGES_FAILED, 1);
        log_info("image.indexed", "job=%s image=%s ok=%d attempt=%d ms=%.1f%s%s", w.job_id,
                 w.image_id, res.ok, w.attempt, (scry_mono_s() - t0) * 1000,
                 res.stage[0] ? " stage=" : "", res.stage);
        atomic_fetch_sub(&jm->busy, 1);
    }
    img_thread_done();          /* libvips keeps per-thread buffers */
    return NULL;
}

static void *keeper_main(void *arg) {
    job_manager *jm = arg;
    double lease_s = (double)meta_lease_ms(jm->meta) / 1000.0;
    double last_reap = scry_mono_s();
    while (!stopping(jm)) {
        sleep_until_notified(jm, lease_s / 3);
        if (stopping(jm)) break;
        pthread_mutex_lock(&jm->lock);
        int n = 0;
        work_item *ws = malloc((size_t)jm->nworkers * sizeof *ws);
        for (int i = 0; ws && i < jm->nworkers; i++)
            if (jm->flight[i].active) ws[n++] = jm->flight[i].w;
        pthread_mutex_unlock(&jm->lock);
        for (int i = 0; i < n; i++) {
            scry_err err = {0};
            if (meta_item_heartbeat(jm->meta, &ws[i], &err) != SCRY_OK)
                log_warn("jobs.lease_lost", "job=%s image=%s reason=\"%s\"", ws[i].job_id,
                         ws[i].image_id, err.msg);
        }
        free(ws);
        if (scry_mono_s() - last_reap >= lease_s / 2) {
            last_reap = scry_mono_s();
            int requeued = 0, failed = 0;
            scry_err err = {0};
            if (meta_recover(jm->meta, jm->max_attempts, &requeued, &failed, &err) != SCRY_OK)
                log_warn("jobs.recover_failed", "reason=\"%s\"", err.msg);
            else if (requeued || failed) {
                log_info("jobs.recovered", "requeued=%d failed=%d reason=lease", requeued, failed);
                jobs_notify(jm);
            }
        }
    }
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
    jm->max_attempts = max_attempts;
    pthread_mutex_init(&jm->lock, NULL);
    pthread_cond_init(&jm->wake, NULL);
    jm->threads = calloc((size_t)jm->nworkers, sizeof *jm->threads);
    jm->flight = calloc((size_t)jm->nworkers, sizeof *jm->flight);
    if (!jm->threads || !jm->flight) {
        free(jm->threads);
        free(jm->flight);
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
    if (meta_has_leases(meta)) {
        if (pthread_create(&jm->keeper, NULL, keeper_main, jm) != 0) {
            jobs_stop(jm);
            return scry_fail(err, SCRY_EIO, "cannot start the lease keeper thread");
        }
        jm->keeper_started = 1;
    }
    log_info("jobs.started", "workers=%d leases=%d", jm->nworkers, jm->keeper_started);
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
    if (jm->keeper_started) pthread_join(jm->keeper, NULL);
    free(jm->threads);
    free(jm->flight);
    pthread_mutex_destroy(&jm->lock);
    pthread_cond_destroy(&jm->wake);
    free(jm);
}
