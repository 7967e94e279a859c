/* log.c -- see log.h. */
#include "core/log.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

static int g_level = LOG_INFO;
static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static const char *g_names[] = {"debug", "info", "warn", "error"};

void log_set_level(int level) {
    if (level >= LOG_DEBUG && level <= LOG_ERROR) g_level = level;
}

int log_level_from_name(const char *name) {
    for (int i = 0; i < 4; i++)
        if (name && strcasecmp(name, g_names[i]) == 0) return i;
    return -1;
}

void log_event(int level, const char *event, const char *fmt, ...) {
    if (level < g_level) return;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    char when[40];
    strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%S", &tm);
    char body[2048] = "";
    if (fmt && *fmt) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(body, sizeof body, fmt, ap);
        va_end(ap);
        /* A log record is one line: fold any newline a message carried. */
        for (char *p = body; *p; p++)
            if (*p == '\n' || *p == '\r') *p = ' ';
    }
    pthread_mutex_lock(&g_lock);
    fprintf(stderr, "ts=%s.%03ldZ level=%s event=%s%s%s\n", when,
            ts.tv_nsec / 1000000, g_names[level], event, *body ? " " : "", body);
    fflush(stderr);
    pthread_mutex_unlock(&g_lock);
}
