/* auth.h -- API keys with scopes, and the web app's sessions.
 *
 * A key is "scry_" + its public id (24 hex) + "_" + a 256-bit secret (64
 * hex), drawn from OpenSSL's CSPRNG. It is shown once, when created; the
 * store keeps only a random 128-bit salt and SHA-256(salt || secret). A fast
 * hash is enough here (unlike for passwords): the secret has 256 bits of
 * entropy, so there is nothing for a slow KDF to protect against, and every
 * request verifies one. Comparison is constant-time (CRYPTO_memcmp). The id
 * in the key picks the row, so verification is one lookup, not a scan.
 *
 * Scopes: read (search, images, thumbnails, jobs), write (upload, edit names
 * and tags), admin (delete, keys, people merges, re-index, metrics). They do
 * not imply each other; the bootstrap key has all three.
 *
 * Verified keys are cached for AUTH_CACHE_MS so that a request costs no
 * SQLite lookup; a key revoked through this process (the API) stops working
 * at once, one revoked by another process (`scry keys revoke` next to a
 * running server) within AUTH_CACHE_MS. Last use is written back at most
 * once a minute per key.
 *
 * Sessions (the web app): a key is exchanged once for a random session token
 * (cookie scry_session, HttpOnly) and a random CSRF token (cookie scry_csrf,
 * readable by the page, echoed in X-CSRF-Token on every state-changing
 * request). Sessions live in memory only: a restart signs everyone out,
 * which is the safe direction. A session dies with its key, after
 * AUTH_SESSION_IDLE_MS without use, or AUTH_SESSION_MAX_MS after sign-in.
 *
 * Thread safety: every function may be called from any thread. */
#ifndef SCRY_AUTH_H
#define SCRY_AUTH_H

#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "store/meta.h"

enum { SCOPE_READ = 1, SCOPE_WRITE = 2, SCOPE_ADMIN = 4, SCOPE_ALL = 7 };

#define AUTH_KEY_LEN (5 + SCRY_ID_LEN + 1 + 64)   /* "scry_" id "_" secret */
#define AUTH_TOKEN_LEN 64                          /* session and CSRF tokens, hex */
#define AUTH_CACHE_MS 2000
#define AUTH_SESSION_IDLE_MS (24LL * 3600 * 1000)
#define AUTH_SESSION_MAX_MS (30LL * 24 * 3600 * 1000)

/* "read,write" (any order, spaces allowed) -> mask. SCRY_EINVAL on an unknown
 * scope or an empty list. */
int auth_scopes_parse(const char *text, unsigned *mask, scry_err *err);
/* mask -> "read,write,admin" order. */
void auth_scopes_format(unsigned mask, char *out, size_t cap);

/* Create a key (random id and secret, salted hash stored). key_out gets the
 * full key, to be shown once; rec_out (may be NULL) the stored record. */
int auth_key_create(meta_db *meta, const char *name, unsigned scopes,
                    char key_out[AUTH_KEY_LEN + 1], key_rec *rec_out, scry_err *err);

typedef struct auth auth;

int auth_new(auth **out, meta_db *meta, scry_err *err);
void auth_free(auth *a);

/* Who made a request. */
typedef struct auth_principal {
    char key_id[SCRY_ID_LEN + 1];
    unsigned scopes;
    int via_session;                       /* cookie (CSRF applies) rather than a bearer key */
    char csrf[AUTH_TOKEN_LEN + 1];         /* the session's CSRF token */
} auth_principal;

/* A bearer key. SCRY_OK and *out filled, or SCRY_ENOTFOUND for anything that
 * is not a live key (malformed, unknown, wrong secret, revoked), or SCRY_EIO
 * when the store cannot answer. */
int auth_verify_key(auth *a, const char *key, auth_principal *out);
/* Revoke through this process: the store, the cache and the key's sessions. */
int auth_revoke_key(auth *a, const char *id, scry_err *err);

/* Sign in: a new session for a verified principal. */
int auth_session_create(auth *a, const auth_principal *p, char token[AUTH_TOKEN_LEN + 1],
                        char csrf[AUTH_TOKEN_LEN + 1], scry_err *err);
/* The session's principal (its key re-checked), or SCRY_ENOTFOUND. */
int auth_session_get(auth *a, const char *token, auth_principal *out);
void auth_session_drop(auth *a, const char *token);

/* Constant-time equality of two NUL-terminated strings. */
int auth_token_equal(const char *a, const char *b);

/* The JSON bodies of the access routes (fuzzed by tests/fuzz/fuzz_json):
 *   POST /v1/session  {"key": "scry_..."}
 *   POST /v1/keys     {"name": "web", "scopes": ["read", "write"]}
 * Anything else (not an object, wrong types, unknown scope, over-long
 * values, trailing garbage) is SCRY_EINVAL with a message for the client. */
int auth_parse_session_body(const char *body, size_t n, char key[AUTH_KEY_LEN + 1],
                            scry_err *err);
int auth_parse_key_body(const char *body, size_t n, char name[128], unsigned *scopes,
                        scry_err *err);

#endif
