/*
 * ota-fleet: many simulated devices in one process. This header is the fleet's inside:
 * the options (one struct, filled by main.c), the per-device record, and the pieces the
 * event loop (fleet.c), the downloads (fleet_dl.c) and the management-API client
 * (fleet_api.c) share.
 *
 * Expected load: up to 100,000 devices described by fleet_dev records (about 200 bytes
 * each); at most `max_connected` of them hold an MQTT connection (a libmosquitto client,
 * a few KB) at one time; at most `dl_concurrency` hold an HTTP download.
 */
#ifndef OTA_FLEET_H
#define OTA_FLEET_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

struct mosquitto;

/* What a simulated device does with a push. */
typedef enum {
    FB_SUCCESS = 0, /* ack, progress, download (a share), progress, new version */
    FB_FAIL1,       /* ack, progress 10, then step -1 (failed, unknown) */
    FB_FAIL2,       /* ... step -2 (download failed) */
    FB_FAIL3,       /* ... step -3 (verify failed) */
    FB_FAIL4,       /* ... step -4 (flash failed) */
    FB_NOACK,       /* receives the push and says nothing */
    FB_STALL,       /* ack, progress 10, then silence */
    FB_OFFLINE,     /* never connects */
    FB_COUNT
} fleet_behaviour;

/* How a device's run ended (a device reaches one of these once). */
typedef enum {
    FO_NONE = 0,   /* not finished (yet) */
    FO_SUCCEEDED,  /* reported the pushed version */
    FO_FAILED,     /* reported its failure step as told (FB_FAIL*) */
    FO_NOACK,      /* got a push and ignored it as told */
    FO_STALLED,    /* acked, one progress, silence, as told */
    FO_OFFLINE,    /* never connected, as told */
    FO_ACTIVATED,  /* --activate-only: connected and reported its version */
    FO_REFUSED,    /* the broker refused the login (error) */
    FO_CONN_ERROR, /* could not keep a connection (error) */
    FO_DL_ERROR,   /* the download failed; reported -2 (error) */
    FO_VERIFY_ERROR, /* the md5 did not match; reported -3 (error) */
    FO_COUNT
} fleet_outcome;

const char *fleet_behaviour_name(int b);
const char *fleet_outcome_name(int o);
/* 1 when the outcome is what the device was told to do, 0 for an error or none. */
int fleet_outcome_ok(int o);

typedef struct {
    char broker_host[128];
    int broker_port;
    char cafile[512]; /* "" = plain MQTT; else MQTT over TLS verified against it (and the
                         CA of https:// API and download URLs) */
    char api_url[512];      /* http://host:port[,http://host:port...] (several otad) */
    char token[128];        /* admin token */
    char key_file[512];     /* server key, for device secrets */
    char product_key[64];
    char create_product[128]; /* create a product of this name first (then product_key) */
    char prefix[32];        /* identifiers are prefix + %06u */
    uint32_t first;         /* index of the first device */
    uint32_t n_devices;
    int do_register;        /* import the fleet over the API first */
    char version[64];       /* firmware version the devices start with */
    unsigned mix[FB_COUNT]; /* weights */
    int fail_times;         /* 0: fail every push; k: fail the first k pushes, then succeed */
    int fail_log_fd;        /* -1, or O_APPEND: one line "UNIX_MS" per failure report published */
    int download_pct;       /* share of succeeding devices that download, 0..100 */
    long range_size;        /* bytes per Range request; 0: one plain GET */
    int dl_concurrency;
    int step_ms;            /* delay between a device's protocol steps */
    int connect_rate;       /* new connections per second */
    uint32_t max_connected; /* per worker process */
    uint32_t max_handshakes; /* per worker: connects not yet answered by a CONNACK */
    int procs;              /* worker processes */
    int leave;              /* disconnect once finished */
    int activate_only;
    int keepalive;
    char bind_addrs[8][48]; /* local addresses to spread connections over */
    int n_bind;
    int duration_s;         /* give up after this long */
    char results_path[512];
    char summary_json[512];
    long long batch_firmware; /* >0: create a batch of this firmware once the fleet is ready */
    char batch_json[1024];  /* extra fields for the batch body */
    int verbose;
    int ddi;              /* hawkBit DDI devices (fleet_ddi.c) instead of MQTT */
    int ddi_poll_ms;      /* 0: the server's interval */
    int ddi_concurrency;  /* requests in flight; 0: 1000 */
} fleet_opts;

/* Push msgIds a device remembers to catch duplicates (one per attempt: the server makes at
 * most 1 + retryTimes (<= 5) attempts a batch); beyond that the oldest are forgotten.
 * 64 bytes for each device that was pushed. */
#define FLEET_SEEN_MAX 8

/* One simulated device. Times are monotonic ms since the fleet started, 0 = not yet. */
typedef struct fleet_dev {
    struct mosquitto *mosq;
    int fd;              /* socket registered with epoll, -1 when none */
    uint32_t idx;        /* index into the fleet (identifier = prefix + first + idx) */
    int32_t heap_pos;    /* position in the timer heap, -1 when no timer */
    int64_t due;         /* timer deadline */
    uint8_t behaviour;   /* fleet_behaviour */
    uint8_t outcome;     /* fleet_outcome */
    uint8_t state;       /* fleet.c's DS_* */
    uint8_t step;        /* fleet.c's W_* while working on a push */
    uint8_t epollout;    /* EPOLLOUT currently requested */
    uint8_t will_download;
    uint8_t upgraded;    /* reports the new version from now on */
    uint8_t reconnects;
    uint8_t handshaking; /* connect issued, no CONNACK or close yet (counted in the fleet) */
    uint16_t pushes;     /* pushes taken as new attempts (distinct msgIds) */
    uint16_t failures;   /* failure reports sent */
    uint16_t dup_pushes; /* second PUBLISHes of a msgId already received: a server bug */
    uint16_t redelivered; /* the same PUBLISH again (same packet id, same connection): QoS 1 */
    uint8_t n_seen;      /* entries of seen_ids in use */
    int last_push_mid;   /* packet id of the last push on this connection, -1 none */
    uint64_t *seen_ids;  /* hashes of the push msgIds received, at most FLEET_SEEN_MAX; owned */
    uint32_t msg_seq;
    int final_mid;       /* mid of the publish that ends this device's run, -1 none */
    int64_t t_start, t_connected, t_ready, t_push, t_done;
    int64_t size;        /* pushed firmware size */
    uint64_t downloaded;
    char *push_msgid;    /* of the push being worked on; owned */
    char *url;           /* owned */
    char *new_version;   /* owned */
    char md5[33];
} fleet_dev;

typedef struct fleet fleet;

/* ---- fleet_dl.c: HTTP downloads with libcurl multi, inside the fleet's epoll loop ---- */
typedef struct fleet_dl fleet_dl;
/* Called when a device's download ends: ok 1 and md5_ok 1 on success. */
typedef void (*fleet_dl_done_fn)(void *ud, fleet_dev *dev, int ok, int md5_ok, const char *err);
/* cafile: CA for https:// downloads ("" = the system's); peer and host name are verified. */
fleet_dl *fleet_dl_new(int epfd, int concurrency, long range_size, const char *cafile,
                       fleet_dl_done_fn done, void *ud);
void fleet_dl_free(fleet_dl *d);
/* Queues dev's download of dev->url (dev->size bytes, dev->md5 expected). */
void fleet_dl_start(fleet_dl *d, fleet_dev *dev);
/* epoll event on a curl socket */
void fleet_dl_event(fleet_dl *d, int fd, uint32_t events);
/* Ms until curl wants a timeout call (-1: none); fleet_dl_tick runs it when due. */
long fleet_dl_timeout(fleet_dl *d);
void fleet_dl_tick(fleet_dl *d);
int fleet_dl_active(fleet_dl *d);
uint64_t fleet_dl_bytes(fleet_dl *d);

/* ---- fleet_api.c: the management API (blocking libcurl easy calls) ---- */
typedef struct {
    long status;
    char *body; /* NUL-terminated, owned */
    size_t len;
} fleet_http_resp;
/* One request; body may be NULL. Returns 0 when a response came, -1 otherwise. */
int fleet_api_request(const fleet_opts *o, const char *method, const char *path,
                      const char *content_type, const char *body, size_t len, fleet_http_resp *r);
void fleet_http_resp_free(fleet_http_resp *r);
/* Creates the product named o->create_product, writes its key into o->product_key. */
int fleet_api_create_product(fleet_opts *o);
/* NDJSON import of the whole fleet. Returns 0 or -1 (logged). */
int fleet_api_import(const fleet_opts *o);

/* What the batch controller thread measured. */
typedef struct {
    const fleet_opts *o;
    atomic_int ready_to_start; /* 1: the first wave is ready; 2: the loop ended, give up */
    atomic_int done;           /* set by the controller when the batch ended (or failed) */
    int failed;                /* the batch could not be created / polled */
    char batch_id[64];
    long long total;
    long long succeeded;
    long long failed_devices;
    char state[32];
    int64_t t_create;   /* mono ms (fleet clock) just before the POST */
    int64_t t_created;  /* after the 201 */
    int64_t t_end;      /* first poll that saw the batch no longer in_progress */
    int64_t server_ms;  /* endTime - startTime as the server recorded them */
    int64_t t0;         /* the fleet's clock origin (ota_time_mono_ms) */
    int64_t wall_create, wall_end; /* t_create and t_end as Unix ms (to line up with samplers) */
} fleet_batch_ctl;
/* Thread body: waits for ready_to_start, creates the batch, polls it until it ends. */
void *fleet_api_batch_thread(void *arg);
void fleet_api_batch_bind(fleet_batch_ctl *c, const fleet_opts *o);

/* ---- shared between the worker processes and the parent (main.c) ----
 * libmosquitto 2.0 holds three descriptors per client (its socket and a socketpair), so one
 * process holds at most RLIMIT_NOFILE / 3 devices connected. The fleet therefore runs in
 * worker processes, each owning a contiguous slice of the devices; this anonymous shared
 * mapping carries their live counters, each device's result and the batch's progress. */
#define FLEET_MAX_PROCS 16

/* One device's result, written by its worker at the end. Times in ms since fleet start. */
typedef struct {
    uint8_t behaviour, outcome;
    uint16_t pushes;
    uint16_t dup_pushes, redelivered; /* see fleet_dev */
    int32_t t_start, t_connected, t_ready, t_push, t_done;
    uint64_t downloaded;
} fleet_devres;

/* One worker's counters; the atomics are live, the rest final once `exited` is set. */
typedef struct {
    atomic_uint ready, wave, active, connected_once, pushed_devs, finished;
    atomic_int wave_known, exited;
    uint32_t peak_active;
    uint64_t pushes, msgs_out, msgs_in, dl_bytes;
    int64_t t_all_connected, t_first_push, t_last_done;
} fleet_worker_stats;

typedef struct {
    atomic_int batch_done;   /* 1: no batch, or the batch ended / failed */
    atomic_int batch_failed;
    _Atomic int64_t batch_end_ms; /* when the batch ended (ms since t0); 0 while running or none */
    int64_t t0;              /* ota_time_mono_ms() at the start; every process's origin */
    int n_workers;
    atomic_int url_taken;    /* the first push's url was copied into first_url */
    char first_url[1024];    /* as a device got it (the bench downloads from it) */
    fleet_worker_stats w[FLEET_MAX_PROCS];
    fleet_devres res[];      /* n_devices entries */
} fleet_shared;

/* The behaviour of device number i (0-based in the fleet) under o's mix, spread evenly;
 * and whether it downloads. Same answer in every process. */
void fleet_assign(const fleet_opts *o, uint32_t n, uint8_t *behaviour, uint8_t *download);

/* ---- fleet.c: one worker ---- */
/* Runs devices [lo, hi) of the fleet until each finished its behaviour and the batch (if
 * any) ended, or the duration ran out. Results go to sh->res[lo..hi), counters to sh->w[k].
 * Returns 0 when the loop ran, -1 on setup errors. */
int fleet_run(const fleet_opts *o, const unsigned char key[32], fleet_shared *sh, int k,
              uint32_t lo, uint32_t hi);

/* ---- fleet_ddi.c: --ddi, a fleet of hawkBit DDI devices (one process, libcurl multi) ---- */
/* Runs the whole DDI fleet (and its batch, when o->batch_firmware is set) and prints the
 * summary. Returns 0 when every device polled and the batch (if any) completed, else 1. */
int fleet_ddi_main(const fleet_opts *o, const unsigned char key[32]);

/* ---- fleet_report.c ---- */
/* Prints the summary, writes --summary-json and --results. Returns the number of devices
 * that did not end as told plus those that got one attempt pushed twice. */
int fleet_report(const fleet_opts *o, fleet_shared *sh, const fleet_batch_ctl *b, int64_t elapsed);

#endif
