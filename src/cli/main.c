/* main.c -- the scry command line: serve, add, search, jobs, people (keys:
 * cli/keys.c).
 *
 * Every command opens the same app over the data folder (see app/app.h), so
 * `scry add` indexes through exactly the pipeline the server uses. Flags
 * come from the table in core/config.c (shared by all commands) plus a few
 * per command; environment variables SCRY_* set the same values.
 *
 * Logs: `serve` is a service and logs every event (level info). The
 * commands a person runs at a terminal (add, search, jobs) show warnings and
 * errors only, so that the progress bar and the answer are not buried under
 * log lines; -v shows info, -vv debug. --log-level / SCRY_LOG override both. */
#include <errno.h>
#include <ftw.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "app/app.h"
#include "app/render.h"
#include "cli/keys.h"
#include "core/config.h"
#include "core/log.h"
#include "core/paths.h"
#include "core/util.h"
#include "http/people_api.h"
#include "http/server.h"
#include "people/people.h"
#include "vision/image.h"

typedef struct cli_opts {
    scry_config cfg;
    int json;
    int hidden;                 /* add: --hidden, walk hidden files and folders too */
    int verbose;                /* -v: 1, -vv: 2 */
    int log_level_set;          /* --log-level or SCRY_LOG given */
    int limit, offset;
    const char *sort;
    const char *mode;           /* search: fused, bm25 or vector (benchmarks) */
    int no_floor;               /* search: --no-floor */
    int min_faces;              /* people: --min-faces (0: the config's) */
    char **args;                /* positional arguments */
    int nargs;
} cli_opts;

static const char *const g_usage =
    "usage: scry <command> [options]\n"
    "\n"
    "commands:\n"
    "  serve                 run the HTTP API and the indexing workers\n"
    "  add PATH...           index image files and folders (recursively) directly\n"
    "  search \"query\"        search the indexed images\n"
    "  jobs [ID]             list recent jobs, or show one\n"
    "  people [...]          list people; name, merge, forget, move faces, re-cluster\n"
    "\n"
    "Run 'scry <command> --help' for the options of a command.\n";

static void print_command_help(const char *cmd) {
    if (!strcmp(cmd, "serve"))
        printf("usage: scry serve [options]\n\nServe the v1 REST API on --host:--port and "
               "index uploads with --workers threads.\n");
    else if (!strcmp(cmd, "add"))
        printf("usage: scry add [options] PATH...\n\nIndex image files, and folders "
               "recursively, through the same pipeline as uploads; shows progress and a "
               "summary. Files that are not images are skipped, and so are Scry data folders\n"
               "(--data's, or any folder holding meta.db and blobs/) and hidden files and "
               "folders.\n\n  --hidden    walk hidden files and folders too\n");
    else if (!strcmp(cmd, "search"))
        printf("usage: scry search [options] \"query\"\n\n  --limit N   results (default "
               "20)\n  --offset N  skip results\n  --sort S    relevance or date\n  --json      "
               "print the API's JSON\n  --mode M    fused (default), or bm25 / vector alone "
               "(for benchmarks)\n  --no-floor  keep results below the relevance floor\n");
    else if (!strcmp(cmd, "people"))
        printf("usage: scry people [options] [ID]             list people (most faces first), or show one\n"
               "       scry people name ID \"Anna\"             name a person (\"\" clears the name)\n"
               "       scry people merge INTO FROM...         merge people into one\n"
               "       scry people forget ID                  forget a person and its name (faces kept)\n"
               "       scry people move FACE_ID ID|none|new   move a face to a person, to nobody, or a new one\n"
               "       scry people recluster                  cluster every face again (names and\n"
               "                                              corrections are kept)\n\n"
               "  --limit N   people to list (default 20)\n  --min-faces N  faces a listed person has at "
               "least (default --people-min-faces)\n  --json      print the API's JSON\n");
    else if (!strcmp(cmd, "jobs"))
        printf("usage: scry jobs [options] [ID]\n\n  --limit N   jobs to list (default 20)\n  "
               "--json      print the API's JSON\n");
    printf("\noptions shared by every command (flag, environment variable):\n");
    config_print_help(stdout);
    printf("  -v, -vv                             more log lines (%s)\n",
           strcmp(cmd, "serve") ? "add, search and jobs show warnings and errors only by default"
                                : "serve logs at info by default");
    char where[4096];
    paths_candidates("models", where, sizeof where);
    printf("\nData files (models/, wordvec/wordvec.bin, web/) are looked up, first found wins, in:\n");
    for (char *line = strtok(where, "\n"); line; line = strtok(NULL, "\n")) {
        char *cut = strstr(line, "/models");
        if (cut && !cut[7]) *cut = 0;
        printf("  %s\n", line);
    }
    const char *home = getenv("SCRY_HOME");
    if (!home || !*home) printf("  $SCRY_HOME/ (not set)\n");
}

/* Parse "--name value", "--name=value" and positionals. Returns 0 to go on,
 * 1 when help was printed, -1 on error. */
static int parse_args(int argc, char **argv, const char *cmd, cli_opts *o) {
    config_defaults(&o->cfg);
    scry_err err = {0};
    if (config_from_env(&o->cfg, &err) != SCRY_OK) {
        fprintf(stderr, "scry: %s\n", err.msg);
        return -1;
    }
    o->limit = 20;
    o->args = calloc((size_t)argc + 1, sizeof *o->args);
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            print_command_help(cmd);
            return 1;
        }
        if (!strcmp(a, "-v") || !strcmp(a, "-vv") || !strcmp(a, "--verbose")) {
            o->verbose += !strcmp(a, "-vv") ? 2 : 1;
            continue;
        }
        if (strncmp(a, "--", 2) != 0 || a[2] == 0) {
            o->args[o->nargs++] = argv[i];
            continue;
        }
        char name[64];
        const char *value = NULL;
        const char *eq = strchr(a + 2, '=');
        if (eq) {
            snprintf(name, sizeof name, "%.*s", (int)(eq - a - 2), a + 2);
            value = eq + 1;
        } else {
            snprintf(name, sizeof name, "%s", a + 2);
        }
        if (!strcmp(name, "json")) {
            o->json = 1;
            continue;
        }
        if (!strcmp(name, "no-floor")) {
            o->no_floor = 1;
            continue;
        }
        if (!strcmp(name, "hidden")) {
            o->hidden = 1;
            continue;
        }
        if (!strcmp(name, "log-level")) o->log_level_set = 1;
        if (!value && i + 1 < argc) value = argv[++i];
        if (!strcmp(name, "limit") || !strcmp(name, "offset") || !strcmp(name, "min-faces")) {
            char *end = NULL;
            long v = value ? strtol(value, &end, 10) : -1;
            if (!value || !end || *end || v < 0 || v > 100000) {
                fprintf(stderr, "scry: --%s needs a non-negative integer\n", name);
                return -1;
            }
            if (!strcmp(name, "limit")) o->limit = (int)v;
            else if (!strcmp(name, "min-faces")) o->min_faces = (int)v;
            else o->offset = (int)v;
            continue;
        }
        if (!strcmp(name, "sort")) {
            o->sort = value;
            continue;
        }
        if (!strcmp(name, "mode")) {
            if (!value || (strcmp(value, "fused") && strcmp(value, "bm25") && strcmp(value, "vector"))) {
                fprintf(stderr, "scry: --mode must be fused, bm25 or vector\n");
                return -1;
            }
            o->mode = value;
            continue;
        }
        if (config_set(&o->cfg, name, value, &err) != SCRY_OK) {
            fprintf(stderr, "scry: %s (see 'scry %s --help')\n", err.msg, cmd);
            return -1;
        }
    }
    const char *env_log = getenv("SCRY_LOG");
    if (env_log && *env_log) o->log_level_set = 1;
    int lvl = log_level_from_name(o->cfg.log_level);
    if (!o->log_level_set)
        lvl = o->verbose >= 2 ? LOG_DEBUG : o->verbose == 1 || !strcmp(cmd, "serve") ? LOG_INFO : LOG_WARN;
    if (lvl >= 0) log_set_level(lvl);
    return 0;
}

/* ---- serve ---------------------------------------------------------------- */

static int cmd_serve(cli_opts *o) {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    /* Block before any thread starts so that only sigwait sees them. */
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);
    scry_app app;
    scry_err err = {0};
    if (app_open(&app, &o->cfg, APP_WITH_WORKERS, &err) != SCRY_OK) {
        fprintf(stderr, "scry: %s\n", err.msg);
        return 1;
    }
    http_server *srv = NULL;
    if (http_start(&srv, &app, &err) != SCRY_OK) {
        fprintf(stderr, "scry: %s\n", err.msg);
        app_close(&app);
        return 1;
    }
    log_info("server.listening", "host=%s port=%d data=%s", app.cfg.host, http_port(srv),
             app.cfg.data_dir);
    int sig = 0;
    sigwait(&set, &sig);
    log_info("server.stopping", "signal=%d", sig);
    http_stop(srv);
    app_close(&app);
    log_info("server.stopped", "clean=1");
    return 0;
}

/* ---- add ------------------------------------------------------------------- */

typedef struct add_state {
    scry_app *app;
    meta_new_image *imgs;
    char **names;
    int n, cap;
    int skipped, unreadable;
    int hidden_ok;              /* --hidden */
    int hidden_skipped;         /* hidden files and folders not walked */
    dev_t data_dev;             /* the data folder, never indexed */
    ino_t data_ino;
    int data_skipped;           /* data folders met (ours or another's) */
} add_state;

static add_state *g_add;        /* nftw has no context argument */

static void add_file(add_state *st, const char *path) {
    void *data = NULL;
    size_t n = 0;
    scry_err err = {0};
    if (scry_read_file(path, &data, &n, &err) != SCRY_OK) {
        fprintf(stderr, "scry: skipping %s: %s\n", path, err.msg);
        st->unreadable++;
        return;
    }
    const char *fmt = img_sniff(data, n);
    if (!fmt) {
        st->skipped++;
        free(data);
        return;
    }
    if (st->n == st->cap) {
        st->cap = st->cap ? st->cap * 2 : 64;
        st->imgs = realloc(st->imgs, (size_t)st->cap * sizeof *st->imgs);
        st->names = realloc(st->names, (size_t)st->cap * sizeof *st->names);
    }
    meta_new_image *m = &st->imgs[st->n];
    memset(m, 0, sizeof *m);
    if (blob_put(st->app->blobs, data, n, m->sha256, &err) != SCRY_OK) {
        fprintf(stderr, "scry: cannot store %s: %s\n", path, err.msg);
        st->unreadable++;
        free(data);
        return;
    }
    free(data);
    const char *base = strrchr(path, '/');
    st->names[st->n] = strdup(base ? base + 1 : path);
    scry_new_id(m->id);
    m->filename = st->names[st->n];
    m->format = fmt;
    m->bytes = (int64_t)n;
    st->n++;
    if (isatty(2) && st->n % 25 == 0) fprintf(stderr, "\rstored %d files", st->n);
}

/* A Scry data folder: --data's (by device and inode, however it is
 * spelled), or any folder that holds a metadata database and a blob store.
 * Indexing one would add every stored original and thumbnail again. */
static int is_data_folder(const add_state *st, const char *path, const struct stat *sb) {
    if (sb->st_dev == st->data_dev && sb->st_ino == st->data_ino) return 1;
    char p[4096];
    struct stat x;
    snprintf(p, sizeof p, "%s/meta.db", path);
    if (stat(p, &x) != 0 || !S_ISREG(x.st_mode)) return 0;
    snprintf(p, sizeof p, "%s/blobs", path);
    return stat(p, &x) == 0 && S_ISDIR(x.st_mode);
}

static int walk_cb(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
    add_state *st = g_add;
    const char *name = path + ftw->base;
    /* the folder named on the command line is walked even when hidden */
    int hidden = ftw->level > 0 && name[0] == '.' && !st->hidden_ok;
    if (flag == FTW_D) {
        if (is_data_folder(st, path, sb)) {
            fprintf(stderr, "scry: not indexing %s: it is a Scry data folder\n", path);
            st->data_skipped++;
            return FTW_SKIP_SUBTREE;
        }
        if (hidden) {
            st->hidden_skipped++;
            return FTW_SKIP_SUBTREE;
        }
    } else if (flag == FTW_F) {
        if (hidden) st->hidden_skipped++;
        else add_file(st, path);
    }
    return FTW_CONTINUE;
}

/* Whether path is inside (or is) the data folder: compares each ancestor's
 * device and inode with the data folder's. */
static int inside_data_folder(const add_state *st, const char *path) {
    char *real = realpath(path, NULL);
    if (!real) return 0;
    int inside = 0;
    for (;;) {
        struct stat sb;
        if (stat(real, &sb) == 0 && sb.st_dev == st->data_dev && sb.st_ino == st->data_ino) {
            inside = 1;
            break;
        }
        char *slash = strrchr(real, '/');
        if (!slash || slash == real) break;
        *slash = 0;
    }
    free(real);
    return inside;
}

static void progress_bar(int done, int total, double elapsed) {
    int width = 30;
    int filled = total ? done * width / total : width;
    char bar[64];
    for (int i = 0; i < width; i++) bar[i] = i < filled ? '#' : '.';
    bar[width] = 0;
    fprintf(stderr, "\r[%s] %d/%d images  %.1f img/s ", bar, done, total,
            elapsed > 0 ? done / elapsed : 0.0);
    fflush(stderr);
}

static int cmd_add(cli_opts *o) {
    if (o->nargs == 0) {
        fprintf(stderr, "scry: add needs at least one file or folder (see 'scry add --help')\n");
        return 2;
    }
    scry_app app;
    scry_err err = {0};
    if (o->cfg.workers < 1) o->cfg.workers = 1;     /* add indexes in-process */
    if (app_open(&app, &o->cfg, APP_WORKERS_NO_RECOVER, &err) != SCRY_OK) {
        fprintf(stderr, "scry: %s\n", err.msg);
        return 1;
    }
    add_state st = {.app = &app, .hidden_ok = o->hidden};
    struct stat dsb;
    if (stat(app.cfg.data_dir, &dsb) == 0) st.data_dev = dsb.st_dev, st.data_ino = dsb.st_ino;
    g_add = &st;
    app_uploads_lock(&app);
    for (int i = 0; i < o->nargs; i++) {
        struct stat sb;
        if (stat(o->args[i], &sb) != 0) {
            fprintf(stderr, "scry: %s: %s\n", o->args[i], strerror(errno));
            st.unreadable++;
        } else if (inside_data_folder(&st, o->args[i])) {
            fprintf(stderr, "scry: not indexing %s: it is inside the data folder %s\n", o->args[i],
                    app.cfg.data_dir);
            st.data_skipped++;
        } else if (S_ISDIR(sb.st_mode)) {
            nftw(o->args[i], walk_cb, 32, FTW_PHYS | FTW_ACTIONRETVAL);
        } else {
            add_file(&st, o->args[i]);
        }
    }
    int rc = 0;
    char job_id[SCRY_ID_LEN + 1];
    int crc = st.n ? app_commit_upload(&app, st.imgs, st.n, job_id, &err) : SCRY_OK;
    app_uploads_unlock(&app);
    if (st.hidden_skipped)
        fprintf(stderr, "scry: %d hidden files and folders not walked (--hidden walks them)\n",
                st.hidden_skipped);
    if (st.n == 0) {
        fprintf(stderr, "scry: no images found (%d files skipped)\n", st.skipped);
        rc = st.unreadable ? 1 : 0;
        goto out;
    }
    if (crc != SCRY_OK) {
        fprintf(stderr, "scry: %s\n", err.msg);
        rc = 1;
        goto out;
    }
    double t0 = scry_mono_s();
    job_rec j = {0};
    for (;;) {
        if (meta_job_get(app.meta, job_id, &j, &err) != SCRY_OK) {
            fprintf(stderr, "\nscry: %s\n", err.msg);
            rc = 1;
            goto out;
        }
        int finished = !strcmp(j.status, "completed") || !strcmp(j.status, "failed");
        if (isatty(2) || finished) progress_bar(j.done + j.failed, j.total, scry_mono_s() - t0);
        if (finished) break;
        job_rec_free(&j);
        usleep(100 * 1000);
    }
    double secs = scry_mono_s() - t0;
    fprintf(stderr, "\n");
    printf("job %s %s: %d images, %d indexed, %d failed, %d non-images skipped, %.1f s "
           "(%.1f images/s)\n",
           job_id, j.status, j.total, j.done, j.failed, st.skipped, secs,
           secs > 0 ? j.total / secs : 0.0);
    for (int i = 0; i < j.nerrors; i++)
        printf("  failed: %s (%s) at %s: %s\n", j.errors[i].filename ? j.errors[i].filename : "",
               j.errors[i].image_id, j.errors[i].stage,
               j.errors[i].message ? j.errors[i].message : "");
    if (j.failed) rc = 1;
    job_rec_free(&j);
out:
    for (int i = 0; i < st.n; i++) free(st.names[i]);
    free(st.names);
    free(st.imgs);
    app_close(&app);
    return rc;
}

/* ---- search, jobs ------------------------------------------------------------ */

static void print_json(json_t *doc) {
    char *s = json_dumps(doc, JSON_INDENT(2));
    if (s) puts(s);
    free(s);
    json_decref(doc);
}

static int cmd_search(cli_opts *o) {
    if (o->nargs == 0) {
        fprintf(stderr, "scry: search needs a query (see 'scry search --help')\n");
        return 2;
    }
    char q[4096] = "";
    for (int i = 0; i < o->nargs; i++) {
        if (i) strncat(q, " ", sizeof q - strlen(q) - 1);
        strncat(q, o->args[i], sizeof q - strlen(q) - 1);
    }
    scry_app app;
    scry_err err = {0};
    if (app_check_query(q, &err) != SCRY_OK) {
        fprintf(stderr, "scry: %s\n", err.msg);
        return 2;
    }
    if (app_open(&app, &o->cfg, APP_NO_WORKERS, &err) != SCRY_OK) {
        fprintf(stderr, "scry: %s\n", err.msg);
        return 1;
    }
    search_params p;
    search_params_init(&p);
    p.q = q;
    p.limit = o->limit;
    p.offset = o->offset;
    if (o->sort && !strcmp(o->sort, "date")) p.sort = SORT_DATE;
    if (o->mode && !strcmp(o->mode, "bm25")) p.mode = SEARCH_BM25_ONLY;
    if (o->mode && !strcmp(o->mode, "vector")) p.mode = SEARCH_VECTOR_ONLY;
    p.no_floor = o->no_floor;
    search_response resp;
    int rc = 0;
    if (search_run(app.search, &p, &resp, &err) != SCRY_OK) {
        fprintf(stderr, "scry: %s\n", err.msg);
        rc = 1;
    } else if (o->json) {
        print_json(render_search(q, &resp));
    } else {
        search_result *res = resp.results;
        int n = resp.n;
        if (n == 0) printf("no results for \"%s\"\n", q);
        for (int i = 0; i < n; i++)
            printf("%2d. %.3f  %s  %s\n      %s%s%s\n", o->offset + i + 1, res[i].score,
                   res[i].id, res[i].filename, res[i].caption && *res[i].caption ? res[i].caption : "",
                   res[i].caption && *res[i].caption ? " — " : "", res[i].why);
    }
    search_response_free(&resp);
    app_close(&app);
    return rc;
}

static int cmd_jobs(cli_opts *o) {
    scry_app app;
    scry_err err = {0};
    if (app_open(&app, &o->cfg, APP_NO_WORKERS, &err) != SCRY_OK) {
        fprintf(stderr, "scry: %s\n", err.msg);
        return 1;
    }
    int rc = 0;
    if (o->nargs > 0) {
        job_rec j;
        if (meta_job_get(app.meta, o->args[0], &j, &err) != SCRY_OK) {
            fprintf(stderr, "scry: %s\n", err.msg);
            rc = 1;
        } else {
            if (o->json) {
                print_json(render_job(&j, 1));
            } else {
                printf("job %s: %s, %d/%d done, %d failed\n", j.id, j.status, j.done, j.total,
                       j.failed);
                for (int i = 0; i < j.nerrors; i++)
                    printf("  %s (%s) at %s: %s\n", j.errors[i].filename ? j.errors[i].filename : "",
                           j.errors[i].image_id, j.errors[i].stage,
                           j.errors[i].message ? j.errors[i].message : "");
            }
            job_rec_free(&j);
        }
    } else {
        job_rec *jobs = NULL;
        int n = 0;
        if (meta_job_list(app.meta, o->limit, &jobs, &n, &err) != SCRY_OK) {
            fprintf(stderr, "scry: %s\n", err.msg);
            rc = 1;
        } else {
            json_t *arr = o->json ? json_array() : NULL;
            for (int i = 0; i < n; i++) {
                if (arr) json_array_append_new(arr, render_job(&jobs[i], 0));
                else {
                    char when[32];
                    scry_iso8601(jobs[i].created_at, when);
                    printf("%s  %-9s %4d/%-4d failed %-4d %s\n", jobs[i].id, jobs[i].status,
                           jobs[i].done, jobs[i].total, jobs[i].failed, when);
                }
                job_rec_free(&jobs[i]);
            }
            free(jobs);
            if (arr) print_json(arr);
        }
    }
    app_close(&app);
    return rc;
}

/* ---- people ---------------------------------------------------------------- */

typedef struct cli_args {
    char limit[16], offset[16], min_faces[16];
} cli_args;

static const char *cli_arg(void *ctx, const char *name) {
    const cli_args *a = ctx;
    if (!strcmp(name, "limit")) return a->limit[0] ? a->limit : NULL;
    if (!strcmp(name, "offset")) return a->offset[0] ? a->offset : NULL;
    if (!strcmp(name, "min_faces")) return a->min_faces[0] ? a->min_faces : NULL;
    return NULL;
}

/* Print a reply: its error on stderr (1), the JSON (--json), or through fmt. */
static int cli_reply(api_reply *r, int json, void (*fmt)(json_t *doc)) {
    int rc = r->status >= 400;
    if (rc) {
        json_t *e = json_object_get(r->doc, "error");
        fprintf(stderr, "scry: %s\n", json_string_value(json_object_get(e, "message")));
    } else if (r->doc && (json || !fmt)) {
        char *txt = json_dumps(r->doc, JSON_INDENT(2));
        if (txt) puts(txt);
        free(txt);
    } else if (r->doc) {
        fmt(r->doc);
    }
    json_decref(r->doc);
    free(r->bytes);
    return rc;
}

static void print_person_line(json_t *p) {
    json_t *name = json_object_get(p, "name");
    printf("%6lld  %5lld faces  %5lld images  %s\n", (long long)json_integer_value(json_object_get(p, "id")),
           (long long)json_integer_value(json_object_get(p, "faces")),
           (long long)json_integer_value(json_object_get(p, "images")),
           json_is_string(name) ? json_string_value(name) : "(no name)");
}

static void print_people(json_t *doc) {
    json_t *arr = json_object_get(doc, "people");
    size_t i;
    json_t *p;
    if (!json_array_size(arr))
        printf("no people yet (a person is listed once it has %lld faces, or a name)\n",
               (long long)json_integer_value(json_object_get(doc, "min_faces")));
    json_array_foreach(arr, i, p) print_person_line(p);
    if (json_array_size(arr))
        printf("%zu of %lld people\n", json_array_size(arr), (long long)json_integer_value(json_object_get(doc, "total")));
}

static void print_face(json_t *f) {
    json_t *person = json_object_get(f, "person");
    printf("face %lld in image %s: %s\n", (long long)json_integer_value(json_object_get(f, "id")),
           json_string_value(json_object_get(f, "image_id")),
           json_is_object(person) ? "assigned" : "nobody");
}

static int cmd_people(cli_opts *o) {
    const char *sub = o->nargs ? o->args[0] : NULL;
    char path[128], body[1024];
    const char *method = "GET";
    body[0] = 0;
    void (*fmt)(json_t *) = print_people;
    int recluster = 0;
    if (!sub) {
        snprintf(path, sizeof path, "/v1/people");
    } else if (!strcmp(sub, "name") && o->nargs == 3) {
        json_t *b = json_object();
        json_object_set_new(b, "name", o->args[2][0] ? json_string(o->args[2]) : json_null());
        char *t = json_dumps(b, JSON_COMPACT);
        json_decref(b);
        snprintf(body, sizeof body, "%s", t ? t : "{}");
        free(t);
        snprintf(path, sizeof path, "/v1/people/%s", o->args[1]);
        method = "PATCH";
        fmt = print_person_line;
    } else if (!strcmp(sub, "merge") && o->nargs >= 3) {
        size_t len = (size_t)snprintf(body, sizeof body, "{\"from\": [");
        for (int i = 2; i < o->nargs && len < sizeof body - 32; i++) {
            char *end = NULL;
            long long v = strtoll(o->args[i], &end, 10);
            if (!end || *end || v <= 0) {
                fprintf(stderr, "scry: '%s' is not a person id\n", o->args[i]);
                return 2;
            }
            len += (size_t)snprintf(body + len, sizeof body - len, "%s%lld", i > 2 ? ", " : "", v);
        }
        snprintf(body + len, sizeof body - len, "]}");
        snprintf(path, sizeof path, "/v1/people/%s/merge", o->args[1]);
        method = "POST";
        fmt = print_person_line;
    } else if (!strcmp(sub, "forget") && o->nargs == 2) {
        snprintf(path, sizeof path, "/v1/people/%s", o->args[1]);
        method = "DELETE";
    } else if (!strcmp(sub, "move") && o->nargs == 3) {
        const char *to = o->args[2];
        if (!strcmp(to, "none")) snprintf(body, sizeof body, "{\"person\": null}");
        else if (!strcmp(to, "new")) snprintf(body, sizeof body, "{\"person\": \"new\"}");
        else snprintf(body, sizeof body, "{\"person\": %s}", to);
        snprintf(path, sizeof path, "/v1/faces/%s", o->args[1]);
        method = "PATCH";
        fmt = print_face;
    } else if (!strcmp(sub, "recluster") && o->nargs == 1) {
        recluster = 1;
    } else if (o->nargs == 1 && sub[0] >= '0' && sub[0] <= '9') {
        snprintf(path, sizeof path, "/v1/people/%s", sub);
        fmt = print_person_line;
    } else {
        fprintf(stderr, "scry: bad people command (see 'scry people --help')\n");
        return 2;
    }
    scry_app app;
    scry_err err = {0};
    o->cfg.vision = 0;          /* no indexing here: the models are not loaded */
    if (app_open(&app, &o->cfg, APP_NO_WORKERS, &err) != SCRY_OK) {
        fprintf(stderr, "scry: %s\n", err.msg);
        return 1;
    }
    int rc = 0;
    if (recluster) {
        char job[SCRY_ID_LEN + 1];
        if (!app.people) {
            fprintf(stderr, "scry: recognition of people is turned off (--people 0)\n");
            rc = 1;
        } else if (meta_job_create(app.meta, "recluster", 0, job, &err) != SCRY_OK ||
                   people_recluster_run(app.people, job, &err) != SCRY_OK) {
            fprintf(stderr, "scry: %s\n", err.msg);
            rc = 1;
        } else {
            people_stats st;
            people_get_stats(app.people, &st);
            printf("job %s completed: %d faces in %d people (candidates included)\n", job, st.faces, st.persons);
        }
    } else {
        cli_args a = {"", "", ""};
        snprintf(a.limit, sizeof a.limit, "%d", o->limit);
        snprintf(a.offset, sizeof a.offset, "%d", o->offset);
        if (o->min_faces) snprintf(a.min_faces, sizeof a.min_faces, "%d", o->min_faces);
        api_reply r;
        people_api_handle(&app, method, path, body[0] ? body : NULL, strlen(body), cli_arg, &a, &r);
        if (!strcmp(method, "DELETE") && r.status == 204) printf("person %s forgotten (its faces are kept)\n", o->args[1]);
        rc = cli_reply(&r, o->json, fmt);
    }
    app_close(&app);
    return rc;
}

int main(int argc, char **argv) {
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") ||
        !strcmp(argv[1], "help")) {
        fputs(g_usage, argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "keys")) return cli_keys(argc - 2, argv + 2);
    int (*fn)(cli_opts *) = NULL;
    if (!strcmp(cmd, "serve")) fn = cmd_serve;
    else if (!strcmp(cmd, "add")) fn = cmd_add;
    else if (!strcmp(cmd, "search")) fn = cmd_search;
    else if (!strcmp(cmd, "jobs")) fn = cmd_jobs;
    else if (!strcmp(cmd, "people")) fn = cmd_people;
    if (!fn) {
        fprintf(stderr, "scry: unknown command '%s'\n\n%s", cmd, g_usage);
        return 2;
    }
    cli_opts o;
    memset(&o, 0, sizeof o);
    int prc = parse_args(argc - 2, argv + 2, cmd, &o);
    int rc = prc < 0 ? 2 : prc > 0 ? 0 : fn(&o);
    free(o.args);
    return rc;
}
