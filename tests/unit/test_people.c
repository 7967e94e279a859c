/* Unit tests for people: the schema v5 store functions (real SQLite, then
 * real PostgreSQL when tests/run started one: SCRY_TEST_PG), the
 * people service on real faces (BlazeFace + faceres on LFW photos from the
 * shared data, in the face space of models/face_mean.bin), and the query
 * side (search/person_query). Model tests skip when the models or the
 * photos are absent. */
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../tools/rgbload.h"
#include "core/log.h"
#include "people/facespace.h"
#include "people/people.h"
#include "search/person_query.h"
#include "store/meta.h"
#include "vision/faceres.h"
#include "vision/faces.h"
#include "vision/onnx.h"

#define MODEL "human-faceres-3.3.6"

typedef struct fixture {
    char *dir;
    char path[1200];
    meta_db *db;
} fixture;

/* Set for the second run of the store tests, on PostgreSQL (tu_pg). */
static int g_on_pg;

static faces_model *g_faces;
static faceres_model *g_faceres;
static int g_have_models;

static int group_setup(void **state) {
    (void)state;
    log_set_level(LOG_WARN);
    char p1[1200], p2[1200], p3[1200];
    snprintf(p1, sizeof p1, "%s/%s", tu_deps("models"), FACERES_MODEL_FILE);
    snprintf(p2, sizeof p2, "%s/blazeface_back_256.onnx", tu_deps("models"));
    snprintf(p3, sizeof p3, "%s/%s", tu_deps("models"), FACESPACE_FILE);
    if (access(p1, R_OK) || access(p2, R_OK) || access(p3, R_OK) ||
        access(tu_shared("data/lfw/images/Aaron_Peirsol/Aaron_Peirsol_0001.jpg"), R_OK))
        return 0;
    scry_err err = {0};
    if (onnx_global_init(1, &err) || faces_load(tu_deps("models"), &g_faces, &err) ||
        faceres_load(tu_deps("models"), &g_faceres, &err)) {
        fprintf(stderr, "load: %s\n", err.msg);
        return -1;
    }
    g_have_models = 1;
    return 0;
}

static int group_teardown(void **state) {
    (void)state;
    faces_free(g_faces);
    faceres_free(g_faceres);
    return 0;
}

static int setup(void **state) {
    fixture *f = calloc(1, sizeof *f);
    f->dir = tu_tempdir("people");
    if (g_on_pg) assert_int_equal(tu_pg_create(f->path, sizeof f->path), 0);
    else snprintf(f->path, sizeof f->path, "%s/meta.db", f->dir);
    scry_err err = {0};
    assert_int_equal(meta_open(&f->db, f->path, &err), SCRY_OK);
    *state = f;
    return 0;
}

static int teardown(void **state) {
    fixture *f = *state;
    meta_close(f->db);
    if (g_on_pg) tu_pg_drop(f->path);
    tu_rmtree(f->dir);
    free(f->dir);
    free(f);
    return 0;
}

/* A new image row; its rowid. */
static int64_t add_image(meta_db *db, const char *name) {
    meta_new_image im = {0};
    scry_new_id(im.id);
    memset(im.sha256, 'a', SCRY_SHA256_HEX);
    im.filename = name;
    im.format = "jpeg";
    im.bytes = 1;
    char job[SCRY_ID_LEN + 1];
    scry_new_id(job);
    scry_err err = {0};
    assert_int_equal(meta_upload_commit(db, job, &im, 1, &err), SCRY_OK);
    image_rec r;
    assert_int_equal(meta_image_get(db, im.id, &r, &err), SCRY_OK);
    int64_t rowid = r.rowid;
    image_rec_free(&r);
    return rowid;
}

/* Put faces with these descriptors (dim floats each) on an image. */
static void put_faces_px(meta_db *db, int64_t rowid, float *const *vecs, int n, int dim, int px) {
    meta_face *fs = calloc((size_t)(n ? n : 1), sizeof *fs);
    for (int i = 0; i < n; i++)
        fs[i] = (meta_face){.face_index = i, .box = {10 + 100 * i, 10, px, px}, .dim = dim, .vec = vecs[i]};
    meta_faces_update u = {MODEL, dim, fs, n};
    scry_err err = {0};
    assert_int_equal(meta_faces_put(db, rowid, &u, &err), SCRY_OK);
    free(fs);
}

static void put_faces(meta_db *db, int64_t rowid, float *const *vecs, int n, int dim) {
    put_faces_px(db, rowid, vecs, n, dim, 80);
}

static int64_t face_id_of(meta_db *db, int64_t rowid, int index) {
    meta_face *fs = NULL;
    int n = 0;
    scry_err err = {0};
    assert_int_equal(meta_faces_get(db, rowid, MODEL, &fs, &n, &err), SCRY_OK);
    int64_t id = 0;
    for (int i = 0; i < n; i++)
        if (fs[i].face_index == index) id = fs[i].face_id;
    meta_faces_free(fs, n);
    assert_true(id > 0);
    return id;
}

static int64_t person_of(meta_db *db, int64_t face_id, int *assigned) {
    meta_face f;
    scry_err err = {0};
    assert_int_equal(meta_face_get(db, face_id, &f, &err), SCRY_OK);
    free(f.vec);
    if (assigned) *assigned = f.assigned;
    return f.person_id;
}

/* ---- store: schema v5 (v6 with the change feed) -------------------------------------------------------- */

static void test_store_people(void **state) {
    fixture *f = *state;
    scry_err err = {0};
    assert_int_equal(meta_schema_version(f->db), 6);
    float v[4][8] = {{1}, {0, 1}, {0, 0, 1}, {0, 0, 0, 1}};
    float *vp[4] = {v[0], v[1], v[2], v[3]};
    int64_t im1 = add_image(f->db, "one.jpg"), im2 = add_image(f->db, "two.jpg");
    put_faces(f->db, im1, vp, 2, 8);
    put_faces(f->db, im2, vp + 2, 2, 8);
    int64_t a = face_id_of(f->db, im1, 0), b = face_id_of(f->db, im1, 1);
    int64_t c = face_id_of(f->db, im2, 0), d = face_id_of(f->db, im2, 1);
    int st;
    assert_int_equal(person_of(f->db, a, &st), 0);
    assert_int_equal(st, META_FACE_NEW);

    /* two new persons: a + c, b; d stays with nobody */
    meta_assignment as[4] = {{a, -1}, {c, -1}, {b, -2}, {d, 0}};
    int64_t made[2];
    int applied = 0;
    assert_int_equal(meta_faces_assign(f->db, as, 4, META_FACE_AUTO, made, &applied, &err), SCRY_OK);
    assert_int_equal(applied, 4);
    assert_true(made[0] > 0 && made[1] > 0 && made[0] != made[1]);
    assert_int_equal(person_of(f->db, a, &st), made[0]);
    assert_int_equal(st, META_FACE_AUTO);
    assert_int_equal(person_of(f->db, c, NULL), made[0]);

    meta_person p;
    assert_int_equal(meta_person_get(f->db, made[0], &p, &err), SCRY_OK);
    assert_int_equal(p.faces, 2);
    assert_int_equal(p.images, 2);
    assert_null(p.name);
    assert_true(p.cover == a || p.cover == c);
    meta_person_free(&p);

    /* listing: most faces first, min_faces */
    meta_person *list = NULL;
    int n = 0;
    int64_t total = 0;
    assert_int_equal(meta_people_list(f->db, 1, 0, 10, &list, &n, &total, &err), SCRY_OK);
    assert_int_equal(n, 2);
    assert_int_equal(total, 2);
    assert_int_equal(list[0].person_id, made[0]);
    meta_people_free(list, n);
    assert_int_equal(meta_people_list(f->db, 2, 0, 10, &list, &n, &total, &err), SCRY_OK);
    assert_int_equal(n, 1);
    meta_people_free(list, n);

    /* a name marks the faces manual: automatic assignment leaves them */
    assert_int_equal(meta_person_set_name(f->db, made[1], "Anna", &err), SCRY_OK);
    assert_int_equal(person_of(f->db, b, &st), made[1]);
    assert_int_equal(st, META_FACE_MANUAL);
    meta_assignment steal = {b, made[0]};
    assert_int_equal(meta_faces_assign(f->db, &steal, 1, META_FACE_AUTO, NULL, &applied, &err), SCRY_OK);
    assert_int_equal(applied, 0);
    assert_int_equal(person_of(f->db, b, NULL), made[1]);
    /* the unnamed small person listed because of its name */
    assert_int_equal(meta_people_list(f->db, 5, 0, 10, &list, &n, &total, &err), SCRY_OK);
    assert_int_equal(n, 1);
    assert_string_equal(list[0].name, "Anna");
    meta_people_free(list, n);

    /* merge: the named one keeps its name, faces move, the other is gone */
    assert_int_equal(meta_people_merge(f->db, made[0], &made[1], 1, &err), SCRY_OK);
    assert_int_equal(meta_person_get(f->db, made[0], &p, &err), SCRY_OK);
    assert_string_equal(p.name, "Anna");          /* into had none: it took from's */
    assert_int_equal(p.faces, 3);
    meta_person_free(&p);
    assert_int_equal(meta_person_get(f->db, made[1], &p, &err), SCRY_ENOTFOUND);
    assert_int_equal(meta_people_merge(f->db, made[0], &made[1], 1, &err), SCRY_ENOTFOUND);
    assert_int_equal(meta_people_merge(f->db, made[0], &made[0], 1, &err), SCRY_EINVAL);

    /* person images / faces */
    image_rec *imgs = NULL;
    assert_int_equal(meta_person_images(f->db, made[0], 0, 10, &imgs, &n, &total, &err), SCRY_OK);
    assert_int_equal(n, 2);
    assert_int_equal(total, 2);
    for (int i = 0; i < n; i++) image_rec_free(&imgs[i]);
    free(imgs);
    meta_face *faces = NULL;
    char (*ids)[SCRY_ID_LEN + 1] = NULL;
    assert_int_equal(meta_person_faces(f->db, made[0], 0, 10, &faces, &ids, &n, &total, &err), SCRY_OK);
    assert_int_equal(n, 3);
    assert_int_equal(strlen(ids[0]), SCRY_ID_LEN);
    free(faces);
    free(ids);

    /* a face moved to nobody; the cover */
    meta_assignment away = {c, 0};
    assert_int_equal(meta_faces_assign(f->db, &away, 1, META_FACE_MANUAL, NULL, NULL, &err), SCRY_OK);
    assert_int_equal(person_of(f->db, c, &st), 0);
    assert_int_equal(st, META_FACE_MANUAL);
    assert_int_equal(meta_person_set_cover(f->db, made[0], c, &err), SCRY_EINVAL);  /* not its face */
    assert_int_equal(meta_person_set_cover(f->db, made[0], b, &err), SCRY_OK);
    assert_int_equal(meta_person_get(f->db, made[0], &p, &err), SCRY_OK);
    assert_int_equal(p.cover, b);
    meta_person_free(&p);

    /* deleting the image takes its faces; a person left without faces goes */
    char sha[SCRY_SHA256_HEX + 1], th[SCRY_SHA256_HEX + 1];
    image_rec r;
    assert_int_equal(meta_image_get_by_rowid(f->db, im1, &r, &err), SCRY_OK);
    assert_int_equal(meta_image_delete(f->db, r.id, sha, th, &err), SCRY_OK);
    image_rec_free(&r);
    assert_int_equal(meta_person_get(f->db, made[0], &p, &err), SCRY_ENOTFOUND);

    /* forgetting a person keeps its faces, with nobody, manual */
    meta_assignment again = {d, -1};
    assert_int_equal(meta_faces_assign(f->db, &again, 1, META_FACE_AUTO, made, NULL, &err), SCRY_OK);
    assert_int_equal(meta_person_delete(f->db, made[0], &err), SCRY_OK);
    assert_int_equal(person_of(f->db, d, &st), 0);
    assert_int_equal(st, META_FACE_MANUAL);
    assert_int_equal(meta_person_delete(f->db, made[0], &err), SCRY_ENOTFOUND);
}

typedef struct feed {
    int seen, gone;
    int64_t last_gone;
} feed;

static int feed_face(const meta_face *m, void *ctx) {
    (void)m;
    ((feed *)ctx)->seen++;
    return 0;
}
static int feed_gone(int64_t id, void *ctx) {
    ((feed *)ctx)->gone++;
    ((feed *)ctx)->last_gone = id;
    return 0;
}

/* The face change feed: updates and deletions (tombstones), by any path. */
static void test_face_feed(void **state) {
    fixture *f = *state;
    scry_err err = {0};
    float v[2][8] = {{1}, {0, 1}};
    float *vp[2] = {v[0], v[1]};
    int64_t im = add_image(f->db, "x.jpg");
    uint64_t v0 = meta_people_version(f->db);
    put_faces(f->db, im, vp, 2, 8);
    assert_true(meta_people_version(f->db) != v0);
    feed fd = {0};
    int64_t last = 0;
    assert_int_equal(meta_face_changes(f->db, MODEL, 0, feed_face, feed_gone, &fd, &last, &err), SCRY_OK);
    assert_int_equal(fd.seen, 2);
    assert_int_equal(fd.gone, 0);
    assert_true(last > 0);
    /* a person survives re-indexing: the same faces again keep their ids,
     * their person and how they got it */
    int64_t first = face_id_of(f->db, im, 0);
    meta_assignment a = {first, -1};
    int64_t made = 0;
    assert_int_equal(meta_faces_assign(f->db, &a, 1, META_FACE_MANUAL, &made, NULL, &err), SCRY_OK);
    put_faces(f->db, im, vp, 2, 8);
    int st = -1;
    assert_int_equal(face_id_of(f->db, im, 0), first);
    assert_int_equal(person_of(f->db, first, &st), made);
    assert_int_equal(st, META_FACE_MANUAL);
    assert_int_equal(meta_face_changes(f->db, MODEL, 0, feed_face, feed_gone, &fd, &last, &err), SCRY_OK);
    /* re-indexed with one face where the second was: the first is gone */
    usleep(2000);
    put_faces(f->db, im, vp + 1, 1, 8);   /* one face at index 0's box: same id kept, new vector */
    feed f2 = {0};
    int64_t last2 = 0;
    assert_int_equal(meta_face_changes(f->db, MODEL, last, feed_face, feed_gone, &f2, &last2, &err), SCRY_OK);
    assert_int_equal(f2.seen, 1);
    assert_int_equal(f2.gone, 1);
    assert_int_not_equal(f2.last_gone, first);
    assert_true(last2 >= last);
}

/* ---- the people service on real faces ------------------------------------------ */

typedef struct photo { const char *who; int n; } photo;

/* Index one LFW photo: its image row and the faceres descriptor of its face. */
static int64_t index_lfw(meta_db *db, const char *who, int n) {
    char rel[512], name[256];
    snprintf(rel, sizeof rel, "data/lfw/images/%s/%s_%04d.jpg", who, who, n);
    snprintf(name, sizeof name, "%s_%04d.jpg", who, n);
    img_rgb img;
    assert_int_equal(rgbload(tu_shared(rel), &img.w, &img.h, &img.px), 0);
    face_box *b = NULL;
    int nb = 0;
    scry_err err = {0};
    assert_int_equal(faces_detect(g_faces, &img, &b, &nb, &err), SCRY_OK);
    assert_true(nb >= 1);
    int best = 0;
    double bd = 1e18;
    for (int k = 0; k < nb; k++) {
        double dx = b[k].x + b[k].w / 2 - img.w / 2.0, dy = b[k].y + b[k].h / 2 - img.h / 2.0;
        if (dx * dx + dy * dy < bd) bd = dx * dx + dy * dy, best = k;
    }
    faceres_result *r = malloc(sizeof *r);
    assert_int_equal(faceres_describe(g_faceres, &img, b[best].x, b[best].y, b[best].w, b[best].h, r, &err),
                     SCRY_OK);
    int64_t rowid = add_image(db, name);
    float *vp[1] = {r->descriptor};
    put_faces(db, rowid, vp, 1, FACERES_DIM);
    free(r);
    free(b);
    free(img.px);
    return rowid;
}

static const photo g_photos[] = {
    {"Aaron_Peirsol", 1}, {"Aaron_Peirsol", 2}, {"Aaron_Peirsol", 3}, {"Aaron_Peirsol", 4},
    {"Adrien_Brody", 1},  {"Adrien_Brody", 2},  {"Adrien_Brody", 4},  {"Adrien_Brody", 5},
    {"Ai_Sugiyama", 1},   {"Ai_Sugiyama", 2},   {"Ai_Sugiyama", 3},   {"Ai_Sugiyama", 4},
    {"Abdullah", 1},      {"Aaron_Tippin", 1},  {"Madonna", 1},
};
#define NPHOTOS (int)(sizeof g_photos / sizeof *g_photos)

/* The person of each photo's one face. */
static void persons_of(meta_db *db, const int64_t *rowids, int64_t *pid) {
    for (int i = 0; i < NPHOTOS; i++) pid[i] = person_of(db, face_id_of(db, rowids[i], 0), NULL);
}

static void assert_three_people(const int64_t *pid) {
    /* each of the three has its four photos and nobody else's */
    for (int g = 0; g < 3; g++) {
        int64_t p = pid[g * 4];
        assert_true(p > 0);
        for (int i = 0; i < NPHOTOS; i++) {
            int same = i / 4 == g && i < 12;
            if (same) assert_int_equal(pid[i], p);
            else assert_int_not_equal(pid[i], p);
        }
    }
}

static void test_people_cluster_name_search(void **state) {
    if (!g_have_models) skip();
    fixture *f = *state;
    scry_err err = {0};
    int64_t rowids[NPHOTOS];
    for (int i = 0; i < NPHOTOS; i++) rowids[i] = index_lfw(f->db, g_photos[i].who, g_photos[i].n);
    people *pp = NULL;
    assert_int_equal(people_open(&pp, f->db, tu_deps("models"), MODEL, &err), SCRY_OK);
    people_stats st;
    people_get_stats(pp, &st);
    assert_int_equal(st.faces, NPHOTOS);
    assert_int_equal(st.pending, NPHOTOS);
    int assigned = 0;
    assert_int_equal(people_update(pp, &assigned, &err), SCRY_OK);
    assert_true(assigned >= NPHOTOS);
    int64_t pid[NPHOTOS];
    persons_of(f->db, rowids, pid);
    assert_three_people(pid);
    /* the three others are on their own (candidates, not listed at 3 faces) */
    assert_int_not_equal(pid[12], pid[13]);
    assert_int_not_equal(pid[13], pid[14]);
    meta_person *list = NULL;
    int n = 0;
    int64_t total = 0;
    assert_int_equal(meta_people_list(f->db, PEOPLE_MIN_FACES_DEFAULT, 0, 10, &list, &n, &total, &err), SCRY_OK);
    assert_int_equal(n, 3);
    meta_people_free(list, n);
    /* nothing new: an update changes nothing */
    assert_int_equal(people_update(pp, &assigned, &err), SCRY_OK);
    assert_int_equal(assigned, 0);

    /* names: Brody is "Rose", Sugiyama "Ai Sugiyama" */
    assert_int_equal(meta_person_set_name(f->db, pid[4], "Rose", &err), SCRY_OK);
    assert_int_equal(meta_person_set_name(f->db, pid[8], "Ai Sugiyama", &err), SCRY_OK);
    people_match m[4];
    int nm = people_find_names(pp, "ROSE and ai  sugiyama's dog, roses, Rosemary", m, 4);
    assert_int_equal(nm, 2);
    assert_int_equal(m[0].person_id, pid[4]);
    assert_int_equal(m[0].start, 0);
    assert_int_equal(m[0].end, 4);
    assert_int_equal(m[1].person_id, pid[8]);
    assert_string_equal(m[1].name, "Ai Sugiyama");
    char name[64];
    assert_int_equal(people_name(pp, pid[4], name, sizeof name), 1);
    assert_string_equal(name, "Rose");
    assert_int_equal(people_name(pp, pid[0], name, sizeof name), 0);

    /* a person's images, and faces like a face */
    people_image *imgs = NULL;
    assert_int_equal(people_images_of(pp, pid[4], &imgs, &n, &err), SCRY_OK);
    assert_int_equal(n, 4);
    for (int i = 0; i < n; i++) {
        assert_true(imgs[i].score > 0.5f && imgs[i].score <= 1.0f);
        int found = 0;
        for (int k = 4; k < 8; k++) found |= rowids[k] == imgs[i].image_rowid;
        assert_true(found);
    }
    free(imgs);
    assert_int_equal(people_images_like(pp, face_id_of(f->db, rowids[0], 0), PEOPLE_FACE_MATCH, &imgs, &n, &err),
                     SCRY_OK);
    assert_int_equal(n, 4);     /* Peirsol's four photos, his own included */
    for (int i = 0; i < n; i++) assert_true(imgs[i].image_rowid <= rowids[3]);
    free(imgs);
    assert_int_equal(people_images_of(pp, 999999, &imgs, &n, &err), SCRY_ENOTFOUND);

    /* the query side: names blanked, negation, filters */
    person_query pq;
    assert_int_equal(person_query_build(pp, "rose smiling without Ai Sugiyama", NULL, 0, 0, &pq, &err), SCRY_OK);
    assert_int_equal(pq.nreq, 1);
    assert_int_equal(pq.req[0].id, pid[4]);
    assert_int_equal(pq.nexcl, 1);
    assert_int_equal(pq.excl[0].id, pid[8]);
    assert_string_equal(pq.text, "     smiling                    ");
    assert_true(person_query_allows(&pq, rowids[4]));
    assert_false(person_query_allows(&pq, rowids[0]));
    assert_true(person_query_score(&pq, rowids[4]) >= 0.75);
    char why[128] = "";
    person_query_why(&pq, rowids[4], why, sizeof why);
    assert_non_null(strstr(why, "Rose (face 0."));
    char *u = person_query_understood(&pq, "{\"residual\":\"smiling\"}");
    assert_non_null(strstr(u, "\"people\":[{\"id\":"));
    assert_non_null(strstr(u, "\"residual\":\"smiling\""));
    free(u);
    person_query_free(&pq);
    int64_t want[2] = {pid[0], pid[4]};
    assert_int_equal(person_query_build(pp, "", want, 2, 0, &pq, &err), SCRY_OK);
    for (int i = 0; i < NPHOTOS; i++) assert_false(person_query_allows(&pq, rowids[i]));  /* never together */
    person_query_free(&pq);
    int64_t bad = 424242;
    assert_int_equal(person_query_build(pp, "", &bad, 1, 0, &pq, &err), SCRY_ENOTFOUND);
    person_query_free(&pq);
    assert_int_equal(person_query_build(NULL, "x", &bad, 1, 0, &pq, &err), SCRY_EUNSUPPORTED);
    person_query_free(&pq);

    /* a user moves one of Peirsol's faces to nobody; a full re-cluster
     * keeps it there, keeps the names, and finds the same people */
    int64_t moved = face_id_of(f->db, rowids[3], 0);
    meta_assignment a = {moved, 0};
    assert_int_equal(meta_faces_assign(f->db, &a, 1, META_FACE_MANUAL, NULL, NULL, &err), SCRY_OK);
    char job[SCRY_ID_LEN + 1];
    assert_int_equal(meta_job_create(f->db, "recluster", 0, job, &err), SCRY_OK);
    assert_int_equal(people_recluster_run(pp, job, &err), SCRY_OK);
    job_rec j;
    assert_int_equal(meta_job_get(f->db, job, &j, &err), SCRY_OK);
    assert_string_equal(j.status, "completed");
    assert_int_equal(j.total, NPHOTOS);
    job_rec_free(&j);
    int64_t after[NPHOTOS];
    persons_of(f->db, rowids, after);
    assert_int_equal(after[3], 0);
    assert_int_equal(after[4], pid[4]);          /* named: same id, same name */
    assert_int_equal(after[8], pid[8]);
    assert_int_equal(after[0], after[1]);
    assert_int_equal(after[0], after[2]);
    assert_int_equal(people_name(pp, after[4], name, sizeof name), 1);
    assert_string_equal(name, "Rose");

    /* a new photo of Brody joins Rose */
    int64_t extra = index_lfw(f->db, "Adrien_Brody", 8);
    assert_int_equal(people_update(pp, &assigned, &err), SCRY_OK);
    assert_int_equal(person_of(f->db, face_id_of(f->db, extra, 0), NULL), pid[4]);
    people_close(pp);
}

/* Two faces of one photo (the same descriptor twice) never become one
 * person; and a person emptied in the store disappears from the mirror. */
static void test_people_one_photo(void **state) {
    if (!g_have_models) skip();
    fixture *f = *state;
    scry_err err = {0};
    int64_t r1 = index_lfw(f->db, "Aaron_Peirsol", 1);
    meta_face *one = NULL;
    int n = 0;
    assert_int_equal(meta_faces_get(f->db, r1, MODEL, &one, &n, &err), SCRY_OK);
    int64_t twin = add_image(f->db, "twins.jpg");
    float *vp[2] = {one[0].vec, one[0].vec};
    put_faces(f->db, twin, vp, 2, FACERES_DIM);
    meta_faces_free(one, n);
    people *pp = NULL;
    assert_int_equal(people_open(&pp, f->db, tu_deps("models"), MODEL, &err), SCRY_OK);
    assert_int_equal(people_update(pp, NULL, &err), SCRY_OK);
    int64_t a = person_of(f->db, face_id_of(f->db, twin, 0), NULL), b = person_of(f->db, face_id_of(f->db, twin, 1), NULL);
    assert_true(a > 0 && b > 0);
    assert_int_not_equal(a, b);
    assert_int_equal(person_of(f->db, face_id_of(f->db, r1, 0), NULL) == a ||
                         person_of(f->db, face_id_of(f->db, r1, 0), NULL) == b, 1);
    image_rec r;
    char sha[SCRY_SHA256_HEX + 1], th[SCRY_SHA256_HEX + 1];
    assert_int_equal(meta_image_get_by_rowid(f->db, twin, &r, &err), SCRY_OK);
    assert_int_equal(meta_image_delete(f->db, r.id, sha, th, &err), SCRY_OK);
    image_rec_free(&r);
    people_stats st;
    people_image *imgs = NULL;
    int64_t lone = person_of(f->db, face_id_of(f->db, r1, 0), NULL);
    int64_t gone = lone == a ? b : a;
    assert_int_equal(people_images_of(pp, gone, &imgs, &n, &err), SCRY_ENOTFOUND);
    people_get_stats(pp, &st);
    assert_int_equal(st.faces, 1);
    assert_int_equal(st.persons, 1);
    people_close(pp);
}

/* Faces under PEOPLE_MIN_FACE_PX are nobody: the same descriptors as a
 * person's four faces, in boxes too small, join no one -- not when indexed,
 * not in a re-cluster -- and a face= search does not return them. */
static void test_people_small_faces(void **state) {
    if (!g_have_models) skip();
    fixture *f = *state;
    scry_err err = {0};
    int64_t big[4], small[4];
    for (int i = 0; i < 4; i++) big[i] = index_lfw(f->db, "Aaron_Peirsol", i + 1);
    for (int i = 0; i < 4; i++) {
        meta_face *one = NULL;
        int n = 0;
        assert_int_equal(meta_faces_get(f->db, big[i], MODEL, &one, &n, &err), SCRY_OK);
        char name[32];
        snprintf(name, sizeof name, "far_%d.jpg", i);
        small[i] = add_image(f->db, name);
        float *vp[1] = {one[0].vec};
        put_faces_px(f->db, small[i], vp, 1, FACERES_DIM, PEOPLE_MIN_FACE_PX - 1);
        meta_faces_free(one, n);
    }
    people *pp = NULL;
    assert_int_equal(people_open(&pp, f->db, tu_deps("models"), MODEL, &err), SCRY_OK);
    assert_int_equal(people_update(pp, NULL, &err), SCRY_OK);
    int64_t who = person_of(f->db, face_id_of(f->db, big[0], 0), NULL);
    assert_true(who > 0);
    for (int round = 0; round < 2; round++) {
        for (int i = 0; i < 4; i++) {
            int assigned = -1;
            assert_int_equal(person_of(f->db, face_id_of(f->db, big[i], 0), NULL), who);
            assert_int_equal(person_of(f->db, face_id_of(f->db, small[i], 0), &assigned), 0);
            assert_int_equal(assigned, META_FACE_AUTO);     /* clustered: to nobody */
        }
        char job[SCRY_ID_LEN + 1];
        assert_int_equal(meta_job_create(f->db, "recluster", 0, job, &err), SCRY_OK);
        assert_int_equal(people_recluster_run(pp, job, &err), SCRY_OK);
    }
    people_image *imgs = NULL;
    int n = 0;
    assert_int_equal(people_images_like(pp, face_id_of(f->db, big[0], 0), PEOPLE_FACE_MATCH, &imgs, &n, &err), SCRY_OK);
    for (int i = 0; i < n; i++)
        for (int k = 0; k < 4; k++) assert_int_not_equal(imgs[i].image_rowid, small[k]);
    assert_true(n >= 2);
    free(imgs);
    /* a small face is still a query */
    assert_int_equal(people_images_like(pp, face_id_of(f->db, small[0], 0), PEOPLE_FACE_MATCH, &imgs, &n, &err), SCRY_OK);
    assert_true(n >= 1);
    free(imgs);
    people_close(pp);
}

static int count_jobs(meta_db *db, const char *status) {
    job_rec *jobs = NULL;
    int n = 0, k = 0;
    scry_err err = {0};
    assert_int_equal(meta_job_list(db, 100, &jobs, &n, &err), SCRY_OK);
    for (int i = 0; i < n; i++) {
        k += !strcmp(jobs[i].status, status);
        job_rec_free(&jobs[i]);
    }
    free(jobs);
    return k;
}

/* The automatic re-cluster: off by default; on, it starts once indexing has
 * clustered enough faces, runs as a job in the background, finds the same
 * three people, and does not start again until enough new faces came. */
static void test_people_auto_recluster(void **state) {
    if (!g_have_models) skip();
    fixture *f = *state;
    scry_err err = {0};
    int64_t rowids[NPHOTOS];
    for (int i = 0; i < 6; i++) rowids[i] = index_lfw(f->db, g_photos[i].who, g_photos[i].n);
    people *pp = NULL;
    assert_int_equal(people_open(&pp, f->db, tu_deps("models"), MODEL, &err), SCRY_OK);
    char ids[2][SCRY_ID_LEN + 1];
    int n = 0;
    assert_int_equal(people_update(pp, NULL, &err), SCRY_OK);      /* off: no job */
    people_wait(pp);
    assert_int_equal(meta_jobs_unfinished(f->db, "recluster", ids, 2, &n, &err), SCRY_OK);
    assert_int_equal(n, 0);
    /* on at 8 faces clustered since the last re-cluster and a fifth of
     * all: the 6 clustered while it was off count, 9 more come now */
    people_set_auto_recluster(pp, 8, 0.2);
    for (int i = 6; i < NPHOTOS; i++) rowids[i] = index_lfw(f->db, g_photos[i].who, g_photos[i].n);
    assert_int_equal(people_update(pp, NULL, &err), SCRY_OK);
    people_wait(pp);
    int64_t pid[NPHOTOS];
    persons_of(f->db, rowids, pid);
    assert_three_people(pid);
    assert_int_equal(count_jobs(f->db, "completed"), 1);     /* every job here is a re-cluster */
    /* one more face: 1 < 8, nothing starts */
    index_lfw(f->db, "Adrien_Brody", 8);
    assert_int_equal(people_update(pp, NULL, &err), SCRY_OK);
    people_wait(pp);
    assert_int_equal(count_jobs(f->db, "completed"), 1);
    people_close(pp);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_store_people, setup, teardown),
        cmocka_unit_test_setup_teardown(test_face_feed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_people_cluster_name_search, setup, teardown),
        cmocka_unit_test_setup_teardown(test_people_one_photo, setup, teardown),
        cmocka_unit_test_setup_teardown(test_people_auto_recluster, setup, teardown),
        cmocka_unit_test_setup_teardown(test_people_small_faces, setup, teardown),
    };
    int failed = cmocka_run_group_tests_name("people", tests, group_setup, group_teardown);
    /* the store functions again on PostgreSQL (tests/run starts a server) */
    const struct CMUnitTest store_tests[] = {
        cmocka_unit_test_setup_teardown(test_store_people, setup, teardown),
        cmocka_unit_test_setup_teardown(test_face_feed, setup, teardown),
    };
    g_on_pg = 1;
    if (tu_pg()) failed += cmocka_run_group_tests_name("people_store_postgres", store_tests, NULL, NULL);
    return failed;
}
