/* guard.h -- what stands between the network and the API handlers:
 * connection caps, timeouts, and strict request framing.
 *
 * libmicrohttpd (0.9.75, Debian 12) parses HTTP; this module covers what it
 * lets through or mishandles, each found by a black-box probe (issue 13):
 *
 *   - At accept: the listening socket is ours (TCP_DEFER_ACCEPT, so a client
 *     that connects and sends nothing never reaches user space before the
 *     header timeout), and the first bytes of every connection are peeked
 *     before libmicrohttpd reads them. Bytes that cannot start an HTTP
 *     request (a TLS ClientHello on the plain port, binary) close the
 *     connection at once; a bare "\r\n\r\n" gets 400; a complete first
 *     request head whose Content-Length is malformed, repeated or combined
 *     with Transfer-Encoding gets our 400 -- libmicrohttpd would answer a bad
 *     Content-Length with its status line and headers written twice.
 *   - At the request line (libmicrohttpd's URI callback, before it parses
 *     the query): a URI over max_uri bytes or with more than max_params
 *     parameters is answered 414 at once (libmicrohttpd runs out of its
 *     per-connection pool on ~600 parameters and then never answers); a
 *     NUL (%00) or an invalid percent-escape anywhere in the URI is refused
 *     with 400 when the handler runs (libmicrohttpd would cut the path at
 *     the NUL and route the rest).
 *   - At the handler's first call (every request, keep-alive ones too):
 *     two Content-Length headers, Content-Length with Transfer-Encoding
 *     (request smuggling behind a proxy), and any Transfer-Encoding other
 *     than plain "chunked" (501) are refused.
 *   - A watchdog thread closes connections whose request head is not
 *     complete header_timeout_s after the connection opened or its previous
 *     request ended (slowloris; idle keep-alive), and uploads whose body
 *     arrives slower than min_body_rate bytes/s once header_timeout_s have
 *     passed.
 *   - Over max_connections, a new connection evicts the longest-idle one
 *     (waiting for a request head), so that a flood of stalled connections
 *     cannot keep a real client out.
 *
 * "Answering at once" where libmicrohttpd offers no way to (before it has
 * parsed a request, or in the middle of a body) means writing a complete
 * HTTP/1.1 response with Connection: close on the socket ourselves and
 * shutting it down; libmicrohttpd then sees the end of the stream and drops
 * the connection. This is only done while libmicrohttpd has nothing of its
 * own to write on that connection, and never under TLS (where the socket
 * carries records; there the connection is just closed).
 *
 * Thread safety: callbacks run on libmicrohttpd's threads; state shared with
 * the watchdog is under one mutex. */
#ifndef SCRY_GUARD_H
#define SCRY_GUARD_H

#include <microhttpd.h>
#include <stddef.h>

#include "core/err.h"

typedef struct guard_config {
    int tls;                    /* the daemon speaks TLS: no raw replies */
    int header_timeout_s;       /* connection start / previous request end -> complete head */
    int min_body_rate;          /* bytes/s, averaged, checked after header_timeout_s of body */
    int max_connections;        /* open connections; past it the longest-idle is closed */
    size_t max_uri;             /* bytes of the request target */
    int max_params;             /* query parameters */
} guard_config;

typedef struct guard guard;

/* Starts the watchdog thread. */
int guard_new(guard **out, const guard_config *cfg, scry_err *err);
void guard_free(guard *g);      /* after the daemon has stopped */

/* A listening IPv4 TCP socket for libmicrohttpd (MHD_OPTION_LISTEN_SOCKET):
 * SO_REUSEADDR, TCP_DEFER_ACCEPT of defer_s seconds, backlog 1024. */
int guard_listen(const char *host, int port, int defer_s, int *fd, scry_err *err);

/* For MHD_OPTION_NOTIFY_CONNECTION and MHD_OPTION_URI_LOG_CALLBACK; cls is
 * the guard. */
void guard_on_connection(void *cls, struct MHD_Connection *c, void **socket_context,
                         enum MHD_ConnectionNotificationCode toe);
void *guard_on_uri(void *cls, const char *uri, struct MHD_Connection *c);

/* At the access handler's first call for a request: 0 to go on, 1 when the
 * request was already answered by guard_reply_now (return MHD_NO), or the
 * HTTP status to refuse it with (code and message filled). */
unsigned guard_check_request(guard *g, struct MHD_Connection *c, char code[40], char msg[200]);
/* Body bytes received, for the slow-body check. */
void guard_body_bytes(struct MHD_Connection *c, size_t n);
/* The handler has queued its response (for MHD_OPTION_NOTIFY_COMPLETED):
 * the connection now waits for its next request. */
void guard_request_done(guard *g, struct MHD_Connection *c);
/* Answer now, outside libmicrohttpd (see above): writes the response and
 * shuts the socket down; the caller then returns MHD_NO. Under TLS only the
 * shutdown happens. Returns 1 when the reply was written. */
int guard_reply_now(struct MHD_Connection *c, unsigned status, const char *code,
                    const char *message);
/* The client's address as text ("127.0.0.1"); "?" when unknown. */
const char *guard_client_ip(struct MHD_Connection *c, char buf[64]);
/* Connections currently open (for /metrics). */
int guard_connections(guard *g);

#endif
