/*
 * config: otad's settings as one table (name, environment variable, command-line flag,
 * default, help, validation), in the spirit of Redis's config table. The table drives
 * parsing (defaults, then environment, then flags), validation and `otad --help`, so a
 * setting is added in one place. Read once at start; the result is immutable.
 */
#ifndef OTAD_CONFIG_H
#define OTAD_CONFIG_H

#include <stddef.h>
#include <stdio.h>

#define CFG_STR_MAX 1024

typedef struct {
    char http_addr[256];           /* host:port the HTTP server listens on */
    char https_addr[256];          /* host:port of the HTTPS listener; "" = none */
    char mqtts_addr[256];          /* the broker's TLS listener (names in the certificate) */
    char mqtts_cert_addr[256];     /* the broker's device-certificate listener; "" = none */
    char tls_cert[CFG_STR_MAX];    /* server certificate (PEM); "" = DATA/keys/tls-cert.pem */
    char tls_key[CFG_STR_MAX];     /* its key; "" = DATA/keys/tls-key.pem */
    char tls_ca[CFG_STR_MAX];      /* CA devices trust; "" = DATA/keys/ca.pem */
    char tls_names[512];           /* more names for the generated certificate, comma-separated */
    int allow_plaintext;           /* 1 = a plain listener may be on a non-loopback address */
    char public_url[512];          /* base URL put into download links, no trailing '/' */
    char mqtt_addr[256];           /* host:port of the broker */
    char data_dir[CFG_STR_MAX];    /* database, firmware files, keys */
    char admin_token[256];         /* "" = generated and kept in data_dir/keys/admin.token */
    double time_scale;             /* platform-side durations are divided by it; > 0 */
    char db[CFG_STR_MAX];          /* "" = sqlite:$OTA_DATA_DIR/ota.db */
    char blob[16];                 /* firmware bytes: "fs" (DATA/firmware) or "postgresql" */
    char log_level[16];            /* debug|info|warn|error */
    char console_dir[CFG_STR_MAX]; /* static console files served at /; "" = built-in path (otad
                                      fills) */
    int http_threads;              /* libmicrohttpd thread pool size, 1..64 */
    int http_max_connections;      /* connections held at once, all addresses; 16..1000000 */
    int http_max_per_address;      /* connections per client address; 0 = no limit */
    int http_head_timeout;         /* seconds to send a complete request head; 1..3600 */
    int http_idle_timeout;         /* seconds without traffic once a request is under way */
    int webhook_timeout;           /* seconds per delivery attempt, 1..300 */
    int webhook_concurrency;       /* deliveries under way per webhook, 1..64 */
    int ddi_poll_s;                /* hawkBit DDI devices' poll interval before scaling, 1..86400 */
    char rabbitmq_api[1024];       /* "" = presence from the plugin; else the management API
                                      URLs of a RabbitMQ cluster (mqtt/rmq_presence.h) */
    int rabbitmq_poll_ms;          /* between two readings of it, 200..60000 */
    char partition_sessions[8];    /* "1" = with leases, read device messages through one
                                      persistent session per partition (docs/broker.md);
                                      "auto" = so when instance is set; "0" = never */
    int mqtt_gather_ms;            /* read phases of the MQTT sessions start at most this
                                      often while messages keep coming, 0..1000 */
    int resync_ms;                 /* with instance set: the engine's re-read of what the
                                      others changed, 100..600000 */
    char instance[40];             /* "" = single instance; else the MQTT client id is
                                      otad-<instance> and the engine re-reads shared state
                                      from the store periodically (several otad) */
    /* actions (flags only) */
    int help;        /* --help */
    int init_only;   /* --init-only: prepare data dir, keys, token, migrations; exit */
    int list_routes; /* --list-routes: print "METHOD PATTERN" lines; exit */
    int broker_token; /* --broker-token: print the broker HTTP token (docs/broker.md); exit */
} cfg_t;

/* Fills c from defaults, the environment (OTA_*) and argv (--name value or --name=value).
 * On a bad value or unknown flag writes one line to err (size errlen) naming the setting
 * and returns -1; c is then partly filled. Returns 0 on success. */
int cfg_load(cfg_t *c, int argc, char **argv, char *err, size_t errlen);

/* Writes the usage text (every setting with its env, flag, default and help) to f. */
void cfg_print_help(FILE *f);

/* The database URL with the default applied: "sqlite:<data_dir>/ota.db" when db is "".
 * Writes into out; returns out. */
const char *cfg_db_url(const cfg_t *c, char *out, size_t outlen);

/* 1 when host (as cfg_split_addr gives it) is a loopback address or "localhost". */
int cfg_host_is_loopback(const char *host);

/* Splits "host:port" or "[v6]:port" into host (without brackets) and port.
 * Returns 0, or -1 when malformed or the port is not 1..65535. */
int cfg_split_addr(const char *addr, char *host, size_t hostlen, int *port);

#endif
