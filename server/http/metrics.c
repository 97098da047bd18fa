/*
 * metrics: GET /metrics in the Prometheus text format (version 0.0.4), for a token of role
 * viewer or above (docs/operations.md has a scrape config and alert rules). Two sources:
 *
 * - counted here as answers are queued (http_metrics_answer, from the answer helpers, so a
 *   client that saw an answer sees it counted): requests by route pattern, method and
 *   status, a latency histogram by route (time to the answer), device downloads and their
 *   bytes; downloads cut short when the request ends (http_metrics_done). Hot path: a route
 *   lookup by pointer and a few relaxed atomic additions per request (core/hist.h); no lock,
 *   no allocation. Routes are the table's patterns (bounded); statuses outside the list
 *   below count as "other".
 * - read at each scrape: the batch engine's own counters and gauges (engine_get_stats:
 *   pushes, acks, retries, failures by reason, the round-time histogram), the broker
 *   connection, and from the store batches by state, the tasks of running batches by state,
 *   devices online and the transaction-latency histograms (store_metrics.h); webhook
 *   delivery attempts by result (the worker's counters) and the webhook backlog
 *   (store_webhook.h).
 *
 * Names follow the Prometheus conventions: `ota_` prefix, counters `_total`, durations in
 * `_seconds`. Expected load: a scrape every 15-60 s; a scrape is three small queries.
 */
#include "http/http.h"
#include "http/http_internal.h"

#include "core/parts.h"
#include "engine/engine.h"
#include "store/store_batch.h"
#include "store/store_metrics.h"
#include "store/store_webhook.h"
#include "webhook/webhook.h"

#include "ota_time.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_ROUTES 128
static const unsigned codes[] = {200, 201, 202, 204, 206, 304, 400, 401, 403, 404,
                                 405, 409, 413, 415, 416, 422, 429, 500, 503};
#define N_CODES (sizeof codes / sizeof codes[0])
static const double le[] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
#define N_LE (sizeof le / sizeof le[0])

typedef struct {
    atomic_ullong by_code[N_CODES + 1]; /* + other */
    hist latency;
} route_metrics;

struct http_metrics {
    route_metrics route[MAX_ROUTES + 1]; /* + requests that matched no route */
    atomic_ullong downloads, download_bytes, aborted;
};

void http_metrics_open(http_app *app)
{
    if (!app->metrics) {
        app->metrics = calloc(1, sizeof *app->metrics);
        if (!app->metrics)
            abort();
        for (size_t i = 0; i <= MAX_ROUTES; i++)
            hist_init(&app->metrics->route[i].latency, le, N_LE);
    }
}

void http_metrics_close(http_app *app)
{
    if (app) {
        free(app->metrics);
        app->metrics = NULL;
    }
}

static size_t route_index(const http_route *rt)
{
    const http_route *x;
    for (size_t i = 0; i < MAX_ROUTES && (x = http__route_at(i)) != NULL; i++)
        if (x == rt)
            return i;
    return MAX_ROUTES;
}

static int is_download(const http_req *r, unsigned status)
{
    return r->route && strncmp(r->route->pattern, "/dl/", 4) == 0 &&
           strcmp(r->method, "GET") == 0 && (status == 200 || status == 206);
}

void http_metrics_answer(http_req *r, unsigned status)
{
    struct http_metrics *m = r->app->metrics;
    int64_t ms = ota_time_mono_ms() - r->start_ms;
    if (!m)
        return;
    route_metrics *rm = &m->route[r->route ? route_index(r->route) : MAX_ROUTES];
    size_t c = 0;
    while (c < N_CODES && codes[c] != status)
        c++;
    atomic_fetch_add_explicit(&rm->by_code[c], 1, memory_order_relaxed);
    hist_observe_us(&rm->latency, ms * 1000);
    if (is_download(r, status)) {
        atomic_fetch_add_explicit(&m->downloads, 1, memory_order_relaxed);
        atomic_fetch_add_explicit(&m->download_bytes, r->resp_bytes, memory_order_relaxed);
    }
}

void http_metrics_done(http_req *r, int completed)
{
    struct http_metrics *m = r->app->metrics;
    if (m && !completed && is_download(r, (unsigned)r->status))
        atomic_fetch_add_explicit(&m->aborted, 1, memory_order_relaxed);
}

/* ---- the text format -------------------------------------------------------------------- */

typedef struct {
    char *buf;
    size_t len, cap;
} text;

static void put(text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(text *t, const char *fmt, ...)
{
    va_list ap;
    if (!t->buf) {
        t->cap = 16384;
        t->buf = malloc(t->cap);
        if (!t->buf)
            abort();
    }
    for (;;) {
        va_start(ap, fmt);
        int n = vsnprintf(t->buf + t->len, t->cap - t->len, fmt, ap);
        va_end(ap);
        if (n < 0)
            return;
        if ((size_t)n < t->cap - t->len) {
            t->len += (size_t)n;
            return;
        }
        t->cap = (t->cap + (size_t)n + 1) * 2;
        t->buf = realloc(t->buf, t->cap);
        if (!t->buf)
            abort();
    }
}

static void family(text *t, const char *name, const char *type, const char *help)
{
    put(t, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* A histogram's lines: name_bucket{labels,le}, name_sum, name_count (labels may be ""). The
 * +Inf bucket and the count both come from the buckets as read, so they agree even while
 * other threads observe. */
static void put_hist(text *t, const char *name, const char *labels, const hist_read_t *h)
{
    const char *sep = labels[0] ? "," : "";
    for (size_t b = 0; b < h->n_le; b++)
        put(t, "%s_bucket{%s%sle=\"%g\"} %llu\n", name, labels, sep, h->le[b], h->cum[b]);
    put(t, "%s_bucket{%s%sle=\"+Inf\"} %llu\n", name, labels, sep, h->cum[h->n_le]);
    put(t, "%s_sum%s%s%s %.6f\n", name, labels[0] ? "{" : "", labels, labels[0] ? "}" : "",
        h->sum_s);
    put(t, "%s_count%s%s%s %llu\n", name, labels[0] ? "{" : "", labels, labels[0] ? "}" : "",
        h->cum[h->n_le]);
}

static unsigned long long ld(atomic_ullong *x)
{
    return atomic_load_explicit(x, memory_order_relaxed);
}

/* Route slot i (MAX_ROUTES: requests that matched no route) as its labels into out. */
static void labels(size_t i, char *out, size_t outlen)
{
    const http_route *rt = i < MAX_ROUTES ? http__route_at(i) : NULL;
    snprintf(out, outlen, "route=\"%s\",method=\"%s\"", rt ? rt->pattern : "unmatched",
             rt ? rt->method : "any");
}

static void http_families(text *t, struct http_metrics *m)
{
    size_t n_routes = 0;
    char lbl[300];
    while (n_routes < MAX_ROUTES && http__route_at(n_routes))
        n_routes++;
    family(t, "ota_http_requests_total", "counter",
           "HTTP requests answered, by route pattern, method and status.");
    for (size_t i = 0; i <= n_routes; i++) {
        route_metrics *rm = &m->route[i < n_routes ? i : MAX_ROUTES];
        labels(i < n_routes ? i : MAX_ROUTES, lbl, sizeof lbl);
        for (size_t c = 0; c <= N_CODES; c++) {
            unsigned long long v = ld(&rm->by_code[c]);
            char code[8];
            if (!v)
                continue;
            if (c < N_CODES)
                snprintf(code, sizeof code, "%u", codes[c]);
            else
                snprintf(code, sizeof code, "other");
            put(t, "ota_http_requests_total{%s,status=\"%s\"} %llu\n", lbl, code, v);
        }
    }
    family(t, "ota_http_request_duration_seconds", "histogram",
           "Time from a request's first byte to its answer, by route pattern.");
    for (size_t i = 0; i <= n_routes; i++) {
        hist_read_t h;
        hist_read(&m->route[i < n_routes ? i : MAX_ROUTES].latency, &h);
        if (!h.cum[h.n_le])
            continue;
        labels(i < n_routes ? i : MAX_ROUTES, lbl, sizeof lbl);
        put_hist(t, "ota_http_request_duration_seconds", lbl, &h);
    }
    family(t, "ota_downloads_total", "counter", "Firmware downloads answered by devices' links.");
    put(t, "ota_downloads_total %llu\n", ld(&m->downloads));
    family(t, "ota_download_bytes_total", "counter", "Bytes those downloads answered with.");
    put(t, "ota_download_bytes_total %llu\n", ld(&m->download_bytes));
    family(t, "ota_downloads_aborted_total", "counter",
           "Downloads whose connection ended before the answer did.");
    put(t, "ota_downloads_aborted_total %llu\n", ld(&m->aborted));
}

/* Webhook delivery attempts by result (this otad's worker) and the undelivered events of
 * every webhook (the store's outbox: all otad sharing it see the same backlog). */
static void webhook_families(text *t, http_app *app)
{
    webhook_stats ws;
    int64_t backlog;
    webhook_get_stats(app->webhooks, &ws);
    family(t, "ota_webhook_deliveries_total", "counter",
           "Webhook delivery attempts by result (failed attempts are retried; dead: given up).");
    put(t, "ota_webhook_deliveries_total{result=\"delivered\"} %llu\n",
        (unsigned long long)ws.delivered);
    put(t, "ota_webhook_deliveries_total{result=\"failed\"} %llu\n",
        (unsigned long long)ws.failed);
    put(t, "ota_webhook_deliveries_total{result=\"dead\"} %llu\n", (unsigned long long)ws.dead);
    if (store_webhook_backlog(app->store, &backlog) == OTA_OK) {
        family(t, "ota_webhook_backlog", "gauge", "Webhook events not yet delivered.");
        put(t, "ota_webhook_backlog %lld\n", (long long)backlog);
    }
}

/* Each running batch (the newest 100): its devices, finished and failed tasks, for a
 * failed-ratio alert per batch. A batch leaves these series when it ends. */
static void running_batches(text *t, const store_metrics *sm)
{
    static const struct {
        const char *name, *help;
    } f[] = {
        {"ota_batch_devices", "Devices of a running batch."},
        {"ota_batch_finished", "Tasks of a running batch that succeeded or failed."},
        {"ota_batch_failed", "Tasks of a running batch that failed (retries used up)."},
    };
    for (size_t k = 0; k < sizeof f / sizeof f[0]; k++) {
        family(t, f[k].name, "gauge", f[k].help);
        for (int i = 0; i < sm->n_running; i++) {
            int64_t v = k == 0   ? sm->running[i].total
                        : k == 1 ? sm->running[i].succeeded + sm->running[i].failed
                                 : sm->running[i].failed;
            put(t, "%s{batch=\"%lld\"} %lld\n", f[k].name, (long long)sm->running[i].id,
                (long long)v);
        }
    }
}

static int metrics(http_req *r)
{
    text t = {0};
    store_metrics sm;
    if (!r->app->metrics)
        return http_send_error(r, 503, "unavailable", NULL, "Metrics are not collected.");
    http_families(&t, r->app->metrics);
    if (r->app->engine) {
        engine_stats st;
        engine_get_stats(r->app->engine, &st);
        family(&t, "ota_engine_rounds_total", "counter", "Rounds of the batch engine.");
        put(&t, "ota_engine_rounds_total %llu\n", (unsigned long long)st.rounds);
        family(&t, "ota_engine_events_total", "counter", "Device events the engine applied.");
        put(&t, "ota_engine_events_total %llu\n", (unsigned long long)st.events);
        family(&t, "ota_pushes_total", "counter", "Upgrade pushes sent to devices.");
        put(&t, "ota_pushes_total %llu\n", (unsigned long long)st.pushes);
        family(&t, "ota_acks_total", "counter", "Pushes a device acknowledged in time.");
        put(&t, "ota_acks_total %llu\n", (unsigned long long)st.acks);
        family(&t, "ota_task_retries_total", "counter",
               "Failed upgrade attempts that will be pushed again (to_retry).");
        put(&t, "ota_task_retries_total %llu\n", (unsigned long long)st.retries);
        family(&t, "ota_task_failures_total", "counter",
               "Failed upgrade attempts by reason, retried ones included; terminated: the "
               "unfinished tasks a terminate failed.");
        for (int i = 0; i < FSM_REASON_COUNT; i++)
            if (i != FSM_REASON_NONE)
                put(&t, "ota_task_failures_total{reason=\"%s\"} %llu\n",
                    fsm_reason_name((fsm_reason)i), (unsigned long long)st.failures[i]);
        family(&t, "ota_engine_round_seconds", "histogram",
               "Duration of the batch engine's rounds: their work and their transaction.");
        put_hist(&t, "ota_engine_round_seconds", "", &st.round_time);
        family(&t, "ota_device_messages_ignored_total", "counter",
               "Device messages that changed nothing (late, repeated, of no task).");
        put(&t, "ota_device_messages_ignored_total %llu\n", (unsigned long long)st.ignored);
        family(&t, "ota_device_messages_bad_total", "counter", "Malformed device messages.");
        put(&t, "ota_device_messages_bad_total %llu\n", (unsigned long long)st.bad_messages);
        family(&t, "ota_engine_queued", "gauge", "Inputs waiting for the engine.");
        put(&t, "ota_engine_queued %zu\n", st.queued);
        family(&t, "ota_engine_timers", "gauge", "Armed deadlines.");
        put(&t, "ota_engine_timers %zu\n", st.timers);
        family(&t, "ota_engine_input_lag_seconds", "gauge",
               "How late device messages reach the engine (-1 before the first clock probe).");
        put(&t, "ota_engine_input_lag_seconds %.3f\n",
            st.input_lag_ms < 0 ? -1.0 : (double)st.input_lag_ms / 1000.0);
        family(&t, "ota_engine_pushes_held", "gauge",
               "1 when the last round held pushes back (lag or publishes waiting).");
        put(&t, "ota_engine_pushes_held %d\n", st.pushes_held ? 1 : 0);
        family(&t, "ota_engine_push_hold_seconds_total", "counter",
               "How long pushes were held back while a device waited for one (ended holds).");
        put(&t, "ota_engine_push_hold_seconds_total %.3f\n", (double)st.held_ms / 1000.0);
        family(&t, "ota_engine_ack_deadlines_moved_total", "counter",
               "Ack deadlines moved later because the push reached the broker late "
               "(docs/batches.md).");
        put(&t, "ota_engine_ack_deadlines_moved_total %llu\n",
            (unsigned long long)st.acks_moved);
        family(&t, "ota_partitions_held", "gauge",
               "Device partitions this instance works on (64 without leases; "
               "docs/postgresql.md, \"Partitions\").");
        put(&t, "ota_partitions_held %d\n", parts_count(st.parts));
        family(&t, "ota_device_messages_foreign_total", "counter",
               "Device messages that reached this instance for a partition it did not hold "
               "(none expected with partition topics: docs/broker.md).");
        put(&t, "ota_device_messages_foreign_total %llu\n", (unsigned long long)st.foreign);
        family(&t, "ota_store_round_trips_total", "counter",
               "Round trips to the database the engine waited for (0 with SQLite).");
        put(&t, "ota_store_round_trips_total %llu\n",
            (unsigned long long)store_uow_round_trips(r->app->store));
    }
    if (r->app->broker_ready) {
        const char *state = NULL;
        int ok = r->app->broker_ready(r->app->broker_ud, &state);
        family(&t, "ota_broker_connected", "gauge", "1 when otad's broker connection is up.");
        put(&t, "ota_broker_connected %d\n", ok ? 1 : 0);
    }
    webhook_families(&t, r->app);
    family(&t, "ota_store_up", "gauge", "1 when the store answered this scrape's reads.");
    if (store_metrics_read(r->app->store, &sm) == OTA_OK) {
        put(&t, "ota_store_up 1\n");
        family(&t, "ota_batches", "gauge", "Batches by state.");
        for (int i = 0; i < sm.n_batch_states; i++)
            put(&t, "ota_batches{state=\"%s\"} %lld\n", sm.batch_state[i],
                (long long)sm.batches[i]);
        family(&t, "ota_tasks", "gauge", "Device tasks of running batches by state.");
        for (int i = 0; i < FSM_STATE_COUNT; i++)
            put(&t, "ota_tasks{state=\"%s\"} %lld\n", fsm_state_name((fsm_state)i),
                (long long)sm.tasks[i]);
        family(&t, "ota_devices_online", "gauge", "Devices connected to the broker.");
        put(&t, "ota_devices_online %lld\n", (long long)sm.devices_online);
        running_batches(&t, &sm);
    } else
        put(&t, "ota_store_up 0\n");
    family(&t, "ota_store_transaction_seconds", "histogram",
           "Store transactions from BEGIN to COMMIT or ROLLBACK, by kind (one statement, read, "
           "write, the engine's round).");
    for (int k = 0; k < STORE_TX_KINDS; k++) {
        hist_read_t h;
        char lbl[32];
        store_tx_latency(r->app->store, k, &h);
        snprintf(lbl, sizeof lbl, "kind=\"%s\"", store_tx_kind_name(k));
        put_hist(&t, "ota_store_transaction_seconds", lbl, &h);
    }
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(t.len, t.buf, MHD_RESPMEM_MUST_FREE);
    if (!resp) {
        free(t.buf);
        return http_send_error(r, 500, "internal", NULL, "The metrics could not be sent.");
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
                            "text/plain; version=0.0.4; charset=utf-8");
    return http_send_response(r, 200, resp);
}

const http_route http_routes_metrics[] = {
    {"GET", "/metrics", metrics, HTTP_VIEWER, 0, 0, NULL, NULL},
    HTTP_ROUTES_END,
};
