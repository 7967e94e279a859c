/* auth.c -- see auth.h.
 *
 * Two small in-memory tables behind one mutex: the key cache (an array,
 * searched linearly: a deployment has tens of keys, not thousands) and the
 * sessions (a chained hash table on the token's SHA-256, so that memory
 * never holds a token an attacker could read back from a core dump and the
 * lookup does not branch on secret bytes). Neither is large enough for the
 * mutex to matter next to a request's I/O. */
#include "http/auth.h"

#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/util.h"

#define KEY_CACHE_MAX 1024
#define SESSION_BUCKETS 1024
#define SESSION_MAX 10000
#define TOUCH_EVERY_MS 60000

typedef struct cached_key {
    char id[SCRY_ID_LEN + 1];
    char salt[65], hash[129];
    unsigned scopes;
    int revoked;
    int64_t fetched_ms, touched_ms;
} cached_key;

typedef struct session {
    struct session *next;
    char token_sha[SCRY_SHA256_HEX + 1];
    char csrf[AUTH_TOKEN_LEN + 1];
    char key_id[SCRY_ID_LEN + 1];
    int64_t created_ms, used_ms;
} session;

struct auth {
    meta_db *meta;
    pthread_mutex_t lock;
    cached_key *keys;
    int nkeys;
    session *buckets[SESSION_BUCKETS];
    int nsessions;
};

static const char *const scope_names[] = {"read", "write", "admin"};

int auth_scopes_parse(const char *text, unsigned *mask, scry_err *err) {
    *mask = 0;
    const char *p = text ? text : "";
    while (*p) {
        while (*p == ' ' || *p == ',') p++;
        if (!*p) break;
        size_t n = strcspn(p, ", ");
        unsigned bit = 0;
        for (unsigned i = 0; i < 3; i++)
            if (strlen(scope_names[i]) == n && !strncmp(p, scope_names[i], n)) bit = 1u << i;
        if (!bit)
            return scry_fail(err, SCRY_EINVAL, "unknown scope '%.*s' (use read, write, admin)",
                             (int)(n > 32 ? 32 : n), p);
        *mask |= bit;
        p += n;
    }
    if (!*mask) return scry_fail(err, SCRY_EINVAL, "no scope given (use read, write, admin)");
    return SCRY_OK;
}

void auth_scopes_format(unsigned mask, char *out, size_t cap) {
    size_t len = 0;
    out[0] = 0;
    for (unsigned i = 0; i < 3; i++)
        if (mask & (1u << i))
            len += (size_t)snprintf(out + len, len < cap ? cap - len : 0, "%s%s", len ? "," : "",
                                    scope_names[i]);
}

static int random_hex(char *out, size_t nbytes) {
    unsigned char buf[64];
    if (nbytes > sizeof buf || RAND_bytes(buf, (int)nbytes) != 1) return -1;
    for (size_t i = 0; i < nbytes; i++) sprintf(out + 2 * i, "%02x", buf[i]);
    OPENSSL_cleanse(buf, sizeof buf);
    return 0;
}

static void salted_hash(const char *salt, const char *secret, char out[SCRY_SHA256_HEX + 1]) {
    scry_sha256 *h = scry_sha256_new();
    if (!h) {
        out[0] = 0;
        return;
    }
    scry_sha256_update(h, salt, strlen(salt));
    scry_sha256_update(h, secret, strlen(secret));
    scry_sha256_final(h, out);
}

int auth_token_equal(const char *a, const char *b) {
    size_t n = strlen(a);
    if (n != strlen(b) || n == 0) return 0;
    return CRYPTO_memcmp(a, b, n) == 0;
}

int auth_key_create(meta_db *meta, const char *name, unsigned scopes,
                    char key_out[AUTH_KEY_LEN + 1], key_rec *rec_out, scry_err *err) {
    if (!(scopes & SCOPE_ALL) || (scopes & ~(unsigned)SCOPE_ALL))
        return scry_fail(err, SCRY_EINVAL, "a key needs at least one scope");
    if (name && strlen(name) >= sizeof((key_rec *)0)->name)
        return scry_fail(err, SCRY_EINVAL, "key name longer than %zu bytes",
                         sizeof((key_rec *)0)->name - 1);
    key_rec k;
    memset(&k, 0, sizeof k);
    char secret[65];
    if (random_hex(k.id, SCRY_ID_LEN / 2) != 0 || random_hex(secret, 32) != 0 ||
        random_hex(k.salt, 16) != 0)
        return scry_fail(err, SCRY_EIO, "no randomness available (OpenSSL RAND_bytes)");
    snprintf(k.name, sizeof k.name, "%s", name ? name : "");
    auth_scopes_format(scopes, k.scopes, sizeof k.scopes);
    salted_hash(k.salt, secret, k.hash);
    k.created_at = scry_now_ms();
    int rc = meta_key_insert(meta, &k, err);
    if (rc == SCRY_OK) {
        snprintf(key_out, AUTH_KEY_LEN + 1, "scry_%s_%s", k.id, secret);
        if (rec_out) *rec_out = k;
    }
    OPENSSL_cleanse(secret, sizeof secret);
    return rc;
}

int auth_new(auth **out, meta_db *meta, scry_err *err) {
    auth *a = calloc(1, sizeof *a);
    if (!a) return scry_fail(err, SCRY_ENOMEM, "out of memory (auth)");
    a->meta = meta;
    pthread_mutex_init(&a->lock, NULL);
    *out = a;
    return SCRY_OK;
}

void auth_free(auth *a) {
    if (!a) return;
    for (int b = 0; b < SESSION_BUCKETS; b++) {
        session *s = a->buckets[b];
        while (s) {
            session *next = s->next;
            free(s);
            s = next;
        }
    }
    free(a->keys);
    pthread_mutex_destroy(&a->lock);
    free(a);
}

/* Under a->lock: the cache entry of id, fetched from the store if missing or
 * stale. NULL when the key does not exist or the store failed (*io set). */
static cached_key *cache_get(auth *a, const char *id, int64_t now, int *io) {
    cached_key *e = NULL;
    for (int i = 0; i < a->nkeys; i++)
        if (!strcmp(a->keys[i].id, id)) e = &a->keys[i];
    if (e && now - e->fetched_ms < AUTH_CACHE_MS) return e;
    key_rec k;
    scry_err err = {0};
    int rc = meta_key_get(a->meta, id, &k, &err);
    if (rc != SCRY_OK) {
        if (rc != SCRY_ENOTFOUND) {
            *io = 1;
            log_warn("auth.lookup_failed", "key=%s reason=\"%s\"", id, err.msg);
        }
        if (e) *e = a->keys[--a->nkeys];      /* gone from the store: forget it */
        return NULL;
    }
    if (!e) {
        if (!a->keys) {
            a->keys = calloc(KEY_CACHE_MAX, sizeof *a->keys);
            if (!a->keys) {
                *io = 1;
                return NULL;
            }
        }
        if (a->nkeys == KEY_CACHE_MAX) {       /* evict the stalest */
            int old = 0;
            for (int i = 1; i < a->nkeys; i++)
                if (a->keys[i].fetched_ms < a->keys[old].fetched_ms) old = i;
            a->keys[old] = a->keys[--a->nkeys];
        }
        e = &a->keys[a->nkeys++];
        memset(e, 0, sizeof *e);
        snprintf(e->id, sizeof e->id, "%s", k.id);
        e->touched_ms = k.last_used_at;
    }
    snprintf(e->salt, sizeof e->salt, "%s", k.salt);
    snprintf(e->hash, sizeof e->hash, "%s", k.hash);
    scry_err serr = {0};
    if (auth_scopes_parse(k.scopes, &e->scopes, &serr) != SCRY_OK) e->scopes = 0;
    e->revoked = k.revoked_at != 0;
    e->fetched_ms = now;
    return e;
}

/* Under a->lock: whether this use is to be written back (at most once a
 * minute per key). The write itself happens after the lock is released
 * (write_use): it may wait for another writer of the database, and every
 * other request's check would wait with it. */
static int note_use(cached_key *e, int64_t now) {
    if (now - e->touched_ms < TOUCH_EVERY_MS) return 0;
    e->touched_ms = now;
    return 1;
}

static void write_use(auth *a, const char *id, int64_t now) {
    scry_err err = {0};
    if (meta_key_touch(a->meta, id, now, &err) != SCRY_OK)
        log_warn("auth.touch_failed", "key=%s reason=\"%s\"", id, err.msg);
}

int auth_verify_key(auth *a, const char *key, auth_principal *out) {
    memset(out, 0, sizeof *out);
    /* scry_<24 hex>_<64 hex>, nothing else. */
    if (!key || strlen(key) != AUTH_KEY_LEN || strncmp(key, "scry_", 5) != 0 ||
        key[5 + SCRY_ID_LEN] != '_')
        return SCRY_ENOTFOUND;
    char id[SCRY_ID_LEN + 1];
    memcpy(id, key + 5, SCRY_ID_LEN);
    id[SCRY_ID_LEN] = 0;
    if (!scry_id_valid(id)) return SCRY_ENOTFOUND;
    const char *secret = key + 6 + SCRY_ID_LEN;
    int64_t now = scry_now_ms();
    int io = 0, rc = SCRY_ENOTFOUND, touch = 0;
    pthread_mutex_lock(&a->lock);
    cached_key *e = cache_get(a, id, now, &io);
    if (e && !e->revoked && e->scopes) {
        char h[SCRY_SHA256_HEX + 1];
        salted_hash(e->salt, secret, h);
        if (auth_token_equal(h, e->hash)) {
            snprintf(out->key_id, sizeof out->key_id, "%s", id);
            out->scopes = e->scopes;
            touch = note_use(e, now);
            rc = SCRY_OK;
        }
    }
    pthread_mutex_unlock(&a->lock);
    if (touch) write_use(a, id, now);
    return io ? SCRY_EIO : rc;
}

static unsigned bucket_of(const char *token_sha) {
    return (unsigned)(scry_fnv1a(SCRY_FNV1A_INIT, token_sha, SCRY_SHA256_HEX) % SESSION_BUCKETS);
}

/* Under a->lock. */
static void drop_sessions_of(auth *a, const char *key_id) {
    for (int b = 0; b < SESSION_BUCKETS; b++) {
        session **pp = &a->buckets[b];
        while (*pp) {
            if (!strcmp((*pp)->key_id, key_id)) {
                session *dead = *pp;
                *pp = dead->next;
                free(dead);
                a->nsessions--;
            } else {
                pp = &(*pp)->next;
            }
        }
    }
}

int auth_revoke_key(auth *a, const char *id, scry_err *err) {
    int rc = meta_key_revoke(a->meta, id, err);
    if (rc != SCRY_OK) return rc;
    pthread_mutex_lock(&a->lock);
    for (int i = 0; i < a->nkeys; i++)
        if (!strcmp(a->keys[i].id, id)) a->keys[i].revoked = 1;
    drop_sessions_of(a, id);
    pthread_mutex_unlock(&a->lock);
    return SCRY_OK;
}

int auth_session_create(auth *a, const auth_principal *p, char token[AUTH_TOKEN_LEN + 1],
                        char csrf[AUTH_TOKEN_LEN + 1], scry_err *err) {
    session *s = calloc(1, sizeof *s);
    if (!s) return scry_fail(err, SCRY_ENOMEM, "out of memory (session)");
    if (random_hex(token, AUTH_TOKEN_LEN / 2) != 0 || random_hex(csrf, AUTH_TOKEN_LEN / 2) != 0) {
        free(s);
        return scry_fail(err, SCRY_EIO, "no randomness available (OpenSSL RAND_bytes)");
    }
    scry_sha256_hex(token, AUTH_TOKEN_LEN, s->token_sha);
    snprintf(s->csrf, sizeof s->csrf, "%s", csrf);
    snprintf(s->key_id, sizeof s->key_id, "%s", p->key_id);
    s->created_ms = s->used_ms = scry_now_ms();
    pthread_mutex_lock(&a->lock);
    if (a->nsessions >= SESSION_MAX) {         /* full: the least recently used goes */
        session **oldest = NULL;
        for (int b = 0; b < SESSION_BUCKETS; b++)
            for (session **pp = &a->buckets[b]; *pp; pp = &(*pp)->next)
                if (!oldest || (*pp)->used_ms < (*oldest)->used_ms) oldest = pp;
        if (oldest) {
            session *dead = *oldest;
            *oldest = dead->next;
            free(dead);
            a->nsessions--;
        }
    }
    unsigned b = bucket_of(s->token_sha);
    s->next = a->buckets[b];
    a->buckets[b] = s;
    a->nsessions++;
    pthread_mutex_unlock(&a->lock);
    return SCRY_OK;
}

/* Under a->lock: the live session of a token (expired ones are removed). */
static session **find_session(auth *a, const char *token, int64_t now) {
    if (!token || strlen(token) != AUTH_TOKEN_LEN) return NULL;
    char sha[SCRY_SHA256_HEX + 1];
    scry_sha256_hex(token, AUTH_TOKEN_LEN, sha);
    for (session **pp = &a->buckets[bucket_of(sha)]; *pp; pp = &(*pp)->next) {
        if (strcmp((*pp)->token_sha, sha) != 0) continue;
        session *s = *pp;
        if (now - s->used_ms > AUTH_SESSION_IDLE_MS || now - s->created_ms > AUTH_SESSION_MAX_MS) {
            *pp = s->next;
            free(s);
            a->nsessions--;
            return NULL;
        }
        return pp;
    }
    return NULL;
}

int auth_session_get(auth *a, const char *token, auth_principal *out) {
    memset(out, 0, sizeof *out);
    int64_t now = scry_now_ms();
    int io = 0, rc = SCRY_ENOTFOUND, touch = 0;
    pthread_mutex_lock(&a->lock);
    session **pp = find_session(a, token, now);
    if (pp) {
        session *s = *pp;
        cached_key *e = cache_get(a, s->key_id, now, &io);
        if (e && !e->revoked && e->scopes) {
            s->used_ms = now;
            snprintf(out->key_id, sizeof out->key_id, "%s", s->key_id);
            snprintf(out->csrf, sizeof out->csrf, "%s", s->csrf);
            out->scopes = e->scopes;
            out->via_session = 1;
            touch = note_use(e, now);
            rc = SCRY_OK;
        } else if (!io) {                      /* its key is gone: so is the session */
            *pp = s->next;
            free(s);
            a->nsessions--;
        }
    }
    pthread_mutex_unlock(&a->lock);
    if (touch) write_use(a, out->key_id, now);
    return io ? SCRY_EIO : rc;
}

void auth_session_drop(auth *a, const char *token) {
    pthread_mutex_lock(&a->lock);
    session **pp = find_session(a, token, scry_now_ms());
    if (pp) {
        session *s = *pp;
        *pp = s->next;
        free(s);
        a->nsessions--;
    }
    pthread_mutex_unlock(&a->lock);
}

/* ---- JSON bodies ----------------------------------------------------------- */

static json_t *parse_object(const char *body, size_t n, scry_err *err) {
    json_error_t jerr;
    json_t *doc = body && n ? json_loadb(body, n, JSON_REJECT_DUPLICATES, &jerr) : NULL;
    if (!doc) {
        scry_fail(err, SCRY_EINVAL, "the body must be a JSON object%s%s", body && n ? ": " : "",
                  body && n ? jerr.text : "");
        return NULL;
    }
    if (!json_is_object(doc)) {
        json_decref(doc);
        scry_fail(err, SCRY_EINVAL, "the body must be a JSON object");
        return NULL;
    }
    return doc;
}

int auth_parse_session_body(const char *body, size_t n, char key[AUTH_KEY_LEN + 1],
                            scry_err *err) {
    key[0] = 0;
    json_t *doc = parse_object(body, n, err);
    if (!doc) return SCRY_EINVAL;
    json_t *k = json_object_get(doc, "key");
    int rc = SCRY_OK;
    if (!json_is_string(k)) rc = scry_fail(err, SCRY_EINVAL, "'key' must be a string");
    else if (json_string_length(k) != AUTH_KEY_LEN || strlen(json_string_value(k)) != AUTH_KEY_LEN)
        rc = scry_fail(err, SCRY_EINVAL, "'key' is not an API key");
    else snprintf(key, AUTH_KEY_LEN + 1, "%s", json_string_value(k));
    json_decref(doc);
    return rc;
}

int auth_parse_key_body(const char *body, size_t n, char name[128], unsigned *scopes,
                        scry_err *err) {
    name[0] = 0;
    *scopes = 0;
    json_t *doc = parse_object(body, n, err);
    if (!doc) return SCRY_EINVAL;
    int rc = SCRY_OK;
    json_t *jn = json_object_get(doc, "name");
    json_t *js = json_object_get(doc, "scopes");
    if (jn && !json_is_string(jn)) {
        rc = scry_fail(err, SCRY_EINVAL, "'name' must be a string");
    } else if (jn && (json_string_length(jn) >= 128 ||
                      strlen(json_string_value(jn)) != json_string_length(jn))) {
        rc = scry_fail(err, SCRY_EINVAL, "'name' must be under 128 bytes, without NUL");
    } else if (!json_is_array(js) || json_array_size(js) == 0 || json_array_size(js) > 8) {
        rc = scry_fail(err, SCRY_EINVAL, "'scopes' must be a list of read, write, admin");
    } else {
        if (jn) snprintf(name, 128, "%s", json_string_value(jn));
        size_t i;
        json_t *v;
        json_array_foreach(js, i, v) {
            unsigned bit = 0;
            for (unsigned k = 0; k < 3; k++)
                if (json_is_string(v) && !strcmp(json_string_value(v), scope_names[k]))
                    bit = 1u << k;
            if (!bit) {
                rc = scry_fail(err, SCRY_EINVAL, "'scopes' must be a list of read, write, admin");
                break;
            }
            *scopes |= bit;
        }
    }
    json_decref(doc);
    return rc;
}
