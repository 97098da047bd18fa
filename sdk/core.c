/*
 * core: the device SDK's context, its public API and the agent's state-transition table.
 *
 * The agent is a table of {state, event, handler, next} rows, as in the AWS OTA library
 * but without its singleton: every piece of state lives in the otasdk_ctx handle. Events
 * come from three places: the transport thread (otasdk_on_message queues a job in the
 * `incoming` slot), the application (otasdk_upgrade_start/decline set a flag), and the
 * handlers themselves (the download handler posts IMAGE_OK / FAILED / STOPPED). Only
 * otasdk_process() runs handlers, on the application's thread, so a long download never
 * blocks the MQTT thread, and acks go out at once from the transport thread.
 *
 * Load: one context per device; a few messages per upgrade.
 */
#include "sdk_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- errors ---- */

const char *otasdk_strerror(int err)
{
    switch (err) {
#define OTASDK__TEXT(name, value, text)                                                            \
    case value:                                                                                    \
        return text;
        OTASDK_ERRORS(OTASDK__TEXT)
#undef OTASDK__TEXT
    }
    return "unknown error";
}

const char *otasdk_errname(int err)
{
    switch (err) {
#define OTASDK__NAME(name, value, text)                                                            \
    case value:                                                                                    \
        return #name;
        OTASDK_ERRORS(OTASDK__NAME)
#undef OTASDK__NAME
    }
    return "OTASDK_ERR_UNKNOWN";
}

int otasdk_set_json_allocator(void *(*malloc_fn)(size_t), void (*free_fn)(void *))
{
    if (!malloc_fn || !free_fn)
        return OTASDK_ERR_ARG;
    json_set_alloc_funcs(malloc_fn, free_fn);
    return OTASDK_OK;
}

/* ---- small helpers shared by the files ---- */

void sdk__log(otasdk_ctx *c, otasdk_log_level level, const char *fmt, ...)
{
    char line[320];
    va_list ap;
    if (!c->cfg.app.on_log)
        return;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    c->cfg.app.on_log(c->cfg.app.user, level, line);
}

void sdk__lock(otasdk_ctx *c)
{
    if (c->cfg.sys.lock)
        c->cfg.sys.lock(c->cfg.sys.user);
}

void sdk__unlock(otasdk_ctx *c)
{
    if (c->cfg.sys.unlock)
        c->cfg.sys.unlock(c->cfg.sys.user);
}

void sdk__emit(otasdk_ctx *c, otasdk_event_type type, int step, int err, uint64_t value,
               const char *desc)
{
    otasdk_event ev;
    if (!c->cfg.app.on_event)
        return;
    ev.type = type;
    ev.job = &c->job;
    ev.step = step;
    ev.err = err;
    ev.value = value;
    ev.desc = desc ? desc : "";
    c->cfg.app.on_event(c->cfg.app.user, &ev);
}

void sdk__post(otasdk_ctx *c, sdk_event ev)
{
    if (c->evq_len == SDK_EVQ_LEN) /* cannot happen: handlers post one event each */
        return;
    c->evq[(c->evq_head + c->evq_len) % SDK_EVQ_LEN] = ev;
    c->evq_len++;
}

static int copy_bounded(char *dst, size_t cap, const char *src)
{
    size_t n;
    if (!src)
        return -1;
    n = strlen(src);
    if (n == 0 || n >= cap)
        return -1;
    memcpy(dst, src, n + 1);
    return 0;
}

/* 1 for a version the platform accepts: 1..OTASDK_VERSION_MAX of [A-Za-z0-9_.-]. */
static int version_ok(const char *v)
{
    size_t n = 0;
    if (!v)
        return 0;
    for (; v[n]; n++) {
        char ch = v[n];
        if (!((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
              ch == '_' || ch == '.' || ch == '-'))
            return 0;
    }
    return n >= 1 && n <= OTASDK_VERSION_MAX;
}

/* ---- lifecycle ---- */

int otasdk_create(const otasdk_config *cfg, otasdk_ctx **out)
{
    otasdk_ctx *c;
    size_t work;
    if (!out)
        return OTASDK_ERR_ARG;
    *out = NULL;
    if (!cfg || !cfg->mqtt.publish || !cfg->mqtt.subscribe || !cfg->http.get || !cfg->flash.open ||
        !cfg->flash.write || !cfg->flash.close || !cfg->flash.finalize || !cfg->flash.discard ||
        !cfg->digest.begin || !cfg->digest.update || !cfg->digest.finish || !cfg->digest.free ||
        !cfg->sys.now_ms || (!cfg->sys.alloc) != (!cfg->sys.free) ||
        (!cfg->sys.lock) != (!cfg->sys.unlock) ||
        cfg->trusted_key_count > OTASDK_TRUSTED_KEYS_MAX ||
        (cfg->trusted_key_count && (!cfg->trusted_keys || !cfg->verify.ed25519)))
        return OTASDK_ERR_ARG;
    work = cfg->work_buf_size ? cfg->work_buf_size : 4096;
    if (work < 64 || work > (1u << 20) || cfg->progress_every > 100)
        return OTASDK_ERR_ARG;
    /* strlen(s) - 1 wraps for "", so one comparison checks 1..MAX */
    if (!cfg->product_key || !cfg->identifier || !cfg->firmware_version ||
        strlen(cfg->product_key) - 1 >= OTASDK_KEY_MAX ||
        strlen(cfg->identifier) - 1 >= OTASDK_KEY_MAX || !version_ok(cfg->firmware_version))
        return OTASDK_ERR_ARG;
    if (strchr(cfg->product_key, '/') || strchr(cfg->identifier, '/') ||
        strchr(cfg->product_key, '+') || strchr(cfg->identifier, '+') ||
        strchr(cfg->product_key, '#') || strchr(cfg->identifier, '#'))
        return OTASDK_ERR_ARG;
    if (cfg->sys.alloc)
        c = cfg->sys.alloc(cfg->sys.user, sizeof *c + work);
    else
        c = malloc(sizeof *c + work);
    if (!c)
        return OTASDK_ERR_NOMEM;
    memset(c, 0, sizeof *c);
    c->cfg = *cfg;
    copy_bounded(c->product_key, sizeof c->product_key, cfg->product_key);
    copy_bounded(c->identifier, sizeof c->identifier, cfg->identifier);
    copy_bounded(c->version, sizeof c->version, cfg->firmware_version);
    for (size_t i = 0; i < cfg->trusted_key_count; i++)
        memcpy(c->keys[i], cfg->trusted_keys[i], 32);
    c->n_keys = cfg->trusted_key_count;
    c->cfg.trusted_keys = NULL; /* the copy above is the SDK's */
    c->cfg.product_key = c->product_key;
    c->cfg.identifier = c->identifier;
    c->cfg.firmware_version = NULL; /* c->version is the truth, under lock */
    c->cfg.work_buf_size = work;
    if (!c->cfg.max_message)
        c->cfg.max_message = 4096;
    if (!c->cfg.download_retries)
        c->cfg.download_retries = 5;
    if (!c->cfg.retry_delay_ms)
        c->cfg.retry_delay_ms = 1000;
    if (!c->cfg.progress_every)
        c->cfg.progress_every = 10;
    c->work = (unsigned char *)(c + 1);
    c->boot_ms = cfg->sys.now_ms(cfg->sys.user);
    c->state = SDK_ST_IDLE;
    *out = c;
    return OTASDK_OK;
}

void otasdk_destroy(otasdk_ctx *c)
{
    if (!c)
        return;
    if (c->dl.md5)
        c->cfg.digest.free(c->cfg.digest.user, c->dl.md5);
    if (c->dl.sha)
        c->cfg.digest.free(c->cfg.digest.user, c->dl.sha);
    if (c->cfg.sys.free)
        c->cfg.sys.free(c->cfg.sys.user, c);
    else
        free(c);
}

/* The SDK's own bounds must hold what the protocol sends and accepts. */
_Static_assert(OTASDK_TOPIC_MAX >= OTA_TOPIC_ROOT_LEN + 2 * OTASDK_KEY_MAX + 2 +
                                       sizeof OTA_TOPIC_UPGRADE_REPLY,
               "OTASDK_TOPIC_MAX holds every device topic");
_Static_assert(OTASDK_DESC_MAX <= OTA_PROGRESS_DESC_MAX, "a progress desc the server accepts");

int otasdk_topic(const otasdk_ctx *c, const char *suffix, char *buf, size_t cap)
{
    int n;
    if (!c || !suffix || !buf || cap == 0)
        return OTASDK_ERR_ARG;
    n = snprintf(buf, cap, OTA_TOPIC_ROOT "%s/%s/%s", c->product_key, c->identifier, suffix);
    if (n < 0 || (size_t)n >= cap) {
        buf[0] = '\0';
        return OTASDK_ERR_SHORT_BUFFER;
    }
    return OTASDK_OK;
}

/* ---- transport side ---- */

int otasdk_on_connected(otasdk_ctx *c)
{
    char topic[OTASDK_TOPIC_MAX];
    int rc;
    if (!c)
        return OTASDK_ERR_ARG;
    static const char *const subs[] = {OTA_TOPIC_UPGRADE, OTA_TOPIC_GET_REPLY};
    for (size_t i = 0; i < sizeof subs / sizeof subs[0]; i++) {
        rc = otasdk_topic(c, subs[i], topic, sizeof topic);
        if (rc != OTASDK_OK)
            return rc;
        if (c->cfg.mqtt.subscribe(c->cfg.mqtt.user, topic) != 0) {
            sdk__log(c, OTASDK_LOG_WARN, "subscribe %s failed", topic);
            return OTASDK_ERR_MQTT;
        }
    }
    return c->cfg.mqtt.announce_on_suback ? OTASDK_OK : otasdk_on_subscribed(c);
}

int otasdk_on_subscribed(otasdk_ctx *c)
{
    char version[OTASDK_VERSION_MAX + 1];
    int rc;
    if (!c)
        return OTASDK_ERR_ARG;
    sdk__lock(c);
    memcpy(version, c->version, sizeof version);
    sdk__unlock(c);
    rc = sdk__send_version(c, version);
    if (rc != OTASDK_OK)
        return rc;
    return otasdk_fetch(c);
}

int otasdk_fetch(otasdk_ctx *c)
{
    json_t *data;
    int rc;
    if (!c)
        return OTASDK_ERR_ARG;
    data = json_object();
    if (!data)
        return OTASDK_ERR_NOMEM;
    rc = sdk__send(c, OTA_TOPIC_GET, NULL, -1, data);
    json_decref(data);
    return rc;
}

static int topic_is(otasdk_ctx *c, const char *topic, const char *suffix)
{
    char t[OTASDK_TOPIC_MAX];
    return otasdk_topic(c, suffix, t, sizeof t) == OTASDK_OK && strcmp(t, topic) == 0;
}

static int ack(otasdk_ctx *c, const char *msg_id, int code)
{
    int rc = sdk__send(c, OTA_TOPIC_UPGRADE_REPLY, msg_id, code, NULL);
    if (rc != OTASDK_OK)
        sdk__log(c, OTASDK_LOG_WARN, "ack of %s not sent: %s", msg_id, otasdk_strerror(rc));
    return rc;
}

static int same_job(const otasdk_job *a, const otasdk_job *b)
{
    return a->size == b->size && strcmp(a->md5, b->md5) == 0 &&
           strcmp(a->version, b->version) == 0 && strcmp(a->batch_id, b->batch_id) == 0 &&
           strcmp(a->url, b->url) == 0;
}

int otasdk_on_message(otasdk_ctx *c, const char *topic, const void *payload, size_t len)
{
    int is_push, is_reply, rc, dup;
    json_t *m, *code;
    json_error_t jerr;
    otasdk_job job;
    const char *msg_id;
    if (!c || !topic || (!payload && len))
        return OTASDK_ERR_ARG;
    is_push = topic_is(c, topic, OTA_TOPIC_UPGRADE);
    is_reply = !is_push && topic_is(c, topic, OTA_TOPIC_GET_REPLY);
    if (!is_push && !is_reply)
        return OTASDK_ERR_ARG;
    if (len > c->cfg.max_message) {
        sdk__log(c, OTASDK_LOG_WARN, "message of %zu bytes on %s refused (max %zu)", len, topic,
                 c->cfg.max_message);
        return OTASDK_ERR_PARSE;
    }
    m = json_loadb(payload, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!m) {
        /* jansson does not always say "out of memory" (e.g. when its lexer cannot start),
         * so a failed probe allocation decides. */
        json_t *probe = json_error_code(&jerr) == json_error_out_of_memory ? NULL : json_object();
        if (!probe)
            return OTASDK_ERR_NOMEM;
        json_decref(probe);
        sdk__log(c, OTASDK_LOG_WARN, "malformed message on %s: %s", topic, jerr.text);
        return OTASDK_ERR_PARSE;
    }
    msg_id = json_string_value(json_object_get(m, "msgId"));
    if (!msg_id || !msg_id[0] || strlen(msg_id) > OTASDK_MSGID_MAX) {
        sdk__log(c, OTASDK_LOG_WARN, "message without a valid msgId on %s", topic);
        json_decref(m);
        return OTASDK_ERR_PARSE;
    }
    code = json_object_get(m, "code");
    if (is_reply && json_is_integer(code) && json_integer_value(code) != 200) {
        sdk__log(c, OTASDK_LOG_INFO, "no pending upgrade (code %lld)",
                 (long long)json_integer_value(code));
        json_decref(m);
        return OTASDK_OK;
    }
    rc = sdk__parse_job(json_object_get(m, "data"), &job);
    if (rc != OTASDK_OK) {
        sdk__log(c, OTASDK_LOG_WARN, "invalid upgrade message %s refused", msg_id);
        ack(c, msg_id, 400);
        json_decref(m);
        return rc;
    }
    memcpy(job.msg_id, msg_id, strlen(msg_id) + 1);
    json_decref(m);
    sdk__lock(c);
    /* The platform may send the same job twice (a push and the get_reply to our get, or a
     * push repeated after a lost ack): ack both, run it once. */
    dup = c->has_job && same_job(&c->job, &job);
    if (!dup) {
        c->incoming = job;
        c->incoming_valid = 1;
    }
    sdk__unlock(c);
    if (dup) {
        sdk__log(c, OTASDK_LOG_INFO, "%s %s repeats the job in progress (%s); acked only",
                 is_push ? "push" : "pending upgrade", job.msg_id, job.version);
        return ack(c, job.msg_id, 200);
    }
    sdk__log(c, OTASDK_LOG_INFO, "%s %s: version %s, %llu bytes, policy %s, batch %s",
             is_push ? "push" : "pending upgrade", job.msg_id, job.version,
             (unsigned long long)job.size,
             job.policy == OTASDK_POLICY_SILENT ? "silent" : "standard", job.batch_id);
    return ack(c, job.msg_id, 200);
}

/* ---- the state table ---- */

static int h_offer(otasdk_ctx *c)
{
    sdk__log(c, OTASDK_LOG_INFO, "silent upgrade to %s offered to the application", c->job.version);
    sdk__emit(c, OTASDK_EV_JOB_OFFERED, 0, OTASDK_OK, 0, NULL);
    return OTASDK_OK;
}

static int h_download(otasdk_ctx *c)
{
    int rc = sdk__download(c);
    if (rc == OTASDK_OK) {
        sdk__emit(c, OTASDK_EV_IMAGE_READY, 100, OTASDK_OK, c->job.size, NULL);
        sdk__post(c, SDK_EV_IMAGE_OK);
    } else if (rc == OTASDK_ERR_ABORTED) {
        c->stop = 0; /* consumed */
        sdk__post(c, SDK_EV_STOPPED);
    } else {
        c->last_err = rc;
        sdk__post(c, SDK_EV_FAILED);
    }
    return OTASDK_OK;
}

static void fail(otasdk_ctx *c, int step, int err, const char *desc)
{
    sdk__log(c, OTASDK_LOG_ERROR, "upgrade to %s failed (step %d): %s", c->job.version, step, desc);
    sdk__send_progress(c, step, desc);
    sdk__emit(c, OTASDK_EV_FAILED, step, err, 0, desc);
}

static int h_install(otasdk_ctx *c)
{
    char v[OTASDK_VERSION_MAX + 1];
    char desc[OTASDK_DESC_MAX + 1];
    int rc = OTASDK_OK;
    memcpy(v, c->job.version, sizeof v);
    if (c->cfg.app.install) {
        v[0] = '\0';
        rc = c->cfg.app.install(c->cfg.app.user, &c->job, v, sizeof v);
        v[sizeof v - 1] = '\0';
    }
    if (rc != OTASDK_OK) {
        snprintf(desc, sizeof desc, "install failed: %s", otasdk_strerror(rc));
        fail(c, OTASDK_STEP_FLASH_FAILED, OTASDK_ERR_INSTALL, desc);
        c->last_err = OTASDK_ERR_INSTALL;
        sdk__post(c, SDK_EV_FAILED);
        return OTASDK_OK;
    }
    if (strcmp(v, c->job.version) != 0) {
        snprintf(desc, sizeof desc, "installed version is '%.40s', expected '%.40s'", v,
                 c->job.version);
        fail(c, OTASDK_STEP_FLASH_FAILED, OTASDK_ERR_INSTALL, desc);
        c->last_err = OTASDK_ERR_INSTALL;
        sdk__post(c, SDK_EV_FAILED);
        return OTASDK_OK;
    }
    sdk__lock(c);
    memcpy(c->version, v, sizeof v);
    sdk__unlock(c);
    rc = sdk__send_version(c, v);
    if (rc != OTASDK_OK) /* sent again at the next connection */
        sdk__log(c, OTASDK_LOG_WARN, "version %s not reported yet: %s", v, otasdk_strerror(rc));
    sdk__log(c, OTASDK_LOG_INFO, "upgrade to %s done", v);
    sdk__emit(c, OTASDK_EV_SUCCEEDED, 100, OTASDK_OK, 0, NULL);
    sdk__post(c, SDK_EV_INSTALLED);
    return OTASDK_OK;
}

static int h_current(otasdk_ctx *c)
{
    char v[OTASDK_VERSION_MAX + 1];
    sdk__lock(c);
    memcpy(v, c->version, sizeof v);
    sdk__unlock(c);
    sdk__log(c, OTASDK_LOG_INFO, "version %s already running", v);
    return sdk__send_version(c, v);
}

static int h_stopped(otasdk_ctx *c)
{
    sdk__log(c, OTASDK_LOG_INFO, "download of %s stopped; checkpoint kept", c->job.version);
    sdk__emit(c, OTASDK_EV_STOPPED, 0, OTASDK_ERR_ABORTED, c->dl.offset, NULL);
    return OTASDK_OK;
}

static int h_none(otasdk_ctx *c)
{
    (void)c;
    return OTASDK_OK;
}

typedef struct {
    sdk_state state;
    sdk_event event;
    int (*handler)(otasdk_ctx *c);
    sdk_state next;
} sdk_transition;

static const sdk_transition transitions[] = {
    {SDK_ST_IDLE, SDK_EV_JOB_STANDARD, h_download, SDK_ST_DOWNLOADING},
    {SDK_ST_IDLE, SDK_EV_JOB_SILENT, h_offer, SDK_ST_OFFERED},
    {SDK_ST_IDLE, SDK_EV_JOB_CURRENT, h_current, SDK_ST_IDLE},
    {SDK_ST_OFFERED, SDK_EV_JOB_STANDARD, h_download, SDK_ST_DOWNLOADING},
    {SDK_ST_OFFERED, SDK_EV_JOB_SILENT, h_offer, SDK_ST_OFFERED},
    {SDK_ST_OFFERED, SDK_EV_JOB_CURRENT, h_current, SDK_ST_IDLE},
    {SDK_ST_OFFERED, SDK_EV_START, h_download, SDK_ST_DOWNLOADING},
    {SDK_ST_OFFERED, SDK_EV_DECLINE, h_none, SDK_ST_IDLE},
    {SDK_ST_DOWNLOADING, SDK_EV_IMAGE_OK, h_install, SDK_ST_INSTALLING},
    {SDK_ST_DOWNLOADING, SDK_EV_FAILED, h_none, SDK_ST_IDLE},
    {SDK_ST_DOWNLOADING, SDK_EV_STOPPED, h_stopped, SDK_ST_IDLE},
    {SDK_ST_INSTALLING, SDK_EV_INSTALLED, h_none, SDK_ST_IDLE},
    {SDK_ST_INSTALLING, SDK_EV_FAILED, h_none, SDK_ST_IDLE},
};

static void set_state(otasdk_ctx *c, sdk_state s)
{
    sdk__lock(c);
    c->state = s;
    c->has_job = s != SDK_ST_IDLE;
    sdk__unlock(c);
}

/* Runs the row for (state, ev). The next state is entered before the handler runs, so
 * callbacks the handler makes see it (an application may call otasdk_upgrade_start from
 * its JOB_OFFERED event); a handler that fails puts the old state back. */
static void dispatch(otasdk_ctx *c, sdk_event ev)
{
    for (size_t i = 0; i < sizeof transitions / sizeof transitions[0]; i++) {
        const sdk_transition *t = &transitions[i];
        sdk_state prev = c->state;
        if (t->state != c->state || t->event != ev)
            continue;
        set_state(c, t->next);
        if (t->handler(c) != OTASDK_OK)
            set_state(c, prev);
        return;
    }
    sdk__log(c, OTASDK_LOG_DEBUG, "event %d ignored in state %d", (int)ev, (int)c->state);
}

/* Takes the incoming job or application request, if any, as the next event. */
static sdk_event next_input(otasdk_ctx *c)
{
    sdk_event ev = SDK_EV_NONE;
    sdk__lock(c);
    if (c->incoming_valid) {
        c->incoming_valid = 0;
        if (strcmp(c->incoming.version, c->version) == 0)
            ev = SDK_EV_JOB_CURRENT;
        else if (c->incoming.policy == OTASDK_POLICY_SILENT)
            ev = SDK_EV_JOB_SILENT;
        else
            ev = SDK_EV_JOB_STANDARD;
        if (ev != SDK_EV_JOB_CURRENT) {
            c->job = c->incoming;
            c->has_job = 1; /* busy with it from now on (see otasdk_on_message) */
        }
    } else if (c->start_req) {
        c->start_req = 0;
        ev = SDK_EV_START;
    } else if (c->decline_req) {
        c->decline_req = 0;
        ev = SDK_EV_DECLINE;
    }
    sdk__unlock(c);
    return ev;
}

int otasdk_process(otasdk_ctx *c)
{
    sdk_event ev;
    if (!c)
        return OTASDK_ERR_ARG;
    c->last_err = OTASDK_OK;
    for (;;) {
        if (c->evq_len > 0) {
            ev = c->evq[c->evq_head];
            c->evq_head = (c->evq_head + 1) % SDK_EVQ_LEN;
            c->evq_len--;
        } else {
            ev = next_input(c);
            if (ev == SDK_EV_NONE)
                break;
        }
        dispatch(c, ev);
    }
    return c->last_err;
}

int otasdk_pending(otasdk_ctx *c)
{
    int p;
    if (!c)
        return 0;
    sdk__lock(c);
    p = c->incoming_valid || c->start_req || c->decline_req;
    sdk__unlock(c);
    return p || c->evq_len > 0;
}

static int request(otasdk_ctx *c, int start)
{
    int rc = OTASDK_ERR_STATE;
    if (!c)
        return OTASDK_ERR_ARG;
    sdk__lock(c);
    if (c->state == SDK_ST_OFFERED && !c->start_req && !c->decline_req) {
        if (start)
            c->start_req = 1;
        else
            c->decline_req = 1;
        rc = OTASDK_OK;
    }
    sdk__unlock(c);
    return rc;
}

int otasdk_upgrade_start(otasdk_ctx *c)
{
    return request(c, 1);
}

int otasdk_upgrade_decline(otasdk_ctx *c)
{
    return request(c, 0);
}

int otasdk_job_get(otasdk_ctx *c, otasdk_job *out)
{
    int rc = OTASDK_ERR_STATE;
    if (!c || !out)
        return OTASDK_ERR_ARG;
    sdk__lock(c);
    if (c->has_job) {
        *out = c->job;
        rc = OTASDK_OK;
    }
    sdk__unlock(c);
    return rc;
}

int otasdk_set_version(otasdk_ctx *c, const char *version)
{
    if (!c || !version_ok(version))
        return OTASDK_ERR_ARG;
    sdk__lock(c);
    memcpy(c->version, version, strlen(version) + 1);
    sdk__unlock(c);
    return sdk__send_version(c, version);
}

int otasdk_report_progress(otasdk_ctx *c, int step, const char *desc)
{
    if (!c || step < -4 || step > 100 || step == 0)
        return OTASDK_ERR_ARG;
    return sdk__send_progress(c, step, desc);
}

void otasdk_stop(otasdk_ctx *c)
{
    if (c)
        c->stop = 1;
}
