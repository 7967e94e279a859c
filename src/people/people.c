/* people.c -- see people.h.
 *
 * The mirror: an array of faces (descriptor in the face space, person,
 * assigned state) with a rowmap from face id to slot, and an array of
 * persons (sum of their faces' descriptors, count, faces a user placed,
 * photos with a count each, sorted) with a rowmap from person id to slot.
 * Removing swaps the last entry into the hole. Persons exist in the mirror
 * while they have faces, which is also when they exist in the store.
 *
 * An incremental update decides in the mirror (new persons get provisional
 * negative ids), writes every face whose person changed in one transaction
 * (meta_faces_assign, automatic: a face a user placed meanwhile is left
 * alone), then syncs: the faces it wrote come back through the change feed
 * with their real person ids, which empties the provisional persons. If the
 * write fails the mirror is rebuilt from the store.
 *
 * Person merges during an update move the faces of the person that is not
 * fixed (no name, no face a user placed) into the one that is; when neither
 * is, into the one with a real id, then the larger. */
#include "people/people.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/util.h"
#include "people/cluster.h"
#include "people/facespace.h"
#include "search/rowmap.h"

typedef struct pface {
    int64_t face_id, image_rowid, person_id;
    int assigned;
    int small;                  /* under PEOPLE_MIN_FACE_PX: nobody, unless a user says */
    float *v;                   /* dim floats, face space (owned) */
} pface;

typedef struct pimg {
    int64_t rowid;
    int count;
} pimg;

typedef struct pperson {
    int64_t id;                 /* > 0, or < 0 while provisional */
    int n, nmanual;
    float *sum;                 /* dim (owned) */
    pimg *imgs;                 /* sorted by rowid */
    int nimgs, capimgs;
} pperson;

typedef struct pname {
    int64_t id;
    char name[PEOPLE_NAME_MAX + 1];
    char low[PEOPLE_NAME_MAX + 1];
} pname;

struct people {
    meta_db *db;
    char model[64];
    facespace fs;
    int dim;
    pthread_mutex_t mu;
    pface *faces;
    int nfaces, capfaces;
    rowmap face_at;
    pperson *persons;
    int npersons, cappersons;
    rowmap person_at;
    int64_t synced_ms;
    int64_t *pending;           /* face ids seen as META_FACE_NEW */
    int npending, cappending;
    uint64_t names_version;
    int names_loaded;
    pname *names;
    int nnames;
    /* the automatic re-cluster: faces indexing clustered since the last one */
    int auto_min, auto_since;
    double auto_fraction;           /* <= 0: off (people_set_auto_recluster) */
    /* the background re-cluster */
    pthread_mutex_t job_mu;
    pthread_t job_thread;
    int job_running, job_joinable;
    char job_id[SCRY_ID_LEN + 1];
};

/* rowmap keys must be > 0: provisional ids map above every real one. */
static int64_t pkey(int64_t id) { return id > 0 ? id : (INT64_C(1) << 62) - id; }

static float dotf(const float *a, const float *b, int n) {
    float s = 0;
    for (int i = 0; i < n; i++) s += a[i] * b[i];
    return s;
}

static int grow(void **v, int *cap, int need, size_t elem) {
    if (need <= *cap) return 0;
    int c = *cap ? *cap * 2 : 16;
    while (c < need) c *= 2;
    void *q = realloc(*v, (size_t)c * elem);
    if (!q) return -1;
    *v = q;
    *cap = c;
    return 0;
}

/* ---- persons ------------------------------------------------------------ */

static pperson *person_find(people *p, int64_t id) {
    uint32_t at;
    return rowmap_get(&p->person_at, pkey(id), &at) ? &p->persons[at] : NULL;
}

static pperson *person_get_or_add(people *p, int64_t id) {
    pperson *x = person_find(p, id);
    if (x) return x;
    if (grow((void **)&p->persons, &p->cappersons, p->npersons + 1, sizeof *p->persons)) return NULL;
    x = &p->persons[p->npersons];
    memset(x, 0, sizeof *x);
    x->id = id;
    x->sum = calloc((size_t)p->dim, sizeof *x->sum);
    if (!x->sum || rowmap_put(&p->person_at, pkey(id), (uint32_t)p->npersons)) {
        free(x->sum);
        return NULL;
    }
    p->npersons++;
    return x;
}

static void person_remove(people *p, pperson *x) {
    uint32_t at = (uint32_t)(x - p->persons);
    rowmap_del(&p->person_at, pkey(x->id));
    free(x->sum);
    free(x->imgs);
    if ((int)at != p->npersons - 1) {
        p->persons[at] = p->persons[p->npersons - 1];
        rowmap_put(&p->person_at, pkey(p->persons[at].id), at);
    }
    p->npersons--;
}

/* Index of rowid in x's photos, or -(insertion point + 1). */
static int img_find(const pperson *x, int64_t rowid) {
    int lo = 0, hi = x->nimgs - 1;
    while (lo <= hi) {
        int mid = (lo + hi) / 2;
        if (x->imgs[mid].rowid == rowid) return mid;
        if (x->imgs[mid].rowid < rowid) lo = mid + 1;
        else hi = mid - 1;
    }
    return -(lo + 1);
}

static int has_image(const pperson *x, int64_t rowid) { return img_find(x, rowid) >= 0; }

static int images_disjoint(const pperson *a, const pperson *b) {
    int i = 0, j = 0;
    while (i < a->nimgs && j < b->nimgs) {
        if (a->imgs[i].rowid == b->imgs[j].rowid) return 0;
        if (a->imgs[i].rowid < b->imgs[j].rowid) i++;
        else j++;
    }
    return 1;
}

/* The named person's entry (names are sorted by id), or NULL. */
static const pname *name_of(const people *p, int64_t id) {
    int lo = 0, hi = p->nnames - 1;
    while (lo <= hi) {
        int mid = (lo + hi) / 2;
        if (p->names[mid].id == id) return &p->names[mid];
        if (p->names[mid].id < id) lo = mid + 1;
        else hi = mid - 1;
    }
    return NULL;
}

static int is_named(const people *p, int64_t id) { return name_of(p, id) != NULL; }

/* A person a user has had a hand in: named, or with a face placed. */
static int fixed(people *p, const pperson *x) { return x->nmanual > 0 || (x->id > 0 && is_named(p, x->id)); }

/* Face f joins / leaves its person (f->person_id) in the mirror. */
static int attach(people *p, pface *f) {
    if (!f->person_id) return SCRY_OK;
    pperson *x = person_get_or_add(p, f->person_id);
    if (!x) return SCRY_ENOMEM;
    int k = img_find(x, f->image_rowid);
    if (k < 0) {
        k = -k - 1;
        if (grow((void **)&x->imgs, &x->capimgs, x->nimgs + 1, sizeof *x->imgs)) return SCRY_ENOMEM;
        memmove(x->imgs + k + 1, x->imgs + k, (size_t)(x->nimgs - k) * sizeof *x->imgs);
        x->imgs[k] = (pimg){f->image_rowid, 0};
        x->nimgs++;
    }
    x->imgs[k].count++;
    for (int i = 0; i < p->dim; i++) x->sum[i] += f->v[i];
    x->n++;
    if (f->assigned == META_FACE_MANUAL) x->nmanual++;
    return SCRY_OK;
}

static void detach(people *p, pface *f) {
    if (!f->person_id) return;
    pperson *x = person_find(p, f->person_id);
    if (!x) return;
    int k = img_find(x, f->image_rowid);
    if (k >= 0 && --x->imgs[k].count == 0) {
        memmove(x->imgs + k, x->imgs + k + 1, (size_t)(x->nimgs - k - 1) * sizeof *x->imgs);
        x->nimgs--;
    }
    for (int i = 0; i < p->dim; i++) x->sum[i] -= f->v[i];
    x->n--;
    if (f->assigned == META_FACE_MANUAL) x->nmanual--;
    if (x->n <= 0) person_remove(p, x);
}

/* ---- faces ---------------------------------------------------------------- */

static pface *face_find(people *p, int64_t id) {
    uint32_t at;
    return rowmap_get(&p->face_at, id, &at) ? &p->faces[at] : NULL;
}

static int pending_add(people *p, int64_t face_id) {
    if (grow((void **)&p->pending, &p->cappending, p->npending + 1, sizeof *p->pending)) return SCRY_ENOMEM;
    p->pending[p->npending++] = face_id;
    return SCRY_OK;
}

/* Insert or update a face from a store row. */
static int face_put(const meta_face *m, void *ctx) {
    people *p = ctx;
    if (m->dim != p->dim || !m->vec) return 0;     /* another descriptor shape: not ours */
    pface *f = face_find(p, m->face_id);
    if (!f) {
        if (grow((void **)&p->faces, &p->capfaces, p->nfaces + 1, sizeof *p->faces)) return SCRY_ENOMEM;
        f = &p->faces[p->nfaces];
        memset(f, 0, sizeof *f);
        f->v = malloc((size_t)p->dim * sizeof *f->v);
        if (!f->v || rowmap_put(&p->face_at, m->face_id, (uint32_t)p->nfaces)) {
            free(f->v);
            return SCRY_ENOMEM;
        }
        p->nfaces++;
    } else {
        detach(p, f);
    }
    f->face_id = m->face_id;
    f->image_rowid = m->image_rowid;
    f->person_id = m->person_id;
    f->assigned = m->assigned;
    f->small = m->box[2] < PEOPLE_MIN_FACE_PX || m->box[3] < PEOPLE_MIN_FACE_PX;
    facespace_apply(&p->fs, m->vec, f->v);
    if (f->assigned == META_FACE_NEW && pending_add(p, f->face_id)) return SCRY_ENOMEM;
    return attach(p, f);
}

static int face_gone(int64_t face_id, void *ctx) {
    people *p = ctx;
    uint32_t at;
    if (!rowmap_get(&p->face_at, face_id, &at)) return 0;
    pface *f = &p->faces[at];
    detach(p, f);
    free(f->v);
    rowmap_del(&p->face_at, face_id);
    if ((int)at != p->nfaces - 1) {
        p->faces[at] = p->faces[p->nfaces - 1];
        rowmap_put(&p->face_at, p->faces[at].face_id, at);
    }
    p->nfaces--;
    return 0;
}

static void mirror_clear(people *p) {
    for (int i = 0; i < p->nfaces; i++) free(p->faces[i].v);
    for (int i = 0; i < p->npersons; i++) free(p->persons[i].sum), free(p->persons[i].imgs);
    p->nfaces = p->npersons = p->npending = 0;
    rowmap_clear(&p->face_at);
    rowmap_clear(&p->person_at);
    p->synced_ms = 0;
    p->names_loaded = 0;
}

static int load_names(people *p, scry_err *err) {
    meta_person *named = NULL;
    int n = 0;
    int rc = meta_people_named(p->db, &named, &n, err);
    if (rc) return rc;
    pname *arr = calloc((size_t)(n ? n : 1), sizeof *arr);
    if (!arr) {
        meta_people_free(named, n);
        return scry_fail(err, SCRY_ENOMEM, "out of memory");
    }
    for (int i = 0; i < n; i++) {
        arr[i].id = named[i].person_id;
        snprintf(arr[i].name, sizeof arr[i].name, "%s", named[i].name ? named[i].name : "");
        for (size_t k = 0; arr[i].name[k]; k++)
            arr[i].low[k] = (char)(arr[i].name[k] >= 'A' && arr[i].name[k] <= 'Z' ? arr[i].name[k] + 32 : arr[i].name[k]);
    }
    meta_people_free(named, n);
    free(p->names);
    p->names = arr;
    p->nnames = n;
    return SCRY_OK;
}

/* Bring the mirror up to date with the store (p->mu held). */
static int sync_locked(people *p, scry_err *err) {
    uint64_t version = meta_people_version(p->db);
    int64_t last = p->synced_ms;
    /* re-read the last millisecond: rows stamped in it may have committed
     * after the previous read (upserts are idempotent) */
    int rc = meta_face_changes(p->db, p->model, p->synced_ms > 0 ? p->synced_ms - 1 : 0, face_put,
                               face_gone, p, &last, err);
    if (rc == SCRY_ENOMEM) rc = scry_fail(err, SCRY_ENOMEM, "out of memory (people)");
    if (rc) {
        mirror_clear(p);        /* half-applied: start again next time */
        return rc;
    }
    p->synced_ms = last;
    if (!p->names_loaded || version != p->names_version) {
        if ((rc = load_names(p, err)) != SCRY_OK) return rc;
        p->names_loaded = 1;
        p->names_version = version;
    }
    return SCRY_OK;
}

int people_open(people **out, meta_db *db, const char *models_dir, const char *model,
                scry_err *err) {
    *out = NULL;
    people *p = calloc(1, sizeof *p);
    if (!p) return scry_fail(err, SCRY_ENOMEM, "out of memory");
    p->db = db;
    snprintf(p->model, sizeof p->model, "%s", model);
    int rc = facespace_load(models_dir, &p->fs, err);
    if (rc) {
        free(p);
        return rc;
    }
    if (strcmp(p->fs.model, model)) {
        rc = scry_fail(err, SCRY_EUNSUPPORTED, "%s/%s is for %s descriptors, not %s; run ./scripts/setup.sh",
                       models_dir, FACESPACE_FILE, p->fs.model, model);
        facespace_free(&p->fs);
        free(p);
        return rc;
    }
    p->dim = p->fs.dim;
    pthread_mutex_init(&p->mu, NULL);
    pthread_mutex_init(&p->job_mu, NULL);
    double t0 = scry_mono_s();
    pthread_mutex_lock(&p->mu);
    rc = sync_locked(p, err);
    pthread_mutex_unlock(&p->mu);
    if (rc) {
        people_close(p);
        return rc;
    }
    log_info("people.opened", "faces=%d persons=%d pending=%d ms=%.1f", p->nfaces, p->npersons,
             p->npending, (scry_mono_s() - t0) * 1000);
    *out = p;
    return SCRY_OK;
}

const char *people_model(const people *p) { return p->model; }

void people_close(people *p) {
    if (!p) return;
    people_wait(p);
    mirror_clear(p);
    free(p->faces);
    free(p->persons);
    free(p->pending);
    free(p->names);
    rowmap_free(&p->face_at);
    rowmap_free(&p->person_at);
    facespace_free(&p->fs);
    pthread_mutex_destroy(&p->mu);
    pthread_mutex_destroy(&p->job_mu);
    free(p);
}

/* ---- incremental clustering ------------------------------------------------ */

typedef struct changes {
    meta_assignment *a;
    int n, cap;
    rowmap at;                  /* face id -> entry */
} changes;

static int change(changes *c, int64_t face_id, int64_t person_id) {
    uint32_t at;
    if (rowmap_get(&c->at, face_id, &at)) {
        c->a[at].person_id = person_id;
        return SCRY_OK;
    }
    if (grow((void **)&c->a, &c->cap, c->n + 1, sizeof *c->a) ||
        rowmap_put(&c->at, face_id, (uint32_t)c->n))
        return SCRY_ENOMEM;
    c->a[c->n++] = (meta_assignment){face_id, person_id};
    return SCRY_OK;
}

/* Move every face of person `from` to `into` (mirror and changes). */
static int move_all(people *p, int64_t from, int64_t into, changes *c) {
    for (int i = 0; i < p->nfaces; i++) {
        pface *f = &p->faces[i];
        if (f->person_id != from) continue;
        detach(p, f);
        f->person_id = into;
        int rc = attach(p, f);
        if (rc == SCRY_OK) rc = change(c, f->face_id, into);
        if (rc) return rc;
    }
    return SCRY_OK;
}

/* The mean cosine over all pairs of faces of two persons. */
static float avg_link(const people *p, const pperson *a, const pperson *b) {
    return dotf(a->sum, b->sum, p->dim) / ((float)a->n * (float)b->n);
}

/* Merge person id with its best match while that is >= PEOPLE_JOIN_MIN. */
static int cascade(people *p, int64_t id, changes *c) {
    for (;;) {
        pperson *x = person_find(p, id);
        if (!x) return SCRY_OK;
        int fx = fixed(p, x);
        pperson *best = NULL;
        float bm = PEOPLE_JOIN_MIN;
        for (int i = 0; i < p->npersons; i++) {
            pperson *o = &p->persons[i];
            if (o == x || (fx && fixed(p, o)) || !images_disjoint(x, o)) continue;
            float m = avg_link(p, x, o);
            if (m >= bm) bm = m, best = o;
        }
        if (!best) return SCRY_OK;
        int fb = fixed(p, best);
        int64_t into, from;
        if (fx != fb) into = fx ? x->id : best->id;
        else if ((x->id > 0) != (best->id > 0)) into = x->id > 0 ? x->id : best->id;
        else into = x->n >= best->n ? x->id : best->id;
        from = into == x->id ? best->id : x->id;
        int rc = move_all(p, from, into, c);
        if (rc) return rc;
        id = into;
    }
}

static void auto_recluster(people *p);

int people_update(people *p, int *assigned, scry_err *err) {
    if (assigned) *assigned = 0;
    pthread_mutex_lock(&p->mu);
    /* other processes clustering (workers on PostgreSQL) take turns: each
     * decides on a mirror that has everyone's latest assignments */
    int rc = meta_people_lock(p->db, 1, PEOPLE_LOCK_WAIT_MS, err);
    if (rc != SCRY_OK) {
        pthread_mutex_unlock(&p->mu);
        return rc;
    }
    rc = sync_locked(p, err);
    changes c = {0};
    int64_t next_provisional = -1;
    int clustered = 0;
    for (int k = 0; rc == SCRY_OK && k < p->npending; k++) {
        pface *f = face_find(p, p->pending[k]);
        if (!f || f->assigned != META_FACE_NEW) continue;
        if (f->small) {         /* too small to tell who: nobody (stays out of every person) */
            detach(p, f);
            f->person_id = 0;
            f->assigned = META_FACE_AUTO;
            if ((rc = change(&c, f->face_id, 0)) == SCRY_ENOMEM) rc = scry_fail(err, SCRY_ENOMEM, "out of memory (people)");
            continue;
        }
        /* the person this face is most like (average link), never one that
         * already has a face in the same photo */
        pperson *best = NULL;
        float bm = PEOPLE_JOIN_MIN;
        for (int i = 0; i < p->npersons; i++) {
            pperson *o = &p->persons[i];
            if (has_image(o, f->image_rowid)) continue;
            float m = dotf(f->v, o->sum, p->dim) / (float)o->n;
            if (m >= bm) bm = m, best = o;
        }
        detach(p, f);
        f->person_id = best ? best->id : next_provisional--;
        f->assigned = META_FACE_AUTO;
        clustered++;
        if ((rc = attach(p, f)) == SCRY_OK && (rc = change(&c, f->face_id, f->person_id)) == SCRY_OK)
            rc = cascade(p, f->person_id, &c);
        if (rc == SCRY_ENOMEM) rc = scry_fail(err, SCRY_ENOMEM, "out of memory (people)");
    }
    p->npending = 0;
    if (rc == SCRY_OK && c.n) {
        int64_t *new_ids = calloc((size_t)(-next_provisional), sizeof *new_ids);
        int applied = 0;
        rc = new_ids ? meta_faces_assign(p->db, c.a, c.n, META_FACE_AUTO, new_ids, &applied, err)
                     : scry_fail(err, SCRY_ENOMEM, "out of memory");
        free(new_ids);
        if (rc == SCRY_OK) {
            if (assigned) *assigned = applied;
            log_debug("people.updated", "faces=%d persons=%d", applied, p->npersons);
        }
    }
    /* the faces written come back with their real persons; after a failed
     * write the mirror is rebuilt from the store */
    if (rc != SCRY_OK) mirror_clear(p);
    else if (c.n) rc = sync_locked(p, err);
    int auto_due = 0;
    if (rc == SCRY_OK && clustered) {
        p->auto_since += clustered;
        auto_due = p->auto_fraction > 0 && p->auto_since >= p->auto_min &&
                   p->auto_since >= p->auto_fraction * p->nfaces;
    }
    scry_err uerr = {0};
    meta_people_lock(p->db, 0, 0, &uerr);
    pthread_mutex_unlock(&p->mu);
    free(c.a);
    rowmap_free(&c.at);
    if (auto_due) auto_recluster(p);
    return rc;
}

/* ---- the full re-cluster ----------------------------------------------------- */

typedef struct snap {
    int64_t face_id, image_rowid, person_id;
    int assigned, small;
} snap;

typedef struct claim {
    int cluster;
    int64_t person;
    int count;
} claim;

static int by_count_desc(const void *a, const void *b) {
    const claim *x = a, *y = b;
    if (x->count != y->count) return y->count - x->count;
    if (x->person != y->person) return x->person < y->person ? -1 : 1;
    return x->cluster - y->cluster;
}

static void job_note(people *p, const char *job_id, const char *status, int done, int total,
                     const char *error) {
    scry_err e = {0};
    if (job_id && meta_job_set(p->db, job_id, status, done, total, error, &e))
        log_warn("people.job_update_failed", "job=%s reason=\"%s\"", job_id, e.msg);
}

int people_recluster_run(people *p, const char *job_id, scry_err *err) {
    double t0 = scry_mono_s();
    /* 1. a copy of every face, taken under the lock */
    pthread_mutex_lock(&p->mu);
    int rc = sync_locked(p, err);
    p->auto_since = 0;
    int n = p->nfaces;
    snap *s = calloc((size_t)(n ? n : 1), sizeof *s);
    float *v = malloc((size_t)(n ? n : 1) * (size_t)p->dim * sizeof *v);
    if (rc == SCRY_OK && (!s || !v)) rc = scry_fail(err, SCRY_ENOMEM, "out of memory (re-cluster)");
    for (int i = 0; rc == SCRY_OK && i < n; i++) {
        const pface *f = &p->faces[i];
        s[i] = (snap){f->face_id, f->image_rowid, f->person_id, f->assigned,
                      f->small && f->assigned != META_FACE_MANUAL};
        memcpy(v + (size_t)i * p->dim, f->v, (size_t)p->dim * sizeof *v);
    }
    pthread_mutex_unlock(&p->mu);
    job_note(p, job_id, "running", 0, n, NULL);
    /* 2. cluster without it */
    cluster_face *cf = rc == SCRY_OK ? malloc((size_t)(n ? n : 1) * sizeof *cf) : NULL;
    int *labels = rc == SCRY_OK ? malloc((size_t)(n ? n : 1) * sizeof *labels) : NULL;
    int k = 0;
    if (rc == SCRY_OK && (!cf || !labels)) rc = scry_fail(err, SCRY_ENOMEM, "out of memory (re-cluster)");
    /* small faces (not placed by a user) are left out: nobody */
    int *at = rc == SCRY_OK ? malloc((size_t)(n ? n : 1) * sizeof *at) : NULL;
    int m = 0;
    if (rc == SCRY_OK && !at) rc = scry_fail(err, SCRY_ENOMEM, "out of memory (re-cluster)");
    for (int i = 0; rc == SCRY_OK && i < n; i++) {
        if (s[i].small) continue;
        int64_t fixed_to = s[i].assigned == META_FACE_MANUAL ? (s[i].person_id ? s[i].person_id : -1) : 0;
        at[m] = i;
        cf[m++] = (cluster_face){v + (size_t)i * p->dim, s[i].image_rowid, fixed_to};
    }
    int *mlabels = rc == SCRY_OK ? malloc((size_t)(m ? m : 1) * sizeof *mlabels) : NULL;
    if (rc == SCRY_OK && !mlabels) rc = scry_fail(err, SCRY_ENOMEM, "out of memory (re-cluster)");
    if (rc == SCRY_OK) rc = cluster_average_link(cf, m, p->dim, PEOPLE_RECLUSTER_MIN, mlabels, &k, err);
    for (int i = 0; rc == SCRY_OK && i < n; i++) labels[i] = -1;
    for (int j = 0; rc == SCRY_OK && j < m; j++) labels[at[j]] = mlabels[j];
    free(mlabels);
    /* 3. clusters keep ids: a user's person first, then by overlap */
    int64_t *target = rc == SCRY_OK ? calloc((size_t)(k ? k : 1), sizeof *target) : NULL;
    claim *cl = rc == SCRY_OK ? malloc((size_t)(n ? n : 1) * sizeof *cl) : NULL;
    rowmap taken = {0};
    int ncl = 0, nchanges = 0;
    if (rc == SCRY_OK && (!target || !cl)) rc = scry_fail(err, SCRY_ENOMEM, "out of memory (re-cluster)");
    for (int j = 0; rc == SCRY_OK && j < m; j++)
        if (labels[at[j]] >= 0 && cf[j].fixed > 0 && !target[labels[at[j]]]) {
            target[labels[at[j]]] = cf[j].fixed;
            if (rowmap_put(&taken, cf[j].fixed, 1)) rc = scry_fail(err, SCRY_ENOMEM, "out of memory");
        }
    for (int i = 0; rc == SCRY_OK && i < n; i++) {
        if (labels[i] < 0 || target[labels[i]] || s[i].person_id <= 0) continue;
        int j = 0;
        for (; j < ncl; j++)
            if (cl[j].cluster == labels[i] && cl[j].person == s[i].person_id) break;
        if (j == ncl) cl[ncl++] = (claim){labels[i], s[i].person_id, 0};
        cl[j].count++;
    }
    if (rc == SCRY_OK) qsort(cl, (size_t)ncl, sizeof *cl, by_count_desc);
    uint32_t dummy;
    for (int j = 0; rc == SCRY_OK && j < ncl; j++) {
        if (target[cl[j].cluster] || rowmap_get(&taken, cl[j].person, &dummy)) continue;
        target[cl[j].cluster] = cl[j].person;
        if (rowmap_put(&taken, cl[j].person, 1)) rc = scry_fail(err, SCRY_ENOMEM, "out of memory");
    }
    int64_t next_provisional = -1;
    for (int c = 0; rc == SCRY_OK && c < k; c++)
        if (!target[c]) target[c] = next_provisional--;
    /* 4. write the faces that change, unless they changed meanwhile */
    meta_assignment *a = rc == SCRY_OK ? malloc((size_t)(n ? n : 1) * sizeof *a) : NULL;
    if (rc == SCRY_OK && !a) rc = scry_fail(err, SCRY_ENOMEM, "out of memory");
    if (rc == SCRY_OK) {
        pthread_mutex_lock(&p->mu);
        rc = sync_locked(p, err);
        for (int i = 0; rc == SCRY_OK && i < n; i++) {
            if ((labels[i] < 0 && !s[i].small) || s[i].assigned == META_FACE_MANUAL) continue;
            const pface *f = face_find(p, s[i].face_id);
            if (!f || f->assigned == META_FACE_MANUAL || f->person_id != s[i].person_id) continue;
            int64_t to = s[i].small ? 0 : target[labels[i]];
            if (to == s[i].person_id && (to || s[i].assigned != META_FACE_NEW)) continue;
            a[nchanges++] = (meta_assignment){s[i].face_id, to};
        }
        if (rc == SCRY_OK && nchanges) {
            int64_t *new_ids = calloc((size_t)(-next_provisional), sizeof *new_ids);
            rc = new_ids ? meta_faces_assign(p->db, a, nchanges, META_FACE_AUTO, new_ids, NULL, err)
                         : scry_fail(err, SCRY_ENOMEM, "out of memory");
            free(new_ids);
            if (rc == SCRY_OK) rc = sync_locked(p, err);
        }
        p->npending = 0;        /* every face was clustered just now */
        pthread_mutex_unlock(&p->mu);
    }
    free(a);
    free(cl);
    free(target);
    rowmap_free(&taken);
    free(labels);
    free(at);
    free(cf);
    free(v);
    free(s);
    double secs = scry_mono_s() - t0;
    if (rc == SCRY_OK) {
        job_note(p, job_id, "completed", n, n, NULL);
        log_info("people.reclustered", "job=%s faces=%d clusters=%d changed=%d s=%.2f", job_id ? job_id : "-",
                 n, k, nchanges, secs);
    } else {
        job_note(p, job_id, "failed", 0, n, err ? err->msg : "re-cluster failed");
        log_error("people.recluster_failed", "job=%s reason=\"%s\"", job_id ? job_id : "-", err ? err->msg : "");
    }
    return rc;
}

static void *job_main(void *arg) {
    people *p = arg;
    char id[SCRY_ID_LEN + 1];
    pthread_mutex_lock(&p->job_mu);
    memcpy(id, p->job_id, sizeof id);
    pthread_mutex_unlock(&p->job_mu);
    scry_err err = {0};
    people_recluster_run(p, id, &err);
    /* a job created while this one ran waits in the store: take it too */
    char more[4][SCRY_ID_LEN + 1];
    int n = 0;
    while (meta_jobs_unfinished(p->db, "recluster", more, 4, &n, &err) == SCRY_OK && n > 0) {
        memset(&err, 0, sizeof err);
        if (people_recluster_run(p, more[0], &err) != SCRY_OK) break;
    }
    pthread_mutex_lock(&p->job_mu);
    p->job_running = 0;
    pthread_mutex_unlock(&p->job_mu);
    return NULL;
}

static int start_thread(people *p, const char *job_id, scry_err *err) {
    pthread_mutex_lock(&p->job_mu);
    if (p->job_running) {
        pthread_mutex_unlock(&p->job_mu);
        return scry_fail(err, SCRY_EBUSY, "a re-cluster is already running (job %s)", p->job_id);
    }
    if (p->job_joinable) {
        pthread_join(p->job_thread, NULL);
        p->job_joinable = 0;
    }
    memcpy(p->job_id, job_id, sizeof p->job_id);
    p->job_running = 1;
    int prc = pthread_create(&p->job_thread, NULL, job_main, p);
    if (prc) p->job_running = 0;
    else p->job_joinable = 1;
    pthread_mutex_unlock(&p->job_mu);
    return prc ? scry_fail(err, SCRY_EIO, "cannot start the re-cluster thread") : SCRY_OK;
}

int people_recluster_start(people *p, char job_id[SCRY_ID_LEN + 1], scry_err *err) {
    job_id[0] = 0;
    pthread_mutex_lock(&p->job_mu);
    int busy = p->job_running;
    pthread_mutex_unlock(&p->job_mu);
    if (busy) return scry_fail(err, SCRY_EBUSY, "a re-cluster is already running (job %s)", p->job_id);
    pthread_mutex_lock(&p->mu);
    int total = p->nfaces;
    pthread_mutex_unlock(&p->mu);
    int rc = meta_job_create(p->db, "recluster", total, job_id, err);
    if (rc == SCRY_OK) rc = start_thread(p, job_id, err);
    if (rc != SCRY_OK && job_id[0]) job_note(p, job_id, "failed", 0, total, err->msg);
    return rc;
}

void people_set_auto_recluster(people *p, int min_new, double fraction) {
    pthread_mutex_lock(&p->mu);
    p->auto_min = min_new > 1 ? min_new : 1;
    p->auto_fraction = fraction;
    pthread_mutex_unlock(&p->mu);
}

/* Start the automatic re-cluster unless one is running here or is waiting
 * or running in the store (another process's). */
static void auto_recluster(people *p) {
    scry_err err = {0};
    char ids[1][SCRY_ID_LEN + 1], job_id[SCRY_ID_LEN + 1];
    int n = 0;
    if (meta_jobs_unfinished(p->db, "recluster", ids, 1, &n, &err) != SCRY_OK || n > 0) return;
    pthread_mutex_lock(&p->mu);
    int since = p->auto_since, faces = p->nfaces;
    pthread_mutex_unlock(&p->mu);
    if (people_recluster_start(p, job_id, &err) == SCRY_OK)
        log_info("people.recluster_auto", "job=%s clustered_since=%d faces=%d", job_id, since, faces);
    else if (err.code != SCRY_EBUSY)
        log_warn("people.recluster_auto_failed", "reason=\"%s\"", err.msg);
}

int people_resume(people *p, scry_err *err) {
    char ids[1][SCRY_ID_LEN + 1];
    int n = 0;
    int rc = meta_jobs_unfinished(p->db, "recluster", ids, 1, &n, err);
    if (rc || !n) return rc;
    log_info("people.recluster_resumed", "job=%s", ids[0]);
    return start_thread(p, ids[0], err);
}

void people_wait(people *p) {
    pthread_mutex_lock(&p->job_mu);
    int joinable = p->job_joinable;
    p->job_joinable = 0;
    pthread_mutex_unlock(&p->job_mu);
    if (joinable) pthread_join(p->job_thread, NULL);
}

/* ---- what search asks ---------------------------------------------------------- */

static int word_char(unsigned char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c >= 0x80 ||
           c == '\'' || c == '-';
}

static char lower(char c) { return c >= 'A' && c <= 'Z' ? (char)(c + 32) : c; }

/* Does name (lowercase) occur in text at i, as whole words (runs of spaces
 * in either match any run of non-word characters in the other)? Returns the
 * end, or -1. */
static int match_at(const char *text, int i, const char *name) {
    int t = i, k = 0;
    while (name[k]) {
        if (name[k] == ' ') {
            if (word_char((unsigned char)text[t]) || !text[t]) return -1;
            while (text[t] && !word_char((unsigned char)text[t])) t++;
            while (name[k] == ' ') k++;
            continue;
        }
        if (lower(text[t]) != name[k]) return -1;
        t++, k++;
    }
    /* "Anna's" is Anna */
    if (text[t] == '\'' && (text[t + 1] == 's' || text[t + 1] == 'S') && !word_char((unsigned char)text[t + 2]))
        return t + 2;
    if (word_char((unsigned char)text[t])) return -1;
    return t;
}

int people_find_names(people *p, const char *text, people_match *out, int max) {
    pthread_mutex_lock(&p->mu);
    scry_err err = {0};
    if (sync_locked(p, &err) != SCRY_OK) log_warn("people.sync_failed", "reason=\"%s\"", err.msg);
    int n = 0, len = (int)strlen(text);
    for (int i = 0; i < len && n < max;) {
        if (!word_char((unsigned char)text[i]) || (i > 0 && word_char((unsigned char)text[i - 1]))) {
            i++;
            continue;
        }
        int best = -1, best_end = -1;
        for (int k = 0; k < p->nnames; k++) {
            if (!p->names[k].low[0]) continue;
            int e = match_at(text, i, p->names[k].low);
            if (e > best_end) best_end = e, best = k;
        }
        if (best < 0) {
            i++;
            continue;
        }
        out[n].start = i;
        out[n].end = best_end;
        out[n].person_id = p->names[best].id;
        snprintf(out[n].name, sizeof out[n].name, "%s", p->names[best].name);
        n++;
        i = best_end;
    }
    pthread_mutex_unlock(&p->mu);
    return n;
}

int people_name(people *p, int64_t person_id, char *out, size_t cap) {
    pthread_mutex_lock(&p->mu);
    scry_err err = {0};
    if (sync_locked(p, &err) != SCRY_OK) log_warn("people.sync_failed", "reason=\"%s\"", err.msg);
    const pname *nm = name_of(p, person_id);
    if (cap) snprintf(out, cap, "%s", nm ? nm->name : "");
    pthread_mutex_unlock(&p->mu);
    return nm != NULL;
}

static int by_rowid(const void *a, const void *b) {
    int64_t x = ((const people_image *)a)->image_rowid, y = ((const people_image *)b)->image_rowid;
    return x < y ? -1 : x > y;
}

/* Keep the best score per image: sort by rowid, fold duplicates. */
static int fold_images(people_image *v, int n) {
    qsort(v, (size_t)n, sizeof *v, by_rowid);
    int k = 0;
    for (int i = 0; i < n; i++) {
        if (k && v[k - 1].image_rowid == v[i].image_rowid) {
            if (v[i].score > v[k - 1].score) v[k - 1].score = v[i].score;
        } else {
            v[k++] = v[i];
        }
    }
    return k;
}

int people_images_of(people *p, int64_t person_id, people_image **out, int *n, scry_err *err) {
    *out = NULL;
    *n = 0;
    pthread_mutex_lock(&p->mu);
    int rc = sync_locked(p, err);
    pperson *x = rc == SCRY_OK ? person_find(p, person_id) : NULL;
    if (rc == SCRY_OK && !x) rc = scry_fail(err, SCRY_ENOTFOUND, "person %lld not found", (long long)person_id);
    people_image *v = NULL;
    if (rc == SCRY_OK && !(v = malloc((size_t)x->n * sizeof *v))) rc = scry_fail(err, SCRY_ENOMEM, "out of memory");
    int m = 0;
    if (rc == SCRY_OK) {
        float norm = sqrtf(dotf(x->sum, x->sum, p->dim));
        for (int i = 0; i < p->nfaces && m < x->n; i++) {
            const pface *f = &p->faces[i];
            if (f->person_id != person_id) continue;
            float s = x->n == 1 || norm <= 0 ? 1.0f : dotf(f->v, x->sum, p->dim) / norm;
            v[m++] = (people_image){f->image_rowid, s};
        }
        *n = fold_images(v, m);
        *out = v;
    }
    pthread_mutex_unlock(&p->mu);
    return rc;
}

int people_images_like(people *p, int64_t face_id, float min_cos, people_image **out, int *n,
                       scry_err *err) {
    *out = NULL;
    *n = 0;
    pthread_mutex_lock(&p->mu);
    int rc = sync_locked(p, err);
    const pface *q = rc == SCRY_OK ? face_find(p, face_id) : NULL;
    if (rc == SCRY_OK && !q) rc = scry_fail(err, SCRY_ENOTFOUND, "face %lld not found", (long long)face_id);
    people_image *v = NULL;
    if (rc == SCRY_OK && !(v = malloc((size_t)p->nfaces * sizeof *v))) rc = scry_fail(err, SCRY_ENOMEM, "out of memory");
    int m = 0;
    for (int i = 0; rc == SCRY_OK && i < p->nfaces; i++) {
        if (p->faces[i].small && p->faces[i].face_id != face_id) continue;   /* too small to tell */
        float s = dotf(q->v, p->faces[i].v, p->dim);
        if (s >= min_cos) v[m++] = (people_image){p->faces[i].image_rowid, s};
    }
    if (rc == SCRY_OK) {
        *n = fold_images(v, m);
        *out = v;
    }
    pthread_mutex_unlock(&p->mu);
    return rc;
}

void people_get_stats(people *p, people_stats *out) {
    pthread_mutex_lock(&p->mu);
    out->faces = p->nfaces;
    out->persons = p->npersons;
    out->pending = p->npending;
    pthread_mutex_unlock(&p->mu);
}
