/* jobs.h -- the job manager: a pool of worker threads draining work items.
 *
 * Work lives in the database, not in memory: a worker claims the oldest
 * pending item (meta_item_claim), runs the pipeline on it and records the
 * outcome (meta_item_finish). So a crash loses nothing: at start-up
 * meta_recover puts items left running back to pending (or fails them once
 * they have used up their attempts, so an image that crashes a stage is not
 * retried forever), and the workers simply carry on.
 *
 * Workers sleep on a condition variable when there is nothing to do; uploads
 * wake them with jobs_notify. They also poll every second, which picks up
 * work queued by another process on the same database (the CLI). */
#ifndef SCRY_JOBS_H
#define SCRY_JOBS_H

#include "core/err.h"
#include "jobs/pipeline.h"
#include "store/meta.h"

typedef struct job_manager job_manager;

/* Recover interrupted work (when `recover`), then start `workers` threads. */
int jobs_start(job_manager **out, meta_db *meta, pipeline *pipe, int workers, int max_attempts,
               int recover, scry_err *err);
/* Wake sleeping workers: new items were queued. */
void jobs_notify(job_manager *jm);
/* Block until no item is pending or running, or timeout_s passes (< 0: no
 * limit). Returns 1 when idle. progress(done, total, ctx) is called about
 * every 100 ms while waiting, if given. */
int jobs_wait_idle(job_manager *jm, double timeout_s,
                   void (*progress)(void *ctx), void *ctx);
/* Stop taking new items, let running ones finish, join the threads, free. */
void jobs_stop(job_manager *jm);
/* Items being processed right now. */
int jobs_busy(job_manager *jm);

#endif
