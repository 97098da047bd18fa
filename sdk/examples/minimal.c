/*
 * minimal: the smallest useful device on the Linux port. It connects to the broker,
 * reports its version, and installs any upgrade by printing where the verified image is.
 * docs/device-sdk.md walks through it.
 *
 *   otasdk_example_minimal HOST PORT PRODUCT_KEY IDENTIFIER SECRET VERSION DOWNLOAD_DIR
 */
#include <otasdk/otasdk.h>
#include <otasdk/otasdk_posix.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static otasdk_ctx *g_ctx; /* for the signal handler and on_event */
static volatile sig_atomic_t g_quit;

static void on_signal(int sig)
{
    (void)sig;
    g_quit = 1;
    otasdk_stop(g_ctx); /* only sets a flag: a running download stops at its next chunk */
}

static void on_log(void *user, otasdk_log_level level, const char *line)
{
    (void)user;
    fprintf(stderr, "[%d] %s\n", (int)level, line);
}

/* Policy "silent" leaves the moment to the device: a real one waits until it is idle or
 * charging; this example agrees at once. */
static void on_event(void *user, const otasdk_event *ev)
{
    (void)user;
    if (ev->type == OTASDK_EV_JOB_OFFERED)
        otasdk_upgrade_start(g_ctx);
}

/* The image is verified and final: a real device writes it to its spare partition and
 * reboots; this example just says where it is and claims the new version. */
static int install(void *user, const otasdk_job *job, char *version_out, size_t cap)
{
    otasdk_posix *port = user;
    char path[512];
    otasdk_posix_image_path(port, path, sizeof path);
    printf("new image %s for version %s is at %s\n", job->md5, job->version, path);
    snprintf(version_out, cap, "%s", job->version);
    return OTASDK_OK;
}

int main(int argc, char **argv)
{
    otasdk_posix_config pc = {0};
    otasdk_config cfg = {0};
    otasdk_posix *port = NULL;
    otasdk_ctx *ctx = NULL;
    char *end;
    int rc;

    if (argc != 8 && argc != 9) {
        fprintf(stderr,
                "usage: %s HOST PORT PRODUCT_KEY IDENTIFIER SECRET VERSION DIR [CA_FILE]\n"
                "  with CA_FILE: MQTT over TLS (e.g. localhost 8883 ... data/keys/ca.pem)\n",
                argv[0]);
        return 2;
    }
    pc.ca_file = argc == 9 ? argv[8] : NULL;
    pc.host = argv[1];
    pc.port = (int)strtol(argv[2], &end, 10);
    pc.product_key = argv[3];
    pc.identifier = argv[4];
    pc.device_secret = argv[5];
    pc.download_dir = argv[7];
    pc.on_log = on_log;
    if (*end || (rc = otasdk_posix_create(&pc, &port)) != OTASDK_OK) {
        fprintf(stderr, "bad arguments\n");
        return 2;
    }

    cfg.product_key = argv[3];
    cfg.identifier = argv[4];
    cfg.firmware_version = argv[6];
    otasdk_posix_fill(port, &cfg); /* MQTT, HTTP, flash, digest, clock */
    cfg.app.user = port;
    cfg.app.on_log = on_log;
    cfg.app.on_event = on_event;
    cfg.app.install = install;
    rc = otasdk_create(&cfg, &ctx);
    if (rc != OTASDK_OK) {
        fprintf(stderr, "otasdk_create: %s\n", otasdk_strerror(rc));
        otasdk_posix_destroy(port);
        return 1;
    }
    g_ctx = ctx;
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);

    otasdk_posix_start(port, ctx); /* connects in the background */
    while (!g_quit) {
        otasdk_process(ctx); /* runs a received upgrade to the end; else returns at once */
        usleep(100 * 1000);
    }
    otasdk_posix_stop(port);
    otasdk_destroy(ctx);
    otasdk_posix_destroy(port);
    return 0;
}
