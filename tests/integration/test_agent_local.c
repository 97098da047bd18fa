/*
 * test_agent_local: the ota-device agent as a real process, against a real mosquitto
 * (anonymous, on a free port), a real HTTP download server (test_sdk_httpsrv) and a
 * stand-in for the platform written here with libmosquitto: it answers ota/firmware/get
 * with get_reply, pushes on ota/firmware/upgrade and watches acks, progress and versions
 * exactly as docs/device-protocol.md says. It does not need otad, so it checks the agent on
 * its own; test_agent (with otad) checks the whole service.
 *   - a push to three agents: each acks, reports progress and its new version
 *   - an agent killed (SIGKILL) mid-download resumes from its checkpoint after restart
 *   - a corrupted download is reported as step -3 and nothing is installed
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <mosquitto.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "ota_harness.h"
#include "test_sdk_httpsrv.h"

#define MAX_MSG 4096
#define NDEV 3

typedef struct {
    char dev[32];  /* identifier */
    char kind[32]; /* last topic part: version, progress, upgrade_reply, get */
    char msg_id[72];
    int step;
    int code;
    char version[64];
} msg_t;

static struct {
    char dir[128];
    int mqtt_port;
    pid_t broker;
    struct mosquitto *plat;
    pthread_mutex_t mu;
    msg_t msgs[MAX_MSG];
    int nmsg;
    tsrv srv;
    int auto_reply; /* answer every get with the job (1) or 404 (0) */
    char job_version[32];
    pid_t agents[NDEV];
} G;

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static void job_payload(const char *msg_id, char *buf, size_t cap, int code)
{
    char url[128];
    tsrv_url(&G.srv, url, sizeof url);
    snprintf(buf, cap,
             "{\"msgId\":\"%s\",\"version\":\"1.0\",\"code\":%d,\"data\":{\"policy\":\"standard\","
             "\"size\":%zu,\"firmwareVersion\":\"%s\",\"url\":\"%s\",\"sign\":\"%s\","
             "\"signMethod\":\"Md5\",\"sha256\":\"%s\",\"batchId\":\"local-1\"}}",
             msg_id, code, G.srv.len, G.job_version, url, G.srv.md5, G.srv.sha256);
}

static void on_msg(struct mosquitto *m, void *obj, const struct mosquitto_message *msg)
{
    msg_t r;
    char pk[32];
    const char *kind;
    json_t *j, *data;
    (void)obj;
    memset(&r, 0, sizeof r);
    if (sscanf(msg->topic, "/sys/%31[^/]/%31[^/]/", pk, r.dev) != 2)
        return;
    kind = strrchr(msg->topic, '/') + 1;
    snprintf(r.kind, sizeof r.kind, "%s", kind);
    if (strcmp(kind, "upgrade") == 0 || strcmp(kind, "get_reply") == 0)
        return; /* our own */
    j = json_loadb(msg->payload, (size_t)msg->payloadlen, 0, NULL);
    if (!j)
        return;
    snprintf(r.msg_id, sizeof r.msg_id, "%s", json_string_value(json_object_get(j, "msgId")));
    r.code = (int)json_integer_value(json_object_get(j, "code"));
    data = json_object_get(j, "data");
    r.step = (int)json_integer_value(json_object_get(data, "step"));
    if (json_string_value(json_object_get(data, "firmwareVersion")))
        snprintf(r.version, sizeof r.version, "%s",
                 json_string_value(json_object_get(data, "firmwareVersion")));
    json_decref(j);
    pthread_mutex_lock(&G.mu);
    if (G.nmsg < MAX_MSG)
        G.msgs[G.nmsg++] = r;
    pthread_mutex_unlock(&G.mu);
    if (strcmp(kind, "get") == 0) {
        char topic[128], buf[1024];
        snprintf(topic, sizeof topic, "/sys/%s/%s/ota/firmware/get_reply", pk, r.dev);
        if (G.auto_reply)
            job_payload(r.msg_id, buf, sizeof buf, 200);
        else
            snprintf(buf, sizeof buf,
                     "{\"msgId\":\"%s\",\"version\":\"1.0\",\"code\":404,\"message\":\"none\"}",
                     r.msg_id);
        mosquitto_publish(m, NULL, topic, (int)strlen(buf), buf, 1, false);
    }
}

/* Index of the first message from dev of kind matching (step/version filters), or -1. */
static int find(const char *dev, const char *kind, int min_step, const char *version)
{
    int found = -1;
    pthread_mutex_lock(&G.mu);
    for (int i = 0; i < G.nmsg && found < 0; i++) {
        msg_t *m = &G.msgs[i];
        if (strcmp(m->dev, dev) || strcmp(m->kind, kind))
            continue;
        if (strcmp(kind, "progress") == 0 && min_step != 0 &&
            (min_step > 0 ? m->step < min_step : m->step != min_step))
            continue;
        if (version && strcmp(m->version, version))
            continue;
        found = i;
    }
    pthread_mutex_unlock(&G.mu);
    return found;
}

static int wait_for(const char *dev, const char *kind, int min_step, const char *version,
                    int timeout_ms)
{
    for (int t = 0; t < timeout_ms; t += 50) {
        int i = find(dev, kind, min_step, version);
        if (i >= 0)
            return i;
        sleep_ms(50);
    }
    return -1;
}

static void push(const char *dev, const char *msg_id)
{
    char topic[128], buf[1024];
    snprintf(topic, sizeof topic, "/sys/pk/%s/ota/firmware/upgrade", dev);
    job_payload(msg_id, buf, sizeof buf, 200);
    /* a push carries no "code"; the SDK ignores it either way */
    assert_int_equal(mosquitto_publish(G.plat, NULL, topic, (int)strlen(buf), buf, 1, false),
                     MOSQ_ERR_SUCCESS);
}

static void dev_path(const char *dev, const char *name, char *buf, size_t cap)
{
    snprintf(buf, cap, "%s/%s/%s", G.dir, dev, name);
}

static pid_t start_agent(const char *dev, const char *version_if_new)
{
    char conf[256], vfile[256], ddir[256], log[256], d[256];
    FILE *f;
    char *argv[] = {OTA_DEVICE_BIN, "-c", conf, NULL};
    snprintf(d, sizeof d, "%s/%s", G.dir, dev);
    mkdir(d, 0700);
    dev_path(dev, "agent.conf", conf, sizeof conf);
    dev_path(dev, "version", vfile, sizeof vfile);
    dev_path(dev, "download", ddir, sizeof ddir);
    dev_path(dev, "agent.log", log, sizeof log);
    if (version_if_new) {
        f = fopen(vfile, "w");
        fprintf(f, "%s\n", version_if_new);
        fclose(f);
    }
    f = fopen(conf, "w");
    assert_non_null(f);
    fprintf(
        f,
        "# written by test_agent_local\nbroker = 127.0.0.1:%d\ntls = off\nproduct_key = pk\nidentifier = %s\n"
        "device_secret = whatever\nversion_file = %s\ninstall_hook = sh "
        "%s/tools/ota-device/install-hook.sh\n"
        "download_dir = %s\nlog_level = debug\nstall_timeout = 2\nretry_delay_ms = 100\n",
        G.mqtt_port, dev, vfile, OTA_SOURCE_DIR, ddir);
    fclose(f);
    return oth_spawn(argv, NULL, 0, log);
}

static void read_file(const char *path, char *buf, size_t cap)
{
    FILE *f = fopen(path, "r");
    size_t n = 0;
    buf[0] = '\0';
    if (!f)
        return;
    n = fread(buf, 1, cap - 1, f);
    buf[n] = '\0';
    fclose(f);
}

static void dump_log(const char *dev)
{
    char p[256], buf[8192];
    dev_path(dev, "agent.log", p, sizeof p);
    read_file(p, buf, sizeof buf);
    fprintf(stderr, "---- %s agent log (head) ----\n%s\n", dev, buf);
}

static int setup(void **state)
{
    char conf[256], log[256];
    FILE *f;
    char *argv[] = {"/usr/sbin/mosquitto", "-c", conf, NULL};
    (void)state;
    memset(&G, 0, sizeof G);
    pthread_mutex_init(&G.mu, NULL);
    snprintf(G.dir, sizeof G.dir, "/tmp/ota-agent-local-XXXXXX");
    assert_non_null(mkdtemp(G.dir));
    G.mqtt_port = oth_free_port();
    snprintf(conf, sizeof conf, "%s/mosquitto.conf", G.dir);
    snprintf(log, sizeof log, "%s/broker.log", G.dir);
    f = fopen(conf, "w");
    fprintf(f, "listener %d 127.0.0.1\nallow_anonymous true\npersistence false\n", G.mqtt_port);
    fclose(f);
    G.broker = oth_spawn(argv, NULL, 0, log);
    assert_true(G.broker > 0);
    assert_int_equal(oth_wait_tcp(G.mqtt_port, 5000), 0);
    assert_int_equal(tsrv_start(&G.srv, 2 * 1024 * 1024 + 77, 3), 0);
    snprintf(G.job_version, sizeof G.job_version, "2.0.0");
    mosquitto_lib_init();
    G.plat = mosquitto_new("platform", true, NULL);
    mosquitto_message_callback_set(G.plat, on_msg);
    assert_int_equal(mosquitto_connect(G.plat, "127.0.0.1", G.mqtt_port, 30), MOSQ_ERR_SUCCESS);
    assert_int_equal(mosquitto_subscribe(G.plat, NULL, "/sys/#", 1), MOSQ_ERR_SUCCESS);
    assert_int_equal(mosquitto_loop_start(G.plat), MOSQ_ERR_SUCCESS);
    sleep_ms(200);
    return 0;
}

static int teardown(void **state)
{
    char cmd[256];
    (void)state;
    for (int i = 0; i < NDEV; i++)
        if (G.agents[i] > 0)
            oth_stop_pid(G.agents[i], SIGTERM, 5000);
    mosquitto_disconnect(G.plat);
    mosquitto_loop_stop(G.plat, false);
    mosquitto_destroy(G.plat);
    oth_stop_pid(G.broker, SIGTERM, 5000);
    tsrv_stop(&G.srv);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", G.dir);
    if (!getenv("OTA_KEEP_DIR") && system(cmd) != 0)
        fprintf(stderr, "cannot remove %s\n", G.dir);
    pthread_mutex_destroy(&G.mu);
    return 0;
}

static void test_push_to_three_agents(void **state)
{
    const char *devs[NDEV] = {"a1", "a2", "a3"};
    char msg_id[32], p[256], buf[256];
    (void)state;
    G.auto_reply = 0;
    for (int i = 0; i < NDEV; i++)
        G.agents[i] = start_agent(devs[i], "1.0.0");
    for (int i = 0; i < NDEV; i++) {
        if (wait_for(devs[i], "get", 0, NULL, 10000) < 0)
            dump_log(devs[i]);
        assert_true(find(devs[i], "version", 0, "1.0.0") >= 0); /* reported at start */
        assert_true(wait_for(devs[i], "get", 0, NULL, 10000) >= 0);
        snprintf(msg_id, sizeof msg_id, "push-%s", devs[i]);
        push(devs[i], msg_id);
    }
    for (int i = 0; i < NDEV; i++) {
        int ack = wait_for(devs[i], "upgrade_reply", 0, NULL, 5000);
        assert_true(ack >= 0);
        snprintf(msg_id, sizeof msg_id, "push-%s", devs[i]);
        assert_string_equal(G.msgs[ack].msg_id, msg_id);
        assert_int_equal(G.msgs[ack].code, 200);
        if (wait_for(devs[i], "version", 0, "2.0.0", 30000) < 0)
            dump_log(devs[i]);
        assert_true(wait_for(devs[i], "version", 0, "2.0.0", 1) >= 0);
        assert_true(find(devs[i], "progress", 1, NULL) >= 0);
        assert_true(find(devs[i], "progress", 100, NULL) >= 0);
        dev_path(devs[i], "version", p, sizeof p);
        read_file(p, buf, sizeof buf);
        assert_string_equal(buf, "2.0.0\n");
    }
}

static void test_killed_agent_resumes(void **state)
{
    char p[256], buf[256];
    unsigned long long staged = 0, size = 0;
    char md5[40], sha[80];
    int n;
    (void)state;
    G.srv.delay_us = 6000; /* ~3 s for the image */
    G.auto_reply = 0;
    G.agents[0] = start_agent("k1", "1.0.0");
    assert_true(wait_for("k1", "get", 0, NULL, 10000) >= 0);
    push("k1", "push-k1");
    if (wait_for("k1", "progress", 30, NULL, 20000) < 0)
        dump_log("k1");
    assert_true(find("k1", "progress", 30, NULL) >= 0);
    oth_stop_pid(G.agents[0], SIGKILL, 1000);
    G.agents[0] = 0;
    dev_path("k1", "download/image.ckpt", p, sizeof p);
    read_file(p, buf, sizeof buf);
    n = sscanf(buf, "v1 %32s %64s %llu %llu", md5, sha, &size, &staged);
    assert_int_equal(n, 4);
    fprintf(stderr, "  killed with %llu of %llu bytes checkpointed\n", staged, size);
    assert_true(staged > 0);
    assert_true(find("k1", "version", 0, "2.0.0") < 0);

    /* restart: the agent asks for its pending upgrade, the platform answers with the job */
    G.srv.delay_us = 0;
    G.auto_reply = 1;
    n = tsrv_nreq(&G.srv);
    G.agents[0] = start_agent("k1", NULL);
    if (wait_for("k1", "version", 0, "2.0.0", 30000) < 0)
        dump_log("k1");
    assert_true(find("k1", "version", 0, "2.0.0") >= 0);
    assert_true(tsrv_nreq(&G.srv) > n);
    assert_true(tsrv_start_of(&G.srv, n) >= staged); /* resumed, not restarted */
    assert_true(tsrv_start_of(&G.srv, n) > 0);
    assert_true(find("k1", "progress", -1, NULL) < 0);
    assert_true(find("k1", "progress", -2, NULL) < 0);
}

static void test_corrupted_download_reported(void **state)
{
    char p[256], buf[256];
    struct stat st;
    (void)state;
    G.srv.flip_byte = 1000000;
    G.auto_reply = 0;
    G.agents[0] = start_agent("c1", "1.0.0");
    assert_true(wait_for("c1", "get", 0, NULL, 10000) >= 0);
    push("c1", "push-c1");
    if (wait_for("c1", "progress", -3, NULL, 20000) < 0)
        dump_log("c1");
    assert_true(find("c1", "progress", -3, NULL) >= 0);
    sleep_ms(300);
    assert_true(find("c1", "version", 0, "2.0.0") < 0);
    dev_path("c1", "version", p, sizeof p);
    read_file(p, buf, sizeof buf);
    assert_string_equal(buf, "1.0.0\n");
    dev_path("c1", "download/image.bin", p, sizeof p);
    assert_true(stat(p, &st) != 0);
    dev_path("c1", "installed.bin", p, sizeof p);
    assert_true(stat(p, &st) != 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_push_to_three_agents, setup, teardown),
        cmocka_unit_test_setup_teardown(test_killed_agent_resumes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_corrupted_download_reported, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
