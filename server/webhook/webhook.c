/*
 * webhook: the delivery worker's thread (webhook.h says what it promises).
 *
 * The loop (worker_main), each step a function:
 *   pass_when_due   every PASS_MS: assemble the outbox into deliveries; then (and as soon
 *                   as a transfer ends, so a fast receiver is not held to one round of
 *                   cfg.concurrency per pass) for each enabled webhook with room (fewer
 *                   than cfg.concurrency under way here) lease its due deliveries and
 *                   start them (start_transfer)
 *   curl_multi_poll wait for sockets, at most until the next pass
 *   reap            each finished transfer: its result into the store (finish)
 *   prune_when_due  hourly: forget what was delivered or dead KEEP_MS ago
 * A receiver that answers after 5 s holds one of its webhook's slots for 5 s and nothing
 * else: other webhooks' transfers run in the same multi handle, and the engine never waits
 * on this thread.
 */
#include "webhook/webhook.h"

#include "core/webhook.h"
#include "store/store_webhook.h"

#include "ota_crypto.h"
#include "ota_log.h"
#include "ota_time.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PASS_MS 500                          /* assemble and claim this often */
#define LEASE_EXTRA_MS 5000                  /* a lease outlives the attempt's timeout by this */
#define PRUNE_EVERY_MS (3600 * 1000ll)       /* forget old deliveries this often */
#define KEEP_MS (7 * 24 * 3600 * 1000ll)     /* delivered / dead deliveries kept a week */

typedef struct xfer {
    struct xfer *next;
    CURL *h;
    struct curl_slist *headers;
    char *body;
    store_delivery d;
    int64_t start_mono;
    char err[CURL_ERROR_SIZE];
} xfer;

struct webhooks {
    store_t *store;
    webhook_cfg cfg;
    CURLM *multi;
    pthread_t thread;
    atomic_int stop;
    xfer *active; /* transfers under way (the worker thread's alone) */
    int refill;   /* a transfer ended: its webhook's slot is free before the next pass */
    int64_t next_pass, next_prune;
    atomic_ullong delivered, failed, dead;
};

static size_t discard(char *p, size_t size, size_t n, void *ud)
{
    (void)p;
    (void)ud;
    return size * n; /* the answer's body is not read: only its status counts */
}

static int under_way(const webhooks *w, int64_t webhook_id)
{
    int n = 0;
    for (const xfer *x = w->active; x; x = x->next)
        n += x->d.webhook_id == webhook_id;
    return n;
}

static void xfer_free(xfer *x)
{
    if (!x)
        return;
    if (x->h)
        curl_easy_cleanup(x->h);
    curl_slist_free_all(x->headers);
    free(x->body);
    free(x);
}

static double random01(void)
{
    uint32_t r = 0;
    if (ota_random_bytes((unsigned char *)&r, sizeof r) != 0)
        return 0.5;
    return (double)r / 4294967296.0;
}

/* Writes attempt d's result: delivered, or failed and due again, or dead past the horizon. */
static void finish(webhooks *w, const store_delivery *d, int ok, int status, const char *error,
                   int64_t duration_ms)
{
    int64_t now = ota_time_now_ms(), next = 0;
    store_hook_result res = STORE_HOOK_DELIVERED;
    if (!ok) {
        next = hook_retry_at(d->attempts + 1, now, d->first_ms, w->cfg.time_scale, random01());
        res = next ? STORE_HOOK_FAILED : STORE_HOOK_DEAD;
    }
    if (store_webhook_result(w->store, d, res, status, error, duration_ms, now, next) != OTA_OK) {
        /* not recorded: the lease ends and the delivery is sent again (at least once) */
        OTA_ERROR("webhook: delivery %lld: result not recorded", (long long)d->id);
        return;
    }
    if (res == STORE_HOOK_DELIVERED)
        atomic_fetch_add_explicit(&w->delivered, 1, memory_order_relaxed);
    else if (res == STORE_HOOK_FAILED) {
        atomic_fetch_add_explicit(&w->failed, 1, memory_order_relaxed);
        OTA_WARN("webhook %lld: delivery %lld attempt %d failed (%s%s%d); next in %lld ms",
                 (long long)d->webhook_id, (long long)d->id, d->attempts + 1,
                 error && *error ? error : "", error && *error ? ", status " : "status ", status,
                 (long long)(next - now));
    } else {
        atomic_fetch_add_explicit(&w->dead, 1, memory_order_relaxed);
        OTA_ERROR("webhook %lld: delivery %lld dead after %d attempts (%s, status %d)",
                  (long long)d->webhook_id, (long long)d->id, d->attempts + 1,
                  error && *error ? error : "-", status);
    }
}

/* Starts delivery d to hook: its body from the store's events, signed. A delivery that
 * cannot be built (its events gone or unreadable) is recorded dead. */
static void start_transfer(webhooks *w, const store_webhook *hook, const store_delivery *d)
{
    hook_item *items = NULL;
    size_t n = 0;
    char sig[80], line[HOOK_EVENTS_TEXT_MAX + 64];
    if (store_webhook_items(w->store, d->id, &items, &n) != OTA_OK)
        return; /* the lease ends and it is tried again */
    char *body = n ? hook_body(d->id, d->grouped, items, n) : NULL;
    store_webhook_items_free(items, n);
    if (!body || hook_signature(hook->secret, body, strlen(body), sig, sizeof sig) != 0) {
        OTA_ERROR("webhook %lld: delivery %lld has no valid body", (long long)d->webhook_id,
                  (long long)d->id);
        free(body);
        finish(w, d, 0, 0, "no valid body", 0);
        return;
    }
    xfer *x = calloc(1, sizeof *x);
    if (!x)
        abort();
    x->d = *d;
    x->body = body;
    x->h = curl_easy_init();
    if (!x->h)
        abort();
    x->headers = curl_slist_append(x->headers, "Content-Type: application/json");
    x->headers = curl_slist_append(x->headers, "User-Agent: otad-webhook/1");
    x->headers = curl_slist_append(x->headers, "Expect:");
    snprintf(line, sizeof line, "X-Ota-Event: %s", d->event);
    x->headers = curl_slist_append(x->headers, line);
    snprintf(line, sizeof line, "X-Ota-Delivery: %lld", (long long)d->id);
    x->headers = curl_slist_append(x->headers, line);
    snprintf(line, sizeof line, "X-Ota-Signature: %s", sig);
    x->headers = curl_slist_append(x->headers, line);
    long timeout_ms = (long)w->cfg.timeout_s * 1000;
    curl_easy_setopt(x->h, CURLOPT_URL, hook->url);
#if LIBCURL_VERSION_NUM >= 0x075500
    curl_easy_setopt(x->h, CURLOPT_PROTOCOLS_STR, "http,https");
#else
    curl_easy_setopt(x->h, CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
    curl_easy_setopt(x->h, CURLOPT_HTTPHEADER, x->headers);
    curl_easy_setopt(x->h, CURLOPT_POSTFIELDS, x->body);
    curl_easy_setopt(x->h, CURLOPT_POSTFIELDSIZE, (long)strlen(x->body));
    curl_easy_setopt(x->h, CURLOPT_CONNECTTIMEOUT_MS, timeout_ms < 5000 ? timeout_ms : 5000L);
    curl_easy_setopt(x->h, CURLOPT_TIMEOUT_MS, timeout_ms);
    curl_easy_setopt(x->h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(x->h, CURLOPT_WRITEFUNCTION, discard);
    curl_easy_setopt(x->h, CURLOPT_ERRORBUFFER, x->err);
    curl_easy_setopt(x->h, CURLOPT_PRIVATE, x);
    x->start_mono = ota_time_mono_ms();
    if (curl_multi_add_handle(w->multi, x->h) != CURLM_OK) {
        finish(w, d, 0, 0, "transfer not started", 0);
        xfer_free(x);
        return;
    }
    x->next = w->active;
    w->active = x;
}

/* Step 1: assemble, then lease and start what is due, per webhook within its room. */
static void pass_when_due(webhooks *w)
{
    int64_t now = ota_time_now_ms(), mono = ota_time_mono_ms();
    store_webhook *hooks = NULL;
    size_t n = 0;
    int made, timed = mono >= w->next_pass;
    if (!timed && !w->refill)
        return;
    w->refill = 0;
    if (timed) {
        w->next_pass = mono + PASS_MS;
        if (store_webhook_assemble(w->store, now, w->cfg.time_scale, &made) != OTA_OK)
            return;
    }
    if (store_webhook_list(w->store, &hooks, &n) != OTA_OK)
        return;
    for (size_t i = 0; i < n; i++) {
        store_delivery *ds = NULL;
        size_t nd = 0;
        int room = w->cfg.concurrency - under_way(w, hooks[i].id);
        if (!hooks[i].enabled || room <= 0)
            continue;
        int64_t lease = now + (int64_t)w->cfg.timeout_s * 1000 + LEASE_EXTRA_MS;
        if (store_webhook_claim(w->store, hooks[i].id, now, lease, room, &ds, &nd) != OTA_OK)
            continue;
        for (size_t j = 0; j < nd; j++)
            start_transfer(w, &hooks[i], &ds[j]);
        free(ds);
    }
    free(hooks);
}

/* Step 3: each finished transfer's result. */
static void reap(webhooks *w)
{
    CURLMsg *m;
    int left;
    while ((m = curl_multi_info_read(w->multi, &left))) {
        if (m->msg != CURLMSG_DONE)
            continue;
        xfer *x = NULL, **pp;
        long status = 0;
        CURLcode cc = m->data.result;
        curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&x);
        curl_easy_getinfo(m->easy_handle, CURLINFO_RESPONSE_CODE, &status);
        curl_multi_remove_handle(w->multi, m->easy_handle);
        for (pp = &w->active; *pp && *pp != x; pp = &(*pp)->next)
            ;
        if (*pp)
            *pp = x->next;
        const char *err = cc == CURLE_OK ? "" : x->err[0] ? x->err : curl_easy_strerror(cc);
        int ok = cc == CURLE_OK && status >= 200 && status < 300;
        finish(w, &x->d, ok, cc == CURLE_OK ? (int)status : 0, err,
               ota_time_mono_ms() - x->start_mono);
        xfer_free(x);
        w->refill = 1;
    }
}

static void prune_when_due(webhooks *w)
{
    int64_t mono = ota_time_mono_ms();
    if (mono < w->next_prune)
        return;
    w->next_prune = mono + PRUNE_EVERY_MS;
    if (store_webhook_prune(w->store, ota_time_now_ms() - KEEP_MS) != OTA_OK)
        OTA_WARN("webhook: old deliveries not pruned (tried again in an hour)");
}

static void *worker_main(void *arg)
{
    webhooks *w = arg;
    while (!atomic_load(&w->stop)) {
        int running = 0;
        pass_when_due(w);
        curl_multi_perform(w->multi, &running);
        reap(w);
        prune_when_due(w);
        int64_t wait = w->refill ? 0 : w->next_pass - ota_time_mono_ms();
        if (wait > 0)
            curl_multi_poll(w->multi, NULL, 0, (int)(wait > PASS_MS ? PASS_MS : wait), NULL);
    }
    return NULL;
}

webhooks *webhook_start(store_t *s, const webhook_cfg *cfg)
{
    webhooks *w = calloc(1, sizeof *w);
    if (!w)
        abort();
    w->store = s;
    w->cfg = *cfg;
    if (w->cfg.time_scale <= 0)
        w->cfg.time_scale = 1;
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK || !(w->multi = curl_multi_init())) {
        OTA_ERROR("webhook: libcurl could not start");
        free(w);
        return NULL;
    }
    if (pthread_create(&w->thread, NULL, worker_main, w) != 0) {
        OTA_ERROR("webhook: worker thread could not start");
        curl_multi_cleanup(w->multi);
        free(w);
        return NULL;
    }
    pthread_setname_np(w->thread, "ota-webhook"); /* top -H, perf */
    OTA_INFO("webhook: worker started (timeout %d s, %d per webhook at once)", w->cfg.timeout_s,
             w->cfg.concurrency);
    return w;
}

void webhook_stop(webhooks *w)
{
    if (!w)
        return;
    atomic_store(&w->stop, 1);
    curl_multi_wakeup(w->multi);
    pthread_join(w->thread, NULL);
    while (w->active) {
        xfer *x = w->active;
        w->active = x->next;
        curl_multi_remove_handle(w->multi, x->h);
        xfer_free(x);
    }
    curl_multi_cleanup(w->multi);
    free(w);
}

void webhook_get_stats(webhooks *w, webhook_stats *out)
{
    memset(out, 0, sizeof *out);
    if (!w)
        return;
    out->delivered = atomic_load_explicit(&w->delivered, memory_order_relaxed);
    out->failed = atomic_load_explicit(&w->failed, memory_order_relaxed);
    out->dead = atomic_load_explicit(&w->dead, memory_order_relaxed);
}
