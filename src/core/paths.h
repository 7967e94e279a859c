/* paths.h -- where Scry finds its data files (models, word vectors, web app).
 *
 * A new user runs the binary from anywhere: `build/scry add ~/Pictures` from
 * their home folder, or an installed `scry serve`. Data files are therefore
 * never looked up relative to the working directory. A file named REL
 * ("models", "wordvec/wordvec.bin", "web") is looked for, in this order:
 *
 *   1. next to the executable:   EXE_DIR/REL
 *      (the build tree: make links build/models and build/wordvec to deps/
 *      and assembles build/web; also a portable folder holding everything)
 *   2. an installed prefix:      EXE_DIR/../share/scry/REL  (relocatable:
 *      `make install PREFIX=P` puts the binary in P/bin and the files in
 *      P/share/scry), then SCRY_PREFIX/share/scry/REL, the prefix the binary
 *      was built for (for a binary copied away from its prefix)
 *   3. $SCRY_HOME/REL
 *
 * The first that exists wins. An explicit flag or variable (--models,
 * SCRY_MODELS, --wordvec, --web, ...) bypasses the lookup. EXE_DIR comes from
 * /proc/self/exe, so a symlink to the binary (e.g. /usr/local/bin/scry ->
 * /opt/scry/bin/scry) resolves to the real folder. */
#ifndef SCRY_PATHS_H
#define SCRY_PATHS_H

#include <stddef.h>

#include "core/config.h"
#include "core/err.h"

/* The folder of the running executable ("" when /proc is unavailable). */
const char *paths_exe_dir(void);

/* Fill out with the first existing candidate for rel. SCRY_ENOTFOUND when
 * none exists: out then holds the first candidate (for error messages) and
 * err lists every place tried. */
int paths_find(const char *rel, char *out, size_t cap, scry_err *err);

/* The candidates for rel, in lookup order, one per line (for --help and
 * error messages). Returns the number written; out is always terminated. */
int paths_candidates(const char *rel, char *out, size_t cap);

/* Resolve every data path of c left empty (models_dir, wordvec_path,
 * web_dir) with paths_find. A path that is found nowhere is set to its first
 * candidate, so that whatever opens it later fails naming a real path. */
void paths_resolve_config(scry_config *c);

#endif
