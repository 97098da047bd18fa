/*
 * fleet.c: the fleet's event loop. One thread, one epoll set, many libmosquitto clients in
 * non-blocking mode (mosquitto_connect_bind_async, mosquitto_loop_read/write/misc,
 * mosquitto_want_write), plus the libcurl multi handle of the downloads (fleet_dl.c) on
 * the same epoll set. Every device follows the device protocol of docs/device-protocol.md:
 * connect as {pk}.{id} with its derived secret, subscribe to its upgrade and get_reply
 * topics, report its version, and on a push: ack, progress, optional ranged download
 * with md5 check, progress, new version (or the failure its behaviour asks for).
 *
 * Protocol steps never run inside libmosquitto callbacks: callbacks only record what
 * arrived and arm the device's timer; the loop runs due timers, so every publish happens
 * outside a callback and is written at once.
 *
 * Connections are opened at a bounded rate and at most max_connected at a time (the
 * process and the broker each have a file-descriptor limit). When the fleet is larger,
 * finished devices leave and waiting devices take their place.
 *
 * Expected load: 100,000 devices, tens of thousands of messages per second on 1 core.
 */
#include "fleet.h"

#include "ota_crypto.h"
#include "ota_log.h"
#include "ota_time.h"
#include "otaproto/ota_protocol.h"

#include <errno.h>
#include <jansson.h>
#include <mosquitto.h>
#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#define TAG_MQTT 1u
#define TAG_CURL 2u
#define EV_TAG(u) ((uint32_t)((u) >> 32))
#define EV_VAL(u) ((uint32_t)((u)&0xffffffffu))

/* device states */
enum {
    DS_WAITING = 0, /* not started */
    DS_CONNECTING,  /* connect issued, no CONNACK yet */
    DS_SUBSCRIBING, /* SUBSCRIBE sent */
    DS_READY,       /* version reported, waiting for a push */
    DS_WORKING,     /* doing the steps of a push */
    DS_DOWNLOADING, /* in fleet_dl */
    DS_IDLE,        /* behaviour finished, still connected (takes later pushes) */
    DS_RECONNECT,   /* lost the connection; timer reconnects */
    DS_GONE         /* left / gave up; no connection */
};

/* work steps after a push */
enum { W_ACK = 0, W_P10, W_DL, W_P60, W_P100, W_VER, W_FAIL, W_END };

#define MAX_RECONNECTS 10

extern volatile sig_atomic_t fleet_stop_flag;

struct fleet {
    const fleet_opts *o;
    const unsigned char *key;
    int epfd;
    fleet_dev *devs;
    uint32_t n;
    int64_t t0;
    /* timer heap of device indices ordered by due */
    uint32_t *heap;
    uint32_t heap_len;
    /* starting */
    uint32_t next_start;  /* next device index to consider */
    uint32_t active;      /* started and not gone */
    uint32_t handshaking; /* devices with handshaking set */
    uint32_t peak_active;
    uint32_t capable;     /* devices that will ever connect */
    double tokens;
    int64_t last_tokens;
    /* counts */
    uint32_t n_connected_once, n_ready, n_finished, n_pushed_devs;
    uint64_t pushes, msgs_out, msgs_in, dup_pushes;
    uint32_t outcomes[FO_COUNT];
    int64_t t_first_push, t_last_done, t_all_connected;
    fleet_dl *dl;
    SSL_CTX *tls; /* one TLS context for every device of this worker (--cafile); NULL = plain */
    fleet_shared *sh;
    int k;       /* worker number */
    uint32_t lo; /* number of this worker's first device in the fleet */
};

static int64_t now_ms(fleet *f)
{
    return ota_time_mono_ms() - f->t0;
}

const char *fleet_behaviour_name(int b)
{
    static const char *names[FB_COUNT] = {"success", "fail-1", "fail-2", "fail-3",
                                          "fail-4",  "no-ack", "stall",  "offline"};
    return b >= 0 && b < FB_COUNT ? names[b] : "?";
}

const char *fleet_outcome_name(int o)
{
    static const char *names[FO_COUNT] = {"unfinished", "succeeded",  "failed",
                                          "no_ack",     "stalled",    "offline",
                                          "activated",  "refused",    "conn_error",
                                          "download_error", "verify_error"};
    return o >= 0 && o < FO_COUNT ? names[o] : "?";
}

int fleet_outcome_ok(int o)
{
    return o == FO_SUCCEEDED || o == FO_FAILED || o == FO_NOACK || o == FO_STALLED ||
           o == FO_OFFLINE || o == FO_ACTIVATED;
}

/* ---- timer heap --------------------------------------------------------------------- */

static void heap_swap(fleet *f, uint32_t a, uint32_t b)
{
    uint32_t t = f->heap[a];
    f->heap[a] = f->heap[b];
    f->heap[b] = t;
    f->devs[f->heap[a]].heap_pos = (int32_t)a;
    f->devs[f->heap[b]].heap_pos = (int32_t)b;
}

static void heap_up(fleet *f, uint32_t i)
{
    while (i > 0) {
        uint32_t p = (i - 1) / 2;
        if (f->devs[f->heap[p]].due <= f->devs[f->heap[i]].due)
            break;
        heap_swap(f, i, p);
        i = p;
    }
}

static void heap_down(fleet *f, uint32_t i)
{
    for (;;) {
        uint32_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < f->heap_len && f->devs[f->heap[l]].due < f->devs[f->heap[m]].due)
            m = l;
        if (r < f->heap_len && f->devs[f->heap[r]].due < f->devs[f->heap[m]].due)
            m = r;
        if (m == i)
            return;
        heap_swap(f, i, m);
        i = m;
    }
}

static void timer_cancel(fleet *f, fleet_dev *d)
{
    if (d->heap_pos < 0)
        return;
    uint32_t i = (uint32_t)d->heap_pos;
    d->heap_pos = -1;
    f->heap_len--;
    if (i == f->heap_len)
        return;
    f->heap[i] = f->heap[f->heap_len];
    f->devs[f->heap[i]].heap_pos = (int32_t)i;
    heap_up(f, i);
    heap_down(f, (uint32_t)f->devs[f->heap[i]].heap_pos);
}

/* Arms (or re-arms) d's one timer delay ms from now. */
static void timer_arm(fleet *f, fleet_dev *d, int64_t delay)
{
    timer_cancel(f, d);
    d->due = now_ms(f) + delay;
    d->heap_pos = (int32_t)f->heap_len;
    f->heap[f->heap_len++] = d->idx;
    heap_up(f, (uint32_t)d->heap_pos);
}

/* ---- names and payloads ----------------------------------------------------------- */

static void dev_ident(const fleet *f, const fleet_dev *d, char *out, size_t len)
{
    snprintf(out, len, "%s%06u", f->o->prefix, f->o->first + f->lo + d->idx);
}

static void dev_topic(const fleet *f, const fleet_dev *d, const char *suffix, char *out, size_t len)
{
    char id[96];
    dev_ident(f, d, id, sizeof id);
    snprintf(out, len, OTA_TOPIC_ROOT "%s/%s/%s", f->o->product_key, id, suffix);
}

/* Publishes payload on the device's topic suffix with QoS 1. Returns the mid, or -1. */
static int dev_publish(fleet *f, fleet_dev *d, const char *suffix, const char *payload)
{
    char topic[256];
    int mid = -1;
    dev_topic(f, d, suffix, topic, sizeof topic);
    int rc = mosquitto_publish(d->mosq, &mid, topic, (int)strlen(payload), payload, 1, false);
    if (rc != MOSQ_ERR_SUCCESS) {
        if (f->o->verbose)
            OTA_WARN("fleet: device %u publish %s: %s", d->idx, suffix, mosquitto_strerror(rc));
        return -1;
    }
    f->msgs_out++;
    return mid;
}

static int publish_version(fleet *f, fleet_dev *d)
{
    char buf[256];
    const char *v = d->upgraded && d->new_version ? d->new_version : f->o->version;
    snprintf(buf, sizeof buf,
             "{\"msgId\":\"f%u-%u\",\"version\":\"" OTA_PROTOCOL_VERSION "\",\"data\":{\"firmwareVersion\":\"%s\"}}",
             d->idx, ++d->msg_seq, v);
    return dev_publish(f, d, OTA_TOPIC_VERSION, buf);
}

static int publish_progress(fleet *f, fleet_dev *d, int step, const char *desc)
{
    char buf[256];
    snprintf(buf, sizeof buf,
             "{\"msgId\":\"f%u-%u\",\"version\":\"" OTA_PROTOCOL_VERSION "\",\"data\":{\"step\":%d,\"desc\":\"%s\"}}",
             d->idx, ++d->msg_seq, step, desc);
    return dev_publish(f, d, OTA_TOPIC_PROGRESS, buf);
}

static int publish_ack(fleet *f, fleet_dev *d)
{
    char buf[256];
    json_t *id = json_string(d->push_msgid ? d->push_msgid : "");
    char *idtxt = json_dumps(id, JSON_ENCODE_ANY);
    json_decref(id);
    snprintf(buf, sizeof buf, "{\"msgId\":%s,\"version\":\"" OTA_PROTOCOL_VERSION "\",\"code\":200}",
             idtxt ? idtxt : "\"\"");
    free(idtxt);
    return dev_publish(f, d, OTA_TOPIC_UPGRADE_REPLY, buf);
}

/* ---- device lifecycle --------------------------------------------------------------- */

static void update_interest(fleet *f, fleet_dev *d);

static void dev_finish(fleet *f, fleet_dev *d, int outcome)
{
    if (d->outcome != FO_NONE)
        return;
    d->outcome = (uint8_t)outcome;
    d->t_done = now_ms(f);
    f->outcomes[outcome]++;
    f->n_finished++;
    if (outcome == FO_SUCCEEDED)
        f->t_last_done = d->t_done;
}

/* The device has nothing more to do: stay (taking later pushes) or leave. */
static void dev_settle(fleet *f, fleet_dev *d)
{
    d->state = DS_IDLE;
    if (f->o->leave && d->mosq && d->fd >= 0) {
        mosquitto_disconnect(d->mosq);
        update_interest(f, d);
    }
}

/* d is done with its connection for good: frees the client and the slot. Never called
 * from inside a libmosquitto callback. */
static void dev_gone(fleet *f, fleet_dev *d)
{
    d->state = DS_GONE;
    timer_cancel(f, d);
    f->active--;
    if (d->mosq) {
        mosquitto_destroy(d->mosq);
        d->mosq = NULL;
    }
}

/* The connection is gone (closed by libmosquitto). Frees the slot or plans a reconnect. */
/* Connects in flight are bounded (max_handshakes): the broker's accept queue is short, and
 * a SYN it drops is retried by the kernel after 1, 3, 7, 15 ... s, which would make the
 * fleet, not the server, set the pace. */
static void hs_begin(fleet *f, fleet_dev *d)
{
    if (!d->handshaking) {
        d->handshaking = 1;
        f->handshaking++;
    }
}

static void hs_end(fleet *f, fleet_dev *d)
{
    if (d->handshaking) {
        d->handshaking = 0;
        f->handshaking--;
    }
}

static void dev_closed(fleet *f, fleet_dev *d)
{
    hs_end(f, d);
    d->fd = -1;
    d->epollout = 0;
    if (d->state == DS_GONE || d->state == DS_RECONNECT)
        return;
    if ((d->state == DS_IDLE && f->o->leave) || d->outcome == FO_REFUSED || fleet_stop_flag) {
        dev_gone(f, d);
        return;
    }
    if (d->reconnects >= MAX_RECONNECTS) {
        dev_finish(f, d, FO_CONN_ERROR);
        dev_gone(f, d);
        return;
    }
    d->reconnects++;
    d->state = DS_RECONNECT;
    timer_arm(f, d, 500 + 250 * d->reconnects);
}

/* After any libmosquitto call on d: notice a closed socket, keep EPOLLOUT in step. */
static void update_interest(fleet *f, fleet_dev *d)
{
    if (!d->mosq)
        return;
    int s = mosquitto_socket(d->mosq);
    if (s < 0) {
        if (d->fd >= 0)
            dev_closed(f, d);
        return;
    }
    int want = mosquitto_want_write(d->mosq) ? 1 : 0;
    struct epoll_event ev = {0};
    ev.events = EPOLLIN | (want ? EPOLLOUT : 0);
    ev.data.u64 = ((uint64_t)TAG_MQTT << 32) | d->idx;
    if (d->fd != s) {
        /* a new socket (connect or reconnect) */
        d->fd = s;
        d->epollout = (uint8_t)want;
        if (epoll_ctl(f->epfd, EPOLL_CTL_ADD, s, &ev) != 0 && errno == EEXIST)
            epoll_ctl(f->epfd, EPOLL_CTL_MOD, s, &ev);
        return;
    }
    if (want != d->epollout) {
        d->epollout = (uint8_t)want;
        epoll_ctl(f->epfd, EPOLL_CTL_MOD, s, &ev);
    }
}

/* userdata of every client is the device; the fleet is reached through this global. */
static fleet *g_fleet;

static void cb_connect(struct mosquitto *m, void *ud, int rc)
{
    fleet *f = g_fleet;
    fleet_dev *d = ud;
    char t1[256], t2[256];
    hs_end(f, d);
    if (rc != 0) {
        if (f->o->verbose)
            OTA_WARN("fleet: device %u refused: %s", d->idx, mosquitto_connack_string(rc));
        dev_finish(f, d, FO_REFUSED);
        d->state = DS_IDLE;
        mosquitto_disconnect(m);
        return;
    }
    if (!d->t_connected) {
        d->t_connected = now_ms(f);
        f->n_connected_once++;
    }
    d->last_push_mid = -1; /* packet ids start over on a new connection */
    dev_topic(f, d, OTA_TOPIC_UPGRADE, t1, sizeof t1);
    dev_topic(f, d, OTA_TOPIC_GET_REPLY, t2, sizeof t2);
    char *subs[2] = {t1, t2};
    d->state = DS_SUBSCRIBING;
    mosquitto_subscribe_multiple(m, NULL, 2, subs, 1, 0, NULL);
}

static void cb_subscribe(struct mosquitto *m, void *ud, int mid, int n, const int *granted)
{
    fleet *f = g_fleet;
    fleet_dev *d = ud;
    (void)m;
    (void)mid;
    for (int i = 0; i < n; i++) {
        if (granted[i] >= 0x80) {
            OTA_WARN("fleet: device %u: subscription refused", d->idx);
            dev_finish(f, d, FO_REFUSED);
            d->state = DS_IDLE;
            mosquitto_disconnect(m);
            return;
        }
    }
    if (d->state != DS_SUBSCRIBING)
        return;
    /* report the version from the loop, not from inside the callback */
    d->state = DS_READY;
    d->step = W_END;
    timer_arm(f, d, 0);
}

static void cb_publish(struct mosquitto *m, void *ud, int mid)
{
    fleet *f = g_fleet;
    fleet_dev *d = ud;
    (void)m;
    if (d->final_mid < 0 || mid != d->final_mid)
        return;
    d->final_mid = -1;
    /* the message that ends this device's run reached the broker */
    timer_arm(f, d, 0);
    d->step = W_END + 1; /* marker: settle on the timer */
}

static void cb_disconnect(struct mosquitto *m, void *ud, int rc)
{
    (void)m;
    (void)ud;
    (void)rc;
    /* handled in update_interest(), which sees the closed socket */
}

/* Whether d received a push with this msgId before; remembers it when not. Without
 * memory (out of it) every msgId counts as new, so a duplicate may go unnoticed but a new
 * attempt is never taken for one. */
static int push_seen(fleet_dev *d, const char *msgid)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (const char *p = msgid; *p; p++)
        h = (h ^ (unsigned char)*p) * 1099511628211ULL;
    uint8_t n = d->n_seen < FLEET_SEEN_MAX ? d->n_seen : FLEET_SEEN_MAX;
    for (uint8_t i = 0; i < n; i++)
        if (d->seen_ids[i] == h)
            return 1;
    if (!d->seen_ids) {
        d->seen_ids = calloc(FLEET_SEEN_MAX, sizeof *d->seen_ids);
        if (!d->seen_ids)
            return 0;
    }
    d->seen_ids[d->n_seen % FLEET_SEEN_MAX] = h; /* the oldest goes first once full */
    if (++d->n_seen >= 2 * FLEET_SEEN_MAX)
        d->n_seen = FLEET_SEEN_MAX;
    return 0;
}

/* A push (upgrade or get_reply with a url) arrived. */
static void handle_push(fleet *f, fleet_dev *d, const struct mosquitto_message *msg)
{
    json_error_t jerr;
    json_t *root = json_loadb(msg->payload, (size_t)msg->payloadlen, 0, &jerr);
    if (!root) {
        OTA_WARN("fleet: device %u: push is not JSON: %s", d->idx, jerr.text);
        return;
    }
    json_t *data = json_object_get(root, "data");
    const char *msgid = json_string_value(json_object_get(root, "msgId"));
    const char *ver = json_string_value(json_object_get(data, "firmwareVersion"));
    const char *url = json_string_value(json_object_get(data, "url"));
    const char *sign = json_string_value(json_object_get(data, "sign"));
    json_t *size = json_object_get(data, "size");
    if (!data || !ver) {
        json_decref(root);
        return; /* a get_reply 404 and such */
    }
    if (msgid && *msgid) {
        int seen = push_seen(d, msgid);
        if (seen && msg->mid == d->last_push_mid) {
            d->redelivered++; /* the same PUBLISH again (QoS 1 resend): transport, fine */
            json_decref(root);
            return;
        }
        d->last_push_mid = msg->mid;
        if (seen) {
            /* a second PUBLISH of an attempt this device already received: the server
             * pushed one attempt twice. Counted, reported, and not worked on again. */
            d->dup_pushes++;
            f->dup_pushes++;
            if (f->dup_pushes <= 10 || f->o->verbose)
                OTA_WARN("fleet: device %u: push %s received twice", d->idx, msgid);
            json_decref(root);
            return;
        }
    }
    if (d->state == DS_DOWNLOADING) {
        json_decref(root);
        return; /* a second push while downloading: finish the first */
    }
    free(d->push_msgid);
    free(d->url);
    free(d->new_version);
    d->push_msgid = strdup(msgid ? msgid : "");
    d->url = url ? strdup(url) : NULL;
    d->new_version = strdup(ver);
    snprintf(d->md5, sizeof d->md5, "%s", sign ? sign : "");
    d->size = json_is_integer(size) ? json_integer_value(size) : 0;
    json_decref(root);
    if (d->url && strlen(d->url) < sizeof f->sh->first_url && !atomic_exchange(&f->sh->url_taken, 1))
        memcpy(f->sh->first_url, d->url, strlen(d->url) + 1);
    /* a new attempt: whatever publish was pending (the version report after connecting,
     * the previous attempt's last message) no longer ends anything */
    d->final_mid = -1;
    d->pushes++;
    f->pushes++;
    if (!d->t_push) {
        d->t_push = now_ms(f);
        f->n_pushed_devs++;
        if (!f->t_first_push)
            f->t_first_push = d->t_push;
    }
    if (d->behaviour == FB_NOACK) {
        dev_finish(f, d, FO_NOACK);
        d->state = DS_IDLE;
        timer_arm(f, d, 0);
        d->step = W_END + 1;
        return;
    }
    d->state = DS_WORKING;
    d->step = W_ACK;
    timer_arm(f, d, 0);
}

/* 1 when topic ends with "/" suffix. */
static int topic_ends(const char *topic, size_t tl, const char *suffix, size_t sl)
{
    return tl > sl && topic[tl - sl - 1] == '/' && strcmp(topic + tl - sl, suffix) == 0;
}

static void cb_message(struct mosquitto *m, void *ud, const struct mosquitto_message *msg)
{
    fleet *f = g_fleet;
    fleet_dev *d = ud;
    (void)m;
    f->msgs_in++;
    size_t tl = strlen(msg->topic);
    if (topic_ends(msg->topic, tl, OTA_TOPIC_UPGRADE, sizeof OTA_TOPIC_UPGRADE - 1) ||
        topic_ends(msg->topic, tl, OTA_TOPIC_GET_REPLY, sizeof OTA_TOPIC_GET_REPLY - 1))
        handle_push(f, d, msg);
}

/* Does this push attempt fail (FB_FAIL* devices fail the first fail_times pushes, or all)? */
static int attempt_fails(const fleet *f, const fleet_dev *d)
{
    if (d->behaviour < FB_FAIL1 || d->behaviour > FB_FAIL4)
        return 0;
    return f->o->fail_times == 0 || d->failures < f->o->fail_times;
}

/* Runs d's next protocol step(s). With step_ms 0 it runs every step up to a download or
 * the final publish at once. */
static void dev_work(fleet *f, fleet_dev *d)
{
    for (;;) {
        int mid;
        switch (d->step) {
        case W_ACK:
            if (publish_ack(f, d) < 0)
                return;
            d->step = W_P10;
            break;
        case W_P10:
            if (d->behaviour == FB_STALL) {
                d->final_mid = publish_progress(f, d, 10, "downloading");
                d->step = W_END;
                return;
            }
            publish_progress(f, d, 10, "downloading");
            if (attempt_fails(f, d))
                d->step = W_FAIL;
            else if (d->will_download && d->url)
                d->step = W_DL;
            else
                d->step = W_P60;
            break;
        case W_DL:
            d->state = DS_DOWNLOADING;
            d->downloaded = 0;
            fleet_dl_start(f->dl, d);
            return;
        case W_P60:
            publish_progress(f, d, 60, "verified");
            d->step = W_P100;
            break;
        case W_P100:
            publish_progress(f, d, 100, "flashed");
            d->step = W_VER;
            break;
        case W_VER:
            d->upgraded = 1;
            d->final_mid = publish_version(f, d);
            d->step = W_END;
            return;
        case W_FAIL: {
            int code = d->behaviour == FB_FAIL1 ? -1 : d->behaviour == FB_FAIL2 ? -2
                     : d->behaviour == FB_FAIL3 ? -3 : -4;
            const char *desc = code == -1 ? "failed" : code == -2 ? "download failed"
                             : code == -3 ? "verify failed" : "flash failed";
            d->failures++;
            mid = publish_progress(f, d, code, desc);
            if (f->o->fail_log_fd >= 0) {
                /* one write() of a short line to an O_APPEND file: whole lines even from
                 * several threads and --procs processes; the abort-latency bench reads it */
                char line[32];
                int k = snprintf(line, sizeof line, "%lld\n", (long long)ota_time_now_ms());
                if (write(f->o->fail_log_fd, line, (size_t)k) != k)
                    OTA_WARN("fleet: --fail-log: %s", strerror(errno));
            }
            d->final_mid = mid;
            d->step = W_END;
            return;
        }
        default:
            return;
        }
        if (f->o->step_ms > 0) {
            timer_arm(f, d, f->o->step_ms);
            return;
        }
    }
}

/* The final publish of a push attempt was acknowledged by the broker. */
static void dev_attempt_done(fleet *f, fleet_dev *d)
{
    if (d->state == DS_READY) {
        /* the version report after connecting */
        if (f->o->activate_only) {
            dev_finish(f, d, FO_ACTIVATED);
            dev_settle(f, d);
        }
        return;
    }
    if (d->behaviour == FB_STALL) {
        dev_finish(f, d, FO_STALLED);
    } else if (d->behaviour == FB_NOACK) {
        /* finished on the push */
    } else if (d->upgraded) {
        dev_finish(f, d, FO_SUCCEEDED);
    } else if (d->behaviour >= FB_FAIL1 && d->behaviour <= FB_FAIL4 && f->o->fail_times == 0) {
        dev_finish(f, d, FO_FAILED);
    } else if (d->outcome == FO_NONE && d->behaviour >= FB_FAIL1 && d->behaviour <= FB_FAIL4) {
        /* failed this attempt; waits for the retry push */
        d->state = DS_IDLE;
        return;
    }
    dev_settle(f, d);
}

static void dl_done(void *ud, fleet_dev *d, int ok, int md5_ok, const char *err)
{
    fleet *f = ud;
    if (d->state != DS_DOWNLOADING)
        return;
    d->state = DS_WORKING;
    if (!ok || !md5_ok) {
        OTA_WARN("fleet: device %u: download %s: %s", d->idx, d->url ? d->url : "-",
                 err ? err : "md5 mismatch");
        d->final_mid = publish_progress(f, d, ok ? -3 : -2, ok ? "verify failed" : "download failed");
        dev_finish(f, d, ok ? FO_VERIFY_ERROR : FO_DL_ERROR);
        d->step = W_END;
        update_interest(f, d);
        return;
    }
    d->step = W_P60;
    if (f->o->step_ms > 0)
        timer_arm(f, d, f->o->step_ms);
    else {
        dev_work(f, d);
        update_interest(f, d);
    }
}

/* MQTT over TLS for d: the worker's shared context (tls_context), of which libmosquitto
 * keeps a reference, used as it is (libmosquitto's defaults would reconfigure the shared
 * context at every connect). Returns 0, or -1 (logged). */
static int dev_tls(fleet *f, fleet_dev *d)
{
    int rc = mosquitto_void_option(d->mosq, MOSQ_OPT_SSL_CTX, f->tls);
    if (rc == MOSQ_ERR_SUCCESS)
        rc = mosquitto_int_option(d->mosq, MOSQ_OPT_SSL_CTX_WITH_DEFAULTS, 0);
    if (rc != MOSQ_ERR_SUCCESS)
        OTA_ERROR("fleet: device %u: TLS setup: %s", d->idx, mosquitto_strerror(rc));
    return rc == MOSQ_ERR_SUCCESS ? 0 : -1;
}

/* One TLS client context for every device of a worker: TLS 1.2+, the peer verified against
 * o->cafile and its name against the broker host (every device connects to that one host,
 * so the check lives in the context's parameters and OpenSSL does it in the handshake).
 * One context instead of one per device: a CA store per connection would cost memory and
 * a CA file parse per connect at 100,000 devices. Returns it, or NULL (logged). */
static SSL_CTX *tls_context(const fleet_opts *o)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    X509_VERIFY_PARAM *vp = ctx ? SSL_CTX_get0_param(ctx) : NULL;
    unsigned char ip[16];
    int is_ip = inet_pton(AF_INET, o->broker_host, ip) == 1 ||
                inet_pton(AF_INET6, o->broker_host, ip) == 1;
    if (!ctx || !SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) ||
        SSL_CTX_load_verify_locations(ctx, o->cafile, NULL) != 1 ||
        (is_ip ? X509_VERIFY_PARAM_set1_ip_asc(vp, o->broker_host)
               : X509_VERIFY_PARAM_set1_host(vp, o->broker_host, 0)) != 1) {
        OTA_ERROR("fleet: TLS context with the CA %s for %s: %s", o->cafile, o->broker_host,
                  ERR_reason_error_string(ERR_get_error()));
        SSL_CTX_free(ctx);
        return NULL;
    }
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    return ctx;
}

static int dev_connect(fleet *f, fleet_dev *d)
{
    char id[96], cid[192], secret[40];
    dev_ident(f, d, id, sizeof id);
    snprintf(cid, sizeof cid, "%s.%s", f->o->product_key, id);
    if (ota_secret_device(f->key, f->o->product_key, id, secret, sizeof secret) != 0)
        return -1;
    if (!d->mosq) {
        d->mosq = mosquitto_new(cid, true, d);
        if (!d->mosq)
            return -1;
        mosquitto_connect_callback_set(d->mosq, cb_connect);
        mosquitto_subscribe_callback_set(d->mosq, cb_subscribe);
        mosquitto_publish_callback_set(d->mosq, cb_publish);
        mosquitto_message_callback_set(d->mosq, cb_message);
        mosquitto_disconnect_callback_set(d->mosq, cb_disconnect);
        mosquitto_max_inflight_messages_set(d->mosq, 0);
        if (f->tls && dev_tls(f, d) != 0)
            return -1;
    }
    mosquitto_username_pw_set(d->mosq, cid, secret);
    const char *bind = f->o->n_bind ? f->o->bind_addrs[d->idx % (uint32_t)f->o->n_bind] : NULL;
    d->state = DS_CONNECTING;
    hs_begin(f, d);
    int rc = mosquitto_connect_bind_async(d->mosq, f->o->broker_host, f->o->broker_port,
                                          f->o->keepalive, bind);
    if (rc != MOSQ_ERR_SUCCESS) {
        if (f->o->verbose)
            OTA_WARN("fleet: device %u connect: %s", d->idx, mosquitto_strerror(rc));
        hs_end(f, d);
        d->fd = -1;
        return -1;
    }
    update_interest(f, d);
    return 0;
}

/* Starts waiting devices within the connection budget and the connect rate. */
static void start_devices(fleet *f, int64_t now)
{
    double rate = f->o->connect_rate > 0 ? f->o->connect_rate : 1e9;
    f->tokens += (double)(now - f->last_tokens) * rate / 1000.0;
    f->last_tokens = now;
    if (f->tokens > rate / 10 + 1)
        f->tokens = rate / 10 + 1; /* at most a tenth of a second's burst */
    while (f->next_start < f->n && f->tokens >= 1 && f->active < f->o->max_connected &&
           f->handshaking < f->o->max_handshakes) {
        fleet_dev *d = &f->devs[f->next_start++];
        if (d->behaviour == FB_OFFLINE) {
            d->state = DS_GONE;
            dev_finish(f, d, FO_OFFLINE);
            continue;
        }
        f->tokens -= 1;
        d->t_start = now;
        f->active++;
        if (f->active > f->peak_active)
            f->peak_active = f->active;
        if (dev_connect(f, d) != 0) {
            d->state = DS_RECONNECT;
            d->reconnects++;
            timer_arm(f, d, 1000);
        }
    }
    if (f->next_start >= f->n && !f->t_all_connected && f->n_connected_once >= f->capable)
        f->t_all_connected = now;
}

static void run_timer(fleet *f, fleet_dev *d)
{
    switch (d->state) {
    case DS_RECONNECT:
        if (d->mosq && d->t_connected && mosquitto_socket(d->mosq) < 0) {
            int rc = mosquitto_reconnect_async(d->mosq);
            d->state = DS_CONNECTING;
            hs_begin(f, d);
            if (rc != MOSQ_ERR_SUCCESS) {
                d->state = DS_RECONNECT;
                dev_closed(f, d);
                return;
            }
            update_interest(f, d);
        } else if (dev_connect(f, d) != 0) {
            d->fd = 0; /* let dev_closed count the attempt */
            dev_closed(f, d);
        }
        return;
    case DS_READY:
        if (d->step == W_END) {
            /* report the version after subscribing */
            d->step = 0xff;
            if (!d->t_ready) {
                d->t_ready = now_ms(f);
                f->n_ready++;
            }
            d->final_mid = publish_version(f, d);
            update_interest(f, d);
        } else if (d->step == W_END + 1) {
            d->step = 0xff;
            dev_attempt_done(f, d);
            update_interest(f, d);
        }
        return;
    case DS_WORKING:
    case DS_IDLE:
        if (d->step == W_END + 1) {
            d->step = 0xff;
            if (d->state == DS_WORKING)
                dev_attempt_done(f, d);
            else if (d->behaviour == FB_NOACK)
                dev_settle(f, d);
        } else {
            dev_work(f, d);
        }
        update_interest(f, d);
        return;
    default:
        return;
    }
}

/* ---- the worker ------------------------------------------------------------------------ */

void fleet_assign(const fleet_opts *o, uint32_t n, uint8_t *behaviour, uint8_t *download)
{
    unsigned total = 0;
    double acc[FB_COUNT] = {0};
    for (int b = 0; b < FB_COUNT; b++)
        total += o->mix[b];
    if (total == 0)
        total = 1;
    uint32_t dl_acc = 0;
    for (uint32_t i = 0; i < n; i++) {
        /* largest remainder: pick the behaviour furthest behind its share */
        int best = 0;
        double best_gap = -1e18;
        for (int b = 0; b < FB_COUNT; b++) {
            if (!o->mix[b])
                continue;
            double gap = (double)(i + 1) * o->mix[b] / total - acc[b];
            if (gap > best_gap) {
                best_gap = gap;
                best = b;
            }
        }
        acc[best] += 1;
        behaviour[i] = (uint8_t)best;
        /* download share: the same spreading */
        uint32_t want = (uint32_t)(((uint64_t)(i + 1) * (uint64_t)o->download_pct) / 100);
        download[i] = want > dl_acc;
        if (download[i])
            dl_acc++;
    }
}

static int all_done(fleet *f)
{
    if (f->n_finished < f->n)
        return 0;
    if (!atomic_load(&f->sh->batch_done))
        return 0;
    if (fleet_dl_active(f->dl))
        return 0;
    return 1;
}

/* Live counters for the parent. */
static void publish_stats(fleet *f)
{
    fleet_worker_stats *w = &f->sh->w[f->k];
    atomic_store(&w->ready, f->n_ready);
    atomic_store(&w->active, f->active);
    atomic_store(&w->connected_once, f->n_connected_once);
    atomic_store(&w->pushed_devs, f->n_pushed_devs);
    atomic_store(&w->finished, f->n_finished);
}

int fleet_run(const fleet_opts *o, const unsigned char key[32], fleet_shared *sh, int k,
              uint32_t lo, uint32_t hi)
{
    fleet F = {0}, *f = &F;
    int rc = -1;
    uint8_t *beh = NULL, *dl = NULL;

    g_fleet = f;
    f->epfd = -1;
    f->o = o;
    f->key = key;
    f->sh = sh;
    f->k = k;
    f->lo = lo;
    f->n = hi - lo;
    f->t0 = sh->t0;
    f->devs = calloc(f->n ? f->n : 1, sizeof *f->devs);
    f->heap = calloc(f->n ? f->n : 1, sizeof *f->heap);
    beh = malloc(hi ? hi : 1);
    dl = malloc(hi ? hi : 1);
    f->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (!f->devs || !f->heap || !beh || !dl || f->epfd < 0) {
        OTA_ERROR("fleet: out of memory or epoll: %s", strerror(errno));
        goto out;
    }
    fleet_assign(o, hi, beh, dl);
    for (uint32_t i = 0; i < f->n; i++) {
        fleet_dev *d = &f->devs[i];
        d->idx = i;
        d->fd = -1;
        d->heap_pos = -1;
        d->final_mid = -1;
        d->last_push_mid = -1;
        d->behaviour = beh[lo + i];
        d->will_download = dl[lo + i];
        if (d->behaviour != FB_OFFLINE)
            f->capable++;
    }
    free(beh);
    free(dl);
    beh = dl = NULL;
    if (o->cafile[0] && !(f->tls = tls_context(o)))
        goto out;
    f->dl = fleet_dl_new(f->epfd, o->dl_concurrency, o->range_size, o->cafile, dl_done, f);
    if (!f->dl)
        goto out;
    /* the first wave: every device of this worker that can be connected at once */
    atomic_store(&sh->w[k].wave, f->capable < o->max_connected ? f->capable : o->max_connected);
    atomic_store(&sh->w[k].wave_known, 1);

    struct epoll_event evs[512];
    int64_t last_misc = 0, deadline = (int64_t)o->duration_s * 1000;
    uint32_t misc_cursor = 0;
    rc = 0;
    while (!fleet_stop_flag) {
        int64_t now = now_ms(f);
        if (now >= deadline) {
            OTA_WARN("fleet: worker %d: duration of %d s over", k, o->duration_s);
            break;
        }
        if (atomic_load(&sh->batch_failed))
            break;
        /* the batch ended: a device still waiting for a push will not get one; a few
         * seconds for the last messages, then stop (those devices count as unfinished) */
        int64_t bend = atomic_load(&sh->batch_end_ms);
        if (bend && now - bend > 5000)
            break;
        start_devices(f, now);
        int guard = 0;
        while (f->heap_len && f->devs[f->heap[0]].due <= now && guard++ < 20000) {
            fleet_dev *d = &f->devs[f->heap[0]];
            timer_cancel(f, d);
            run_timer(f, d);
        }
        /* keepalive and retries: a slice of the clients each 100 ms */
        if (now - last_misc >= 100) {
            last_misc = now;
            uint32_t slice = f->n / 50 + 1;
            for (uint32_t j = 0; j < slice && f->n; j++) {
                fleet_dev *d = &f->devs[misc_cursor];
                misc_cursor = (misc_cursor + 1) % f->n;
                if (d->mosq && d->fd >= 0) {
                    mosquitto_loop_misc(d->mosq);
                    update_interest(f, d);
                }
            }
        }
        fleet_dl_tick(f->dl);
        publish_stats(f);
        if (all_done(f))
            break;
        long timeout = 50;
        if (f->heap_len) {
            int64_t t = f->devs[f->heap[0]].due - now_ms(f);
            if (t < timeout)
                timeout = t < 0 ? 0 : (long)t;
        }
        long ct = fleet_dl_timeout(f->dl);
        if (ct >= 0 && ct < timeout)
            timeout = ct;
        if (f->next_start < f->n && f->active < o->max_connected && timeout > 2)
            timeout = 2;
        int n = epoll_wait(f->epfd, evs, 512, (int)timeout);
        if (n < 0 && errno != EINTR) {
            OTA_ERROR("fleet: epoll_wait: %s", strerror(errno));
            break;
        }
        for (int i = 0; i < n; i++) {
            uint64_t u = evs[i].data.u64;
            if (EV_TAG(u) == TAG_CURL) {
                fleet_dl_event(f->dl, (int)EV_VAL(u), evs[i].events);
                continue;
            }
            fleet_dev *d = &f->devs[EV_VAL(u)];
            if (!d->mosq || d->fd < 0)
                continue;
            if (evs[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP))
                mosquitto_loop_read(d->mosq, 64);
            if (d->fd >= 0 && mosquitto_socket(d->mosq) >= 0 && (evs[i].events & EPOLLOUT))
                mosquitto_loop_write(d->mosq, 64);
            update_interest(f, d);
        }
    }

out:
    free(beh);
    free(dl);
    if (f->devs) {
        publish_stats(f);
        fleet_worker_stats *w = &sh->w[k];
        w->peak_active = f->peak_active;
        w->pushes = f->pushes;
        w->msgs_out = f->msgs_out;
        w->msgs_in = f->msgs_in;
        w->dl_bytes = f->dl ? fleet_dl_bytes(f->dl) : 0;
        w->t_all_connected = f->t_all_connected;
        w->t_first_push = f->t_first_push;
        w->t_last_done = f->t_last_done;
        for (uint32_t i = 0; i < f->n; i++) {
            fleet_dev *d = &f->devs[i];
            fleet_devres *r = &sh->res[lo + i];
            r->behaviour = d->behaviour;
            r->outcome = d->outcome;
            r->pushes = d->pushes;
            r->dup_pushes = d->dup_pushes;
            r->redelivered = d->redelivered;
            r->t_start = (int32_t)d->t_start;
            r->t_connected = (int32_t)d->t_connected;
            r->t_ready = (int32_t)d->t_ready;
            r->t_push = (int32_t)d->t_push;
            r->t_done = (int32_t)d->t_done;
            r->downloaded = d->downloaded;
            if (d->mosq) {
                mosquitto_disconnect(d->mosq);
                mosquitto_loop_write(d->mosq, 1);
                mosquitto_destroy(d->mosq);
            }
            free(d->push_msgid);
            free(d->seen_ids);
            free(d->url);
            free(d->new_version);
        }
    }
    fleet_dl_free(f->dl);
    SSL_CTX_free(f->tls); /* after every client that referenced it */
    if (f->epfd >= 0)
        close(f->epfd);
    free(f->devs);
    free(f->heap);
    return rc;
}
