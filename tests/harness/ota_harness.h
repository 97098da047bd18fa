/*
 * ota_harness: what integration tests need to run the real system as a user would.
 * It makes a temp data folder, picks free loopback ports, starts mosquitto (with the
 * project's generated configuration and plugin) and otad as child processes, waits
 * until they accept, and stops them again; and it talks HTTP to otad through libcurl.
 * Children get PR_SET_PDEATHSIG, so a crashed test never leaves them running.
 */
#ifndef OTA_HARNESS_H
#define OTA_HARNESS_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define OTH_MAX_ENV 16

typedef struct {
    char dir[256];       /* temp data folder (OTA_DATA_DIR), removed by oth_env_cleanup */
    int http_port;       /* otad's HTTP port on 127.0.0.1 */
    int mqtt_port;       /* broker's port on 127.0.0.1 */
    pid_t broker_pid;    /* 0 when not running */
    pid_t otad_pid;      /* 0 when not running */
    char admin_token[80];
    char base_url[64];   /* http://127.0.0.1:PORT */
    unsigned char key[32];           /* the server key (keys/server.key) */
    char *extra_env[OTH_MAX_ENV];    /* "NAME=value" added to otad's environment; owned */
    int n_extra_env;
    int keep_dir;        /* set to keep the folder after cleanup (debugging) */
    /* PostgreSQL (only when OTA_TEST_PG_URL is set, e.g.
     * postgresql:///postgres?host=/var/run/postgresql): oth_env_init creates a fresh
     * database ota_<random> through that URL and gives otad OTA_DB=<its URL>;
     * oth_env_cleanup drops it. Empty strings otherwise (otad uses SQLite in dir). */
    /* TLS (oth_env_tls): 0 ports = that listener is off (otad gets OTA_HTTPS_ADDR="") */
    int https_port;        /* otad's HTTPS port on 127.0.0.1 */
    int mqtts_port;        /* broker's TLS port (password logins) */
    int mqtts_cert_port;   /* broker's TLS port that requires a device certificate */
    char ca_path[300];     /* DIR/keys/ca.pem, the CA devices trust */
    char pg_db[40];        /* the test's database name */
    char pg_url[1024];     /* its URL (what otad gets as OTA_DB) */
} oth_env;

/* Makes the folder, the server key and free ports. Returns 0 or -1. */
int oth_env_init(oth_env *e);
/* Turns TLS on for this env: free ports for otad's HTTPS listener and the broker's two TLS
 * listeners, and the CA and server certificate generated as `make run` does
 * (otad --init-only). Call after oth_env_init, before starting anything. Returns 0 or -1. */
int oth_env_tls(oth_env *e);
/* Runs SQL (one or more statements) on the test's PostgreSQL database with psql.
 * Returns 0, or -1 when it failed or the test runs on SQLite (pg_db empty). */
int oth_pg_sql(oth_env *e, const char *sql);
/* Adds NAME=value to otad's environment for the next oth_otad_start. */
void oth_env_set(oth_env *e, const char *name, const char *value);
/* Stops whatever runs, removes the folder (unless keep_dir), frees what it owns. */
void oth_env_cleanup(oth_env *e);

/* Starts mosquitto with scripts/broker-conf.sh's configuration; waits until it accepts. */
int oth_broker_start(oth_env *e);
/* Sends sig (SIGTERM or SIGKILL), waits for the exit. Returns 0 or -1. */
int oth_broker_stop(oth_env *e, int sig);
/* Starts otad; waits until GET /api/v1/health answers 200 (at most 20 s). Returns 0 or -1. */
int oth_otad_start(oth_env *e);
int oth_otad_stop(oth_env *e, int sig);
/* Starts one more otad on e's store, broker, data folder and token, as OTA_INSTANCE=instance
 * on a free HTTP port (its URL into base_url, len >= 32), its log DIR/otad-<instance>.log;
 * waits until it is healthy (at most 20 s). Returns its pid (stop it with oth_stop_pid),
 * or -1. */
pid_t oth_otad_start_instance(oth_env *e, const char *instance, char *base_url, size_t len);
/* Prints the last lines of otad's and the broker's logs to stderr (after a failure). */
void oth_dump_logs(oth_env *e);
/* Prints the last max bytes (at most 8 KiB) of a file to stderr. */
void oth_dump_file(const char *path, size_t max);

/* A device's secret as the server derives it. out >= 33 bytes. */
int oth_device_secret(oth_env *e, const char *product_key, const char *identifier, char *out);

/* Sleeps ms milliseconds; the monotonic clock in milliseconds. */
void oth_sleep_ms(int ms);
int64_t oth_now_ms(void);

/* Picks a free TCP port on 127.0.0.1. */
int oth_free_port(void);
/* Waits until a TCP connect to 127.0.0.1:port succeeds. Returns 0 or -1 on timeout. */
int oth_wait_tcp(int port, int timeout_ms);
/* Starts argv with extra "NAME=value" env entries, stdout+stderr appended to log_path. */
pid_t oth_spawn(char *const argv[], char *const env_add[], int n_env, const char *log_path);
/* Sends sig to pid and reaps it (SIGKILL after timeout_ms). Returns 0 or -1. */
int oth_stop_pid(pid_t pid, int sig, int timeout_ms);

typedef struct {
    long status;  /* HTTP status, 0 when the request failed */
    char *body;   /* NUL-terminated response body; owned */
    size_t len;
    json_t *json; /* parsed body when it is JSON, else NULL; owned */
    char content_type[128];
    char headers[4096]; /* raw response headers (truncated) */
} oth_resp;

/* One HTTP request to otad. path starts with "/"; auth: 1 adds the admin bearer token.
 * extra_headers: NULL-terminated list of "Name: value", or NULL. Returns 0 when a response
 * came (whatever its status), -1 otherwise. Free r with oth_resp_free. */
int oth_http(oth_env *e, const char *method, const char *path, int auth, const char *content_type,
             const void *body, size_t len, const char *const *extra_headers, oth_resp *r);
/* Same, with a full URL. */
int oth_http_url(const char *method, const char *url, const char *token, const char *content_type,
                 const void *body, size_t len, const char *const *extra_headers, oth_resp *r);
/* GET/POST JSON shortcuts with the admin token. json_body may be NULL (borrowed). */
int oth_get(oth_env *e, const char *path, oth_resp *r);
int oth_post_json(oth_env *e, const char *path, json_t *json_body, oth_resp *r);
/* Multipart upload: fields as name/value pairs (NULL-terminated), file part "file". */
int oth_upload(oth_env *e, const char *path, const char *const *fields, const char *file_name,
               const void *data, size_t len, oth_resp *r);
void oth_resp_free(oth_resp *r);

/* The partitions instance `name` holds now, from GET /api/v1/cluster of the otad at
 * base_url (docs/postgresql.md, "Partitions"): the leases of that name still valid; on a
 * store without leases (SQLite) every instance works on all of them (64). -1 when the
 * route did not answer. *leases (may be NULL) gets whether the store takes leases. */
int oth_partitions_held(const char *base_url, const char *token, const char *name, int *leases);
/* The value of the unlabelled sample NAME of GET base_url/metrics, or -1 when it cannot be
 * read. */
double oth_metric(const char *base_url, const char *token, const char *name);

/* Error code and field of a JSON error body, or "" when absent. Borrowed from r. */
const char *oth_err_code(const oth_resp *r);
const char *oth_err_field(const oth_resp *r);

#endif
