/* log.h -- structured single-line logs.
 *
 * One line per event on stderr: `ts=2026-11-28T20:41:07.123Z level=info
 * event=upload.stored image=ab12.. bytes=1234`. The event name is a dotted
 * noun phrase; the rest is key=value pairs written by the caller's format.
 * Values with spaces must be quoted by the caller (log_q helps). A mutex keeps
 * lines from interleaving between worker threads. */
#ifndef SCRY_LOG_H
#define SCRY_LOG_H

enum { LOG_DEBUG = 0, LOG_INFO = 1, LOG_WARN = 2, LOG_ERROR = 3 };

void log_set_level(int level);          /* default LOG_INFO; SCRY_LOG=debug */
int log_level_from_name(const char *name); /* -1 when unknown */
void log_event(int level, const char *event, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define log_debug(ev, ...) log_event(LOG_DEBUG, ev, __VA_ARGS__)
#define log_info(ev, ...) log_event(LOG_INFO, ev, __VA_ARGS__)
#define log_warn(ev, ...) log_event(LOG_WARN, ev, __VA_ARGS__)
#define log_error(ev, ...) log_event(LOG_ERROR, ev, __VA_ARGS__)

#endif
