/*
 * mqttparts: the partitions' persistent sessions (mqttparts.h says what it promises). One
 * libmosquitto handle per partition, created the first time the partition is held, and one
 * loop thread that polls all of their sockets (libmosquitto's own loop is one thread per
 * handle, and uses select(), see mqttc.c). Everything about a session is touched on the
 * loop thread only; mqttparts_set hands the wanted set over under mu and waits until the
 * loop thread applied it between two of its rounds.
 */
#include "mqttparts.h"

#include "mqttc_proto.h"
#include "ota_log.h"
#include "ota_time.h"

#include <errno.h>
#include <mosquitto.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#define NPARTS OTA_PARTS_N
#define CONNACK_TIMEOUT_MS 15000
#define READ_BATCH 512 /* packets read from one session per round at most */
#define GATHER_MAX_MS 100 /* pace_ms's bound, however few partitions are held */

typedef struct {
    struct mosquitto *mosq;
    int part;
    bool counted;   /* in the set: counts in the watermark */
    bool want;      /* in the set and told to connect */
    bool sock_up;   /* TCP connection (maybe before CONNACK) */
    bool connected; /* CONNACK accepted */
    bool ever;      /* connected once: reconnect rather than connect */
    int attempts;
    int64_t retry_mono_ms, connect_mono_ms;
    int64_t probe_ms; /* the newest of our probes back since it was counted (0: none) */
    struct mqttparts *mp;
} psess;

struct mqttparts {
    char *host, *client_id, *username, *password;
    int port, keepalive_s, clock_ms, max_inflight, gather_ms;
    int64_t phase_start_us; /* loop thread: when the last read phase started (ota_time_pace) */
    mqttparts_callbacks cbs;
    void *ud;
    psess s[NPARTS];
    char clock_suffix[96]; /* "/clock/{client_id}" */

    pthread_t thread;
    bool started;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    uint64_t want_set; /* under mu: the set asked for */
    bool want_connect;
    uint64_t gen_asked, gen_done; /* under mu */
    atomic_bool stopping;
    int wake_fd;
    _Atomic int64_t wm;
    _Atomic uint64_t connected_set;
    int64_t next_probe_mono_ms; /* loop thread */
};

static char *xstrdup(const char *s)
{
    char *d = strdup(s ? s : "");
    if (!d)
        abort(); /* the daemon may abort on out-of-memory */
    return d;
}

/* How often read phases may start: gather_ms for the whole key space, longer in proportion
 * as fewer partitions are held. A round's cost is mostly fixed (the fence, the loads, the
 * batch counters, the commit) and an instance holding half the partitions reads half the
 * messages, so it reads half as often: its rounds come out as full as one instance's, and
 * the database sees about as many rounds whatever the number of instances
 * (docs/broker.md, "Read gathering"). Loop thread. */
static int pace_ms(const mqttparts *mp)
{
    int held = 0;
    for (int p = 0; p < NPARTS; p++)
        held += mp->s[p].counted;
    if (mp->gather_ms <= 0 || held == 0)
        return mp->gather_ms;
    int ms = mp->gather_ms * NPARTS / held;
    int cap = mp->gather_ms > GATHER_MAX_MS ? mp->gather_ms : GATHER_MAX_MS;
    return ms < cap ? ms : cap;
}

static void wake(mqttparts *mp)
{
    uint64_t one = 1;
    if (write(mp->wake_fd, &one, sizeof one) < 0 && errno != EAGAIN)
        OTA_DEBUG("mqttparts: eventfd write: %s", strerror(errno));
}

/* Recomputes the watermark; tells the application when it moved. Loop thread. */
static void update_wm(mqttparts *mp)
{
    int64_t wm = INT64_MAX;
    for (int p = 0; p < NPARTS; p++)
        if (mp->s[p].counted && mp->s[p].probe_ms < wm)
            wm = mp->s[p].probe_ms;
    int64_t was = atomic_exchange(&mp->wm, wm);
    if (wm != was && mp->cbs.on_clock)
        mp->cbs.on_clock(mp->ud);
}

static void publish_connected(mqttparts *mp)
{
    uint64_t c = 0;
    for (int p = 0; p < NPARTS; p++)
        if (mp->s[p].connected)
            c |= (uint64_t)1 << p;
    atomic_store(&mp->connected_set, c);
}

/* --- libmosquitto callbacks (loop thread) ---------------------------------------------- */

static void on_connect(struct mosquitto *mosq, void *obj, int rc)
{
    psess *s = obj;
    char sub[32];
    if (rc != 0) {
        OTA_ERROR("mqttparts: the broker refused partition %d's session: %s", s->part,
                  mosquitto_connack_string(rc));
        return;
    }
    snprintf(sub, sizeof sub, OTA_TOPIC_PART_PREFIX "%d/#", s->part);
    int src = mosquitto_subscribe(mosq, NULL, sub, 1);
    if (src != MOSQ_ERR_SUCCESS)
        OTA_ERROR("mqttparts: subscribe to %s failed: %s", sub, mosquitto_strerror(src));
    s->connected = true;
    s->ever = true;
    s->attempts = 0;
    publish_connected(s->mp);
    OTA_DEBUG("mqttparts: partition %d's session connected", s->part);
}

static void on_message(struct mosquitto *mosq, void *obj, const struct mosquitto_message *msg)
{
    psess *s = obj;
    mqttparts *mp = s->mp;
    char pk[OTA_PRODUCT_KEY_MAX + 1], id[OTA_IDENT_MAX + 1];
    const char *suffix;
    int part;
    (void)mosq;
    const char *rest = msg->topic ? mqttc_unroute(msg->topic, &part) : NULL;
    if (!rest || part != s->part) {
        OTA_WARN("mqttparts: message on unexpected topic %.200s ignored",
                 msg->topic ? msg->topic : "");
        return;
    }
    if (strncmp(rest, "/clock/", 7) == 0) {
        /* another instance's probes wait in the session from when it held the partition */
        if (strcmp(rest, mp->clock_suffix) != 0)
            return;
        int64_t sent = mqttc_clock_parse(msg->payload, (size_t)msg->payloadlen);
        if (sent > s->probe_ms && s->counted)
            s->probe_ms = sent;
        return;
    }
    if (mqttc_parse_topic(rest, pk, id, &suffix) != 0) {
        OTA_WARN("mqttparts: message on unexpected topic %.200s ignored", msg->topic);
        return;
    }
    if (mp->cbs.on_device_message)
        mp->cbs.on_device_message(mp->ud, pk, id, suffix, msg->payload, (size_t)msg->payloadlen);
}

static void on_log(struct mosquitto *mosq, void *obj, int level, const char *str)
{
    (void)mosq;
    (void)obj;
    if (level & (MOSQ_LOG_ERR | MOSQ_LOG_WARNING))
        OTA_DEBUG("libmosquitto: %s", str);
}

/* --- sessions (loop thread) ------------------------------------------------------------ */

static int backoff_ms(int *attempts)
{
    int d = 250;
    for (int i = 0; i < *attempts && d < 5000; i++)
        d *= 2;
    if (*attempts < 30)
        (*attempts)++;
    return d > 5000 ? 5000 : d;
}

/* The session's handle, created on first use. 0 or -1. */
static int sess_handle(mqttparts *mp, psess *s)
{
    char cid[32];
    if (s->mosq)
        return 0;
    snprintf(cid, sizeof cid, MQTTPARTS_CID_FMT, s->part);
    s->mosq = mosquitto_new(cid, false, s);
    if (!s->mosq)
        return -1;
    /* Without it libmosquitto writes a packet the moment it is queued when no callback runs,
     * so mosquitto_loop_read sent each PUBACK as it read the PUBLISH, before durable(): a
     * kill -9 before the engine's commit lost a message the broker had dropped. Threaded,
     * it only queues, and round_once writes once what was read is durable (as mqttc.c). */
    mosquitto_threaded_set(s->mosq, true);
    mosquitto_int_option(s->mosq, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V311);
    mosquitto_max_inflight_messages_set(s->mosq, (unsigned)mp->max_inflight);
    mosquitto_int_option(s->mosq, MOSQ_OPT_TCP_NODELAY, 1);
    if (mosquitto_username_pw_set(s->mosq, mp->username, mp->password) != MOSQ_ERR_SUCCESS) {
        mosquitto_destroy(s->mosq);
        s->mosq = NULL;
        return -1;
    }
    mosquitto_connect_callback_set(s->mosq, on_connect);
    mosquitto_message_callback_set(s->mosq, on_message);
    mosquitto_log_callback_set(s->mosq, on_log);
    return 0;
}

/* The connection is gone (error or on purpose). */
static void sess_down(mqttparts *mp, psess *s, bool retry_later)
{
    int fd = s->mosq ? mosquitto_socket(s->mosq) : -1;
    if (fd >= 0) {
        /* closes the socket inside libmosquitto: the read fails with the connection lost */
        shutdown(fd, SHUT_RDWR);
        mosquitto_loop_read(s->mosq, 1);
    }
    bool was = s->connected;
    s->sock_up = false;
    s->connected = false;
    if (retry_later)
        s->retry_mono_ms = ota_time_mono_ms() + backoff_ms(&s->attempts);
    if (was)
        publish_connected(mp);
}

/* Leaves the session on purpose: a DISCONNECT, then the socket is closed. What was read
 * has been acknowledged (the round finished); what the broker sent after it is sent again
 * to the next holder. */
static void sess_leave(mqttparts *mp, psess *s)
{
    if (!s->sock_up)
        return;
    if (s->connected && mosquitto_disconnect(s->mosq) == MOSQ_ERR_SUCCESS) {
        for (int i = 0; i < 4 && mosquitto_socket(s->mosq) >= 0 && mosquitto_want_write(s->mosq); i++)
            if (mosquitto_loop_write(s->mosq, 1) != MOSQ_ERR_SUCCESS)
                break;
    }
    sess_down(mp, s, false);
    OTA_DEBUG("mqttparts: partition %d's session left", s->part);
}

static void sess_connect(mqttparts *mp, psess *s)
{
    int64_t now = ota_time_mono_ms();
    if (s->sock_up || now < s->retry_mono_ms)
        return;
    if (sess_handle(mp, s) != 0) {
        OTA_ERROR("mqttparts: cannot create partition %d's session", s->part);
        s->retry_mono_ms = now + backoff_ms(&s->attempts);
        return;
    }
    int rc = s->ever ? mosquitto_reconnect_async(s->mosq)
                     : mosquitto_connect_async(s->mosq, mp->host, mp->port, mp->keepalive_s);
    if (rc != MOSQ_ERR_SUCCESS) {
        if (s->attempts % 10 == 0)
            OTA_WARN("mqttparts: cannot connect partition %d's session to %s:%d (%s)", s->part,
                     mp->host, mp->port, mosquitto_strerror(rc));
        s->retry_mono_ms = now + backoff_ms(&s->attempts);
        return;
    }
    /* a connect_async that failed before its first CONNACK leaves no session to resume */
    s->ever = true;
    s->sock_up = true;
    s->connect_mono_ms = now;
}

/* Applies the set mqttparts_set asked for (between rounds). */
static void apply_set(mqttparts *mp)
{
    pthread_mutex_lock(&mp->mu);
    uint64_t set = mp->want_set, gen = mp->gen_asked;
    bool connect = mp->want_connect;
    bool changed = gen != mp->gen_done;
    pthread_mutex_unlock(&mp->mu);
    if (!changed)
        return;
    for (int p = 0; p < NPARTS; p++) {
        psess *s = &mp->s[p];
        bool in = (set >> p) & 1;
        if (!in) {
            sess_leave(mp, s);
            s->counted = s->want = false;
            continue;
        }
        if (!s->counted) {
            s->counted = true;
            s->probe_ms = 0; /* the backlog is in front of the first probe back */
        }
        if (connect && !s->want) {
            s->want = true;
            s->attempts = 0;
            s->retry_mono_ms = 0;
        }
    }
    update_wm(mp);
    pthread_mutex_lock(&mp->mu);
    mp->gen_done = gen;
    pthread_cond_broadcast(&mp->cv);
    pthread_mutex_unlock(&mp->mu);
}

/* Every clock_ms a probe on each connected session's partition. */
static void send_probes(mqttparts *mp)
{
    char topic[160], payload[24];
    int64_t mono = ota_time_mono_ms();
    if (mono < mp->next_probe_mono_ms)
        return;
    mp->next_probe_mono_ms = mono + mp->clock_ms;
    int n = snprintf(payload, sizeof payload, "%lld", (long long)ota_time_now_ms());
    for (int p = 0; p < NPARTS; p++) {
        psess *s = &mp->s[p];
        if (!s->connected)
            continue;
        snprintf(topic, sizeof topic, OTA_TOPIC_PART_PREFIX "%d%s", p, mp->clock_suffix);
        int rc = mosquitto_publish(s->mosq, NULL, topic, n, payload, 1, false);
        if (rc != MOSQ_ERR_SUCCESS)
            OTA_DEBUG("mqttparts: probe on partition %d not sent: %s", p, mosquitto_strerror(rc));
    }
}

/* Waits until what was read is durable (1), or gives up (0) when the lease keeper waits in
 * mqttparts_set: the engine may be unable to commit until the keeper moves on (its round
 * fenced because a lease was lost), so the keeper must not wait for us meanwhile. */
static bool durable(mqttparts *mp)
{
    if (!mp->cbs.before_ack)
        return true;
    while (true) {
        int rc = mp->cbs.before_ack(mp->ud, 200);
        if (rc > 0)
            return true;
        if (rc < 0 || atomic_load(&mp->stopping))
            return false;
        pthread_mutex_lock(&mp->mu);
        bool asked = mp->gen_asked != mp->gen_done;
        pthread_mutex_unlock(&mp->mu);
        if (asked)
            return false;
    }
}

/* One round: poll, read every session that has something (callbacks run here), one
 * before_ack for all of it, then the writes (the PUBACKs) and the keepalives. */
static void round_once(mqttparts *mp)
{
    struct pollfd pf[NPARTS + 1];
    int idx[NPARTS + 1], n = 0;
    pf[n].fd = mp->wake_fd;
    pf[n].events = POLLIN;
    pf[n].revents = 0;
    idx[n++] = -1;
    for (int p = 0; p < NPARTS; p++) {
        psess *s = &mp->s[p];
        int fd = s->sock_up ? mosquitto_socket(s->mosq) : -1;
        if (fd < 0) {
            if (s->sock_up)
                sess_down(mp, s, true);
            continue;
        }
        pf[n].fd = fd;
        pf[n].events = POLLIN | (mosquitto_want_write(s->mosq) ? POLLOUT : 0);
        pf[n].revents = 0;
        idx[n++] = p;
    }
    int64_t wait = mp->next_probe_mono_ms - ota_time_mono_ms();
    if (wait < 1)
        wait = 1;
    if (wait > 100)
        wait = 100;
    if (poll(pf, (nfds_t)n, (int)wait) < 0 && errno != EINTR) {
        OTA_WARN("mqttparts: poll: %s", strerror(errno));
        return;
    }
    if (pf[0].revents & POLLIN) {
        uint64_t v;
        if (read(mp->wake_fd, &v, sizeof v) < 0 && errno != EAGAIN)
            OTA_DEBUG("mqttparts: eventfd read: %s", strerror(errno));
    }
    bool read_any = false;
    uint64_t read_set = 0;
    for (int i = 1; i < n; i++)
        if (pf[i].revents & (POLLIN | POLLHUP | POLLERR)) {
            /* a read phase: at most one per gather_ms while messages keep coming, so what
             * arrives meanwhile waits at the broker and goes into the same engine round */
            ota_time_pace(&mp->phase_start_us, pace_ms(mp));
            if (mp->cbs.before_read)
                mp->cbs.before_read(mp->ud); /* one read phase over every session below */
            break;
        }
    for (int i = 1; i < n; i++) {
        psess *s = &mp->s[idx[i]];
        if (!(pf[i].revents & (POLLIN | POLLHUP | POLLERR)))
            continue;
        read_set |= (uint64_t)1 << s->part;
        int rc = mosquitto_loop_read(s->mosq, 1);
        for (int k = 1; rc == MOSQ_ERR_SUCCESS && k < READ_BATCH; k++) {
            struct pollfd more = {mosquitto_socket(s->mosq), POLLIN, 0};
            if (more.fd < 0 || poll(&more, 1, 0) <= 0 || !(more.revents & POLLIN))
                break;
            rc = mosquitto_loop_read(s->mosq, 1);
        }
        read_any = true;
        if (rc != MOSQ_ERR_SUCCESS) {
            OTA_DEBUG("mqttparts: partition %d's session lost (%s)", s->part,
                      mosquitto_strerror(rc));
            sess_down(mp, s, true);
        }
    }
    if (read_any) {
        /* the PUBACKs of what was just read are queued; they leave below, once durable */
        if (!durable(mp)) {
            for (int p = 0; p < NPARTS; p++)
                if ((read_set >> p) & 1)
                    sess_down(mp, &mp->s[p], true);
            OTA_WARN("mqttparts: messages read but not yet durable when the partitions "
                     "changed; their sessions are dropped unacknowledged (the broker sends "
                     "them again)");
        }
        update_wm(mp);
    }
    for (int p = 0; p < NPARTS; p++) {
        psess *s = &mp->s[p];
        if (!s->sock_up)
            continue;
        int rc = MOSQ_ERR_SUCCESS;
        if (mosquitto_socket(s->mosq) >= 0 && mosquitto_want_write(s->mosq))
            rc = mosquitto_loop_write(s->mosq, 1);
        if (rc == MOSQ_ERR_SUCCESS)
            rc = mosquitto_loop_misc(s->mosq);
        if (rc == MOSQ_ERR_SUCCESS && !s->connected &&
            ota_time_mono_ms() - s->connect_mono_ms > CONNACK_TIMEOUT_MS) {
            OTA_WARN("mqttparts: no CONNACK for partition %d after %d ms", p, CONNACK_TIMEOUT_MS);
            rc = MOSQ_ERR_NO_CONN;
        }
        if (rc != MOSQ_ERR_SUCCESS)
            sess_down(mp, s, true);
    }
}

static void *loop_main(void *arg)
{
    mqttparts *mp = arg;
    while (!atomic_load(&mp->stopping)) {
        apply_set(mp);
        for (int p = 0; p < NPARTS; p++)
            if (mp->s[p].want && !mp->s[p].sock_up)
                sess_connect(mp, &mp->s[p]);
        send_probes(mp);
        round_once(mp);
    }
    for (int p = 0; p < NPARTS; p++)
        sess_leave(mp, &mp->s[p]);
    publish_connected(mp);
    pthread_mutex_lock(&mp->mu);
    mp->gen_done = mp->gen_asked;
    pthread_cond_broadcast(&mp->cv);
    pthread_mutex_unlock(&mp->mu);
    return NULL;
}

/* --- public ------------------------------------------------------------------------------ */

mqttparts *mqttparts_new(const mqttparts_config *cfg, const mqttparts_callbacks *cbs, void *ud)
{
    if (!cfg || !cfg->password || !cfg->client_id || !cfg->client_id[0] ||
        strlen(cfg->client_id) > 64) {
        OTA_ERROR("mqttparts: configuration without a password or a client id");
        return NULL;
    }
    mosquitto_lib_init(); /* reference counted by libmosquitto; mqttc has done it too */
    mqttparts *mp = calloc(1, sizeof *mp);
    if (!mp)
        return NULL;
    mp->host = xstrdup(cfg->host && cfg->host[0] ? cfg->host : "127.0.0.1");
    mp->client_id = xstrdup(cfg->client_id);
    mp->username = xstrdup(cfg->username && cfg->username[0] ? cfg->username : "otad");
    mp->password = xstrdup(cfg->password);
    mp->port = cfg->port > 0 && cfg->port < 65536 ? cfg->port : 1883;
    mp->keepalive_s = cfg->keepalive_s > 0 ? cfg->keepalive_s : 30;
    mp->clock_ms = cfg->clock_ms > 0 ? cfg->clock_ms : 100;
    mp->max_inflight = cfg->max_inflight > 0 ? cfg->max_inflight : 1000;
    mp->gather_ms = cfg->gather_ms > 0 ? cfg->gather_ms : 0;
    snprintf(mp->clock_suffix, sizeof mp->clock_suffix, "/clock/%s", mp->client_id);
    if (cbs)
        mp->cbs = *cbs;
    mp->ud = ud;
    for (int p = 0; p < NPARTS; p++) {
        mp->s[p].part = p;
        mp->s[p].mp = mp;
    }
    atomic_init(&mp->wm, INT64_MAX);
    pthread_mutex_init(&mp->mu, NULL);
    pthread_cond_init(&mp->cv, NULL);
    mp->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (mp->wake_fd < 0) {
        OTA_ERROR("mqttparts: eventfd: %s", strerror(errno));
        mqttparts_destroy(mp);
        return NULL;
    }
    return mp;
}

ota_err mqttparts_start(mqttparts *mp)
{
    if (!mp || mp->started || atomic_load(&mp->stopping))
        return OTA_ESTATE;
    pthread_mutex_lock(&mp->mu);
    mp->started = true; /* before the thread: mqttparts_set waits for it from now on */
    if (pthread_create(&mp->thread, NULL, loop_main, mp) != 0) {
        mp->started = false;
        pthread_mutex_unlock(&mp->mu);
        OTA_ERROR("mqttparts: cannot start the loop thread");
        return OTA_EMQTTLIB;
    }
    pthread_setname_np(mp->thread, "ota-parts"); /* top -H, perf */
    pthread_mutex_unlock(&mp->mu);
    return OTA_OK;
}

void mqttparts_stop(mqttparts *mp)
{
    if (!mp)
        return;
    pthread_mutex_lock(&mp->mu);
    atomic_store(&mp->stopping, true);
    bool join = mp->started;
    pthread_cond_broadcast(&mp->cv);
    pthread_mutex_unlock(&mp->mu);
    if (join) {
        wake(mp);
        pthread_join(mp->thread, NULL);
        pthread_mutex_lock(&mp->mu);
        mp->started = false;
        pthread_mutex_unlock(&mp->mu);
    }
}

void mqttparts_destroy(mqttparts *mp)
{
    if (!mp)
        return;
    mqttparts_stop(mp);
    for (int p = 0; p < NPARTS; p++)
        if (mp->s[p].mosq)
            mosquitto_destroy(mp->s[p].mosq);
    if (mp->wake_fd >= 0)
        close(mp->wake_fd);
    pthread_mutex_destroy(&mp->mu);
    pthread_cond_destroy(&mp->cv);
    if (mp->password)
        memset(mp->password, 0, strlen(mp->password));
    free(mp->host);
    free(mp->client_id);
    free(mp->username);
    free(mp->password);
    free(mp);
}

void mqttparts_set(mqttparts *mp, uint64_t set, bool connect)
{
    if (!mp)
        return;
    pthread_mutex_lock(&mp->mu);
    mp->want_set = set;
    mp->want_connect = connect;
    uint64_t gen = ++mp->gen_asked;
    wake(mp);
    while (mp->started && mp->gen_done < gen && !atomic_load(&mp->stopping))
        pthread_cond_wait(&mp->cv, &mp->mu);
    pthread_mutex_unlock(&mp->mu);
}

int64_t mqttparts_watermark(const mqttparts *mp)
{
    return mp ? atomic_load(&((mqttparts *)mp)->wm) : INT64_MAX;
}

uint64_t mqttparts_connected(const mqttparts *mp)
{
    return mp ? atomic_load(&((mqttparts *)mp)->connected_set) : 0;
}
