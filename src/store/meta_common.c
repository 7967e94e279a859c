/* meta_common.c -- what both metadata backends share (meta_backend.h).
 *
 * Nothing here talks to a database. The keyword-index text of an image is
 * derived, not copied (labels pulled out of the JSON, filenames split into
 * words, EXIF dates as words), and must be the same whichever engine indexes
 * it, so SQLite's FTS5 row and PostgreSQL's tsvector are built from the same
 * meta_fts_doc. Rows are decoded from column strings because both engines
 * can hand out any column as text (sqlite3_column_text, PQgetvalue); the
 * cost is a strtoll per integer column, nothing next to the round trip. */
#include "store/meta_backend.h"

#include <ctype.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

/* ---- growable string, for the FTS row ----------------------------------- */

typedef struct sbuf {
    char *p;
    size_t len, cap;
    int oom;
} sbuf;

static void sb_add(sbuf *b, const char *s, size_t n) {
    if (b->oom || n == 0) return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 128;
        while (cap < b->len + n + 1) cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p) { b->oom = 1; return; }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = 0;
}

static void sb_puts(sbuf *b, const char *s) { if (s) sb_add(b, s, strlen(s)); }

/* Append a word or phrase, separated from what is there by "; " (a phrase
 * boundary for humans; FTS5 only sees token positions). Skips exact repeats
 * so that ten detected people do not make "person" ten times as relevant. */
static void sb_item(sbuf *b, const char *s) {
    if (!s || !*s || b->oom) return;
    size_t n = strlen(s);
    if (b->p) {
        const char *at = b->p;
        while ((at = strstr(at, s)) != NULL) {
            int start_ok = at == b->p || (at >= b->p + 2 && at[-2] == ';');
            int end_ok = at[n] == 0 || at[n] == ';';
            if (start_ok && end_ok) return;
            at += 1;
        }
    }
    if (b->len) sb_puts(b, "; ");
    sb_add(b, s, n);
}


/* ---- FTS row derivation ------------------------------------------------- */

/* The filename plus, when it has camelCase or letter/digit boundaries that
 * the unicode61 tokenizer would not split ("DSC01234", "BeachSunset"), the
 * same name split at them. Punctuation (_ - . space) already separates
 * tokens, so "IMG_2019_beach-sunset.jpg" needs nothing added. */
static char *filename_words(const char *name) {
    sbuf b = {0};
    sb_puts(&b, name);
    size_t n = strlen(name);
    char *split = malloc(2 * n + 1);
    if (!split) { free(b.p); return NULL; }
    size_t k = 0;
    int boundaries = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)name[i], p = i ? (unsigned char)name[i - 1] : 0;
        if (i && c < 0x80 && p < 0x80 && isalnum(c) && isalnum(p) &&
            ((islower(p) && isupper(c)) || (isalpha(p) && isdigit(c)) ||
             (isdigit(p) && isalpha(c)))) {
            split[k++] = ' ';
            boundaries++;
        }
        split[k++] = (char)c;
    }
    split[k] = 0;
    if (boundaries) {
        sb_puts(&b, " ");
        sb_puts(&b, split);
    }
    free(split);
    if (b.oom) { free(b.p); return NULL; }
    return b.p ? b.p : strdup("");
}

static const char *const month_names[12] = {
    "january", "february", "march", "april", "may", "june",
    "july", "august", "september", "october", "november", "december",
};

/* Camera and date as words: "Canon EOS 5D; 2019-07-01; july 2019". */
static void exif_words(sbuf *b, const char *exif_json, int64_t taken_at) {
    json_t *root = exif_json ? json_loads(exif_json, 0, NULL) : NULL;
    int year = 0, month = 0, day = 0;
    if (root && json_is_object(root)) {
        const char *camera = json_string_value(json_object_get(root, "camera"));
        sb_item(b, camera);
        const char *date = json_string_value(json_object_get(root, "date_taken"));
        /* "2019-07-01T12:00:00", or EXIF's own "2019:07:01 12:00:00". */
        if (date && sscanf(date, "%4d%*1[-:]%2d%*1[-:]%2d", &year, &month, &day) != 3)
            year = month = day = 0;
    }
    if (!year && taken_at > 0) {
        time_t t = (time_t)taken_at;
        struct tm tm;
        gmtime_r(&t, &tm);
        year = tm.tm_year + 1900;
        month = tm.tm_mon + 1;
        day = tm.tm_mday;
    }
    if (year > 0 && month >= 1 && month <= 12) {
        char w[64];
        snprintf(w, sizeof w, "%04d-%02d-%02d", year, month, day);
        sb_item(b, w);
        snprintf(w, sizeof w, "%s %04d", month_names[month - 1], year);
        sb_item(b, w);
    }
    json_decref(root);
}

/* tags: "[colour] label" per detection plus "emotion face" per face. */
static void tag_words(sbuf *b, const char *tags_json, const char *faces_json) {
    json_t *tags = tags_json ? json_loads(tags_json, 0, NULL) : NULL;
    size_t i;
    json_t *t;
    if (json_is_array(tags)) {
        json_array_foreach(tags, i, t) {
            const char *label = json_string_value(json_object_get(t, "label"));
            const char *color = json_string_value(json_object_get(t, "color"));
            if (!label) continue;
            char w[256];
            snprintf(w, sizeof w, "%s%s%s", color ? color : "", color ? " " : "", label);
            sb_item(b, w);
        }
    }
    json_decref(tags);
    json_t *faces = faces_json ? json_loads(faces_json, 0, NULL) : NULL;
    if (json_is_array(faces)) {
        json_array_foreach(faces, i, t) {
            const char *emotion = json_string_value(json_object_get(t, "emotion"));
            char w[256];
            snprintf(w, sizeof w, "%s%sface", emotion ? emotion : "", emotion ? " " : "");
            sb_item(b, w);
        }
    }
    json_decref(faces);
}

static void color_words(sbuf *b, const char *colors_json) {
    json_t *colors = colors_json ? json_loads(colors_json, 0, NULL) : NULL;
    size_t i;
    json_t *c;
    if (json_is_array(colors)) {
        json_array_foreach(colors, i, c) sb_item(b, json_string_value(json_object_get(c, "name")));
    }
    json_decref(colors);
}



static int json_ok(const char *text, const char *what, scry_err *err) {
    if (!text) return SCRY_OK;
    json_error_t je;
    json_t *j = json_loads(text, JSON_DECODE_ANY, &je);
    if (!j) return scry_fail(err, SCRY_EINVAL, "%s is not valid JSON: %s", what, je.text);
    json_decref(j);
    return SCRY_OK;
}

char *meta_fts_quote(const char *token) {
    sbuf b = {0};
    sb_puts(&b, "\"");
    for (const char *p = token ? token : ""; *p; p++) {
        if (*p == '"') sb_add(&b, "\"\"", 2);
        else sb_add(&b, p, 1);
    }
    sb_puts(&b, "\"");
    if (b.oom) { free(b.p); return NULL; }
    return b.p;
}

static int is_stopword(const char *w, size_t n) {
    static const char *const stop[] = {"a", "an", "the", "of", "in", "on", "at", "to",
                                       "and", "or", "with", "for", "is", "are", "some"};
    for (size_t i = 0; i < sizeof stop / sizeof *stop; i++)
        if (strlen(stop[i]) == n && !strncasecmp(stop[i], w, n)) return 1;
    return 0;
}

#define FTS_MAX_TERMS 32

char *meta_fts_query_from_text(const char *text) {
    /* Tokens are runs of ASCII letters/digits and of any non-ASCII bytes
     * (UTF-8 letters such as "naïve"); everything else separates. So a token
     * never holds a quote or an operator character, and quoting it makes it
     * a plain phrase that FTS5's own tokenizer then splits or folds. */
    const char *start[FTS_MAX_TERMS];
    size_t len[FTS_MAX_TERMS];
    int nterms = 0, nstop = 0;
    const char *stop_start[FTS_MAX_TERMS];
    size_t stop_len[FTS_MAX_TERMS];
    const char *p = text ? text : "";
    while (*p && nterms < FTS_MAX_TERMS) {
        while (*p && !(isalnum((unsigned char)*p) || (unsigned char)*p >= 0x80)) p++;
        const char *s = p;
        while (*p && (isalnum((unsigned char)*p) || (unsigned char)*p >= 0x80)) p++;
        size_t n = (size_t)(p - s);
        if (n == 0) continue;
        int dup = 0;
        for (int i = 0; i < nterms; i++)
            if (len[i] == n && !strncasecmp(start[i], s, n)) dup = 1;
        if (dup) continue;
        if (is_stopword(s, n)) {
            if (nstop < FTS_MAX_TERMS) { stop_start[nstop] = s; stop_len[nstop++] = n; }
            continue;
        }
        start[nterms] = s;
        len[nterms++] = n;
    }
    if (nterms == 0) {
        for (int i = 0; i < nstop; i++) { start[i] = stop_start[i]; len[i] = stop_len[i]; }
        nterms = nstop;
    }
    sbuf b = {0};
    if (nterms == 0) sb_puts(&b, "\"\"");     /* the empty phrase: matches nothing */
    for (int i = 0; i < nterms; i++) {
        if (i) sb_puts(&b, " OR ");
        sb_puts(&b, "\"");
        sb_add(&b, start[i], len[i]);
        sb_puts(&b, "\"");
    }
    if (b.oom) { free(b.p); return NULL; }
    return b.p;
}

void image_rec_free(image_rec *r) {
    if (!r) return;
    free(r->filename);
    free(r->exif_json);
    free(r->colors_json);
    free(r->caption);
    free(r->tags_json);
    free(r->faces_json);
    free(r->text);
    free(r->text_json);
    r->filename = r->exif_json = r->colors_json = r->caption = NULL;
    r->tags_json = r->faces_json = r->text = r->text_json = NULL;
}

void meta_faces_free(meta_face *faces, int n) {
    if (!faces) return;
    for (int i = 0; i < n; i++) free(faces[i].vec);
    free(faces);
}

void job_rec_free(job_rec *j) {
    if (!j) return;
    free(j->error);
    for (int i = 0; i < j->nerrors; i++) {
        free(j->errors[i].filename);
        free(j->errors[i].message);
    }
    free(j->errors);
    j->error = NULL;
    j->errors = NULL;
    j->nerrors = 0;
}

static double box_iou(const int a[4], const int b[4]) {
    double x0 = a[0] > b[0] ? a[0] : b[0], y0 = a[1] > b[1] ? a[1] : b[1];
    double x1 = a[0] + a[2] < b[0] + b[2] ? a[0] + a[2] : b[0] + b[2];
    double y1 = a[1] + a[3] < b[1] + b[3] ? a[1] + a[3] : b[1] + b[3];
    double in = (x1 > x0 ? x1 - x0 : 0) * (y1 > y0 ? y1 - y0 : 0);
    double un = (double)a[2] * a[3] + (double)b[2] * b[3] - in;
    return un > 0 ? in / un : 0;
}


int meta_check_faces(const meta_faces_update *u, scry_err *err) {
    if (!u->model || !*u->model || u->n < 0 || (u->n > 0 && (!u->faces || u->dim <= 0)) ||
        u->dim > 65536)
        return scry_fail(err, SCRY_EINVAL, "bad face descriptor arguments");
    for (int i = 0; i < u->n; i++)
        if (!u->faces[i].vec || u->faces[i].face_index < 0)
            return scry_fail(err, SCRY_EINVAL, "face %d has no descriptor or index", i);
    return SCRY_OK;
}

int meta_valid_id(const char *id) { return id && strlen(id) == SCRY_ID_LEN; }

int meta_check_upload(const char *job_id, const meta_new_image *imgs, int n, scry_err *err) {
    if (!meta_valid_id(job_id) || n < 0 || (n > 0 && !imgs))
        return scry_fail(err, SCRY_EINVAL, "upload commit: bad job id or image list");
    for (int i = 0; i < n; i++)
        if (!meta_valid_id(imgs[i].id) || strlen(imgs[i].sha256) != SCRY_SHA256_HEX ||
            !imgs[i].filename || !imgs[i].format)
            return scry_fail(err, SCRY_EINVAL, "upload commit: image %d is incomplete", i);
    return SCRY_OK;
}

int meta_check_facts(const image_rec *r, const meta_faces_update *faces, scry_err *err) {
    int rc;
    if ((rc = json_ok(r->exif_json, "exif_json", err)) != SCRY_OK ||
        (rc = json_ok(r->colors_json, "colors_json", err)) != SCRY_OK ||
        (rc = json_ok(r->tags_json, "tags_json", err)) != SCRY_OK ||
        (rc = json_ok(r->faces_json, "faces_json", err)) != SCRY_OK ||
        (rc = json_ok(r->text_json, "text_json", err)) != SCRY_OK ||
        (faces && (rc = meta_check_faces(faces, err)) != SCRY_OK))
        return rc;
    if (r->status[0] && strcmp(r->status, "pending") && strcmp(r->status, "ready") &&
        strcmp(r->status, "failed"))
        return scry_fail(err, SCRY_EINVAL, "bad image status '%s'", r->status);
    return SCRY_OK;
}

int meta_fts_doc_make(meta_fts_doc *d, const char *filename, const image_rec *r, scry_err *err) {
    memset(d, 0, sizeof *d);
    d->filename = filename_words(filename ? filename : "");
    sbuf tags = {0}, exif = {0}, colors = {0};
    if (r) {
        tag_words(&tags, r->tags_json, r->faces_json);
        exif_words(&exif, r->exif_json, r->taken_at);
        color_words(&colors, r->colors_json);
    }
    d->tags = tags.p;
    d->exif = exif.p;
    d->colors = colors.p;
    if (!d->filename || tags.oom || exif.oom || colors.oom) {
        meta_fts_doc_free(d);
        return scry_fail(err, SCRY_ENOMEM, "out of memory (fts row)");
    }
    return SCRY_OK;
}

void meta_fts_doc_free(meta_fts_doc *d) {
    free(d->filename);
    free(d->tags);
    free(d->exif);
    free(d->colors);
    memset(d, 0, sizeof *d);
}

static char *dup_or_null(const char *s) { return s ? strdup(s) : NULL; }
static int64_t i64_of(const char *s) { return s ? strtoll(s, NULL, 10) : 0; }

int meta_image_decode(image_rec *r, const char *const col[META_IMAGE_NCOLS], scry_err *err) {
    memset(r, 0, sizeof *r);
    r->rowid = i64_of(col[0]);
    snprintf(r->id, sizeof r->id, "%s", col[1] ? col[1] : "");
    snprintf(r->sha256, sizeof r->sha256, "%s", col[2] ? col[2] : "");
    snprintf(r->thumb_sha256, sizeof r->thumb_sha256, "%s", col[3] ? col[3] : "");
    r->filename = dup_or_null(col[4]);
    snprintf(r->format, sizeof r->format, "%s", col[5] ? col[5] : "");
    r->bytes = i64_of(col[6]);
    r->width = (int)i64_of(col[7]);
    r->height = (int)i64_of(col[8]);
    r->exif_json = dup_or_null(col[9]);
    r->taken_at = i64_of(col[10]);
    r->colors_json = dup_or_null(col[11]);
    r->caption = dup_or_null(col[12]);
    r->tags_json = dup_or_null(col[13]);
    r->faces_json = dup_or_null(col[14]);
    r->text = dup_or_null(col[15]);
    r->text_json = dup_or_null(col[16]);
    r->has_phash = col[17] != NULL;
    r->phash = (uint64_t)i64_of(col[17]);
    snprintf(r->status, sizeof r->status, "%s", col[18] ? col[18] : "");
    r->created_at = i64_of(col[19]);
    r->updated_at = i64_of(col[20]);
    /* A NULL here that was not NULL in the row means strdup failed. */
    const int cols[] = {4, 9, 11, 12, 13, 14, 15, 16};
    char *vals[] = {r->filename, r->exif_json, r->colors_json, r->caption,
                    r->tags_json, r->faces_json, r->text, r->text_json};
    for (size_t i = 0; i < sizeof cols / sizeof *cols; i++) {
        if (!vals[i] && col[cols[i]]) {
            image_rec_free(r);
            return scry_fail(err, SCRY_ENOMEM, "out of memory (image row)");
        }
    }
    return SCRY_OK;
}

void meta_job_decode(job_rec *j, const char *const col[META_JOB_NCOLS]) {
    memset(j, 0, sizeof *j);
    snprintf(j->id, sizeof j->id, "%s", col[0] ? col[0] : "");
    snprintf(j->status, sizeof j->status, "%s", col[1] ? col[1] : "");
    j->total = (int)i64_of(col[2]);
    j->done = (int)i64_of(col[3]);
    j->failed = (int)i64_of(col[4]);
    j->created_at = i64_of(col[5]);
    j->updated_at = i64_of(col[6]);
    j->error = dup_or_null(col[7]);
}

void meta_key_decode(key_rec *k, const char *const col[8]) {
    memset(k, 0, sizeof *k);
    snprintf(k->id, sizeof k->id, "%s", col[0] ? col[0] : "");
    snprintf(k->name, sizeof k->name, "%s", col[1] ? col[1] : "");
    snprintf(k->scopes, sizeof k->scopes, "%s", col[2] ? col[2] : "");
    snprintf(k->salt, sizeof k->salt, "%s", col[3] ? col[3] : "");
    snprintf(k->hash, sizeof k->hash, "%s", col[4] ? col[4] : "");
    k->created_at = i64_of(col[5]);
    k->last_used_at = i64_of(col[6]);
    k->revoked_at = i64_of(col[7]);
}

void meta_person_free(meta_person *p) {
    if (!p) return;
    free(p->name);
    p->name = NULL;
}

void meta_people_free(meta_person *p, int n) {
    for (int i = 0; p && i < n; i++) meta_person_free(&p[i]);
    free(p);
}

int meta_person_decode(meta_person *p, const char *const *col, int ncols, scry_err *err) {
    memset(p, 0, sizeof *p);
    p->person_id = i64_of(col[0]);
    if (col[1] && !(p->name = strdup(col[1])))
        return scry_fail(err, SCRY_ENOMEM, "out of memory (person)");
    p->cover_face = i64_of(col[2]);
    p->created_at = i64_of(col[3]);
    p->updated_at = i64_of(col[4]);
    if (ncols >= META_PERSON_NCOLS) {
        p->faces = i64_of(col[5]);
        p->images = i64_of(col[6]);
        p->cover = i64_of(col[7]);
    }
    return SCRY_OK;
}

void meta_person_face_decode(meta_face *f, char id[SCRY_ID_LEN + 1], const char *const col[11]) {
    memset(f, 0, sizeof *f);
    f->face_id = i64_of(col[0]);
    f->image_rowid = i64_of(col[1]);
    f->face_index = (int)i64_of(col[2]);
    for (int k = 0; k < 4; k++) f->box[k] = (int)i64_of(col[3 + k]);
    f->person_id = i64_of(col[7]);
    f->assigned = (int)i64_of(col[8]);
    f->updated_at = i64_of(col[9]);
    snprintf(id, SCRY_ID_LEN + 1, "%s", col[10] ? col[10] : "");
}

void meta_faces_match(const meta_old_face *old, int nold, const meta_faces_update *u,
                      int64_t *keep, int *taken) {
    for (int j = 0; j < nold; j++) taken[j] = 0;
    for (int i = 0; i < u->n; i++) {
        int best = -1;
        double bi = META_FACE_SAME_IOU;
        for (int j = 0; j < nold; j++) {
            double v = taken[j] ? 0 : box_iou(u->faces[i].box, old[j].box);
            if (v >= bi) bi = v, best = j;
        }
        keep[i] = 0;
        if (best >= 0) taken[best] = 1, keep[i] = old[best].id;
    }
}

void meta_crash_message(char *buf, size_t cap, const char *why, const char *stage, int attempts) {
    snprintf(buf, cap, "%s in stage %s after %d attempt%s", why, stage, attempts,
             attempts == 1 ? "" : "s");
}
