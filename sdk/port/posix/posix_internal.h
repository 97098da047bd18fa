/*
 * posix_internal: the otasdk_posix object shared by the Linux port's files (posix.c: the
 * object, clock, lock and MQTT; http.c: libcurl; flash.c: staging files; digest.c: EVP).
 */
#ifndef OTASDK_POSIX_INTERNAL_H
#define OTASDK_POSIX_INTERNAL_H

#include "otasdk/otasdk_posix.h"

#include <mosquitto.h>
#include <pthread.h>

#define POSIX_PATH_MAX 512

typedef struct {
    char md5[33];
    char sha256[65];
    unsigned long long size;
    unsigned long long offset; /* bytes durably written */
} posix_ckpt;

struct otasdk_posix {
    char host[256];
    int port;
    int keepalive_s;
    char client_id[2 * OTASDK_KEY_MAX + 2];
    char secret[128];
    char dir[POSIX_PATH_MAX];
    char ca_file[POSIX_PATH_MAX];   /* "" = plain MQTT; https:// uses the system's CAs */
    char cert_file[POSIX_PATH_MAX]; /* "" = log in with the secret */
    char key_file[POSIX_PATH_MAX];
    long connect_timeout_s;
    long stall_timeout_s;
    size_t checkpoint_bytes;
    long max_recv_bytes_s;
    void (*on_log)(void *user, otasdk_log_level level, const char *line);
    void *log_user;

    pthread_mutex_t lock; /* the SDK's lock (sys.lock) */
    struct mosquitto *mosq;
    otasdk_ctx *ctx;
    int started;
    volatile int connected;
    int sub_mid[4]; /* SUBSCRIBEs of this connection still waiting for their SUBACK */
    int nsub;

    /* flash */
    int fd;                 /* image.part, -1 when closed */
    posix_ckpt ck;          /* identity and durable offset of the staged image */
    unsigned long long end; /* highest byte written + 1 in this session */
};

void posix__log(otasdk_posix *p, otasdk_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
int posix__path(const otasdk_posix *p, const char *name, char *buf, size_t cap);

int posix__http_get(void *user, const char *url, uint64_t from, otasdk_http_sink sink, void *arg);

int posix__flash_open(void *user, const otasdk_job *job, uint64_t *have);
int posix__flash_write(void *user, uint64_t offset, const void *data, size_t len);
int posix__flash_read(void *user, uint64_t offset, void *buf, size_t len);
int posix__flash_close(void *user);
int posix__flash_finalize(void *user, const otasdk_job *job);
int posix__flash_discard(void *user);
int posix__ckpt_load(const otasdk_posix *p, posix_ckpt *ck);

int posix__digest_begin(void *user, otasdk_digest_alg alg, void **state);
int posix__digest_update(void *user, void *state, const void *data, size_t len);
int posix__digest_finish(void *user, void *state, unsigned char *out, size_t outlen);
void posix__digest_free(void *user, void *state);
int posix__ed25519(void *user, const unsigned char pub[32], const void *msg, size_t len,
                   const unsigned char sig[64]);

#endif
