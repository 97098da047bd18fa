/*
 * mqttc: otad's MQTT client (see mqttc.h). It owns one libmosquitto handle and one loop
 * thread. The thread runs its own poll() loop over mosquitto_loop_read/_write/_misc
 * instead of mosquitto_loop_start(), because libmosquitto's loop uses select() (it fails
 * for good once the socket's descriptor is >= 1024, which a busy otad with thousands of
 * download connections reaches), gives up for good on some errors (protocol, auth), and
 * has no timer hook; ours retries forever with backoff and times out stuck snapshots.
 * All libmosquitto callbacks, and so all of mqttc's callbacks, run on that thread; the
 * snapshot assembly is only touched there. Publishing from other threads goes through
 * mosquitto_publish(), which is thread-safe; with mosquitto_threaded_set(true) it only
 * queues, and an eventfd wakes the loop thread, which writes.
 *
 * Load: the engine pushes up to ~100,000 devices a minute and devices answer with a few
 * messages each; a snapshot of a million devices is about a thousand 100 KB messages.
 */
#include "mqttc.h"

#include "mqttc_proto.h"
#include "ota_crypto.h"
#include "ota_log.h"
#include "ota_time.h"

#include <errno.h>
#include <mosquitto.h>
#include <poll.h>
#include <pthread.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_PAYLOAD (256 * 1024)
#define CONNACK_TIMEOUT_MS 15000

static const char *const SUB_TOPICS[] = {
    OTA_TOPIC_ROOT "+/+/" OTA_TOPIC_UPGRADE_REPLY,
    OTA_TOPIC_ROOT "+/+/" OTA_TOPIC_PROGRESS,
    OTA_TOPIC_ROOT "+/+/" OTA_TOPIC_VERSION,
    OTA_TOPIC_ROOT "+/+/" OTA_TOPIC_GET,
    OTA_TOPIC_PRESENCE,
};
#define N_SUB_TOPICS (sizeof SUB_TOPICS / sizeof SUB_TOPICS[0])
/* Where the broker plugin moves device messages (docs/broker.md, "Partition topics"):
 * subscribed here unless config partition_sessions (then mqttparts reads them). */
static const char *const PART_TOPICS[] = {
    OTA_TOPIC_PART_PREFIX "+" OTA_TOPIC_ROOT "+/+/" OTA_TOPIC_UPGRADE_REPLY,
    OTA_TOPIC_PART_PREFIX "+" OTA_TOPIC_ROOT "+/+/" OTA_TOPIC_PROGRESS,
    OTA_TOPIC_PART_PREFIX "+" OTA_TOPIC_ROOT "+/+/" OTA_TOPIC_VERSION,
    OTA_TOPIC_PART_PREFIX "+" OTA_TOPIC_ROOT "+/+/" OTA_TOPIC_GET,
};
#define N_PART_TOPICS (sizeof PART_TOPICS / sizeof PART_TOPICS[0])

static int name_ok(const char *s, size_t max);

/* The publishing connection (config separate_publisher): pushes and clock probes leave on
 * their own connection and loop thread, because the main loop thread holds its writes while
 * before_ack waits for the application to make what it read durable (the PUBACKs and any
 * publish queued behind them leave together). A push must not wait for that: its ack clock
 * starts when it is committed, and the clock probes must follow the pushes. Clean session,
 * no subscriptions, client id "{client_id}-pub". */
typedef struct mqttc_pub {
    struct mosquitto *mosq;
    char *client_id;
    pthread_t thread;
    bool started;
    int wake_fd;
    atomic_bool wake_pending;
    atomic_bool connected;
    /* its loop thread only */
    bool sock_up;
    int attempts;
    int64_t connect_started_ms;
} mqttc_pub;

struct mqttc {
    struct mosquitto *mosq;
    /* config, strings owned */
    char *host, *client_id, *username, *password;
    int port, keepalive_s, reconnect_min_ms, reconnect_max_ms, sync_timeout_ms, max_inflight;
    bool clean_session;
    char *subs[N_SUB_TOPICS + N_PART_TOPICS + 1]; /* the subscriptions, with $share/{group}/
                                     when configured, the partition topics unless
                                     partition_sessions, the clock topic when clock_ms > 0 */
    int n_subs;
    int clock_ms;             /* probe interval, 0 = no probes */
    char *clock_topic;        /* "ota/internal/clock/{client_id}", or NULL */
    mqttc_callbacks cbs;
    void *ud;

    pthread_t thread;
    int gather_ms;          /* read phases start at most this often (config gather_ms) */
    int64_t phase_start_us; /* loop thread: when the last read phase started */
    pthread_mutex_t lock; /* guards started/stopping with cond (sleeps) */
    pthread_cond_t cond;
    bool started, joined;
    atomic_bool stopping;
    atomic_bool connected; /* CONNACK accepted, not yet lost */
    atomic_bool presence_ready;
    atomic_size_t pending;    /* QoS 1 publishes not yet acknowledged */
    int wake_fd;              /* eventfd: a publish or a stop wakes the loop */
    atomic_bool wake_pending; /* a wake-up is already in the eventfd */

    /* loop thread only */
    bool sock_up;               /* TCP connection (maybe before CONNACK) */
    int attempts;               /* failed connects since the last CONNACK */
    bool warned;                /* a connect failure of this streak was logged */
    int64_t connect_started_ms; /* monotonic, of the pending connect */
    int64_t next_clock_ms;      /* monotonic, when the next probe is due */
    mqttc_pub *pub;             /* the publishing connection, or NULL (config separate_publisher) */
    bool told_up;               /* on_connection(true) delivered, (false) not yet */
    mqttc_snap snap;
    atomic_bool snap_wanted;    /* mqttc_request_snapshot: the loop asks at its next turn */
};

static void *xstrdup(const char *s)
{
    char *d = strdup(s ? s : "");
    if (!d)
        abort(); /* the daemon may abort on out-of-memory */
    return d;
}

/* --- presence --------------------------------------------------------------------------- */

/* Publishes a sync request with a fresh nonce and restarts the assembly. Loop thread. */
static void request_sync(mqttc *m)
{
    char nonce[33], payload[64];
    int n;
    if (ota_random_hex(16, nonce) != 0) {
        OTA_ERROR("mqtt: no random nonce for the presence sync");
        return;
    }
    mqttc_snap_begin(&m->snap, nonce, ota_time_mono_ms());
    n = snprintf(payload, sizeof payload, "{\"nonce\":\"%s\"}", nonce);
    int rc = mosquitto_publish(m->mosq, NULL, OTA_TOPIC_SYNC, n, payload, 1, false);
    if (rc != MOSQ_ERR_SUCCESS)
        OTA_WARN("mqtt: presence sync request not sent: %s", mosquitto_strerror(rc));
    else
        OTA_DEBUG("mqtt: presence sync %s requested", nonce);
}

static void deliver_snapshot(mqttc *m)
{
    size_t n = m->snap.set.count;
    const char **list = malloc((n ? n : 1) * sizeof *list);
    if (!list)
        abort();
    mqttc_set_list(&m->snap.set, list);
    OTA_INFO("mqtt: presence snapshot: %zu devices online", n);
    if (m->cbs.on_presence_snapshot)
        m->cbs.on_presence_snapshot(m->ud, list, n);
    free(list);
    mqttc_snap_end(&m->snap);
    atomic_store(&m->presence_ready, true);
}

static void handle_presence(mqttc *m, const void *payload, size_t len)
{
    mqttc_presence p;
    if (mqttc_presence_parse(payload, len, &p) != 0) {
        OTA_WARN("mqtt: malformed presence message ignored (%zu bytes)", len);
        return;
    }
    if (p.kind == MQTTC_PRES_SNAPSHOT) {
        switch (mqttc_snap_part(&m->snap, &p)) {
        case MQTTC_SNAP_COMPLETE:
            deliver_snapshot(m);
            break;
        case MQTTC_SNAP_BROKEN:
            OTA_WARN("mqtt: presence snapshot part %u out of order; asking again", p.part);
            request_sync(m);
            break;
        default:
            break;
        }
    } else {
        char cid[OTA_CLIENT_ID_MAX + 1];
        bool online = p.kind == MQTTC_PRES_ON;
        snprintf(cid, sizeof cid, "%s.%s", p.pk, p.id);
        mqttc_snap_event(&m->snap, cid, online);
        /* Before this connection's snapshot is delivered, an event is either already in it
         * (it came before part 0: e.g. events queued in the session while otad was away)
         * or applied to it above: either way the snapshot tells it. */
        if (atomic_load(&m->presence_ready) && m->cbs.on_presence)
            m->cbs.on_presence(m->ud, p.pk, p.id, online, p.t_ms);
    }
    mqttc_presence_clear(&p);
}

/* --- libmosquitto callbacks (loop thread) ---------------------------------------------- */

static void on_connect(struct mosquitto *mosq, void *obj, int rc)
{
    mqttc *m = obj;
    (void)mosq;
    if (rc != 0) {
        OTA_ERROR("mqtt: broker %s:%d refused the connection: %s", m->host, m->port,
                  mosquitto_connack_string(rc));
        return;
    }
    m->attempts = 0;
    m->warned = false;
    int src = mosquitto_subscribe_multiple(m->mosq, NULL, m->n_subs, m->subs, 1, 0, NULL);
    if (src != MOSQ_ERR_SUCCESS)
        OTA_ERROR("mqtt: subscribe failed: %s", mosquitto_strerror(src));
    /* The broker handles one connection's packets in order: the subscription is in
     * place when the sync request arrives. */
    atomic_store(&m->presence_ready, false);
    request_sync(m);
    atomic_store(&m->connected, true);
    OTA_INFO("mqtt: connected to %s:%d as %s", m->host, m->port, m->client_id);
    m->told_up = true;
    if (m->cbs.on_connection)
        m->cbs.on_connection(m->ud, true);
}

/* Called once per lost connection, from on_disconnect or the loop. */
static void connection_lost(mqttc *m)
{
    atomic_store(&m->connected, false);
    atomic_store(&m->presence_ready, false);
    mqttc_snap_end(&m->snap);
    if (m->told_up) {
        m->told_up = false;
        if (!atomic_load(&m->stopping))
            OTA_WARN("mqtt: connection to %s:%d lost", m->host, m->port);
        if (m->cbs.on_connection)
            m->cbs.on_connection(m->ud, false);
    }
}

static void on_disconnect(struct mosquitto *mosq, void *obj, int rc)
{
    (void)mosq;
    (void)rc;
    connection_lost(obj);
}

static void on_publish(struct mosquitto *mosq, void *obj, int mid)
{
    mqttc *m = obj;
    (void)mosq;
    (void)mid;
    size_t p = atomic_load(&m->pending);
    while (p > 0 && !atomic_compare_exchange_weak(&m->pending, &p, p - 1))
        ;
}

static void on_message(struct mosquitto *mosq, void *obj, const struct mosquitto_message *msg)
{
    mqttc *m = obj;
    char pk[OTA_PRODUCT_KEY_MAX + 1], id[OTA_IDENT_MAX + 1];
    const char *suffix;
    (void)mosq;
    if (!msg->topic)
        return;
    if (strcmp(msg->topic, OTA_TOPIC_PRESENCE) == 0) {
        handle_presence(m, msg->payload, (size_t)msg->payloadlen);
        return;
    }
    if (m->clock_topic && strcmp(msg->topic, m->clock_topic) == 0) {
        int64_t sent = mqttc_clock_parse(msg->payload, (size_t)msg->payloadlen);
        if (sent < 0)
            OTA_WARN("mqtt: malformed clock probe ignored (%d bytes)", msg->payloadlen);
        else if (m->cbs.on_clock)
            m->cbs.on_clock(m->ud, sent);
        return;
    }
    int part;
    const char *topic = mqttc_unroute(msg->topic, &part);
    if (!topic || mqttc_parse_topic(topic, pk, id, &suffix) != 0) {
        OTA_WARN("mqtt: message on unexpected topic %.200s ignored", msg->topic);
        return;
    }
    if (m->cbs.on_device_message)
        m->cbs.on_device_message(m->ud, pk, id, suffix, msg->payload, (size_t)msg->payloadlen);
}

static void on_log(struct mosquitto *mosq, void *obj, int level, const char *str)
{
    (void)mosq;
    (void)obj;
    if (level & (MOSQ_LOG_ERR | MOSQ_LOG_WARNING))
        OTA_DEBUG("libmosquitto: %s", str);
}

/* --- loop thread ------------------------------------------------------------------------ */

/* Wakes the loop thread (any thread); one write per batch of publishes. */
static void wake(mqttc *m)
{
    uint64_t one = 1;
    if (m->wake_fd >= 0 && !atomic_exchange(&m->wake_pending, true)) {
        if (write(m->wake_fd, &one, sizeof one) < 0)
            atomic_store(&m->wake_pending, false);
    }
}

/* One poll round on the socket and the eventfd: read (callbacks run here), then write
 * (the PUBACKs of what was just read leave here), then keepalive. Returns a MOSQ_ERR_*. */
static int io_round(mqttc *m, int timeout_ms)
{
    struct pollfd p[2];
    int fd = mosquitto_socket(m->mosq), rc = MOSQ_ERR_SUCCESS;
    if (fd < 0)
        return MOSQ_ERR_NO_CONN;
    p[0].fd = fd;
    p[0].events = POLLIN | (mosquitto_want_write(m->mosq) ? POLLOUT : 0);
    p[0].revents = 0;
    p[1].fd = m->wake_fd;
    p[1].events = POLLIN;
    p[1].revents = 0;
    if (poll(p, 2, timeout_ms) < 0)
        return errno == EINTR ? MOSQ_ERR_SUCCESS : MOSQ_ERR_ERRNO;
    if (p[1].revents & POLLIN) {
        uint64_t v;
        atomic_store(&m->wake_pending, false);
        if (read(m->wake_fd, &v, sizeof v) < 0 && errno != EAGAIN)
            OTA_DEBUG("mqtt: eventfd read: %s", strerror(errno));
    }
    if (p[0].revents & (POLLIN | POLLHUP | POLLERR)) {
        ota_time_pace(&m->phase_start_us, m->gather_ms);
        /* read a group of packets while more are waiting, so one before_ack covers many */
        if (m->cbs.before_read)
            m->cbs.before_read(m->ud);
        rc = mosquitto_loop_read(m->mosq, 1);
        for (int n = 1; rc == MOSQ_ERR_SUCCESS && n < MQTTC_READ_BATCH; n++) {
            struct pollfd more = {mosquitto_socket(m->mosq), POLLIN, 0};
            if (more.fd < 0 || poll(&more, 1, 0) <= 0 || !(more.revents & POLLIN))
                break;
            rc = mosquitto_loop_read(m->mosq, 1);
        }
        /* the PUBACKs of what was just read are queued; they leave in the write phase */
        if (m->cbs.before_ack)
            m->cbs.before_ack(m->ud);
    }
    if (rc == MOSQ_ERR_SUCCESS && mosquitto_socket(m->mosq) >= 0 && mosquitto_want_write(m->mosq))
        rc = mosquitto_loop_write(m->mosq, 1);
    if (rc == MOSQ_ERR_SUCCESS)
        rc = mosquitto_loop_misc(m->mosq);
    return rc;
}

static int publish_any(mqttc *m, const char *topic, int len, const void *payload);

/* Sends the next clock probe when it is due (loop thread, connected). It is queued behind
 * the publishes already waiting, and the broker queues it for us behind the device
 * messages that reached it first: its return tells how far behind we are. */
static void clock_tick(mqttc *m)
{
    char payload[24];
    if (!m->clock_topic || !atomic_load(&m->connected))
        return;
    int64_t mono = ota_time_mono_ms();
    if (mono < m->next_clock_ms)
        return;
    m->next_clock_ms = mono + m->clock_ms;
    int n = snprintf(payload, sizeof payload, "%lld", (long long)ota_time_now_ms());
    /* on the connection the pushes take, behind them */
    int rc = publish_any(m, m->clock_topic, n, payload);
    if (rc != MOSQ_ERR_SUCCESS)
        OTA_DEBUG("mqtt: clock probe not sent: %s", mosquitto_strerror(rc));
}

/* Sleeps ms unless stopping. */
static void pause_ms(mqttc *m, int ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += ms / 1000;
    ts.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&m->lock);
    while (!atomic_load(&m->stopping)) {
        if (pthread_cond_timedwait(&m->cond, &m->lock, &ts) != 0)
            break;
    }
    pthread_mutex_unlock(&m->lock);
}

/* Exponential backoff from reconnect_min_ms, capped, with +-20% jitter. */
static int backoff_ms_of(mqttc *m, int *attempts)
{
    long d = m->reconnect_min_ms;
    for (int i = 0; i < *attempts && d < m->reconnect_max_ms; i++)
        d *= 2;
    if (d > m->reconnect_max_ms)
        d = m->reconnect_max_ms;
    unsigned char r = 0;
    ota_random_bytes(&r, 1);
    d = d * (80 + (long)(r % 41)) / 100;
    if (*attempts < 30)
        (*attempts)++;
    return (int)(d > 0 ? d : 1);
}

static int backoff_ms(mqttc *m)
{
    return backoff_ms_of(m, &m->attempts);
}

/* --- the publishing connection ---------------------------------------------------------- */

static void pub_wake(mqttc_pub *pb)
{
    uint64_t one = 1;
    if (pb->wake_fd >= 0 && !atomic_exchange(&pb->wake_pending, true)) {
        if (write(pb->wake_fd, &one, sizeof one) < 0)
            atomic_store(&pb->wake_pending, false);
    }
}

static void pub_on_connect(struct mosquitto *mosq, void *obj, int rc)
{
    mqttc *m = obj;
    (void)mosq;
    if (rc != 0) {
        OTA_ERROR("mqtt: broker %s:%d refused the publishing connection: %s", m->host, m->port,
                  mosquitto_connack_string(rc));
        return;
    }
    m->pub->attempts = 0;
    atomic_store(&m->pub->connected, true);
    OTA_INFO("mqtt: publishing connection up as %s", m->pub->client_id);
}

static void pub_on_disconnect(struct mosquitto *mosq, void *obj, int rc)
{
    mqttc *m = obj;
    (void)mosq;
    (void)rc;
    atomic_store(&m->pub->connected, false);
}

/* The publishing connection's loop: connect, write what is queued, read PUBACKs, reconnect
 * with backoff. It never waits on the application. */
static void *pub_main(void *arg)
{
    mqttc *m = arg;
    mqttc_pub *pb = m->pub;
    bool first = true;
    while (!atomic_load(&m->stopping)) {
        if (!pb->sock_up) {
            int rc = first ? mosquitto_connect_async(pb->mosq, m->host, m->port, m->keepalive_s)
                           : mosquitto_reconnect_async(pb->mosq);
            if (rc != MOSQ_ERR_SUCCESS) {
                pause_ms(m, backoff_ms_of(m, &pb->attempts));
                continue;
            }
            first = false;
            pb->sock_up = true;
            pb->connect_started_ms = ota_time_mono_ms();
        }
        int fd = mosquitto_socket(pb->mosq);
        if (!atomic_load(&pb->connected) && fd >= 0 &&
            ota_time_mono_ms() - pb->connect_started_ms > CONNACK_TIMEOUT_MS) {
            shutdown(fd, SHUT_RDWR);
            pb->connect_started_ms = ota_time_mono_ms();
        }
        int rc = MOSQ_ERR_NO_CONN;
        if (fd >= 0) {
            struct pollfd p[2] = {{fd, POLLIN | (mosquitto_want_write(pb->mosq) ? POLLOUT : 0), 0},
                                  {pb->wake_fd, POLLIN, 0}};
            rc = MOSQ_ERR_SUCCESS;
            if (poll(p, 2, 200) < 0 && errno != EINTR)
                rc = MOSQ_ERR_ERRNO;
            if (p[1].revents & POLLIN) {
                uint64_t v;
                atomic_store(&pb->wake_pending, false);
                if (read(pb->wake_fd, &v, sizeof v) < 0 && errno != EAGAIN)
                    OTA_DEBUG("mqtt: eventfd read: %s", strerror(errno));
            }
            if (rc == MOSQ_ERR_SUCCESS && (p[0].revents & (POLLIN | POLLHUP | POLLERR)))
                rc = mosquitto_loop_read(pb->mosq, 16);
            if (rc == MOSQ_ERR_SUCCESS && mosquitto_want_write(pb->mosq))
                rc = mosquitto_loop_write(pb->mosq, 16);
            if (rc == MOSQ_ERR_SUCCESS)
                rc = mosquitto_loop_misc(pb->mosq);
        }
        if (rc != MOSQ_ERR_SUCCESS) {
            atomic_store(&pb->connected, false);
            pb->sock_up = false;
            if (atomic_load(&m->stopping))
                break;
            int d = backoff_ms_of(m, &pb->attempts);
            OTA_DEBUG("mqtt: publishing connection lost (%s); reconnecting in %d ms",
                      mosquitto_strerror(rc), d);
            pause_ms(m, d);
        }
    }
    if (pb->sock_up) {
        /* what was queued and not yet acknowledged is not sent again (clean session): a push
         * lost here is a push the device never got, which its ack deadline covers */
        mosquitto_disconnect(pb->mosq);
        pb->sock_up = false;
    }
    atomic_store(&pb->connected, false);
    return NULL;
}

/* Creates the publishing connection (not started). 0 or -1. */
static int pub_new(mqttc *m)
{
    mqttc_pub *pb = calloc(1, sizeof *pb);
    if (!pb)
        return -1;
    m->pub = pb;
    pb->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    size_t len = strlen(m->client_id) + 5;
    pb->client_id = malloc(len);
    if (pb->wake_fd < 0 || !pb->client_id)
        return -1;
    snprintf(pb->client_id, len, "%s-pub", m->client_id);
    pb->mosq = mosquitto_new(pb->client_id, true, m);
    if (!pb->mosq)
        return -1;
    mosquitto_threaded_set(pb->mosq, true);
    mosquitto_int_option(pb->mosq, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V311);
    mosquitto_max_inflight_messages_set(pb->mosq, (unsigned)m->max_inflight);
    mosquitto_int_option(pb->mosq, MOSQ_OPT_TCP_NODELAY, 1);
    if (mosquitto_username_pw_set(pb->mosq, m->username, m->password) != MOSQ_ERR_SUCCESS)
        return -1;
    mosquitto_connect_callback_set(pb->mosq, pub_on_connect);
    mosquitto_disconnect_callback_set(pb->mosq, pub_on_disconnect);
    mosquitto_publish_callback_set(pb->mosq, on_publish);
    mosquitto_log_callback_set(pb->mosq, on_log);
    return 0;
}

static void pub_free(mqttc_pub *pb)
{
    if (!pb)
        return;
    if (pb->mosq)
        mosquitto_destroy(pb->mosq);
    if (pb->wake_fd >= 0)
        close(pb->wake_fd);
    free(pb->client_id);
    free(pb);
}

/* Queues a QoS 1 publish on the publishing connection when it is up, else on the main one
 * (returns MOSQ_ERR_NO_CONN when neither is), and wakes the loop that will write it. */
static int publish_any(mqttc *m, const char *topic, int len, const void *payload)
{
    struct mosquitto *mq = NULL;
    mqttc_pub *pb = m->pub;
    bool via_pub = pb && atomic_load(&pb->connected);
    if (via_pub)
        mq = pb->mosq;
    else if (atomic_load(&m->connected))
        mq = m->mosq;
    else
        return MOSQ_ERR_NO_CONN;
    atomic_fetch_add(&m->pending, 1);
    int rc = mosquitto_publish(mq, NULL, topic, len, payload, 1, false);
    if (rc != MOSQ_ERR_SUCCESS) {
        on_publish(NULL, m, 0); /* undo the count */
        return rc;
    }
    if (via_pub)
        pub_wake(pb);
    else
        wake(m);
    return MOSQ_ERR_SUCCESS;
}

static void *loop_main(void *arg)
{
    mqttc *m = arg;
    bool first = true;
    int64_t stop_deadline = 0;

    while (true) {
        if (atomic_load(&m->stopping)) {
            if (!m->sock_up)
                break;
            if (!stop_deadline) {
                stop_deadline = ota_time_mono_ms() + 2000;
                mosquitto_disconnect(m->mosq);
            } else if (ota_time_mono_ms() > stop_deadline) {
                break;
            }
        }
        if (!m->sock_up) {
            /* non-blocking connect: a black-holed broker cannot hold up mqttc_stop */
            int rc = first ? mosquitto_connect_async(m->mosq, m->host, m->port, m->keepalive_s)
                           : mosquitto_reconnect_async(m->mosq);
            if (rc != MOSQ_ERR_SUCCESS) {
                int d = backoff_ms(m);
                if (!m->warned || m->attempts % 10 == 0)
                    OTA_WARN("mqtt: cannot connect to %s:%d (%s); retrying in %d ms", m->host,
                             m->port, mosquitto_strerror(rc), d);
                m->warned = true;
                pause_ms(m, d);
                continue;
            }
            first = false;
            m->sock_up = true;
            m->connect_started_ms = ota_time_mono_ms();
        }
        /* no CONNACK in time (SYN lost, broker stuck): drop the socket, the round fails */
        if (!atomic_load(&m->connected) && !atomic_load(&m->stopping) &&
            ota_time_mono_ms() - m->connect_started_ms > CONNACK_TIMEOUT_MS &&
            mosquitto_socket(m->mosq) >= 0) {
            OTA_WARN("mqtt: no CONNACK from %s:%d after %d ms", m->host, m->port,
                     CONNACK_TIMEOUT_MS);
            shutdown(mosquitto_socket(m->mosq), SHUT_RDWR);
            m->connect_started_ms = ota_time_mono_ms();
        }
        int rc = io_round(m, m->clock_ms > 0 && m->clock_ms < 200 ? m->clock_ms : 200);
        if (rc == MOSQ_ERR_SUCCESS) {
            clock_tick(m);
            if (mosquitto_want_write(m->mosq))
                rc = mosquitto_loop_write(m->mosq, 1);
        }
        if (rc != MOSQ_ERR_SUCCESS) {
            bool was_up = m->told_up;
            m->sock_up = false;
            connection_lost(m);
            if (atomic_load(&m->stopping))
                break;
            int d = backoff_ms(m);
            if (!was_up && (!m->warned || m->attempts % 10 == 0)) {
                OTA_WARN("mqtt: cannot connect to %s:%d (%s); retrying in %d ms", m->host, m->port,
                         rc == MOSQ_ERR_ERRNO ? strerror(errno) : mosquitto_strerror(rc), d);
                m->warned = true;
            } else {
                OTA_DEBUG("mqtt: loop ended (%s); reconnecting in %d ms", mosquitto_strerror(rc),
                          d);
            }
            pause_ms(m, d);
            continue;
        }
        if (atomic_exchange(&m->snap_wanted, false) && atomic_load(&m->connected))
            request_sync(m);
        /* A snapshot that does not complete in time is asked for again. */
        if (atomic_load(&m->connected) && m->snap.nonce[0] &&
            ota_time_mono_ms() - m->snap.started_mono_ms > m->sync_timeout_ms) {
            OTA_WARN("mqtt: no presence snapshot after %d ms; asking again (is the ota_auth plugin "
                     "loaded?)",
                     m->sync_timeout_ms);
            request_sync(m);
        }
    }
    if (m->sock_up) {
        mosquitto_disconnect(m->mosq);
        m->sock_up = false;
    }
    connection_lost(m);
    return NULL;
}

/* --- public ------------------------------------------------------------------------------ */

static pthread_once_t lib_once = PTHREAD_ONCE_INIT;
static void lib_init(void)
{
    mosquitto_lib_init();
}

mqttc *mqttc_new(const mqttc_config *cfg, const mqttc_callbacks *cbs, void *ud)
{
    mqttc *m;
    if (!cfg || !cfg->password) {
        OTA_ERROR("mqtt: configuration without a password");
        return NULL;
    }
    if (cfg->shared_group && cfg->shared_group[0] && !name_ok(cfg->shared_group, 32)) {
        OTA_ERROR("mqtt: bad shared_group (1..32 of [A-Za-z0-9_-])");
        return NULL;
    }
    pthread_once(&lib_once, lib_init);
    m = calloc(1, sizeof *m);
    if (!m)
        return NULL;
    m->wake_fd = -1;
    m->host = xstrdup(cfg->host && cfg->host[0] ? cfg->host : "127.0.0.1");
    m->client_id = xstrdup(cfg->client_id && cfg->client_id[0] ? cfg->client_id : "otad");
    m->username = xstrdup(cfg->username && cfg->username[0] ? cfg->username : "otad");
    m->password = xstrdup(cfg->password);
    m->port = cfg->port > 0 && cfg->port < 65536 ? cfg->port : 1883;
    m->keepalive_s = cfg->keepalive_s > 0 ? cfg->keepalive_s : 30;
    m->clean_session = cfg->clean_session;
    m->reconnect_min_ms = cfg->reconnect_min_ms > 0 ? cfg->reconnect_min_ms : 500;
    m->reconnect_max_ms = cfg->reconnect_max_ms > 0 ? cfg->reconnect_max_ms : 30000;
    if (m->reconnect_max_ms < m->reconnect_min_ms)
        m->reconnect_max_ms = m->reconnect_min_ms;
    m->sync_timeout_ms = cfg->sync_timeout_ms > 0 ? cfg->sync_timeout_ms : 10000;
    m->max_inflight = cfg->max_inflight > 0 ? cfg->max_inflight : 1000;
    m->gather_ms = cfg->gather_ms > 0 ? cfg->gather_ms : 0;
    m->n_subs = (int)N_SUB_TOPICS;
    /* not with shared_group: Mosquitto takes no "$share/{group}/$ota/..." filter, and the
     * SUBSCRIBE that carries one fails whole */
    if (!cfg->partition_sessions && !(cfg->shared_group && cfg->shared_group[0])) {
        for (size_t i = 0; i < N_PART_TOPICS; i++)
            m->subs[m->n_subs++] = xstrdup(PART_TOPICS[i]);
    }
    if (cfg->clock_ms > 0) {
        size_t len = strlen(OTA_TOPIC_CLOCK_PREFIX) + strlen(m->client_id) + 1;
        m->clock_topic = malloc(len);
        if (!m->clock_topic)
            abort();
        snprintf(m->clock_topic, len, "%s%s", OTA_TOPIC_CLOCK_PREFIX, m->client_id);
        m->subs[m->n_subs++] = xstrdup(m->clock_topic);
        m->clock_ms = cfg->clock_ms;
    }
    for (size_t i = 0; i < N_SUB_TOPICS; i++) {
        /* device topics may be shared between instances; presence never is: every
         * instance needs every event and its own snapshot */
        bool share = cfg->shared_group && cfg->shared_group[0] &&
                     strcmp(SUB_TOPICS[i], OTA_TOPIC_PRESENCE) != 0;
        size_t len = strlen(SUB_TOPICS[i]) + (share ? strlen(cfg->shared_group) + 8 : 0) + 1;
        m->subs[i] = malloc(len);
        if (!m->subs[i])
            abort();
        if (share)
            snprintf(m->subs[i], len, "$share/%s/%s", cfg->shared_group, SUB_TOPICS[i]);
        else
            snprintf(m->subs[i], len, "%s", SUB_TOPICS[i]);
    }
    if (cbs)
        m->cbs = *cbs;
    m->ud = ud;
    pthread_mutex_init(&m->lock, NULL);
    pthread_cond_init(&m->cond, NULL);
    mqttc_snap_init(&m->snap);
    m->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (m->wake_fd < 0) {
        OTA_ERROR("mqtt: eventfd: %s", strerror(errno));
        mqttc_destroy(m);
        return NULL;
    }

    m->mosq = mosquitto_new(m->client_id, m->clean_session, m);
    if (!m->mosq) {
        OTA_ERROR("mqtt: mosquitto_new failed");
        mqttc_destroy(m);
        return NULL;
    }
    mosquitto_threaded_set(m->mosq, true);
    mosquitto_int_option(m->mosq, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V311);
    mosquitto_max_inflight_messages_set(m->mosq, (unsigned)m->max_inflight);
    mosquitto_int_option(m->mosq, MOSQ_OPT_TCP_NODELAY, 1);
    if (mosquitto_username_pw_set(m->mosq, m->username, m->password) != MOSQ_ERR_SUCCESS) {
        mqttc_destroy(m);
        return NULL;
    }
    mosquitto_connect_callback_set(m->mosq, on_connect);
    mosquitto_disconnect_callback_set(m->mosq, on_disconnect);
    mosquitto_message_callback_set(m->mosq, on_message);
    mosquitto_publish_callback_set(m->mosq, on_publish);
    mosquitto_log_callback_set(m->mosq, on_log);
    if (cfg->separate_publisher && pub_new(m) != 0) {
        OTA_ERROR("mqtt: cannot create the publishing connection");
        mqttc_destroy(m);
        return NULL;
    }
    return m;
}

ota_err mqttc_start(mqttc *m)
{
    if (!m)
        return OTA_EINVAL;
    pthread_mutex_lock(&m->lock);
    if (m->started) {
        pthread_mutex_unlock(&m->lock);
        return OTA_ESTATE;
    }
    m->started = true;
    pthread_mutex_unlock(&m->lock);
    if (pthread_create(&m->thread, NULL, loop_main, m) != 0) {
        OTA_ERROR("mqtt: cannot start the loop thread");
        m->joined = true;
        return OTA_EMQTTLIB;
    }
    pthread_setname_np(m->thread, "ota-mqtt"); /* top -H, perf */
    if (m->pub) {
        if (pthread_create(&m->pub->thread, NULL, pub_main, m) != 0) {
            OTA_ERROR("mqtt: cannot start the publishing loop thread");
            return OTA_EMQTTLIB; /* mqttc_stop still joins the main thread */
        }
        pthread_setname_np(m->pub->thread, "ota-mqtt-pub"); /* top -H, perf */
        m->pub->started = true;
    }
    return OTA_OK;
}

void mqttc_stop(mqttc *m)
{
    if (!m)
        return;
    pthread_mutex_lock(&m->lock);
    atomic_store(&m->stopping, true);
    pthread_cond_broadcast(&m->cond);
    wake(m);
    bool join = m->started && !m->joined;
    m->joined = true;
    m->started = true; /* no start after a stop */
    pthread_mutex_unlock(&m->lock);
    if (m->pub)
        pub_wake(m->pub);
    if (join)
        pthread_join(m->thread, NULL);
    if (m->pub && m->pub->started) {
        pthread_join(m->pub->thread, NULL);
        m->pub->started = false;
    }
}

void mqttc_destroy(mqttc *m)
{
    if (!m)
        return;
    mqttc_stop(m);
    if (m->mosq)
        mosquitto_destroy(m->mosq);
    if (m->wake_fd >= 0)
        close(m->wake_fd);
    mqttc_snap_free(&m->snap);
    pub_free(m->pub);
    pthread_mutex_destroy(&m->lock);
    pthread_cond_destroy(&m->cond);
    if (m->password)
        memset(m->password, 0, strlen(m->password));
    for (int i = 0; i < m->n_subs; i++)
        free(m->subs[i]);
    free(m->clock_topic);
    free(m->host);
    free(m->client_id);
    free(m->username);
    free(m->password);
    free(m);
}

bool mqttc_is_connected(const mqttc *m)
{
    return m && atomic_load(&((mqttc *)m)->connected);
}

bool mqttc_presence_ready(const mqttc *m)
{
    return m && atomic_load(&((mqttc *)m)->presence_ready);
}

size_t mqttc_pending(const mqttc *m)
{
    return m ? atomic_load(&((mqttc *)m)->pending) : 0;
}

static int name_ok(const char *s, size_t max)
{
    size_t i;
    if (!s)
        return 0;
    for (i = 0; i <= max && s[i]; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-'))
            return 0;
    }
    return i >= 1 && i <= max;
}

static int suffix_ok(const char *s)
{
    size_t len;
    if (!s)
        return 0;
    len = strnlen(s, OTA_TOPIC_SUFFIX_MAX + 1);
    if (len < 1 || len > OTA_TOPIC_SUFFIX_MAX || s[0] == '/' || s[len - 1] == '/')
        return 0;
    return strpbrk(s, "+#") == NULL;
}

ota_err mqttc_publish_device(mqttc *m, const char *product_key, const char *identifier,
                             const char *suffix, const void *payload, size_t len)
{
    char topic[OTA_TOPIC_MAX + 1];
    int rc;
    if (!m || !name_ok(product_key, OTA_PRODUCT_KEY_MAX) || !name_ok(identifier, OTA_IDENT_MAX) ||
        !suffix_ok(suffix) || (len && !payload) || len > MAX_PAYLOAD)
        return OTA_EINVAL;
    if (!atomic_load(&m->connected))
        return OTA_ENOCONN;
    snprintf(topic, sizeof topic, OTA_TOPIC_ROOT "%s/%s/%s", product_key, identifier, suffix);
    rc = publish_any(m, topic, (int)len, payload);
    if (rc == MOSQ_ERR_SUCCESS)
        return OTA_OK;
    if (rc == MOSQ_ERR_NOMEM)
        return OTA_ENOMEM;
    if (rc == MOSQ_ERR_NO_CONN)
        return OTA_ENOCONN;
    OTA_WARN("mqtt: publish to %s failed: %s", topic, mosquitto_strerror(rc));
    return OTA_EMQTTLIB;
}

size_t mqttc_publish_many(mqttc *m, const mqttc_msg *msgs, size_t n, ota_err *rc_out)
{
    size_t i;
    ota_err rc = OTA_OK;
    for (i = 0; i < n; i++) {
        rc = mqttc_publish_device(m, msgs[i].product_key, msgs[i].identifier, msgs[i].suffix,
                                  msgs[i].payload, msgs[i].len);
        if (rc != OTA_OK)
            break;
    }
    if (rc_out)
        *rc_out = rc;
    return i;
}

void mqttc_request_snapshot(mqttc *m)
{
    atomic_store(&m->snap_wanted, true);
}
