/*
 * otasdk_posix: the ready Linux port of the device SDK (library otasdk_posix).
 *
 *   MQTT     libmosquitto, its own network thread, reconnects with backoff (1..30 s);
 *            client id and username "{productKey}.{identifier}", password deviceSecret
 *            (or a device certificate), clean session, QoS 1. With ca_file: TLS 1.2+,
 *            the broker's certificate and host name verified against ca_file; a failed
 *            verification is logged (on_log, level error) and retried, never replaced by
 *            a plain connection. Every (re)connection calls otasdk_on_connected, the
 *            SUBACKs otasdk_on_subscribed, every message otasdk_on_message.
 *   HTTP     libcurl, one GET per call, Range from the resume point, Content-Range checked,
 *            https:// verified (peer and host name) against ca_file, or the system's CAs,
 *            stall detection (no byte for stall_timeout_s seconds counts as broken).
 *   flash    files in download_dir: "image.part" (staging), "image.ckpt" (checkpoint: the
 *            image's identity and the number of bytes durably written, saved every
 *            checkpoint_bytes with fdatasync + temp file + rename) and, once verified,
 *            "image.bin" (the final image, renamed from image.part). A process killed in
 *            the middle resumes from the checkpoint at its next start.
 *   digest   OpenSSL 3 EVP (MD5, SHA-256).
 *   sys      CLOCK_REALTIME (msgId uniqueness only), nanosleep, a pthread mutex, malloc.
 *
 * One otasdk_posix object serves one otasdk_ctx. Not thread-safe itself except where the
 * SDK requires it (publish/subscribe from any thread).
 */
#ifndef OTASDK_POSIX_H
#define OTASDK_POSIX_H

#include "otasdk/otasdk.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    const char *host;          /* broker host, required */
    int port;                  /* broker port, 1..65535, required */
    int keepalive_s;           /* MQTT keepalive seconds; default 30 */
    const char *product_key;   /* required */
    const char *identifier;    /* required */
    const char *device_secret; /* the MQTT password; required unless cert_file is given */
    const char *download_dir;  /* existing writable folder, required */
    long connect_timeout_s;    /* HTTP connect timeout; default 10 */
    long stall_timeout_s; /* HTTP: a connection with no byte for this long is broken; default 30 */
    size_t checkpoint_bytes; /* bytes between two checkpoints; default 65536 */
    long max_recv_bytes_s;   /* HTTP: download rate limit in bytes/s (metered links); 0 none */
    /* The port's own log lines (connection state, curl errors). NULL: silent. Borrowed. */
    void (*on_log)(void *user, otasdk_log_level level, const char *line);
    void *log_user;
    /* TLS (docs/device-sdk.md). ca_file: the CA the broker's and the download server's
     * certificates must chain to (PEM); set = MQTT over TLS, NULL = plain MQTT (say so only
     * on a trusted network: the secret crosses it in clear). cert_file and key_file: a
     * device certificate (PEM; CN "{productKey}.{identifier}") to log in with instead of the
     * secret; both or neither, and only with ca_file. */
    const char *ca_file;
    const char *cert_file;
    const char *key_file;
} otasdk_posix_config;

typedef struct otasdk_posix otasdk_posix;

/* Creates the port (copies every string; initialises libmosquitto and libcurl). Nothing
 * connects yet. Returns OTASDK_OK, OTASDK_ERR_ARG or OTASDK_ERR_NOMEM; *out NULL on error. */
int otasdk_posix_create(const otasdk_posix_config *pc, otasdk_posix **out);

/* Stops the MQTT thread if running, closes files, frees. Accepts NULL. */
void otasdk_posix_destroy(otasdk_posix *p);

/* Fills cfg->mqtt, http, flash, digest, verify and sys with this port's functions (user = p).
 * Leaves every other field of cfg alone. */
void otasdk_posix_fill(otasdk_posix *p, otasdk_config *cfg);

/* Starts connecting to the broker in the background and binds the connection to ctx (not
 * owned; must outlive otasdk_posix_stop). Returns OTASDK_OK, OTASDK_ERR_STATE when already
 * started, OTASDK_ERR_ARG when the TLS files cannot be used (logged), or OTASDK_ERR_MQTT. */
int otasdk_posix_start(otasdk_posix *p, otasdk_ctx *ctx);

/* Disconnects and joins the MQTT thread; queued QoS 1 messages get up to 2 s to leave.
 * Accepts a port never started. */
void otasdk_posix_stop(otasdk_posix *p);

/* 1 while the broker accepted the connection, else 0. */
int otasdk_posix_connected(otasdk_posix *p);

/* Path of the final image file (download_dir/image.bin) into buf. Returns OTASDK_OK or
 * OTASDK_ERR_SHORT_BUFFER. */
int otasdk_posix_image_path(const otasdk_posix *p, char *buf, size_t cap);

/* Bytes the checkpoint says are staged for an interrupted download (0 when none). */
unsigned long long otasdk_posix_staged_bytes(const otasdk_posix *p);

/* Removes the staged image, its checkpoint and the final image. Returns OTASDK_OK, or
 * OTASDK_ERR_FLASH when a file could not be removed. */
int otasdk_posix_clear(otasdk_posix *p);

/* Reads an Ed25519 public key (PEM SubjectPublicKeyInfo, as otactl key create writes it)
 * from path into raw, for otasdk_config.trusted_keys. OTASDK_OK, or OTASDK_ERR_ARG when the
 * file cannot be read or holds no Ed25519 public key. */
int otasdk_posix_load_public_key(const char *path, unsigned char raw[32]);

#ifdef __cplusplus
}
#endif

#endif
