/*
 * Integration: GET /metrics against the real otad and broker, read by a strict parser of
 * the Prometheus text format (version 0.0.4): every sample belongs to a family declared
 * once with # HELP and # TYPE before it, names and labels are well formed, counters end in
 * _total, histogram buckets are cumulative in rising `le` and end with +Inf equal to _count,
 * no series twice. Then what an operator relies on: a viewer's token reads it, no token
 * does not; a request shows up in its route's counter and histogram at once; the store's
 * gauges are there; after a small batch with a retried failure and a terminate, the
 * engine's counters (pushes, acks, retries, failures by reason) hold exactly what happened
 * and the round and transaction histograms have counted. Every scrape also passes
 * `promtool check metrics` (Prometheus' own parser and linter), and docs/prometheus/'s
 * configuration and alert rules pass `promtool check config`, `check rules` and the rule
 * tests of ota-rules.test.yml.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "test_accounts_util.h"
#include "test_batch_fixture.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define MAXF 128
#define MAXS 4096

typedef struct {
    char name[128], type[16];
    int help;
} fam;

typedef struct {
    char series[512]; /* name{labels} as written */
    double v;
} sample;

typedef struct {
    fam f[MAXF];
    int nf;
    sample s[MAXS];
    int ns;
} parsed;

static int name_ok(const char *s, size_t n)
{
    if (n == 0 || !(isalpha((unsigned char)s[0]) || s[0] == '_' || s[0] == ':'))
        return 0;
    for (size_t i = 1; i < n; i++)
        if (!(isalnum((unsigned char)s[i]) || s[i] == '_' || s[i] == ':'))
            return 0;
    return 1;
}

static fam *find_fam(parsed *p, const char *name)
{
    for (int i = 0; i < p->nf; i++)
        if (strcmp(p->f[i].name, name) == 0)
            return &p->f[i];
    return NULL;
}

/* The family a sample name belongs to (histograms: _bucket/_sum/_count). */
static fam *family_of(parsed *p, const char *name, int *suffix)
{
    static const char *const sfx[] = {"_bucket", "_sum", "_count"};
    fam *f = find_fam(p, name);
    *suffix = -1;
    if (f)
        return f;
    for (int k = 0; k < 3; k++) {
        size_t n = strlen(name), l = strlen(sfx[k]);
        if (n > l && strcmp(name + n - l, sfx[k]) == 0) {
            char base[128];
            snprintf(base, sizeof base, "%.*s", (int)(n - l), name);
            f = find_fam(p, base);
            if (f && strcmp(f->type, "histogram") == 0) {
                *suffix = k;
                return f;
            }
        }
    }
    return NULL;
}

/* Parses text strictly; fails the test on the first violation (printing the line). */
static void parse(const char *text, parsed *p)
{
    const char *line = text;
    memset(p, 0, sizeof *p);
    assert_true(strlen(text) > 0 && text[strlen(text) - 1] == '\n');
    while (*line) {
        const char *eol = strchr(line, '\n');
        char l[1024];
        snprintf(l, sizeof l, "%.*s", (int)(eol - line), line);
        line = eol + 1;
        if (strncmp(l, "# HELP ", 7) == 0 || strncmp(l, "# TYPE ", 7) == 0) {
            char name[128], rest[512];
            assert_int_equal(sscanf(l + 7, "%127s %511[^\n]", name, rest), 2);
            assert_true(name_ok(name, strlen(name)));
            fam *f = find_fam(p, name);
            if (!f) {
                assert_true(p->nf < MAXF);
                f = &p->f[p->nf++];
                snprintf(f->name, sizeof f->name, "%s", name);
            }
            if (l[2] == 'H') {
                assert_false(f->help);
                f->help = 1;
            } else {
                assert_string_equal(f->type, ""); /* one TYPE per family */
                assert_true(strcmp(rest, "counter") == 0 || strcmp(rest, "gauge") == 0 ||
                            strcmp(rest, "histogram") == 0);
                snprintf(f->type, sizeof f->type, "%.15s", rest);
                if (strcmp(rest, "counter") == 0)
                    assert_non_null(strstr(name, "_total"));
            }
            continue;
        }
        assert_true(l[0] != '#' && l[0] != '\0');
        /* name{label="value",...} value */
        size_t nl = strcspn(l, "{ ");
        char name[128];
        snprintf(name, sizeof name, "%.*s", (int)nl, l);
        if (!name_ok(l, nl))
            fail_msg("bad name: %s", l);
        const char *q = l + nl;
        if (*q == '{') {
            q++;
            while (*q != '}') {
                size_t ln = strcspn(q, "=");
                if (!name_ok(q, ln) || q[ln + 1] != '"')
                    fail_msg("bad label: %s", l);
                q += ln + 2;
                while (*q && *q != '"') {
                    if (*q == '\\')
                        q++;
                    q++;
                }
                assert_int_equal(*q, '"');
                q++;
                if (*q == ',')
                    q++;
                else if (*q != '}')
                    fail_msg("bad label list: %s", l);
            }
            q++;
        }
        assert_int_equal(*q, ' ');
        char *end;
        double v = strtod(q + 1, &end);
        if (*end != '\0' || end == q + 1)
            fail_msg("bad value: %s", l);
        int suffix;
        fam *f = family_of(p, name, &suffix);
        if (!f || !f->help || !f->type[0])
            fail_msg("sample before its # HELP and # TYPE: %s", l);
        if (strcmp(f->type, "histogram") == 0)
            assert_true(suffix >= 0);
        assert_true(v >= 0 || strcmp(f->type, "gauge") == 0);
        assert_true(p->ns < MAXS);
        snprintf(p->s[p->ns].series, sizeof p->s[p->ns].series, "%.*s", (int)(q - l), l);
        p->s[p->ns].v = v;
        for (int i = 0; i < p->ns; i++)
            if (strcmp(p->s[i].series, p->s[p->ns].series) == 0)
                fail_msg("series twice: %s", l);
        p->ns++;
    }
}

/* Histograms: per series, buckets cumulative in rising le, ending with +Inf = _count. */
static void check_histograms(parsed *p)
{
    for (int i = 0; i < p->ns; i++) {
        const char *s = p->s[i].series, *b = strstr(s, "_bucket{");
        if (!b)
            continue;
        /* le is the last label: {le="..."} alone or {...,le="..."} */
        const char *lep = strstr(s, "le=\"");
        assert_non_null(lep);
        assert_true(lep[-1] == ',' || lep[-1] == '{');
        char le[32];
        sscanf(lep + 4, "%31[^\"]", le);
        if (strcmp(le, "+Inf") != 0) {
            /* the next sample is the next bucket of the same series, not smaller, larger le */
            const char *n = p->s[i + 1].series;
            assert_int_equal(strncmp(s, n, (size_t)(lep - s)), 0);
            const char *nle = strstr(n, "le=\"") + 4;
            assert_true(strncmp(nle, "+Inf", 4) == 0 || strtod(nle, NULL) > strtod(le, NULL));
            assert_true(p->s[i + 1].v >= p->s[i].v);
        } else {
            /* +Inf equals _count of the same labels */
            char count[512];
            int nl = (int)(lep - (b + 8)) - (lep[-1] == ','); /* the labels before le */
            if (nl > 0)
                snprintf(count, sizeof count, "%.*s_count{%.*s}", (int)(b - s), s, nl, b + 8);
            else
                snprintf(count, sizeof count, "%.*s_count", (int)(b - s), s);
            int found = 0;
            for (int k = 0; k < p->ns; k++)
                if (strcmp(p->s[k].series, count) == 0) {
                    assert_true(p->s[k].v == p->s[i].v);
                    found = 1;
                }
            if (!found)
                fail_msg("no %s", count);
        }
    }
}

static double value(parsed *p, const char *series)
{
    for (int i = 0; i < p->ns; i++)
        if (strcmp(p->s[i].series, series) == 0)
            return p->s[i].v;
    return NAN;
}

/* Runs a shell command line; its exit status (-1 when it did not run). */
static int sh(const char *cmd)
{
    int st = system(cmd);
    return st == -1 || !WIFEXITED(st) ? -1 : WEXITSTATUS(st);
}

/* Prometheus' own checker (Debian's prometheus package, scripts/deps.txt): fails the test
 * when it is missing, as it checks what an operator's Prometheus will read. */
static void need_promtool(void)
{
    if (sh("command -v promtool >/dev/null") != 0)
        fail_msg("promtool is missing: apt-get install prometheus (scripts/deps.txt, test)");
}

/* `promtool check metrics` on a scrape's text: Prometheus' parser and its lint rules. */
static void promtool_check_metrics(const char *body)
{
    char path[] = "/tmp/ota-metrics-XXXXXX", cmd[128];
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, body, strlen(body)), (ssize_t)strlen(body));
    close(fd);
    need_promtool();
    snprintf(cmd, sizeof cmd, "promtool check metrics < %s", path);
    int rc = sh(cmd);
    unlink(path);
    assert_int_equal(rc, 0);
}

static void scrape_env(oth_env *e, const char *tok, parsed *p)
{
    oth_resp r;
    char url[128];
    snprintf(url, sizeof url, "%s/metrics", e->base_url);
    memset(&r, 0, sizeof r);
    oth_http_url("GET", url, tok, NULL, NULL, 0, NULL, &r);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.content_type, "text/plain"));
    assert_non_null(strstr(r.content_type, "version=0.0.4"));
    parse(r.body, p);
    check_histograms(p);
    promtool_check_metrics(r.body);
    oth_resp_free(&r);
}

static void scrape(tapi_ctx *c, const char *tok, parsed *p)
{
    scrape_env(&c->env, tok, p);
}

static void test_metrics(void **st)
{
    tapi_ctx *c = *st;
    static parsed p1, p2;
    oth_resp r;
    char tok[80];
    tacc_user(c, "prometheus", NULL, "viewer");
    tacc_token(c, "prometheus", "viewer", tok, NULL);
    assert_int_equal(tacc_call(c, "GET", "/metrics", NULL, NULL, &r), 401);
    oth_resp_free(&r);
    assert_int_equal(tacc_call(c, "POST", "/api/v1/products", c->env.admin_token,
                               "{\"productName\":\"m1\"}", &r),
                     201);
    oth_resp_free(&r);
    scrape(c, tok, &p1);
    const char *post = "ota_http_requests_total{route=\"/api/v1/products\",method=\"POST\","
                       "status=\"201\"}";
    const char *count = "ota_http_request_duration_seconds_count{route=\"/api/v1/products\","
                        "method=\"POST\"}";
    assert_true(value(&p1, post) >= 1);
    assert_true(value(&p1, count) >= 1);
    assert_int_equal(value(&p1, "ota_store_up"), 1);
    assert_false(isnan(value(&p1, "ota_devices_online")));
    assert_false(isnan(value(&p1, "ota_tasks{state=\"succeeded\"}")));
    assert_false(isnan(value(&p1, "ota_downloads_total")));
    assert_false(isnan(value(&p1, "ota_engine_input_lag_seconds")));
    assert_true(value(&p1, "ota_engine_push_hold_seconds_total") >= 0);
    assert_false(isnan(value(&p1, "ota_pushes_total")));
    /* one more request: its counter and histogram move by exactly one */
    assert_int_equal(tacc_call(c, "POST", "/api/v1/products", c->env.admin_token,
                               "{\"productName\":\"m2\"}", &r),
                     201);
    oth_resp_free(&r);
    assert_int_equal(tacc_call(c, "POST", "/api/v1/products", tok, "{\"productName\":\"m3\"}", &r),
                     403);
    oth_resp_free(&r);
    scrape(c, tok, &p2);
    assert_true(value(&p2, post) == value(&p1, post) + 1);
    assert_true(value(&p2, count) == value(&p1, count) + 2);
    assert_true(value(&p2, "ota_http_requests_total{route=\"/api/v1/products\",method=\"POST\","
                           "status=\"403\"}") >= 1);
}

/* The engine's counters after a small batch: one device upgrades, one fails verification,
 * is retried once and fails again, one is offline until an API terminate fails it. */
static void test_batch_counters(void **state)
{
    static parsed p;
    char fw[32], b[32], b2[32], body[512];
    bt_ctx *t = bt_new(state, 60); /* retry interval 1 s */
    bt_product(t, "metrics");
    bt_device(t, "good");
    bt_device(t, "bad");
    bt_device(t, "away");
    bt_dev_start(t, "good", "1.0.0", SDEV_AUTO_UPGRADE, 0);
    bt_dev_start(t, "bad", "1.0.0", SDEV_AUTO_FAIL, -3);
    bt_dev_activated_offline(t, "away", "1.0.0", SDEV_AUTO_NONE, 0);
    bt_wait_device(t, "good", 1, "1.0.0", BT_SOON);
    bt_wait_device(t, "bad", 1, "1.0.0", BT_SOON);
    bt_firmware(t, "fw_metrics", "2.0.0", fw, sizeof fw);
    bt_body(body, sizeof body, "\"scope\":\"directed\",\"identifiers\":[\"good\",\"bad\"]", 1440,
            1, 1);
    bt_batch(t, fw, body, b, sizeof b);
    json_decref(bt_wait_batch(t, b, "completed", 2000 + 2 * BT_SOON));
    bt_body(body, sizeof body, "\"scope\":\"directed\",\"identifiers\":[\"away\"]", 1440, 0, 0);
    bt_batch(t, fw, body, b2, sizeof b2);
    /* a running batch has its own series, for a failed-ratio alert per batch */
    char series[96];
    scrape_env(&t->env, t->env.admin_token, &p);
    snprintf(series, sizeof series, "ota_batch_devices{batch=\"%s\"}", b2);
    assert_true(value(&p, series) == 1);
    snprintf(series, sizeof series, "ota_batch_finished{batch=\"%s\"}", b2);
    assert_true(value(&p, series) == 0);
    snprintf(series, sizeof series, "ota_batch_failed{batch=\"%s\"}", b2);
    assert_true(value(&p, series) == 0);
    snprintf(series, sizeof series, "ota_batch_devices{batch=\"%s\"}", b);
    assert_true(isnan(value(&p, series))); /* completed: gone */
    oth_resp r;
    char path[64];
    snprintf(path, sizeof path, "/api/v1/batches/%s/terminate", b2);
    assert_int_equal(bt_post(t, path, "", &r), 200);
    oth_resp_free(&r);

    scrape_env(&t->env, t->env.admin_token, &p);
    /* good: push, ack; bad: push, ack, verify failure, retry push, ack, verify failure */
    assert_true(value(&p, "ota_pushes_total") == 3);
    assert_true(value(&p, "ota_acks_total") == 3);
    assert_true(value(&p, "ota_task_retries_total") == 1);
    assert_true(value(&p, "ota_task_failures_total{reason=\"verify_failed\"}") == 2);
    assert_true(value(&p, "ota_task_failures_total{reason=\"terminated\"}") == 1);
    static const char *const zero[] = {"push_timeout", "download_failed", "flash_failed",
                                       "upgrade_timeout", "unknown", "rolled_back"};
    for (size_t i = 0; i < sizeof zero / sizeof zero[0]; i++) {
        snprintf(series, sizeof series, "ota_task_failures_total{reason=\"%s\"}", zero[i]);
        assert_true(value(&p, series) == 0);
    }
    assert_true(isnan(value(&p, "ota_task_failures_total{reason=\"none\"}")));
    /* rounds and transactions were timed: counts, and sums that are sane (not negative,
     * not hours) */
    double rounds = value(&p, "ota_engine_round_seconds_count");
    assert_true(rounds >= 3);
    assert_true(value(&p, "ota_engine_round_seconds_sum") >= 0 &&
                value(&p, "ota_engine_round_seconds_sum") < rounds * 10);
    assert_true(value(&p, "ota_store_transaction_seconds_count{kind=\"engine\"}") >= rounds - 1);
    assert_true(value(&p, "ota_store_transaction_seconds_count{kind=\"write\"}") >= 4);
    assert_true(value(&p, "ota_store_transaction_seconds_count{kind=\"read\"}") >= 1);
    assert_true(value(&p, "ota_store_transaction_seconds_count{kind=\"one\"}") >= 1);
    assert_true(value(&p, "ota_store_transaction_seconds_sum{kind=\"write\"}") < 60);
    assert_true(value(&p, "ota_devices_online") == 2);
    assert_true(value(&p, "ota_batches{state=\"completed\"}") == 1);
    assert_true(value(&p, "ota_batches{state=\"terminated\"}") == 1);
    snprintf(series, sizeof series, "ota_batch_devices{batch=\"%s\"}", b2);
    assert_true(isnan(value(&p, series))); /* ended: gone */
}

/* The operator's files, docs/prometheus/: the scrape configuration and the alert rules are
 * what Prometheus accepts, and the rules fire as tests/integration/ota-rules.test.yml says
 * (each alert on the series it watches, none on healthy ones). */
static void test_prometheus_files(void **st)
{
    (void)st;
    char dir[] = "/tmp/ota-prom-XXXXXX", cmd[2048];
    need_promtool();
    assert_non_null(mkdtemp(dir));
    /* the configuration names the CA and the token file next to it: placeholders here */
    snprintf(cmd, sizeof cmd,
             "cp %s/docs/prometheus/prometheus.yml %s/docs/prometheus/ota-rules.yml "
             "%s/tests/integration/ota-rules.test.yml %s/ && touch %s/ota-ca.pem %s/ota-token && "
             "cd %s && promtool check config prometheus.yml && promtool check rules ota-rules.yml "
             "&& promtool test rules ota-rules.test.yml",
             OTA_SOURCE_DIR, OTA_SOURCE_DIR, OTA_SOURCE_DIR, dir, dir, dir, dir);
    int rc = sh(cmd);
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    sh(cmd);
    assert_int_equal(rc, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_metrics)};
    const struct CMUnitTest batch[] = {
        cmocka_unit_test_teardown(test_batch_counters, bt_teardown),
        cmocka_unit_test(test_prometheus_files),
    };
    int failed = cmocka_run_group_tests(tests, tapi_setup, tapi_teardown);
    return failed + cmocka_run_group_tests(batch, NULL, NULL);
}
