/* app.c -- see app.h. */
#include "app/app.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/metrics.h"
#include "people/people.h"
#include "core/paths.h"
#include "text/encoder.h"
#include "text/lexicon.h"
#include "text/wordvec.h"
#include <unistd.h>

#include "vision/concepts.h"
#include "vision/faceres.h"
#include "vision/objects.h"
#include "vision/image.h"

/* The sentence encoder and the lexicon. Without the word-vector file (setup
 * not run) Scry still works, with keyword search only, and says so. */
static int open_text(scry_app *app, scry_err *err) {
    int rc = scry_lexicon_open(&app->lexicon, err);
    if (rc) return rc;
    scry_err werr = {0};
    rc = scry_wordvec_open(app->cfg.wordvec_path, &app->wordvec, &werr);
    if (rc != SCRY_OK) {
        log_warn("encoder.unavailable", "reason=\"%s\" semantic_search=0", werr.msg);
        return SCRY_OK;
    }
    return scry_sif_encoder_new(app->wordvec, app->lexicon, NULL, &app->encoder, err);
}

/* The concept head is small and read by both sides (the concepts stage and
 * the query's projection), so it is loaded whenever its file is there --
 * even with --vision 0, whose searches still meet images another process
 * indexed with it -- and required when the vision models are (--vision 1). */
static int open_concepts(scry_app *app, scry_err *err) {
    if (!app->cfg.concepts) return SCRY_OK;
    scry_err cerr = {0};
    int rc = concepts_load(app->cfg.models_dir, &app->concepts, &cerr);
    if (rc == SCRY_OK) {
        log_info("concepts.loaded", "name=%s concepts=%d dim=%d", concepts_name(app->concepts),
                 concepts_count(app->concepts), concepts_proj_dim(app->concepts));
        return SCRY_OK;
    }
    /* Required with the vision models -- unless the detector it reads is
     * missing too: then the pipeline names that file, the first to fix. */
    char detector[1200];
    snprintf(detector, sizeof detector, "%s/%s", app->cfg.models_dir, OBJECTS_MODEL_FILE);
    if (app->cfg.vision > 0 && access(detector, R_OK) == 0) {
        *err = cerr;
        return rc;
    }
    log_warn("concepts.unavailable", "reason=\"%s\" concepts=0", cerr.msg);
    return SCRY_OK;
}

/* People (--people 1): the faces of Human's faceres descriptor, in the face
 * space of models/face_mean.bin. Without that file people are required when
 * the vision models are (--vision 1), else turned off with a log line. */
static int open_people(scry_app *app, scry_err *err) {
    if (!app->cfg.people) {
        log_info("people.off", "reason=\"--people 0\" deleted=0");
        return SCRY_OK;
    }
    scry_err perr = {0};
    int rc = people_open(&app->people, app->meta, app->cfg.models_dir, FACERES_MODEL_NAME, &perr);
    if (rc == SCRY_OK) {
        people_set_auto_recluster(app->people, PEOPLE_AUTO_RECLUSTER_MIN, app->cfg.people_auto_recluster);
        return SCRY_OK;
    }
    if (app->cfg.vision > 0) {
        *err = perr;
        return rc;
    }
    log_warn("people.unavailable", "reason=\"%s\" people=0", perr.msg);
    return SCRY_OK;
}

/* After each indexed image: make it searchable before its job can complete,
 * and put its faces with their people. */
static void on_indexed(void *ctx) {
    scry_app *app = ctx;
    scry_err err = {0};
    if (app->search && search_sync(app->search, &err) != SCRY_OK)
        log_error("search.sync_failed", "reason=\"%s\"", err.msg);
    memset(&err, 0, sizeof err);
    if (app->people && people_update(app->people, NULL, &err) != SCRY_OK)
        log_error("people.update_failed", "reason=\"%s\"", err.msg);
}

int app_role_parse(const char *name) {
    static const char *const names[] = {"all", "api", "worker", "search"};
    for (int i = 0; i < 4; i++)
        if (!strcmp(name, names[i])) return i;
    return -1;
}

static int open_blobs(scry_app *app, scry_err *err) {
    const scry_config *c = &app->cfg;
    if (!strncmp(c->blobs, "s3://", 5)) {
        blob_s3_config s3 = {.url = c->blobs, .endpoint = c->s3_endpoint, .region = c->s3_region,
                             .access_key = c->s3_access_key, .secret_key = c->s3_secret_key,
                             .addressing = c->s3_addressing,
                             .multipart_bytes = (uint64_t)c->s3_multipart_mb << 20,
                             .retry_s = c->s3_retry_s};
        char spool[1200];
        snprintf(spool, sizeof spool, "%s/spool", c->data_dir);
        s3.spool_dir = spool;
        return blob_open_s3(&app->blobs, &s3, err);
    }
    char path[1200];
    if (c->blobs[0]) snprintf(path, sizeof path, "%s", c->blobs);
    else snprintf(path, sizeof path, "%s/blobs", c->data_dir);
    return blob_open_fs(&app->blobs, path, err);
}

/* The follower: sync the search engine whenever the feed moves (NOTIFY on
 * PostgreSQL; a short poll on SQLite), so that a change made by another
 * process is searchable within a second even before the next query. */
static void *follower_main(void *arg) {
    scry_app *app = arg;
    for (;;) {
        pthread_mutex_lock(&app->follow_mu);
        int stop = app->follow_stop;
        pthread_mutex_unlock(&app->follow_mu);
        if (stop) break;
        scry_err err = {0};
        if (meta_feed_wait(app->meta, 500, &err) != SCRY_OK) {
            log_warn("search.follow_wait", "reason=\"%s\"", err.msg);
            continue;
        }
        if (search_sync(app->search, &err) != SCRY_OK)
            log_warn("search.sync_failed", "reason=\"%s\"", err.msg);
        search_snapshot_maybe(app->search);
    }
    return NULL;
}

int app_open(scry_app *app, const scry_config *cfg, int with_workers, scry_err *err) {
    memset(app, 0, sizeof *app);
    app->cfg = *cfg;
    int role = app_role_parse(cfg->role[0] ? cfg->role : "all");
    if (role < 0)
        return scry_fail(err, SCRY_EINVAL, "--role must be all, api, worker or search, not '%s'",
                         cfg->role);
    app->role = (app_role)role;
    pthread_mutex_init(&app->follow_mu, NULL);
    pthread_cond_init(&app->follow_cv, NULL);
    paths_resolve_config(&app->cfg);
    log_debug("app.paths", "models=%s wordvec=%s web=%s", app->cfg.models_dir, app->cfg.wordvec_path,
              app->cfg.web_dir);
    pthread_rwlock_init(&app->blob_lock, NULL);
    int rc = scry_mkdirs(cfg->data_dir, err);
    if (rc) return rc;
    rc = img_global_init("scry", err);
    if (rc) return rc;
    char path[1200];
    rc = open_blobs(app, err);
    if (rc) goto fail;
    if (cfg->meta[0]) snprintf(path, sizeof path, "%s", cfg->meta);
    else snprintf(path, sizeof path, "%s/meta.db", cfg->data_dir);
    rc = meta_open(&app->meta, path, err);
    if (rc) goto fail;
    meta_set_lease_ms(app->meta, (int64_t)cfg->lease_s * 1000);
    rc = open_text(app, err);
    if (rc) goto fail;
    /* A missing concept head is reported after the pipeline's own models:
     * a corrupt detector is the first thing to fix (and the head reads it).
     * It is required on every role when required at all: a search node
     * without it would look for vectors under another name. */
    scry_err concepts_err = {0};
    int concepts_rc = open_concepts(app, &concepts_err);
    /* Only the roles that index run the pipeline (and load its models). */
    if (app->role == ROLE_ALL || app->role == ROLE_WORKER) {
        rc = pipeline_create(&app->pipe, &app->cfg, app->blobs, app->meta, app->encoder,
                             app->concepts, err);
        if (rc) goto fail;
    }
    if (concepts_rc) {
        *err = concepts_err;
        rc = concepts_rc;
        goto fail;
    }
    if (app->role != ROLE_WORKER) {
        snprintf(path, sizeof path, "%s/index", cfg->data_dir);
        search_options so = {.blobs = app->blobs, .snapshot_s = cfg->snapshot_s};
        rc = search_create_with(&app->search, app->meta, app->encoder, app->lexicon,
                                app->concepts, path, &so, err);
        if (rc) goto fail;
        search_set_compaction(app->search, cfg->compact_fraction, cfg->compact_min);
    }
    /* after the pipeline: a missing model is reported before the face space.
     * Every role keeps people: workers cluster the faces they index, the api
     * serves the People routes (and runs re-clusters), search nodes resolve
     * names and person= in queries -- each mirror follows the store's face
     * feed, so what one process decides the others see. */
    rc = open_people(app, err);
    if (rc) goto fail;
    if (app->search) {
        search_set_people(app->search, app->people);
        if (pthread_create(&app->follower, NULL, follower_main, app) != 0) {
            rc = scry_fail(err, SCRY_EIO, "cannot start the change-feed follower");
            goto fail;
        }
        app->follower_started = 1;
    }
    if (app->pipe) pipeline_set_hook(app->pipe, on_indexed, app);
    if (app->role == ROLE_API || app->role == ROLE_SEARCH) with_workers = APP_NO_WORKERS;
    if (with_workers && cfg->workers > 0 && app->pipe) {
        rc = jobs_start(&app->jobs, app->meta, app->pipe, cfg->workers, cfg->max_attempts,
                        with_workers == APP_WITH_WORKERS, err);
        if (rc) goto fail;
    }
    if (app->people && (app->role == ROLE_WORKER || with_workers == APP_WITH_WORKERS)) {
        /* faces a crash left unclustered */
        scry_err perr = {0};
        if (people_update(app->people, NULL, &perr) != SCRY_OK)
            log_error("people.resume_failed", "reason=\"%s\"", perr.msg);
    }
    if (app->people && ((app->role == ROLE_ALL && with_workers == APP_WITH_WORKERS) ||
                        app->role == ROLE_API)) {
        /* re-clusters a crash interrupted: run again by the role that starts
         * them (all, or api in a cluster) */
        scry_err perr = {0};
        if (people_resume(app->people, &perr) != SCRY_OK)
            log_error("people.resume_failed", "reason=\"%s\"", perr.msg);
    }
    log_info("app.opened", "data=%s role=%s meta=%s blobs=%s workers=%d people=%d", cfg->data_dir,
             cfg->role[0] ? cfg->role : "all", meta_backend_name(app->meta),
             blob_backend_name(app->blobs), app->jobs ? cfg->workers : 0, app->people != NULL);
    return SCRY_OK;
fail:
    app_close(app);
    return rc;
}

void app_close(scry_app *app) {
    jobs_stop(app->jobs);
    app->jobs = NULL;
    if (app->follower_started) {
        pthread_mutex_lock(&app->follow_mu);
        app->follow_stop = 1;
        pthread_mutex_unlock(&app->follow_mu);
        pthread_join(app->follower, NULL);
        app->follower_started = 0;
    }
    search_free(app->search);
    people_close(app->people);
    pipeline_free(app->pipe);
    concepts_free(app->concepts);
    scry_encoder_free(app->encoder);
    scry_wordvec_close(app->wordvec);
    scry_lexicon_close(app->lexicon);
    meta_close(app->meta);
    blob_close(app->blobs);
    pthread_rwlock_destroy(&app->blob_lock);
    pthread_mutex_destroy(&app->follow_mu);
    pthread_cond_destroy(&app->follow_cv);
    memset(app, 0, sizeof *app);
    img_global_shutdown();
}

int app_commit_upload(scry_app *app, const meta_new_image *imgs, int n,
                      char job_id[SCRY_ID_LEN + 1], scry_err *err) {
    scry_new_id(job_id);
    int rc = meta_upload_commit(app->meta, job_id, imgs, n, err);
    if (rc) return rc;
    int64_t bytes = 0;
    for (int i = 0; i < n; i++) bytes += imgs[i].bytes;
    metrics_add(M_UPLOAD_IMAGES, (uint64_t)n);
    metrics_add(M_UPLOAD_BYTES, (uint64_t)bytes);
    log_info("upload.committed", "job=%s images=%d bytes=%lld", job_id, n, (long long)bytes);
    if (app->jobs) jobs_notify(app->jobs);
    return SCRY_OK;
}

void app_uploads_lock(scry_app *app) { pthread_rwlock_rdlock(&app->blob_lock); }
void app_uploads_unlock(scry_app *app) { pthread_rwlock_unlock(&app->blob_lock); }

int app_delete_image(scry_app *app, const char *id, scry_err *err) {
    char orphan[SCRY_SHA256_HEX + 1] = "", thumb[SCRY_SHA256_HEX + 1] = "";
    image_rec rec;
    int grc = meta_image_get(app->meta, id, &rec, err);
    if (grc) return grc;
    int64_t rowid = rec.rowid;
    image_rec_free(&rec);
    pthread_rwlock_wrlock(&app->blob_lock);
    int rc = meta_image_delete(app->meta, id, orphan, thumb, err);
    if (rc) {
        pthread_rwlock_unlock(&app->blob_lock);
        return rc;
    }
    /* The row is gone (and durable) first; a crash now leaves at worst an
     * unreferenced blob, never a row pointing at missing bytes. */
    scry_err berr = {0};
    if (orphan[0] && blob_remove(app->blobs, orphan, &berr) != SCRY_OK)
        log_warn("blob.remove_failed", "sha=%s reason=\"%s\"", orphan, berr.msg);
    if (thumb[0] && blob_remove(app->blobs, thumb, &berr) != SCRY_OK)
        log_warn("blob.remove_failed", "sha=%s reason=\"%s\"", thumb, berr.msg);
    pthread_rwlock_unlock(&app->blob_lock);
    if (app->search) search_forget(app->search, rowid);
    log_info("image.deleted", "image=%s", id);
    return SCRY_OK;
}

/* The margin around a face box in its thumbnail (x its larger side). */
#define FACE_THUMB_MARGIN 1.6

int app_face_thumbnail(scry_app *app, int64_t face_id, void **jpeg, size_t *len, scry_err *err) {
    *jpeg = NULL;
    *len = 0;
    meta_face f;
    int rc = meta_face_get(app->meta, face_id, &f, err);
    if (rc) return rc;
    free(f.vec);
    image_rec r;
    if ((rc = meta_image_get_by_rowid(app->meta, f.image_rowid, &r, err))) return rc;
    void *bytes = NULL;
    size_t n = 0;
    rc = blob_get(app->blobs, r.sha256, &bytes, &n, err);
    image_rec_free(&r);
    if (rc) return rc;
    img_limits lim = {app->cfg.max_pixels, app->cfg.work_size};
    img_decoded d;
    rc = img_decode(bytes, n, &lim, &d, err);
    free(bytes);
    if (rc) return rc;
    /* the box is in original pixels; the working copy may be smaller */
    double s = d.width > 0 ? (double)d.work.w / d.width : 1;
    double side = (f.box[2] > f.box[3] ? f.box[2] : f.box[3]) * FACE_THUMB_MARGIN * s;
    double cx = (f.box[0] + f.box[2] / 2.0) * s, cy = (f.box[1] + f.box[3] / 2.0) * s;
    int x0 = (int)(cx - side / 2), y0 = (int)(cy - side / 2), x1 = (int)(cx + side / 2), y1 = (int)(cy + side / 2);
    if (x0 < 0) x0 = 0;
    if (y0 < 0) y0 = 0;
    if (x1 > d.work.w) x1 = d.work.w;
    if (y1 > d.work.h) y1 = d.work.h;
    if (x1 - x0 < 1 || y1 - y0 < 1) {
        img_decoded_free(&d);
        return scry_fail(err, SCRY_ECORRUPT, "face %lld lies outside its image", (long long)face_id);
    }
    img_rgb crop = {x1 - x0, y1 - y0, malloc((size_t)(x1 - x0) * (y1 - y0) * 3)};
    if (!crop.px) {
        img_decoded_free(&d);
        return scry_fail(err, SCRY_ENOMEM, "out of memory");
    }
    for (int y = y0; y < y1; y++)
        memcpy(crop.px + (size_t)(y - y0) * crop.w * 3, d.work.px + ((size_t)y * d.work.w + x0) * 3,
               (size_t)crop.w * 3);
    img_decoded_free(&d);
    rc = img_thumbnail_jpeg(&crop, APP_FACE_THUMB_SIDE, jpeg, len, err);
    free(crop.px);
    return rc;
}

int app_check_query(const char *q, scry_err *err) {
    for (const char *p = q; p && *p; p++) {
        const char *close = NULL, *after = NULL;
        if (*p == '"') close = "\"", after = p + 1;
        else if (!strncmp(p, "\xE2\x80\x9C", 3)) close = "\xE2\x80\x9D", after = p + 3;  /* “ ... ” */
        if (!close) continue;
        const char *end = strstr(after, close);
        if (!end)
            return scry_fail(err, SCRY_EINVAL,
                             "unterminated quote: close the quote to search for that exact text, or remove it");
        p = end + strlen(close) - 1;
    }
    return SCRY_OK;
}
