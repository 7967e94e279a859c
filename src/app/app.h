/* app.h -- one Scry process: its configuration and the subsystems it wires.
 *
 * The server and every CLI command open the same app over a data folder:
 *   DATA/meta.db      SQLite metadata (WAL)
 *   DATA/blobs/       content-addressed originals and thumbnails
 * so `scry add` and `scry serve` can share a data folder, even at once
 * (SQLite arbitrates between the processes). */
#ifndef SCRY_APP_H
#define SCRY_APP_H

#include "core/config.h"
#include "core/err.h"
#include "jobs/jobs.h"
#include "jobs/pipeline.h"
#include "search/search.h"
#include "store/blob.h"
#include "store/meta.h"

typedef struct scry_app {
    scry_config cfg;
    blob_store *blobs;
    meta_db *meta;
    pipeline *pipe;
    job_manager *jobs;          /* NULL unless workers were started */
    search_engine *search;
} scry_app;

enum { APP_NO_WORKERS = 0, APP_WITH_WORKERS = 1 };

int app_open(scry_app *app, const scry_config *cfg, int with_workers, scry_err *err);
void app_close(scry_app *app);

/* Record uploaded images (their bytes already durable in the blob store) and
 * queue one job for them, then wake the workers. Fills job_id. */
int app_commit_upload(scry_app *app, const meta_new_image *imgs, int n,
                      char job_id[SCRY_ID_LEN + 1], scry_err *err);

/* Delete an image and the blobs only it referenced. */
int app_delete_image(scry_app *app, const char *id, scry_err *err);

#endif
