/*
 * posix: the Linux port's object, its clock, lock and allocator for the SDK, and the MQTT
 * transport on libmosquitto. libmosquitto runs its own network thread (loop_start): it
 * reconnects with backoff, and on every accepted connection calls otasdk_on_connected, on
 * every message otasdk_on_message, so acks leave while the application thread may be deep
 * in a download. mosquitto_publish/subscribe are thread-safe, as the SDK requires.
 */
#include "posix_internal.h"

#include <curl/curl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <errno.h>
#include <unistd.h>

void posix__log(otasdk_posix *p, otasdk_log_level level, const char *fmt, ...)
{
    char line[320];
    va_list ap;
    if (!p->on_log)
        return;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    p->on_log(p->log_user, level, line);
}

int posix__path(const otasdk_posix *p, const char *name, char *buf, size_t cap)
{
    int n = snprintf(buf, cap, "%s/%s", p->dir, name);
    return n < 0 || (size_t)n >= cap ? -1 : 0;
}

static int copy(char *dst, size_t cap, const char *src)
{
    size_t n;
    if (!src || !src[0] || (n = strlen(src)) >= cap)
        return -1;
    memcpy(dst, src, n + 1);
    return 0;
}

int otasdk_posix_create(const otasdk_posix_config *pc, otasdk_posix **out)
{
    otasdk_posix *p;
    int n;
    if (!out)
        return OTASDK_ERR_ARG;
    *out = NULL;
    if (!pc || pc->port <= 0 || pc->port > 65535 || !pc->product_key || !pc->identifier)
        return OTASDK_ERR_ARG;
    /* a certificate needs its key, and TLS; without one the secret is the password */
    if (!pc->cert_file != !pc->key_file || (pc->cert_file && !pc->ca_file) ||
        (!pc->cert_file && !pc->device_secret))
        return OTASDK_ERR_ARG;
    p = calloc(1, sizeof *p);
    if (!p)
        return OTASDK_ERR_NOMEM;
    n = snprintf(p->client_id, sizeof p->client_id, "%s.%s", pc->product_key, pc->identifier);
    if (copy(p->host, sizeof p->host, pc->host) != 0 ||
        (pc->device_secret && copy(p->secret, sizeof p->secret, pc->device_secret) != 0) ||
        (pc->ca_file && copy(p->ca_file, sizeof p->ca_file, pc->ca_file) != 0) ||
        (pc->cert_file && copy(p->cert_file, sizeof p->cert_file, pc->cert_file) != 0) ||
        (pc->key_file && copy(p->key_file, sizeof p->key_file, pc->key_file) != 0) ||
        copy(p->dir, sizeof p->dir, pc->download_dir) != 0 || n < 0 ||
        (size_t)n >= sizeof p->client_id) {
        free(p);
        return OTASDK_ERR_ARG;
    }
    p->port = pc->port;
    p->keepalive_s = pc->keepalive_s > 0 ? pc->keepalive_s : 30;
    p->connect_timeout_s = pc->connect_timeout_s > 0 ? pc->connect_timeout_s : 10;
    p->stall_timeout_s = pc->stall_timeout_s > 0 ? pc->stall_timeout_s : 30;
    p->checkpoint_bytes = pc->checkpoint_bytes > 0 ? pc->checkpoint_bytes : 65536;
    p->max_recv_bytes_s = pc->max_recv_bytes_s > 0 ? pc->max_recv_bytes_s : 0;
    p->on_log = pc->on_log;
    p->log_user = pc->log_user;
    p->fd = -1;
    if (pthread_mutex_init(&p->lock, NULL) != 0) {
        free(p);
        return OTASDK_ERR_NOMEM;
    }
    mosquitto_lib_init();
    curl_global_init(CURL_GLOBAL_DEFAULT);
    *out = p;
    return OTASDK_OK;
}

void otasdk_posix_destroy(otasdk_posix *p)
{
    if (!p)
        return;
    otasdk_posix_stop(p);
    posix__flash_close(p);
    pthread_mutex_destroy(&p->lock);
    free(p);
}

/* ---- sys ---- */

static uint64_t sys_now_ms(void *user)
{
    struct timespec ts;
    (void)user;
    clock_gettime(CLOCK_REALTIME, &ts); /* wall clock: msgIds stay unique across reboots */
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void sys_sleep_ms(void *user, uint32_t ms)
{
    struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
    (void)user;
    while (nanosleep(&ts, &ts) != 0)
        ;
}

static void sys_lock(void *user)
{
    otasdk_posix *p = user;
    pthread_mutex_lock(&p->lock);
}

static void sys_unlock(void *user)
{
    otasdk_posix *p = user;
    pthread_mutex_unlock(&p->lock);
}

/* ---- mqtt ---- */

static int mq_publish(void *user, const char *topic, const void *payload, size_t len)
{
    otasdk_posix *p = user;
    int rc;
    if (!p->mosq)
        return -1;
    rc = mosquitto_publish(p->mosq, NULL, topic, (int)len, payload, 1, false);
    if (rc != MOSQ_ERR_SUCCESS)
        posix__log(p, OTASDK_LOG_WARN, "publish %s: %s", topic, mosquitto_strerror(rc));
    return rc == MOSQ_ERR_SUCCESS ? 0 : -1;
}

/* Called on the MQTT thread from on_connect, so the SUBACKs (also handled on that thread)
 * cannot arrive before the mids are recorded. */
static int mq_subscribe(void *user, const char *topic)
{
    otasdk_posix *p = user;
    int mid = 0;
    if (!p->mosq || p->nsub >= 4)
        return -1;
    if (mosquitto_subscribe(p->mosq, &mid, topic, 1) != MOSQ_ERR_SUCCESS)
        return -1;
    p->sub_mid[p->nsub++] = mid;
    return 0;
}

static void on_subscribe(struct mosquitto *m, void *obj, int mid, int qos_count, const int *granted)
{
    otasdk_posix *p = obj;
    int rc;
    for (int i = 0; i < p->nsub; i++) {
        if (p->sub_mid[i] != mid)
            continue;
        if (qos_count < 1 || granted[0] > 2) {
            posix__log(p, OTASDK_LOG_ERROR, "subscription refused by the broker (check the ACL)");
            mosquitto_disconnect(m);
            return;
        }
        p->sub_mid[i] = p->sub_mid[--p->nsub];
        if (p->nsub == 0 && (rc = otasdk_on_subscribed(p->ctx)) != OTASDK_OK) {
            posix__log(p, OTASDK_LOG_WARN, "announce failed (%s); reconnecting",
                       otasdk_strerror(rc));
            mosquitto_disconnect(m);
        }
        return;
    }
}

static void on_connect(struct mosquitto *m, void *obj, int rc)
{
    otasdk_posix *p = obj;
    int src;
    (void)m;
    if (rc != 0) {
        posix__log(p, OTASDK_LOG_ERROR, "broker %s:%d refused %s: %s", p->host, p->port,
                   p->client_id, mosquitto_connack_string(rc));
        return;
    }
    p->connected = 1;
    p->nsub = 0;
    posix__log(p, OTASDK_LOG_INFO, "connected to %s:%d as %s", p->host, p->port, p->client_id);
    src = otasdk_on_connected(p->ctx);
    if (src != OTASDK_OK) {
        posix__log(p, OTASDK_LOG_WARN, "session setup failed (%s); reconnecting",
                   otasdk_strerror(src));
        mosquitto_disconnect(m); /* the loop reconnects and tries again */
    }
}

static void on_disconnect(struct mosquitto *m, void *obj, int rc)
{
    otasdk_posix *p = obj;
    (void)m;
    if (p->connected)
        posix__log(p, rc ? OTASDK_LOG_WARN : OTASDK_LOG_INFO, "disconnected from the broker (%s)",
                   rc ? mosquitto_strerror(rc) : "by request");
    p->connected = 0;
}

/* libmosquitto's own errors (a TLS verification failure above all: "OpenSSL Error[0]:
 * ... certificate verify failed") reach the application's log. */
static void on_mosq_log(struct mosquitto *m, void *obj, int level, const char *line)
{
    otasdk_posix *p = obj;
    (void)m;
    if (level == MOSQ_LOG_ERR)
        posix__log(p, OTASDK_LOG_ERROR, "mqtt %s:%d: %s", p->host, p->port, line);
}

/* TLS for the connection: the CA, TLS 1.2 or later, the host name checked, and the device
 * certificate when configured. Returns OTASDK_OK, or OTASDK_ERR_ARG (a file cannot be
 * used; logged). */
static int mq_tls(otasdk_posix *p)
{
    int rc = mosquitto_tls_set(p->mosq, p->ca_file, NULL, p->cert_file[0] ? p->cert_file : NULL,
                               p->key_file[0] ? p->key_file : NULL, NULL);
    if (rc == MOSQ_ERR_SUCCESS)
        rc = mosquitto_tls_opts_set(p->mosq, 1, "tlsv1.2", NULL);
    if (rc == MOSQ_ERR_SUCCESS)
        rc = mosquitto_tls_insecure_set(p->mosq, false);
    if (rc != MOSQ_ERR_SUCCESS) {
        posix__log(p, OTASDK_LOG_ERROR, "TLS setup (ca %s%s%s): %s", p->ca_file,
                   p->cert_file[0] ? ", certificate " : "", p->cert_file,
                   mosquitto_strerror(rc));
        return OTASDK_ERR_ARG;
    }
    return OTASDK_OK;
}

static void on_message(struct mosquitto *m, void *obj, const struct mosquitto_message *msg)
{
    otasdk_posix *p = obj;
    int rc;
    (void)m;
    rc = otasdk_on_message(p->ctx, msg->topic, msg->payload, (size_t)msg->payloadlen);
    if (rc != OTASDK_OK && rc != OTASDK_ERR_PARSE)
        posix__log(p, OTASDK_LOG_WARN, "message on %s: %s", msg->topic, otasdk_strerror(rc));
}

void otasdk_posix_fill(otasdk_posix *p, otasdk_config *cfg)
{
    cfg->mqtt.user = p;
    cfg->mqtt.publish = mq_publish;
    cfg->mqtt.subscribe = mq_subscribe;
    cfg->mqtt.announce_on_suback = 1;
    cfg->http.user = p;
    cfg->http.get = posix__http_get;
    cfg->flash.user = p;
    cfg->flash.open = posix__flash_open;
    cfg->flash.write = posix__flash_write;
    cfg->flash.read = posix__flash_read;
    cfg->flash.close = posix__flash_close;
    cfg->flash.finalize = posix__flash_finalize;
    cfg->flash.discard = posix__flash_discard;
    cfg->digest.user = p;
    cfg->digest.begin = posix__digest_begin;
    cfg->digest.update = posix__digest_update;
    cfg->digest.finish = posix__digest_finish;
    cfg->digest.free = posix__digest_free;
    cfg->verify.user = p;
    cfg->verify.ed25519 = posix__ed25519;
    cfg->sys.user = p;
    cfg->sys.now_ms = sys_now_ms;
    cfg->sys.sleep_ms = sys_sleep_ms;
    cfg->sys.lock = sys_lock;
    cfg->sys.unlock = sys_unlock;
    cfg->sys.alloc = NULL;
    cfg->sys.free = NULL;
}

int otasdk_posix_start(otasdk_posix *p, otasdk_ctx *ctx)
{
    int rc;
    if (!p || !ctx)
        return OTASDK_ERR_ARG;
    if (p->started)
        return OTASDK_ERR_STATE;
    p->ctx = ctx;
    p->mosq = mosquitto_new(p->client_id, true, p);
    if (!p->mosq)
        return OTASDK_ERR_NOMEM;
    mosquitto_int_option(p->mosq, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V311);
    mosquitto_username_pw_set(p->mosq, p->client_id, p->secret[0] ? p->secret : NULL);
    mosquitto_log_callback_set(p->mosq, on_mosq_log);
    if (p->ca_file[0] && (rc = mq_tls(p)) != OTASDK_OK) {
        mosquitto_destroy(p->mosq);
        p->mosq = NULL;
        return rc;
    }
    mosquitto_connect_callback_set(p->mosq, on_connect);
    mosquitto_disconnect_callback_set(p->mosq, on_disconnect);
    mosquitto_message_callback_set(p->mosq, on_message);
    mosquitto_subscribe_callback_set(p->mosq, on_subscribe);
    mosquitto_reconnect_delay_set(p->mosq, 1, 30, true);
    rc = mosquitto_connect_async(p->mosq, p->host, p->port, p->keepalive_s);
    if (rc != MOSQ_ERR_SUCCESS) /* e.g. broker down: the loop keeps trying */
        posix__log(p, OTASDK_LOG_WARN, "connect to %s:%d: %s; retrying", p->host, p->port,
                   mosquitto_strerror(rc));
    rc = mosquitto_loop_start(p->mosq);
    if (rc != MOSQ_ERR_SUCCESS) {
        mosquitto_destroy(p->mosq);
        p->mosq = NULL;
        return OTASDK_ERR_MQTT;
    }
    p->started = 1;
    return OTASDK_OK;
}

void otasdk_posix_stop(otasdk_posix *p)
{
    if (!p || !p->started)
        return;
    /* let queued QoS 1 messages (e.g. a last progress report) leave */
    for (int i = 0; i < 40 && p->connected; i++) {
        if (!mosquitto_want_write(p->mosq))
            break;
        sys_sleep_ms(p, 50);
    }
    mosquitto_disconnect(p->mosq);
    mosquitto_loop_stop(p->mosq, false);
    mosquitto_destroy(p->mosq);
    p->mosq = NULL;
    p->started = 0;
    p->connected = 0;
}

int otasdk_posix_connected(otasdk_posix *p)
{
    return p && p->connected;
}

int otasdk_posix_image_path(const otasdk_posix *p, char *buf, size_t cap)
{
    if (!p || !buf)
        return OTASDK_ERR_ARG;
    return posix__path(p, "image.bin", buf, cap) == 0 ? OTASDK_OK : OTASDK_ERR_SHORT_BUFFER;
}

unsigned long long otasdk_posix_staged_bytes(const otasdk_posix *p)
{
    posix_ckpt ck;
    if (!p || posix__ckpt_load(p, &ck) != 0)
        return 0;
    return ck.offset;
}

int otasdk_posix_clear(otasdk_posix *p)
{
    char path[POSIX_PATH_MAX];
    int rc = posix__flash_discard(p);
    if (posix__path(p, "image.bin", path, sizeof path) != 0 ||
        (unlink(path) != 0 && errno != ENOENT))
        rc = -1;
    return rc == 0 ? OTASDK_OK : OTASDK_ERR_FLASH;
}
