/* people.h -- faces grouped into people: incremental clustering as images
 * are indexed, a full re-cluster job, and what search needs to know about
 * people (names in a query, a person's images, faces like a face).
 *
 * The truth is in the metadata store (store/meta.h: people, faces.person_id,
 * faces.assigned); a `people` keeps a mirror of the faces of one descriptor
 * model -- each face's descriptor in the face space (people/facespace.h),
 * its person, how it got it -- and, per person, the sum of its faces'
 * descriptors, their count and their photos. The mirror follows the store's
 * face change feed (meta_face_changes), so faces written by another process
 * (`scry add`, `scry people ...`) are seen at the next call; every public
 * function syncs first.
 *
 * Clustering (people/cluster.h; method and thresholds measured by
 * bench/people on LFW, docs/people.md):
 *   - people_update, after each indexed image: every new face starts as its
 *     own cluster and merges with the person it is most like while their
 *     average link (mean cosine over all pairs of faces) is at least
 *     PEOPLE_JOIN_MIN, then that person with the next, and so on -- the
 *     state after each face is one where no two persons that may merge are
 *     that close. A face that matches nobody is a new candidate person.
 *   - people_recluster_run: average-linkage clustering of every face from
 *     scratch at PEOPLE_RECLUSTER_MIN; clusters keep the ids of the persons
 *     most of their faces had.
 * Both keep what users decided: a face a user placed (META_FACE_MANUAL:
 * moved, merged, or in a person that was named) is never moved, faces of
 * two persons a user placed never end up together, a named person keeps its
 * name, and faces of one photo are never one person.
 *
 * A person is listed (the API, the CLI) once it has min_faces faces or a
 * name; smaller ones are candidates, kept and still clustered.
 *
 * Thread-safe: one mutex around the mirror. A re-cluster copies what it
 * needs and clusters without holding it. */
#ifndef SCRY_PEOPLE_H
#define SCRY_PEOPLE_H

#include <stdint.h>

#include "core/err.h"
#include "store/meta.h"

/* Average-link thresholds in the face space, chosen on the "choose" half of
 * LFW's clustering set (the highest pairwise recall with precision >= 0.98):
 * the re-cluster job's, and incremental indexing's (greedy, so it needs a
 * stricter bar for the same precision). */
#define PEOPLE_RECLUSTER_MIN 0.44f
#define PEOPLE_JOIN_MIN 0.50f
/* A face at least this similar to a query face is "the same person" for
 * GET /v1/search?face=: stricter than the best verification threshold on
 * LFW's pairs in the face space (0.317, where 4% of different people pass),
 * for precision (bench/people prints both rates at this threshold). */
#define PEOPLE_FACE_MATCH 0.40f
#define PEOPLE_MIN_FACES_DEFAULT 3
/* Faces narrower or shorter than this are nobody (unless a user places
 * them): too small to tell who. Measured (docs/people.md): LFW pairs shown
 * at ~33 px faces verify at 0.90 (0.965 at full size), at ~25 px 0.87 and a
 * quarter of the faces are no longer found, at ~22 px 0.83 with false
 * matches rising; over 1,500 COCO photos the three largest "people" were
 * 16-26 px profiles, backs of heads and a fire, all clustered together. */
#define PEOPLE_MIN_FACE_PX 32
/* How long people_update waits for another process's clustering turn
 * (meta_people_lock) before giving up for now (the faces stay new). */
#define PEOPLE_LOCK_WAIT_MS 30000

typedef struct people people;

/* model: the descriptor model whose faces are clustered (FACERES_MODEL_NAME);
 * the face space comes from models_dir (FACESPACE_FILE). */
int people_open(people **out, meta_db *db, const char *models_dir, const char *model,
                scry_err *err);
void people_close(people *p);
/* The descriptor model whose faces it clusters. */
const char *people_model(const people *p);

/* Cluster the faces not yet clustered (new since the last call). *assigned
 * (may be NULL): how many faces got a person. */
int people_update(people *p, int *assigned, scry_err *err);

/* The full re-cluster, synchronously, as job job_id (meta_job_create'd;
 * NULL: no job record). Progress and the outcome go to the job. */
int people_recluster_run(people *p, const char *job_id, scry_err *err);
/* Create a re-cluster job and run it on a background thread (one at a
 * time: SCRY_EBUSY while one runs). */
int people_recluster_start(people *p, char job_id[SCRY_ID_LEN + 1], scry_err *err);
/* Automatic re-cluster. Indexing clusters greedily and splits people more
 * than a full re-cluster (pairwise recall 0.64 against 0.78 on LFW at the
 * same precision, docs/people.md), so once indexing has clustered at least
 * min_new faces and at least `fraction` of all faces since the last
 * re-cluster, people_update starts one in the background (none while one
 * runs in any process). The re-cluster is quadratic in faces; growing by a
 * fraction keeps its cost per new face bounded. fraction <= 0: never. */
#define PEOPLE_AUTO_RECLUSTER_MIN 50   /* and --people-auto-recluster, 0.2 by default */
void people_set_auto_recluster(people *p, int min_new, double fraction);

/* Re-cluster jobs a crash left unfinished: run them again (background). */
int people_resume(people *p, scry_err *err);
/* Wait for a background re-cluster to finish (tests, shutdown). */
void people_wait(people *p);

/* ---- what search asks -------------------------------------------------- */

#define PEOPLE_NAME_MAX 200

/* A named person found in a query: where (bytes [start, end) of the text)
 * and who. */
typedef struct people_match {
    int start, end;
    int64_t person_id;
    char name[PEOPLE_NAME_MAX + 1];
} people_match;

/* The named persons in text, longest name first where they overlap, case
 * and accents as typed ignored (ASCII case only), whole words only. Returns
 * how many (at most max). */
int people_find_names(people *p, const char *text, people_match *out, int max);
/* The name of a person ("" when unnamed or unknown); returns 1 when named. */
int people_name(people *p, int64_t person_id, char *out, size_t cap);

/* An image with a face of a person, and how like the person that face is
 * (cosine with the person's mean face; 1 for a person of one face). */
typedef struct people_image {
    int64_t image_rowid;
    float score;
} people_image;

/* The images of a person, by rowid (best face per image). *out malloc'ed
 * (NULL when n == 0). SCRY_ENOTFOUND for an unknown person. */
int people_images_of(people *p, int64_t person_id, people_image **out, int *n, scry_err *err);
/* The images with a face at least min_cos like face face_id (the face's own
 * image included), best face per image, by rowid. SCRY_ENOTFOUND for an
 * unknown face. */
int people_images_like(people *p, int64_t face_id, float min_cos, people_image **out, int *n,
                       scry_err *err);

/* Counts for /metrics and tests. */
typedef struct people_stats {
    int faces, persons, pending;
} people_stats;
void people_get_stats(people *p, people_stats *out);

#endif
