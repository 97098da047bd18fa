/*
 * otasdk: the device side of the OTA upgrade service (docs/device-protocol.md), as a C99
 * library a device maker links into firmware.
 *
 * What it does: on every MQTT connection it subscribes to the device's push and pull-reply
 * topics, reports the running firmware version and asks for a pending upgrade
 * (ota/firmware/get). It acks every push at once. Under policy "standard" it then
 * downloads the image; under "silent" it hands the job to the application, which calls
 * otasdk_upgrade_start() when it wants the upgrade. The download streams in chunks into
 * the device's flash writer, resumes from the last byte written after a broken
 * connection (HTTP Range), feeds MD5 and SHA-256 while streaming, and only when both match
 * asks the flash writer to make the image final; then the application installs it and the
 * SDK reports the new version. Progress (1..100) and each failure (-1 unknown, -2 download,
 * -3 verify, -4 flash) go to ota/progress.
 *
 * Signed firmware: with trusted Ed25519 public keys configured (otasdk_config.trusted_keys,
 * several for a key rotation) and an Ed25519 verifier (otasdk_config.verify), a job runs
 * only when its signature verifies with one of them over its manifest, the manifest names
 * this device's product and the job's version, size and SHA-256, and its version is not
 * lower than the running one (otasdk_version_cmp). Otherwise the SDK downloads nothing,
 * reports step -3 with a desc naming the cause and keeps the running version. The
 * downloaded bytes are then checked against the signed SHA-256.
 *
 * What the device provides (all at otasdk_create, as structs of function pointers, in the
 * manner of the AWS OTA library's PAL): the MQTT transport (publish, subscribe), the HTTP
 * download, the flash writer, the digest (MD5, SHA-256), the clock, an optional lock and
 * allocator, and the application's callbacks (log lines, events, install). The library
 * has no global state, never prints and never aborts: every failure is a return code.
 * sdk/port/posix (otasdk_posix.h) is a ready Linux port on libmosquitto, libcurl,
 * files and OpenSSL.
 *
 * Memory: otasdk_create allocates the context once (through sys.alloc when given);
 * afterwards the SDK itself does not allocate, except inside jansson while it parses an
 * incoming message or builds an outgoing one (bounded: incoming messages larger than
 * max_message bytes are refused unread, outgoing ones are built in a stack buffer of
 * OTASDK_MSG_MAX bytes). jansson's allocator is process-wide: see
 * otasdk_set_json_allocator(). On out-of-memory a call returns OTASDK_ERR_NOMEM and
 * leaves the context as it was.
 *
 * Threads: otasdk_on_connected() and otasdk_on_message() may run on the transport's
 * thread while otasdk_process() runs on the application's; the SDK serialises its state
 * with sys.lock/sys.unlock (leave them NULL on a single-threaded device). Callbacks into
 * the device are made without the lock held. otasdk_stop() only sets a flag and may be
 * called from a signal handler.
 */
#ifndef OTASDK_H
#define OTASDK_H

#include "otaproto/ota_protocol.h"

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Return codes. Every function returning int returns one of these; 0 is success and
 * every error is negative. otasdk_strerror() gives the text, otasdk_errname() the name. */
#define OTASDK_ERRORS(X)                                                                           \
    X(OTASDK_OK, 0, "success")                                                                     \
    X(OTASDK_ERR_ARG, -1, "invalid argument")                                                      \
    X(OTASDK_ERR_NOMEM, -2, "out of memory")                                                       \
    X(OTASDK_ERR_SHORT_BUFFER, -3, "buffer too small")                                             \
    X(OTASDK_ERR_STATE, -4, "not allowed in the current state")                                    \
    X(OTASDK_ERR_MQTT, -5, "MQTT transport failed")                                                \
    X(OTASDK_ERR_NET, -6, "download connection failed or broke (retryable)")                       \
    X(OTASDK_ERR_HTTP, -7, "download refused by the server (HTTP error status)")                   \
    X(OTASDK_ERR_FLASH, -8, "flash writer failed")                                                 \
    X(OTASDK_ERR_VERIFY, -9, "image size, MD5 or SHA-256 mismatch")                                \
    X(OTASDK_ERR_DIGEST, -10, "digest provider failed")                                            \
    X(OTASDK_ERR_PARSE, -11, "malformed or oversized message")                                     \
    X(OTASDK_ERR_ABORTED, -12, "stopped by the application")                                       \
    X(OTASDK_ERR_INSTALL, -13, "installation failed")

typedef enum {
#define OTASDK__ENUM(name, value, text) name = value,
    OTASDK_ERRORS(OTASDK__ENUM)
#undef OTASDK__ENUM
} otasdk_err;

/* Progress steps of docs/device-protocol.md (ota/progress "step"). 1..100 is a percentage. */
#define OTASDK_STEP_FAILED (-1)          /* failed, cause unknown (also: out of memory) */
#define OTASDK_STEP_DOWNLOAD_FAILED (-2) /* download failed (network, HTTP error, stopped) */
#define OTASDK_STEP_VERIFY_FAILED (-3)   /* size, MD5 or SHA-256 mismatch */
#define OTASDK_STEP_FLASH_FAILED (-4)    /* flash write/finalize or installation failed */

/* Bounds of the fields of a job (bytes, without the NUL). A push exceeding one is
 * refused with reply code 400. */
#define OTASDK_MSGID_MAX OTA_MSGID_MAX
#define OTASDK_VERSION_MAX OTA_VERSION_MAX
#define OTASDK_URL_MAX 1024
#define OTASDK_BATCHID_MAX 64
#define OTASDK_KEY_MAX OTA_IDENT_MAX /* productKey and identifier */
#define OTASDK_DESC_MAX 128 /* progress "desc", longer ones are truncated */
#define OTASDK_MSG_MAX 768  /* an outgoing message, built on the stack */
#define OTASDK_TOPIC_MAX (6 + 2 * OTASDK_KEY_MAX + 32)
#define OTASDK_MANIFEST_MAX 512  /* the signed manifest's bytes */
#define OTASDK_TRUSTED_KEYS_MAX 8 /* trusted public keys */

typedef enum {
    OTASDK_LOG_DEBUG = 0,
    OTASDK_LOG_INFO,
    OTASDK_LOG_WARN,
    OTASDK_LOG_ERROR
} otasdk_log_level;

typedef enum { OTASDK_POLICY_STANDARD = 0, OTASDK_POLICY_SILENT = 1 } otasdk_policy;

/* One upgrade as pushed (ota/firmware/upgrade) or pulled (ota/firmware/get_reply).
 * Fixed-size fields; strings are NUL-terminated. Digests are lowercase hex; sha256 is
 * "" when the platform did not send one (then only MD5 is checked). */
typedef struct {
    char msg_id[OTASDK_MSGID_MAX + 1]; /* the push's msgId (acked with it) */
    otasdk_policy policy;
    uint64_t size;                        /* image bytes, > 0 */
    char version[OTASDK_VERSION_MAX + 1]; /* firmwareVersion it brings */
    char url[OTASDK_URL_MAX + 1];         /* plain HTTP GET, answers Range */
    char md5[33];                         /* "sign", signMethod "Md5" */
    char sha256[65];
    char batch_id[OTASDK_BATCHID_MAX + 1];
    /* signed firmware (docs/device-protocol.md); all "" when the push carried none */
    char manifest[OTASDK_MANIFEST_MAX + 1];
    char signature[96]; /* base64 of 64 bytes */
    char key_id[17];
} otasdk_job;

/* ---- What the device provides ---------------------------------------------------- */

/* MQTT transport. Both functions must be safe to call from any thread (the SDK calls them
 * from inside otasdk_on_connected/otasdk_on_message and from otasdk_process). QoS 1.
 * topic and payload are borrowed for the call. Return 0, or any non-zero on failure.
 * announce_on_suback: 0 = otasdk_on_connected subscribes and announces the device at once
 * (enough with a broker that handles one client's packets in order, like Mosquitto);
 * 1 = otasdk_on_connected only subscribes, and the transport calls otasdk_on_subscribed
 * once both SUBACKs are in (right for any broker; the Linux port does this). */
typedef struct {
    void *user;
    int (*publish)(void *user, const char *topic, const void *payload, size_t len);
    int (*subscribe)(void *user, const char *topic);
    int announce_on_suback;
} otasdk_mqtt_ops;

/* The download sink the SDK passes to http.get. offset is the absolute byte offset in the
 * image of data[0]: for a 206 answer the Content-Range start, for a 200 answer 0 (the
 * server ignored Range). data is borrowed for the call. The port may call it with len 0 at
 * any time (e.g. once a second while the link is stalled) so the SDK can stop it. Returns
 * 0 to go on, non-zero to abort the transfer. */
typedef int (*otasdk_http_sink)(void *arg, uint64_t offset, const void *data, size_t len);

/* HTTP download. get performs one GET of url; when from > 0 it sends "Range: bytes=from-".
 * It delivers the body through sink in chunks of any size as they arrive, and returns:
 *   OTASDK_OK          the server sent the whole body (or the rest of it) and closed normally
 *   OTASDK_ERR_NET     connection failed, broke or stalled (the SDK resumes with Range)
 *   OTASDK_ERR_HTTP    an HTTP error status (4xx/5xx; the SDK does not retry)
 *   OTASDK_ERR_ABORTED sink returned non-zero
 * url is borrowed for the call. */
typedef struct {
    void *user;
    int (*get)(void *user, const char *url, uint64_t from, otasdk_http_sink sink, void *arg);
} otasdk_http_ops;

/* Flash writer: a staging area for the image being downloaded, in the manner of the AWS
 * OTA PAL. Nothing in it counts as the device's image until finalize.
 *   open      starts or resumes staging job's image; *have receives how many bytes of an
 *             earlier, interrupted download of the same image (same sha256/md5 and size)
 *             the staging area holds durably (0 when none: the area is then empty).
 *   write     writes len bytes at offset (offsets are contiguous from *have, or restart at
 *             0 when the server ignored Range).
 *   read      reads back len bytes at offset (used to re-feed the digests after a
 *             restart: the SDK resumes only from bytes it has hashed).
 *   close     ends this session but keeps the staged bytes and a checkpoint, so a later
 *             open resumes (called when the download is stopped or broken for good).
 *   finalize  the staged image is complete and verified: make it the final image.
 *   discard   drops the staged bytes and the checkpoint (verify failure, flash failure).
 * Each returns 0, or non-zero on failure (reported as step -4). read may be NULL: then a
 * restart begins at byte 0. */
typedef struct {
    void *user;
    int (*open)(void *user, const otasdk_job *job, uint64_t *have);
    int (*write)(void *user, uint64_t offset, const void *data, size_t len);
    int (*read)(void *user, uint64_t offset, void *buf, size_t len);
    int (*close)(void *user);
    int (*finalize)(void *user, const otasdk_job *job);
    int (*discard)(void *user);
} otasdk_flash_ops;

typedef enum { OTASDK_MD5 = 0, OTASDK_SHA256 = 1 } otasdk_digest_alg;

/* Streaming digests (MD5 and SHA-256). begin creates a state in *state; update feeds it;
 * finish writes the digest (16 or 32 bytes) to out (outlen bytes available) and frees
 * the state; free drops a state without a result. Each returns 0 or non-zero. */
typedef struct {
    void *user;
    int (*begin)(void *user, otasdk_digest_alg alg, void **state);
    int (*update)(void *user, void *state, const void *data, size_t len);
    int (*finish)(void *user, void *state, unsigned char *out, size_t outlen);
    void (*free)(void *user, void *state);
} otasdk_digest_ops;

/* Clock, sleep, lock, allocator. now_ms is a millisecond clock (required); the SDK reads it
 * once, at otasdk_create, to make this run's msgIds differ from the last run's, so a wall
 * clock (or a persistent boot counter) is the right source.
 * sleep_ms waits between download retries (NULL: retry at once). lock/unlock guard the
 * context when two threads use it (NULL: single-threaded). alloc/free allocate the
 * context (NULL: malloc/free). */
typedef struct {
    void *user;
    uint64_t (*now_ms)(void *user);
    void (*sleep_ms)(void *user, uint32_t ms);
    void (*lock)(void *user);
    void (*unlock)(void *user);
    void *(*alloc)(void *user, size_t size);
    void (*free)(void *user, void *ptr);
} otasdk_sys_ops;

/* Ed25519 verification, for signed firmware. ed25519 returns 1 when sig is pub's valid
 * signature of msg[0..len), else 0. The Linux port uses OpenSSL (otasdk_posix_fill sets
 * it); another port plugs its own (e.g. a vendor crypto library or TweetNaCl). */
typedef struct {
    void *user;
    int (*ed25519)(void *user, const unsigned char pub[32], const void *msg, size_t len,
                   const unsigned char sig[64]);
} otasdk_verify_ops;

/* What the SDK tells the application (otasdk_app_ops.on_event). */
typedef enum {
    OTASDK_EV_JOB_OFFERED = 0,  /* silent policy: a job waits for otasdk_upgrade_start() */
    OTASDK_EV_DOWNLOAD_STARTED, /* step = first percent; value = byte the download resumes at */
    OTASDK_EV_PROGRESS,         /* step = percent reported */
    OTASDK_EV_IMAGE_READY,      /* verified and finalized; install follows */
    OTASDK_EV_SUCCEEDED,        /* installed, the new version was reported */
    OTASDK_EV_FAILED,           /* step = negative step reported, err = cause */
    OTASDK_EV_STOPPED,          /* the download stopped on otasdk_stop(); checkpoint kept */
} otasdk_event_type;

typedef struct {
    otasdk_event_type type;
    const otasdk_job *job; /* borrowed for the callback */
    int step;
    int err; /* an otasdk_err */
    uint64_t value;
    const char *desc; /* borrowed; "" when none */
} otasdk_event;

/* The application.
 *   on_log    gets every log line of the library (NUL-terminated, no newline; borrowed).
 *             NULL: the library is silent.
 *   on_event  optional; see otasdk_event_type.
 *   install   called on the otasdk_process thread once the image is verified and final.
 *             Install it; return OTASDK_OK with the version now running written to
 *             version_out (cap bytes), and the SDK reports that version (a version other
 *             than the job's is reported as step -4, "installed version differs").
 *             Return OTASDK_ERR_INSTALL (or any error) and the SDK reports step -4.
 *             A device that reboots into the new image simply never returns; its firmware
 *             passes the new version to otasdk_create at the next start.
 *             NULL: the SDK takes finalize as installation and reports the job's version. */
typedef struct {
    void *user;
    void (*on_log)(void *user, otasdk_log_level level, const char *line);
    void (*on_event)(void *user, const otasdk_event *ev);
    int (*install)(void *user, const otasdk_job *job, char *version_out, size_t cap);
} otasdk_app_ops;

/* Everything otasdk_create needs. Strings are copied. Numbers left 0 take the default. */
typedef struct {
    const char *product_key;      /* 1..OTASDK_KEY_MAX chars, required */
    const char *identifier;       /* 1..OTASDK_KEY_MAX chars, required */
    const char *firmware_version; /* running version: 1..OTASDK_VERSION_MAX of [A-Za-z0-9_.-] */
    otasdk_mqtt_ops mqtt;         /* required */
    otasdk_http_ops http;         /* required */
    otasdk_flash_ops flash;       /* required except read */
    otasdk_digest_ops digest;     /* required */
    otasdk_sys_ops sys;           /* now_ms required */
    otasdk_app_ops app;
    size_t work_buf_size; /* bytes of the buffer used to re-read staged data, 64..1 MiB; default
                             4096 */
    size_t max_message;   /* largest incoming message accepted, bytes; default 4096 */
    unsigned download_retries; /* reconnections without progress before -2; default 5 */
    uint32_t
        retry_delay_ms; /* first wait between reconnections, doubled up to 30 s; default 1000 */
    unsigned progress_every; /* report progress every N percent, 1..100; default 10 */
    /* Signed firmware: the raw 32-byte Ed25519 public keys the device trusts (copied; at
     * most OTASDK_TRUSTED_KEYS_MAX). 0 keys: signatures are not required nor checked.
     * With keys, verify.ed25519 is required. */
    const unsigned char (*trusted_keys)[32];
    size_t trusted_key_count;
    otasdk_verify_ops verify;
} otasdk_config;

typedef struct otasdk_ctx otasdk_ctx;

/* ---- Lifecycle ------------------------------------------------------------------- */

/* Creates a context in *out. The only allocation the SDK makes itself (through
 * cfg->sys.alloc when set). Nothing is published until otasdk_on_connected().
 * Returns OTASDK_OK; OTASDK_ERR_ARG when a required field is missing or out of bounds;
 * OTASDK_ERR_NOMEM. On error *out is NULL. */
int otasdk_create(const otasdk_config *cfg, otasdk_ctx **out);

/* Frees the context. Accepts NULL. The transport must no longer call into it. */
void otasdk_destroy(otasdk_ctx *ctx);

/* ---- Called by the transport ----------------------------------------------------- */

/* The MQTT session is (re)established: subscribes to ota/firmware/upgrade and
 * ota/firmware/get_reply, then (unless mqtt.announce_on_suback) announces the device as
 * otasdk_on_subscribed does. Returns OTASDK_OK, or OTASDK_ERR_MQTT / OTASDK_ERR_NOMEM for
 * the first step that failed (call it again on the next connection). */
int otasdk_on_connected(otasdk_ctx *ctx);

/* Both subscriptions are acknowledged: reports the running version (ota/version) and asks
 * for a pending upgrade (ota/firmware/get), in that order; the platform pushes only after
 * one of them. Only for transports with mqtt.announce_on_suback. Returns OTASDK_OK,
 * OTASDK_ERR_MQTT or OTASDK_ERR_NOMEM. */
int otasdk_on_subscribed(otasdk_ctx *ctx);

/* An incoming message. topic and payload are borrowed for the call. A push is acked at
 * once (ota/firmware/upgrade_reply with the push's msgId and code 200; code 400 for a
 * malformed one) and queued for otasdk_process(). A get_reply carrying a job is acked the
 * same way and queued; a get_reply with code 404 means nothing is pending. A job equal to
 * the one in progress or offered (same version, size, md5, batchId and url: a push and the
 * get_reply to our get, or a repeated push) is acked and not queued again; a newer job
 * replaces one still queued. Returns OTASDK_OK; OTASDK_ERR_PARSE (malformed or larger than
 * max_message, nothing queued); OTASDK_ERR_NOMEM (nothing queued); OTASDK_ERR_MQTT (the ack failed
 * to send, the job is queued anyway); OTASDK_ERR_ARG for a topic that is not this device's. */
int otasdk_on_message(otasdk_ctx *ctx, const char *topic, const void *payload, size_t len);

/* ---- Called by the application --------------------------------------------------- */

/* Runs whatever is pending: a newly received job (start it, or offer it under silent
 * policy), an upgrade the application started, and the download, verification and
 * install that follow. Blocks for the duration of a download. Call it from the
 * application's loop. Returns OTASDK_OK when nothing failed, else the error of the
 * upgrade that failed in this call (already reported to the platform). */
int otasdk_process(otasdk_ctx *ctx);

/* 1 when otasdk_process has work to do, else 0. Call it from the otasdk_process thread. */
int otasdk_pending(otasdk_ctx *ctx);

/* Silent policy: start the offered job at the next otasdk_process(). Returns OTASDK_OK,
 * or OTASDK_ERR_STATE when no job is offered. */
int otasdk_upgrade_start(otasdk_ctx *ctx);

/* Silent policy: forget the offered job (nothing is reported; the platform's timeout or
 * validity decides). Returns OTASDK_OK, or OTASDK_ERR_STATE when no job is offered. */
int otasdk_upgrade_decline(otasdk_ctx *ctx);

/* Copies the current job (offered, downloading or installing) to *out. Returns
 * OTASDK_OK, or OTASDK_ERR_STATE when there is none. */
int otasdk_job_get(otasdk_ctx *ctx, otasdk_job *out);

/* Sets the running version (copied) and reports it on ota/version. Use it when the
 * device changed image outside the SDK. Returns OTASDK_OK; OTASDK_ERR_ARG (empty, too
 * long, or a character outside [A-Za-z0-9_.-] that the platform would refuse; nothing
 * changed); OTASDK_ERR_MQTT / OTASDK_ERR_NOMEM (version kept, report lost:
 * it is sent again at the next otasdk_on_connected). */
int otasdk_set_version(otasdk_ctx *ctx, const char *version);

/* Reports a progress step (1..100 or -1..-4) with a description (copied, truncated to
 * OTASDK_DESC_MAX) for the current job. The SDK reports its own steps; this is for
 * applications with steps of their own (e.g. a long install). Returns OTASDK_OK,
 * OTASDK_ERR_ARG, OTASDK_ERR_MQTT or OTASDK_ERR_NOMEM. */
int otasdk_report_progress(otasdk_ctx *ctx, int step, const char *desc);

/* Asks the platform for this device's pending upgrade (ota/firmware/get with data {}); the
 * answer arrives through otasdk_on_message as a job or a 404. The SDK does this itself on
 * every connection; call it e.g. after declining a silent job, to be offered it again.
 * Returns OTASDK_OK, OTASDK_ERR_ARG, OTASDK_ERR_MQTT or OTASDK_ERR_NOMEM. */
int otasdk_fetch(otasdk_ctx *ctx);

/* Asks the download in progress (if any) to stop at its next chunk; it keeps its
 * checkpoint and is not reported as failed. Only sets a flag: async-signal-safe. */
void otasdk_stop(otasdk_ctx *ctx);

/* Writes "/sys/{productKey}/{identifier}/{suffix}" into buf (cap bytes). Returns
 * OTASDK_OK, OTASDK_ERR_ARG, or OTASDK_ERR_SHORT_BUFFER (buf then holds ""). */
int otasdk_topic(const otasdk_ctx *ctx, const char *suffix, char *buf, size_t cap);

/* Compares two firmware versions for anti-rollback: < 0 when a is lower than b, 0 when
 * equal, > 0 when higher. Versions are split into parts at '.', '-' and '_'; parts are
 * compared in order, two parts of digits as numbers (so 1.10 > 1.9), otherwise as bytes
 * (ASCII), and a digit part is higher than a non-digit part; when one version runs out of
 * parts first, it is the lower (1.0 < 1.0.1). "2.0.0" vs "10.0.0" is lower. */
int otasdk_version_cmp(const char *a, const char *b);

/* Text and name ("OTASDK_ERR_NET") of a return code; never NULL. */
const char *otasdk_strerror(int err);
const char *otasdk_errname(int err);

/* Sets jansson's allocator, which the SDK uses to parse and build messages. jansson
 * keeps it process-wide, so this is a separate call the firmware makes once, before any
 * otasdk_create, and only when it wants its own allocator (e.g. a fixed pool).
 * Returns OTASDK_OK, or OTASDK_ERR_ARG when either function is NULL. */
int otasdk_set_json_allocator(void *(*malloc_fn)(size_t), void (*free_fn)(void *));

#ifdef __cplusplus
}
#endif

#endif
