/*
 * rmq_presence.c: the RabbitMQ management API poller (rmq_presence.h says why).
 */
#include "mqtt/rmq_presence.h"

#include "ota_auth_rules.h"
#include "ota_log.h"
#include "ota_time.h"
#include "otaproto/ota_protocol.h"

#include <curl/curl.h>
#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#define RMQP_BODY_MAX (256u << 20) /* about 2,000,000 connections with the columns asked */
#define RMQP_STALE_MIN_MS 10000

struct rmqp {
    char **urls;
    size_t n_urls;
    int poll_ms;
    void (*on_snapshot)(void *ud, const char *const *clients, size_t n);
    void *ud;
    pthread_t th;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int stop;
    atomic_llong last_ok_ms; /* monotonic ms of the last good reading; 0 = none yet */
    char **prev;             /* the last list handed over (sorted) */
    size_t n_prev;
    int failing;             /* the last reading failed (logged once per change) */
};

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

void rmqp_free_list(char **list, size_t n)
{
    for (size_t i = 0; list && i < n; i++)
        free(list[i]);
    free(list);
}

int rmqp_parse(const char *body, size_t len, char ***out, size_t *n)
{
    *out = NULL;
    *n = 0;
    json_t *a = json_loadb(body, len, 0, NULL);
    if (!json_is_array(a)) {
        json_decref(a);
        return -1;
    }
    size_t cap = json_array_size(a), k = 0;
    char **list = calloc(cap ? cap : 1, sizeof *list);
    if (!list)
        abort();
    char pk[OTA_PRODUCT_KEY_MAX + 1], id[OTA_IDENT_MAX + 1];
    for (size_t i = 0; i < cap; i++) {
        json_t *cid = json_object_get(json_object_get(json_array_get(a, i), "client_properties"),
                                      "client_id");
        const char *s = json_string_value(cid);
        if (!s || auth_split_device(s, pk, id) != 0)
            continue;
        list[k] = strdup(s);
        if (!list[k])
            abort();
        k++;
    }
    json_decref(a);
    qsort(list, k, sizeof *list, cmp_str);
    size_t u = 0; /* a takeover can list one client id twice for a moment */
    for (size_t i = 0; i < k; i++) {
        if (u > 0 && strcmp(list[u - 1], list[i]) == 0) {
            free(list[i]);
            continue;
        }
        list[u++] = list[i];
    }
    *out = list;
    *n = u;
    return 0;
}

typedef struct {
    char *p;
    size_t len;
} rbody;

static size_t on_body(char *data, size_t size, size_t nmemb, void *ud)
{
    rbody *b = ud;
    size_t n = size * nmemb;
    if (b->len + n > RMQP_BODY_MAX)
        return 0;
    char *p = realloc(b->p, b->len + n + 1);
    if (!p)
        return 0;
    memcpy(p + b->len, data, n);
    b->p = p;
    b->len += n;
    b->p[b->len] = '\0';
    return n;
}

/* One reading from url: the device list, or -1 (why in err). */
static int read_once(const char *url, char ***list, size_t *n, char *err, size_t errlen)
{
    char full[1200];
    rbody b = {0};
    long status = 0;
    snprintf(full, sizeof full, "%s/api/connections?columns=client_properties", url);
    CURL *c = curl_easy_init();
    if (!c) {
        snprintf(err, errlen, "curl_easy_init failed");
        return -1;
    }
    curl_easy_setopt(c, CURLOPT_URL, full);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, 2000L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 30000L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    CURLcode rc = curl_easy_perform(c);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(c);
    int ret = -1;
    if (rc != CURLE_OK)
        snprintf(err, errlen, "%s", curl_easy_strerror(rc));
    else if (status != 200)
        snprintf(err, errlen, "HTTP status %ld", status);
    else if (rmqp_parse(b.p ? b.p : "", b.len, list, n) != 0)
        snprintf(err, errlen, "the answer is not a JSON array");
    else
        ret = 0;
    free(b.p);
    return ret;
}

static int same_list(char **a, size_t na, char **b, size_t nb)
{
    if (na != nb)
        return 0;
    for (size_t i = 0; i < na; i++)
        if (strcmp(a[i], b[i]) != 0)
            return 0;
    return 1;
}

/* The host part of a URL for logs (never the credentials). */
static const char *log_host(const char *url, char *out, size_t cap)
{
    const char *h = strstr(url, "://");
    h = h ? h + 3 : url;
    const char *at = strchr(h, '@');
    snprintf(out, cap, "%s", at ? at + 1 : h);
    return out;
}

static void *poll_thread(void *arg)
{
    rmqp *p = arg;
    pthread_mutex_lock(&p->mu);
    while (!p->stop) {
        pthread_mutex_unlock(&p->mu);
        char **list = NULL, err[200] = "", host[256];
        size_t n = 0;
        int ok = -1;
        for (size_t i = 0; i < p->n_urls && ok != 0; i++) {
            ok = read_once(p->urls[i], &list, &n, err, sizeof err);
            if (ok != 0 && !p->failing)
                OTA_WARN("presence: RabbitMQ management API %s: %s",
                         log_host(p->urls[i], host, sizeof host), err);
        }
        if (ok == 0) {
            if (p->failing || !atomic_load(&p->last_ok_ms))
                OTA_INFO("presence: RabbitMQ management API answers: %zu devices connected", n);
            p->failing = 0;
            if (!atomic_load(&p->last_ok_ms) || !same_list(list, n, p->prev, p->n_prev))
                p->on_snapshot(p->ud, (const char *const *)list, n);
            rmqp_free_list(p->prev, p->n_prev);
            p->prev = list;
            p->n_prev = n;
            atomic_store(&p->last_ok_ms, ota_time_mono_ms());
        } else {
            p->failing = 1;
        }
        pthread_mutex_lock(&p->mu);
        if (p->stop)
            break;
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += p->poll_ms / 1000;
        ts.tv_nsec += (long)(p->poll_ms % 1000) * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&p->cv, &p->mu, &ts);
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

rmqp *rmqp_start(const char *urls, int poll_ms,
                 void (*on_snapshot)(void *ud, const char *const *clients, size_t n), void *ud)
{
    rmqp *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    p->poll_ms = poll_ms > 0 ? poll_ms : 1000;
    p->on_snapshot = on_snapshot;
    p->ud = ud;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    for (const char *s = urls; *s;) {
        const char *c = strchr(s, ',');
        size_t l = c ? (size_t)(c - s) : strlen(s);
        while (l > 0 && s[l - 1] == '/') /* "http://h:15672/" and "http://h:15672" alike */
            l--;
        char **u = realloc(p->urls, (p->n_urls + 1) * sizeof *u);
        if (!u)
            abort();
        p->urls = u;
        p->urls[p->n_urls] = strndup(s, l);
        if (!p->urls[p->n_urls])
            abort();
        p->n_urls++;
        s = c ? c + 1 : s + strlen(s);
    }
    if (p->n_urls == 0 || pthread_create(&p->th, NULL, poll_thread, p) != 0) {
        OTA_ERROR("presence: the RabbitMQ poller could not start");
        p->th = 0;
        rmqp_stop(p);
        return NULL;
    }
    pthread_setname_np(p->th, "ota-rmq-pres"); /* top -H, perf */
    return p;
}

bool rmqp_ready(const rmqp *p)
{
    if (!p)
        return false;
    long long last = atomic_load(&((rmqp *)p)->last_ok_ms);
    long long stale = p->poll_ms * 3 > RMQP_STALE_MIN_MS ? p->poll_ms * 3 : RMQP_STALE_MIN_MS;
    return last && ota_time_mono_ms() - last <= stale;
}

void rmqp_stop(rmqp *p)
{
    if (!p)
        return;
    if (p->th) {
        pthread_mutex_lock(&p->mu);
        p->stop = 1;
        pthread_cond_signal(&p->cv);
        pthread_mutex_unlock(&p->mu);
        pthread_join(p->th, NULL);
    }
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->cv);
    for (size_t i = 0; i < p->n_urls; i++)
        free(p->urls[i]);
    free(p->urls);
    rmqp_free_list(p->prev, p->n_prev);
    free(p);
}
