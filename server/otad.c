/*
 * otad: the lifecycle of the server process. Start order: data folder and keys, store,
 * (lead: MQTT client and batch engine), HTTP. Stop order is the reverse. Signals only set
 * a flag that the main thread polls; nothing else runs in a handler.
 */
#include "otad.h"

#include "bus.h"
#include "http/http.h"
#include "http/firmware_files.h"
#include "store/store.h"

#include "ota_crypto.h"
#include "ota_log.h"

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

/* Reads or creates DATA/keys/admin.token (0600). Returns 0 and the token in out. */
static int load_token(const char *dir, char *out, size_t outlen)
{
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
    return 0;
}

typedef struct {
    http_app app;
    char token[256];
} otad_state;

/* Prepares folders, key, token and store into st. Returns 0, or -1 (logged). */
static int prepare(const cfg_t *cfg, otad_state *st)
{
    char path[CFG_STR_MAX + 64], url[CFG_STR_MAX + 64], err[256];
    memset(st, 0, sizeof *st);
    st->app.cfg = cfg;
    snprintf(st->app.data_dir, sizeof st->app.data_dir, "%s", cfg->data_dir);
    snprintf(st->app.console_dir, sizeof st->app.console_dir, "%s",
             cfg->console_dir[0] ? cfg->console_dir : OTA_CONSOLE_SRC_DIR);
    static const char *const sub[] = {"", "/keys", "/firmware", "/tmp"};
    for (size_t i = 0; i < sizeof sub / sizeof sub[0]; i++) {
        snprintf(path, sizeof path, "%s%s", cfg->data_dir, sub[i]);
        if (mkdir_p(path, 0755) != 0) {
            OTA_ERROR("otad: cannot create %s: %s", path, strerror(errno));
            return -1;
        }
    }
    /* the broker (maybe another user) must traverse the data folder to read the key */
    chmod(cfg->data_dir, 0755);
    snprintf(path, sizeof path, "%s/keys", cfg->data_dir);
    chmod(path, 0755);
    snprintf(path, sizeof path, "%s/keys/server.key", cfg->data_dir);
    if (ota_key_load(path, 1, st->app.server_key) != 0) {
        OTA_ERROR("otad: cannot read or create %s: %s", path, strerror(errno));
        return -1;
    }
    chmod(path, 0644);
    if (cfg->admin_token[0]) {
        snprintf(st->token, sizeof st->token, "%s", cfg->admin_token);
    } else if (load_token(cfg->data_dir, st->token, sizeof st->token) != 0) {
        OTA_ERROR("otad: cannot read or create the admin token in %s/keys", cfg->data_dir);
        return -1;
    }
    st->app.admin_token = st->token;
    cfg_db_url(cfg, url, sizeof url);
    if (store_open(url, &st->app.store, err, sizeof err) != STORE_OK) {
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
    printf("admin token: %s\n", st.token);
    fflush(stdout);
    store_close(st.app.store);
    return 0;
}

int otad_run(const cfg_t *cfg)
{
    otad_state st;
    int rc = 1;
    http_server *srv = NULL;
    bus *devbus = NULL;
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

    srv = http_start(&st.app, cfg->http_threads);
    if (!srv)
        goto out;
    printf("otad: console %s/  admin token: %s\n", cfg->public_url, st.token);
    fflush(stdout);
    OTA_INFO("otad: ready on %s (data %s)", cfg->http_addr, cfg->data_dir);
    while (!stop_flag) {
        struct timespec ts = {0, 100 * 1000000L};
        nanosleep(&ts, NULL);
    }
    OTA_INFO("otad: stopping");
    rc = 0;
out:
    http_stop(srv);
    bus_stop(devbus);
    fwfiles_close();
    store_close(st.app.store);
    OTA_INFO("otad: stopped");
    return rc;
}
