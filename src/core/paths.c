/* paths.c -- see paths.h.
 *
 * The lookup is a handful of stat() calls at start-up, so nothing is cached
 * but the executable's folder. SCRY_PREFIX is set by the Makefile (PREFIX,
 * default /usr/local) for this file only. */
#include "core/paths.h"

#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/log.h"

#ifndef SCRY_PREFIX
#define SCRY_PREFIX "/usr/local"
#endif

#define MAX_CANDIDATES 4

static char g_exe_dir[PATH_MAX];
static pthread_once_t g_once = PTHREAD_ONCE_INIT;

static void find_exe_dir(void) {
    char buf[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
    if (n <= 0) return;
    buf[n] = 0;
    char *slash = strrchr(buf, '/');
    if (!slash) return;
    *slash = 0;
    snprintf(g_exe_dir, sizeof g_exe_dir, "%s", slash == buf ? "/" : buf);
}

const char *paths_exe_dir(void) {
    pthread_once(&g_once, find_exe_dir);
    return g_exe_dir;
}

/* The candidate folders that may hold rel, in order. */
static int candidate_roots(char roots[MAX_CANDIDATES][PATH_MAX + 32]) {
    int n = 0;
    const char *exe = paths_exe_dir();
    if (*exe) {
        snprintf(roots[n++], PATH_MAX + 32, "%s", exe);
        snprintf(roots[n++], PATH_MAX + 32, "%s/../share/scry", exe);
    }
    snprintf(roots[n++], PATH_MAX + 32, "%s/share/scry", SCRY_PREFIX);
    const char *home = getenv("SCRY_HOME");
    if (home && *home) snprintf(roots[n++], PATH_MAX + 32, "%s", home);
    return n;
}

/* root/rel with "dir/../" folded once, so that messages show plain paths. */
static void join(char *out, size_t cap, const char *root, const char *rel) {
    char tmp[PATH_MAX * 2];
    snprintf(tmp, sizeof tmp, "%s/%s", root, rel);
    char *dots = strstr(tmp, "/../");
    if (dots && dots > tmp) {
        char *prev = dots - 1;
        while (prev > tmp && *prev != '/') prev--;
        if (*prev == '/' && strncmp(prev, "/../", 4) != 0) memmove(prev, dots + 3, strlen(dots + 3) + 1);
    }
    snprintf(out, cap, "%s", tmp);
}

int paths_candidates(const char *rel, char *out, size_t cap) {
    char roots[MAX_CANDIDATES][PATH_MAX + 32];
    int n = candidate_roots(roots);
    size_t len = 0;
    if (cap) out[0] = 0;
    for (int i = 0; i < n && len < cap; i++) {
        char p[PATH_MAX * 2];
        join(p, sizeof p, roots[i], rel);
        len += (size_t)snprintf(out + len, cap - len, "%s%s", i ? "\n" : "", p);
    }
    return n;
}

int paths_find(const char *rel, char *out, size_t cap, scry_err *err) {
    char roots[MAX_CANDIDATES][PATH_MAX + 32];
    int n = candidate_roots(roots);
    char tried[1024] = "";
    size_t tlen = 0;
    for (int i = 0; i < n; i++) {
        char p[PATH_MAX * 2];
        join(p, sizeof p, roots[i], rel);
        struct stat st;
        if (stat(p, &st) == 0) {
            snprintf(out, cap, "%s", p);
            return SCRY_OK;
        }
        if (i == 0) snprintf(out, cap, "%s", p);
        if (tlen < sizeof tried)
            tlen += (size_t)snprintf(tried + tlen, sizeof tried - tlen, "%s%s", i ? ", " : "", p);
    }
    if (n == 0 && cap) out[0] = 0;
    return scry_fail(err, SCRY_ENOTFOUND, "%s not found (looked in %s; run ./scripts/setup.sh and make, "
                     "or set SCRY_HOME)", rel, tried);
}

static void resolve(char *field, size_t cap, const char *rel) {
    if (*field) return;
    scry_err err = {0};
    if (paths_find(rel, field, cap, &err) != SCRY_OK) log_debug("paths.missing", "reason=\"%s\"", err.msg);
}

void paths_resolve_config(scry_config *c) {
    resolve(c->models_dir, sizeof c->models_dir, "models");
    resolve(c->wordvec_path, sizeof c->wordvec_path, "wordvec/wordvec.bin");
    resolve(c->web_dir, sizeof c->web_dir, "web");
}
