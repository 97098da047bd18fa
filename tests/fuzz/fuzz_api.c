/*
 * fuzz_api: drives otad's HTTP layer (router, auth, JSON body parsing, multipart upload
 * through libmicrohttpd's post processor, NDJSON import, validators, store) with fuzzed
 * request bodies. The server runs in-process on a loopback port with a temp data folder;
 * each input is sent over a fresh connection and the answer read to the end.
 *
 * Input: byte 0 selects the request (mod 5); the rest is its body:
 *   0 POST /api/v1/products (application/json)
 *   1 POST /api/v1/products/{pk}/devices (application/json)
 *   2 POST /api/v1/firmwares (multipart/form-data; boundary=XyZ)
 *   3 POST /api/v1/products/{pk}/devices:import (application/x-ndjson)
 *   4 a raw request: the bytes as sent, "TOKEN" replaced by the admin token
 * A crash, sanitizer report or a connection that never answers is a failure.
 */
#include "http/http.h"
#include "store/store.h"

#include "ota_log.h"

#include <arpa/inet.h>
#include <errno.h>
#include <ftw.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#define TOKEN "fuzz-admin-token-0001"

static cfg_t cfg;
static http_app app;
static int port;
static char pk[16];
static http_server *srv; /* lives for the whole run */
static char data_dir[64];

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

/* The temp data folder goes with the process (the server threads are not stopped: the
 * process is ending). */
static void cleanup(void)
{
    if (data_dir[0])
        nftw(data_dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {0};
    socklen_t len = sizeof a;
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(fd, (struct sockaddr *)&a, sizeof a);
    getsockname(fd, (struct sockaddr *)&a, &len);
    close(fd);
    return ntohs(a.sin_port);
}

/* Sends req and reads the answer until the server closes. A well-framed request must be
 * answered within 10 s (else abort: a hang is a bug). A raw request may be cut inside its
 * headers or promise more body than it has; libmicrohttpd then waits for the rest (until
 * its connection timeout, even after our half-close), so raw requests get 300 ms. */
static void exchange(const char *req, size_t len, int raw)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {0};
    struct timeval tv = {raw ? 0 : 10, raw ? 300000 : 0};
    char buf[8192];
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        fprintf(stderr, "fuzz_api: cannot connect: %s\n", strerror(errno));
        abort();
    }
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    size_t off = 0;
    while (off < len) {
        ssize_t w = send(fd, req + off, len - off, MSG_NOSIGNAL);
        if (w <= 0)
            break; /* the server may answer and close early (401, 413, ...) */
        off += (size_t)w;
    }
    shutdown(fd, SHUT_WR);
    for (;;) {
        ssize_t r = recv(fd, buf, sizeof buf, 0);
        if (r == 0)
            break;
        if (r < 0) {
            if ((errno == EAGAIN || errno == EWOULDBLOCK) && !raw) {
                fprintf(stderr, "fuzz_api: no answer within 10 s\n");
                abort();
            }
            break;
        }
    }
    /* close with a reset: hundreds of connections a second would otherwise fill the
     * loopback's ephemeral ports with TIME_WAIT (28,000 of them in under a minute) */
    struct linger lg = {1, 0};
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    close(fd);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    char dir[] = "/tmp/fuzz-api-XXXXXX", err[256], url[1200], sub[1100];
    (void)argc;
    (void)argv;
    ota_log_set_level(OTA_LOG_ERROR);
    if (!mkdtemp(dir))
        abort();
    snprintf(data_dir, sizeof data_dir, "%s", dir);
    atexit(cleanup);
    port = free_port();
    /* every setting at its default (connection limits, timeouts), then ours */
    char *no_args[] = {"fuzz_api", NULL};
    if (cfg_load(&cfg, 1, no_args, err, sizeof err) != 0) {
        fprintf(stderr, "fuzz_api: %s\n", err);
        abort();
    }
    snprintf(cfg.http_addr, sizeof cfg.http_addr, "127.0.0.1:%d", port);
    cfg.https_addr[0] = '\0'; /* plain HTTP only */
    snprintf(cfg.data_dir, sizeof cfg.data_dir, "%s", dir);
    cfg.http_threads = 2;
    snprintf(app.data_dir, sizeof app.data_dir, "%s", dir);
    snprintf(app.console_dir, sizeof app.console_dir, "%s", dir);
    snprintf(sub, sizeof sub, "%s/firmware", dir);
    mkdir(sub, 0755);
    snprintf(sub, sizeof sub, "%s/tmp", dir);
    mkdir(sub, 0755);
    app.cfg = &cfg;
    app.admin_token = TOKEN;
    snprintf(url, sizeof url, "sqlite:%s/ota.db", dir);
    if (store_open(url, &app.store, err, sizeof err) != OTA_OK) {
        fprintf(stderr, "fuzz_api: %s\n", err);
        abort();
    }
    store_product p;
    if (store_product_create(app.store, "fuzz", "", 1, &p) != OTA_OK)
        abort();
    snprintf(pk, sizeof pk, "%s", p.product_key);
    srv = http_start(&app, 2);
    if (!srv)
        abort();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const paths[] = {"/api/v1/products", "/api/v1/products/%s/devices",
                                        "/api/v1/firmwares", "/api/v1/products/%s/devices:import"};
    static const char *const types[] = {"application/json", "application/json",
                                        "multipart/form-data; boundary=XyZ",
                                        "application/x-ndjson"};
    if (size < 1 || size > 1 << 20)
        return 0;
    int sel = data[0] % 5;
    const char *body = (const char *)data + 1;
    size_t blen = size - 1;
    char *req = malloc(blen + 1024);
    size_t len;
    if (sel < 4) {
        char path[128];
        snprintf(path, sizeof path, paths[sel], pk);
        int n = snprintf(req, 1024,
                         "POST %s HTTP/1.1\r\nHost: fuzz\r\nAuthorization: Bearer " TOKEN
                         "\r\nContent-Type: %s\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n",
                         path, types[sel], blen);
        memcpy(req + n, body, blen);
        len = (size_t)n + blen;
    } else {
        /* raw: replace each "TOKEN" with the admin token */
        len = 0;
        for (size_t i = 0; i < blen; i++) {
            if (i + 5 <= blen && memcmp(body + i, "TOKEN", 5) == 0 && len + 64 < blen + 1024) {
                memcpy(req + len, TOKEN, strlen(TOKEN));
                len += strlen(TOKEN);
                i += 4;
            } else if (len < blen + 1000) {
                req[len++] = body[i];
            }
        }
    }
    exchange(req, len, sel == 4);
    free(req);
    return 0;
}
