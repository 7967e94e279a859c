#include "store/meta_backend.h"
int meta_pg_open(meta_db **out, const char *url, scry_err *err) { (void)url; *out = NULL; return scry_fail(err, SCRY_EUNSUPPORTED, "PostgreSQL metadata backend not built"); }
