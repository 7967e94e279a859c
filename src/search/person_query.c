/* person_query.c -- see person_query.h. */
#include "search/person_query.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MAX_MATCHES 16

/* Words that, right before a name, exclude that person. */
static const char *const negators[] = {"without", "not", "no", "except", "excluding", "minus", NULL};

/* The word ending right before byte `at` (skipping non-letters), as [*s, at'). */
static int word_before(const char *text, int at, int *s, int *e) {
    int i = at;
    while (i > 0 && !((text[i - 1] >= 'a' && text[i - 1] <= 'z') || (text[i - 1] >= 'A' && text[i - 1] <= 'Z'))) {
        if (text[i - 1] != ' ' && text[i - 1] != '\t') return 0;   /* "Ben, not Anna" stops at a comma */
        i--;
    }
    *e = i;
    while (i > 0 && ((text[i - 1] >= 'a' && text[i - 1] <= 'z') || (text[i - 1] >= 'A' && text[i - 1] <= 'Z'))) i--;
    *s = i;
    return *e > *s;
}

static int is_negator(const char *w, int n) {
    for (int k = 0; negators[k]; k++)
        if ((int)strlen(negators[k]) == n && !strncasecmp(negators[k], w, (size_t)n)) return 1;
    return 0;
}

static pq_person *find_in(pq_person *v, int n, int64_t id) {
    for (int i = 0; i < n; i++)
        if (v[i].id == id) return &v[i];
    return NULL;
}

static int add_person(people *pp, pq_person *v, int *n, int64_t id, const char *name, scry_err *err) {
    if (find_in(v, *n, id)) return SCRY_OK;
    if (*n == PQ_MAX_PEOPLE) return scry_fail(err, SCRY_EINVAL, "at most %d people in one search", PQ_MAX_PEOPLE);
    pq_person *x = &v[*n];
    memset(x, 0, sizeof *x);
    x->id = id;
    if (name) snprintf(x->name, sizeof x->name, "%s", name);
    else people_name(pp, id, x->name, sizeof x->name);
    int rc = people_images_of(pp, id, &x->imgs, &x->n, err);
    if (rc == SCRY_OK) (*n)++;
    return rc;
}

int person_query_build(people *pp, const char *q, const int64_t *persons, int npersons,
                       int64_t face_id, person_query *out, scry_err *err) {
    memset(out, 0, sizeof *out);
    out->text = strdup(q ? q : "");
    if (!out->text) return scry_fail(err, SCRY_ENOMEM, "out of memory");
    if (!pp) {
        if (npersons || face_id)
            return scry_fail(err, SCRY_EUNSUPPORTED,
                             "recognition of people is turned off (--people 0): no person or face filter");
        return SCRY_OK;
    }
    int rc = SCRY_OK;
    people_match m[MAX_MATCHES];
    int nm = people_find_names(pp, out->text, m, MAX_MATCHES);
    for (int i = 0; i < nm && rc == SCRY_OK; i++) {
        int s, e, excluded = 0;
        if (word_before(out->text, m[i].start, &s, &e) && is_negator(out->text + s, e - s)) {
            excluded = 1;
            memset(out->text + s, ' ', (size_t)(e - s));
        }
        memset(out->text + m[i].start, ' ', (size_t)(m[i].end - m[i].start));
        if (excluded) rc = add_person(pp, out->excl, &out->nexcl, m[i].person_id, m[i].name, err);
        else rc = add_person(pp, out->req, &out->nreq, m[i].person_id, m[i].name, err);
    }
    for (int i = 0; i < npersons && rc == SCRY_OK; i++)
        rc = add_person(pp, out->req, &out->nreq, persons[i], NULL, err);
    if (rc == SCRY_OK && face_id) {
        out->face_id = face_id;
        rc = people_images_like(pp, face_id, PEOPLE_FACE_MATCH, &out->like, &out->nlike, err);
    }
    if (rc != SCRY_OK) person_query_free(out);
    return rc;
}

void person_query_free(person_query *pq) {
    if (!pq) return;
    for (int i = 0; i < pq->nreq; i++) free(pq->req[i].imgs);
    for (int i = 0; i < pq->nexcl; i++) free(pq->excl[i].imgs);
    free(pq->like);
    free(pq->text);
    memset(pq, 0, sizeof *pq);
}

int person_query_active(const person_query *pq) {
    return pq && (pq->nreq || pq->nexcl || pq->face_id);
}

int person_query_filters(const person_query *pq) { return person_query_active(pq); }

static const people_image *lookup(const people_image *v, int n, int64_t rowid) {
    int lo = 0, hi = n - 1;
    while (lo <= hi) {
        int mid = (lo + hi) / 2;
        if (v[mid].image_rowid == rowid) return &v[mid];
        if (v[mid].image_rowid < rowid) lo = mid + 1;
        else hi = mid - 1;
    }
    return NULL;
}

int person_query_allows(const person_query *pq, int64_t rowid) {
    if (!pq) return 1;
    for (int i = 0; i < pq->nreq; i++)
        if (!lookup(pq->req[i].imgs, pq->req[i].n, rowid)) return 0;
    for (int i = 0; i < pq->nexcl; i++)
        if (lookup(pq->excl[i].imgs, pq->excl[i].n, rowid)) return 0;
    if (pq->face_id && !lookup(pq->like, pq->nlike, rowid)) return 0;
    return 1;
}

/* A person who is in the photo satisfies the constraint (0.75, as much as
 * the floor needs never to drop a photo of them); how like the person the
 * face is ranks among those (up to 1). */
static double present(float cos) { return 0.75 + 0.25 * (cos > 0 ? (cos < 1 ? cos : 1) : 0); }

double person_query_score(const person_query *pq, int64_t rowid) {
    if (!pq) return 0;
    double sum = 0;
    int n = 0;
    for (int i = 0; i < pq->nreq; i++, n++) {
        const people_image *x = lookup(pq->req[i].imgs, pq->req[i].n, rowid);
        sum += x ? present(x->score) : 0;
    }
    if (pq->face_id) {
        const people_image *x = lookup(pq->like, pq->nlike, rowid);
        sum += x ? present(x->score) : 0;
        n++;
    }
    if (n) return sum / n;
    /* only exclusions: an image that passed satisfies them */
    return pq->nexcl ? 1.0 : 0.0;
}

void person_query_why(const person_query *pq, int64_t rowid, char *why, size_t cap) {
    if (!pq) return;
    size_t len = strlen(why);
    for (int i = 0; i < pq->nreq && len < cap; i++) {
        const people_image *x = lookup(pq->req[i].imgs, pq->req[i].n, rowid);
        if (!x) continue;
        if (pq->req[i].name[0])
            len += (size_t)snprintf(why + len, cap - len, "%s%s (face %.2f)", len ? " · " : "", pq->req[i].name, x->score);
        else
            len += (size_t)snprintf(why + len, cap - len, "%sperson %lld (face %.2f)", len ? " · " : "",
                                    (long long)pq->req[i].id, x->score);
    }
    if (pq->face_id && len < cap) {
        const people_image *x = lookup(pq->like, pq->nlike, rowid);
        if (x) len += (size_t)snprintf(why + len, cap - len, "%sface %.2f", len ? " · " : "", x->score);
    }
    for (int i = 0; i < pq->nexcl && len < cap; i++)
        len += (size_t)snprintf(why + len, cap - len, "%swithout %s", len ? " · " : "", pq->excl[i].name);
}

const people_image *person_query_pool(const person_query *pq, int *n) {
    *n = 0;
    if (!pq) return NULL;
    const people_image *best = NULL;
    int bn = 0, have = 0;
    for (int i = 0; i < pq->nreq; i++)
        if (!have || pq->req[i].n < bn) best = pq->req[i].imgs, bn = pq->req[i].n, have = 1;
    if (pq->face_id && (!have || pq->nlike < bn)) best = pq->like, bn = pq->nlike, have = 1;
    *n = have ? bn : 0;
    return have ? best : NULL;
}

static json_t *people_json(const pq_person *v, int n) {
    json_t *a = json_array();
    for (int i = 0; i < n; i++) {
        json_t *o = json_object();
        json_object_set_new(o, "id", json_integer(v[i].id));
        json_object_set_new(o, "name", v[i].name[0] ? json_string(v[i].name) : json_null());
        json_object_set_new(o, "images", json_integer(v[i].n));
        json_array_append_new(a, o);
    }
    return a;
}

char *person_query_understood(const person_query *pq, const char *understood) {
    json_t *doc = understood ? json_loads(understood, 0, NULL) : NULL;
    if (!json_is_object(doc)) {
        json_decref(doc);
        doc = json_object();
    }
    json_object_set_new(doc, "people", people_json(pq->req, pq->nreq));
    json_object_set_new(doc, "without_people", people_json(pq->excl, pq->nexcl));
    json_object_set_new(doc, "face", pq->face_id ? json_integer(pq->face_id) : json_null());
    char *s = json_dumps(doc, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(doc);
    return s;
}
