/*
 * sdk_internal: the context of the device SDK and the functions its three files share
 * (core.c: lifecycle, state table, API; msg.c: the JSON messages of docs/device-protocol.md;
 * download.c: streaming download, resume and verification). Not installed, not public.
 */
#ifndef OTASDK_INTERNAL_H
#define OTASDK_INTERNAL_H

#include "otasdk/otasdk.h"

#include <jansson.h>
#include <signal.h>
#include <stdarg.h>

/* States and events of the agent's transition table (core.c). */
typedef enum {
    SDK_ST_IDLE = 0,
    SDK_ST_OFFERED,
    SDK_ST_DOWNLOADING,
    SDK_ST_INSTALLING,
    SDK_ST_COUNT
} sdk_state;

typedef enum {
    SDK_EV_NONE = 0,
    SDK_EV_JOB_STANDARD, /* a new job to run now */
    SDK_EV_JOB_SILENT,   /* a new job for the application to start */
    SDK_EV_JOB_CURRENT,  /* a job for the version already running */
    SDK_EV_START,        /* the application started the offered job */
    SDK_EV_DECLINE,      /* the application declined it */
    SDK_EV_IMAGE_OK,     /* downloaded, verified, finalized */
    SDK_EV_FAILED,       /* failure, already reported */
    SDK_EV_STOPPED,      /* otasdk_stop() during the download */
    SDK_EV_INSTALLED,    /* installed, version reported */
    SDK_EV_COUNT
} sdk_event;

#define SDK_EVQ_LEN 8

/* Download state of the job in progress (process thread only). */
typedef struct {
    uint64_t offset; /* bytes written, hashed and accepted: the resume point */
    void *md5;       /* digest states, NULL when not begun */
    void *sha;
    int err;           /* set by the sink when it aborts for a reason of its own */
    unsigned last_pct; /* last percent reported */
} sdk_download;

struct otasdk_ctx {
    otasdk_config cfg; /* copy; its string pointers point at the fields below */
    char product_key[OTASDK_KEY_MAX + 1];
    char identifier[OTASDK_KEY_MAX + 1];
    char version[OTASDK_VERSION_MAX + 1]; /* running version (under lock) */

    /* Shared with the transport thread, under cfg.sys.lock. */
    otasdk_job incoming; /* newest job received, not yet taken by otasdk_process */
    int incoming_valid;
    int start_req;
    int decline_req;
    otasdk_job job; /* current job (state != IDLE) */
    int has_job;
    uint32_t msg_counter;
    uint64_t boot_ms;
    volatile sig_atomic_t stop;

    /* otasdk_process thread only. */
    sdk_state state;
    sdk_event evq[SDK_EVQ_LEN];
    int evq_head, evq_len;
    int last_err;
    sdk_download dl;
    unsigned char *work; /* work_buf_size bytes, allocated with the context */
    unsigned char keys[OTASDK_TRUSTED_KEYS_MAX][32]; /* trusted keys (cfg.trusted_keys) */
    size_t n_keys;
};

void sdk__log(otasdk_ctx *c, otasdk_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void sdk__lock(otasdk_ctx *c);
void sdk__unlock(otasdk_ctx *c);
void sdk__emit(otasdk_ctx *c, otasdk_event_type type, int step, int err, uint64_t value,
               const char *desc);
void sdk__post(otasdk_ctx *c, sdk_event ev);

/* msg.c */
/* A fresh msgId into out (OTASDK_MSGID_MAX+1 bytes). */
void sdk__msg_id(otasdk_ctx *c, char *out);
/* Publishes {"msgId","version":"1.0"[,"code"][,"data"]} to the device topic suffix.
 * msg_id NULL: a fresh one. code < 0: none. data may be NULL; borrowed. */
int sdk__send(otasdk_ctx *c, const char *suffix, const char *msg_id, int code, json_t *data);
int sdk__send_progress(otasdk_ctx *c, int step, const char *desc);
int sdk__send_version(otasdk_ctx *c, const char *version);
/* Fills job from a push's or get_reply's "data" object. OTASDK_OK or OTASDK_ERR_PARSE. */
int sdk__parse_job(json_t *data, otasdk_job *job);

/* sign.c */
/* With trusted keys: 0 when c->job is signed by one of them and its manifest matches the
 * device and the job (product, version, size, sha256) and is not a downgrade; else -1 with
 * the cause in desc. Without keys: 0. */
int sdk__check_signature(otasdk_ctx *c, char *desc, size_t cap);

/* download.c */
/* Downloads, verifies and finalizes c->job. Reports progress and failures itself.
 * Returns OTASDK_OK, OTASDK_ERR_ABORTED (stopped, checkpoint kept) or the failure. */
int sdk__download(otasdk_ctx *c);

#endif
