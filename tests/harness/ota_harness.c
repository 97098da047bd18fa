/*
 * Integration test harness: real processes on free loopback ports in a temp folder.
 * Starting order is broker, then otad (whose health check needs the broker). Every
 * process started here is stopped by oth_env_cleanup, and dies with the test process
 * anyway (PR_SET_PDEATHSIG), so a failed assertion never leaves a server behind.
 */
#include "ota_harness.h"

#include "ota_crypto.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

void oth_sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

int64_t oth_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* 0 when port can be bound on 127.0.0.1 now. */
static int port_bindable(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {0};
    if (fd < 0)
        return -1;
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int rc = bind(fd, (struct sockaddr *)&a, sizeof a);
    close(fd);
    return rc == 0 ? 0 : -1;
}

/* A port below the kernel's ephemeral range: a port the kernel hands out (bind to 0) is also
 * what every outgoing connection takes as its source port, so under load (a benchmark's
 * hundred thousand loopback connections, parallel tests) it was often taken again between
 * this check and the server's bind ("Address already in use"). Below the range only
 * listeners compete, and the choice is random. */
int oth_free_port(void)
{
    int lo = 32768;
    FILE *f = fopen("/proc/sys/net/ipv4/ip_local_port_range", "r");
    if (f) {
        if (fscanf(f, "%d", &lo) != 1)
            lo = 32768;
        fclose(f);
    }
    if (lo > 12000) {
        for (int i = 0; i < 200; i++) {
            unsigned char r[2];
            if (ota_random_bytes(r, sizeof r) != 0)
                break;
            int port = 10000 + (int)(((unsigned)r[0] << 8 | r[1]) % (unsigned)(lo - 10000));
            if (port_bindable(port) == 0)
                return port;
        }
    }
    /* fall back to what the kernel gives */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {0};
    socklen_t len = sizeof a;
    if (fd < 0)
        return -1;
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(fd, (struct sockaddr *)&a, sizeof a) != 0 ||
        getsockname(fd, (struct sockaddr *)&a, &len) != 0) {
        close(fd);
        return -1;
    }
    close(fd);
    return ntohs(a.sin_port);
}

int oth_wait_tcp(int port, int timeout_ms)
{
    for (int waited = 0; waited <= timeout_ms; waited += 50) {
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in a = {0};
        a.sin_family = AF_INET;
        a.sin_port = htons((uint16_t)port);
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        int ok = fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof a) == 0;
        if (fd >= 0)
            close(fd);
        if (ok)
            return 0;
        oth_sleep_ms(50);
    }
    return -1;
}

pid_t oth_spawn(char *const argv[], char *const env_add[], int n_env, const char *log_path)
{
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid != 0)
        return pid;
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent)
        _exit(127);
    for (int i = 0; i < n_env; i++)
        putenv(env_add[i]);
    if (log_path) {
        int fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (fd >= 0) {
            dup2(fd, STDOUT_FILENO);
            dup2(fd, STDERR_FILENO);
            close(fd);
        }
    }
    execv(argv[0], argv);
    fprintf(stderr, "exec %s: %s\n", argv[0], strerror(errno));
    _exit(127);
}

int oth_stop_pid(pid_t pid, int sig, int timeout_ms)
{
    int status;
    if (pid <= 0)
        return 0;
    kill(pid, sig);
    for (int waited = 0; waited < timeout_ms; waited += 20) {
        pid_t r = waitpid(pid, &status, WNOHANG);
        if (r == pid || (r < 0 && errno == ECHILD))
            return 0;
        oth_sleep_ms(20);
    }
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
    return -1;
}

/* --- PostgreSQL: one fresh database per test env when OTA_TEST_PG_URL is set ------------ */

/* Runs `psql -d url -c sql` (no shell), its output discarded; 0 when it exited 0. */
static int run_psql(const char *url, const char *sql)
{
    int status;
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        int fd = open("/dev/null", O_WRONLY);
        if (fd >= 0) {
            dup2(fd, STDOUT_FILENO);
            close(fd);
        }
        execlp("psql", "psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", url, "-c", sql,
               (char *)NULL);
        _exit(127);
    }
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            return -1;
    return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -1;
}

/* out = the postgresql:// URL url with its database name replaced by db (query kept).
 * Returns 0, or -1 when url is not such a URL or out is too small. */
static int pg_url_with_db(const char *url, const char *db, char *out, size_t outlen)
{
    if (strncmp(url, "postgresql://", 13) != 0 && strncmp(url, "postgres://", 11) != 0)
        return -1;
    const char *auth = strstr(url, "://") + 3;
    const char *rest = auth + strcspn(auth, "/?"); /* "/dbname?query", "?query" or "" */
    const char *query = strchr(rest, '?');
    if (!query)
        query = rest + strlen(rest);
    int n = snprintf(out, outlen, "%.*s/%s%s", (int)(rest - url), url, db, query);
    return n > 0 && (size_t)n < outlen ? 0 : -1;
}

/* Databases created and not dropped yet. They are dropped at exit too, so a test that fails
 * between oth_env_init and oth_env_cleanup leaves none behind (unless OTH_KEEP is set). */
#define PG_TRACK 64
static char pg_created[PG_TRACK][40];
static pid_t pg_owner;

static void pg_drop(const char *db)
{
    const char *pg = getenv("OTA_TEST_PG_URL");
    char q[96];
    snprintf(q, sizeof q, "DROP DATABASE IF EXISTS %s WITH (FORCE)", db);
    if (!pg || run_psql(pg, q) != 0)
        fprintf(stderr, "harness: could not drop PostgreSQL database %s\n", db);
    for (int i = 0; i < PG_TRACK; i++)
        if (strcmp(pg_created[i], db) == 0)
            pg_created[i][0] = '\0';
}

static void pg_drop_leftovers(void)
{
    if (getpid() != pg_owner || getenv("OTH_KEEP"))
        return; /* a forked child exiting is not the test ending */
    for (int i = 0; i < PG_TRACK; i++)
        if (pg_created[i][0])
            pg_drop(pg_created[i]);
}

/* Creates the env's database and points otad's OTA_DB at it. 0 or -1. */
static int pg_db_create(oth_env *e, const char *admin_url)
{
    char hex[17], q[96];
    if (ota_random_hex(8, hex) != 0)
        return -1;
    snprintf(e->pg_db, sizeof e->pg_db, "ota_%s", hex);
    if (pg_url_with_db(admin_url, e->pg_db, e->pg_url, sizeof e->pg_url) != 0) {
        fprintf(stderr, "harness: OTA_TEST_PG_URL must be a postgresql:// URL\n");
        e->pg_db[0] = '\0';
        return -1;
    }
    snprintf(q, sizeof q, "CREATE DATABASE %s", e->pg_db);
    if (run_psql(admin_url, q) != 0) {
        fprintf(stderr, "harness: cannot create database %s through OTA_TEST_PG_URL\n", e->pg_db);
        e->pg_db[0] = '\0';
        return -1;
    }
    if (!pg_owner) {
        pg_owner = getpid();
        atexit(pg_drop_leftovers);
    }
    for (int i = 0; i < PG_TRACK; i++) {
        if (!pg_created[i][0]) {
            snprintf(pg_created[i], sizeof pg_created[i], "%s", e->pg_db);
            break;
        }
    }
    oth_env_set(e, "OTA_DB", e->pg_url);
    return 0;
}

int oth_pg_sql(oth_env *e, const char *sql)
{
    if (!e->pg_db[0])
        return -1;
    return run_psql(e->pg_url, sql);
}

int oth_env_init(oth_env *e)
{
    char keydir[320], keypath[340];
    memset(e, 0, sizeof *e);
    snprintf(e->dir, sizeof e->dir, "/tmp/ota-test-XXXXXX");
    if (!mkdtemp(e->dir))
        return -1;
    e->http_port = oth_free_port();
    e->mqtt_port = oth_free_port();
    while (e->mqtt_port == e->http_port)
        e->mqtt_port = oth_free_port();
    if (e->http_port <= 0 || e->mqtt_port <= 0)
        return -1;
    snprintf(e->base_url, sizeof e->base_url, "http://127.0.0.1:%d", e->http_port);
    if (ota_random_hex(20, e->admin_token) != 0)
        return -1;
    snprintf(keydir, sizeof keydir, "%s/keys", e->dir);
    mkdir(keydir, 0700);
    snprintf(keypath, sizeof keypath, "%s/server.key", keydir);
    if (ota_key_load(keypath, 1, e->key) != 0)
        return -1;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const char *pg = getenv("OTA_TEST_PG_URL");
    if (pg && *pg && pg_db_create(e, pg) != 0)
        return -1;
    /* OTA_TEST_BLOB=postgresql: firmware bytes in the env's database (otad's OTA_BLOB;
     * scripts/pg-test.sh runs the firmware and download tests so once more) */
    const char *blob = getenv("OTA_TEST_BLOB");
    if (blob && *blob)
        oth_env_set(e, "OTA_BLOB", blob);
    return 0;
}

int oth_env_tls(oth_env *e)
{
    char cmd[1024], v[64];
    e->https_port = oth_free_port();
    e->mqtts_port = oth_free_port();
    e->mqtts_cert_port = oth_free_port();
    if (e->https_port <= 0 || e->mqtts_port <= 0 || e->mqtts_cert_port <= 0)
        return -1;
    snprintf(v, sizeof v, "127.0.0.1:%d", e->https_port);
    oth_env_set(e, "OTA_HTTPS_ADDR", v);
    snprintf(v, sizeof v, "127.0.0.1:%d", e->mqtts_port);
    oth_env_set(e, "OTA_MQTTS_ADDR", v);
    snprintf(v, sizeof v, "127.0.0.1:%d", e->mqtts_cert_port);
    oth_env_set(e, "OTA_MQTTS_CERT_ADDR", v);
    snprintf(e->ca_path, sizeof e->ca_path, "%s/keys/ca.pem", e->dir);
    snprintf(cmd, sizeof cmd,
             "OTA_DATA_DIR=%s OTA_ADMIN_TOKEN=%s OTA_HTTPS_ADDR=127.0.0.1:%d %s %s/server/otad "
             "--init-only > %s/init.log 2>&1",
             e->dir, e->admin_token, e->https_port, e->pg_url[0] ? "OTA_DB=$OTH_PG_URL" : "",
             OTA_BUILD_DIR, e->dir);
    if (e->pg_url[0])
        setenv("OTH_PG_URL", e->pg_url, 1);
    if (system(cmd) != 0) {
        fprintf(stderr, "harness: otad --init-only failed\n");
        snprintf(cmd, sizeof cmd, "%s/init.log", e->dir);
        oth_dump_file(cmd, 4000);
        return -1;
    }
    return 0;
}

void oth_env_set(oth_env *e, const char *name, const char *value)
{
    size_t len = strlen(name) + strlen(value) + 2;
    char *kv = malloc(len);
    if (!kv)
        abort();
    snprintf(kv, len, "%s=%s", name, value);
    for (int i = 0; i < e->n_extra_env; i++) {
        if (strncmp(e->extra_env[i], kv, strlen(name) + 1) == 0) {
            free(e->extra_env[i]);
            e->extra_env[i] = kv;
            return;
        }
    }
    if (e->n_extra_env < OTH_MAX_ENV)
        e->extra_env[e->n_extra_env++] = kv;
    else
        free(kv);
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

void oth_env_cleanup(oth_env *e)
{
    oth_otad_stop(e, SIGTERM);
    oth_broker_stop(e, SIGTERM);
    if (!e->keep_dir && e->dir[0] && !getenv("OTH_KEEP"))
        nftw(e->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    if (e->pg_db[0]) {
        if (e->keep_dir || getenv("OTH_KEEP")) {
            fprintf(stderr, "harness: kept PostgreSQL database %s\n", e->pg_db);
            for (int i = 0; i < PG_TRACK; i++) /* not dropped at exit either */
                if (strcmp(pg_created[i], e->pg_db) == 0)
                    pg_created[i][0] = '\0';
        } else {
            pg_drop(e->pg_db);
        }
        e->pg_db[0] = '\0';
    }
    for (int i = 0; i < e->n_extra_env; i++)
        free(e->extra_env[i]);
    e->n_extra_env = 0;
}

int oth_broker_start(oth_env *e)
{
    char cmd[1024], conf[320], log[320], port[16];
    snprintf(conf, sizeof conf, "%s/mosquitto.conf", e->dir);
    snprintf(log, sizeof log, "%s/broker.log", e->dir);
    snprintf(port, sizeof port, "%d", e->mqtt_port);
    char tls[128] = "OTA_MQTTS_ADDR= OTA_MQTTS_CERT_ADDR=";
    if (e->mqtts_port > 0)
        snprintf(tls, sizeof tls, "OTA_MQTTS_ADDR=127.0.0.1:%d OTA_MQTTS_CERT_ADDR=127.0.0.1:%d",
                 e->mqtts_port, e->mqtts_cert_port);
    snprintf(cmd, sizeof cmd, "%s bash %s/scripts/broker-conf.sh %s 127.0.0.1 %s %s/broker-plugin/ota_auth.so > %s",
             tls, OTA_SOURCE_DIR, e->dir, port, OTA_BUILD_DIR, conf);
    if (system(cmd) != 0) {
        fprintf(stderr, "harness: broker-conf.sh failed\n");
        return -1;
    }
    char *argv[] = {"/usr/sbin/mosquitto", "-c", conf, NULL};
    e->broker_pid = oth_spawn(argv, NULL, 0, log);
    if (e->broker_pid < 0 || oth_wait_tcp(e->mqtt_port, 10000) != 0) {
        fprintf(stderr, "harness: broker did not start\n");
        oth_dump_logs(e);
        return -1;
    }
    return 0;
}

int oth_broker_stop(oth_env *e, int sig)
{
    int rc = oth_stop_pid(e->broker_pid, sig, 5000);
    e->broker_pid = 0;
    return rc;
}

/* Spawns otad with e's environment on http_port, as OTA_INSTANCE=instance when instance is
 * not NULL, its output into log; waits until GET /api/v1/health answers 200 (at most 20 s).
 * Returns its pid, or -1 (it exited, or never became healthy: then it is killed). */
static pid_t otad_spawn(oth_env *e, int http_port, const char *instance, const char *log)
{
    char *env[OTH_MAX_ENV + 10];
    char addr[64], pub[96], mqtt[64], dir[300], tok[128], bin[512], inst[64], url[128];
    char https_off[] = "OTA_HTTPS_ADDR=";
    int n = 0;
    snprintf(addr, sizeof addr, "OTA_HTTP_ADDR=127.0.0.1:%d", http_port);
    snprintf(pub, sizeof pub, "OTA_PUBLIC_URL=http://127.0.0.1:%d", http_port);
    snprintf(mqtt, sizeof mqtt, "OTA_MQTT_ADDR=127.0.0.1:%d", e->mqtt_port);
    snprintf(dir, sizeof dir, "OTA_DATA_DIR=%s", e->dir);
    snprintf(tok, sizeof tok, "OTA_ADMIN_TOKEN=%s", e->admin_token);
    snprintf(bin, sizeof bin, "%s/server/otad", OTA_BUILD_DIR);
    env[n++] = addr;
    env[n++] = pub;
    env[n++] = mqtt;
    env[n++] = dir;
    env[n++] = tok;
    /* no HTTPS unless oth_env_tls (otad's default port would collide between tests);
     * a second instance never takes the first one's HTTPS port */
    env[n++] = https_off;
    /* every test client is 127.0.0.1: no per-address limit unless the test sets one (it
     * comes later in env, so it wins) */
    env[n++] = (char *)"OTA_HTTP_MAX_PER_ADDRESS=0";
    for (int i = 0; i < e->n_extra_env; i++)
        if (!instance || (strncmp(e->extra_env[i], "OTA_INSTANCE=", 13) != 0 &&
                          strncmp(e->extra_env[i], "OTA_HTTPS_ADDR=", 15) != 0))
            env[n++] = e->extra_env[i];
    if (instance) {
        snprintf(inst, sizeof inst, "OTA_INSTANCE=%s", instance);
        env[n++] = inst;
    }
    char *argv[] = {bin, NULL};
    pid_t pid = oth_spawn(argv, env, n, log);
    if (pid < 0)
        return -1;
    snprintf(url, sizeof url, "http://127.0.0.1:%d/api/v1/health", http_port);
    for (int waited = 0; waited < 20000; waited += 100) {
        oth_resp r;
        int status;
        if (waitpid(pid, &status, WNOHANG) == pid) {
            fprintf(stderr, "harness: otad exited during start\n");
            oth_dump_file(log, 6000);
            return -1;
        }
        if (oth_http_url("GET", url, NULL, NULL, NULL, 0, NULL, &r) == 0 && r.status == 200) {
            oth_resp_free(&r);
            return pid;
        }
        oth_resp_free(&r);
        oth_sleep_ms(100);
    }
    fprintf(stderr, "harness: otad not healthy after 20 s\n");
    oth_dump_file(log, 6000);
    oth_stop_pid(pid, SIGKILL, 1000);
    return -1;
}

int oth_otad_start(oth_env *e)
{
    char log[320];
    snprintf(log, sizeof log, "%s/otad.log", e->dir);
    e->otad_pid = otad_spawn(e, e->http_port, NULL, log);
    if (e->otad_pid < 0) {
        e->otad_pid = 0;
        oth_dump_logs(e);
        return -1;
    }
    return 0;
}

pid_t oth_otad_start_instance(oth_env *e, const char *instance, char *base_url, size_t len)
{
    char log[320];
    int port = oth_free_port();
    snprintf(log, sizeof log, "%s/otad-%s.log", e->dir, instance);
    snprintf(base_url, len, "http://127.0.0.1:%d", port);
    return port > 0 ? otad_spawn(e, port, instance, log) : -1;
}

int oth_otad_stop(oth_env *e, int sig)
{
    int rc = oth_stop_pid(e->otad_pid, sig, 10000);
    e->otad_pid = 0;
    return rc;
}

void oth_dump_file(const char *path, size_t max)
{
    FILE *f = fopen(path, "r");
    char buf[8192];
    if (!f)
        return;
    if (max > sizeof buf - 1)
        max = sizeof buf - 1;
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, size > (long)max ? size - (long)max : 0, SEEK_SET);
    size_t n = fread(buf, 1, max, f);
    buf[n] = '\0';
    fclose(f);
    fprintf(stderr, "----- %s (last %zu bytes) -----\n%s\n", path, n, buf);
}

void oth_dump_logs(oth_env *e)
{
    char p[320];
    snprintf(p, sizeof p, "%s/otad.log", e->dir);
    oth_dump_file(p, 6000);
    snprintf(p, sizeof p, "%s/broker.log", e->dir);
    oth_dump_file(p, 2000);
}

int oth_device_secret(oth_env *e, const char *product_key, const char *identifier, char *out)
{
    return ota_secret_device(e->key, product_key, identifier, out, 33);
}

/* --- HTTP ------------------------------------------------------------------------------ */

typedef struct {
    char *buf;
    size_t len, cap;
} growbuf;

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *ud)
{
    growbuf *g = ud;
    size_t n = size * nmemb;
    if (g->len + n + 1 > g->cap) {
        size_t cap = g->cap ? g->cap : 4096;
        while (cap < g->len + n + 1)
            cap *= 2;
        char *nb = realloc(g->buf, cap);
        if (!nb)
            return 0;
        g->buf = nb;
        g->cap = cap;
    }
    memcpy(g->buf + g->len, ptr, n);
    g->len += n;
    g->buf[g->len] = '\0';
    return n;
}

static size_t on_header(char *ptr, size_t size, size_t nmemb, void *ud)
{
    oth_resp *r = ud;
    size_t n = size * nmemb, have = strlen(r->headers);
    if (have + n < sizeof r->headers) {
        memcpy(r->headers + have, ptr, n);
        r->headers[have + n] = '\0';
    }
    return n;
}

static int perform(CURL *c, oth_resp *r, struct curl_slist *hdrs)
{
    growbuf g = {0};
    char *ct = NULL;
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &g);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, r);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 120L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    CURLcode rc = curl_easy_perform(c);
    if (rc == CURLE_OK) {
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
        if (curl_easy_getinfo(c, CURLINFO_CONTENT_TYPE, &ct) == CURLE_OK && ct)
            snprintf(r->content_type, sizeof r->content_type, "%s", ct);
    }
    r->body = g.buf ? g.buf : calloc(1, 1);
    r->len = g.len;
    if (r->body && r->len > 0 && strstr(r->content_type, "json"))
        r->json = json_loadb(r->body, r->len, 0, NULL);
    curl_slist_free_all(hdrs);
    curl_easy_cleanup(c);
    return rc == CURLE_OK ? 0 : -1;
}

int oth_http_url(const char *method, const char *url, const char *token, const char *content_type,
                 const void *body, size_t len, const char *const *extra_headers, oth_resp *r)
{
    struct curl_slist *hdrs = NULL;
    char line[256];
    memset(r, 0, sizeof *r);
    CURL *c = curl_easy_init();
    if (!c)
        return -1;
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    if (strcmp(method, "HEAD") == 0)
        curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    if (token) {
        snprintf(line, sizeof line, "Authorization: Bearer %s", token);
        hdrs = curl_slist_append(hdrs, line);
    }
    if (content_type) {
        snprintf(line, sizeof line, "Content-Type: %s", content_type);
        hdrs = curl_slist_append(hdrs, line);
    }
    hdrs = curl_slist_append(hdrs, "Expect:");
    for (int i = 0; extra_headers && extra_headers[i]; i++)
        hdrs = curl_slist_append(hdrs, extra_headers[i]);
    if (body) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
    }
    return perform(c, r, hdrs);
}

int oth_http(oth_env *e, const char *method, const char *path, int auth, const char *content_type,
             const void *body, size_t len, const char *const *extra_headers, oth_resp *r)
{
    char url[2048];
    snprintf(url, sizeof url, "%s%s", e->base_url, path);
    return oth_http_url(method, url, auth ? e->admin_token : NULL, content_type, body, len,
                        extra_headers, r);
}

int oth_get(oth_env *e, const char *path, oth_resp *r)
{
    return oth_http(e, "GET", path, 1, NULL, NULL, 0, NULL, r);
}

int oth_partitions_held(const char *base_url, const char *token, const char *name, int *leases)
{
    char url[512];
    oth_resp r;
    int held = -1;
    snprintf(url, sizeof url, "%s/api/v1/cluster", base_url);
    if (oth_http_url("GET", url, token, NULL, NULL, 0, NULL, &r) == 0 && r.status == 200) {
        int with = json_is_true(json_object_get(r.json, "leases"));
        json_t *row;
        size_t i;
        if (leases)
            *leases = with;
        held = with ? 0 : (int)json_integer_value(json_object_get(r.json, "partitions"));
        json_array_foreach(json_object_get(r.json, "leaseTable"), i, row)
        {
            const char *owner = json_string_value(json_object_get(row, "owner"));
            held += owner && strcmp(owner, name) == 0 && json_is_true(json_object_get(row, "valid"));
        }
    }
    oth_resp_free(&r);
    return held;
}

double oth_metric(const char *base_url, const char *token, const char *name)
{
    char url[512];
    oth_resp r;
    double v = -1;
    size_t n = strlen(name);
    snprintf(url, sizeof url, "%s/metrics", base_url);
    if (oth_http_url("GET", url, token, NULL, NULL, 0, NULL, &r) == 0 && r.status == 200 && r.body) {
        for (const char *l = r.body; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
            if (strncmp(l, name, n) == 0 && l[n] == ' ') {
                v = strtod(l + n + 1, NULL);
                break;
            }
        }
    }
    oth_resp_free(&r);
    return v;
}

int oth_post_json(oth_env *e, const char *path, json_t *json_body, oth_resp *r)
{
    char *s = json_body ? json_dumps(json_body, JSON_COMPACT) : NULL;
    int rc = oth_http(e, "POST", path, 1, "application/json", s ? s : "", s ? strlen(s) : 0, NULL, r);
    free(s);
    return rc;
}

int oth_upload(oth_env *e, const char *path, const char *const *fields, const char *file_name,
               const void *data, size_t len, oth_resp *r)
{
    char url[2048], line[256];
    struct curl_slist *hdrs = NULL;
    memset(r, 0, sizeof *r);
    CURL *c = curl_easy_init();
    if (!c)
        return -1;
    curl_mime *mime = curl_mime_init(c);
    for (int i = 0; fields && fields[i] && fields[i + 1]; i += 2) {
        curl_mimepart *p = curl_mime_addpart(mime);
        curl_mime_name(p, fields[i]);
        curl_mime_data(p, fields[i + 1], CURL_ZERO_TERMINATED);
    }
    if (file_name) {
        curl_mimepart *p = curl_mime_addpart(mime);
        curl_mime_name(p, "file");
        curl_mime_filename(p, file_name);
        curl_mime_type(p, "application/octet-stream");
        curl_mime_data(p, data, len);
    }
    snprintf(url, sizeof url, "%s%s", e->base_url, path);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_MIMEPOST, mime);
    snprintf(line, sizeof line, "Authorization: Bearer %s", e->admin_token);
    hdrs = curl_slist_append(hdrs, line);
    hdrs = curl_slist_append(hdrs, "Expect:");
    int rc = perform(c, r, hdrs);
    curl_mime_free(mime);
    return rc;
}

void oth_resp_free(oth_resp *r)
{
    free(r->body);
    if (r->json)
        json_decref(r->json);
    r->body = NULL;
    r->json = NULL;
}

static const char *err_member(const oth_resp *r, const char *name)
{
    json_t *err = r->json ? json_object_get(r->json, "error") : NULL;
    const char *s = err ? json_string_value(json_object_get(err, name)) : NULL;
    return s ? s : "";
}

const char *oth_err_code(const oth_resp *r)
{
    return err_member(r, "code");
}

const char *oth_err_field(const oth_resp *r)
{
    return err_member(r, "field");
}
