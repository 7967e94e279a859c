/* err.h -- errors are values.
 *
 * Every fallible function in Scry returns an int status (SCRY_OK == 0, a
 * negative SCRY_E* code otherwise) and, when given a non-NULL scry_err, fills
 * it with a human-readable message. Callers decide what to do with it: the
 * HTTP layer maps codes to statuses, the job manager records the message as a
 * per-image error, the CLI prints it. Library code never calls exit(). */
#ifndef SCRY_ERR_H
#define SCRY_ERR_H

#include <stddef.h>

enum {
    SCRY_OK = 0,
    SCRY_EINVAL = -1,       /* bad argument / malformed input          -> 400 */
    SCRY_ENOTFOUND = -2,    /* unknown id                               -> 404 */
    SCRY_EIO = -3,          /* filesystem / database / network failure  -> 500 */
    SCRY_ENOMEM = -4,
    SCRY_EUNSUPPORTED = -5, /* not an image, unknown format            -> 415 */
    SCRY_ETOOBIG = -6,      /* over a configured limit                  -> 413 */
    SCRY_ECORRUPT = -7,     /* checksum / decode failure                     */
    SCRY_EBUSY = -8,        /* try again later                          -> 503 */
    SCRY_ENOSPC = -9,       /* disk (or quota) full                     -> 507 */
};

typedef struct scry_err {
    int code;
    char msg[512];
} scry_err;

/* Fill err (if not NULL) with code and a printf-style message; returns code
 * so that `return scry_fail(err, SCRY_EIO, "open %s: %s", p, strerror(errno));`
 * reads naturally. */
int scry_fail(scry_err *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Short stable name of a code ("not_found", "io", ...), used in API errors. */
const char *scry_code_name(int code);

#endif
