/* Integration: otad's HTTP listener under hostile clients, through real sockets to a real
 * otad (docs/operations.md, "HTTP listener"). Attackers connect from other loopback
 * addresses (127.0.0.2, 127.0.0.3: Linux routes all of 127/8 to lo), so the per-address
 * limit applies to them and not to the checks, which come from 127.0.0.1.
 *   - 2,000 half-sent request heads from one address: the address holds at most its limit,
 *     health answers at once, the heads are closed at the head timeout, and so is a head
 *     trickled a byte at a time;
 *   - two one-second bursts of 2,000 half-sent requests closed at once: health answers
 *     within a second after them, and otad holds none of those sockets any more;
 *   - an upload cut by a fast client: its temp file is gone within seconds;
 *   - a path with an encoded NUL: 400; the console's and the API's security headers;
 *   - downloads that fill their share of the connections: the next one is answered 503
 *     busy, and health and the API still answer. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "test_api_util.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>

#define PER_ADDRESS 1500
#define HEAD_TIMEOUT_S 3
#define ATTACK 2000

static const char half_head[] = "GET /api/v1/health HTTP/1.1\r\nHost: x\r\n";


/* A blocking TCP connection from src (an address of 127/8) to otad, or -1. */
static int connect_from(tapi_ctx *c, const char *src)
{
    struct sockaddr_in a = {0}, b = {0};
    struct timeval tv = {2, 0};
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    a.sin_family = AF_INET;
    inet_pton(AF_INET, src, &a.sin_addr);
    b.sin_family = AF_INET;
    b.sin_port = htons((uint16_t)c->env.http_port);
    inet_pton(AF_INET, "127.0.0.1", &b.sin_addr);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    if (bind(fd, (struct sockaddr *)&a, sizeof a) != 0 ||
        connect(fd, (struct sockaddr *)&b, sizeof b) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* 1 when the server closed (or reset) fd: end of stream or an error is readable. */
static int server_closed(int fd)
{
    char c;
    ssize_t n = recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
    return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK);
}

static int count_closed(const int *fds, int n)
{
    int closed = 0;
    for (int i = 0; i < n; i++)
        closed += fds[i] < 0 || server_closed(fds[i]);
    return closed;
}

/* Sends req from 127.0.0.1 and reads the answer until otad closes (Connection: close) or
 * timeout_ms passes. Returns the status (0 when none came) and the head in out. */
static int raw_request(tapi_ctx *c, const char *req, size_t req_len, int timeout_ms, char *out,
                       size_t cap)
{
    int fd = connect_from(c, "127.0.0.1");
    size_t got = 0;
    int64_t end = oth_now_ms() + timeout_ms;
    out[0] = '\0';
    if (fd < 0)
        return 0;
    if (send(fd, req, req_len, MSG_NOSIGNAL) != (ssize_t)req_len) {
        close(fd);
        return 0;
    }
    while (got + 1 < cap) {
        struct pollfd p = {fd, POLLIN, 0};
        int64_t left = end - oth_now_ms();
        if (left <= 0 || poll(&p, 1, (int)left) <= 0)
            break;
        ssize_t n = recv(fd, out + got, cap - 1 - got, 0);
        if (n <= 0)
            break;
        got += (size_t)n;
        out[got] = '\0';
    }
    close(fd);
    int status = 0;
    if (sscanf(out, "HTTP/1.%*d %d", &status) != 1)
        status = 0;
    return status;
}

/* GET /api/v1/health from 127.0.0.1; the status, 0 when no answer within timeout_ms. */
static int health(tapi_ctx *c, int timeout_ms)
{
    static const char req[] = "GET /api/v1/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    char out[2048];
    return raw_request(c, req, sizeof req - 1, timeout_ms, out, sizeof out);
}

static int count_otad_fds(tapi_ctx *c)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/fd", (int)c->env.otad_pid);
    DIR *d = opendir(path);
    int n = 0;
    if (!d)
        return -1;
    while (readdir(d))
        n++;
    closedir(d);
    return n - 2;
}

static int idle_fds; /* otad's open files when it holds no client connection */

/* Waits up to ms for otad to hold no more than idle_fds + 20 files; returns the count. */
static int settled_fds(tapi_ctx *c, int ms)
{
    int64_t end = oth_now_ms() + ms;
    int n = count_otad_fds(c);
    while (n > idle_fds + 20 && oth_now_ms() < end) {
        oth_sleep_ms(50);
        n = count_otad_fds(c);
    }
    return n;
}

static int setup(void **st)
{
    char v[32];
    struct rlimit rl;
    /* thousands of sockets here, more in otad (which inherits this and raises its soft
     * limit too): the soft limit up to the hard one, and past it when that is too low and
     * the test may (root) */
    const rlim_t need = 2 * ATTACK + 512;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < need) {
        rl.rlim_cur = rl.rlim_max = need;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur < need) {
        fprintf(stderr, "test_http_listener: needs an open-file limit of %llu\n",
                (unsigned long long)need);
        return -1;
    }
    tapi_ctx *c = tapi_new(st);
    if (!c)
        return -1;
    snprintf(v, sizeof v, "%d", PER_ADDRESS);
    oth_env_set(&c->env, "OTA_HTTP_MAX_PER_ADDRESS", v);
    snprintf(v, sizeof v, "%d", HEAD_TIMEOUT_S);
    oth_env_set(&c->env, "OTA_HTTP_HEAD_TIMEOUT", v);
    if (tapi_start(c) != 0)
        return -1;
    idle_fds = count_otad_fds(c);
    return idle_fds > 0 ? 0 : -1;
}

/* 2,000 half-sent heads from one address: it holds at most its limit, health answers at
 * once, and the head timeout closes them all, a head trickled byte by byte too. */
static void slow_heads(void **st)
{
    static int fds[ATTACK];
    tapi_ctx *c = *st;
    int64_t attack_start = oth_now_ms();
    for (int i = 0; i < ATTACK; i++) {
        fds[i] = connect_from(c, "127.0.0.2");
        if (fds[i] >= 0 && send(fds[i], half_head, sizeof half_head - 1, MSG_NOSIGNAL) < 0) {
            close(fds[i]);
            fds[i] = -1;
        }
    }
    int64_t opened = oth_now_ms();
    int64_t t0 = oth_now_ms();
    int status = health(c, 1000);
    int64_t took = oth_now_ms() - t0;
    /* the refusals: otad closes what is past the address's limit as it takes connections
     * off the listen queue, later on a loaded machine; wait for them while the held ones
     * are still inside their head timeout */
    int closed = count_closed(fds, ATTACK);
    int64_t refused_by = attack_start + (HEAD_TIMEOUT_S - 1) * 1000;
    if (refused_by < opened + 3000) /* a slow opening: its last refusals need time too */
        refused_by = opened + 3000;
    while (closed < ATTACK - PER_ADDRESS && oth_now_ms() < refused_by) {
        oth_sleep_ms(20);
        closed = count_closed(fds, ATTACK);
    }
    fprintf(stderr, "slow heads: opened in %lld ms, health %d in %lld ms, %d of %d closed\n",
            (long long)(opened - attack_start), status, (long long)took, closed, ATTACK);
    if (opened - attack_start < (HEAD_TIMEOUT_S - 1) * 1000)
        assert_true(ATTACK - closed >= PER_ADDRESS - 50); /* the address got its share */
    assert_true(status == 200 || status == 503);       /* health answers */
    assert_true(closed >= ATTACK - PER_ADDRESS);       /* the rest were refused */

    /* the trickle: one byte every 200 ms never completes its head. It connects once the
     * attack is opened: opening 2,000 sockets takes longer than the head timeout on a
     * loaded machine, and the trickle must be timed from its own start. */
    int trickle = connect_from(c, "127.0.0.4");
    assert_true(trickle >= 0);
    int64_t trickle_start = oth_now_ms();
    static const char head[] = "GET /api/v1/health HTTP/1.1\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
                               "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n";
    size_t sent = 0;
    int64_t trickle_closed = 0;
    while (oth_now_ms() - trickle_start < (HEAD_TIMEOUT_S + 3) * 1000) {
        if (server_closed(trickle)) {
            trickle_closed = oth_now_ms() - trickle_start;
            break;
        }
        if (sent < sizeof head - 1 && send(trickle, head + sent, 1, MSG_NOSIGNAL) == 1)
            sent++;
        oth_sleep_ms(200);
    }
    fprintf(stderr, "slow heads: trickle closed after %lld ms (%zu bytes sent)\n",
            (long long)trickle_closed, sent);
    assert_true(trickle_closed > 0);
    close(trickle);
    /* every half-sent head is closed by now (the head timeout has passed for all) */
    int64_t wait_end = oth_now_ms() + 2000;
    while (count_closed(fds, ATTACK) < ATTACK && oth_now_ms() < wait_end)
        oth_sleep_ms(100);
    assert_int_equal(count_closed(fds, ATTACK), ATTACK);
    for (int i = 0; i < ATTACK; i++)
        if (fds[i] >= 0)
            close(fds[i]);
    assert_int_equal(health(c, 1000), 200);
}

/* Two one-second bursts of up to 2,000 half-sent requests, each closed at once; then health
 * answers within a second and otad holds none of those sockets. */
static void closed_bursts(void **st)
{
    static int fds[ATTACK];
    tapi_ctx *c = *st;
    /* the connections of the tests before are gone */
    int base = settled_fds(c, 3000);
    assert_true(base <= idle_fds + 20);
    for (int burst = 0; burst < 2; burst++) {
        int n = 0;
        int64_t start = oth_now_ms();
        /* spread over the second, as a sender on a real link would be */
        while (n < ATTACK && oth_now_ms() - start < 1000) {
            while (oth_now_ms() - start < (int64_t)n * 1000 / ATTACK)
                oth_sleep_ms(1);
            int fd = connect_from(c, "127.0.0.3");
            if (fd < 0)
                break;
            send(fd, half_head, sizeof half_head - 1, MSG_NOSIGNAL);
            fds[n++] = fd;
        }
        for (int i = 0; i < n; i++)
            close(fds[i]);
        fprintf(stderr, "closed bursts: burst %d opened and closed %d\n", burst, n);
    }
    int64_t t0 = oth_now_ms();
    int status = health(c, 1000);
    fprintf(stderr, "closed bursts: health %d after %lld ms\n", status, (long long)(oth_now_ms() - t0));
    assert_int_equal(status, 200);
    int fds_now = settled_fds(c, 1000);
    fprintf(stderr, "closed bursts: otad fds %d idle, %d before, %d a second after\n", idle_fds,
            base, fds_now);
    assert_true(fds_now <= idle_fds + 20);
}

/* A fast client sends all but the end of a 25 MiB upload and closes: its temp file goes at
 * once, not at the idle timeout. */
static void cut_upload(void **st)
{
    tapi_ctx *c = *st;
    const size_t total = 25u << 20;
    char head[512];
    static const char part[] = "--BB\r\nContent-Disposition: form-data; name=\"file\"; "
                               "filename=\"a.bin\"\r\nContent-Type: application/octet-stream\r\n\r\n";
    int n =
        snprintf(head, sizeof head,
                 "POST /api/v1/firmwares HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n"
                 "Content-Type: multipart/form-data; boundary=BB\r\nContent-Length: %zu\r\n\r\n",
                 c->env.admin_token, total);
    size_t body = total - 200 - (sizeof part - 1);
    char *data = malloc(body);
    assert_non_null(data);
    memset(data, 'x', body);
    int fd = connect_from(c, "127.0.0.1");
    assert_true(fd >= 0);
    struct timeval tv = {20, 0};
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    assert_int_equal(send(fd, head, (size_t)n, MSG_NOSIGNAL), n);
    assert_int_equal(send(fd, part, sizeof part - 1, MSG_NOSIGNAL), (ssize_t)(sizeof part - 1));
    size_t off = 0;
    while (off < body) {
        ssize_t w = send(fd, data + off, body - off, MSG_NOSIGNAL);
        assert_true(w > 0);
        off += (size_t)w;
    }
    free(data);
    /* the upload is under way: its temp file exists */
    int64_t end = oth_now_ms() + 5000;
    while (tapi_count_files(c, "tmp") < 1 && oth_now_ms() < end)
        oth_sleep_ms(20);
    assert_true(tapi_count_files(c, "tmp") >= 1);
    close(fd);
    int64_t t0 = oth_now_ms();
    end = t0 + 3000;
    while (tapi_count_files(c, "tmp") > 0 && oth_now_ms() < end)
        oth_sleep_ms(50);
    fprintf(stderr, "cut upload: temp files %d, %lld ms after the close\n",
            tapi_count_files(c, "tmp"), (long long)(oth_now_ms() - t0));
    assert_int_equal(tapi_count_files(c, "tmp"), 0);
}

/* A path (or a query) that decodes to a NUL byte is refused, not cut short. */
static void nul_in_path(void **st)
{
    tapi_ctx *c = *st;
    static const char *const reqs[] = {
        "GET /index.html%00.js HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        "GET /api/v1/health%00x HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        "GET /?x=a%00b HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    };
    char out[4096];
    for (size_t i = 0; i < sizeof reqs / sizeof reqs[0]; i++) {
        int status = raw_request(c, reqs[i], strlen(reqs[i]), 2000, out, sizeof out);
        assert_int_equal(status, 400);
        const char *body = strstr(out, "\r\n\r\n");
        assert_non_null(body);
        json_t *j = json_loads(body + 4, 0, NULL);
        assert_non_null(j);
        json_t *err = json_object_get(j, "error");
        assert_string_equal(json_string_value(json_object_get(err, "code")), "bad_request");
        assert_string_equal(json_string_value(json_object_get(err, "field")), "path");
        json_decref(j);
    }
}

/* Uploads one 8 MiB firmware (once) and gives the path of its file route. */
static void firmware_path(tapi_ctx *c, char *path, size_t cap)
{
    static char id[32];
    if (!id[0]) {
        oth_resp r;
        char pk[16];
        size_t len = 8u << 20;
        char *data = malloc(len);
        assert_non_null(data);
        memset(data, 'f', len);
        tapi_product(c, "listener-lamp", pk);
        const char *f[] = {"firmwareName", "lamp", "productKey", pk, "firmwareVersion", "1.0.0",
                           NULL};
        assert_int_equal(oth_upload(&c->env, "/api/v1/firmwares", f, "a.bin", data, len, &r), 0);
        free(data);
        assert_int_equal(r.status, 201);
        snprintf(id, sizeof id, "%s", json_string_value(json_object_get(r.json, "firmwareId")));
        oth_resp_free(&r);
    }
    snprintf(path, cap, "/api/v1/firmwares/%s/file", id);
}

static int has_header(const oth_resp *r, const char *line)
{
    return strcasestr(r->headers, line) != NULL;
}

/* The console is served with a strict policy; every answer (API, download) with nosniff. */
static void security_headers(void **st)
{
    tapi_ctx *c = *st;
    oth_resp r;
    assert_int_equal(oth_http(&c->env, "GET", "/", 0, NULL, NULL, 0, NULL, &r), 0);
    assert_int_equal(r.status, 200);
    assert_true(has_header(&r, "Content-Security-Policy: default-src 'self'"));
    assert_true(has_header(&r, "frame-ancestors 'none'"));
    assert_true(has_header(&r, "X-Frame-Options: DENY"));
    assert_true(has_header(&r, "X-Content-Type-Options: nosniff"));
    assert_true(has_header(&r, "Referrer-Policy: no-referrer"));
    oth_resp_free(&r);
    assert_int_equal(oth_get(&c->env, "/api/v1/health", &r), 0);
    assert_true(has_header(&r, "X-Content-Type-Options: nosniff"));
    oth_resp_free(&r);

    char path[128];
    firmware_path(c, path, sizeof path);
    assert_int_equal(oth_get(&c->env, path, &r), 0);
    assert_int_equal(r.status, 200);
    assert_true(has_header(&r, "X-Content-Type-Options: nosniff"));
    oth_resp_free(&r);
}

/* With 100 connections, downloads get 50 (docs/operations.md): 60 slow downloads hold 50,
 * the other 10 are answered 503 busy at once, and health and the API answer meanwhile. */
static void download_slots(void **st)
{
    tapi_ctx *c = *st;
    enum { N = 60, HELD = 50 };
    static int fds[N];
    char path[128], req[512], head[1024];
    firmware_path(c, path, sizeof path);
    assert_int_equal(oth_otad_stop(&c->env, SIGTERM), 0);
    oth_env_set(&c->env, "OTA_HTTP_MAX_CONNECTIONS", "100");
    assert_int_equal(oth_otad_start(&c->env), 0);
    int n =
        snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n\r\n",
                 path, c->env.admin_token);
    int ok = 0, busy = 0;
    for (int i = 0; i < N; i++) {
        int small = 4096;
        fds[i] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        assert_true(fds[i] >= 0);
        setsockopt(fds[i], SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
        struct sockaddr_in b = {0};
        b.sin_family = AF_INET;
        b.sin_port = htons((uint16_t)c->env.http_port);
        inet_pton(AF_INET, "127.0.0.1", &b.sin_addr);
        assert_int_equal(connect(fds[i], (struct sockaddr *)&b, sizeof b), 0);
        assert_int_equal(send(fds[i], req, (size_t)n, MSG_NOSIGNAL), n);
        /* the status line and the headers only; the body stays unread */
        struct pollfd p = {fds[i], POLLIN, 0};
        assert_int_equal(poll(&p, 1, 5000), 1);
        ssize_t got = recv(fds[i], head, sizeof head - 1, 0);
        assert_true(got > 12);
        head[got] = '\0';
        if (strncmp(head, "HTTP/1.1 200", 12) == 0)
            ok++;
        else if (strncmp(head, "HTTP/1.1 503", 12) == 0 && strcasestr(head, "Retry-After: 5") &&
                 strstr(head, "\"busy\""))
            busy++;
    }
    fprintf(stderr, "download slots: %d downloads held, %d answered busy\n", ok, busy);
    assert_int_equal(ok, HELD);
    assert_int_equal(busy, N - HELD);
    assert_int_equal(health(c, 1000), 200);
    oth_resp r;
    assert_int_equal(oth_get(&c->env, "/api/v1/products", &r), 0);
    assert_int_equal(r.status, 200);
    oth_resp_free(&r);
    for (int i = 0; i < N; i++)
        close(fds[i]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(slow_heads),       cmocka_unit_test(closed_bursts),
        cmocka_unit_test(cut_upload),       cmocka_unit_test(nul_in_path),
        cmocka_unit_test(security_headers), cmocka_unit_test(download_slots),
    };
    return cmocka_run_group_tests(tests, setup, tapi_teardown);
}
