/* guard.c -- see guard.h. */
#include "http/guard.h"

#include <arpa/inet.h>
#include <errno.h>
#include <jansson.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "app/render.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/util.h"

#define PEEK_BYTES 8192
#define WATCH_EVERY_MS 200

enum { C_WAIT, C_HANDLING, C_BODY };

typedef struct guard guard_t;
typedef struct gconn {
    struct gconn *prev, *next;
    guard_t *g;
    int fd;
    _Atomic int closed;         /* shut down by us (read outside the lock) */
    int state;
    double t_wait;              /* waiting for a head since (monotonic s) */
    double t_body;
    _Atomic uint64_t body_bytes;    /* added to by the handler's thread */
    unsigned uri_status;        /* non-zero: the current request's URI is refused */
    char uri_msg[160];
    char ip[64];
} gconn;

struct guard {
    guard_config cfg;
    pthread_mutex_t lock;
    gconn *conns;
    int nconns;                 /* in the list (libmicrohttpd still holds them) */
    int nclosed;                /* of which shut down by us, not yet gone */
    int stop;
    pthread_cond_t wake;
    pthread_t watchdog;
    int watching;
};

static void close_conn(guard *g, gconn *gc, const char *why, metric_counter m);

/* Shut down by us (counted once); takes the lock. */
static void mark_closed(gconn *gc) {
    pthread_mutex_lock(&gc->g->lock);
    if (!gc->closed) gc->g->nclosed++;
    gc->closed = 1;
    pthread_mutex_unlock(&gc->g->lock);
}

static gconn *conn_of(struct MHD_Connection *c) {
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    return ci ? ci->socket_context : NULL;
}

/* ---- raw replies --------------------------------------------------------- */

static const char *reason_of(unsigned status) {
    switch (status) {
    case 400: return "Bad Request";
    case 408: return "Request Timeout";
    case 413: return "Content Too Large";
    case 414: return "URI Too Long";
    case 431: return "Request Header Fields Too Large";
    case 501: return "Not Implemented";
    default: return "Error";
    }
}

/* Write a whole response with Connection: close, then shut the socket down
 * so that libmicrohttpd reads the end of the stream and drops it. */
static int raw_reply(int fd, int tls, unsigned status, const char *code, const char *message) {
    int wrote = 0;
    if (!tls) {
        json_t *doc = render_error(code, message);
        char *body = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
        json_decref(doc);
        char buf[1024];
        int n = snprintf(buf, sizeof buf,
                         "HTTP/1.1 %u %s\r\nContent-Type: application/json\r\n"
                         "Content-Length: %zu\r\nConnection: close\r\n\r\n%s",
                         status, reason_of(status), body ? strlen(body) : 0, body ? body : "");
        free(body);
        if (n > 0 && (size_t)n < sizeof buf)
            wrote = send(fd, buf, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT) == n;
    }
    shutdown(fd, SHUT_RDWR);
    metrics_add(M_REQ_MALFORMED, 1);
    return wrote;
}

int guard_reply_now(struct MHD_Connection *c, unsigned status, const char *code,
                    const char *message) {
    gconn *gc = conn_of(c);
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
    const union MHD_ConnectionInfo *di = MHD_get_connection_info(c, MHD_CONNECTION_INFO_DAEMON);
    int tls = 0;
    if (di) {
        const union MHD_DaemonInfo *fl = MHD_get_daemon_info(di->daemon, MHD_DAEMON_INFO_FLAGS);
        tls = fl && (fl->flags & MHD_USE_TLS);
    }
    if (!ci) return 0;
    if (gc) mark_closed(gc);
    return raw_reply(ci->connect_fd, tls, status, code, message);
}

/* ---- what the bytes say ---------------------------------------------------- */

static int is_hex(char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* The request target as sent (before libmicrohttpd unescapes it). */
static unsigned uri_verdict(const guard_config *cfg, const char *uri, char *msg, size_t cap) {
    size_t len = strlen(uri);
    if (len > cfg->max_uri) {
        snprintf(msg, cap, "request target of %zu bytes; the limit is %zu", len, cfg->max_uri);
        return 414;
    }
    int params = 0;
    const char *q = strchr(uri, '?');
    if (q) {
        params = 1;
        for (const char *p = q + 1; *p; p++) params += *p == '&' || *p == ';';
    }
    if (params > cfg->max_params) {
        snprintf(msg, cap, "%d query parameters; the limit is %d", params, cfg->max_params);
        return 414;
    }
    for (const char *p = uri; *p; p++) {
        if (*p != '%') continue;
        if (!is_hex(p[1]) || !is_hex(p[2])) {
            snprintf(msg, cap, "invalid percent-escape in the request target");
            return 400;
        }
        if (p[1] == '0' && p[2] == '0') {
            snprintf(msg, cap, "NUL (%%00) in the request target");
            return 400;
        }
        p += 2;
    }
    return 0;
}

/* One header line's name is `name` (case-insensitive)? */
static int header_named(const char *line, size_t n, const char *name) {
    size_t k = strlen(name);
    return n > k && line[k] == ':' && strncasecmp(line, name, k) == 0;
}

/* "123" with optional whitespace around it, at most 18 digits. */
static int valid_length(const char *v, size_t n) {
    size_t i = 0, digits = 0;
    while (i < n && (v[i] == ' ' || v[i] == '\t')) i++;
    while (i < n && v[i] >= '0' && v[i] <= '9') i++, digits++;
    while (i < n && (v[i] == ' ' || v[i] == '\t' || v[i] == '\r')) i++;
    return i == n && digits >= 1 && digits <= 18;
}

/* First bytes of a connection (plain HTTP). 0: fine or not enough to tell;
 * -1: not HTTP at all, close; else a status to answer with. */
static int first_bytes_verdict(const char *buf, size_t n, char *msg, size_t cap) {
    if ((unsigned char)buf[0] == 0x16) {
        snprintf(msg, cap, "TLS handshake on the plain-HTTP port");
        return -1;
    }
    size_t i = 0, lfs = 0;
    while (i < n && (buf[i] == '\r' || buf[i] == '\n')) lfs += buf[i++] == '\n';
    if (lfs >= 2 || (i == n && lfs >= 2)) {
        snprintf(msg, cap, "empty request (blank lines and no request line)");
        return 400;
    }
    if (i == n) return 0;
    unsigned char first = (unsigned char)buf[i];
    if (first < 'A' || first > 'Z') {
        snprintf(msg, cap, "not an HTTP request");
        return first < 0x20 || first >= 0x7f ? -1 : 400;
    }
    /* A complete head? Then check its framing headers. */
    const char *end = NULL;
    for (size_t k = i; k + 1 < n && !end; k++) {
        if (buf[k] == '\n' && buf[k + 1] == '\n') end = buf + k;
        else if (k + 3 < n && !memcmp(buf + k, "\r\n\r\n", 4)) end = buf + k;
    }
    if (!end) return 0;
    if (memchr(buf + i, 0, (size_t)(end - (buf + i)))) {
        snprintf(msg, cap, "NUL byte in the request head");
        return 400;
    }
    int cl = 0, te = 0;
    const char *line = memchr(buf + i, '\n', (size_t)(end - (buf + i)));
    while (line && line < end) {
        line++;
        const char *eol = memchr(line, '\n', (size_t)(end + 2 - line));
        if (!eol) eol = end;
        size_t len = (size_t)(eol - line);
        if (len && line[len - 1] == '\r') len--;
        if (header_named(line, len, "content-length")) {
            cl++;
            size_t name = strlen("content-length") + 1;
            if (!valid_length(line + name, len - name)) {
                snprintf(msg, cap, "malformed Content-Length");
                return 400;
            }
        }
        if (header_named(line, len, "transfer-encoding")) te++;
        line = eol < end ? eol : NULL;
    }
    if (cl > 1) {
        snprintf(msg, cap, "more than one Content-Length header");
        return 400;
    }
    if (cl && te) {
        snprintf(msg, cap, "both Content-Length and Transfer-Encoding");
        return 400;
    }
    return 0;
}

static void peek_first_bytes(guard *g, gconn *gc) {
    char buf[PEEK_BYTES];
    ssize_t n = recv(gc->fd, buf, sizeof buf, MSG_PEEK | MSG_DONTWAIT);
    if (n <= 0) return;
    char msg[160] = "";
    if (g->cfg.tls) {
        /* Plain HTTP sent to the TLS port: say so in plain HTTP. */
        if (buf[0] >= 'A' && buf[0] <= 'Z') {
            if (recv(gc->fd, buf, (size_t)n, MSG_DONTWAIT) < 0) { /* nothing to do */ }
            mark_closed(gc);
            raw_reply(gc->fd, 0, 400, "tls_required", "this port speaks HTTPS");
        }
        return;
    }
    int v = first_bytes_verdict(buf, (size_t)n, msg, sizeof msg);
    if (v == 0) return;
    log_info("http.refused", "ip=%s reason=\"%s\"", gc->ip, msg);
    /* Read what we peeked so that closing does not reset the connection
     * (a reset can make the client drop our reply unread). */
    if (recv(gc->fd, buf, (size_t)n, MSG_DONTWAIT) < 0) { /* nothing to do */ }
    mark_closed(gc);
    if (v < 0) {
        shutdown(gc->fd, SHUT_RDWR);
        metrics_add(M_REQ_MALFORMED, 1);
    } else {
        raw_reply(gc->fd, 0, (unsigned)v, "invalid_request", msg);
    }
}

/* ---- libmicrohttpd callbacks ---------------------------------------------- */

void guard_on_connection(void *cls, struct MHD_Connection *c, void **socket_context,
                         enum MHD_ConnectionNotificationCode toe) {
    guard *g = cls;
    if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
        gconn *gc = calloc(1, sizeof *gc);
        if (!gc) return;
        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
        gc->g = g;
        gc->fd = ci ? ci->connect_fd : -1;
        gc->state = C_WAIT;
        gc->t_wait = scry_mono_s();
        guard_client_ip(c, gc->ip);
        pthread_mutex_lock(&g->lock);
        gc->next = g->conns;
        if (g->conns) g->conns->prev = gc;
        g->conns = gc;
        g->nconns++;
        /* Over the cap, the longest-idle connection (no request in
         * progress) makes room for the new one, at once: refusing the
         * newcomer instead would let a flood of stalled connections, queued
         * in the listen backlog ahead of a real client, keep it out. */
        if (g->nconns - g->nclosed > g->cfg.max_connections) {
            gconn *oldest = NULL;
            for (gconn *o = gc->next; o; o = o->next)
                if (!o->closed && o->fd >= 0 && o->state == C_WAIT &&
                    (!oldest || o->t_wait < oldest->t_wait))
                    oldest = o;
            close_conn(g, oldest ? oldest : gc, "evicted", M_CONN_EVICTED);
        }
        pthread_mutex_unlock(&g->lock);
        *socket_context = gc;
        if (gc->fd >= 0) peek_first_bytes(g, gc);
        return;
    }
    gconn *gc = *socket_context;
    if (!gc) return;
    pthread_mutex_lock(&g->lock);
    if (gc->prev) gc->prev->next = gc->next;
    else g->conns = gc->next;
    if (gc->next) gc->next->prev = gc->prev;
    g->nconns--;
    if (gc->closed) g->nclosed--;
    pthread_mutex_unlock(&g->lock);
    free(gc);
    *socket_context = NULL;
}

void *guard_on_uri(void *cls, const char *uri, struct MHD_Connection *c) {
    guard *g = cls;
    gconn *gc = conn_of(c);
    char msg[160] = "";
    unsigned v = uri ? uri_verdict(&g->cfg, uri, msg, sizeof msg) : 400;
    if (gc) {
        gc->uri_status = v;
        snprintf(gc->uri_msg, sizeof gc->uri_msg, "%s", msg);
    }
    if (v == 414) {
        /* libmicrohttpd parses the query into its fixed pool right after
         * this and, when that pool runs out, never answers: answer first. */
        char ip[64];
        log_info("http.refused", "ip=%s status=414 reason=\"%s\"", guard_client_ip(c, ip), msg);
        guard_reply_now(c, 414, "too_large", msg);
    }
    return NULL;
}

typedef struct framing {
    int cl, te;
    char te_value[64];
    unsigned long long length;
} framing;

static enum MHD_Result count_framing(void *cls, enum MHD_ValueKind kind, const char *key,
                                     const char *value) {
    (void)kind;
    framing *f = cls;
    if (!key) return MHD_YES;
    if (!strcasecmp(key, "Content-Length")) {
        f->cl++;
        f->length = value ? strtoull(value, NULL, 10) : 0;
    } else if (!strcasecmp(key, "Transfer-Encoding")) {
        f->te++;
        snprintf(f->te_value, sizeof f->te_value, "%s", value ? value : "");
    }
    return MHD_YES;
}

unsigned guard_check_request(guard *g, struct MHD_Connection *c, char code[40], char msg[200]) {
    (void)g;
    gconn *gc = conn_of(c);
    snprintf(code, 40, "invalid_request");
    if (gc && gc->closed) return 1;             /* already answered (guard_reply_now) */
    unsigned status = 0;
    if (gc && gc->uri_status) {
        status = gc->uri_status;
        snprintf(msg, 200, "%s", gc->uri_msg);
    }
    framing f = {0};
    MHD_get_connection_values(c, MHD_HEADER_KIND, count_framing, &f);
    if (status) {
    } else if (f.cl > 1) {
        status = 400;
        snprintf(msg, 200, "more than one Content-Length header");
    } else if (f.cl && f.te) {
        status = 400;
        snprintf(msg, 200, "both Content-Length and Transfer-Encoding");
    } else if (f.te > 1) {
        status = 400;
        snprintf(msg, 200, "more than one Transfer-Encoding header");
    } else if (f.te && strcasecmp(f.te_value, "chunked") != 0) {
        status = 501;
        snprintf(code, 40, "not_implemented");
        snprintf(msg, 200, "Transfer-Encoding '%.60s' is not supported (only chunked)",
                 f.te_value);
    }
    if (status) {
        metrics_add(M_REQ_MALFORMED, 1);
        return status;
    }
    if (gc) {
        int body = (f.cl && f.length > 0) || f.te;
        pthread_mutex_lock(&g->lock);
        gc->state = body ? C_BODY : C_HANDLING;
        gc->t_body = scry_mono_s();
        gc->body_bytes = 0;
        pthread_mutex_unlock(&g->lock);
    }
    return 0;
}

void guard_body_bytes(struct MHD_Connection *c, size_t n) {
    gconn *gc = conn_of(c);
    if (gc) gc->body_bytes += n;
}

void guard_request_done(guard *g, struct MHD_Connection *c) {
    gconn *gc = conn_of(c);
    if (!gc) return;
    pthread_mutex_lock(&g->lock);
    gc->state = C_WAIT;
    gc->t_wait = scry_mono_s();
    gc->uri_status = 0;
    pthread_mutex_unlock(&g->lock);
}

const char *guard_client_ip(struct MHD_Connection *c, char buf[64]) {
    snprintf(buf, 64, "?");
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    if (!ci || !ci->client_addr) return buf;
    const struct sockaddr *sa = ci->client_addr;
    if (sa->sa_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, buf, 64);
    else if (sa->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, buf, 64);
    return buf;
}

int guard_connections(guard *g) {
    pthread_mutex_lock(&g->lock);
    int n = g->nconns;
    pthread_mutex_unlock(&g->lock);
    return n;
}

/* ---- the watchdog ------------------------------------------------------------ */

/* Under g->lock. */
static void close_conn(guard *g, gconn *gc, const char *why, metric_counter m) {
    if (!gc->closed) g->nclosed++;
    gc->closed = 1;
    shutdown(gc->fd, SHUT_RDWR);
    metrics_add(m, 1);
    log_debug("http.closed", "ip=%s reason=%s", gc->ip, why);
}

static void watch_once(guard *g) {
    double now = scry_mono_s();
    const guard_config *cfg = &g->cfg;
    pthread_mutex_lock(&g->lock);
    for (gconn *gc = g->conns; gc; gc = gc->next) {
        if (gc->closed || gc->fd < 0) continue;
        if (gc->state == C_WAIT && now - gc->t_wait > cfg->header_timeout_s) {
            close_conn(g, gc, "header_timeout", M_CONN_TIMED_OUT);
            continue;
        }
        if (gc->state == C_BODY && cfg->min_body_rate > 0) {
            double t = now - gc->t_body;
            if (t > cfg->header_timeout_s && (double)gc->body_bytes / t < cfg->min_body_rate) {
                close_conn(g, gc, "body_too_slow", M_CONN_TIMED_OUT);
                continue;
            }
        }
    }
    pthread_mutex_unlock(&g->lock);
}

static void *watchdog_main(void *arg) {
    guard *g = arg;
    pthread_mutex_lock(&g->lock);
    while (!g->stop) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += WATCH_EVERY_MS * 1000000L;
        ts.tv_sec += ts.tv_nsec / 1000000000L;
        ts.tv_nsec %= 1000000000L;
        pthread_cond_timedwait(&g->wake, &g->lock, &ts);
        if (g->stop) break;
        pthread_mutex_unlock(&g->lock);
        watch_once(g);
        pthread_mutex_lock(&g->lock);
    }
    pthread_mutex_unlock(&g->lock);
    return NULL;
}

int guard_new(guard **out, const guard_config *cfg, scry_err *err) {
    guard *g = calloc(1, sizeof *g);
    if (!g) return scry_fail(err, SCRY_ENOMEM, "out of memory (guard)");
    g->cfg = *cfg;
    pthread_mutex_init(&g->lock, NULL);
    pthread_cond_init(&g->wake, NULL);
    if (pthread_create(&g->watchdog, NULL, watchdog_main, g) != 0) {
        pthread_cond_destroy(&g->wake);
        pthread_mutex_destroy(&g->lock);
        free(g);
        return scry_fail(err, SCRY_EIO, "cannot start the connection watchdog");
    }
    g->watching = 1;
    *out = g;
    return SCRY_OK;
}

void guard_free(guard *g) {
    if (!g) return;
    if (g->watching) {
        pthread_mutex_lock(&g->lock);
        g->stop = 1;
        pthread_cond_signal(&g->wake);
        pthread_mutex_unlock(&g->lock);
        pthread_join(g->watchdog, NULL);
    }
    gconn *gc = g->conns;           /* the daemon normally closed them all */
    while (gc) {
        gconn *next = gc->next;
        free(gc);
        gc = next;
    }
    pthread_cond_destroy(&g->wake);
    pthread_mutex_destroy(&g->lock);
    free(g);
}

int guard_listen(const char *host, int port, int defer_s, int *fd, scry_err *err) {
    struct sockaddr_in addr = {0};
    addr.sin_family = AF_INET;
    addr.sin_port = htons((uint16_t)port);
    if (inet_pton(AF_INET, host, &addr.sin_addr) != 1)
        return scry_fail(err, SCRY_EINVAL, "--host must be an IPv4 address, got '%s'", host);
    int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (s < 0) return scry_fail(err, SCRY_EIO, "socket: %s", strerror(errno));
    int one = 1;
    setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (defer_s > 0) setsockopt(s, IPPROTO_TCP, TCP_DEFER_ACCEPT, &defer_s, sizeof defer_s);
    if (bind(s, (struct sockaddr *)&addr, sizeof addr) != 0 || listen(s, 1024) != 0) {
        int e = errno;
        close(s);
        return scry_fail(err, SCRY_EIO, "cannot listen on %s:%d: %s", host, port, strerror(e));
    }
    *fd = s;
    return SCRY_OK;
}
