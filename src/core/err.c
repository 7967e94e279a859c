/* err.c -- see err.h. */
#include "core/err.h"

#include <stdarg.h>
#include <stdio.h>

int scry_fail(scry_err *err, int code, const char *fmt, ...) {
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
        err->code = code;
    }
    return code;
}

const char *scry_code_name(int code) {
    switch (code) {
    case SCRY_OK: return "ok";
    case SCRY_EINVAL: return "invalid_request";
    case SCRY_ENOTFOUND: return "not_found";
    case SCRY_EIO: return "io_error";
    case SCRY_ENOMEM: return "out_of_memory";
    case SCRY_EUNSUPPORTED: return "unsupported_media_type";
    case SCRY_ETOOBIG: return "too_large";
    case SCRY_ECORRUPT: return "corrupt";
    case SCRY_EBUSY: return "busy";
    case SCRY_ENOSPC: return "insufficient_storage";
    default: return "error";
    }
}
