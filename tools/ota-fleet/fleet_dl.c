/*
 * fleet_dl: the simulated devices' firmware downloads. libcurl's multi interface driven by
 * the fleet's own epoll set (CURLMOPT_SOCKETFUNCTION / TIMERFUNCTION), so thousands of
 * devices share one thread with their MQTT clients. At most `concurrency` downloads run at
 * once, the rest wait in a FIFO. A device fetches its firmware in Range requests of
 * `range_size` bytes (each must answer 206 with exactly the asked bytes), feeds every
 * byte to MD5 and compares the digest with the push's `sign`. Nothing is written to disk.
 *
 * Expected load: up to a few hundred concurrent transfers, GB/s on loopback.
 */
#include "fleet.h"

#include "ota_log.h"
#include "ota_time.h"

#include <curl/curl.h>
#include <errno.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>

#define TAG_CURL 2u

typedef struct dl_job {
    struct dl_job *next, *prev; /* the fleet_dl's list of running jobs */
    fleet_dl *d;
    fleet_dev *dev;
    CURL *easy;
    EVP_MD_CTX *md5;
    int64_t off;     /* bytes verified so far */
    int64_t total;   /* expected size, 0 when unknown */
    int64_t req_len; /* bytes asked in the current request, 0: whole body */
    int64_t got;     /* bytes of the current request */
    char err[CURL_ERROR_SIZE];
} dl_job;

struct fleet_dl {
    CURLM *multi;
    int epfd;
    int concurrency;
    long range_size;
    const char *cafile; /* borrowed from the options; "" = the system's CAs */
    fleet_dl_done_fn done;
    void *ud;
    fleet_dev **queue; /* FIFO ring */
    size_t q_cap, q_head, q_len;
    int active;
    dl_job *jobs; /* running */
    uint64_t bytes;
    int64_t due; /* monotonic ms of curl's timeout, -1 none */
};

static int sock_cb(CURL *e, curl_socket_t s, int what, void *userp, void *socketp)
{
    fleet_dl *d = userp;
    (void)e;
    (void)socketp;
    struct epoll_event ev = {0};
    if (what == CURL_POLL_REMOVE) {
        epoll_ctl(d->epfd, EPOLL_CTL_DEL, s, NULL);
        return 0;
    }
    ev.events = (what & CURL_POLL_IN ? EPOLLIN : 0) | (what & CURL_POLL_OUT ? EPOLLOUT : 0);
    ev.data.u64 = ((uint64_t)TAG_CURL << 32) | (uint32_t)s;
    if (epoll_ctl(d->epfd, EPOLL_CTL_MOD, s, &ev) != 0 && errno == ENOENT)
        epoll_ctl(d->epfd, EPOLL_CTL_ADD, s, &ev);
    return 0;
}

static int timer_cb(CURLM *m, long timeout_ms, void *userp)
{
    fleet_dl *d = userp;
    (void)m;
    d->due = timeout_ms < 0 ? -1 : ota_time_mono_ms() + timeout_ms;
    return 0;
}

static size_t write_cb(char *ptr, size_t size, size_t nmemb, void *ud)
{
    dl_job *j = ud;
    size_t n = size * nmemb;
    if (j->req_len > 0 && j->got + (int64_t)n > j->req_len)
        return 0; /* more than asked: abort the transfer */
    EVP_DigestUpdate(j->md5, ptr, n);
    j->got += (int64_t)n;
    j->d->bytes += n;
    j->dev->downloaded += n;
    return n;
}

/* Sets up the next request of job j (Range from j->off). */
static void job_request(dl_job *j)
{
    char range[64];
    j->got = 0;
    j->req_len = 0;
    if (j->d->range_size > 0 && j->total > 0) {
        int64_t end = j->off + j->d->range_size;
        if (end > j->total)
            end = j->total;
        j->req_len = end - j->off;
        snprintf(range, sizeof range, "%lld-%lld", (long long)j->off, (long long)end - 1);
        curl_easy_setopt(j->easy, CURLOPT_RANGE, range);
    } else {
        curl_easy_setopt(j->easy, CURLOPT_RANGE, NULL);
    }
    curl_multi_add_handle(j->d->multi, j->easy);
}

static void pump(fleet_dl *d)
{
    while (d->active < d->concurrency && d->q_len) {
        fleet_dev *dev = d->queue[d->q_head];
        d->q_head = (d->q_head + 1) % d->q_cap;
        d->q_len--;
        dl_job *j = calloc(1, sizeof *j);
        if (!j) {
            d->done(d->ud, dev, 0, 0, "out of memory");
            continue;
        }
        j->d = d;
        j->dev = dev;
        j->total = dev->size > 0 ? dev->size : 0;
        j->easy = curl_easy_init();
        j->md5 = EVP_MD_CTX_new();
        if (!j->easy || !j->md5 || !EVP_DigestInit_ex(j->md5, EVP_md5(), NULL)) {
            curl_easy_cleanup(j->easy);
            EVP_MD_CTX_free(j->md5);
            free(j);
            d->done(d->ud, dev, 0, 0, "cannot set up the transfer");
            continue;
        }
        curl_easy_setopt(j->easy, CURLOPT_URL, dev->url);
        curl_easy_setopt(j->easy, CURLOPT_WRITEFUNCTION, write_cb);
        curl_easy_setopt(j->easy, CURLOPT_WRITEDATA, j);
        curl_easy_setopt(j->easy, CURLOPT_PRIVATE, j);
        curl_easy_setopt(j->easy, CURLOPT_ERRORBUFFER, j->err);
        curl_easy_setopt(j->easy, CURLOPT_NOSIGNAL, 1L);
        if (d->cafile[0])
            curl_easy_setopt(j->easy, CURLOPT_CAINFO, d->cafile);
        curl_easy_setopt(j->easy, CURLOPT_CONNECTTIMEOUT, 10L);
        curl_easy_setopt(j->easy, CURLOPT_LOW_SPEED_LIMIT, 1L);
        curl_easy_setopt(j->easy, CURLOPT_LOW_SPEED_TIME, 30L);
        d->active++;
        j->next = d->jobs;
        if (d->jobs)
            d->jobs->prev = j;
        d->jobs = j;
        job_request(j);
    }
}

static void job_end(dl_job *j, int ok, int md5_ok, const char *err)
{
    fleet_dl *d = j->d;
    fleet_dev *dev = j->dev;
    if (j->prev)
        j->prev->next = j->next;
    else
        d->jobs = j->next;
    if (j->next)
        j->next->prev = j->prev;
    curl_easy_cleanup(j->easy);
    EVP_MD_CTX_free(j->md5);
    free(j);
    d->active--;
    d->done(d->ud, dev, ok, md5_ok, err);
}

static void check_done(fleet_dl *d)
{
    CURLMsg *msg;
    int left;
    while ((msg = curl_multi_info_read(d->multi, &left))) {
        if (msg->msg != CURLMSG_DONE)
            continue;
        CURL *e = msg->easy_handle;
        CURLcode res = msg->data.result;
        dl_job *j = NULL;
        long status = 0;
        char err[CURL_ERROR_SIZE + 64];
        curl_easy_getinfo(e, CURLINFO_PRIVATE, (char **)&j);
        curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
        curl_multi_remove_handle(d->multi, e);
        if (res != CURLE_OK) {
            snprintf(err, sizeof err, "%s (%s)", curl_easy_strerror(res), j->err);
            job_end(j, 0, 0, err);
            continue;
        }
        if (j->req_len > 0) {
            /* a Range request: 206 with exactly the bytes asked; a 200 is accepted only
             * when the range was the whole file */
            int whole = j->off == 0 && j->req_len == j->total;
            if (!(status == 206 || (status == 200 && whole)) || j->got != j->req_len) {
                snprintf(err, sizeof err, "range %lld+%lld: HTTP %ld, %lld bytes",
                         (long long)j->off, (long long)j->req_len, status, (long long)j->got);
                job_end(j, 0, 0, err);
                continue;
            }
        } else if (status != 200 || (j->total > 0 && j->got != j->total)) {
            snprintf(err, sizeof err, "HTTP %ld, %lld bytes", status, (long long)j->got);
            job_end(j, 0, 0, err);
            continue;
        }
        j->off += j->got;
        if (j->total > 0 && j->off < j->total) {
            job_request(j);
            continue;
        }
        unsigned char md[EVP_MAX_MD_SIZE];
        unsigned int mdlen = 0;
        char hex[2 * EVP_MAX_MD_SIZE + 1];
        EVP_DigestFinal_ex(j->md5, md, &mdlen);
        for (unsigned i = 0; i < mdlen; i++)
            snprintf(hex + 2 * i, 3, "%02x", md[i]);
        int md5_ok = j->dev->md5[0] == 0 || strcasecmp(hex, j->dev->md5) == 0;
        job_end(j, 1, md5_ok, md5_ok ? NULL : "md5 mismatch");
    }
    pump(d);
}

fleet_dl *fleet_dl_new(int epfd, int concurrency, long range_size, const char *cafile,
                       fleet_dl_done_fn done, void *ud)
{
    fleet_dl *d = calloc(1, sizeof *d);
    if (!d)
        return NULL;
    d->multi = curl_multi_init();
    d->q_cap = 1024;
    d->queue = malloc(d->q_cap * sizeof *d->queue);
    if (!d->multi || !d->queue) {
        fleet_dl_free(d);
        return NULL;
    }
    d->epfd = epfd;
    d->concurrency = concurrency > 0 ? concurrency : 1;
    d->range_size = range_size;
    d->cafile = cafile;
    d->done = done;
    d->ud = ud;
    d->due = -1;
    curl_multi_setopt(d->multi, CURLMOPT_SOCKETFUNCTION, sock_cb);
    curl_multi_setopt(d->multi, CURLMOPT_SOCKETDATA, d);
    curl_multi_setopt(d->multi, CURLMOPT_TIMERFUNCTION, timer_cb);
    curl_multi_setopt(d->multi, CURLMOPT_TIMERDATA, d);
    curl_multi_setopt(d->multi, CURLMOPT_MAX_HOST_CONNECTIONS, (long)d->concurrency);
    return d;
}

void fleet_dl_free(fleet_dl *d)
{
    if (!d)
        return;
    while (d->jobs) {
        dl_job *j = d->jobs;
        d->jobs = j->next;
        if (d->multi)
            curl_multi_remove_handle(d->multi, j->easy);
        curl_easy_cleanup(j->easy);
        EVP_MD_CTX_free(j->md5);
        free(j);
    }
    if (d->multi)
        curl_multi_cleanup(d->multi);
    free(d->queue);
    free(d);
}

void fleet_dl_start(fleet_dl *d, fleet_dev *dev)
{
    if (d->q_len == d->q_cap) {
        size_t cap = d->q_cap * 2;
        fleet_dev **q = malloc(cap * sizeof *q);
        if (!q) {
            d->done(d->ud, dev, 0, 0, "out of memory");
            return;
        }
        for (size_t i = 0; i < d->q_len; i++)
            q[i] = d->queue[(d->q_head + i) % d->q_cap];
        free(d->queue);
        d->queue = q;
        d->q_cap = cap;
        d->q_head = 0;
    }
    d->queue[(d->q_head + d->q_len) % d->q_cap] = dev;
    d->q_len++;
    pump(d);
}

void fleet_dl_event(fleet_dl *d, int fd, uint32_t events)
{
    int running = 0, mask = 0;
    if (events & EPOLLIN)
        mask |= CURL_CSELECT_IN;
    if (events & EPOLLOUT)
        mask |= CURL_CSELECT_OUT;
    if (events & (EPOLLERR | EPOLLHUP))
        mask |= CURL_CSELECT_ERR;
    curl_multi_socket_action(d->multi, fd, mask, &running);
    check_done(d);
}

long fleet_dl_timeout(fleet_dl *d)
{
    if (d->due < 0)
        return -1;
    int64_t t = d->due - ota_time_mono_ms();
    return t < 0 ? 0 : (long)t;
}

void fleet_dl_tick(fleet_dl *d)
{
    int running = 0;
    if (d->due < 0 || ota_time_mono_ms() < d->due)
        return;
    d->due = -1;
    curl_multi_socket_action(d->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    check_done(d);
}

int fleet_dl_active(fleet_dl *d)
{
    return d->active + (int)d->q_len;
}

uint64_t fleet_dl_bytes(fleet_dl *d)
{
    return d->bytes;
}
