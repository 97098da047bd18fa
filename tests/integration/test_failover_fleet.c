/*
 * test_failover_fleet: failover at fleet scale (docs/postgresql.md, "Several otad").
 * Two otad (OTA_INSTANCE a and b)
 * on one store and one broker, 1,000 simulated devices (tools/ota-fleet) in a paced batch;
 * otad a, which created the batch, is killed with SIGKILL mid-batch. Then, as a user
 * would see it through b's HTTP API: the batch completes and every device ends in the
 * state its behaviour calls for (succeeded, after a retry for the devices that fail their
 * first attempt; failed with push_timeout and every retry used for those that never ack);
 * and, from ota-fleet's per-device results, no device received one attempt (msgId) in
 * two PUBLISHes, and no device received more attempts than the server counted.
 *
 * Every instance receives every device message. On PostgreSQL each applies only the
 * messages of the partitions it holds a lease on (docs/postgresql.md, "Partitions"): the
 * test checks through GET /api/v1/cluster that a and b split the 64 partitions before the
 * kill and that b holds all 64 within 10 s after it. On SQLite both work on every device
 * and re-read the store every second, so b picks up a's deadlines and waiting devices.
 * If b did not take over, the batch never completes and the test fails at the wait.
 *
 * On PostgreSQL the same batch runs a second time with a stopped (SIGSTOP) instead of
 * killed: b takes all partitions within 10 s, a is continued, takes its share back, and
 * the fleet's checks (no attempt pushed twice, every device as told, counters exact) show
 * that the woken instance did nothing for the partitions it had lost.
 *
 * A first, small test checks the duplicate detector itself: ota-fleet-responder
 * --push-twice publishes every attempt twice, and ota-fleet must report it (exit 1).
 *
 * Runs on SQLite (two processes on one database file) and, under scripts/pg-test.sh
 * (OTA_TEST_PG_URL set: the harness gives both instances one fresh database), on
 * PostgreSQL. About 30-45 s on a 2-core machine.
 */
#include "fleet_fixture.h"
#include "ota_harness.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <errno.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define N_DEV 1000
/* the fleet's mix; fail-* devices fail their first attempt only (--fail-times 1) */
#define MIX "success=850,fail-2=50,fail-4=50,no-ack=50"
#define N_NOACK 50
/* OTA_TIME_SCALE 12: ack timeout 10 s -> 0.83 s, retryIntervalMinutes 1 -> 5 s,
 * timeoutMinutes 1 -> 5 s */
#define TIME_SCALE "12"
#define RETRY_TIMES 2
/* pushes per minute and engine: ~50 a second, so the batch takes ~20 s to push */
#define BATCH_JSON                                                                                 \
    "{\"retryTimes\":2,\"retryIntervalMinutes\":1,\"timeoutMinutes\":1,"                           \
    "\"maxPushPerMinute\":3000}"
/* a is killed once this many devices succeeded (a quarter of the batch) */
#define KILL_AT 250

static oth_env E;
static int env_up;
static pid_t otad_b, fleet_pid;
static char base_b[64];


static int teardown(void **state)
{
    (void)state;
    if (fleet_pid > 0)
        oth_stop_pid(fleet_pid, SIGTERM, 5000);
    if (otad_b > 0)
        oth_stop_pid(otad_b, SIGTERM, 10000);
    fleet_pid = otad_b = 0;
    if (env_up)
        oth_env_cleanup(&E);
    env_up = 0;
    return 0;
}

/* GET base+path with the admin token; the parsed JSON body (new reference) or NULL. */
static json_t *get_json(const char *base, const char *path)
{
    char url[512];
    oth_resp r;
    json_t *j = NULL;
    snprintf(url, sizeof url, "%s%s", base, path);
    if (oth_http_url("GET", url, E.admin_token, NULL, NULL, 0, NULL, &r) == 0 && r.status == 200)
        j = json_incref(r.json);
    oth_resp_free(&r);
    return j;
}

static long long jint(json_t *o, const char *k)
{
    return (long long)json_integer_value(json_object_get(o, k));
}

/* Starts otad instance b next to a (same store, broker, data folder, token). */
static void start_b(void)
{
    otad_b = oth_otad_start_instance(&E, "b", base_b, sizeof base_b);
    if (otad_b <= 0) {
        otad_b = 0;
        fail_msg("otad b did not become healthy");
    }
}

/* One line of ota-fleet's --results CSV. */
typedef struct {
    char id[64], behaviour[16], outcome[24];
    int pushes, dup_pushes, redelivered;
} fleet_row;

/* Reads the results CSV into rows (at most max); the number read, or -1. */
static int read_results(const char *path, fleet_row *rows, int max)
{
    char line[512];
    int n = 0;
    FILE *fp = fopen(path, "r");
    if (!fp)
        return -1;
    if (!fgets(line, sizeof line, fp) || !strstr(line, ",dup_pushes,redelivered")) {
        fclose(fp);
        return -1; /* not the header this test knows */
    }
    while (n < max && fgets(line, sizeof line, fp)) {
        fleet_row *r = &rows[n];
        if (sscanf(line, "%63[^,],%15[^,],%23[^,],%d,%*d,%*d,%*d,%*d,%*d,%*u,%d,%d", r->id,
                   r->behaviour, r->outcome, &r->pushes, &r->dup_pushes, &r->redelivered) == 6)
            n++;
    }
    fclose(fp);
    return n;
}

/* --- the detector: a server that publishes every attempt twice ------------------------ */

static void test_fleet_reports_duplicate_pushes(void **state)
{
    (void)state;
    char addr[64], key[320], csv[320], flog[320], rlog[320], fsum[320];
    assert_int_equal(oth_env_init(&E), 0);
    env_up = 1;
    assert_int_equal(oth_broker_start(&E), 0);
    snprintf(addr, sizeof addr, "127.0.0.1:%d", E.mqtt_port);
    snprintf(key, sizeof key, "%s/keys/server.key", E.dir);
    snprintf(csv, sizeof csv, "%s/results.csv", E.dir);
    snprintf(flog, sizeof flog, "%s/fleet.log", E.dir);
    snprintf(rlog, sizeof rlog, "%s/responder.log", E.dir);
    snprintf(fsum, sizeof fsum, "%s/fleet.json", E.dir);

    char *rargv[] = {RESPONDER_BIN,   "--broker", addr, "--key-file", key,
                     "--product-key", "pkdup",    "-n", "20",         "--push-twice",
                     "--duration",    "30",       NULL};
    pid_t rp = oth_spawn(rargv, NULL, 0, rlog);
    assert_true(rp > 0);
    oth_sleep_ms(300);
    char *fargv[] = {FLEET_BIN, "--broker",  addr, "--key-file",     key,  "--product-key",
                     "pkdup",   "-n",        "20", "--download",     "0",  "--duration",
                     "30",      "--results", csv,  "--summary-json", fsum, NULL};
    pid_t fp = oth_spawn(fargv, NULL, 0, flog);
    int rc = ff_wait(fp, 40000);
    int rrc = ff_wait(rp, 10000);
    if (rc != 1 || rrc != 0) {
        oth_dump_file(flog, 4000);
        oth_dump_file(rlog, 2000);
    }
    assert_int_equal(rrc, 0);
    assert_int_equal(rc, 1); /* a duplicate push makes the run fail */

    static fleet_row rows[20];
    assert_int_equal(read_results(csv, rows, 20), 20);
    for (int i = 0; i < 20; i++) {
        assert_string_equal(rows[i].outcome, "succeeded"); /* the second copy changed nothing */
        assert_int_equal(rows[i].pushes, 1);
        assert_int_equal(rows[i].dup_pushes, 1);
        assert_int_equal(rows[i].redelivered, 0);
    }
    json_t *f = json_load_file(fsum, 0, NULL);
    assert_non_null(f);
    assert_int_equal(jint(f, "duplicatePushes"), 20);
    assert_int_equal(jint(f, "duplicatePushDevices"), 20);
    assert_int_equal(jint(f, "errors"), 0);
    json_decref(f);
}

/* --- the failover ----------------------------------------------------------------------- */

/* Waits (at most 10 s from since_ms) until instance name holds want partitions (want < 0:
 * any); what it holds then. */
static int wait_held(const char *name, int want, int64_t since_ms)
{
    int got = 0;
    while (oth_now_ms() - since_ms < 10000) {
        got = oth_partitions_held(base_b, E.admin_token, name, NULL);
        if (want < 0 ? got > 0 : got == want)
            break;
        oth_sleep_ms(100);
    }
    fprintf(stderr, "failover: %s holds %d partitions %lld ms after the event\n", name, got,
            (long long)(oth_now_ms() - since_ms));
    return got;
}

/* The failover mid-batch. pause = 0: a dies (SIGKILL). pause = 1: a is stopped (SIGSTOP)
 * until b has taken all its partitions, then continued (SIGCONT): a paused owner that wakes
 * up must not apply, push or count anything for the partitions it lost (the fence,
 * docs/postgresql.md "Partitions"), and takes its share back. */
static void run_failover(int pause)
{
    char addr[64], key[320], csv[320], flog[320], alog[320], fsum[320], apis[160], pk[32], fwid[32],
        path[256], bid[64] = "";

    assert_int_equal(oth_env_init(&E), 0);
    env_up = 1;
    oth_env_set(&E, "OTA_TIME_SCALE", TIME_SCALE);
    oth_env_set(&E, "OTA_INSTANCE", "a");
    /* the partition sessions (docs/broker.md, "Partition topics"): each instance reads only
     * its partitions' messages, checked below through ota_device_messages_foreign_total */
    oth_env_set(&E, "OTA_PARTITION_SESSIONS", "1");
    assert_int_equal(oth_broker_start(&E), 0);
    assert_int_equal(oth_otad_start(&E), 0);
    start_b();
    snprintf(addr, sizeof addr, "127.0.0.1:%d", E.mqtt_port);
    snprintf(key, sizeof key, "%s/keys/server.key", E.dir);
    snprintf(csv, sizeof csv, "%s/results.csv", E.dir);
    snprintf(flog, sizeof flog, "%s/fleet.log", E.dir);
    snprintf(alog, sizeof alog, "%s/activate.log", E.dir);
    snprintf(fsum, sizeof fsum, "%s/fleet.json", E.dir);
    snprintf(apis, sizeof apis, "%s,%s", E.base_url, base_b);

    /* a product and its firmware, through a */
    ff_product(&E, "failover_fleet", pk, sizeof pk);
    ff_firmware(&E, pk, "failover_fw", "2.0.0", "0123456789abcdef", 16, fwid, sizeof fwid);

    /* register (NDJSON import) and activate the fleet */
    char *aargv[] = {FLEET_BIN,    "--api", E.base_url, "--token",    E.admin_token,
                     "--key-file", key,     "--broker", addr,         "--product-key",
                     pk,           "-n",    "1000",     "--register", "--activate-only",
                     "--duration", "60",    NULL};
    pid_t ap = oth_spawn(aargv, NULL, 0, alog);
    int rc = ff_wait(ap, 70000);
    if (rc != 0)
        oth_dump_file(alog, 4000);
    assert_int_equal(rc, 0);
    ff_wait_eligible(&E, fwid, N_DEV, 20000);

    /* the fleet connects, and once every device is ready creates the batch on a (the first
     * --api URL) and polls it, on b once a is gone */
    char *fargv[] = {FLEET_BIN,
                     "--api",
                     apis,
                     "--token",
                     E.admin_token,
                     "--key-file",
                     key,
                     "--broker",
                     addr,
                     "--product-key",
                     pk,
                     "-n",
                     "1000",
                     "--mix",
                     MIX,
                     "--fail-times",
                     "1",
                     "--download",
                     "0",
                     "--batch",
                     fwid,
                     "--batch-json",
                     BATCH_JSON,
                     "--results",
                     csv,
                     "--summary-json",
                     fsum,
                     "--duration",
                     "100",
                     NULL};
    fleet_pid = oth_spawn(fargv, NULL, 0, flog);
    assert_true(fleet_pid > 0);

    /* the batch, as b lists it */
    snprintf(path, sizeof path, "/api/v1/batches?firmwareId=%s", fwid);
    for (int64_t end = oth_now_ms() + 30000; !bid[0] && oth_now_ms() < end; oth_sleep_ms(50)) {
        json_t *j = get_json(base_b, path);
        json_t *b0 = json_array_get(json_object_get(j, "items"), 0);
        json_t *v = json_object_get(b0, "batchId");
        if (json_is_string(v))
            snprintf(bid, sizeof bid, "%s", json_string_value(v));
        else if (json_is_integer(v))
            snprintf(bid, sizeof bid, "%lld", (long long)json_integer_value(v));
        json_decref(j);
    }
    if (!bid[0])
        oth_dump_file(flog, 4000);
    assert_true(bid[0] != 0);

    /* mid-batch: KILL_AT devices succeeded, many still to be pushed; then a dies */
    long long at_kill = 0, to_push = 0;
    snprintf(path, sizeof path, "/api/v1/batches/%s", bid);
    for (int64_t end = oth_now_ms() + 40000; oth_now_ms() < end; oth_sleep_ms(20)) {
        json_t *j = get_json(base_b, path);
        const char *st = json_string_value(json_object_get(j, "state"));
        at_kill = jint(j, "succeeded");
        to_push = jint(json_object_get(j, "counts"), "to_push");
        int ended = st && strcmp(st, "in_progress") != 0;
        json_decref(j);
        if (ended)
            fail_msg("the batch ended before the kill (%lld succeeded)", at_kill);
        if (at_kill >= KILL_AT)
            break;
    }
    assert_true(at_kill >= KILL_AT);
    /* on PostgreSQL a and b split the partitions (each its share, together all) */
    int leases = 0, held_a = oth_partitions_held(base_b, E.admin_token, "a", &leases);
    int held_b = oth_partitions_held(base_b, E.admin_token, "b", NULL);
    fprintf(stderr, "failover: partitions held before the kill: a %d, b %d (leases %d)\n", held_a,
            held_b, leases);
    if (leases) {
        assert_true(held_a > 0 && held_b > 0);
        assert_int_equal(held_a + held_b, 64);
        /* each device's messages reach only the instance holding its partition (the broker
         * plugin's partition topics, docs/broker.md): neither received another's */
        double fa = oth_metric(E.base_url, E.admin_token, "ota_device_messages_foreign_total");
        double fb = oth_metric(base_b, E.admin_token, "ota_device_messages_foreign_total");
        fprintf(stderr, "failover: device messages of another's partition: a %.0f, b %.0f\n", fa,
                fb);
        assert_true(fa == 0 && fb == 0);
        assert_int_equal((int)oth_metric(E.base_url, E.admin_token, "ota_partitions_held"),
                         held_a);
    }
    pid_t a_pid = E.otad_pid;
    if (pause)
        assert_int_equal(kill(a_pid, SIGSTOP), 0);
    else
        assert_int_equal(oth_otad_stop(&E, SIGKILL), 0);
    int64_t killed_ms = oth_now_ms();
    if (leases) {
        /* b takes a's partitions over within 10 s (lease 4 s, a tick a second) */
        int got = wait_held("b", 64, killed_ms);
        if (got != 64)
            fail_msg("b holds %d of 64 partitions 10 s after a was %s", got,
                     pause ? "stopped" : "killed");
    }
    fprintf(stderr, "failover: otad a %s with %lld devices succeeded, %lld to push\n",
            pause ? "stopped" : "killed", at_kill, to_push);
    if (pause) {
        /* a wakes up: its leases are gone, b's rounds went on meanwhile; a gets its share
         * back at its next ticks (b releases it), and the batch goes on over both */
        assert_int_equal(kill(a_pid, SIGCONT), 0);
        int64_t cont_ms = oth_now_ms();
        if (wait_held("a", -1, cont_ms) <= 0)
            fail_msg("a, continued, holds no partition 10 s later");
    }
    assert_true(to_push >= N_DEV / 4); /* really mid-batch */

    /* the fleet ends 5 s after the batch ended; exit 0 = every device as told, batch
     * completed, no duplicate push */
    rc = ff_wait(fleet_pid, 90000);
    fleet_pid = 0;
    if (rc != 0) {
        char blog[320];
        oth_dump_file(flog, 6000);
        oth_dump_logs(&E);
        snprintf(blog, sizeof blog, "%s/otad-b.log", E.dir);
        oth_dump_file(blog, 6000);
        json_t *j = get_json(base_b, path);
        char *txt = j ? json_dumps(j, JSON_COMPACT) : NULL;
        fail_msg("ota-fleet ended with %d (-1: still running after 90 s, the batch did not "
                 "complete: did b take over?); the batch on b: %s",
                 rc, txt ? txt : "-");
    }

    if (leases) {
        /* b read a's partitions through their sessions, backlog included: still none of
         * another's (their messages while nobody held them waited at the broker) */
        double fb = oth_metric(base_b, E.admin_token, "ota_device_messages_foreign_total");
        fprintf(stderr, "failover: b's device messages of another's partition: %.0f\n", fb);
        assert_true(fb == 0);
    }
    /* what a user sees through b */
    json_t *bj = get_json(base_b, path);
    assert_non_null(bj);
    assert_string_equal(json_string_value(json_object_get(bj, "state")), "completed");
    assert_int_equal(jint(bj, "total"), N_DEV);
    assert_int_equal(jint(bj, "succeeded"), N_DEV - N_NOACK);
    assert_int_equal(jint(bj, "failed"), N_NOACK);
    json_decref(bj);
    snprintf(path, sizeof path, "/api/v1/batches/%s/devices?page=1&pageSize=1000", bid);
    json_t *dj = get_json(base_b, path);
    json_t *items = json_object_get(dj, "items");
    assert_int_equal(json_array_size(items), N_DEV);
    json_t *by_id = json_object();
    size_t i;
    json_t *row;
    json_array_foreach(items, i, row)
    {
        json_object_set(by_id, json_string_value(json_object_get(row, "identifier")), row);
    }
    json_decref(dj);

    /* every device: its final state, and its pushes against the server's attempts */
    static fleet_row rows[N_DEV];
    assert_int_equal(read_results(csv, rows, N_DEV), N_DEV);
    int retried_ok = 0;
    for (int k = 0; k < N_DEV; k++) {
        fleet_row *f = &rows[k];
        json_t *s = json_object_get(by_id, f->id);
        if (!s)
            fail_msg("device %s is not in the batch", f->id);
        const char *ust = json_string_value(json_object_get(s, "upgradeState"));
        const char *why = json_string_value(json_object_get(s, "failReason"));
        const char *ver = json_string_value(json_object_get(s, "currentVersion"));
        long long retried = jint(s, "retried");
        if (f->dup_pushes != 0)
            fail_msg("device %s received one attempt twice (%d duplicate pushes)", f->id,
                     f->dup_pushes);
        if (f->pushes < 1 || f->pushes > retried + 1)
            fail_msg("device %s: %d pushes received, %lld attempts counted by the server", f->id,
                     f->pushes, retried + 1);
        if (strcmp(f->behaviour, "no-ack") == 0) {
            if (strcmp(ust, "failed") != 0 || !why || strcmp(why, "push_timeout") != 0 ||
                retried != RETRY_TIMES)
                fail_msg("device %s (no ack): %s/%s, retried %lld; want failed/push_timeout, %d",
                         f->id, ust, why ? why : "-", retried, RETRY_TIMES);
            assert_string_equal(f->outcome, "no_ack");
            continue;
        }
        if (strcmp(ust, "succeeded") != 0 || !ver || strcmp(ver, "2.0.0") != 0)
            fail_msg("device %s (%s): %s at version %s; want succeeded at 2.0.0", f->id,
                     f->behaviour, ust, ver ? ver : "-");
        assert_string_equal(f->outcome, "succeeded");
        if (strncmp(f->behaviour, "fail-", 5) == 0) {
            /* failed its first attempt, succeeded on a retry */
            if (retried < 1 || f->pushes < 2)
                fail_msg("device %s (%s): retried %lld, %d pushes; want a retry", f->id,
                         f->behaviour, retried, f->pushes);
            retried_ok++;
        }
    }
    json_decref(by_id);
    assert_int_equal(retried_ok, 100);

    json_t *fj = json_load_file(fsum, 0, NULL);
    assert_non_null(fj);
    assert_int_equal(jint(fj, "duplicatePushes"), 0);
    assert_string_equal(json_string_value(json_object_get(json_object_get(fj, "batch"), "state")),
                        "completed");
    json_decref(fj);
    if (pause) {
        /* a lived through it and still answers */
        json_t *ha = get_json(E.base_url, "/api/v1/health");
        assert_non_null(ha);
        json_decref(ha);
    }
}

static void test_failover_fleet(void **state)
{
    (void)state;
    run_failover(0);
}

/* Leases and the fence exist only on PostgreSQL; on SQLite two otad share one file and a
 * stopped one holds its write lock, which is no failover to test. */
static void test_failover_paused(void **state)
{
    (void)state;
    const char *pg = getenv("OTA_TEST_PG_URL");
    if (!pg || !*pg)
        skip();
    run_failover(1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_fleet_reports_duplicate_pushes, teardown),
        cmocka_unit_test_teardown(test_failover_fleet, teardown),
        cmocka_unit_test_teardown(test_failover_paused, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
