/*
 * test_agent: the whole service as a user runs it, over TLS. The harness starts the real
 * mosquitto (with the ota_auth plugin and its TLS listeners) and otad (HTTPS, download
 * links https://localhost:PORT) on free ports with the generated CA; the test creates a
 * product and devices through the API, starts one ota-device agent per device (each its
 * own process, with the secrets the API handed out and `ca` = the generated CA: MQTT over
 * TLS, downloads over HTTPS), uploads a firmware, creates a batch, and watches the batch
 * through the API until it ends:
 *   - a batch to three agents succeeds, and each agent's version file holds the new version
 *   - an agent killed (SIGKILL) mid-download is restarted, resumes from its checkpoint
 *     (its log says so) and the batch succeeds
 *   - a firmware file corrupted on the server is reported as verify_failed
 *   - under policy silent the agent acks and waits (silent_delay) before it upgrades
 *   - an agent with a device certificate and no secret (the certificate listener) upgrades
 *   - agents with trusted_keys (signed firmware) against a server turned attacker: a signed
 *     firmware installs; a firmware whose file and digests were changed on the server, a
 *     stored file changed alone, a product's signed firmware copied to another product, and
 *     a signed older version are each refused with verify_failed and the agent keeps its
 *     version
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "ota_crypto.h"
#include "test_api_util.h"

#include <openssl/evp.h>

#define NDEV 3

typedef struct {
    oth_env env;
    char pk[80];
    char ids[NDEV][32];
    char secrets[NDEV][80];
    int use_cert[NDEV]; /* log in with DIR/dev-ID/dev.crt, dev.key instead of the secret */
    pid_t agents[NDEV];
    unsigned char *fw;
    size_t fw_len;
    char fw_id[80];
    char fw_sha[80];
} fx;

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static void read_file(const char *path, char *buf, size_t cap)
{
    FILE *f = fopen(path, "r");
    size_t n;
    buf[0] = '\0';
    if (!f)
        return;
    n = fread(buf, 1, cap - 1, f);
    buf[n] = '\0';
    fclose(f);
}

static void dev_path(fx *f, int i, const char *name, char *buf, size_t cap)
{
    if (snprintf(buf, cap, "%s/dev-%s/%s", f->env.dir, f->ids[i], name) >= (int)cap)
        fail_msg("path too long");
}

static const char *jstr(json_t *o, const char *k)
{
    const char *s = json_string_value(json_object_get(o, k));
    return s ? s : "";
}

static void create_device(fx *f, int i, const char *id)
{
    oth_resp r;
    char path[160];
    json_t *b = json_pack("{s:s,s:s}", "identifier", id, "deviceName", id);
    snprintf(path, sizeof path, "/api/v1/products/%s/devices", f->pk);
    assert_int_equal(oth_post_json(&f->env, path, b, &r), 0);
    json_decref(b);
    assert_int_equal(r.status, 201);
    snprintf(f->ids[i], sizeof f->ids[i], "%s", id);
    snprintf(f->secrets[i], sizeof f->secrets[i], "%s", jstr(r.json, "deviceSecret"));
    assert_true(f->secrets[i][0]);
    oth_resp_free(&r);
}

/* Writes the agent's folder and config (version file only when version != NULL). */
static pid_t start_agent(fx *f, int i, const char *version, const char *extra)
{
    char d[300], conf[300], vfile[300], ddir[300], log[300];
    FILE *fp;
    char *argv[] = {OTA_DEVICE_BIN, "-c", conf, NULL};
    snprintf(d, sizeof d, "%s/dev-%s", f->env.dir, f->ids[i]);
    mkdir(d, 0700);
    dev_path(f, i, "agent.conf", conf, sizeof conf);
    dev_path(f, i, "version", vfile, sizeof vfile);
    dev_path(f, i, "download", ddir, sizeof ddir);
    dev_path(f, i, "agent.log", log, sizeof log);
    if (version) {
        fp = fopen(vfile, "w");
        fprintf(fp, "%s\n", version);
        fclose(fp);
    }
    fp = fopen(conf, "w");
    assert_non_null(fp);
    if (f->use_cert[i])
        fprintf(fp, "broker = localhost:%d\ncert = %s/dev-%s/dev.crt\nkey = %s/dev-%s/dev.key\n",
                f->env.mqtts_cert_port, f->env.dir, f->ids[i], f->env.dir, f->ids[i]);
    else
        fprintf(fp, "broker = localhost:%d\ndevice_secret = %s\n", f->env.mqtts_port,
                f->secrets[i]);
    fprintf(fp,
            "ca = %s\nproduct_key = %s\nidentifier = %s\n"
            "version_file = %s\ninstall_hook = sh %s/tools/ota-device/install-hook.sh\n"
            "download_dir = %s\nlog_level = debug\nretry_delay_ms = 200\n%s\n",
            f->env.ca_path, f->pk, f->ids[i], vfile, OTA_SOURCE_DIR, ddir, extra ? extra : "");
    fclose(fp);
    return oth_spawn(argv, NULL, 0, log);
}

static void dump_agent(fx *f, int i)
{
    char p[300], buf[6000];
    dev_path(f, i, "agent.log", p, sizeof p);
    read_file(p, buf, sizeof buf);
    fprintf(stderr, "---- agent %s ----\n%s\n", f->ids[i], buf);
}

/* Waits until the API shows the device online with the version. */
static int wait_online(fx *f, int i, const char *version, int timeout_ms)
{
    char path[200];
    snprintf(path, sizeof path, "/api/v1/products/%s/devices/%s", f->pk, f->ids[i]);
    for (int t = 0; t < timeout_ms; t += 100) {
        oth_resp r;
        int ok = 0;
        if (oth_get(&f->env, path, &r) == 0 && r.status == 200 && r.json)
            ok = json_is_true(json_object_get(r.json, "online")) &&
                 strcmp(jstr(r.json, "firmwareVersion"), version) == 0;
        oth_resp_free(&r);
        if (ok)
            return 0;
        sleep_ms(100);
    }
    return -1;
}

/* Uploads len bytes of a fixed pattern (keyed by version) as version; with key, signed by
 * it for f->pk. */
static void upload_fw(fx *f, const char *name, const char *version, size_t len, EVP_PKEY *key)
{
    oth_resp r;
    char sig[89];
    const char *fields[] = {"firmwareName",    name,    "productKey", f->pk,
                            "firmwareVersion", version, key ? "signature" : NULL, sig, NULL};
    free(f->fw);
    f->fw = malloc(len);
    f->fw_len = len;
    for (size_t i = 0; i < len; i++)
        f->fw[i] = (unsigned char)(((i + (unsigned char)version[0]) * 2654435761u) >> 13);
    if (key)
        tapi_sign_b64(key, f->pk, version, f->fw, len, sig);
    assert_int_equal(oth_upload(&f->env, "/api/v1/firmwares", fields, "fw.bin", f->fw, len, &r), 0);
    if (r.status != 201)
        fprintf(stderr, "upload: %ld %s\n", r.status, r.body);
    assert_int_equal(r.status, 201);
    snprintf(f->fw_id, sizeof f->fw_id, "%s", jstr(r.json, "firmwareId"));
    if (!f->fw_id[0] && json_is_integer(json_object_get(r.json, "firmwareId")))
        snprintf(f->fw_id, sizeof f->fw_id, "%lld",
                 (long long)json_integer_value(json_object_get(r.json, "firmwareId")));
    snprintf(f->fw_sha, sizeof f->fw_sha, "%s", jstr(r.json, "sha256"));
    oth_resp_free(&r);
}

/* Creates a batch; identifiers NULL = scope all. Writes the batch id. */
static void create_batch_policy(fx *f, const char *const *identifiers, const char *policy,
                                char *batch_id, size_t cap)
{
    oth_resp r;
    char path[200];
    json_t *b =
        json_pack("{s:s,s:i,s:s,s:i,s:i}", "scope", identifiers ? "directed" : "all",
                  "validityDays", 1, "policy", policy, "timeoutMinutes", 10, "retryTimes", 0);
    if (identifiers) {
        json_t *a = json_array();
        for (int i = 0; identifiers[i]; i++)
            json_array_append_new(a, json_string(identifiers[i]));
        json_object_set_new(b, "identifiers", a);
    }
    snprintf(path, sizeof path, "/api/v1/firmwares/%s/batches", f->fw_id);
    assert_int_equal(oth_post_json(&f->env, path, b, &r), 0);
    json_decref(b);
    if (r.status != 201)
        fprintf(stderr, "batch: %ld %s\n", r.status, r.body);
    assert_int_equal(r.status, 201);
    snprintf(batch_id, cap, "%s", jstr(r.json, "batchId"));
    if (!batch_id[0])
        snprintf(batch_id, cap, "%lld",
                 (long long)json_integer_value(json_object_get(r.json, "batchId")));
    oth_resp_free(&r);
}

static void create_batch(fx *f, const char *const *identifiers, char *batch_id, size_t cap)
{
    create_batch_policy(f, identifiers, "standard", batch_id, cap);
}

/* Polls the batch until it is no longer in_progress; returns its JSON (caller decrefs). */
static json_t *wait_batch(fx *f, const char *batch_id, int timeout_ms)
{
    char path[200];
    snprintf(path, sizeof path, "/api/v1/batches/%s", batch_id);
    for (int t = 0; t < timeout_ms; t += 200) {
        oth_resp r;
        json_t *j = NULL;
        if (oth_get(&f->env, path, &r) == 0 && r.status == 200 && r.json &&
            strcmp(jstr(r.json, "state"), "in_progress") != 0)
            j = json_incref(r.json);
        oth_resp_free(&r);
        if (j)
            return j;
        sleep_ms(200);
    }
    return NULL;
}

/* The batch's device row for identifier (caller decrefs), or NULL. */
static json_t *batch_device(fx *f, const char *batch_id, const char *identifier)
{
    oth_resp r;
    char path[200];
    json_t *found = NULL, *items;
    size_t i;
    json_t *v;
    snprintf(path, sizeof path, "/api/v1/batches/%s/devices?pageSize=1000", batch_id);
    if (oth_get(&f->env, path, &r) != 0 || r.status != 200 || !r.json) {
        oth_resp_free(&r);
        return NULL;
    }
    items = json_object_get(r.json, "items");
    json_array_foreach(items, i, v)
    {
        if (strcmp(jstr(v, "identifier"), identifier) == 0)
            found = json_incref(v);
    }
    oth_resp_free(&r);
    return found;
}

/* Changes byte at of the stored file of the last upload (its digests stay). */
static void corrupt_stored_byte(fx *f, long at)
{
    char p[400];
    FILE *fp;
    snprintf(p, sizeof p, "%s/firmware/%s", f->env.dir, f->fw_sha);
    fp = fopen(p, "r+b");
    assert_non_null(fp);
    fseek(fp, at, SEEK_SET);
    fputc(0x42 ^ f->fw[at], fp);
    fclose(fp);
}

static int setup(void **state)
{
    fx *f = calloc(1, sizeof *f);
    oth_resp r;
    json_t *b;
    char url[96];
    assert_int_equal(oth_env_init(&f->env), 0);
    if (getenv("OTA_KEEP_DIR"))
        f->env.keep_dir = 1;
    assert_int_equal(oth_env_tls(&f->env), 0);
    snprintf(url, sizeof url, "https://localhost:%d", f->env.https_port);
    oth_env_set(&f->env, "OTA_PUBLIC_URL", url);
    if (oth_broker_start(&f->env) != 0 || oth_otad_start(&f->env) != 0) {
        oth_dump_logs(&f->env);
        fail_msg("cannot start the broker and otad");
    }
    b = json_pack("{s:s,s:s}", "productName", "sdk-agent-test", "description", "ota-device");
    assert_int_equal(oth_post_json(&f->env, "/api/v1/products", b, &r), 0);
    json_decref(b);
    assert_int_equal(r.status, 201);
    snprintf(f->pk, sizeof f->pk, "%s", jstr(r.json, "productKey"));
    oth_resp_free(&r);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fx *f = *state;
    for (int i = 0; i < NDEV; i++)
        if (f->agents[i] > 0)
            oth_stop_pid(f->agents[i], SIGTERM, 5000);
    oth_env_cleanup(&f->env);
    free(f->fw);
    free(f);
    return 0;
}

/* A directed batch to ids, watched until it ends (agent 0's log shown when it does not). */
static json_t *batch_to_end(fx *f, const char **ids, int ms, char *batch, size_t cap)
{
    json_t *b;
    create_batch(f, ids, batch, cap);
    b = wait_batch(f, batch, ms);
    if (!b)
        dump_agent(f, 0);
    assert_non_null(b);
    return b;
}

static void test_batch_to_three_agents(void **state)
{
    fx *f = *state;
    char batch[80], p[300], buf[100];
    json_t *b;
    for (int i = 0; i < NDEV; i++) {
        char id[32];
        snprintf(id, sizeof id, "agent-%d", i);
        create_device(f, i, id);
        f->agents[i] = start_agent(f, i, "1.0.0", NULL);
    }
    for (int i = 0; i < NDEV; i++)
        if (wait_online(f, i, "1.0.0", 15000) != 0) {
            dump_agent(f, i);
            oth_dump_logs(&f->env);
            fail_msg("agent %d not online", i);
        }
    upload_fw(f, "agent-fw-2", "2.0.0", 300 * 1024 + 5, NULL);
    create_batch(f, NULL, batch, sizeof batch);
    b = wait_batch(f, batch, 60000);
    if (!b || json_integer_value(json_object_get(b, "succeeded")) != NDEV) {
        for (int i = 0; i < NDEV; i++)
            dump_agent(f, i);
        oth_dump_logs(&f->env);
    }
    assert_non_null(b);
    assert_string_equal(jstr(b, "state"), "completed");
    assert_int_equal(json_integer_value(json_object_get(b, "total")), NDEV);
    assert_int_equal(json_integer_value(json_object_get(b, "succeeded")), NDEV);
    json_decref(b);
    for (int i = 0; i < NDEV; i++) {
        json_t *d = batch_device(f, batch, f->ids[i]);
        assert_non_null(d);
        assert_string_equal(jstr(d, "upgradeState"), "succeeded");
        assert_string_equal(jstr(d, "currentVersion"), "2.0.0");
        json_decref(d);
        dev_path(f, i, "version", p, sizeof p);
        read_file(p, buf, sizeof buf);
        assert_string_equal(buf, "2.0.0\n");
    }
}

static void test_killed_agent_resumes(void **state)
{
    fx *f = *state;
    char batch[80], p[300], buf[16384];
    const char *ids[] = {"resume-1", NULL};
    unsigned long long staged = 0, size = 0;
    char md5[40], sha[80];
    json_t *b, *d;
    create_device(f, 0, "resume-1");
    f->agents[0] = start_agent(f, 0, "1.0.0", "max_download_rate = 1000000");
    assert_int_equal(wait_online(f, 0, "1.0.0", 15000), 0);
    upload_fw(f, "resume-fw", "3.0.0", 4 * 1024 * 1024 + 3, NULL);
    create_batch(f, ids, batch, sizeof batch);
    /* wait until a good part is checkpointed, then kill it hard */
    dev_path(f, 0, "download/image.ckpt", p, sizeof p);
    for (int t = 0; t < 30000 && staged < 1024 * 1024; t += 100) {
        read_file(p, buf, sizeof buf);
        if (sscanf(buf, "v1 %32s %64s %llu %llu", md5, sha, &size, &staged) != 4)
            staged = 0;
        sleep_ms(100);
    }
    if (staged < 1024 * 1024)
        dump_agent(f, 0);
    assert_true(staged >= 1024 * 1024);
    assert_true(staged < size);
    oth_stop_pid(f->agents[0], SIGKILL, 1000);
    f->agents[0] = 0;
    fprintf(stderr, "  killed with %llu of %llu bytes checkpointed\n", staged, size);
    d = batch_device(f, batch, "resume-1");
    assert_non_null(d);
    assert_string_equal(jstr(d, "upgradeState"), "upgrading");
    json_decref(d);

    f->agents[0] = start_agent(f, 0, NULL, NULL); /* full speed now */
    b = wait_batch(f, batch, 60000);
    if (!b || json_integer_value(json_object_get(b, "succeeded")) != 1) {
        dump_agent(f, 0);
        oth_dump_logs(&f->env);
    }
    assert_non_null(b);
    assert_int_equal(json_integer_value(json_object_get(b, "succeeded")), 1);
    json_decref(b);
    dev_path(f, 0, "agent.log", p, sizeof p);
    read_file(p, buf, sizeof buf);
    assert_non_null(strstr(buf, "download resumed at byte"));
}

static void test_corrupted_firmware_is_verify_failure(void **state)
{
    fx *f = *state;
    char batch[80], p[400];
    const char *ids[] = {"corrupt-1", NULL};
    json_t *b, *d;
    create_device(f, 0, "corrupt-1");
    f->agents[0] = start_agent(f, 0, "1.0.0", NULL);
    assert_int_equal(wait_online(f, 0, "1.0.0", 15000), 0);
    upload_fw(f, "corrupt-fw", "4.0.0", 200 * 1024, NULL);
    /* the stored file changes after its digests were recorded */
    corrupt_stored_byte(f, 1000);
    b = batch_to_end(f, ids, 60000, batch, sizeof batch);
    assert_int_equal(json_integer_value(json_object_get(b, "failed")), 1);
    json_decref(b);
    d = batch_device(f, batch, "corrupt-1");
    assert_non_null(d);
    assert_string_equal(jstr(d, "upgradeState"), "failed");
    assert_string_equal(jstr(d, "failReason"), "verify_failed");
    json_decref(d);
    dev_path(f, 0, "version", p, sizeof p);
    {
        char buf[64];
        read_file(p, buf, sizeof buf);
        assert_string_equal(buf, "1.0.0\n");
    }
}

static void test_silent_policy_waits_for_the_device(void **state)
{
    fx *f = *state;
    char batch[80];
    const char *ids[] = {"silent-1", NULL};
    json_t *b, *d;
    int waited_in_to_upgrade = 0;
    create_device(f, 0, "silent-1");
    f->agents[0] = start_agent(f, 0, "1.0.0", "silent_delay = 3");
    assert_int_equal(wait_online(f, 0, "1.0.0", 15000), 0);
    upload_fw(f, "silent-fw", "5.0.0", 64 * 1024, NULL);
    create_batch_policy(f, ids, "silent", batch, sizeof batch);
    /* acked, then left alone for silent_delay seconds: to_upgrade, no progress */
    for (int t = 0; t < 2000; t += 100) {
        d = batch_device(f, batch, "silent-1");
        if (d && strcmp(jstr(d, "upgradeState"), "to_upgrade") == 0 &&
            json_integer_value(json_object_get(d, "progress")) == 0)
            waited_in_to_upgrade++;
        json_decref(d);
        sleep_ms(100);
    }
    assert_true(waited_in_to_upgrade >= 5);
    b = wait_batch(f, batch, 30000);
    if (!b)
        dump_agent(f, 0);
    assert_non_null(b);
    assert_int_equal(json_integer_value(json_object_get(b, "succeeded")), 1);
    json_decref(b);
}

/* A device certificate from the API, written where start_agent looks for it. */
static void issue_cert(fx *f, int i)
{
    oth_resp r;
    char path[200], p[300];
    snprintf(path, sizeof path, "/api/v1/products/%s/devices/%s/certificates", f->pk, f->ids[i]);
    assert_int_equal(oth_http(&f->env, "POST", path, 1, NULL, NULL, 0, NULL, &r), 0);
    assert_int_equal(r.status, 201);
    const char *names[] = {"dev.crt", "certificate", "dev.key", "privateKey"};
    for (int k = 0; k < 4; k += 2) {
        dev_path(f, i, names[k], p, sizeof p);
        FILE *fp = fopen(p, "w");
        assert_non_null(fp);
        fputs(jstr(r.json, names[k + 1]), fp);
        fclose(fp);
    }
    oth_resp_free(&r);
    f->use_cert[i] = 1;
}

static void test_certificate_agent(void **state)
{
    fx *f = *state;
    char batch[80], d[300], log[16384];
    const char *ids[] = {"cert-1", NULL};
    json_t *b;
    create_device(f, 0, "cert-1");
    snprintf(d, sizeof d, "%s/dev-cert-1", f->env.dir);
    mkdir(d, 0700);
    issue_cert(f, 0);
    f->agents[0] = start_agent(f, 0, "1.0.0", NULL);
    if (wait_online(f, 0, "1.0.0", 15000) != 0) {
        dump_agent(f, 0);
        oth_dump_logs(&f->env);
        fail_msg("the certificate agent is not online");
    }
    upload_fw(f, "cert-fw", "6.0.0", 100 * 1024, NULL);
    b = batch_to_end(f, ids, 30000, batch, sizeof batch);
    assert_int_equal(json_integer_value(json_object_get(b, "succeeded")), 1);
    json_decref(b);
    dev_path(f, 0, "agent.log", d, sizeof d);
    read_file(d, log, sizeof log);
    assert_non_null(strstr(log, "connected to localhost:"));
}

/* Reads agent i's log into buf; 1 when it contains what. */
static int agent_log_has(fx *f, int i, const char *what)
{
    static char buf[200000];
    char p[300];
    dev_path(f, i, "agent.log", p, sizeof p);
    read_file(p, buf, sizeof buf);
    return strstr(buf, what) != NULL;
}

/* A directed batch of f->fw_id to identifier, ended; the device row's state and reason must
 * be as given, and agent i's version file must hold version. */
static void signed_batch(fx *f, int i, const char *state, const char *reason, const char *version)
{
    char batch[80], p[300], buf[64];
    const char *ids[] = {f->ids[i], NULL};
    json_t *b = batch_to_end(f, ids, 60000, batch, sizeof batch), *d;
    json_decref(b);
    d = batch_device(f, batch, f->ids[i]);
    assert_non_null(d);
    if (strcmp(jstr(d, "upgradeState"), state) != 0)
        dump_agent(f, i);
    assert_string_equal(jstr(d, "upgradeState"), state);
    assert_string_equal(jstr(d, "failReason"), reason);
    json_decref(d);
    dev_path(f, i, "version", p, sizeof p);
    read_file(p, buf, sizeof buf);
    buf[strcspn(buf, "\n")] = '\0';
    assert_string_equal(buf, version);
}

static void add_signing_key(fx *f, const char *pk, const char *pem)
{
    oth_resp r;
    char path[160];
    json_t *b = json_pack("{s:s,s:s}", "name", "release", "publicKey", pem);
    snprintf(path, sizeof path, "/api/v1/products/%s/signing-keys", pk);
    assert_int_equal(oth_post_json(&f->env, path, b, &r), 0);
    json_decref(b);
    assert_int_equal(r.status, 201);
    oth_resp_free(&r);
}

static void hex_digest(const EVP_MD *md, const void *d, size_t len, char *out)
{
    unsigned char h[32];
    unsigned int n = 0;
    EVP_Digest(d, len, h, &n, md, NULL);
    ota_hex_encode(h, n, out);
}

static void test_signed_firmware_against_a_compromised_server(void **state)
{
    fx *f = *state;
    char pem[1024], kpath[300], extra[400], pka[80], pkb[80], sql[1200], p[400];
    char md5[33], sha[65];
    tapi_ctx db;
    oth_resp r;
    FILE *fp;
    EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    assert_non_null(k);
    db.env = f->env;
    tapi_pubkey_pem(k, pem, sizeof pem);
    snprintf(kpath, sizeof kpath, "%s/release.pub", f->env.dir);
    fp = fopen(kpath, "w");
    assert_non_null(fp);
    fputs(pem, fp);
    fclose(fp);
    snprintf(extra, sizeof extra, "trusted_keys = %s", kpath);
    snprintf(pka, sizeof pka, "%s", f->pk);
    json_t *b = json_pack("{s:s}", "productName", "sdk-agent-test-b");
    assert_int_equal(oth_post_json(&f->env, "/api/v1/products", b, &r), 0);
    json_decref(b);
    assert_int_equal(r.status, 201);
    snprintf(pkb, sizeof pkb, "%s", jstr(r.json, "productKey"));
    oth_resp_free(&r);
    add_signing_key(f, pka, pem);
    add_signing_key(f, pkb, pem);

    /* agent 0: product A at 1.0.0; agent 2: product A at 3.0.0; agent 1: product B */
    create_device(f, 0, "sig-a");
    f->agents[0] = start_agent(f, 0, "1.0.0", extra);
    create_device(f, 2, "sig-a-new");
    f->agents[2] = start_agent(f, 2, "3.0.0", extra);
    assert_int_equal(wait_online(f, 0, "1.0.0", 15000), 0);
    assert_int_equal(wait_online(f, 2, "3.0.0", 15000), 0);
    snprintf(f->pk, sizeof f->pk, "%s", pkb);
    create_device(f, 1, "sig-b");
    f->agents[1] = start_agent(f, 1, "1.0.0", extra);
    assert_int_equal(wait_online(f, 1, "1.0.0", 15000), 0);
    snprintf(f->pk, sizeof f->pk, "%s", pka);

    /* a firmware signed by the trusted key installs */
    upload_fw(f, "signed-2", "2.0.0", 100 * 1024 + 7, k);
    char fw2[80];
    snprintf(fw2, sizeof fw2, "%s", f->fw_id);
    signed_batch(f, 0, "succeeded", "", "2.0.0");

    /* the same signed firmware to a device running 3.0.0: a downgrade */
    signed_batch(f, 2, "failed", "verify_failed", "3.0.0");
    assert_true(agent_log_has(f, 2, "downgrade from 3.0.0 to 2.0.0 refused"));

    /* the server's stored file and its digests changed (an attacker with the server):
     * the manifest the server builds no longer matches the signature */
    upload_fw(f, "signed-4", "4.0.0", 100 * 1024, k);
    for (size_t i = 0; i < f->fw_len; i += 97)
        f->fw[i] ^= 0x5a;
    hex_digest(EVP_md5(), f->fw, f->fw_len, md5);
    hex_digest(EVP_sha256(), f->fw, f->fw_len, sha);
    snprintf(p, sizeof p, "%s/firmware/%s", f->env.dir, sha);
    fp = fopen(p, "wb");
    assert_non_null(fp);
    assert_int_equal(fwrite(f->fw, 1, f->fw_len, fp), f->fw_len);
    fclose(fp);
    snprintf(sql, sizeof sql, "UPDATE firmwares SET md5 = '%s', sha256 = '%s' WHERE id = %s", md5,
             sha, f->fw_id);
    assert_int_equal(tapi_sql(&db, sql), 0);
    signed_batch(f, 0, "failed", "verify_failed", "2.0.0");
    assert_true(agent_log_has(f, 0, "bad signature"));

    /* the stored file changed alone: downloaded, and its SHA-256 is not the signed one */
    upload_fw(f, "signed-5", "5.0.0", 100 * 1024, k);
    corrupt_stored_byte(f, 5000);
    signed_batch(f, 0, "failed", "verify_failed", "2.0.0");
    assert_true(agent_log_has(f, 0, "sha256 mismatch"));

    /* product A's signed firmware copied into product B (row, signature and all) */
    snprintf(sql, sizeof sql,
             "INSERT INTO firmwares(product_id, name, version, description, file_name, size, md5,"
             " sha256, created_ms, signature, key_id) SELECT (SELECT id FROM products WHERE"
             " product_key = '%s'), 'replayed', version, description, file_name, size, md5,"
             " sha256, created_ms, signature, key_id FROM firmwares WHERE id = %s",
             pkb, fw2);
    assert_int_equal(tapi_sql(&db, sql), 0);
    snprintf(p, sizeof p, "/api/v1/firmwares?productKey=%s", pkb);
    assert_int_equal(oth_get(&f->env, p, &r), 0);
    json_t *it = json_array_get(json_object_get(r.json, "items"), 0);
    assert_true(json_is_true(json_object_get(it, "signed")));
    snprintf(f->fw_id, sizeof f->fw_id, "%s", jstr(it, "firmwareId"));
    oth_resp_free(&r);
    snprintf(f->pk, sizeof f->pk, "%s", pkb);
    signed_batch(f, 1, "failed", "verify_failed", "1.0.0");
    snprintf(f->pk, sizeof f->pk, "%s", pka);
    assert_true(agent_log_has(f, 1, "bad signature"));
    EVP_PKEY_free(k);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_batch_to_three_agents, setup, teardown),
        cmocka_unit_test_setup_teardown(test_killed_agent_resumes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_corrupted_firmware_is_verify_failure, setup, teardown),
        cmocka_unit_test_setup_teardown(test_silent_policy_waits_for_the_device, setup, teardown),
        cmocka_unit_test_setup_teardown(test_certificate_agent, setup, teardown),
        cmocka_unit_test_setup_teardown(test_signed_firmware_against_a_compromised_server, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
