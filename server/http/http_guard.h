/*
 * http_guard: watches otad's HTTP connections for the two things libmicrohttpd does not
 * enforce by itself: a request head that does not arrive complete within the head timeout
 * (however slowly its bytes trickle: libmicrohttpd's own timeout restarts at every byte),
 * and a peer that closed its side while its request is still incomplete (libmicrohttpd's
 * edge-triggered epoll loop can miss that close and hold the socket in CLOSE-WAIT, with its
 * upload temp file, until the idle timeout). Either way the guard shuts the socket down,
 * which libmicrohttpd sees at once and closes the connection (ending the request with
 * MHD_REQUEST_TERMINATED_*, so routes free what they hold).
 *
 * One watcher thread per guard: an epoll set of the connections whose request is incomplete
 * (woken by EPOLLRDHUP only, never by data) and a list of head deadlines in order, swept
 * every 100 ms. Load: one epoll_ctl per phase change of a connection; nothing per byte.
 * Thread-safe: libmicrohttpd's pool threads call in, the watcher acts under one mutex.
 */
#ifndef OTAD_HTTP_GUARD_H
#define OTAD_HTTP_GUARD_H

#include <stdint.h>

typedef struct http_guard http_guard;

/* One connection's watch; embedded by the caller (http.c's per-connection context) and
 * handed to every call below. Fields are private to http_guard.c. */
typedef struct http_guard_conn {
    int fd;
    int phase;           /* HG_* in http_guard.c */
    int64_t deadline_ms; /* head deadline (monotonic), while in the head phase */
    struct http_guard_conn *prev, *next; /* head-deadline list, or the freed list */
    struct http_guard_conn *rprev, *rnext; /* peer gone, bytes still unread: look again */
    int rechecking;                         /* on that list */
    int watch;   /* 0: not in the epoll set; 1: its one-shot close watch armed; 2: fired */
    void (*free_fn)(struct http_guard_conn *); /* frees the embedding context */
} http_guard_conn;

/* Starts the watcher. head_timeout_ms > 0. NULL on failure (logged). */
http_guard *http_guard_start(int64_t head_timeout_ms);
/* Stops the watcher and frees what it holds; call after every watched connection was
 * closed (after MHD_stop_daemon). NULL is fine. */
void http_guard_stop(http_guard *g);

/* A new connection on fd: its head deadline starts now. free_fn frees the memory c lives
 * in; the guard calls it once the connection is closed and no event can refer to it. */
void http_guard_opened(http_guard *g, http_guard_conn *c, int fd,
                       void (*free_fn)(http_guard_conn *));
/* The request head is complete: no deadline; the peer's close is still watched. */
void http_guard_head_done(http_guard *g, http_guard_conn *c);
/* The whole request is in (its answer goes out): nothing is watched. */
void http_guard_request_done(http_guard *g, http_guard_conn *c);
/* The answer is done and the connection stays open: the next head's deadline starts. */
void http_guard_idle(http_guard *g, http_guard_conn *c);
/* libmicrohttpd closes the connection (its fd is still open): the guard forgets it and
 * frees it later (free_fn). */
void http_guard_closed(http_guard *g, http_guard_conn *c);

#endif
