/*
 * ota-bench: the small measuring tools bench/run.sh needs, in one binary so that the
 * figure and its floor are always measured by the same client:
 *   ota-bench port                      a free TCP port on 127.0.0.1
 *   ota-bench get URL [-c CLIENTS] [-r ROUNDS] [-H HEADER]
 *       CLIENTS parallel HTTP GETs of URL (libcurl multi, one thread), each client ROUNDS
 *       times; body bytes are counted and dropped. Prints JSON: bytes, seconds, MBps.
 *   ota-bench lat URL [-n REQUESTS] [-H HEADER]
 *       sequential GETs on one kept-alive connection; prints JSON: p50Ms, p99Ms, maxMs.
 *   ota-bench slow URL -c CONNECTIONS -t SECONDS [-H HEADER]
 *       CONNECTIONS slow downloads of URL (http://127.0.0.1:PORT/path) held for SECONDS:
 *       each socket has a 4 KiB receive buffer and takes 1 KiB a second after the answer's
 *       head. Writes "ready ANSWERED" to stderr once every connection has its answer's
 *       status (or failed), then holds the 200/206 ones; prints JSON: connections, connected
 *       (an answer came), ok (200/206), busy (503), other, closedEarly (downloads the server
 *       closed before the end), bytes, rampSeconds.
 *   ota-bench sink PORT DELAY_MS [LOG]
 *       a webhook receiver on 127.0.0.1:PORT: reads each request (head and Content-Length
 *       body), answers 200 after DELAY_MS, one thread per connection; on SIGTERM prints
 *       JSON: requests, bytes. Stands for a slow receiver in the webhook variant of figure 1.
 *       With LOG, appends "UNIX_MS EVENT" for each event of each request as it arrives (the
 *       abort-latency figure 1a reads when batch.paused came).
 *   ota-bench sqlite-insert DB ROWS
 *       the floor of batch creation: the server's task rows (same table, same indexes,
 *       same pragmas as server/store/store_sqlite.c) inserted in one transaction into a new
 *       database, row by row and with one INSERT ... SELECT; the faster counts.
 *   ota-bench mqtt-ceiling --broker HOST:PORT --key-file PATH -n DEVICES [--server-connections K]
 *       the broker's ceiling for the rollout's messages (ceiling.c); prints JSON.
 *   ota-bench cpu-sample OUT INTERVAL_MS [PID=ROLE ...]
 *       the CPU each process takes, sampled from /proc until SIGTERM (cpusample.c).
 * Expected load: a few GB over loopback; 1,000,000 rows.
 */
#include "ceiling.h"
#include "cpusample.h"
#include "ota_crypto.h"
#include "ota_time.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <netinet/in.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static long parse_num(const char *s, long dflt)
{
    char *end;
    long v = strtol(s, &end, 10);
    return end == s || *end ? dflt : v;
}

static int cmd_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {0};
    socklen_t len = sizeof a;
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) != 0 ||
        getsockname(fd, (struct sockaddr *)&a, &len) != 0)
        return 1;
    printf("%d\n", ntohs(a.sin_port));
    close(fd);
    return 0;
}

typedef struct {
    CURL *e;
    int rounds_left;
    size_t bytes;
} client;

static size_t sink(char *p, size_t s, size_t n, void *ud)
{
    (void)p;
    ((client *)ud)->bytes += s * n;
    return s * n;
}

static CURL *mk_easy(const char *url, struct curl_slist *h, client *c)
{
    CURL *e = curl_easy_init();
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, sink);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, c);
    curl_easy_setopt(e, CURLOPT_PRIVATE, c);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_BUFFERSIZE, 512L * 1024);
    return e;
}

static int cmd_get(int argc, char **argv)
{
    const char *url = NULL;
    int clients = 64, rounds = 1, errors = 0;
    struct curl_slist *h = NULL;
    for (int i = 0; i < argc; i++) {
        if (!strcmp(argv[i], "-c") && i + 1 < argc)
            clients = (int)parse_num(argv[++i], 64);
        else if (!strcmp(argv[i], "-r") && i + 1 < argc)
            rounds = (int)parse_num(argv[++i], 1);
        else if (!strcmp(argv[i], "-H") && i + 1 < argc)
            h = curl_slist_append(h, argv[++i]);
        else
            url = argv[i];
    }
    if (!url || clients < 1 || rounds < 1)
        return 2;
    CURLM *m = curl_multi_init();
    curl_multi_setopt(m, CURLMOPT_MAX_HOST_CONNECTIONS, (long)clients);
    client *cs = calloc((size_t)clients, sizeof *cs);
    double t0 = now_s();
    for (int i = 0; i < clients; i++) {
        cs[i].rounds_left = rounds;
        cs[i].e = mk_easy(url, h, &cs[i]);
        curl_multi_add_handle(m, cs[i].e);
    }
    int running = clients;
    while (running) {
        curl_multi_perform(m, &running);
        CURLMsg *msg;
        int left;
        while ((msg = curl_multi_info_read(m, &left))) {
            if (msg->msg != CURLMSG_DONE)
                continue;
            client *c = NULL;
            long status = 0;
            curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&c);
            curl_easy_getinfo(msg->easy_handle, CURLINFO_RESPONSE_CODE, &status);
            if (msg->data.result != CURLE_OK || status != 200) {
                errors++;
                fprintf(stderr, "ota-bench get: %s HTTP %ld\n", curl_easy_strerror(msg->data.result), status);
            }
            curl_multi_remove_handle(m, c->e);
            if (--c->rounds_left > 0) {
                curl_multi_add_handle(m, c->e);
                running++;
            }
        }
        if (running)
            curl_multi_poll(m, NULL, 0, 100, NULL);
    }
    double el = now_s() - t0;
    size_t bytes = 0;
    for (int i = 0; i < clients; i++) {
        bytes += cs[i].bytes;
        curl_easy_cleanup(cs[i].e);
    }
    printf("{\"bytes\":%zu,\"seconds\":%.3f,\"MBps\":%.1f,\"errors\":%d}\n", bytes, el,
           (double)bytes / 1e6 / el, errors);
    free(cs);
    curl_multi_cleanup(m);
    curl_slist_free_all(h);
    return errors ? 1 : 0;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static int cmd_lat(int argc, char **argv)
{
    const char *url = NULL;
    int n = 1000, errors = 0;
    struct curl_slist *h = NULL;
    client c = {0};
    for (int i = 0; i < argc; i++) {
        if (!strcmp(argv[i], "-n") && i + 1 < argc)
            n = (int)parse_num(argv[++i], 1000);
        else if (!strcmp(argv[i], "-H") && i + 1 < argc)
            h = curl_slist_append(h, argv[++i]);
        else
            url = argv[i];
    }
    if (!url || n < 1)
        return 2;
    double *v = calloc((size_t)n, sizeof *v);
    CURL *e = mk_easy(url, h, &c);
    for (int i = 0; i < n; i++) {
        long status = 0;
        double t0 = now_s();
        CURLcode rc = curl_easy_perform(e);
        v[i] = (now_s() - t0) * 1000.0;
        curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
        if (rc != CURLE_OK || status != 200) {
            if (!errors)
                fprintf(stderr, "ota-bench lat: %s HTTP %ld\n", curl_easy_strerror(rc), status);
            errors++;
        }
    }
    qsort(v, (size_t)n, sizeof *v, cmp_d);
    printf("{\"requests\":%d,\"p50Ms\":%.3f,\"p99Ms\":%.3f,\"maxMs\":%.3f,\"errors\":%d}\n", n,
           v[n / 2], v[(n * 99) / 100 < n ? (n * 99) / 100 : n - 1], v[n - 1], errors);
    free(v);
    curl_easy_cleanup(e);
    curl_slist_free_all(h);
    return errors ? 1 : 0;
}

/* One slow download: its socket and how far it got. */
typedef struct {
    int fd;
    int state; /* 0 connecting, 1 request sent, 2 head read (held), 3 closed or failed */
    int status;
} slow_conn;

static int slow_open(const struct sockaddr_in *to)
{
    int small = 4096;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
    if (connect(fd, (const struct sockaddr *)to, sizeof *to) != 0 && errno != EINPROGRESS) {
        close(fd);
        return -1;
    }
    return fd;
}

/* Moves c on when its socket is ready: sends the request, then reads the status line. */
static void slow_step(slow_conn *c, const char *req, size_t req_len, short revents)
{
    char buf[1024];
    if (c->state == 0 && (revents & (POLLOUT | POLLERR | POLLHUP))) {
        if (send(c->fd, req, req_len, MSG_NOSIGNAL) == (ssize_t)req_len)
            c->state = 1;
        else
            c->state = 3;
    } else if (c->state == 1 && (revents & (POLLIN | POLLERR | POLLHUP))) {
        ssize_t n = recv(c->fd, buf, sizeof buf - 1, 0);
        if (n > 12) {
            buf[n] = '\0';
            sscanf(buf, "HTTP/1.%*d %d", &c->status);
            /* a download is held; a refusal (503 busy) is done */
            c->state = c->status == 200 || c->status == 206 ? 2 : 3;
        } else {
            c->state = 3;
        }
    }
}

static int cmd_slow(int argc, char **argv)
{
    const char *url = NULL;
    int n = 1000, secs = 10;
    char hdrs[2048] = "", host[64], path[1024], req[4096];
    int port = 0;
    for (int i = 0; i < argc; i++) {
        if (!strcmp(argv[i], "-c") && i + 1 < argc)
            n = (int)parse_num(argv[++i], 1000);
        else if (!strcmp(argv[i], "-t") && i + 1 < argc)
            secs = (int)parse_num(argv[++i], 10);
        else if (!strcmp(argv[i], "-H") && i + 1 < argc) {
            size_t l = strlen(hdrs);
            snprintf(hdrs + l, sizeof hdrs - l, "%s\r\n", argv[++i]);
        } else
            url = argv[i];
    }
    if (!url || n < 1 || sscanf(url, "http://%63[^:/]:%d%1023s", host, &port, path) != 3)
        return 2;
    int req_len = snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: %s:%d\r\n%s\r\n", path,
                           host, port, hdrs);
    struct sockaddr_in to = {0};
    to.sin_family = AF_INET;
    to.sin_port = htons((uint16_t)port);
    if (inet_pton(AF_INET, host, &to.sin_addr) != 1)
        return 2;
    slow_conn *cs = calloc((size_t)n, sizeof *cs);
    struct pollfd *pf = calloc((size_t)n, sizeof *pf);
    if (!cs || !pf)
        return 1;
    /* ramp: at most 256 connections waiting for their answer's head at a time */
    double t0 = now_s();
    int opened = 0, pending = 0;
    while (opened < n || pending > 0) {
        while (opened < n && pending < 256) {
            cs[opened].fd = slow_open(&to);
            cs[opened].state = cs[opened].fd < 0 ? 3 : 0;
            opened++;
            pending++;
        }
        int np = 0;
        for (int i = 0; i < opened; i++)
            if (cs[i].state < 2) {
                pf[np].fd = cs[i].fd;
                pf[np].events = cs[i].state == 0 ? POLLOUT : POLLIN;
                np++;
            }
        if (np && poll(pf, (nfds_t)np, 1000) < 0 && errno != EINTR)
            break;
        int k = 0;
        pending = 0;
        for (int i = 0; i < opened; i++)
            if (cs[i].state < 2) {
                slow_step(&cs[i], req, (size_t)req_len, pf[k++].revents);
                pending += cs[i].state < 2;
            }
        if (now_s() - t0 > 120)
            break; /* a stuck ramp: report what there is */
    }
    double ramp = now_s() - t0;
    int connected = 0;
    for (int i = 0; i < n; i++)
        connected += cs[i].status != 0;
    fprintf(stderr, "ready %d\n", connected);
    /* hold: 1 KiB per connection per second */
    unsigned long long bytes = 0;
    int closed_early = 0;
    char buf[1024];
    for (double end = now_s() + secs; now_s() < end;) {
        double tick = now_s();
        for (int i = 0; i < n; i++) {
            if (cs[i].state != 2)
                continue;
            ssize_t got = recv(cs[i].fd, buf, sizeof buf, MSG_DONTWAIT);
            if (got > 0)
                bytes += (unsigned long long)got;
            else if (got == 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) {
                cs[i].state = 3;
                closed_early++;
            }
        }
        double left = 1.0 - (now_s() - tick);
        if (left > 0) {
            struct timespec ts = {0, (long)(left * 1e9)};
            nanosleep(&ts, NULL);
        }
    }
    int ok = 0, busy = 0, other = 0;
    for (int i = 0; i < n; i++) {
        if (cs[i].status == 200 || cs[i].status == 206)
            ok++;
        else if (cs[i].status == 503)
            busy++;
        else
            other++;
        if (cs[i].fd >= 0)
            close(cs[i].fd);
    }
    printf("{\"connections\":%d,\"connected\":%d,\"ok\":%d,\"busy\":%d,\"other\":%d,"
           "\"closedEarly\":%d,\"bytes\":%llu,\"rampSeconds\":%.2f}\n",
           n, connected, ok, busy, other, closed_early, bytes, ramp);
    free(cs);
    free(pf);
    return 0;
}

static int exec_sql(sqlite3 *db, const char *sql)
{
    char *err = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK) {
        fprintf(stderr, "ota-bench sqlite: %s\n", err ? err : "?");
        sqlite3_free(err);
        return -1;
    }
    return 0;
}

/* One fresh database at path with the server's task table; then the rows, in one
 * transaction, either row by row through a prepared statement (by_select 0) or with one
 * INSERT ... SELECT over a counting CTE (1). Returns the milliseconds, or -1. */
static double sqlite_fill(const char *path, long rows, int by_select)
{
    sqlite3 *db;
    sqlite3_stmt *st;
    char sql[512];
    unlink(path);
    if (sqlite3_open(path, &db) != SQLITE_OK)
        return -1;
    /* the server's pragmas and task table (server/store/store_sqlite.c, migrations 1 and 2) */
    if (exec_sql(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA temp_store=MEMORY;"
                     "CREATE TABLE tasks(batch_id INTEGER NOT NULL, device_id INTEGER NOT NULL,"
                     " state TEXT NOT NULL, fail_reason TEXT, progress INTEGER NOT NULL DEFAULT 0,"
                     " retried INTEGER NOT NULL DEFAULT 0, attempt INTEGER NOT NULL DEFAULT 0,"
                     " push_msg_id TEXT, due_ms INTEGER, due_kind TEXT, finish_ms INTEGER,"
                     " current_version TEXT, updated_ms INTEGER NOT NULL, pushed_ms INTEGER,"
                     " started_ms INTEGER, PRIMARY KEY(batch_id, device_id)) WITHOUT ROWID;"
                     "CREATE INDEX tasks_due ON tasks(due_ms) WHERE due_ms IS NOT NULL;"
                     "CREATE UNIQUE INDEX tasks_one_open ON tasks(device_id)"
                     " WHERE state NOT IN ('succeeded','failed');"
                     "CREATE INDEX tasks_batch_state ON tasks(batch_id, state);") != 0) {
        sqlite3_close(db);
        return -1;
    }
    double t0 = now_s();
    exec_sql(db, "BEGIN");
    if (by_select) {
        snprintf(sql, sizeof sql,
                 "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < %ld)"
                 " INSERT INTO tasks(batch_id, device_id, state, updated_ms)"
                 " SELECT 1, x, 'to_push', 1764280000000 FROM c",
                 rows);
        if (exec_sql(db, sql) != 0) {
            sqlite3_close(db);
            return -1;
        }
    } else {
        sqlite3_prepare_v2(db,
                           "INSERT INTO tasks(batch_id, device_id, state, updated_ms)"
                           " VALUES(1, ?, 'to_push', 1764280000000)",
                           -1, &st, NULL);
        for (long i = 1; i <= rows; i++) {
            sqlite3_bind_int64(st, 1, i);
            if (sqlite3_step(st) != SQLITE_DONE) {
                fprintf(stderr, "ota-bench sqlite: %s\n", sqlite3_errmsg(db));
                sqlite3_finalize(st);
                sqlite3_close(db);
                return -1;
            }
            sqlite3_reset(st);
        }
        sqlite3_finalize(st);
    }
    if (exec_sql(db, "COMMIT") != 0) {
        sqlite3_close(db);
        return -1;
    }
    double ms = (now_s() - t0) * 1000.0;
    sqlite3_close(db);
    return ms;
}

static int cmd_sqlite(int argc, char **argv)
{
    char path[1024], wal[1100], shm[1100];
    if (argc < 2)
        return 2;
    long rows = parse_num(argv[1], -1);
    if (rows < 1)
        return 2;
    snprintf(path, sizeof path, "%s", argv[0]);
    snprintf(wal, sizeof wal, "%s-wal", path);
    snprintf(shm, sizeof shm, "%s-shm", path);
    double loop = sqlite_fill(path, rows, 0);
    double sel = sqlite_fill(path, rows, 1);
    unlink(path);
    unlink(wal);
    unlink(shm);
    if (loop < 0 || sel < 0)
        return 1;
    /* the floor is the faster of the two ways */
    printf("{\"rows\":%ld,\"ms\":%.1f,\"loopMs\":%.1f,\"selectMs\":%.1f}\n", rows,
           loop < sel ? loop : sel, loop, sel);
    return 0;
}

/* ---- sink: a slow webhook receiver ---------------------------------------------------------- */

static atomic_ullong sink_requests, sink_bytes;
static long sink_delay_ms;
static int sink_log_fd = -1;

/* LOG: the arrival time and the name of each event in body[0..n) ("event":"NAME") */
static void sink_log(const char *body, size_t n)
{
    static const char key[] = "\"event\":\"";
    long long now = (long long)ota_time_now_ms();
    const char *p = body, *end = body + n;
    while ((p = memmem(p, (size_t)(end - p), key, sizeof key - 1)) != NULL) {
        p += sizeof key - 1;
        const char *q = memchr(p, '"', (size_t)(end - p));
        if (!q)
            break;
        char line[128];
        int k = snprintf(line, sizeof line, "%lld %.*s\n", now, (int)(q - p > 64 ? 64 : q - p), p);
        if (write(sink_log_fd, line, (size_t)k) != k)
            perror("sink log");
        p = q;
    }
}
static volatile sig_atomic_t sink_stop;

static void on_term(int sig)
{
    (void)sig;
    sink_stop = 1;
}

/* One connection: requests one after the other (keep-alive), each answered after the delay. */
static void *sink_conn(void *arg)
{
    int fd = (int)(intptr_t)arg;
    static const size_t cap = 4 << 20;
    char *buf = malloc(cap + 1);
    size_t len = 0;
    while (buf) {
        char *end;
        ssize_t k;
        buf[len] = '\0';
        while (!(end = strstr(buf, "\r\n\r\n")) && len < cap &&
               (k = read(fd, buf + len, cap - len)) > 0) {
            len += (size_t)k;
            buf[len] = '\0';
        }
        if (!end)
            break;
        const char *cl = strcasestr(buf, "\r\nContent-Length:");
        size_t body = cl ? (size_t)strtoul(cl + 17, NULL, 10) : 0, head = (size_t)(end + 4 - buf);
        while (len < head + body && len < cap && (k = read(fd, buf + len, cap - len)) > 0)
            len += (size_t)k;
        if (len < head + body)
            break;
        atomic_fetch_add(&sink_requests, 1);
        atomic_fetch_add(&sink_bytes, body);
        if (sink_log_fd >= 0)
            sink_log(buf + head, body);
        struct timespec ts = {sink_delay_ms / 1000, (sink_delay_ms % 1000) * 1000000L};
        nanosleep(&ts, NULL);
        static const char ok[] = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
        if (write(fd, ok, sizeof ok - 1) != (ssize_t)(sizeof ok - 1))
            break;
        memmove(buf, buf + head + body, len - head - body);
        len -= head + body;
    }
    free(buf);
    close(fd);
    return NULL;
}

static int cmd_sink(int argc, char **argv)
{
    struct sockaddr_in a = {0};
    int one = 1, lfd = socket(AF_INET, SOCK_STREAM, 0);
    if (argc < 2 || lfd < 0)
        return 2;
    sink_delay_ms = parse_num(argv[1], 0);
    if (argc >= 3 && (sink_log_fd = open(argv[2], O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644)) < 0) {
        perror(argv[2]);
        return 1;
    }
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)parse_num(argv[0], 0));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(lfd, (struct sockaddr *)&a, sizeof a) != 0 || listen(lfd, 256) != 0) {
        perror("sink");
        return 1;
    }
    struct sigaction sa = {0};
    sa.sa_handler = on_term;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    while (!sink_stop) {
        struct pollfd p = {lfd, POLLIN, 0};
        if (poll(&p, 1, 200) <= 0)
            continue;
        int fd = accept(lfd, NULL, NULL);
        pthread_t th;
        if (fd >= 0 && pthread_create(&th, NULL, sink_conn, (void *)(intptr_t)fd) == 0)
            pthread_detach(th);
        else if (fd >= 0)
            close(fd);
    }
    printf("{\"requests\":%llu,\"bytes\":%llu}\n", (unsigned long long)atomic_load(&sink_requests),
           (unsigned long long)atomic_load(&sink_bytes));
    fflush(stdout);
    return 0;
}

/* ddi-tokens KEY_FILE PK PREFIX N: "identifier deviceSecret" of devices PREFIX%06u, 0..N-1,
 * one a line, for the DDI poll figure's wrk script (bench/ddi.lua). */
static int cmd_ddi_tokens(int argc, char **argv)
{
    unsigned char key[32];
    char id[80], secret[40];
    if (argc < 4 || ota_key_load(argv[0], 0, key) != 0) {
        fprintf(stderr, "ota-bench ddi-tokens KEY_FILE PK PREFIX N\n");
        return 2;
    }
    long n = strtol(argv[3], NULL, 10);
    for (long i = 0; i < n; i++) {
        snprintf(id, sizeof id, "%s%06ld", argv[2], i);
        if (ota_secret_device(key, argv[1], id, secret, sizeof secret) != 0)
            return 1;
        printf("%s %s\n", id, secret);
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: ota-bench port | get URL [-c N] [-r N] [-H H] | lat URL [-n N] [-H H] |"
                        " slow URL [-c N] [-t S] [-H H] |"
                        " sink PORT DELAY_MS [LOG] | sqlite-insert DB ROWS |"
                        " mqtt-ceiling --broker HOST:PORT --key-file PATH -n N |"
                        " ddi-tokens KEY_FILE PK PREFIX N |"
                        " cpu-sample OUT INTERVAL_MS [PID=ROLE ...]\n");
        return 2;
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    int rc = 2;
    if (!strcmp(argv[1], "port"))
        rc = cmd_port();
    else if (!strcmp(argv[1], "get"))
        rc = cmd_get(argc - 2, argv + 2);
    else if (!strcmp(argv[1], "lat"))
        rc = cmd_lat(argc - 2, argv + 2);
    else if (!strcmp(argv[1], "slow"))
        rc = cmd_slow(argc - 2, argv + 2);
    else if (!strcmp(argv[1], "sink"))
        rc = cmd_sink(argc - 2, argv + 2);
    else if (!strcmp(argv[1], "sqlite-insert"))
        rc = cmd_sqlite(argc - 2, argv + 2);
    else if (!strcmp(argv[1], "mqtt-ceiling"))
        rc = ceiling_main(argc - 2, argv + 2);
    else if (!strcmp(argv[1], "ddi-tokens"))
        rc = cmd_ddi_tokens(argc - 2, argv + 2);
    else if (!strcmp(argv[1], "cpu-sample"))
        rc = cpusample_main(argc - 2, argv + 2);
    curl_global_cleanup();
    return rc;
}
