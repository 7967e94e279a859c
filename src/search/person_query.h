/* person_query.h -- people in a search: names in the query, the person=
 * filter and ?face=, as constraints on the images a search may return.
 *
 * Names. A known person's name (people_find_names: whole words, any case)
 * is a person that must be in the photo -- it overrides what the word would
 * otherwise mean ("Rose", "Bill"), because the name is taken out of the text
 * the query parser sees. A negation right before a name ("without Ben", "not
 * Ben", "no Ben", "except Ben", "excluding Ben") makes that person one that
 * must not be in it. Everything else in the query keeps its meaning: "Anna
 * smiling" is Anna's photos ranked by the smile, "Anna at the beach" by the
 * beach, "Anna and Ben" needs both.
 *
 * Filters: person=ID (each one required), face=FACE_ID (a face at least
 * PEOPLE_FACE_MATCH like that face).
 *
 * Scoring: the person part is one structured constraint of the search,
 * satisfied by every photo that passes the filter (0.75: a photo of the
 * person is never dropped by the relevance floor) and ranked among those by
 * how like the person their face in the photo is (cosine c with the
 * person's mean face: 0.75 + 0.25 c), or like the query face; the mean over
 * the required persons. `why` names it: "Anna (face 0.93)", "face 0.87".
 *
 * A person_query holds copies of the persons' image sets, taken once when
 * it is built, so a search reads them without locks. */
#ifndef SCRY_PERSON_QUERY_H
#define SCRY_PERSON_QUERY_H

#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "people/people.h"

#define PQ_MAX_PEOPLE 8

typedef struct pq_person {
    int64_t id;
    char name[PEOPLE_NAME_MAX + 1];  /* "" when asked by id and unnamed */
    people_image *imgs;         /* sorted by rowid (owned) */
    int n;
} pq_person;

typedef struct person_query {
    pq_person req[PQ_MAX_PEOPLE];   /* must all be in the photo */
    int nreq;
    pq_person excl[PQ_MAX_PEOPLE];  /* must not be */
    int nexcl;
    int64_t face_id;                /* ?face=, 0 none */
    people_image *like;             /* images with a face like it (owned) */
    int nlike;
    char *text;                     /* the query with names blanked (owned; never NULL after build) */
} person_query;

/* Find the names in q and gather every person's images. pp may be NULL
 * (people off): names are then not understood, and person=/face= filters
 * fail with SCRY_EUNSUPPORTED. Unknown ids: SCRY_ENOTFOUND. */
int person_query_build(people *pp, const char *q, const int64_t *persons, int npersons,
                       int64_t face_id, person_query *out, scry_err *err);
void person_query_free(person_query *pq);

/* Whether the query constrains people at all. */
int person_query_active(const person_query *pq);
/* Whether it restricts which images may come back (people required or excluded, a face). */
int person_query_filters(const person_query *pq);
/* Hard filter: every required person (and the face) present, no excluded one. */
int person_query_allows(const person_query *pq, int64_t rowid);
/* The structured score in [0, 1] of the person part (0 when none matches). */
double person_query_score(const person_query *pq, int64_t rowid);
/* Append "Anna (face 0.93) · Ben (face 0.88)" / "face 0.87" to why. */
void person_query_why(const person_query *pq, int64_t rowid, char *why, size_t cap);
/* The smallest set the results must come from (required person or face
 * matches): its rowids, for the candidates. NULL (n = 0) when there is none. */
const people_image *person_query_pool(const person_query *pq, int *n);
/* understood (JSON text from the query parser, may be NULL) with
 * "people", "without_people" and "face" added; malloc'ed. */
char *person_query_understood(const person_query *pq, const char *understood);

#endif
