/*
 * ota-fleet: a fleet of simulated devices for tests and benchmarks. main.c only turns the
 * command line (and the OTA_* environment of docs/configuration.md) into fleet_opts, loads
 * the server key (device secrets are derived from it, see docs/fleet-simulator.md),
 * optionally creates a product and imports the fleet, and runs fleet_run().
 */
#include "fleet.h"

#include "ota_crypto.h"
#include "ota_log.h"
#include "ota_time.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <mosquitto.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

volatile sig_atomic_t fleet_stop_flag = 0;

static void on_signal(int sig)
{
    (void)sig;
    fleet_stop_flag = 1;
}

static void usage(FILE *fp)
{
    fprintf(fp,
"usage: ota-fleet [options]\n"
"Runs simulated devices (docs/device-protocol.md) against the broker, each with its own MQTT\n"
"connection and credentials, and prints a summary.\n"
"\n"
"Where:\n"
"  --broker HOST:PORT        broker (default $OTA_MQTT_ADDR or 127.0.0.1:1883)\n"
"  --api URL[,URL...]        management API (default http://$OTA_HTTP_ADDR or http://127.0.0.1:8080);\n"
"                            several otad: a request that cannot connect goes to the next\n"
"  --token TOKEN             admin token (default $OTA_ADMIN_TOKEN)\n"
"  --cafile PATH             MQTT over TLS: the broker's certificate and host name are verified\n"
"                            against this CA (also for https:// --api and download URLs);\n"
"                            --broker is then the TLS listener (e.g. 127.0.0.1:8883). Default plain\n"
"  --key-file PATH           server key, to derive device secrets\n"
"                            (default $OTA_DATA_DIR/keys/server.key, or ./data/keys/server.key)\n"
"Which devices:\n"
"  --product-key PK          the devices' product\n"
"  --create-product NAME     create a product first and use its key\n"
"  -n, --devices N           number of devices (default 100)\n"
"  --prefix P                identifiers are P%%06u (default \"fleet\")\n"
"  --first I                 number of the first device (default 0)\n"
"  --register                import the devices first (NDJSON devices:import)\n"
"  --fw-version V            version the devices report at start (default 1.0.0)\n"
"What they do:\n"
"  --mix LIST                behaviour weights, e.g. success=90,fail-2=5,no-ack=2,stall=2,offline=1\n"
"                            (success fail-1 fail-2 fail-3 fail-4 no-ack stall offline; default success=1)\n"
"  --fail-times K            failing devices fail their first K pushes then succeed (default 0: always)\n"
"  --fail-log FILE           append the wall-clock time (Unix ms) of each failure report published\n"
"  --download PCT            share of devices that download the firmware (default 100)\n"
"  --range-size BYTES        bytes per Range request (default 1048576; 0: one plain GET)\n"
"  --download-concurrency N  parallel downloads (default 64)\n"
"  --step-ms MS              pause between a device's protocol steps (default 0)\n"
"  --activate-only           connect, report the version, leave (activates registered devices)\n"
"How:\n"
"  --connect-rate N          new connections per second (default 5000)\n"
"  --max-handshakes N        connections opened and not yet accepted (CONNACK), all workers\n"
"                            together (default 90: Mosquitto listens with a backlog of 100;\n"
"                            beyond it the kernel drops SYNs and clients wait seconds)\n"
"  --max-connected N         connections at one time (default: what RLIMIT_NOFILE allows)\n"
"  --procs K                 worker processes, each with a slice of the fleet (default: as many\n"
"                            as RLIMIT_NOFILE needs; libmosquitto uses 3 descriptors a client)\n"
"  --leave                   disconnect once finished (implied when the fleet exceeds --max-connected)\n"
"  --bind-addrs A,B,..       local addresses to spread connections over (default for a 127.x broker:\n"
"                            127.0.0.1..127.0.0.8; \"none\": let the system choose)\n"
"  --keepalive S             MQTT keepalive (default 120)\n"
"  --duration S              give up after S seconds (default 600)\n"
"A batch:\n"
"  --batch FIRMWARE_ID       once every device that can connect is ready, create a batch\n"
"                            (scope all) of this firmware and time it until it ends\n"
"  --batch-json JSON         extra batch fields, e.g. '{\"retryTimes\":1,\"retryIntervalMinutes\":1}'\n"
"Output:\n"
"  --results FILE            per-device CSV\n"
"  --summary-json FILE       the summary as JSON\n"
"hawkBit DDI devices instead of MQTT (docs/ddi.md):\n"
"  --ddi                     the devices poll the DDI API of --api with their TargetToken; a\n"
"                            deployment is fetched, downloaded (--download share), reported\n"
"                            proceeding then closed/success (--mix, --broker do not apply)\n"
"  --ddi-poll-ms MS          poll every MS instead of the interval the server gives\n"
"  --ddi-concurrency N       requests in flight on keep-alive connections (default 1000)\n"
"  -v, --verbose\n"
"Exit status: 0 when every device ended as told, 1 when some did not, 2 on a setup error.\n");
}

static int parse_long(const char *s, long lo, long hi, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}

static int parse_hostport(const char *s, char *host, size_t hlen, int *port)
{
    const char *c = strrchr(s, ':');
    long p;
    if (!c || (size_t)(c - s) >= hlen || parse_long(c + 1, 1, 65535, &p) != 0)
        return -1;
    memcpy(host, s, (size_t)(c - s));
    host[c - s] = 0;
    *port = (int)p;
    return 0;
}

static int parse_mix(const char *s, unsigned mix[FB_COUNT])
{
    char buf[512];
    memset(mix, 0, sizeof(unsigned) * FB_COUNT);
    snprintf(buf, sizeof buf, "%s", s);
    for (char *tok = buf, *next; tok && *tok; tok = next) {
        next = strchr(tok, ',');
        if (next)
            *next++ = 0;
        char *eq = strchr(tok, '=');
        long w = 1;
        if (eq) {
            *eq = 0;
            if (parse_long(eq + 1, 0, 1000000, &w) != 0)
                return -1;
        }
        int found = -1;
        for (int b = 0; b < FB_COUNT; b++)
            if (strcmp(tok, fleet_behaviour_name(b)) == 0)
                found = b;
        if (found < 0)
            return -1;
        mix[found] = (unsigned)w;
    }
    return 0;
}

static int valid_token(const char *s)
{
    if (!*s)
        return 0;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              *s == '.' || *s == '_' || *s == '-'))
            return 0;
    return 1;
}

/* Forks o->procs workers over slices of the fleet, runs the batch controller (if any) in
 * this process, waits for the workers, reports. Returns the exit status that
 * docs/fleet-simulator.md gives: 0 all as told, 1 some not, 2 setup error. */
static int run_workers(const fleet_opts *o, const unsigned char *key)
{
    size_t size = sizeof(fleet_shared) + (size_t)o->n_devices * sizeof(fleet_devres);
    fleet_shared *sh = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    pid_t pids[FLEET_MAX_PROCS] = {0};
    fleet_batch_ctl ctl;
    pthread_t th;
    int have_thread = 0, setup_error = 0, alive = 0;

    if (sh == MAP_FAILED) {
        OTA_ERROR("fleet: mmap: %s", strerror(errno));
        return 2;
    }
    sh->t0 = ota_time_mono_ms();
    sh->n_workers = o->procs;
    atomic_store(&sh->batch_done, o->batch_firmware > 0 ? 0 : 1);
    fflush(stdout);
    fflush(stderr);
    for (int k = 0; k < o->procs; k++) {
        uint32_t lo = (uint32_t)((uint64_t)o->n_devices * (uint64_t)k / (uint64_t)o->procs);
        uint32_t hi = (uint32_t)((uint64_t)o->n_devices * (uint64_t)(k + 1) / (uint64_t)o->procs);
        pid_t pid = fork();
        if (pid == 0) {
            prctl(PR_SET_PDEATHSIG, SIGTERM);
            int r = fleet_run(o, key, sh, k, lo, hi);
            atomic_store(&sh->w[k].exited, 1);
            fflush(stdout);
            fflush(stderr);
            _exit(r < 0 ? 2 : 0);
        }
        if (pid < 0) {
            OTA_ERROR("fleet: fork: %s", strerror(errno));
            setup_error = 1;
            atomic_store(&sh->batch_failed, 1);
            break;
        }
        pids[k] = pid;
        alive++;
    }
    /* the controller thread starts after the forks: no thread is ever copied into a worker */
    memset(&ctl, 0, sizeof ctl);
    if (o->batch_firmware > 0 && !setup_error) {
        ctl.t0 = sh->t0;
        fleet_api_batch_bind(&ctl, o);
        if (pthread_create(&th, NULL, fleet_api_batch_thread, &ctl) == 0)
            have_thread = 1;
        else
            atomic_store(&sh->batch_failed, 1);
    }
    int forwarded = 0;
    int64_t last_status = ota_time_mono_ms();
    while (alive > 0) {
        int st;
        pid_t p = waitpid(-1, &st, WNOHANG);
        if (p > 0) {
            for (int k = 0; k < o->procs; k++)
                if (pids[k] == p) {
                    pids[k] = 0;
                    alive--;
                    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
                        OTA_ERROR("fleet: worker %d ended badly (status %d)", k, st);
                        setup_error = 1;
                    }
                }
            continue;
        }
        if (have_thread && atomic_load(&ctl.ready_to_start) == 0) {
            uint64_t ready = 0, wave = 0;
            int known = 1;
            for (int k = 0; k < o->procs; k++) {
                known &= atomic_load(&sh->w[k].wave_known);
                ready += atomic_load(&sh->w[k].ready);
                wave += atomic_load(&sh->w[k].wave);
            }
            if (known && ready >= wave)
                atomic_store(&ctl.ready_to_start, 1);
        }
        if (have_thread && atomic_load(&ctl.done) && !atomic_load(&sh->batch_done)) {
            atomic_store(&sh->batch_failed, ctl.failed);
            atomic_store(&sh->batch_end_ms, ota_time_mono_ms() - sh->t0);
            atomic_store(&sh->batch_done, 1);
        }
        if (fleet_stop_flag && !forwarded) {
            forwarded = 1;
            for (int k = 0; k < o->procs; k++)
                if (pids[k] > 0)
                    kill(pids[k], SIGTERM);
        }
        int64_t now = ota_time_mono_ms();
        if (now - last_status >= 10000) {
            uint64_t act = 0, ready = 0, pushed = 0, fin = 0;
            last_status = now;
            for (int k = 0; k < o->procs; k++) {
                act += atomic_load(&sh->w[k].active);
                ready += atomic_load(&sh->w[k].ready);
                pushed += atomic_load(&sh->w[k].pushed_devs);
                fin += atomic_load(&sh->w[k].finished);
            }
            OTA_INFO("fleet: %llds: connected %llu, ready %llu, pushed %llu, finished %llu of %u",
                     (long long)((now - sh->t0) / 1000), (unsigned long long)act,
                     (unsigned long long)ready, (unsigned long long)pushed,
                     (unsigned long long)fin, o->n_devices);
        }
        usleep(5000);
    }
    if (have_thread) {
        if (atomic_load(&ctl.ready_to_start) == 0 || !atomic_load(&ctl.done))
            atomic_store(&ctl.ready_to_start, 2);
        pthread_join(th, NULL);
    }
    int errors = fleet_report(o, sh, have_thread ? &ctl : NULL, ota_time_mono_ms() - sh->t0);
    int batch_bad = have_thread && (ctl.failed || strcmp(ctl.state, "completed") != 0);
    munmap(sh, size);
    if (setup_error)
        return 2;
    return errors || batch_bad ? 1 : 0;
}

enum {
    O_BROKER = 1000, O_API, O_TOKEN, O_KEY, O_PK, O_CREATE, O_PREFIX, O_FIRST, O_REGISTER,
    O_FWV, O_MIX, O_FAILT, O_DL, O_RANGE, O_DLC, O_STEP, O_ACT, O_RATE, O_MAXC, O_LEAVE, O_MAXHS,
    O_BIND, O_KA, O_DUR, O_BATCH, O_BJSON, O_RESULTS, O_SUMMARY, O_PROCS, O_CAFILE, O_DDI,
    O_DDIPOLL, O_DDIC, O_FAILLOG
};

int main(int argc, char **argv)
{
    static fleet_opts o;
    static const struct option lo[] = {
        {"broker", 1, 0, O_BROKER}, {"api", 1, 0, O_API}, {"token", 1, 0, O_TOKEN},
        {"key-file", 1, 0, O_KEY}, {"product-key", 1, 0, O_PK}, {"create-product", 1, 0, O_CREATE},
        {"devices", 1, 0, 'n'}, {"prefix", 1, 0, O_PREFIX}, {"first", 1, 0, O_FIRST},
        {"register", 0, 0, O_REGISTER}, {"fw-version", 1, 0, O_FWV}, {"mix", 1, 0, O_MIX},
        {"fail-times", 1, 0, O_FAILT}, {"fail-log", 1, 0, O_FAILLOG}, {"download", 1, 0, O_DL}, {"range-size", 1, 0, O_RANGE},
        {"download-concurrency", 1, 0, O_DLC}, {"step-ms", 1, 0, O_STEP},
        {"activate-only", 0, 0, O_ACT}, {"connect-rate", 1, 0, O_RATE},
        {"max-handshakes", 1, 0, O_MAXHS},
        {"max-connected", 1, 0, O_MAXC}, {"leave", 0, 0, O_LEAVE}, {"bind-addrs", 1, 0, O_BIND},
        {"keepalive", 1, 0, O_KA}, {"duration", 1, 0, O_DUR}, {"batch", 1, 0, O_BATCH},
        {"batch-json", 1, 0, O_BJSON}, {"results", 1, 0, O_RESULTS},
        {"summary-json", 1, 0, O_SUMMARY}, {"procs", 1, 0, O_PROCS}, {"cafile", 1, 0, O_CAFILE},
        {"ddi", 0, 0, O_DDI}, {"ddi-poll-ms", 1, 0, O_DDIPOLL},
        {"ddi-concurrency", 1, 0, O_DDIC},
        {"verbose", 0, 0, 'v'},
        {"help", 0, 0, 'h'},
        {0, 0, 0, 0}};
    const char *env;
    long v;
    int c;
    unsigned char key[OTA_KEY_BYTES];

    ota_log_set_level(ota_log_level_from_name(getenv("OTA_LOG_LEVEL"), OTA_LOG_INFO));
    snprintf(o.broker_host, sizeof o.broker_host, "127.0.0.1");
    o.broker_port = 1883;
    if ((env = getenv("OTA_MQTT_ADDR")) && *env &&
        parse_hostport(env, o.broker_host, sizeof o.broker_host, &o.broker_port) != 0) {
        fprintf(stderr, "ota-fleet: bad OTA_MQTT_ADDR\n");
        return 2;
    }
    env = getenv("OTA_HTTP_ADDR");
    snprintf(o.api_url, sizeof o.api_url, "http://%s", env && *env ? env : "127.0.0.1:8080");
    if ((env = getenv("OTA_ADMIN_TOKEN")))
        snprintf(o.token, sizeof o.token, "%s", env);
    env = getenv("OTA_DATA_DIR");
    snprintf(o.key_file, sizeof o.key_file, "%s/keys/server.key", env && *env ? env : "./data");
    snprintf(o.prefix, sizeof o.prefix, "fleet");
    snprintf(o.version, sizeof o.version, "1.0.0");
    o.n_devices = 100;
    o.mix[FB_SUCCESS] = 1;
    o.fail_log_fd = -1;
    o.download_pct = 100;
    o.range_size = 1048576;
    o.dl_concurrency = 64;
    o.connect_rate = 5000;
    o.max_handshakes = 90;
    o.keepalive = 120;
    o.duration_s = 600;

    while ((c = getopt_long(argc, argv, "n:vh", lo, NULL)) != -1) {
        int bad = 0;
        switch (c) {
        case O_BROKER:
            bad = parse_hostport(optarg, o.broker_host, sizeof o.broker_host, &o.broker_port);
            break;
        case O_API:
            bad = strlen(optarg) >= sizeof o.api_url;
            snprintf(o.api_url, sizeof o.api_url, "%s", optarg);
            break;
        case O_TOKEN: snprintf(o.token, sizeof o.token, "%s", optarg); break;
        case O_CAFILE:
            bad = strlen(optarg) >= sizeof o.cafile || access(optarg, R_OK) != 0;
            if (!bad)
                memcpy(o.cafile, optarg, strlen(optarg) + 1);
            break;
        case O_KEY: snprintf(o.key_file, sizeof o.key_file, "%s", optarg); break;
        case O_PK:
            bad = !valid_token(optarg) || strlen(optarg) >= sizeof o.product_key;
            snprintf(o.product_key, sizeof o.product_key, "%s", optarg);
            break;
        case O_CREATE: snprintf(o.create_product, sizeof o.create_product, "%s", optarg); break;
        case 'n':
            bad = parse_long(optarg, 1, 10000000, &v);
            o.n_devices = (uint32_t)v;
            break;
        case O_PREFIX:
            bad = !valid_token(optarg) || strlen(optarg) > 20;
            snprintf(o.prefix, sizeof o.prefix, "%s", optarg);
            break;
        case O_FIRST:
            bad = parse_long(optarg, 0, 100000000, &v);
            o.first = (uint32_t)v;
            break;
        case O_REGISTER: o.do_register = 1; break;
        case O_FWV:
            bad = !valid_token(optarg) || strlen(optarg) >= sizeof o.version;
            snprintf(o.version, sizeof o.version, "%s", optarg);
            break;
        case O_MIX: bad = parse_mix(optarg, o.mix); break;
        case O_FAILT:
            bad = parse_long(optarg, 0, 1000, &v);
            o.fail_times = (int)v;
            break;
        case O_FAILLOG:
            o.fail_log_fd = open(optarg, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
            if (o.fail_log_fd < 0) {
                fprintf(stderr, "ota-fleet: --fail-log %s: %s\n", optarg, strerror(errno));
                bad = 1;
            }
            break;
        case O_DL:
            bad = parse_long(optarg, 0, 100, &v);
            o.download_pct = (int)v;
            break;
        case O_RANGE:
            bad = parse_long(optarg, 0, 1L << 40, &v);
            o.range_size = v;
            break;
        case O_DLC:
            bad = parse_long(optarg, 1, 10000, &v);
            o.dl_concurrency = (int)v;
            break;
        case O_STEP:
            bad = parse_long(optarg, 0, 3600000, &v);
            o.step_ms = (int)v;
            break;
        case O_ACT: o.activate_only = 1; break;
        case O_DDI: o.ddi = 1; break;
        case O_DDIPOLL:
            bad = parse_long(optarg, 1, 86400000, &v);
            o.ddi_poll_ms = (int)v;
            break;
        case O_DDIC:
            bad = parse_long(optarg, 1, 100000, &v);
            o.ddi_concurrency = (int)v;
            break;
        case O_RATE:
            bad = parse_long(optarg, 0, 10000000, &v);
            o.connect_rate = (int)v;
            break;
        case O_MAXC:
            bad = parse_long(optarg, 1, 10000000, &v);
            o.max_connected = (uint32_t)v;
            break;
        case O_MAXHS:
            bad = parse_long(optarg, 1, 1000000, &v);
            o.max_handshakes = (uint32_t)v;
            break;
        case O_LEAVE: o.leave = 1; break;
        case O_BIND: {
            char buf[512];
            snprintf(buf, sizeof buf, "%s", optarg);
            for (char *t = buf, *next; t && *t && o.n_bind < 8; t = next) {
                next = strchr(t, ',');
                if (next)
                    *next++ = 0;
                if (strlen(t) >= sizeof o.bind_addrs[0]) {
                    bad = 1;
                    break;
                }
                memcpy(o.bind_addrs[o.n_bind++], t, strlen(t) + 1);
            }
            break;
        }
        case O_KA:
            bad = parse_long(optarg, 5, 65535, &v);
            o.keepalive = (int)v;
            break;
        case O_DUR:
            bad = parse_long(optarg, 1, 86400 * 7, &v);
            o.duration_s = (int)v;
            break;
        case O_BATCH:
            bad = parse_long(optarg, 1, 0x7fffffffL, &v);
            o.batch_firmware = v;
            break;
        case O_BJSON: snprintf(o.batch_json, sizeof o.batch_json, "%s", optarg); break;
        case O_RESULTS: snprintf(o.results_path, sizeof o.results_path, "%s", optarg); break;
        case O_SUMMARY: snprintf(o.summary_json, sizeof o.summary_json, "%s", optarg); break;
        case O_PROCS:
            bad = parse_long(optarg, 1, FLEET_MAX_PROCS, &v);
            o.procs = (int)v;
            break;
        case 'v': o.verbose = 1; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
        if (bad) {
            fprintf(stderr, "ota-fleet: bad option value: %s\n", optarg ? optarg : "");
            return 2;
        }
    }
    if (optind < argc) {
        usage(stderr);
        return 2;
    }

    /* file descriptors: as many as the hard limit allows. libmosquitto 2.0 holds three per
     * client (its socket and a socketpair), so a worker process holds at most a third of
     * its limit; the fleet as a whole holds about as many connections as one process has
     * descriptors, which is what a broker with the same limit can take. */
    uint32_t capable = 0;
    {
        unsigned tot = 0;
        for (int b = 0; b < FB_COUNT; b++)
            tot += o.mix[b];
        if (!tot) {
            fprintf(stderr, "ota-fleet: --mix has no weight\n");
            return 2;
        }
        capable = (uint32_t)((double)o.n_devices * (tot - o.mix[FB_OFFLINE]) / tot + 0.5);
    }
    struct rlimit rl;
    uint64_t nofile = 1024;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
        getrlimit(RLIMIT_NOFILE, &rl);
        nofile = rl.rlim_cur;
    }
    uint64_t budget = nofile > 400 ? nofile - 300 : 100; /* connections of the whole fleet */
    if (o.max_connected && o.max_connected < budget)
        budget = o.max_connected;
    if (budget > capable)
        budget = capable ? capable : 1;
    int procs = o.procs;
    if (procs <= 0) {
        uint64_t per = nofile > 600 ? (nofile - 200 - (uint64_t)o.dl_concurrency) / 3 : 100;
        procs = (int)((budget + per - 1) / per);
    }
    if (procs < 1)
        procs = 1;
    if (procs > FLEET_MAX_PROCS)
        procs = FLEET_MAX_PROCS;
    if ((uint32_t)procs > o.n_devices)
        procs = (int)o.n_devices;
    o.procs = procs;
    o.dl_concurrency = o.dl_concurrency / procs > 0 ? o.dl_concurrency / procs : 1;
    if (o.connect_rate > 0)
        o.connect_rate = o.connect_rate / procs > 0 ? o.connect_rate / procs : 1;
    o.max_handshakes = o.max_handshakes / (uint32_t)procs > 0 ? o.max_handshakes / (uint32_t)procs : 1;
    {
        uint64_t per_fd = nofile > 600 ? (nofile - 200 - (uint64_t)o.dl_concurrency) / 3 : 100;
        uint64_t per = (budget + (uint64_t)procs - 1) / (uint64_t)procs;
        if (per > per_fd) {
            OTA_WARN("fleet: at most %llu connections per worker (RLIMIT_NOFILE %llu)",
                     (unsigned long long)per_fd, (unsigned long long)nofile);
            per = per_fd;
        }
        o.max_connected = (uint32_t)(per ? per : 1);
    }
    if (o.activate_only || capable > o.max_connected * (uint32_t)procs)
        o.leave = 1;
    /* A loopback broker: spread the connections over 127.0.0.1..16 so that churn (devices
     * leaving sockets in TIME_WAIT) never runs out of one address's ephemeral ports. */
    if (o.n_bind == 0 && strncmp(o.broker_host, "127.", 4) == 0) {
        for (int i = 0; i < 8; i++)
            snprintf(o.bind_addrs[o.n_bind++], sizeof o.bind_addrs[0], "127.0.0.%d", i + 1);
    } else if (o.n_bind == 1 && strcmp(o.bind_addrs[0], "none") == 0) {
        o.n_bind = 0;
    }

    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    signal(SIGPIPE, SIG_IGN);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    mosquitto_lib_init();
    int rc = 2;

    if (o.create_product[0] && fleet_api_create_product(&o) != 0)
        goto out;
    if (!o.product_key[0]) {
        fprintf(stderr, "ota-fleet: --product-key or --create-product is needed\n");
        goto out;
    }
    if (ota_key_load(o.key_file, 0, key) != 0) {
        fprintf(stderr, "ota-fleet: cannot read the server key %s: %s\n", o.key_file,
                ota_key_strerror(errno));
        goto out;
    }
    if (o.do_register && fleet_api_import(&o) != 0)
        goto out;
    if (o.create_product[0])
        printf("productKey %s\n", o.product_key);
    fflush(stdout);
    rc = o.ddi ? fleet_ddi_main(&o, key) : run_workers(&o, key);
out:
    mosquitto_lib_cleanup();
    curl_global_cleanup();
    return rc;
}
