/*
 * http_guard: head deadlines and peer closes of otad's HTTP connections (see http_guard.h).
 *
 * A connection goes HEAD (deadline running, close watched) -> BODY (close watched) ->
 * ANSWER (a close is ignored) -> HEAD again when it is kept alive, and CLOSED at the end.
 * Closing is done with shutdown(): the fd stays libmicrohttpd's, which sees the shutdown
 * as an event on its own epoll set and closes the connection itself.
 *
 * Memory safety of events: the epoll data is the connection's address. A closed connection
 * is removed from the epoll set first, then parked on the freed list, which the watcher
 * empties only before its next epoll_wait; an event returned earlier finds it CLOSED under
 * the mutex and is ignored.
 */
#include "http/http_guard.h"

#include "ota_log.h"
#include "ota_time.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

enum { HG_HEAD = 1, HG_BODY, HG_ANSWER, HG_CLOSED };

#define HG_TICK_MS 100
#define HG_REPORT_MS 60000

struct http_guard {
    pthread_mutex_t mu;
    pthread_t thread;
    int epfd;
    atomic_int stop;
    int64_t head_timeout_ms;
    http_guard_conn *head_first, *head_last; /* HEAD phase, by deadline (= by entry) */
    http_guard_conn *freed;                  /* closed, waiting for the next tick */
    http_guard_conn *recheck;                /* peer gone with bytes unread: next tick */
    /* counts since the last report, logged at most once a minute */
    unsigned long n_head_timeouts, n_peer_closes;
    int64_t last_report_ms;
};

static void head_list_remove(http_guard *g, http_guard_conn *c)
{
    if (c->prev)
        c->prev->next = c->next;
    else
        g->head_first = c->next;
    if (c->next)
        c->next->prev = c->prev;
    else
        g->head_last = c->prev;
    c->prev = c->next = NULL;
}

static void recheck_remove(http_guard *g, http_guard_conn *c)
{
    if (!c->rechecking)
        return;
    if (c->rprev)
        c->rprev->rnext = c->rnext;
    else
        g->recheck = c->rnext;
    if (c->rnext)
        c->rnext->rprev = c->rprev;
    c->rprev = c->rnext = NULL;
    c->rechecking = 0;
}

static void recheck_add(http_guard *g, http_guard_conn *c)
{
    if (c->rechecking)
        return;
    c->rprev = NULL;
    c->rnext = g->recheck;
    if (g->recheck)
        g->recheck->rprev = c;
    g->recheck = c;
    c->rechecking = 1;
}

static void head_list_append(http_guard *g, http_guard_conn *c)
{
    c->deadline_ms = ota_time_mono_ms() + g->head_timeout_ms;
    c->next = NULL;
    c->prev = g->head_last;
    if (g->head_last)
        g->head_last->next = c;
    else
        g->head_first = c;
    g->head_last = c;
}

/* Arms the one-shot watch of the peer's close on c (want = 1), or takes c out of the epoll
 * set (want = 0: it closes). Called under g->mu. A watch that has not fired stays armed
 * through the answer (on_peer_close ignores a close then, and a connection kept alive is
 * watched again in its next head), so a kept-alive request makes no epoll_ctl call at all:
 * only a fired watch is armed again (EPOLL_CTL_MOD reports a close that already happened). */
static void watch_close(http_guard *g, http_guard_conn *c, int want)
{
    struct epoll_event ev;
    memset(&ev, 0, sizeof ev);
    ev.events = EPOLLRDHUP | EPOLLONESHOT;
    ev.data.ptr = c;
    if (!want) {
        if (c->watch)
            epoll_ctl(g->epfd, EPOLL_CTL_DEL, c->fd, &ev);
        c->watch = 0;
        return;
    }
    if (c->watch == 1)
        return;
    if ((c->watch == 0 || epoll_ctl(g->epfd, EPOLL_CTL_MOD, c->fd, &ev) != 0) &&
        epoll_ctl(g->epfd, EPOLL_CTL_ADD, c->fd, &ev) != 0) {
        OTA_WARN("http: cannot watch connection fd %d: %s", c->fd, strerror(errno));
        return;
    }
    c->watch = 1;
}

static void set_phase(http_guard *g, http_guard_conn *c, int phase)
{
    if (c->phase == HG_HEAD)
        head_list_remove(g, c);
    if (phase != HG_HEAD && phase != HG_BODY)
        recheck_remove(g, c); /* else a gone peer is still looked at */
    if (phase == HG_HEAD)
        head_list_append(g, c);
    if (phase == HG_HEAD || phase == HG_BODY)
        watch_close(g, c, 1);
    c->phase = phase;
}

/* The peer closed its side while the request is incomplete. Unread bytes may still finish
 * the request (a client that half-closes after its request): then libmicrohttpd reads them
 * and the answer goes out, so look again at the next tick. With nothing left to read, the
 * request can never complete. */
static void on_peer_close(http_guard *g, http_guard_conn *c)
{
    int pending = 0;
    if (c->phase != HG_HEAD && c->phase != HG_BODY)
        return;
    if (ioctl(c->fd, FIONREAD, &pending) == 0 && pending > 0) {
        recheck_add(g, c); /* the one-shot watch stays off until then */
        return;
    }
    shutdown(c->fd, SHUT_RDWR);
    set_phase(g, c, HG_ANSWER); /* acted upon: nothing more to watch */
    g->n_peer_closes++;
}

static void sweep_heads(http_guard *g, int64_t now)
{
    while (g->head_first && g->head_first->deadline_ms <= now) {
        http_guard_conn *c = g->head_first;
        shutdown(c->fd, SHUT_RDWR);
        set_phase(g, c, HG_ANSWER);
        g->n_head_timeouts++;
    }
}

static void report(http_guard *g, int64_t now)
{
    if (now - g->last_report_ms < HG_REPORT_MS)
        return;
    if (g->n_head_timeouts)
        OTA_WARN("http: closed %lu connections that sent no complete request head within "
                 "%lld s (since the last report)",
                 g->n_head_timeouts, (long long)(g->head_timeout_ms / 1000));
    if (g->n_peer_closes)
        OTA_INFO("http: closed %lu connections whose client left mid-request (since the last "
                 "report)",
                 g->n_peer_closes);
    g->n_head_timeouts = g->n_peer_closes = 0;
    g->last_report_ms = now;
}

static void free_parked(http_guard *g)
{
    pthread_mutex_lock(&g->mu);
    http_guard_conn *list = g->freed;
    g->freed = NULL;
    pthread_mutex_unlock(&g->mu);
    while (list) {
        http_guard_conn *next = list->next;
        list->free_fn(list);
        list = next;
    }
}

static void *watcher(void *arg)
{
    http_guard *g = arg;
    struct epoll_event evs[64];
    while (!g->stop) {
        free_parked(g);
        int n = epoll_wait(g->epfd, evs, 64, HG_TICK_MS);
        pthread_mutex_lock(&g->mu);
        for (int i = 0; i < n; i++) {
            http_guard_conn *c = evs[i].data.ptr;
            if (c->phase == HG_CLOSED)
                continue;
            c->watch = 2; /* one-shot: disarmed until watch_close arms it again */
            on_peer_close(g, c);
        }
        http_guard_conn *again = g->recheck;
        while (again) { /* on_peer_close takes it off the list or puts it back */
            http_guard_conn *next = again->rnext;
            recheck_remove(g, again);
            on_peer_close(g, again);
            again = next;
        }
        int64_t now = ota_time_mono_ms();
        sweep_heads(g, now);
        report(g, now);
        pthread_mutex_unlock(&g->mu);
    }
    return NULL;
}

http_guard *http_guard_start(int64_t head_timeout_ms)
{
    http_guard *g = calloc(1, sizeof *g);
    if (!g)
        abort();
    g->head_timeout_ms = head_timeout_ms;
    g->last_report_ms = ota_time_mono_ms();
    g->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (g->epfd < 0) {
        OTA_ERROR("http: epoll_create1: %s", strerror(errno));
        free(g);
        return NULL;
    }
    pthread_mutex_init(&g->mu, NULL);
    int rc = pthread_create(&g->thread, NULL, watcher, g);
    if (rc != 0) {
        OTA_ERROR("http: cannot start the connection watcher: %s", strerror(rc));
        pthread_mutex_destroy(&g->mu);
        close(g->epfd);
        free(g);
        return NULL;
    }
    return g;
}

void http_guard_stop(http_guard *g)
{
    if (!g)
        return;
    g->stop = 1;
    pthread_join(g->thread, NULL);
    free_parked(g);
    pthread_mutex_destroy(&g->mu);
    close(g->epfd);
    free(g);
}

void http_guard_opened(http_guard *g, http_guard_conn *c, int fd,
                       void (*free_fn)(http_guard_conn *))
{
    memset(c, 0, sizeof *c);
    c->fd = fd;
    c->free_fn = free_fn;
    pthread_mutex_lock(&g->mu);
    set_phase(g, c, HG_HEAD);
    pthread_mutex_unlock(&g->mu);
}

static void change(http_guard *g, http_guard_conn *c, int phase)
{
    pthread_mutex_lock(&g->mu);
    if (c->phase != HG_CLOSED && c->phase != phase)
        set_phase(g, c, phase);
    pthread_mutex_unlock(&g->mu);
}

void http_guard_head_done(http_guard *g, http_guard_conn *c)
{
    change(g, c, HG_BODY);
}

void http_guard_request_done(http_guard *g, http_guard_conn *c)
{
    change(g, c, HG_ANSWER);
}

void http_guard_idle(http_guard *g, http_guard_conn *c)
{
    change(g, c, HG_HEAD);
}

void http_guard_closed(http_guard *g, http_guard_conn *c)
{
    pthread_mutex_lock(&g->mu);
    set_phase(g, c, HG_ANSWER); /* out of the head list */
    watch_close(g, c, 0);       /* and of the epoll set */
    c->phase = HG_CLOSED;
    c->next = g->freed;
    g->freed = c;
    pthread_mutex_unlock(&g->mu);
}
