/*
 * routes_broker: what a broker other than our Mosquitto plugin (EMQX 5, a cluster, ...)
 * calls to apply the service's rules (docs/broker.md, "Other brokers"):
 *
 *   POST /api/v1/broker/auth      {"clientid","username","password"}  -> login decision
 *   POST /api/v1/broker/acl       {"clientid","username","topic","action"} -> ACL decision
 *   POST /api/v1/broker/presence  {"event","clientid","timestamp"[,"reason"]} -> presence
 *
 * and for RabbitMQ's HTTP auth backend (rabbitmq_auth_backend_http, docs/broker.md
 * "RabbitMQ"), which can send no header, so the broker token is a path segment:
 *
 *   POST /api/v1/broker/rabbitmq/{token}/user      username, password[, client_id]
 *   POST /api/v1/broker/rabbitmq/{token}/vhost     username, vhost
 *   POST /api/v1/broker/rabbitmq/{token}/resource  username, vhost, resource, name, permission
 *   POST /api/v1/broker/rabbitmq/{token}/topic     username, vhost, name, permission, routing_key
 *
 * answered 200 text/plain "allow" or "deny" (anything else is "deny" to RabbitMQ). About
 * twenty calls per device connection: logged at debug level, like DDI polls.
 *
 * The EMQX answers follow EMQX 5's HTTP authenticator and authorizer: 200 with
 * {"result":"allow"|"deny"} (and "is_superuser" for logins); any other status means
 * "ignore" to EMQX (next source, then its no_match setting). Bodies are JSON or
 * application/x-www-form-urlencoded; unknown fields are ignored (brokers add their own).
 *
 * Callers are brokers, not administrators: these routes do not take the admin token but
 * the broker token, ota_secret_broker_http(server key) (`otad --broker-token`), as
 * "Authorization: Bearer <token>"; without it: 401.
 *
 * The rules are the plugin's (common/ota_auth_rules.h): a device logs in with client
 * id = username = "pk.id" and its derived secret, and must also be registered here (the
 * plugin cannot check that, otad can); the server account is "otad" (client id "otad" or
 * "otad-{suffix}") with ota_secret_server and may do anything; a device may use only
 * topics and filters starting with "/sys/{pk}/{id}/".
 */
#include "ota_auth_rules.h"
#include "engine/engine.h"
#include "http/http.h"
#include "ota_crypto.h"
#include "ota_log.h"

#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define BROKER_BODY_MAX (16 * 1024) /* EMQX's client.connected event with properties fits */

/* ---- request: token, content type, body ------------------------------------------------- */

/* "Authorization: Bearer <broker token>", compared in constant time. */
static int broker_authorized(http_req *r)
{
    char tok[OTA_DEVICE_SECRET_LEN + 1];
    const char *h = http_header(r, MHD_HTTP_HEADER_AUTHORIZATION);
    if (!h || strncasecmp(h, "Bearer ", 7) != 0)
        return 0;
    h += 7;
    while (*h == ' ')
        h++;
    if (ota_secret_broker_http(r->app->server_key, tok, sizeof tok) != 0)
        return 0;
    int ok = ota_ct_streq(h, tok);
    OPENSSL_cleanse(tok, sizeof tok);
    return ok;
}

/* The token as the last-but-one path segment (RabbitMQ's routes), constant time. */
static int broker_path_authorized(http_req *r)
{
    char tok[OTA_DEVICE_SECRET_LEN + 1];
    const char *h = http_param(r, "token");
    if (!h || ota_secret_broker_http(r->app->server_key, tok, sizeof tok) != 0)
        return 0;
    int ok = ota_ct_streq(h, tok);
    OPENSSL_cleanse(tok, sizeof tok);
    return ok;
}

static int broker_start(http_req *r)
{
    int path_token = strncmp(r->url, "/api/v1/broker/rabbitmq/", 24) == 0;
    if (!(path_token ? broker_path_authorized(r) : broker_authorized(r))) {
        if (path_token) {
            http_send_error(r, 401, "unauthorized", NULL,
                            "A valid broker token is required in the path "
                            "(/api/v1/broker/rabbitmq/<broker token>/...).");
            return -1;
        }
        http_send_error(r, 401, "unauthorized", NULL,
                        "A valid broker token is required (Authorization: Bearer <broker "
                        "token>; otad --broker-token prints it).");
        return -1;
    }
    if (!http_content_type_is(r, "application/json") &&
        !http_content_type_is(r, "application/x-www-form-urlencoded")) {
        http_send_error(r, 415, "unsupported_media_type", NULL,
                        "The body must be application/json or "
                        "application/x-www-form-urlencoded.");
        return -1;
    }
    const char *cl = http_header(r, MHD_HTTP_HEADER_CONTENT_LENGTH);
    if (cl) {
        char *end;
        unsigned long long declared = strtoull(cl, &end, 10);
        if (*end == '\0' && declared > BROKER_BODY_MAX) {
            http_send_error(r, 413, "too_large", NULL, "The body is larger than %d bytes.",
                            BROKER_BODY_MAX);
            return -1;
        }
    }
    return 0;
}

/* Collects the body into r->body under BROKER_BODY_MAX (http.c answers 413 past it). */
static int broker_stream(http_req *r, const char *data, size_t size)
{
    return http_body_append(r, data, size, BROKER_BODY_MAX);
}

/* Decodes n bytes of a form component ('+' = space, %XX) into a new string. NULL when a
 * %-escape is malformed or decodes to NUL. */
static char *form_decode(const char *s, size_t n)
{
    char *out = malloc(n + 1), *o = out;
    if (!out)
        abort();
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '+') {
            c = ' ';
        } else if (c == '%') {
            int hi = i + 2 < n ? ota_hex_digit(s[i + 1]) : -1;
            int lo = i + 2 < n ? ota_hex_digit(s[i + 2]) : -1;
            if (hi < 0 || lo < 0 || hi * 16 + lo == 0) {
                free(out);
                return NULL;
            }
            c = (char)(hi * 16 + lo);
            i += 2;
        } else if (c == '\0') {
            free(out);
            return NULL;
        }
        *o++ = c;
    }
    *o = '\0';
    return out;
}

/* "a=1&b=2" into a JSON object of strings. NULL when malformed or a key repeats. */
static json_t *form_parse(const char *body, size_t len)
{
    json_t *o = json_object();
    const char *p = body, *end = body + len;
    while (p < end) {
        const char *amp = memchr(p, '&', (size_t)(end - p));
        const char *seg_end = amp ? amp : end;
        if (seg_end > p) {
            const char *eq = memchr(p, '=', (size_t)(seg_end - p));
            const char *kend = eq ? eq : seg_end;
            char *k = form_decode(p, (size_t)(kend - p));
            char *v = eq ? form_decode(eq + 1, (size_t)(seg_end - eq - 1)) : strdup("");
            json_t *js = v ? json_string(v) : NULL; /* NULL: not UTF-8 */
            int bad = !k || !*k || !js || json_object_get(o, k) != NULL;
            if (!bad)
                json_object_set_new(o, k, js);
            else
                json_decref(js);
            free(k);
            free(v);
            if (bad) {
                json_decref(o);
                return NULL;
            }
        }
        p = amp ? amp + 1 : end;
    }
    return o;
}

/* The body as a JSON object (caller decrefs), or answers 400 and returns NULL. */
static json_t *broker_body(http_req *r)
{
    json_error_t jerr;
    if (!r->body || r->body_len == 0) {
        http_send_error(r, 400, "invalid_body", NULL, "The request body is empty.");
        return NULL;
    }
    if (http_content_type_is(r, "application/x-www-form-urlencoded")) {
        json_t *o = form_parse(r->body, r->body_len);
        if (!o)
            http_send_error(r, 400, "invalid_body", NULL,
                            "The form body is malformed (bad escape, empty or repeated name).");
        return o;
    }
    json_t *j = json_loadb(r->body, r->body_len, JSON_REJECT_DUPLICATES, &jerr);
    if (!j) {
        http_send_error(r, 400, "invalid_json", NULL, "The body is not valid JSON (line %d: %s).",
                        jerr.line, jerr.text);
        return NULL;
    }
    if (!json_is_object(j)) {
        json_decref(j);
        http_send_error(r, 400, "invalid_json", NULL, "The request body must be a JSON object.");
        return NULL;
    }
    return j;
}

/* A required string field (an empty string is a value: EMQX sends "" for what a client
 * left out). Answers 400 and returns -1 when missing, not a string, or holding a NUL. */
static int broker_field(http_req *r, json_t *o, const char *name, const char **out)
{
    json_t *v = json_object_get(o, name);
    *out = NULL;
    if (!v || json_is_null(v)) {
        http_send_error(r, 400, "missing_field", name, "The field %s is required.", name);
        return -1;
    }
    if (!json_is_string(v) || strlen(json_string_value(v)) != json_string_length(v)) {
        http_send_error(r, 400, "invalid_type", name, "The field %s must be a string.", name);
        return -1;
    }
    *out = json_string_value(v);
    return 0;
}

/* A client-supplied name made safe for one log line (at most 100 printable ASCII). */
static const char *loggable(const char *in, char out[101])
{
    size_t i;
    for (i = 0; in && in[i] && i < 100; i++)
        out[i] = (in[i] >= 0x20 && in[i] < 0x7f) ? in[i] : '?';
    out[i] = '\0';
    return out;
}

/* ---- rules ------------------------------------------------------------------------------ */

/* The server account: username "otad", client id "otad" or "otad-{suffix}" (as the plugin). */
static int is_server(const char *cid, const char *user)
{
    size_t ulen = sizeof OTA_SERVER_USER - 1;
    if (strcmp(user, OTA_SERVER_USER) != 0)
        return 0;
    return strcmp(cid, user) == 0 || (strncmp(cid, user, ulen) == 0 && cid[ulen] == '-' &&
                                      auth_name_ok(cid + ulen + 1, OTA_CLIENT_ID_MAX));
}

typedef enum { LOGIN_DENY, LOGIN_DEVICE, LOGIN_SERVER, LOGIN_ERROR } login_result;

/* Decides a login; *why says why it was denied. */
static login_result login_decide(http_app *app, const char *cid, const char *user, const char *pass,
                                 const char **why)
{
    char pk[OTA_PRODUCT_KEY_MAX + 1], id[OTA_IDENT_MAX + 1], secret[OTA_DEVICE_SECRET_LEN + 1];
    store_device d;
    int ok;
    *why = NULL;
    if (!*user || !*cid || !*pass) {
        *why = !*user ? "no username" : !*cid ? "no client id" : "no password";
        return LOGIN_DENY;
    }
    if (strnlen(pass, OTA_DEVICE_SECRET_LEN + 1) > OTA_DEVICE_SECRET_LEN) {
        *why = "bad password";
        return LOGIN_DENY;
    }
    if (strcmp(user, OTA_SERVER_USER) == 0) {
        if (!is_server(cid, user)) {
            *why = "client id does not match the server account";
            return LOGIN_DENY;
        }
        if (ota_secret_server(app->server_key, secret, sizeof secret) != 0)
            return LOGIN_ERROR;
        ok = ota_ct_streq(pass, secret);
        OPENSSL_cleanse(secret, sizeof secret);
        if (!ok)
            *why = "bad password";
        return ok ? LOGIN_SERVER : LOGIN_DENY;
    }
    if (strnlen(user, OTA_CLIENT_ID_MAX + 1) > OTA_CLIENT_ID_MAX || strcmp(user, cid) != 0) {
        *why = "username differs from client id";
        return LOGIN_DENY;
    }
    if (auth_split_device(user, pk, id) != 0) {
        *why = "not a device name";
        return LOGIN_DENY;
    }
    if (ota_secret_device(app->server_key, pk, id, secret, sizeof secret) != 0)
        return LOGIN_ERROR;
    ok = ota_ct_streq(pass, secret);
    OPENSSL_cleanse(secret, sizeof secret);
    if (!ok) {
        *why = "bad password";
        return LOGIN_DENY;
    }
    /* the secret is right: only now ask the store (guessers cost no query) */
    ota_err rc = store_device_get(app->store, pk, id, &d);
    if (rc == OTA_ENOTFOUND) {
        *why = "not a registered device";
        return LOGIN_DENY;
    }
    return rc == OTA_OK ? LOGIN_DEVICE : LOGIN_ERROR;
}

static int send_result(http_req *r, int allow, int with_superuser, int superuser)
{
    json_t *o = json_pack("{s:s}", "result", allow ? "allow" : "deny");
    if (with_superuser && allow)
        json_object_set_new(o, "is_superuser", json_boolean(superuser));
    return http_send_json(r, 200, o);
}

/* ---- handlers ----------------------------------------------------------------------------- */

/* POST /api/v1/broker/auth */
static int broker_auth(http_req *r)
{
    const char *cid, *user, *pass, *why;
    char lu[101];
    json_t *o = broker_body(r);
    if (!o)
        return MHD_YES;
    if (broker_field(r, o, "clientid", &cid) != 0 || broker_field(r, o, "username", &user) != 0 ||
        broker_field(r, o, "password", &pass) != 0) {
        json_decref(o);
        return MHD_YES;
    }
    login_result lr = login_decide(r->app, cid, user, pass, &why);
    loggable(user, lu);
    json_decref(o);
    if (lr == LOGIN_ERROR) /* EMQX: non-200 = ignore, then its chain refuses */
        return http_send_error(r, 503, "unavailable", NULL, "The login cannot be checked now.");
    if (lr == LOGIN_DENY) {
        OTA_INFO("broker-http: login of %s denied: %s", lu, why);
        return send_result(r, 0, 1, 0);
    }
    return send_result(r, 1, 1, lr == LOGIN_SERVER);
}

/* POST /api/v1/broker/acl */
static int broker_acl(http_req *r)
{
    const char *cid, *user, *topic, *action;
    json_t *o = broker_body(r);
    if (!o)
        return MHD_YES;
    if (broker_field(r, o, "clientid", &cid) != 0 || broker_field(r, o, "username", &user) != 0 ||
        broker_field(r, o, "topic", &topic) != 0 || broker_field(r, o, "action", &action) != 0) {
        json_decref(o);
        return MHD_YES;
    }
    if (strcmp(action, "publish") != 0 && strcmp(action, "subscribe") != 0) {
        json_decref(o);
        return http_send_error(r, 400, "invalid_field", "action",
                               "action must be publish or subscribe.");
    }
    int allow;
    if (is_server(cid, user))
        allow = 1; /* the broker authenticated it (EMQX does not even ask: is_superuser) */
    else
        allow = strcmp(user, cid) == 0 && auth_device_topic_ok(user, topic);
    json_decref(o);
    return send_result(r, allow, 0, 0);
}

/* POST /api/v1/broker/presence: a webhook of connect/disconnect events (EMQX: a rule on
 * "$events/client_connected" and "$events/client_disconnected" with an HTTP action). */
static int broker_presence(http_req *r)
{
    const char *event, *cid, *reason = NULL;
    char pk[OTA_PRODUCT_KEY_MAX + 1], id[OTA_IDENT_MAX + 1];
    int64_t t_ms = 0;
    json_t *o = broker_body(r);
    if (!o)
        return MHD_YES;
    if (broker_field(r, o, "event", &event) != 0 || broker_field(r, o, "clientid", &cid) != 0) {
        json_decref(o);
        return MHD_YES;
    }
    int online = strcmp(event, "client.connected") == 0;
    if (!online && strcmp(event, "client.disconnected") != 0) {
        json_decref(o);
        return http_send_error(r, 400, "invalid_field", "event",
                               "event must be client.connected or client.disconnected.");
    }
    json_t *ts = json_object_get(o, "timestamp");
    if (json_is_integer(ts) && json_integer_value(ts) >= 0) {
        t_ms = (int64_t)json_integer_value(ts);
    } else if (json_is_string(ts) && json_string_value(ts)[0]) {
        char *end;
        long long v = strtoll(json_string_value(ts), &end, 10);
        if (*end != '\0' || v < 0) {
            json_decref(o);
            return http_send_error(r, 400, "invalid_type", "timestamp",
                                   "timestamp must be epoch milliseconds.");
        }
        t_ms = (int64_t)v;
    } else if (ts && !json_is_null(ts)) {
        json_decref(o);
        return http_send_error(r, 400, "invalid_type", "timestamp",
                               "timestamp must be epoch milliseconds.");
    }
    json_t *rs = json_object_get(o, "reason");
    if (json_is_string(rs))
        reason = json_string_value(rs);
    const char *ignored = NULL;
    if (auth_split_device(cid, pk, id) != 0)
        ignored = "not a device client id";
    else if (!online && reason &&
             (strcmp(reason, "takenover") == 0 || strcmp(reason, "discarded") == 0))
        ignored = "the connection was replaced by a newer one of the same client id";
    else if (!r->app->engine) {
        json_decref(o);
        return http_send_error(r, 503, "unavailable", NULL, "The batch engine is not running.");
    }
    json_decref(o);
    if (ignored)
        return http_send_json(r, 200, json_pack("{s:b, s:s}", "applied", 0, "reason", ignored));
    engine_presence(r->app->engine, pk, id, online, t_ms);
    return http_send_json(r, 200, json_pack("{s:b}", "applied", 1));
}

/* ---- RabbitMQ's HTTP auth backend --------------------------------------------------- */

/* RabbitMQ reads the first word of a 200 answer: "allow" (maybe followed by tags) or
 * "deny". */
static int send_word(http_req *r, int allow)
{
    const char *w = allow ? "allow" : "deny";
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(strlen(w), (void *)w, MHD_RESPMEM_PERSISTENT);
    if (resp)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "text/plain");
    return http_send_response(r, 200, resp);
}

/* The MQTT topic (or filter) of a routing key of RabbitMQ's MQTT plugin, which turns an
 * MQTT topic into a routing key by swapping '/' and '.' and a filter's '+' into '*'
 * ('#' stays). -1 when out is too small. */
static int rmq_topic(const char *key, char *out, size_t cap)
{
    size_t i;
    for (i = 0; key[i]; i++) {
        if (i + 1 >= cap)
            return -1;
        char c = key[i];
        out[i] = c == '.' ? '/' : c == '/' ? '.' : c == '*' ? '+' : c;
    }
    out[i] = '\0';
    return 0;
}

/* The body's fields; answers 400 and returns NULL when one of the named is missing. */
static json_t *rmq_body(http_req *r, const char *const *names, const char **vals)
{
    json_t *o = broker_body(r);
    if (!o)
        return NULL;
    for (int i = 0; names[i]; i++)
        if (broker_field(r, o, names[i], &vals[i]) != 0) {
            json_decref(o);
            return NULL;
        }
    return o;
}

/* POST .../rabbitmq/{token}/user: a login. RabbitMQ's MQTT plugin sends the MQTT client id
 * as client_id; it must follow the same rules as with the plugin (= username for a device). */
static int rmq_user(http_req *r)
{
    static const char *const names[] = {"username", "password", NULL};
    const char *v[2], *why;
    char lu[101];
    json_t *o = rmq_body(r, names, v);
    if (!o)
        return MHD_YES;
    json_t *cj = json_object_get(o, "client_id");
    const char *cid = json_is_string(cj) ? json_string_value(cj) : NULL;
    if (!cid) /* a login that is not MQTT (AMQP, the management UI): not ours */
        cid = "";
    login_result lr = login_decide(r->app, cid, v[0], v[1], &why);
    loggable(v[0], lu);
    json_decref(o);
    if (lr == LOGIN_ERROR)
        return http_send_error(r, 503, "unavailable", NULL, "The login cannot be checked now.");
    if (lr == LOGIN_DENY)
        OTA_INFO("broker-http: RabbitMQ login of %s denied: %s", lu, why);
    return send_word(r, lr != LOGIN_DENY);
}

/* POST .../rabbitmq/{token}/vhost: every account uses the default virtual host "/" (the
 * MQTT plugin's mqtt.vhost). */
static int rmq_vhost(http_req *r)
{
    static const char *const names[] = {"username", "vhost", NULL};
    const char *v[2];
    json_t *o = rmq_body(r, names, v);
    if (!o)
        return MHD_YES;
    int allow = strcmp(v[1], "/") == 0;
    json_decref(o);
    return send_word(r, allow);
}

/* POST .../rabbitmq/{token}/resource: the AMQP objects behind MQTT. The server may do
 * anything; a device may publish to and bind from the topic exchange (amq.topic, the MQTT
 * plugin's mqtt.exchange), and use its own subscription queues, which the plugin names
 * "mqtt-subscription-{client id}qos0|qos1" (its client id is its username). */
static int rmq_resource(http_req *r)
{
    static const char *const names[] = {"username", "vhost", "resource", "name", "permission", NULL};
    const char *v[5];
    json_t *o = rmq_body(r, names, v);
    if (!o)
        return MHD_YES;
    const char *user = v[0], *res = v[2], *name = v[3], *perm = v[4];
    char pk[OTA_PRODUCT_KEY_MAX + 1], id[OTA_IDENT_MAX + 1];
    int allow = 0;
    if (strcmp(v[1], "/") != 0)
        allow = 0;
    else if (strcmp(user, OTA_SERVER_USER) == 0)
        allow = 1; /* authenticated by rmq_user: only otad's password gets here */
    else if (auth_split_device(user, pk, id) != 0)
        allow = 0;
    else if (strcmp(res, "exchange") == 0)
        allow = strcmp(name, "amq.topic") == 0 && strcmp(perm, "configure") != 0;
    else if (strcmp(res, "queue") == 0) {
        static const char pre[] = "mqtt-subscription-";
        size_t ul = strlen(user);
        allow = strncmp(name, pre, sizeof pre - 1) == 0 &&
                strncmp(name + sizeof pre - 1, user, ul) == 0 &&
                (strcmp(name + sizeof pre - 1 + ul, "qos0") == 0 ||
                 strcmp(name + sizeof pre - 1 + ul, "qos1") == 0);
    }
    json_decref(o);
    return send_word(r, allow);
}

/* POST .../rabbitmq/{token}/topic: publishing (write) and subscribing (read) on the topic
 * exchange, by routing key: the plugin's per-device ACL on the MQTT topic it stands for. */
static int rmq_topic_check(http_req *r)
{
    static const char *const names[] = {"username", "vhost", "name", "permission", "routing_key", NULL};
    const char *v[5];
    char topic[OTA_TOPIC_MAX + 1];
    json_t *o = rmq_body(r, names, v);
    if (!o)
        return MHD_YES;
    int allow;
    if (strcmp(v[1], "/") != 0 || strcmp(v[2], "amq.topic") != 0)
        allow = 0;
    else if (strcmp(v[0], OTA_SERVER_USER) == 0)
        allow = 1;
    else
        allow = rmq_topic(v[4], topic, sizeof topic) == 0 && auth_device_topic_ok(v[0], topic);
    json_decref(o);
    return send_word(r, allow);
}

const http_route http_routes_broker[] = {
    {"POST", "/api/v1/broker/auth", broker_auth, HTTP_BROKER, HTTP_BODY_STREAM, BROKER_BODY_MAX,
     broker_start, broker_stream},
    {"POST", "/api/v1/broker/acl", broker_acl, HTTP_BROKER, HTTP_BODY_STREAM, BROKER_BODY_MAX,
     broker_start, broker_stream},
    {"POST", "/api/v1/broker/presence", broker_presence, HTTP_BROKER, HTTP_BODY_STREAM,
     BROKER_BODY_MAX, broker_start, broker_stream},
    {"POST", "/api/v1/broker/rabbitmq/{token}/user", rmq_user, HTTP_BROKER,
     HTTP_BODY_STREAM | HTTP_LOG_DEBUG, BROKER_BODY_MAX, broker_start, broker_stream},
    {"POST", "/api/v1/broker/rabbitmq/{token}/vhost", rmq_vhost, HTTP_BROKER,
     HTTP_BODY_STREAM | HTTP_LOG_DEBUG, BROKER_BODY_MAX, broker_start, broker_stream},
    {"POST", "/api/v1/broker/rabbitmq/{token}/resource", rmq_resource, HTTP_BROKER,
     HTTP_BODY_STREAM | HTTP_LOG_DEBUG, BROKER_BODY_MAX, broker_start, broker_stream},
    {"POST", "/api/v1/broker/rabbitmq/{token}/topic", rmq_topic_check, HTTP_BROKER,
     HTTP_BODY_STREAM | HTTP_LOG_DEBUG, BROKER_BODY_MAX, broker_start, broker_stream},
    HTTP_ROUTES_END,
};
