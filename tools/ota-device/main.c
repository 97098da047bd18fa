/*
 * ota-device: the Linux device agent. It runs the device SDK on its Linux port against
 * the service's broker: reports the version read from version_file, acks pushes,
 * downloads into download_dir (the checkpoint there makes a restarted agent resume),
 * and installs a verified image by running install_hook with the image's path. When the
 * hook exits 0 the agent reads version_file again and reports it; a hook that reboots
 * the machine never returns, and the agent reports the new version at its next start.
 *
 *   ota-device -c FILE [-o key=value]... [-h]
 *
 * Load: one device per process; idle except while downloading. SIGINT/SIGTERM stop it
 * cleanly (a download in progress keeps its checkpoint).
 */
#include "config.h"
#include "ota_log.h"

#include <otasdk/otasdk.h>
#include <otasdk/otasdk_posix.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t g_quit;
static otasdk_ctx *volatile g_ctx;

static void on_signal(int sig)
{
    (void)sig;
    g_quit = 1;
    if (g_ctx)
        otasdk_stop(g_ctx); /* sets a flag; the download stops at its next chunk */
}

typedef struct {
    dev_config *cfg;
    otasdk_posix *port;
    int offered; /* a silent job waits */
    struct timespec offered_at;
} agent;

static void on_log(void *user, otasdk_log_level level, const char *line)
{
    agent *a = user;
    static const ota_log_level map[] = {OTA_LOG_DEBUG, OTA_LOG_INFO, OTA_LOG_WARN, OTA_LOG_ERROR};
    ota_log(map[level <= OTASDK_LOG_ERROR ? level : OTASDK_LOG_ERROR], "%s.%s: %s",
            a->cfg->product_key, a->cfg->identifier, line);
}

/* First line of the version file, trimmed, into out. 0 or -1. */
static int read_version(const char *path, char *out, size_t cap)
{
    FILE *f = fopen(path, "r");
    char line[OTASDK_VERSION_MAX + 8];
    size_t n;
    if (!f)
        return -1;
    if (!fgets(line, sizeof line, f)) {
        fclose(f);
        return -1;
    }
    fclose(f);
    n = strlen(line);
    while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r' || line[n - 1] == ' ' ||
                     line[n - 1] == '\t'))
        line[--n] = '\0';
    if (n == 0 || n >= cap || n > OTASDK_VERSION_MAX)
        return -1;
    memcpy(out, line, n + 1);
    return 0;
}

static void on_event(void *user, const otasdk_event *ev)
{
    agent *a = user;
    if (ev->type == OTASDK_EV_JOB_OFFERED) {
        a->offered = 1;
        clock_gettime(CLOCK_MONOTONIC, &a->offered_at);
        if (a->cfg->silent_delay_s < 0)
            OTA_INFO("silent upgrade to %s offered; silent_delay = -1, not starting it",
                     ev->job->version);
        else
            OTA_INFO("silent upgrade to %s offered; starting in %ld s", ev->job->version,
                     a->cfg->silent_delay_s);
    } else if (ev->type == OTASDK_EV_DOWNLOAD_STARTED) {
        OTA_INFO("download of %s: %s", ev->job->version, ev->desc);
    }
}

/* Runs install_hook with the image; on exit 0 reads the version file into version_out. */
static int install(void *user, const otasdk_job *job, char *version_out, size_t cap)
{
    agent *a = user;
    char image[1024], size[32];
    pid_t pid;
    int status;
    if (otasdk_posix_image_path(a->port, image, sizeof image) != OTASDK_OK)
        return OTASDK_ERR_INSTALL;
    snprintf(size, sizeof size, "%llu", (unsigned long long)job->size);
    OTA_INFO("installing %s with: %s", job->version, a->cfg->install_hook);
    pid = fork();
    if (pid < 0)
        return OTASDK_ERR_INSTALL;
    if (pid == 0) {
        setenv("OTA_IMAGE", image, 1);
        setenv("OTA_VERSION", job->version, 1);
        setenv("OTA_VERSION_FILE", a->cfg->version_file, 1);
        setenv("OTA_BATCH_ID", job->batch_id, 1);
        setenv("OTA_MD5", job->md5, 1);
        setenv("OTA_SHA256", job->sha256, 1);
        setenv("OTA_SIZE", size, 1);
        setenv("OTA_DOWNLOAD_DIR", a->cfg->download_dir, 1);
        execl("/bin/sh", "sh", "-c", a->cfg->install_hook, "ota-install", image, (char *)NULL);
        _exit(127);
    }
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            return OTASDK_ERR_INSTALL;
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        OTA_ERROR("install hook failed (%s %d)", WIFEXITED(status) ? "exit" : "signal",
                  WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
        return OTASDK_ERR_INSTALL;
    }
    if (read_version(a->cfg->version_file, version_out, cap) != 0) {
        OTA_ERROR("install hook succeeded but %s has no version", a->cfg->version_file);
        return OTASDK_ERR_INSTALL;
    }
    otasdk_posix_clear(a->port); /* the hook has taken what it needs: free the space */
    return OTASDK_OK;
}

static void usage(FILE *out)
{
    fprintf(out, "usage: ota-device -c FILE [-o key=value]... [-h]\n"
                 "  -c FILE         configuration file (key = value lines)\n"
                 "  -o key=value    set or override one key (repeatable, applied after -c)\n"
                 "  -h              this help\n");
    dev_config_help(out);
}

/* Reads the comma-separated PEM files of list into keys (at most OTASDK_TRUSTED_KEYS_MAX).
 * 0, or -1 after logging which file failed. */
static int load_trusted_keys(const char *list, unsigned char keys[][32], size_t *n)
{
    char buf[DEV_VALUE_MAX];
    *n = 0;
    snprintf(buf, sizeof buf, "%s", list);
    for (char *p = buf, *next; p; p = next) {
        next = strchr(p, ',');
        if (next)
            *next++ = '\0';
        while (*p == ' ')
            p++;
        if (!*p)
            continue;
        if (*n == OTASDK_TRUSTED_KEYS_MAX) {
            OTA_ERROR("trusted_keys: at most %d keys", OTASDK_TRUSTED_KEYS_MAX);
            return -1;
        }
        if (otasdk_posix_load_public_key(p, keys[*n]) != OTASDK_OK) {
            OTA_ERROR("trusted_keys: %s: not a readable Ed25519 public key (PEM)", p);
            return -1;
        }
        (*n)++;
    }
    if (*n)
        OTA_INFO("signed firmware only: %zu trusted key(s)", *n);
    return 0;
}

int main(int argc, char **argv)
{
    dev_config cfg;
    char err[512], version[OTASDK_VERSION_MAX + 1];
    const char *file = NULL;
    const char *overrides[64];
    int nover = 0, opt, rc, exit_code = 1;
    otasdk_posix_config pc;
    otasdk_config sc;
    unsigned char keys[OTASDK_TRUSTED_KEYS_MAX][32];
    otasdk_posix *port = NULL;
    otasdk_ctx *ctx = NULL;
    agent a;
    struct sigaction sa;

    dev_config_defaults(&cfg);
    while ((opt = getopt(argc, argv, "c:o:h")) != -1) {
        if (opt == 'c') {
            file = optarg;
        } else if (opt == 'o' && nover < 64) {
            overrides[nover++] = optarg;
        } else {
            usage(opt == 'h' ? stdout : stderr);
            return opt == 'h' ? 0 : 2;
        }
    }
    if (optind != argc || (file && dev_config_load(&cfg, file, err, sizeof err) != 0)) {
        if (optind != argc)
            usage(stderr);
        else
            fprintf(stderr, "ota-device: %s\n", err);
        return 2;
    }
    for (int i = 0; i < nover; i++)
        if (dev_config_set(&cfg, overrides[i], err, sizeof err) != 0) {
            fprintf(stderr, "ota-device: -o %s: %s\n", overrides[i], err);
            return 2;
        }
    if (dev_config_check(&cfg, err, sizeof err) != 0) {
        fprintf(stderr, "ota-device: %s\n", err);
        return 2;
    }
    ota_log_set_level(ota_log_level_from_name(cfg.log_level, OTA_LOG_INFO));
    if (mkdir(cfg.download_dir, 0700) != 0 && errno != EEXIST) {
        OTA_ERROR("cannot create %s: %s", cfg.download_dir, strerror(errno));
        return 1;
    }
    if (read_version(cfg.version_file, version, sizeof version) != 0) {
        OTA_ERROR("cannot read a version from %s", cfg.version_file);
        return 1;
    }

    memset(&a, 0, sizeof a);
    a.cfg = &cfg;
    memset(&pc, 0, sizeof pc);
    pc.host = cfg.host;
    pc.port = cfg.port;
    pc.product_key = cfg.product_key;
    pc.identifier = cfg.identifier;
    pc.device_secret = cfg.device_secret[0] ? cfg.device_secret : NULL;
    if (strcmp(cfg.tls, "on") == 0) {
        pc.ca_file = cfg.ca;
        pc.cert_file = cfg.cert[0] ? cfg.cert : NULL;
        pc.key_file = cfg.key[0] ? cfg.key : NULL;
    }
    pc.download_dir = cfg.download_dir;
    pc.stall_timeout_s = cfg.stall_timeout_s;
    pc.max_recv_bytes_s = cfg.max_download_rate;
    pc.on_log = on_log;
    pc.log_user = &a;
    rc = otasdk_posix_create(&pc, &port);
    if (rc != OTASDK_OK) {
        OTA_ERROR("port: %s", otasdk_strerror(rc));
        return 1;
    }
    a.port = port;
    memset(&sc, 0, sizeof sc);
    sc.product_key = cfg.product_key;
    sc.identifier = cfg.identifier;
    sc.firmware_version = version;
    otasdk_posix_fill(port, &sc);
    sc.app.user = &a;
    sc.app.on_log = on_log;
    sc.app.on_event = on_event;
    sc.app.install = install;
    sc.download_retries = (unsigned)cfg.download_retries;
    sc.retry_delay_ms = (uint32_t)cfg.retry_delay_ms;
    sc.progress_every = (unsigned)cfg.progress_every;
    if (load_trusted_keys(cfg.trusted_keys, keys, &sc.trusted_key_count) != 0)
        goto out;
    sc.trusted_keys = (const unsigned char(*)[32])keys;
    rc = otasdk_create(&sc, &ctx);
    if (rc != OTASDK_OK) {
        OTA_ERROR("sdk: %s%s", otasdk_strerror(rc),
                  rc == OTASDK_ERR_ARG ? " (product_key and identifier: 1..64 characters; the "
                                         "version: 1..100 of A-Z a-z 0-9 _ . -)"
                                       : "");
        goto out;
    }
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    g_ctx = ctx;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    OTA_INFO("ota-device %s.%s running version %s; broker %s:%d; %llu bytes staged",
             cfg.product_key, cfg.identifier, version, cfg.host, cfg.port,
             otasdk_posix_staged_bytes(port));
    rc = otasdk_posix_start(port, ctx);
    if (rc != OTASDK_OK) {
        OTA_ERROR("mqtt: %s", otasdk_strerror(rc));
        goto out;
    }
    while (!g_quit) {
        otasdk_process(ctx);
        if (a.offered && cfg.silent_delay_s >= 0) {
            struct timespec now;
            clock_gettime(CLOCK_MONOTONIC, &now);
            if (now.tv_sec - a.offered_at.tv_sec >= cfg.silent_delay_s) {
                a.offered = 0;
                if (otasdk_upgrade_start(ctx) == OTASDK_OK)
                    OTA_INFO("starting the silent upgrade");
            }
        }
        if (!otasdk_pending(ctx))
            usleep(50 * 1000);
    }
    OTA_INFO("stopping");
    exit_code = 0;
out:
    g_ctx = NULL;
    otasdk_posix_stop(port);
    otasdk_destroy(ctx);
    otasdk_posix_destroy(port);
    return exit_code;
}
