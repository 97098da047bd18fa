/*
 * otad behind HAProxy (docs/operations.md, "Behind a load balancer: HAProxy"): two otad
 * (OTA_INSTANCE a and b) on one PostgreSQL database, firmware bytes in it (OTA_BLOB), one
 * broker, and HAProxy in front of their HTTP listeners with the configuration the page
 * gives: health checks on /api/v1/health every HAP_INTER_MS, a server down after HAP_FALL
 * failed checks, failed connects redispatched to the other server. Through HAProxy only,
 * clients keep calling the API and downloading the firmware from a device's signed link in
 * Range requests (a transfer that breaks resumes from the byte it reached), and a hawkBit
 * DDI device keeps polling /{productKey}/controller/v1/{identifier}, while a paced
 * batch runs; otad a is killed with SIGKILL in the middle of it and of a download pinned to
 * it. Checked:
 *  - HAProxy marks a down, within the checks' time;
 *  - no client goes without service for longer than that time (plus a margin for a
 *    loaded machine): the longest gap between two API answers, or between two arrivals of
 *    firmware bytes, is short;
 *  - the download broken by the kill resumed on b, and every download ends with the
 *    firmware's exact bytes;
 *  - the batch completes on b with every device succeeded, no attempt pushed twice.
 * Instances share their store only on PostgreSQL: on SQLite (no OTA_TEST_PG_URL) the test
 * is skipped with a message; scripts/pg-test.sh (make test-pg) runs it.
 */
#include "test_batch_fixture.h"

#include <curl/curl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define N_DEV 16
#define FW_LEN (24u << 20) /* more than the kernel buffers between otad and a slow client hold */
#define DL_SPEED (12 << 20)    /* bytes/s: a download takes about two seconds */
#define HAP_INTER_MS 300       /* health check interval */
#define HAP_FALL 2             /* failed checks before a server is down */
#define OUTAGE_MARGIN_MS 3000  /* a loaded machine (ASan, other tests) answers late */
#define HAPROXY "/usr/sbin/haproxy"

/* One client's record. Its progress is an API answer, or firmware bytes arriving; the
 * longest gap between two progress events is how long it went without service (a failed
 * request is no progress). */
typedef struct {
    const char *name;
    int64_t last_progress; /* monotonic ms */
    int64_t longest_ms;
    int n_ok, n_fail;
    char last_error[160];
} hp_stats;

typedef struct {
    bt_ctx *t;
    char url[1024];   /* what the client fetches */
    const char *cookie; /* "Cookie: OTASRV=a": pinned to a server (until it is down) */
    char auth[128];     /* an Authorization header instead of the admin token (DDI) */
    hp_stats st;
    pthread_t th;
    int started;
    /* downloads only */
    const unsigned char *want; /* the firmware's bytes */
    atomic_int done;          /* whole files checked */
    int resumed;              /* requests that continued a broken transfer mid-file */
    int bad_bytes;            /* a byte that differed from the firmware */
    atomic_int mid_transfer;  /* the current request has received bytes and not ended */
    atomic_size_t at;         /* the byte the current download has reached */
    unsigned char *buf;
    size_t have;
} hp_client;

static atomic_int stop_clients;
static pid_t otad_b, haproxy_pid;
static hp_client api_a, api_any, dl_a, ddi_a; /* joined by teardown_all even after a failure */

static void progress(hp_stats *s)
{
    int64_t now = oth_now_ms();
    if (now - s->last_progress > s->longest_ms)
        s->longest_ms = now - s->last_progress;
    s->last_progress = now;
}

static void note(hp_stats *s, int ok, const char *err)
{
    if (ok) {
        s->n_ok++;
        return;
    }
    s->n_fail++;
    snprintf(s->last_error, sizeof s->last_error, "%s", err);
}

static void *api_client(void *arg)
{
    hp_client *c = arg;
    const char *hdrs[3] = {NULL, NULL, NULL};
    int nh = 0;
    if (c->cookie)
        hdrs[nh++] = c->cookie;
    if (c->auth[0])
        hdrs[nh++] = c->auth;
    while (!atomic_load(&stop_clients)) {
        oth_resp r;
        char err[160];
        int rc = oth_http_url("GET", c->url, c->auth[0] ? NULL : c->t->env.admin_token, NULL, NULL,
                              0, nh ? hdrs : NULL, &r);
        snprintf(err, sizeof err, "GET %.100s: %s %ld", c->url, rc ? "no answer" : "status", r.status);
        note(&c->st, rc == 0 && r.status == 200, err);
        if (rc == 0 && r.status == 200)
            progress(&c->st);
        oth_resp_free(&r);
        oth_sleep_ms(20);
    }
    return NULL;
}

static size_t dl_write(char *p, size_t size, size_t n, void *ud)
{
    hp_client *c = ud;
    size_t len = size * n;
    if (c->have + len > FW_LEN)
        return 0; /* more than asked for: an error */
    memcpy(c->buf + c->have, p, len);
    c->have += len;
    progress(&c->st);
    atomic_store(&c->at, c->have);
    atomic_store(&c->mid_transfer, 1);
    return len;
}

/* Downloads the file again and again, each time in Range requests from the byte it has:
 * a request that breaks (the server died under it) is followed by one from where it
 * stopped. Ends at stop_clients, or when the link stops working because the batch ended
 * (410), which is the link's rule, not a failure. */
static void *download_client(void *arg)
{
    hp_client *c = arg;
    c->buf = malloc(FW_LEN);
    if (!c->buf)
        return NULL;
    while (!atomic_load(&stop_clients)) {
        char range[64], err[160];
        long status = 0;
        size_t from = c->have;
        struct curl_slist *h = c->cookie ? curl_slist_append(NULL, c->cookie) : NULL;
        CURL *e = curl_easy_init();
        snprintf(range, sizeof range, "%zu-%u", from, FW_LEN - 1);
        curl_easy_setopt(e, CURLOPT_URL, c->url);
        curl_easy_setopt(e, CURLOPT_RANGE, range);
        curl_easy_setopt(e, CURLOPT_HTTPHEADER, h);
        curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, dl_write);
        curl_easy_setopt(e, CURLOPT_WRITEDATA, c);
        curl_easy_setopt(e, CURLOPT_MAX_RECV_SPEED_LARGE, (curl_off_t)DL_SPEED);
        curl_easy_setopt(e, CURLOPT_TIMEOUT, 60L);
        CURLcode rc = curl_easy_perform(e);
        curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
        atomic_store(&c->mid_transfer, 0);
        curl_easy_cleanup(e);
        curl_slist_free_all(h);
        if (rc == CURLE_OK && status == 410)
            break;
        if (from > 0 && from < FW_LEN && c->have > from)
            c->resumed++;
        int ok = rc == CURLE_OK && status == 206 && c->have == FW_LEN;
        snprintf(err, sizeof err, "GET bytes %s: %s, status %ld", range, curl_easy_strerror(rc), status);
        /* bytes received before a break count: the next request continues after them */
        if (status != 206 && status != 0)
            c->have = from; /* an error page is not firmware */
        note(&c->st, ok, err);
        if (c->have == FW_LEN) {
            if (memcmp(c->buf, c->want, FW_LEN) != 0)
                c->bad_bytes++;
            atomic_fetch_add(&c->done, 1);
            c->have = 0;
        } else if (!ok) {
            oth_sleep_ms(20);
        }
    }
    return NULL;
}

static void client_start(hp_client *c, bt_ctx *t, const char *name, const char *url,
                         const char *cookie, void *(*fn)(void *))
{
    c->t = t;
    c->st.name = name;
    c->cookie = cookie;
    c->st.last_progress = oth_now_ms();
    snprintf(c->url, sizeof c->url, "%s", url);
    assert_int_equal(pthread_create(&c->th, NULL, fn, c), 0);
    c->started = 1;
}

static void client_join(hp_client *c)
{
    if (c->started)
        pthread_join(c->th, NULL);
    c->started = 0;
}

/* The configuration docs/operations.md shows, on this test's ports, plus a stats page the
 * test reads the servers' states from. */
static void write_config(const char *path, int port, int stats_port, int port_a, int port_b)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fprintf(f,
            "global\n"
            "    maxconn 4096\n"
            "defaults\n"
            "    mode http\n"
            "    option httplog\n"
            "    timeout connect 2s\n"
            "    timeout client 60s\n"
            "    timeout server 60s\n"
            "    timeout http-request 10s\n"
            "    timeout http-keep-alive 10s\n"
            "    retries 3\n"
            "    option redispatch 1\n"
            "frontend ota_http\n"
            "    bind 127.0.0.1:%d\n"
            "    default_backend otad\n"
            "backend otad\n"
            "    balance roundrobin\n"
            "    option httpchk GET /api/v1/health\n"
            "    http-check expect status 200\n"
            "    cookie OTASRV indirect nocache\n"
            "    default-server check inter %dms fastinter %dms downinter 1s fall %d rise 2\n"
            "    server a 127.0.0.1:%d cookie a\n"
            "    server b 127.0.0.1:%d cookie b\n"
            "listen stats\n"
            "    bind 127.0.0.1:%d\n"
            "    stats enable\n"
            "    stats uri /stats\n",
            port, HAP_INTER_MS, HAP_INTER_MS, HAP_FALL, port_a, port_b, stats_port);
    fclose(f);
}

/* The n-th comma-separated field of line (ends at ',', '\n' or NUL) into out. 0, or -1. */
static int csv_field(const char *line, int n, char *out, size_t cap)
{
    for (; n > 0; n--) {
        line = strpbrk(line, ",\n");
        if (!line || *line != ',')
            return -1;
        line++;
    }
    size_t len = strcspn(line, ",\n");
    if (len >= cap)
        return -1;
    memcpy(out, line, len);
    out[len] = 0;
    return 0;
}

/* Server sv's field (e.g. "status", "stot") of backend otad on HAProxy's CSV stats page
 * into out. 0, or -1. */
static int hap_stat(int stats_port, const char *sv, const char *field, char *out, size_t cap)
{
    char url[128], name[64];
    oth_resp r;
    int col = -1, rc = -1;
    snprintf(url, sizeof url, "http://127.0.0.1:%d/stats;csv", stats_port);
    if (oth_http_url("GET", url, NULL, NULL, NULL, 0, NULL, &r) != 0 || r.status != 200 || !r.body ||
        strncmp(r.body, "# ", 2) != 0) {
        oth_resp_free(&r);
        return -1;
    }
    /* the header line "# pxname,svname,qcur,...": the field's column */
    for (int i = 0; col < 0 && csv_field(r.body + 2, i, name, sizeof name) == 0; i++)
        if (strcmp(name, field) == 0)
            col = i;
    for (const char *line = strchr(r.body, '\n'); col >= 0 && line; line = strchr(line, '\n')) {
        line++;
        if (strncmp(line, "otad,", 5) == 0 && csv_field(line, 1, name, sizeof name) == 0 &&
            strcmp(name, sv) == 0) {
            rc = csv_field(line, col, out, cap);
            break;
        }
    }
    oth_resp_free(&r);
    return rc;
}

/* Waits until HAProxy reports server sv's status starting with want ("UP", "DOWN"). */
static int hap_wait_status(int stats_port, const char *sv, const char *want, int timeout_ms)
{
    char st[32] = "";
    for (int64_t end = oth_now_ms() + timeout_ms; oth_now_ms() < end; oth_sleep_ms(20))
        if (hap_stat(stats_port, sv, "status", st, sizeof st) == 0 && strncmp(st, want, strlen(want)) == 0)
            return 0;
    fprintf(stderr, "haproxy: server %s is '%s', waited for %s\n", sv, st, want);
    return -1;
}

static void client_join(hp_client *c);

static int teardown_all(void **state)
{
    atomic_store(&stop_clients, 1);
    client_join(&api_a);
    client_join(&api_any);
    client_join(&dl_a);
    client_join(&ddi_a);
    free(dl_a.buf);
    dl_a.buf = NULL;
    if (otad_b > 0)
        oth_stop_pid(otad_b, SIGTERM, 10000);
    if (haproxy_pid > 0)
        oth_stop_pid(haproxy_pid, SIGTERM, 5000);
    otad_b = haproxy_pid = 0;
    return bt_teardown(state);
}

static void report(const hp_client *c)
{
    printf("client %s: %d ok, %d failed, longest time without progress %lld ms%s%s\n", c->st.name, c->st.n_ok,
           c->st.n_fail, (long long)c->st.longest_ms, c->st.n_fail ? "; last error: " : "",
           c->st.n_fail ? c->st.last_error : "");
}

static void test_failover_behind_haproxy(void **state)
{
    if (!getenv("OTA_TEST_PG_URL") || !*getenv("OTA_TEST_PG_URL")) {
        printf("test_haproxy: skipped: two otad share a store on PostgreSQL only; set "
               "OTA_TEST_PG_URL (scripts/pg-test.sh, make test-pg, runs this test)\n");
        skip();
    }
    if (access(HAPROXY, X_OK) != 0)
        fail_msg("%s is missing: install the Debian package haproxy (scripts/deps.txt, test group)", HAPROXY);

    char fw[32], b[32], body[512], cfg[320], log[320], url[256], hap_url[64], url_b[128];
    bt_ctx *t = bt_alloc(state);
    int hport = oth_free_port(), sport = oth_free_port();
    snprintf(hap_url, sizeof hap_url, "http://127.0.0.1:%d", hport);
    /* scale 60: retryIntervalMinutes 1 = 1 s, the ack timeout 10 s = 167 ms */
    oth_env_set(&t->env, "OTA_TIME_SCALE", "60");
    oth_env_set(&t->env, "OTA_INSTANCE", "a");
    oth_env_set(&t->env, "OTA_BLOB", "postgresql");
    oth_env_set(&t->env, "OTA_PUBLIC_URL", hap_url); /* devices download through HAProxy */
    if (oth_broker_start(&t->env) != 0 || oth_otad_start(&t->env) != 0)
        fail_msg("broker or otad a did not start");
    t->up = 1;
    otad_b = oth_otad_start_instance(&t->env, "b", url_b, sizeof url_b);
    if (otad_b <= 0)
        fail_msg("otad b did not become healthy (log %s/otad-b.log)", t->env.dir);

    snprintf(cfg, sizeof cfg, "%s/haproxy.cfg", t->env.dir);
    snprintf(log, sizeof log, "%s/haproxy.log", t->env.dir);
    write_config(cfg, hport, sport, t->env.http_port, (int)strtol(strrchr(url_b, ':') + 1, NULL, 10));
    char *argv[] = {HAPROXY, "-db", "-f", cfg, NULL};
    haproxy_pid = oth_spawn(argv, NULL, 0, log);
    if (haproxy_pid <= 0 || oth_wait_tcp(hport, 10000) != 0 ||
        hap_wait_status(sport, "a", "UP", 10000) != 0 || hap_wait_status(sport, "b", "UP", 10000) != 0) {
        oth_dump_file(log, 3000);
        fail_msg("HAProxy did not start with both servers up");
    }
    /* from here on, everything goes through HAProxy */
    t->env.http_port = hport;
    snprintf(t->env.base_url, sizeof t->env.base_url, "%s", hap_url);

    bt_product(t, "haproxy");
    sdev *d[N_DEV];
    for (int i = 0; i < N_DEV; i++) {
        char id[16];
        snprintf(id, sizeof id, "h%d", i);
        bt_device(t, id);
        d[i] = bt_dev_start(t, id, "1.0.0", SDEV_AUTO_UPGRADE, 0);
        sdev_set_auto_delay(d[i], 40);
    }
    unsigned char *bytes = bt_fw_bytes(FW_LEN, 7);
    bt_firmware_data(t, "haproxy-fw", "2.0.0", bytes, FW_LEN, fw, sizeof fw);
    /* paced: 2 pushes a second, so the batch is far from done when a dies; retries cover
     * an ack that went to the dying instance */
    snprintf(body, sizeof body,
             "{\"scope\":\"all\",\"validityDays\":1,\"policy\":\"standard\",\"timeoutMinutes\":1,"
             "\"retryTimes\":3,\"retryIntervalMinutes\":1,\"maxPushPerMinute\":120}");
    bt_batch(t, fw, body, b, sizeof b);

    /* the clients: the batch (pinned to a), the products list (either server), and the
     * firmware from a device's signed link (pinned to a) */
    sdev_msg push;
    bt_wait_push(t, d[0], 1, 20000);
    assert_int_equal(sdev_msg_get(d[0], SDEV_PUSH, 0, &push), 0);
    assert_int_equal(strncmp(push.url, hap_url, strlen(hap_url)), 0); /* OTA_PUBLIC_URL */
    snprintf(url, sizeof url, "%s/api/v1/batches/%s", hap_url, b);
    client_start(&api_a, t, "api (pinned to a)", url, "Cookie: OTASRV=a", api_client);
    snprintf(url, sizeof url, "%s/api/v1/products", hap_url);
    client_start(&api_any, t, "api (either)", url, NULL, api_client);
    dl_a.want = bytes;
    client_start(&dl_a, t, "download (pinned to a)", push.url, "Cookie: OTASRV=a", download_client);
    /* a hawkBit DDI device polling (registered after the batch, so not in it) */
    char ddi_secret[40];
    bt_device(t, "ddi0");
    assert_int_equal(oth_device_secret(&t->env, t->pk, "ddi0", ddi_secret), 0);
    snprintf(ddi_a.auth, sizeof ddi_a.auth, "Authorization: TargetToken %s", ddi_secret);
    snprintf(url, sizeof url, "%s/%s/controller/v1/ddi0", hap_url, t->pk);
    client_start(&ddi_a, t, "DDI poll (pinned to a)", url, "Cookie: OTASRV=a", api_client);

    /* a dies once two devices succeeded and in the middle of a pinned download */
    int64_t end = oth_now_ms() + 30000;
    for (;;) {
        json_t *bj = bt_batch_get(t, b);
        int ok = bj && bt_int(bj, "succeeded") >= 2 && atomic_load(&dl_a.done) >= 1;
        json_decref(bj);
        /* early in a transfer, so that the kill breaks it */
        if (ok && atomic_load(&dl_a.mid_transfer) && atomic_load(&dl_a.at) < FW_LEN / 4)
            break;
        if (oth_now_ms() > end)
            fail_msg("no progress before the kill (downloads done: %d)", atomic_load(&dl_a.done));
        oth_sleep_ms(10);
    }
    int64_t t_kill = oth_now_ms();
    assert_int_equal(oth_otad_stop(&t->env, SIGKILL), 0);
    int down = hap_wait_status(sport, "a", "DOWN", HAP_INTER_MS * HAP_FALL + OUTAGE_MARGIN_MS);
    int64_t t_down = oth_now_ms();

    json_t *bj = bt_wait_batch(t, b, "completed", 60000);
    /* the clients run on for a while after the kill (the link ends with the batch) */
    while (oth_now_ms() - t_kill < 3000)
        oth_sleep_ms(50);
    atomic_store(&stop_clients, 1);
    client_join(&api_a);
    client_join(&api_any);
    client_join(&dl_a);
    client_join(&ddi_a);
    report(&api_a);
    report(&api_any);
    report(&dl_a);
    report(&ddi_a);
    printf("HAProxy saw a down %lld ms after the kill; download: %d whole files, %d resumed "
           "requests\n", (long long)(t_down - t_kill), atomic_load(&dl_a.done), dl_a.resumed);

    assert_int_equal(down, 0);
    bt_expect_all_succeeded(bj, d, N_DEV, "h");
    json_decref(bj);

    const int64_t allowed = HAP_INTER_MS * HAP_FALL + OUTAGE_MARGIN_MS;
    hp_client *all[4] = {&api_a, &api_any, &dl_a, &ddi_a};
    for (int i = 0; i < 4; i++) {
        assert_true(all[i]->st.n_ok > 0);
        if (all[i]->st.longest_ms > allowed)
            fail_msg("client %s went %lld ms without service (allowed %lld): %s", all[i]->st.name,
                     (long long)all[i]->st.longest_ms, (long long)allowed, all[i]->st.last_error);
    }
    /* the transfer the kill broke went on from its byte, on b, and every file was exact */
    assert_true(dl_a.resumed >= 1);
    assert_true(atomic_load(&dl_a.done) >= 2);
    assert_int_equal(dl_a.bad_bytes, 0);
    /* both servers had served the clients */
    char a_tot[32] = "", b_tot[32] = "";
    assert_int_equal(hap_stat(sport, "a", "stot", a_tot, sizeof a_tot), 0);
    assert_int_equal(hap_stat(sport, "b", "stot", b_tot, sizeof b_tot), 0);
    assert_true(strtol(a_tot, NULL, 10) > 0 && strtol(b_tot, NULL, 10) > 0);
    free(bytes);
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_failover_behind_haproxy, teardown_all),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
