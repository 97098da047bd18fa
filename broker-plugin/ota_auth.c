/*
 * ota_auth: the project's Mosquitto plugin (plugin API v5, Mosquitto 2.0).
 *
 * - Basic auth: the username must equal the client id (the server may also use
 *   "otad-{suffix}"). A client that presented a certificate (the listener with
 *   require_certificate, scripts/broker-conf.sh; Mosquitto has verified it against the
 *   service's CA) is a device whose certificate CN equals its username: no password is
 *   needed, and the certificate must not be in the CRL (option crl_file, re-read when
 *   the file changes, so a revocation holds from the next connection on). "otad" (option
 *   server_user) with
 *   ota_secret_server(key) is the server; "{productKey}.{identifier}" with
 *   ota_secret_device(key, pk, id) is a device. Everything else is refused. Secrets are
 *   derived from the server key (option key_file), so the plugin needs no database.
 * - ACL: the server may do anything; a device may publish, subscribe and receive only
 *   under "/sys/{productKey}/{identifier}/" (a refused SUBSCRIBE answers 0x80, a refused
 *   PUBLISH is dropped). A device may not retain a message (one leaked secret must not
 *   be able to store data in the broker), and it receives only the platform -> device
 *   topics of docs/device-protocol.md, so what it publishes itself never queues in its
 *   own session. Queue and packet sizes are bounded in mosquitto.conf (docs/broker.md).
 * - Presence: a successful device login publishes {"e":"on","c":"pk.id","t":ms} (QoS 1)
 *   on ota/internal/presence, the end of that connection {"e":"off",...}. Mosquitto has no
 *   connect event: a successful basic-auth event is the connect. Tracking is per connection
 *   (conn_table), so a takeover gives exactly one "off" for the old connection, published
 *   before the new connection's "on".
 * - Partition topics (option partition_topics, default true): a device's message to the
 *   platform, "/sys/pk/id/{upgrade_reply,progress,version,firmware/get}", is moved to
 *   "$ota/p/{part}/sys/pk/id/..." (part = ota_part_of(id), the partition otad computes), so
 *   that with several otad it reaches only the partition's own persistent session, held by
 *   the instance that owns the partition (docs/broker.md, "Partition topics").
 * - Snapshot: a message from the server on ota/internal/sync {"nonce":"..."} is answered
 *   on ota/internal/presence with every connected device, in parts of at most
 *   snapshot_part_size client ids. Plugin publishes are queued by the broker in order, so
 *   a snapshot never overtakes an event published before it, nor the reverse.
 *
 * - Reload (SIGHUP): Mosquitto re-runs basic auth for every session it knows; between the
 *   reload event and the next tick the plugin only verifies, it does not touch presence.
 *   Options and the key are kept (v5 plugins are not re-initialised on reload).
 *
 * The broker is single-threaded; all callbacks run on its thread. Nothing here may crash
 * the broker: every string from a client is bounded and may be NULL. Secrets are never
 * logged. Load: one HMAC per CONNECT, one prefix compare per ACL check, one MD5 of an
 * identifier per device message (partition topics).
 */
#include "ota_auth_rules.h"
#include "ota_conn_table.h"
#include "ota_crypto.h"
#include "ota_pki.h"

#include <mosquitto.h>
#include <mosquitto_broker.h>
#include <mosquitto_plugin.h>

#include <errno.h>
#include <openssl/crypto.h>
#include <openssl/x509.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define EXPORT __attribute__((visibility("default")))

typedef struct {
    mosquitto_plugin_id_t *id;
    unsigned char key[OTA_KEY_BYTES];
    char server_user[OTA_CLIENT_ID_MAX + 1];
    char server_pass[OTA_DEVICE_SECRET_LEN + 1];
    size_t part_size;
    conn_table conns;
    ota_pki_crl crl; /* revoked device certificates; path "" = none checked */
    bool partition_topics; /* device messages move to their partition's topic */
    bool rechecking; /* between a config reload and the next tick: logins are re-checks */
} plugin_state;

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void publish_presence(const char *cid, bool online)
{
    char buf[256];
    int n = auth_presence_event(buf, sizeof buf, online, cid, now_ms());
    if (n < 0)
        return;
    if (mosquitto_broker_publish_copy(NULL, OTA_TOPIC_PRESENCE, n, buf, 1, false, NULL) !=
        MOSQ_ERR_SUCCESS)
        mosquitto_log_printf(MOSQ_LOG_ERR, "ota_auth: cannot publish presence of %s", cid);
}

static void on_off(const char *cid, void *ud)
{
    (void)ud;
    publish_presence(cid, false);
}

static int is_server(const plugin_state *st, const char *username)
{
    return username && strncmp(username, st->server_user, sizeof st->server_user) == 0;
}

/* The client id must equal the username; the server may also use "{user}-{suffix}"
 * (several otad instances, each with its own persistent session). */
static int cid_matches(const plugin_state *st, const char *user, const char *cid)
{
    size_t ulen;
    if (strncmp(user, cid, OTA_CLIENT_ID_MAX + 1) == 0)
        return 1;
    if (!is_server(st, user))
        return 0;
    ulen = strlen(user);
    return strncmp(cid, user, ulen) == 0 && cid[ulen] == '-' &&
           auth_name_ok(cid + ulen + 1, OTA_CLIENT_ID_MAX);
}

/* A client-supplied name made safe for one log line: at most 100 printable ASCII
 * characters, anything else as '?'. out >= 101 bytes. */
static const char *loggable(const char *in, char *out)
{
    size_t i;
    for (i = 0; in && in[i] && i < 100; i++)
        out[i] = (in[i] >= 0x20 && in[i] < 0x7f) ? in[i] : '?';
    out[i] = '\0';
    return out;
}

/* A device's login is accepted: track the connection and announce it (not on the re-checks
 * of a reload). */
static int device_logged_in(plugin_state *st, struct mosquitto *client, const char *user)
{
    /* On SIGHUP Mosquitto runs basic auth again for every session it knows, connected or
     * not (security_apply_default): verify, but leave presence alone. */
    if (st->rechecking)
        return MOSQ_ERR_SUCCESS;
    if (conn_table_login(&st->conns, client, user, on_off, st) != 0) {
        mosquitto_log_printf(MOSQ_LOG_ERR, "ota_auth: out of memory, refusing %s", user);
        return MOSQ_ERR_AUTH;
    }
    publish_presence(user, true);
    return MOSQ_ERR_SUCCESS;
}

/* Login with a client certificate Mosquitto has verified: the CN must be the username
 * (a device name), and the CRL must not revoke it. */
static int cert_login(plugin_state *st, struct mosquitto *client, const char *user, X509 *cert)
{
    char cn[OTA_CLIENT_ID_MAX + 1], pk[OTA_PRODUCT_KEY_MAX + 1], id[OTA_IDENT_MAX + 1], lu[101];
    if (ota_pki_cert_cn(cert, cn, sizeof cn) != 0 || strcmp(cn, user) != 0 ||
        auth_split_device(user, pk, id) != 0) {
        mosquitto_log_printf(MOSQ_LOG_NOTICE,
                             "ota_auth: refused %s: the certificate's CN is not this device",
                             loggable(user, lu));
        return MOSQ_ERR_AUTH;
    }
    int revoked = st->crl.path[0] ? ota_pki_crl_revoked(&st->crl, cert) : 0;
    if (revoked != 0) {
        mosquitto_log_printf(MOSQ_LOG_NOTICE, "ota_auth: refused %s: %s", user,
                             revoked > 0 ? "its certificate is revoked"
                                         : "the CRL cannot be read (refusing every certificate)");
        return MOSQ_ERR_AUTH;
    }
    return device_logged_in(st, client, user);
}

static int cb_basic_auth(int event, void *event_data, void *userdata)
{
    struct mosquitto_evt_basic_auth *ed = event_data;
    plugin_state *st = userdata;
    const char *user = ed->username, *pass = ed->password;
    const char *cid = mosquitto_client_id(ed->client);
    char pk[OTA_PRODUCT_KEY_MAX + 1], id[OTA_IDENT_MAX + 1], secret[OTA_DEVICE_SECRET_LEN + 1], lu[101];
    int ok;
    (void)event;

    X509 *cert = mosquitto_client_certificate(ed->client);
    if (cert) {
        if (!user || !cid || strnlen(user, OTA_CLIENT_ID_MAX + 1) > OTA_CLIENT_ID_MAX ||
            strncmp(user, cid, OTA_CLIENT_ID_MAX + 1) != 0) {
            mosquitto_log_printf(MOSQ_LOG_NOTICE, "ota_auth: refused a certificate login: "
                                                  "the username must equal the client id");
            ok = MOSQ_ERR_AUTH;
        } else {
            ok = cert_login(st, ed->client, user, cert);
        }
        X509_free(cert);
        return ok;
    }
    if (!user || !pass || !cid) {
        mosquitto_log_printf(MOSQ_LOG_NOTICE, "ota_auth: refused login without %s",
                             !user   ? "username"
                             : !pass ? "password"
                                     : "client id");
        return MOSQ_ERR_AUTH;
    }
    if (strnlen(user, OTA_CLIENT_ID_MAX + 1) > OTA_CLIENT_ID_MAX || !cid_matches(st, user, cid)) {
        mosquitto_log_printf(MOSQ_LOG_NOTICE,
                             "ota_auth: refused %s: username differs from client id",
                             loggable(user, lu));
        return MOSQ_ERR_AUTH;
    }
    if (strnlen(pass, OTA_DEVICE_SECRET_LEN + 1) > OTA_DEVICE_SECRET_LEN) {
        mosquitto_log_printf(MOSQ_LOG_NOTICE, "ota_auth: refused %s: bad password",
                             loggable(user, lu));
        return MOSQ_ERR_AUTH;
    }
    if (is_server(st, user)) {
        if (!ota_ct_streq(pass, st->server_pass)) {
            mosquitto_log_printf(MOSQ_LOG_NOTICE, "ota_auth: refused %s: bad password", user);
            return MOSQ_ERR_AUTH;
        }
        return MOSQ_ERR_SUCCESS;
    }
    if (auth_split_device(user, pk, id) != 0) {
        mosquitto_log_printf(MOSQ_LOG_NOTICE, "ota_auth: refused %s: not a device name",
                             loggable(user, lu));
        return MOSQ_ERR_AUTH;
    }
    if (ota_secret_device(st->key, pk, id, secret, sizeof secret) != 0) {
        mosquitto_log_printf(MOSQ_LOG_ERR, "ota_auth: cannot derive the secret of %s", user);
        return MOSQ_ERR_AUTH;
    }
    ok = ota_ct_streq(pass, secret);
    OPENSSL_cleanse(secret, sizeof secret);
    if (!ok) {
        mosquitto_log_printf(MOSQ_LOG_NOTICE, "ota_auth: refused %s: bad password", user);
        return MOSQ_ERR_AUTH;
    }
    return device_logged_in(st, ed->client, user);
}

/* 1 when topic (already known to be under the device's prefix of prefix_len bytes) is one
 * the platform sends to devices (docs/device-protocol.md, "Messages"). */
static int downstream_topic(const char *topic, size_t prefix_len)
{
    static const char *const down[] = {OTA_TOPIC_UPGRADE, OTA_TOPIC_GET_REPLY};
    if (strlen(topic) < prefix_len)
        return 0;
    for (size_t i = 0; i < sizeof down / sizeof down[0]; i++)
        if (strcmp(topic + prefix_len, down[i]) == 0)
            return 1;
    return 0;
}

static int cb_acl_check(int event, void *event_data, void *userdata)
{
    struct mosquitto_evt_acl_check *ed = event_data;
    plugin_state *st = userdata;
    const char *user = mosquitto_client_username(ed->client);
    char prefix[OTA_DEVICE_PREFIX_MAX + 1];
    (void)event;

    if (is_server(st, user))
        return MOSQ_ERR_SUCCESS;
    if (ed->access == MOSQ_ACL_UNSUBSCRIBE)
        return MOSQ_ERR_SUCCESS;
    if (!auth_device_topic_ok(user, ed->topic))
        return MOSQ_ERR_ACL_DENIED;
    if (ed->access == MOSQ_ACL_WRITE && ed->retain)
        return MOSQ_ERR_ACL_DENIED; /* devices keep nothing in the broker */
    if (ed->access == MOSQ_ACL_READ || ed->access == MOSQ_ACL_WRITE) {
        /* a device reads only the platform's topics and writes only its own, so nothing it
         * publishes can come back into its own session queue */
        int n = auth_device_prefix(user, prefix, sizeof prefix);
        if (n < 0 || downstream_topic(ed->topic, (size_t)n) != (ed->access == MOSQ_ACL_READ))
            return MOSQ_ERR_ACL_DENIED;
    }
    return MOSQ_ERR_SUCCESS;
}

typedef struct {
    const char **cids;
    size_t n, cap;
} cid_list;

static void collect(const char *cid, void *ud)
{
    cid_list *l = ud;
    if (l->n < l->cap)
        l->cids[l->n++] = cid;
}

/* Publishes the snapshot parts for nonce. Errors are logged; the server retries. */
static void answer_sync(plugin_state *st, const char *nonce)
{
    cid_list l = {0};
    char *buf = NULL;
    size_t bufsize = auth_snapshot_size(st->part_size);
    unsigned part = 0;
    int64_t t = now_ms();

    l.cap = st->conns.current;
    l.cids = mosquitto_malloc((l.cap ? l.cap : 1) * sizeof *l.cids);
    buf = mosquitto_malloc(bufsize);
    if (!l.cids || !buf) {
        mosquitto_log_printf(MOSQ_LOG_ERR, "ota_auth: out of memory answering a sync");
        goto out;
    }
    conn_table_foreach(&st->conns, collect, &l);
    for (size_t off = 0; off < l.n || (off == 0 && part == 0); off += st->part_size) {
        size_t k = l.n - off < st->part_size ? l.n - off : st->part_size;
        bool last = off + k >= l.n;
        int len = auth_snapshot_part(buf, bufsize, nonce, part, last, l.cids + off, k, t);
        if (len < 0 || mosquitto_broker_publish_copy(NULL, OTA_TOPIC_PRESENCE, len, buf, 1, false,
                                                     NULL) != MOSQ_ERR_SUCCESS) {
            mosquitto_log_printf(MOSQ_LOG_ERR, "ota_auth: cannot publish snapshot part %u", part);
            goto out;
        }
        part++;
        if (last)
            break;
    }
    mosquitto_log_printf(MOSQ_LOG_INFO, "ota_auth: snapshot %s: %zu devices in %u parts", nonce,
                         l.n, part);
out:
    mosquitto_free(l.cids);
    mosquitto_free(buf);
}

/* Moves a device's upstream message to its partition's topic. The ACL check has already
 * let the publish through (it is the device's own topic); a topic that is not an upstream
 * one, or a publish from the server, is left as it is. */
static int route_to_partition(struct mosquitto_evt_message *ed)
{
    char id[OTA_IDENT_MAX + 1], topic[OTA_PART_TOPIC_MAX + 1];
    if (auth_upstream_identifier(ed->topic, id) != 0)
        return MOSQ_ERR_SUCCESS;
    if (auth_route_topic(ed->topic, ota_part_of(id), topic, sizeof topic) < 0)
        return MOSQ_ERR_SUCCESS;
    char *moved = mosquitto_strdup(topic);
    if (!moved)
        return MOSQ_ERR_NOMEM; /* the broker drops the message; the device's QoS 1 retries */
    mosquitto_free(ed->topic);
    ed->topic = moved;
    return MOSQ_ERR_SUCCESS;
}

static int cb_message(int event, void *event_data, void *userdata)
{
    struct mosquitto_evt_message *ed = event_data;
    plugin_state *st = userdata;
    char nonce[OTA_NONCE_MAX + 1];
    (void)event;

    if (!ed->topic)
        return MOSQ_ERR_SUCCESS;
    if (strcmp(ed->topic, OTA_TOPIC_SYNC) != 0) {
        if (st->partition_topics && !is_server(st, mosquitto_client_username(ed->client)))
            return route_to_partition(ed);
        return MOSQ_ERR_SUCCESS;
    }
    /* The ACL already keeps devices off ota/internal/; check again, it is cheap. */
    if (!is_server(st, mosquitto_client_username(ed->client)))
        return MOSQ_ERR_ACL_DENIED;
    if (auth_parse_sync_nonce(ed->payload, ed->payloadlen, nonce) != 0) {
        mosquitto_log_printf(MOSQ_LOG_WARNING, "ota_auth: malformed sync request ignored");
        return MOSQ_ERR_SUCCESS;
    }
    answer_sync(st, nonce);
    return MOSQ_ERR_SUCCESS;
}

static int cb_reload(int event, void *event_data, void *userdata)
{
    plugin_state *st = userdata;
    (void)event;
    (void)event_data;
    st->rechecking = true;
    mosquitto_log_printf(MOSQ_LOG_INFO, "ota_auth: configuration reload (options are kept)");
    return MOSQ_ERR_PLUGIN_DEFER;
}

static int cb_tick(int event, void *event_data, void *userdata)
{
    plugin_state *st = userdata;
    (void)event;
    (void)event_data;
    st->rechecking = false;
    return MOSQ_ERR_SUCCESS;
}

static int cb_disconnect(int event, void *event_data, void *userdata)
{
    struct mosquitto_evt_disconnect *ed = event_data;
    plugin_state *st = userdata;
    char cid[OTA_CLIENT_ID_MAX + 1];
    (void)event;
    if (ed->client && conn_table_logout(&st->conns, ed->client, cid) == 1)
        publish_presence(cid, false);
    return MOSQ_ERR_SUCCESS;
}

EXPORT int mosquitto_plugin_version(int supported_version_count, const int *supported_versions)
{
    for (int i = 0; i < supported_version_count; i++) {
        if (supported_versions[i] == 5)
            return 5;
    }
    return -1;
}

static int parse_options(plugin_state *st, struct mosquitto_opt *opts, int n)
{
    const char *key_file = NULL;
    for (int i = 0; i < n; i++) {
        const char *k = opts[i].key, *v = opts[i].value;
        if (!k || !v)
            continue;
        if (strcmp(k, "key_file") == 0) {
            key_file = v;
        } else if (strcmp(k, "server_user") == 0) {
            if (strnlen(v, sizeof st->server_user) >= sizeof st->server_user || !v[0] ||
                strchr(v, '.')) {
                mosquitto_log_printf(MOSQ_LOG_ERR,
                                     "ota_auth: bad server_user (1..97 chars, no dot)");
                return -1;
            }
            memcpy(st->server_user, v, strlen(v) + 1);
        } else if (strcmp(k, "snapshot_part_size") == 0) {
            char *end;
            errno = 0;
            long p = strtol(v, &end, 10);
            if (errno || *end || end == v || p < 1 || p > AUTH_PART_MAX) {
                mosquitto_log_printf(MOSQ_LOG_ERR, "ota_auth: snapshot_part_size must be 1..%d",
                                     AUTH_PART_MAX);
                return -1;
            }
            st->part_size = (size_t)p;
        } else if (strcmp(k, "partition_topics") == 0) {
            if (strcmp(v, "true") != 0 && strcmp(v, "false") != 0) {
                mosquitto_log_printf(MOSQ_LOG_ERR, "ota_auth: partition_topics must be true or false");
                return -1;
            }
            st->partition_topics = strcmp(v, "true") == 0;
        } else if (strcmp(k, "crl_file") == 0) {
            if (strnlen(v, sizeof st->crl.path) >= sizeof st->crl.path) {
                mosquitto_log_printf(MOSQ_LOG_ERR, "ota_auth: crl_file is too long");
                return -1;
            }
            memcpy(st->crl.path, v, strlen(v) + 1);
        } else {
            mosquitto_log_printf(MOSQ_LOG_WARNING, "ota_auth: unknown option plugin_opt_%s", k);
        }
    }
    if (!key_file) {
        mosquitto_log_printf(MOSQ_LOG_ERR, "ota_auth: plugin_opt_key_file is required");
        return -1;
    }
    if (ota_key_load(key_file, 0, st->key) != 0) {
        mosquitto_log_printf(MOSQ_LOG_ERR, "ota_auth: cannot read the key file %s: %s", key_file,
                             ota_key_strerror(errno));
        return -1;
    }
    if (ota_secret_server(st->key, st->server_pass, sizeof st->server_pass) != 0)
        return -1;
    return 0;
}

static void state_free(plugin_state *st)
{
    if (!st)
        return;
    conn_table_free(&st->conns);
    ota_pki_crl_free(&st->crl);
    OPENSSL_cleanse(st, sizeof *st);
    free(st);
}

EXPORT int mosquitto_plugin_init(mosquitto_plugin_id_t *identifier, void **userdata,
                                 struct mosquitto_opt *opts, int opt_count)
{
    plugin_state *st = calloc(1, sizeof *st);
    if (!st)
        return MOSQ_ERR_NOMEM;
    st->id = identifier;
    memcpy(st->server_user, OTA_SERVER_USER, sizeof OTA_SERVER_USER);
    st->part_size = AUTH_PART_MAX;
    st->partition_topics = true;
    if (parse_options(st, opts, opt_count) != 0 || conn_table_init(&st->conns) != 0) {
        state_free(st);
        return MOSQ_ERR_INVAL;
    }
    if (mosquitto_callback_register(identifier, MOSQ_EVT_BASIC_AUTH, cb_basic_auth, NULL, st) ||
        mosquitto_callback_register(identifier, MOSQ_EVT_ACL_CHECK, cb_acl_check, NULL, st) ||
        mosquitto_callback_register(identifier, MOSQ_EVT_MESSAGE, cb_message, NULL, st) ||
        mosquitto_callback_register(identifier, MOSQ_EVT_DISCONNECT, cb_disconnect, NULL, st) ||
        mosquitto_callback_register(identifier, MOSQ_EVT_RELOAD, cb_reload, NULL, st) ||
        mosquitto_callback_register(identifier, MOSQ_EVT_TICK, cb_tick, NULL, st)) {
        mosquitto_log_printf(MOSQ_LOG_ERR, "ota_auth: cannot register callbacks");
        mosquitto_callback_unregister(identifier, MOSQ_EVT_BASIC_AUTH, cb_basic_auth, NULL);
        mosquitto_callback_unregister(identifier, MOSQ_EVT_ACL_CHECK, cb_acl_check, NULL);
        mosquitto_callback_unregister(identifier, MOSQ_EVT_MESSAGE, cb_message, NULL);
        mosquitto_callback_unregister(identifier, MOSQ_EVT_DISCONNECT, cb_disconnect, NULL);
        mosquitto_callback_unregister(identifier, MOSQ_EVT_RELOAD, cb_reload, NULL);
        mosquitto_callback_unregister(identifier, MOSQ_EVT_TICK, cb_tick, NULL);
        state_free(st);
        return MOSQ_ERR_UNKNOWN;
    }
    *userdata = st;
    mosquitto_log_printf(MOSQ_LOG_INFO,
                         "ota_auth: ready (server user %s, snapshot parts of %zu, partition "
                         "topics %s)",
                         st->server_user, st->part_size, st->partition_topics ? "on" : "off");
    return MOSQ_ERR_SUCCESS;
}

EXPORT int mosquitto_plugin_cleanup(void *userdata, struct mosquitto_opt *opts, int opt_count)
{
    plugin_state *st = userdata;
    (void)opts;
    (void)opt_count;
    if (st) {
        mosquitto_callback_unregister(st->id, MOSQ_EVT_BASIC_AUTH, cb_basic_auth, NULL);
        mosquitto_callback_unregister(st->id, MOSQ_EVT_ACL_CHECK, cb_acl_check, NULL);
        mosquitto_callback_unregister(st->id, MOSQ_EVT_MESSAGE, cb_message, NULL);
        mosquitto_callback_unregister(st->id, MOSQ_EVT_DISCONNECT, cb_disconnect, NULL);
        mosquitto_callback_unregister(st->id, MOSQ_EVT_RELOAD, cb_reload, NULL);
        mosquitto_callback_unregister(st->id, MOSQ_EVT_TICK, cb_tick, NULL);
    }
    state_free(st);
    return MOSQ_ERR_SUCCESS;
}
