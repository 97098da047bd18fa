/*
 * config: the settings table. Each row names a setting, its environment variable, its
 * command-line flag (the same name in lower case with dashes: OTA_HTTP_ADDR is
 * --http-addr), its default, its help line and its validator. cfg_load applies, in
 * order: defaults, environment, flags; the last one wins. Secrets (the admin token) are
 * never echoed back in errors or help.
 */
#include "core/config.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

typedef enum { T_STR, T_DOUBLE, T_INT } cfg_type;
typedef int (*cfg_check)(const char *value, char *why, size_t whylen);

typedef struct {
    const char *name; /* short name in messages */
    const char *env;  /* environment variable */
    const char *flag; /* command-line flag, without "--" */
    const char *dflt; /* default, as text */
    const char *help;
    cfg_type type;
    size_t off;      /* offset in cfg_t */
    size_t size;     /* buffer size for T_STR */
    cfg_check check; /* NULL = any value */
    int secret;      /* never print the value */
} cfg_row;

static int check_addr(const char *v, char *why, size_t whylen)
{
    char host[256];
    int port;
    if (cfg_split_addr(v, host, sizeof host, &port) != 0) {
        snprintf(why, whylen, "must be host:port with a port of 1..65535");
        return -1;
    }
    return 0;
}

static int check_addr_opt(const char *v, char *why, size_t whylen)
{
    return *v ? check_addr(v, why, whylen) : 0;
}

static int check_names(const char *v, char *why, size_t whylen)
{
    size_t n = strlen(v);
    if (strspn(v, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-:,") != n) {
        snprintf(why, whylen, "must be host names or IP addresses separated by commas");
        return -1;
    }
    return 0;
}

static int check_bool(const char *v, char *why, size_t whylen)
{
    if (strcmp(v, "0") == 0 || strcmp(v, "1") == 0)
        return 0;
    snprintf(why, whylen, "must be 0 or 1");
    return -1;
}

static int check_sessions(const char *v, char *why, size_t whylen)
{
    if (strcmp(v, "auto") == 0 || check_bool(v, why, whylen) == 0)
        return 0;
    snprintf(why, whylen, "must be auto, 0 or 1");
    return -1;
}

static int check_url(const char *v, char *why, size_t whylen)
{
    if ((strncmp(v, "http://", 7) != 0 && strncmp(v, "https://", 8) != 0) || strlen(v) < 10) {
        snprintf(why, whylen, "must be an http:// or https:// URL");
        return -1;
    }
    for (const char *p = v; *p; p++)
        if ((unsigned char)*p <= ' ' || *p == '"' || *p == '<' || *p == '>') {
            snprintf(why, whylen, "must not contain spaces, quotes or control characters");
            return -1;
        }
    return 0;
}

static int check_nonempty(const char *v, char *why, size_t whylen)
{
    if (!*v) {
        snprintf(why, whylen, "must not be empty");
        return -1;
    }
    return 0;
}

static int check_token(const char *v, char *why, size_t whylen)
{
    if (!*v)
        return 0;
    if (strlen(v) < 8) {
        snprintf(why, whylen, "must be at least 8 characters");
        return -1;
    }
    for (const char *p = v; *p; p++)
        if ((unsigned char)*p <= ' ' || (unsigned char)*p >= 0x7f) {
            snprintf(why, whylen, "must be printable ASCII without spaces");
            return -1;
        }
    return 0;
}

static int check_scale(const char *v, char *why, size_t whylen)
{
    char *end;
    errno = 0;
    double d = strtod(v, &end);
    if (errno || end == v || *end || !isfinite(d) || d <= 0 || d > 1e6) {
        snprintf(why, whylen, "must be a number > 0 and <= 1000000");
        return -1;
    }
    return 0;
}

static int check_db(const char *v, char *why, size_t whylen)
{
    if (!*v || strncmp(v, "sqlite:", 7) == 0 || strncmp(v, "postgresql://", 13) == 0 ||
        strncmp(v, "postgres://", 11) == 0)
        return 0;
    snprintf(why, whylen, "must start with sqlite: or postgresql://");
    return -1;
}

static int check_blob(const char *v, char *why, size_t whylen)
{
    if (strcmp(v, "fs") == 0 || strcmp(v, "postgresql") == 0)
        return 0;
    snprintf(why, whylen, "must be fs or postgresql");
    return -1;
}

static int check_level(const char *v, char *why, size_t whylen)
{
    static const char *ok[] = {"debug", "info", "warn", "error"};
    for (int i = 0; i < 4; i++)
        if (strcasecmp(v, ok[i]) == 0)
            return 0;
    snprintf(why, whylen, "must be debug, info, warn or error");
    return -1;
}

static int check_int_range(const char *v, long lo, long hi, char *why, size_t whylen)
{
    char *end;
    errno = 0;
    long n = strtol(v, &end, 10);
    if (errno || end == v || *end || n < lo || n > hi) {
        snprintf(why, whylen, "must be an integer of %ld..%ld", lo, hi);
        return -1;
    }
    return 0;
}

static int check_threads(const char *v, char *why, size_t whylen)
{
    return check_int_range(v, 1, 64, why, whylen);
}

static int check_max_conn(const char *v, char *why, size_t whylen)
{
    return check_int_range(v, 16, 1000000, why, whylen);
}

static int check_per_address(const char *v, char *why, size_t whylen)
{
    return check_int_range(v, 0, 1000000, why, whylen);
}

static int check_head_timeout(const char *v, char *why, size_t whylen)
{
    return check_int_range(v, 1, 3600, why, whylen);
}

static int check_idle_timeout(const char *v, char *why, size_t whylen)
{
    return check_int_range(v, 1, 86400, why, whylen);
}

static int check_webhook_timeout(const char *v, char *why, size_t whylen)
{
    return check_int_range(v, 1, 300, why, whylen);
}

static int check_webhook_concurrency(const char *v, char *why, size_t whylen)
{
    return check_int_range(v, 1, 64, why, whylen);
}

static int check_ddi_poll(const char *v, char *why, size_t whylen)
{
    return check_int_range(v, 1, 86400, why, whylen);
}

static int check_gather(const char *v, char *why, size_t whylen)
{
    return check_int_range(v, 0, 1000, why, whylen);
}

static int check_resync(const char *v, char *why, size_t whylen)
{
    return check_int_range(v, 100, 600000, why, whylen);
}

static int check_rmq_poll(const char *v, char *why, size_t whylen)
{
    return check_int_range(v, 200, 60000, why, whylen);
}

/* Comma-separated http:// URLs (the RabbitMQ management API of a cluster's nodes). */
static int check_rmq_api(const char *v, char *why, size_t whylen)
{
    for (const char *p = v; *p;) {
        if (strncmp(p, "http://", 7) != 0 && strncmp(p, "https://", 8) != 0) {
            snprintf(why, whylen, "want http://user:password@host:port[,...]");
            return -1;
        }
        const char *c = strchr(p, ',');
        p = c ? c + 1 : p + strlen(p);
    }
    return 0;
}

static int check_instance(const char *v, char *why, size_t whylen)
{
    size_t n = strlen(v);
    if (n > 32 || strspn(v, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-") != n) {
        snprintf(why, whylen, "must be empty or 1..32 of letters, digits, '_' and '-'");
        return -1;
    }
    if (strncmp(v, "part-", 5) == 0) {
        /* "otad-part-NN" are the partitions' sessions at the broker (mqtt/mqttparts.h) */
        snprintf(why, whylen, "must not begin with 'part-' (reserved)");
        return -1;
    }
    return 0;
}

#define S(field) T_STR, offsetof(cfg_t, field), sizeof(((cfg_t *)0)->field)

static const cfg_row rows[] = {
    {"http address", "OTA_HTTP_ADDR", "http-addr", "127.0.0.1:8080",
     "HTTP listen address (API, console, downloads)", S(http_addr), check_addr, 0},
    {"HTTPS address", "OTA_HTTPS_ADDR", "https-addr", "127.0.0.1:8443",
     "HTTPS listen address (API, console, downloads; the TLS certificate); empty = none",
     S(https_addr), check_addr_opt, 0},
    {"MQTT/TLS address", "OTA_MQTTS_ADDR", "mqtts-addr", "127.0.0.1:8883",
     "the broker's MQTT over TLS address devices use (its host is named in the certificate)",
     S(mqtts_addr), check_addr_opt, 0},
    {"MQTT device-certificate address", "OTA_MQTTS_CERT_ADDR", "mqtts-cert-addr",
     "127.0.0.1:8884",
     "the broker's MQTT over TLS address for devices that log in with a certificate; empty = "
     "none",
     S(mqtts_cert_addr), check_addr_opt, 0},
    {"TLS certificate", "OTA_TLS_CERT", "tls-cert", "",
     "server certificate (PEM, may hold the chain); empty = DATA/keys/tls-cert.pem, generated",
     S(tls_cert), NULL, 0},
    {"TLS key", "OTA_TLS_KEY", "tls-key", "",
     "the server certificate's private key (PEM); empty = DATA/keys/tls-key.pem, generated",
     S(tls_key), NULL, 0},
    {"TLS CA", "OTA_TLS_CA", "tls-ca", "",
     "CA certificate devices trust (PEM); empty = DATA/keys/ca.pem, generated", S(tls_ca), NULL,
     0},
    {"TLS names", "OTA_TLS_NAMES", "tls-names", "",
     "more host names or IP addresses for the generated server certificate, comma-separated",
     S(tls_names), check_names, 0},
    {"allow plaintext", "OTA_ALLOW_PLAINTEXT", "allow-plaintext", "0",
     "1 = the plain HTTP (and MQTT) listener may be on a non-loopback address", T_INT,
     offsetof(cfg_t, allow_plaintext), 0, check_bool, 0},
    {"public URL", "OTA_PUBLIC_URL", "public-url", "http://127.0.0.1:8080",
     "public base URL put into download links", S(public_url), check_url, 0},
    {"MQTT address", "OTA_MQTT_ADDR", "mqtt-addr", "127.0.0.1:1883",
     "MQTT broker address devices and server use", S(mqtt_addr), check_addr, 0},
    {"data folder", "OTA_DATA_DIR", "data-dir", "./data",
     "data folder (database, firmware files, keys)", S(data_dir), check_nonempty, 0},
    {"admin token", "OTA_ADMIN_TOKEN", "admin-token", "",
     "admin API token; empty = generated once into DATA/keys/admin.token", S(admin_token),
     check_token, 1},
    {"time scale", "OTA_TIME_SCALE", "time-scale", "1",
     "clock speed-up for tests: platform-side durations are divided by it", T_DOUBLE,
     offsetof(cfg_t, time_scale), 0, check_scale, 0},
    {"database", "OTA_DB", "db", "",
     "database URL; empty = sqlite:DATA/ota.db (postgresql:// selects PostgreSQL)", S(db), check_db,
     0},
    {"firmware store", "OTA_BLOB", "blob", "fs",
     "where firmware bytes live: fs (DATA/firmware) or postgresql (OTA_DB's database)", S(blob),
     check_blob, 0},
    {"log level", "OTA_LOG_LEVEL", "log-level", "info", "debug, info, warn or error", S(log_level),
     check_level, 0},
    {"console folder", "OTA_CONSOLE_DIR", "console-dir", "",
     "folder of the web console's files, served at /; empty = the source tree's server/console",
     S(console_dir), NULL, 0},
    {"HTTP threads", "OTA_HTTP_THREADS", "http-threads", "8", "HTTP worker threads (1..64)", T_INT,
     offsetof(cfg_t, http_threads), 0, check_threads, 0},
    {"HTTP connection limit", "OTA_HTTP_MAX_CONNECTIONS", "http-max-connections", "20000",
     "connections the HTTP listener holds at once, all addresses (16..1000000; lowered to what "
     "the open-file limit allows)",
     T_INT, offsetof(cfg_t, http_max_connections), 0, check_max_conn, 0},
    {"HTTP per-address limit", "OTA_HTTP_MAX_PER_ADDRESS", "http-max-per-address", "256",
     "connections one client address may hold at once (0 = no limit; raise it when many devices "
     "share one address behind NAT)",
     T_INT, offsetof(cfg_t, http_max_per_address), 0, check_per_address, 0},
    {"HTTP head timeout", "OTA_HTTP_HEAD_TIMEOUT", "http-head-timeout", "10",
     "seconds a connection has to send a complete request head (1..3600), counted from the "
     "connection or the previous answer, however slowly the bytes trickle",
     T_INT, offsetof(cfg_t, http_head_timeout), 0, check_head_timeout, 0},
    {"HTTP idle timeout", "OTA_HTTP_IDLE_TIMEOUT", "http-idle-timeout", "120",
     "seconds without a byte either way before a connection with a request under way is "
     "closed (1..86400)",
     T_INT, offsetof(cfg_t, http_idle_timeout), 0, check_idle_timeout, 0},
    {"webhook timeout", "OTA_WEBHOOK_TIMEOUT", "webhook-timeout", "10",
     "seconds a webhook delivery may take, connecting included, before it counts as failed "
     "and is retried (1..300; docs/webhooks.md)",
     T_INT, offsetof(cfg_t, webhook_timeout), 0, check_webhook_timeout, 0},
    {"webhook concurrency", "OTA_WEBHOOK_CONCURRENCY", "webhook-concurrency", "4",
     "deliveries under way at once per webhook (1..64), so a slow receiver holds only its own",
     T_INT, offsetof(cfg_t, webhook_concurrency), 0, check_webhook_concurrency, 0},
    {"RabbitMQ management API", "OTA_RABBITMQ_API", "rabbitmq-api", "",
     "presence from a RabbitMQ cluster's management API instead of the Mosquitto plugin: "
     "http://user:password@host:port of one or more nodes, comma-separated (docs/broker.md, "
     "RabbitMQ); empty = the plugin's presence",
     S(rabbitmq_api), check_rmq_api, 0},
    {"RabbitMQ presence poll", "OTA_RABBITMQ_POLL_MS", "rabbitmq-poll-ms", "1000",
     "milliseconds between two readings of the connected devices from OTA_RABBITMQ_API "
     "(200..60000)",
     T_INT, offsetof(cfg_t, rabbitmq_poll_ms), 0, check_rmq_poll, 0},
    {"partition sessions", "OTA_PARTITION_SESSIONS", "partition-sessions", "auto",
     "1 = on PostgreSQL behind Mosquitto and its plugin, this otad reads only its partitions' "
     "device messages, through one persistent session per partition (docs/broker.md, "
     "\"Partition topics\"); 0 = it reads every message on one session and sets the other "
     "instances' aside; auto = 1 when OTA_INSTANCE is set (several otad), else 0",
     S(partition_sessions), check_sessions, 0},
    {"MQTT read gathering", "OTA_MQTT_GATHER_MS", "mqtt-gather-ms", "20",
     "milliseconds between the starts of two reads of device messages while they keep coming "
     "(0..1000; 0 = read at once): what arrives meanwhile waits at the broker and goes into "
     "the same engine round, one transaction (docs/broker.md, \"Read gathering\")",
     T_INT, offsetof(cfg_t, mqtt_gather_ms), 0, check_gather, 0},
    {"instance resync", "OTA_RESYNC_MS", "resync-ms", "1000",
     "with several otad (OTA_INSTANCE set), milliseconds between two re-reads of what the "
     "other instances changed (100..600000): their batch changes arrive at once as notices "
     "on PostgreSQL (docs/postgresql.md, \"Partitions\"), this re-read makes up for a notice "
     "lost",
     T_INT, offsetof(cfg_t, resync_ms), 0, check_resync, 0},
    {"instance", "OTA_INSTANCE", "instance", "",
     "name of this otad when several share one database and broker (docs/postgresql.md); "
     "empty = the only one",
     S(instance), check_instance, 0},
    {"DDI poll interval", "OTA_DDI_POLL_SECONDS", "ddi-poll-seconds", "60",
     "seconds between two polls of a hawkBit DDI device (1..86400; divided by the time scale, "
     "at least 1 s; docs/ddi.md)",
     T_INT, offsetof(cfg_t, ddi_poll_s), 0, check_ddi_poll, 0},
};
#define NROWS (sizeof rows / sizeof rows[0])

static int apply(cfg_t *c, const cfg_row *r, const char *v, const char *src, char *err,
                 size_t errlen)
{
    char why[160];
    if (strlen(v) >= (r->type == T_STR ? r->size : 64)) {
        snprintf(err, errlen, "%s (%s): value too long", r->name, src);
        return -1;
    }
    if (r->check && r->check(v, why, sizeof why) != 0) {
        if (r->secret)
            snprintf(err, errlen, "%s (%s) %s", r->name, src, why);
        else
            snprintf(err, errlen, "%s (%s) %s, got \"%s\"", r->name, src, why, v);
        return -1;
    }
    char *base = (char *)c + r->off;
    switch (r->type) {
    case T_STR:
        snprintf(base, r->size, "%s", v);
        break;
    case T_DOUBLE:
        *(double *)(void *)base = strtod(v, NULL);
        break;
    case T_INT:
        *(int *)(void *)base = (int)strtol(v, NULL, 10);
        break;
    }
    return 0;
}

int cfg_load(cfg_t *c, int argc, char **argv, char *err, size_t errlen)
{
    memset(c, 0, sizeof *c);
    for (size_t i = 0; i < NROWS; i++)
        if (apply(c, &rows[i], rows[i].dflt, "default", err, errlen) != 0)
            return -1;
    for (size_t i = 0; i < NROWS; i++) {
        const char *v = getenv(rows[i].env);
        if (v && apply(c, &rows[i], v, rows[i].env, err, errlen) != 0)
            return -1;
    }
    for (int a = 1; a < argc; a++) {
        const char *arg = argv[a];
        if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
            c->help = 1;
            continue;
        }
        if (strcmp(arg, "--init-only") == 0) {
            c->init_only = 1;
            continue;
        }
        if (strcmp(arg, "--list-routes") == 0) {
            c->list_routes = 1;
            continue;
        }
        if (strcmp(arg, "--broker-token") == 0) {
            c->broker_token = 1;
            continue;
        }
        if (strncmp(arg, "--", 2) != 0) {
            snprintf(err, errlen, "unexpected argument \"%.100s\" (see --help)", arg);
            return -1;
        }
        const char *name = arg + 2, *eq = strchr(name, '=');
        size_t nlen = eq ? (size_t)(eq - name) : strlen(name);
        const cfg_row *r = NULL;
        for (size_t i = 0; i < NROWS; i++)
            if (strlen(rows[i].flag) == nlen && strncmp(rows[i].flag, name, nlen) == 0)
                r = &rows[i];
        if (!r) {
            snprintf(err, errlen, "unknown option \"--%.*s\" (see --help)",
                     (int)(nlen > 60 ? 60 : nlen), name);
            return -1;
        }
        const char *v = eq ? eq + 1 : NULL;
        if (!v) {
            if (a + 1 >= argc) {
                snprintf(err, errlen, "option --%s needs a value", r->flag);
                return -1;
            }
            v = argv[++a];
        }
        char src[80];
        snprintf(src, sizeof src, "--%s", r->flag);
        if (apply(c, r, v, src, err, errlen) != 0)
            return -1;
    }
    /* no trailing slash on the public URL: links are built as public_url + "/dl/..." */
    size_t ul = strlen(c->public_url);
    while (ul > 0 && c->public_url[ul - 1] == '/')
        c->public_url[--ul] = '\0';
    return 0;
}

void cfg_print_help(FILE *f)
{
    fprintf(f, "Usage: otad [options]\n\n"
               "The OTA firmware upgrade server. Each setting comes from its environment\n"
               "variable or its flag (--flag value or --flag=value); the flag wins.\n\n");
    for (size_t i = 0; i < NROWS; i++)
        fprintf(f, "  --%-14s %-16s %s\n  %-16s %-16s default: %s\n", rows[i].flag, rows[i].env,
                rows[i].help, "", "", *rows[i].dflt ? rows[i].dflt : "(empty)");
    fprintf(f, "\nActions:\n"
               "  --init-only      create the data folder, keys and admin token, apply database\n"
               "                   migrations, print the token and exit\n"
               "  --list-routes    print the HTTP routes (METHOD PATH) and exit\n"
               "  --broker-token   print the token a broker other than the plugin (EMQX...) sends\n"
               "                   to /api/v1/broker/... (docs/broker.md) and exit\n"
               "  --help           this text\n");
}

const char *cfg_db_url(const cfg_t *c, char *out, size_t outlen)
{
    if (c->db[0])
        snprintf(out, outlen, "%s", c->db);
    else
        snprintf(out, outlen, "sqlite:%s/ota.db", c->data_dir);
    return out;
}

int cfg_host_is_loopback(const char *host)
{
    return strcmp(host, "localhost") == 0 || strcmp(host, "::1") == 0 ||
           strncmp(host, "127.", 4) == 0;
}

int cfg_split_addr(const char *addr, char *host, size_t hostlen, int *port)
{
    const char *colon;
    size_t hl;
    if (!addr || !*addr)
        return -1;
    if (addr[0] == '[') {
        const char *rb = strchr(addr, ']');
        if (!rb || rb[1] != ':')
            return -1;
        hl = (size_t)(rb - addr - 1);
        if (hl == 0 || hl >= hostlen)
            return -1;
        memcpy(host, addr + 1, hl);
        host[hl] = '\0';
        colon = rb + 1;
    } else {
        colon = strrchr(addr, ':');
        if (!colon)
            return -1;
        hl = (size_t)(colon - addr);
        if (hl == 0 || hl >= hostlen || memchr(addr, ':', hl))
            return -1;
        memcpy(host, addr, hl);
        host[hl] = '\0';
    }
    const char *p = colon + 1;
    if (!*p || strlen(p) > 5)
        return -1;
    long v = 0;
    for (; *p; p++) {
        if (*p < '0' || *p > '9')
            return -1;
        v = v * 10 + (*p - '0');
    }
    if (v < 1 || v > 65535)
        return -1;
    *port = (int)v;
    return 0;
}
