/*
 * otad: the lifecycle of the server process. Start order: data folder and keys, store,
 * MQTT client and batch engine, webhook deliveries, HTTP. Stop order is the reverse. Signals only set a flag
 * that the main thread polls; nothing else runs in a handler.
 *
 * The data folder holds the server key, from which every device secret and otad's broker
 * password derive, so it is private to otad's user (docs/security.md): files are created
 * under umask 077, folders 0700 and secrets 0600. At each start, folders and files that
 * others may read are repaired with a warning, except the key itself: a key others could
 * read may already be known, so otad refuses to start on it, as ssh does.
 */
#include "otad.h"

#include "bus.h"
#include "http/http.h"
#include "http/firmware_files.h"
#include "store/store.h"
#include "webhook/webhook.h"

#include "ota_crypto.h"
#include "ota_log.h"
#include "ota_pki.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#ifndef OTA_CONSOLE_SRC_DIR
#define OTA_CONSOLE_SRC_DIR "server/console"
#endif

static volatile sig_atomic_t stop_flag;

static void on_signal(int sig)
{
    (void)sig;
    stop_flag = 1;
}

static int mkdir_p(const char *path, mode_t mode)
{
    char tmp[CFG_STR_MAX + 64];
    snprintf(tmp, sizeof tmp, "%s", path);
    for (char *p = tmp + 1; *p; p++) {
        if (*p == '/') {
            *p = '\0';
            if (mkdir(tmp, mode) != 0 && errno != EEXIST)
                return -1;
            *p = '/';
        }
    }
    if (mkdir(tmp, mode) != 0 && errno != EEXIST)
        return -1;
    return 0;
}

/* Takes away group and other access from path when it has any (mode 0700 for a folder,
 * 0600 for a file), with a warning. A missing path is fine. Returns 0, or -1 (logged) when
 * it cannot be repaired. */
static int make_private(const char *path)
{
    struct stat st;
    if (lstat(path, &st) != 0)
        return errno == ENOENT ? 0 : -1;
    if (S_ISLNK(st.st_mode) || (st.st_mode & 077) == 0)
        return 0;
    mode_t want = S_ISDIR(st.st_mode) ? 0700 : 0600;
    OTA_WARN("otad: %s had mode %04o (others could read it); setting %04o", path,
             (unsigned)(st.st_mode & 07777), (unsigned)want);
    if (chmod(path, want) != 0) {
        OTA_ERROR("otad: cannot chmod %s: %s", path, strerror(errno));
        return -1;
    }
    return 0;
}

/* Reads or creates DATA/keys/admin.token (0600). Returns 0 and the token in out; *created
 * says whether it was made now (then the caller shows it once). */
static int load_token(const char *dir, char *out, size_t outlen, int *created)
{
    *created = 0;
    char path[CFG_STR_MAX + 32], tmp[CFG_STR_MAX + 40];
    snprintf(path, sizeof path, "%s/keys/admin.token", dir);
    FILE *f = fopen(path, "r");
    if (f) {
        char buf[256] = {0};
        size_t n = fread(buf, 1, sizeof buf - 1, f);
        fclose(f);
        while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r' || buf[n - 1] == ' '))
            buf[--n] = '\0';
        if (n >= 8) {
            snprintf(out, outlen, "%s", buf);
            return 0;
        }
        OTA_WARN("otad: %s is empty or too short; making a new token", path);
    }
    char tok[65];
    if (ota_random_hex(24, tok) != 0)
        return -1;
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return -1;
    size_t len = strlen(tok);
    int ok = write(fd, tok, len) == (ssize_t)len && write(fd, "\n", 1) == 1 && fsync(fd) == 0;
    close(fd);
    if (!ok || rename(tmp, path) != 0) {
        unlink(tmp);
        return -1;
    }
    snprintf(out, outlen, "%s", tok);
    *created = 1;
    return 0;
}

typedef struct {
    http_app app;
    char token[256];
    int token_created; /* keys/admin.token was made by this start */
} otad_state;

/* Adds the host of a host:port setting to names (the storage is host, HOST_CAP each). */
#define HOST_CAP 256
static void add_host(const char *addr, char (*host)[HOST_CAP], const char **names, size_t *n)
{
    int port;
    if (*n < OTA_PKI_MAX_NAMES && addr[0] &&
        cfg_split_addr(addr, host[*n], HOST_CAP, &port) == 0)
        names[*n] = host[*n], (*n)++;
}

/* The TLS files: the operator's (OTA_TLS_CERT/KEY/CA) or the generated ones in DATA/keys,
 * where the service's CA (device certificates) always lives. The generated server
 * certificate names localhost, 127.0.0.1, ::1, the hosts of OTA_HTTPS_ADDR,
 * OTA_MQTTS_ADDR, OTA_MQTTS_CERT_ADDR and OTA_PUBLIC_URL, the machine's host name and
 * OTA_TLS_NAMES; it is issued again when one is missing. Returns 0, or -1 (logged). */
static int tls_prepare(const cfg_t *cfg, http_app *app)
{
    char host[OTA_PKI_MAX_NAMES][HOST_CAP], extra[sizeof cfg->tls_names], err[256];
    const char *names[OTA_PKI_MAX_NAMES];
    size_t n = 0;
    int own = cfg->tls_cert[0] != '\0', changed = 0;
    if (own != (cfg->tls_key[0] != '\0')) {
        OTA_ERROR("otad: OTA_TLS_CERT and OTA_TLS_KEY go together: give both or neither");
        return -1;
    }
    snprintf(app->keys_dir, sizeof app->keys_dir, "%s/keys", cfg->data_dir);
    add_host(cfg->https_addr, host, names, &n);
    add_host(cfg->mqtts_addr, host, names, &n);
    add_host(cfg->mqtts_cert_addr, host, names, &n);
    if (n < OTA_PKI_MAX_NAMES) { /* the public URL's host: https://HOST[:port]/... */
        const char *h = strstr(cfg->public_url, "://");
        h = h ? h + 3 : cfg->public_url;
        size_t len = *h == '[' ? strcspn(h + 1, "]") : strcspn(h, ":/");
        if (*h == '[')
            h++;
        if (len > 0 && len < HOST_CAP) {
            memcpy(host[n], h, len);
            host[n][len] = '\0';
            names[n] = host[n];
            n++;
        }
    }
    if (n < OTA_PKI_MAX_NAMES && gethostname(host[n], HOST_CAP) == 0) {
        host[n][HOST_CAP - 1] = '\0';
        names[n] = host[n];
        n++;
    }
    snprintf(extra, sizeof extra, "%s", cfg->tls_names);
    for (char *t = extra; *t && n < OTA_PKI_MAX_NAMES;) { /* "a,b,c" */
        char *comma = strchr(t, ',');
        if (comma)
            *comma = '\0';
        if (*t)
            names[n++] = t;
        t = comma ? comma + 1 : t + strlen(t);
    }
    if (ota_pki_ensure(app->keys_dir, !own, names, n, &changed, err, sizeof err) != 0) {
        OTA_ERROR("otad: TLS: %s", err);
        return -1;
    }
    if (own) {
        snprintf(app->tls_cert, sizeof app->tls_cert, "%s", cfg->tls_cert);
        snprintf(app->tls_key, sizeof app->tls_key, "%s", cfg->tls_key);
    } else {
        snprintf(app->tls_cert, sizeof app->tls_cert, "%s/" OTA_PKI_CERT, app->keys_dir);
        snprintf(app->tls_key, sizeof app->tls_key, "%s/" OTA_PKI_KEY, app->keys_dir);
    }
    if (cfg->tls_ca[0])
        snprintf(app->tls_ca, sizeof app->tls_ca, "%s", cfg->tls_ca);
    else
        snprintf(app->tls_ca, sizeof app->tls_ca, "%s/" OTA_PKI_CA, app->keys_dir);
    if (changed)
        OTA_INFO("otad: TLS: wrote the %s in %s (devices trust %s)",
                 own ? "service CA" : "service CA and server certificate", app->keys_dir,
                 app->tls_ca);
    return 0;
}

/* A plain listener on a non-loopback address needs OTA_ALLOW_PLAINTEXT=1, and is then
 * announced loudly. Returns 0, or -1 (logged). */
static int plaintext_check(const cfg_t *cfg)
{
    char host[HOST_CAP];
    int port;
    if (cfg_split_addr(cfg->http_addr, host, sizeof host, &port) != 0 || cfg_host_is_loopback(host))
        return 0;
    if (!cfg->allow_plaintext) {
        OTA_ERROR("otad: refusing plain HTTP on the non-loopback address %s: admin tokens and "
                  "firmware would cross the network in clear. Use OTA_HTTPS_ADDR for remote "
                  "clients and keep OTA_HTTP_ADDR on 127.0.0.1, or set OTA_ALLOW_PLAINTEXT=1 "
                  "(docs/security.md)",
                  cfg->http_addr);
        return -1;
    }
    OTA_WARN("otad: WARNING: plain HTTP on %s (OTA_ALLOW_PLAINTEXT=1): tokens, device "
             "downloads and the console travel unencrypted (docs/security.md)",
             cfg->http_addr);
    return 0;
}

/* Tells the operator about the admin token: the token itself only when it was just
 * created (so it never reaches a journal again on restarts), otherwise where it is. */
static void show_token(const cfg_t *cfg, const otad_state *st)
{
    if (cfg->admin_token[0])
        printf("admin token: from OTA_ADMIN_TOKEN\n");
    else if (st->token_created)
        printf("admin token: %s (created now, kept in %s/keys/admin.token; not shown again)\n",
               st->token, cfg->data_dir);
    else
        printf("admin token: in %s/keys/admin.token\n", cfg->data_dir);
    fflush(stdout);
}

/* Prepares folders, key, token and store into st. Returns 0, or -1 (logged). */
static int prepare(const cfg_t *cfg, otad_state *st)
{
    char path[CFG_STR_MAX + 64], url[CFG_STR_MAX + 64], err[256];
    memset(st, 0, sizeof *st);
    st->app.cfg = cfg;
    snprintf(st->app.data_dir, sizeof st->app.data_dir, "%s", cfg->data_dir);
    snprintf(st->app.console_dir, sizeof st->app.console_dir, "%s",
             cfg->console_dir[0] ? cfg->console_dir : OTA_CONSOLE_SRC_DIR);
    umask(077); /* everything otad creates is its own user's only */
    static const char *const sub[] = {"", "/keys", "/firmware", "/tmp"};
    for (size_t i = 0; i < sizeof sub / sizeof sub[0]; i++) {
        snprintf(path, sizeof path, "%s%s", cfg->data_dir, sub[i]);
        if (mkdir_p(path, 0700) != 0) {
            OTA_ERROR("otad: cannot create %s: %s", path, strerror(errno));
            return -1;
        }
        if (make_private(path) != 0)
            return -1;
    }
    /* the database, its journals and the secrets in keys/ (certificates there are public);
     * the server key is checked by ota_key_load, never repaired */
    static const char *const files[] = {"/ota.db",           "/ota.db-wal",
                                        "/ota.db-shm",       "/ota.db-journal",
                                        "/keys/admin.token", "/keys/ca-key.pem",
                                        "/keys/tls-key.pem", "/keys/device-certs.txt"};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        snprintf(path, sizeof path, "%s%s", cfg->data_dir, files[i]);
        if (make_private(path) != 0)
            return -1;
    }
    snprintf(path, sizeof path, "%s/keys/server.key", cfg->data_dir);
    if (ota_key_load(path, 1, st->app.server_key) != 0) {
        if (errno == EPERM)
            OTA_ERROR("otad: %s may be read by other users: refusing to start. Anyone who read "
                      "it can derive every device secret. Run `chmod 600 %s`, and rotate the key "
                      "if others may have read it (docs/security.md)",
                      path, path);
        else
            OTA_ERROR("otad: cannot read or create %s: %s", path, strerror(errno));
        return -1;
    }
    if (cfg->admin_token[0]) {
        snprintf(st->token, sizeof st->token, "%s", cfg->admin_token);
    } else if (load_token(cfg->data_dir, st->token, sizeof st->token, &st->token_created) != 0) {
        OTA_ERROR("otad: cannot read or create the admin token in %s/keys", cfg->data_dir);
        return -1;
    }
    st->app.admin_token = st->token;
    if (plaintext_check(cfg) != 0 || tls_prepare(cfg, &st->app) != 0)
        return -1;
    cfg_db_url(cfg, url, sizeof url);
    if (store_open(url, &st->app.store, err, sizeof err) != OTA_OK) {
        OTA_ERROR("otad: store: %s", err);
        return -1;
    }
    OTA_INFO("otad: store %s ready (schema %d)", store_kind(st->app.store),
             store_schema_version(st->app.store));
    return 0;
}

int otad_init_only(const cfg_t *cfg)
{
    otad_state st;
    if (prepare(cfg, &st) != 0)
        return 1;
    show_token(cfg, &st);
    store_close(st.app.store);
    return 0;
}

int otad_run(const cfg_t *cfg)
{
    otad_state st;
    int rc = 1;
    http_server *srv = NULL;
    bus *devbus = NULL;
    webhooks *hooks = NULL;
    struct sigaction sa;
    if (prepare(cfg, &st) != 0)
        return 1;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    /* the firmware byte store (OTA_BLOB), then crash leftovers: half-written uploads and
     * blobs no row uses */
    char err[256];
    if (fwfiles_init(&st.app, cfg->blob, err, sizeof err) != 0) {
        OTA_ERROR("otad: firmware store: %s", err);
        goto out;
    }
    fwfiles_sweep(&st.app);

    /* the batch engine and the broker connection (sets st.app.engine and broker_ready) */
    devbus = bus_start(&st.app);
    if (!devbus)
        goto out;

    /* webhook deliveries: a thread of their own over the store's outbox */
    webhook_cfg hcfg = {cfg->webhook_timeout, cfg->webhook_concurrency, cfg->time_scale};
    hooks = webhook_start(st.app.store, &hcfg);
    if (!hooks)
        goto out;
    st.app.webhooks = hooks;

    srv = http_start(&st.app, cfg->http_threads);
    if (!srv)
        goto out;
    printf("otad: console %s/\n", cfg->public_url);
    show_token(cfg, &st);
    OTA_INFO("otad: ready on %s (data %s)", cfg->http_addr, cfg->data_dir);
    while (!stop_flag) {
        struct timespec ts = {0, 100 * 1000000L};
        nanosleep(&ts, NULL);
    }
    OTA_INFO("otad: stopping");
    rc = 0;
out:
    http_stop(srv);
    webhook_stop(hooks);
    bus_stop(devbus);
    fwfiles_close();
    store_close(st.app.store);
    OTA_INFO("otad: stopped");
    return rc;
}
