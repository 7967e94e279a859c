/* fuzz_http.c -- libFuzzer harness for the HTTP request path: the guard's
 * first-bytes, URI and framing checks, routing, authentication, and the
 * multipart/raw upload handling, through a real server (libmicrohttpd on a
 * loopback port, a real data folder on /dev/shm, no workers, no models).
 *
 * The first input byte picks what the rest is:
 *   bit 0 = 0: sent to the server with auth off (every route reachable),
 *          1: to the one with auth on (keys, sessions, 401/403 paths);
 *   bit 1 = 0: a raw request (head and body as given),
 *          1: a multipart/form-data body, sent as POST /v1/images with a
 *             fixed boundary ("fuzz") and a correct Content-Length.
 * Each input is one connection: send, half-close, read until the server
 * closes (or goes quiet). A crash, a sanitizer report or a hang is a finding. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "app/app.h"
#include "core/log.h"
#include "http/server.h"

static scry_app g_app[2];
static http_server *g_srv[2];
static int g_port[2];

static int start(int i, const char *auth) {
    scry_config cfg;
    config_defaults(&cfg);
    snprintf(cfg.data_dir, sizeof cfg.data_dir, "/dev/shm/scry-fuzz-http-%d-%d", (int)getpid(), i);
    snprintf(cfg.auth, sizeof cfg.auth, "%s", auth);
    cfg.port = 0;
    cfg.workers = 0;
    cfg.vision = 0;
    cfg.ocr = 0;
    cfg.http_threads = 2;
    cfg.rate_ip = 0;
    cfg.rate_key = 0;
    cfg.max_upload_mb = 4;
    scry_err err = {0};
    if (app_open(&g_app[i], &cfg, APP_NO_WORKERS, &err) != SCRY_OK ||
        http_start(&g_srv[i], &g_app[i], &err) != SCRY_OK) {
        fprintf(stderr, "fuzz_http: %s\n", err.msg);
        return -1;
    }
    g_port[i] = http_port(g_srv[i]);
    return 0;
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc; (void)argv;
    log_set_level(LOG_ERROR);
    if (start(0, "off") || start(1, "on")) abort();
    return 0;
}

static void exchange(int port, const uint8_t *head, size_t hn, const uint8_t *body, size_t bn) {
    int s = socket(AF_INET, SOCK_STREAM, 0);
    if (s < 0) return;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(s, (struct sockaddr *)&a, sizeof a) != 0) {
        close(s);
        return;
    }
    if (hn) (void)!send(s, head, hn, MSG_NOSIGNAL);
    if (bn) (void)!send(s, body, bn, MSG_NOSIGNAL);
    shutdown(s, SHUT_WR);
    /* Read until one whole response is in (head + Content-Length), the
     * server closes, or it has been quiet for 300 ms (an incomplete
     * request: the server rightly waits for the rest). */
    static char buf[1 << 20];
    size_t got = 0;
    struct pollfd p = {.fd = s, .events = POLLIN};
    while (got < sizeof buf - 1 && poll(&p, 1, 300) > 0) {
        ssize_t n = recv(s, buf + got, sizeof buf - 1 - got, 0);
        if (n <= 0) break;
        got += (size_t)n;
        buf[got] = 0;
        char *end = strstr(buf, "\r\n\r\n");
        if (!end) continue;
        char *cl = strcasestr(buf, "\r\nContent-Length:");
        if (cl && cl < end && got >= (size_t)(end + 4 - buf) + strtoull(cl + 17, NULL, 10)) break;
    }
    close(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1 || size > 256 * 1024) return 0;
    int which = data[0] & 1;
    const uint8_t *rest = data + 1;
    size_t n = size - 1;
    if (data[0] & 2) {
        char head[256];
        int hn = snprintf(head, sizeof head,
                          "POST /v1/images HTTP/1.1\r\nHost: fuzz\r\nContent-Type: "
                          "multipart/form-data; boundary=fuzz\r\nContent-Length: %zu\r\n\r\n", n);
        exchange(g_port[which], (const uint8_t *)head, (size_t)hn, rest, n);
    } else {
        exchange(g_port[which], rest, n, NULL, 0);
    }
    return 0;
}
