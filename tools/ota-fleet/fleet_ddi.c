/*
 * fleet_ddi: ota-fleet --ddi, a fleet of simulated hawkBit DDI devices (docs/ddi.md) for
 * tests and benchmarks. Each device polls /{pk}/controller/v1/{id} with its TargetToken at
 * the interval the server gives (or --ddi-poll-ms); when the poll offers a deployment it
 * fetches it (the ack), downloads the artifact (a --download share of the devices), sends
 * "proceeding" and then "closed"/"success", as a device does after its reboot, and goes on
 * polling. Once every device has polled once (which activates it) the batch of --batch is
 * created and watched (fleet_api_batch_thread); the fleet ends when the batch has ended
 * and every device that got a deployment has closed it, or at --duration.
 *
 * One process, libcurl multi: at most --ddi-concurrency requests in flight, over
 * keep-alive connections from libcurl's shared pool. Devices wait in two FIFO queues: the
 * next step of a deployment (now), and the next poll (due times in order, since every
 * device polls at the same interval). Expected load: 10,000 to 100,000 devices, a few
 * thousand requests a second. Memory: about 100 bytes a device.
 */
#include "fleet.h"

#include "ota_crypto.h"
#include "ota_log.h"
#include "ota_time.h"

#include <curl/curl.h>
#include <jansson.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern volatile sig_atomic_t fleet_stop_flag;

enum { ST_POLL = 0, ST_FETCH, ST_DOWNLOAD, ST_PROGRESS, ST_CLOSE };

typedef struct {
    char secret[OTA_DEVICE_SECRET_LEN + 1];
    uint8_t step;      /* ST_*: what its next request is */
    uint8_t polled;    /* polled once (activated) */
    uint8_t done;      /* closed its deployment with success (200) */
    uint8_t download;  /* downloads the artifact */
    long long action;  /* the deployment being worked on */
    char *dl_url;      /* its artifact link; owned */
    int64_t due;       /* next poll, ms since start */
} ddev;

typedef struct {
    uint32_t *v;
    size_t head, tail, cap; /* v[head..tail) */
} fifo;

typedef struct {
    CURL *h;
    uint32_t dev;
    int busy;
    char *buf;
    size_t len, cap;
    struct curl_slist *hdrs;
} slot;

typedef struct {
    const fleet_opts *o;
    ddev *d;
    uint32_t n;
    fifo now, later;
    slot *slots;
    int n_slots;
    int64_t t0, sleep_ms;
    uint64_t polls, requests, errors, downloaded;
    uint32_t polled, done, offered;
} ddi_fleet;

static void fifo_push(fifo *q, uint32_t x)
{
    if (q->tail == q->cap) {
        if (q->head > 0) {
            memmove(q->v, q->v + q->head, (q->tail - q->head) * sizeof *q->v);
            q->tail -= q->head;
            q->head = 0;
        } else {
            q->cap = q->cap ? q->cap * 2 : 1024;
            q->v = realloc(q->v, q->cap * sizeof *q->v);
            if (!q->v)
                abort();
        }
    }
    q->v[q->tail++] = x;
}

static int fifo_peek(const fifo *q, uint32_t *x)
{
    if (q->head == q->tail)
        return 0;
    *x = q->v[q->head];
    return 1;
}

static void fifo_pop(fifo *q)
{
    if (++q->head == q->tail)
        q->head = q->tail = 0;
}

static int64_t now_ms(const ddi_fleet *f)
{
    return ota_time_mono_ms() - f->t0;
}

static size_t on_body(char *p, size_t size, size_t nmemb, void *ud)
{
    slot *s = ud;
    size_t n = size * nmemb;
    if (s->cap == (size_t)-1) /* a download: counted, not kept */
        return n;
    if (s->len + n + 1 > s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 4096;
        while (cap < s->len + n + 1)
            cap *= 2;
        char *b = realloc(s->buf, cap);
        if (!b)
            return 0;
        s->buf = b;
        s->cap = cap;
    }
    memcpy(s->buf + s->len, p, n);
    s->len += n;
    s->buf[s->len] = '\0';
    return n;
}

/* The base of device i's paths: {api}/{pk}/controller/v1/{prefix}{first+i}. */
static void dev_url(const ddi_fleet *f, uint32_t i, const char *rest, char *out, size_t len)
{
    const char *api = f->o->api_url;
    size_t alen = strcspn(api, ",");
    snprintf(out, len, "%.*s/%s/controller/v1/%s%06u%s", (int)alen, api, f->o->product_key,
             f->o->prefix, f->o->first + i, rest);
}

/* Starts device i's next request on slot s. */
static void start(ddi_fleet *f, CURLM *m, slot *s, uint32_t i)
{
    ddev *d = &f->d[i];
    char url[1024], auth[96], rest[96], body[320];
    const char *method = "GET";
    s->dev = i;
    s->busy = 1;
    s->len = 0;
    s->cap = s->cap == (size_t)-1 ? 0 : s->cap;
    curl_easy_reset(s->h);
    curl_slist_free_all(s->hdrs);
    s->hdrs = NULL;
    snprintf(auth, sizeof auth, "Authorization: TargetToken %s", d->secret);
    s->hdrs = curl_slist_append(s->hdrs, auth);
    body[0] = '\0';
    switch (d->step) {
    case ST_POLL:
        dev_url(f, i, "", url, sizeof url);
        f->polls++;
        break;
    case ST_FETCH:
        snprintf(rest, sizeof rest, "/deploymentBase/%lld", d->action);
        dev_url(f, i, rest, url, sizeof url);
        break;
    case ST_DOWNLOAD:
        snprintf(url, sizeof url, "%s", d->dl_url ? d->dl_url : "");
        s->cap = (size_t)-1;
        break;
    default:
        snprintf(rest, sizeof rest, "/deploymentBase/%lld/feedback", d->action);
        dev_url(f, i, rest, url, sizeof url);
        method = "POST";
        if (d->step == ST_PROGRESS)
            snprintf(body, sizeof body,
                     "{\"id\":\"%lld\",\"status\":{\"execution\":\"proceeding\",\"result\":{"
                     "\"finished\":\"none\",\"progress\":{\"cnt\":1,\"of\":2}}}}",
                     d->action);
        else
            snprintf(body, sizeof body,
                     "{\"id\":\"%lld\",\"status\":{\"execution\":\"closed\",\"result\":{"
                     "\"finished\":\"success\"},\"details\":[\"installed\"]}}",
                     d->action);
        s->hdrs = curl_slist_append(s->hdrs, "Content-Type: application/json");
        break;
    }
    curl_easy_setopt(s->h, CURLOPT_URL, url);
    curl_easy_setopt(s->h, CURLOPT_HTTPHEADER, s->hdrs);
    curl_easy_setopt(s->h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(s->h, CURLOPT_WRITEDATA, s);
    curl_easy_setopt(s->h, CURLOPT_PRIVATE, s);
    curl_easy_setopt(s->h, CURLOPT_TIMEOUT, 60L);
    curl_easy_setopt(s->h, CURLOPT_NOSIGNAL, 1L);
    if (f->o->cafile[0])
        curl_easy_setopt(s->h, CURLOPT_CAINFO, f->o->cafile);
    if (body[0]) {
        curl_easy_setopt(s->h, CURLOPT_CUSTOMREQUEST, method);
        curl_easy_setopt(s->h, CURLOPT_COPYPOSTFIELDS, body);
    }
    curl_multi_add_handle(m, s->h);
    f->requests++;
}

/* Sleep "HH:MM:SS" of a poll answer in ms (0 when absent or malformed). */
static int64_t sleep_of(json_t *a)
{
    const char *s = json_string_value(
        json_object_get(json_object_get(json_object_get(a, "config"), "polling"), "sleep"));
    int h, m, sec;
    if (!s || sscanf(s, "%d:%d:%d", &h, &m, &sec) != 3)
        return 0;
    return ((int64_t)h * 3600 + m * 60 + sec) * 1000;
}

static void schedule_poll(ddi_fleet *f, uint32_t i)
{
    f->d[i].step = ST_POLL;
    f->d[i].due = now_ms(f) + f->sleep_ms;
    fifo_push(&f->later, i);
}

/* Device i's request on s ended with status (0: no answer). */
static void finished(ddi_fleet *f, slot *s, long status)
{
    uint32_t i = s->dev;
    ddev *d = &f->d[i];
    json_t *a = NULL;
    if (status != 200) {
        f->errors++;
        if (f->o->verbose)
            OTA_WARN("fleet ddi: device %u step %d: HTTP %ld", i, d->step, status);
        schedule_poll(f, i); /* start over from the next poll */
        return;
    }
    switch (d->step) {
    case ST_POLL:
        if (!d->polled) {
            d->polled = 1;
            f->polled++;
        }
        a = json_loads(s->buf ? s->buf : "", 0, NULL);
        if (!f->o->ddi_poll_ms && sleep_of(a) > 0)
            f->sleep_ms = sleep_of(a);
        {
            const char *href = json_string_value(json_object_get(
                json_object_get(json_object_get(a, "_links"), "deploymentBase"), "href"));
            const char *p = href ? strstr(href, "/deploymentBase/") : NULL;
            if (p && !d->done) {
                long long act = strtoll(p + 16, NULL, 10);
                if (act != d->action)
                    f->offered++;
                d->action = act;
                d->step = ST_FETCH;
                fifo_push(&f->now, i);
            } else {
                schedule_poll(f, i);
            }
        }
        break;
    case ST_FETCH: {
        a = json_loads(s->buf ? s->buf : "", 0, NULL);
        json_t *art = json_array_get(
            json_object_get(json_array_get(json_object_get(json_object_get(a, "deployment"),
                                                           "chunks"),
                                           0),
                            "artifacts"),
            0);
        const char *url = json_string_value(
            json_object_get(json_object_get(json_object_get(art, "_links"), "download-http"),
                            "href"));
        free(d->dl_url);
        d->dl_url = url ? strdup(url) : NULL;
        d->step = d->download && d->dl_url ? ST_DOWNLOAD : ST_PROGRESS;
        fifo_push(&f->now, i);
        break;
    }
    case ST_DOWNLOAD:
        d->step = ST_PROGRESS;
        fifo_push(&f->now, i);
        break;
    case ST_PROGRESS:
        d->step = ST_CLOSE;
        fifo_push(&f->now, i);
        break;
    case ST_CLOSE:
        d->done = 1;
        f->done++;
        schedule_poll(f, i);
        break;
    }
    json_decref(a);
}

/* Writes --summary-json and prints the summary. */
static void report(const ddi_fleet *f, const fleet_batch_ctl *b, int64_t elapsed)
{
    long long batch_ms = b->t_end > 0 ? (long long)(b->t_end - b->t_create) : 0;
    double rate = batch_ms > 0 ? (double)b->succeeded * 60000.0 / (double)batch_ms : 0;
    printf("ota-fleet --ddi: %u devices, %u polled, %u offered a deployment, %u closed it; "
           "%llu polls, %llu requests, %llu errors in %lld ms",
           f->n, f->polled, f->offered, f->done, (unsigned long long)f->polls,
           (unsigned long long)f->requests, (unsigned long long)f->errors, (long long)elapsed);
    if (f->o->batch_firmware > 0)
        printf("; batch %s %s: %lld succeeded, %lld failed in %lld ms (%.0f devices/min)",
               b->batch_id, b->state, b->succeeded, b->failed_devices, batch_ms, rate);
    printf("\n");
    if (!f->o->summary_json[0])
        return;
    FILE *fp = fopen(f->o->summary_json, "w");
    if (!fp)
        return;
    fprintf(fp,
            "{\"ddi\":true,\"devices\":%u,\"polled\":%u,\"offered\":%u,\"closed\":%u,"
            "\"polls\":%llu,\"requests\":%llu,\"errors\":%llu,\"elapsedMs\":%lld,"
            "\"batchId\":\"%s\",\"batchState\":\"%s\",\"batchTotal\":%lld,\"succeeded\":%lld,"
            "\"failed\":%lld,\"batchMs\":%lld,\"serverMs\":%lld,\"devicesPerMin\":%.0f}\n",
            f->n, f->polled, f->offered, f->done, (unsigned long long)f->polls,
            (unsigned long long)f->requests, (unsigned long long)f->errors, (long long)elapsed,
            b->batch_id, b->state, b->total, b->succeeded, b->failed_devices, batch_ms,
            (long long)b->server_ms, rate);
    fclose(fp);
}

int fleet_ddi_main(const fleet_opts *o, const unsigned char key[32])
{
    ddi_fleet f = {0};
    fleet_batch_ctl b = {0};
    pthread_t bt;
    int have_batch = o->batch_firmware > 0, rc = 1;
    char id[96];
    f.o = o;
    f.n = o->n_devices;
    f.t0 = ota_time_mono_ms();
    f.sleep_ms = o->ddi_poll_ms > 0 ? o->ddi_poll_ms : 1000; /* until the server says */
    f.d = calloc(f.n ? f.n : 1, sizeof *f.d);
    f.n_slots = o->ddi_concurrency > 0 ? o->ddi_concurrency : 1000;
    f.slots = calloc((size_t)f.n_slots, sizeof *f.slots);
    CURLM *m = curl_multi_init();
    if (!f.d || !f.slots || !m)
        abort();
    curl_multi_setopt(m, CURLMOPT_MAX_TOTAL_CONNECTIONS, (long)f.n_slots);
    curl_multi_setopt(m, CURLMOPT_MAXCONNECTS, (long)f.n_slots);
    for (int k = 0; k < f.n_slots; k++)
        if (!(f.slots[k].h = curl_easy_init()))
            abort();
    for (uint32_t i = 0; i < f.n; i++) {
        snprintf(id, sizeof id, "%s%06u", o->prefix, o->first + i);
        if (ota_secret_device(key, o->product_key, id, f.d[i].secret, sizeof f.d[i].secret) != 0)
            goto out;
        f.d[i].download = o->download_pct > 0 && (i * 100u / (f.n ? f.n : 1)) % 100 <
                                                     (unsigned)o->download_pct;
        fifo_push(&f.now, i); /* the first poll at once */
    }
    b.t0 = f.t0;
    fleet_api_batch_bind(&b, o);
    if (have_batch && pthread_create(&bt, NULL, fleet_api_batch_thread, &b) != 0)
        goto out;
    int64_t end = o->duration_s > 0 ? (int64_t)o->duration_s * 1000 : INT64_MAX;
    int free_slots = f.n_slots;
    while (!fleet_stop_flag && now_ms(&f) < end) {
        if (have_batch && f.polled == f.n && atomic_load(&b.ready_to_start) == 0)
            atomic_store(&b.ready_to_start, 1);
        if (have_batch ? atomic_load(&b.done) && f.done >= f.offered
                       : f.polled == f.n && free_slots == f.n_slots)
            break;
        /* start what is due, deployments first */
        for (int k = 0; k < f.n_slots && free_slots > 0; k++) {
            uint32_t i;
            if (f.slots[k].busy)
                continue;
            if (fifo_peek(&f.now, &i)) {
                fifo_pop(&f.now);
            } else if (fifo_peek(&f.later, &i) && f.d[i].due <= now_ms(&f)) {
                fifo_pop(&f.later);
            } else {
                break;
            }
            start(&f, m, &f.slots[k], i);
            free_slots--;
        }
        int running = 0;
        curl_multi_perform(m, &running);
        curl_multi_poll(m, NULL, 0, 5, NULL);
        curl_multi_perform(m, &running);
        CURLMsg *msg;
        int left;
        while ((msg = curl_multi_info_read(m, &left))) {
            if (msg->msg != CURLMSG_DONE)
                continue;
            char *priv = NULL;
            long status = 0;
            curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &priv);
            slot *s = (slot *)priv;
            if (msg->data.result == CURLE_OK)
                curl_easy_getinfo(msg->easy_handle, CURLINFO_RESPONSE_CODE, &status);
            curl_multi_remove_handle(m, msg->easy_handle);
            if (f.d[s->dev].step == ST_DOWNLOAD) {
                curl_off_t got = 0;
                curl_easy_getinfo(msg->easy_handle, CURLINFO_SIZE_DOWNLOAD_T, &got);
                f.downloaded += (uint64_t)got;
                s->cap = 0;
            }
            s->busy = 0;
            free_slots++;
            finished(&f, s, status);
        }
    }
    if (have_batch) {
        atomic_store(&b.ready_to_start, 2); /* a controller still waiting gives up */
        pthread_join(bt, NULL);
    }
    report(&f, &b, now_ms(&f));
    rc = (have_batch && (b.failed || strcmp(b.state, "completed") != 0)) || f.polled < f.n ? 1
                                                                                          : 0;
out:
    for (int k = 0; k < f.n_slots; k++) {
        if (f.slots[k].busy)
            curl_multi_remove_handle(m, f.slots[k].h);
        curl_easy_cleanup(f.slots[k].h);
        curl_slist_free_all(f.slots[k].hdrs);
        free(f.slots[k].buf);
    }
    curl_multi_cleanup(m);
    for (uint32_t i = 0; i < f.n; i++)
        free(f.d[i].dl_url);
    free(f.d);
    free(f.slots);
    free(f.now.v);
    free(f.later.v);
    return rc;
}
