/*
 * http: otad's HTTP server on libmicrohttpd (internal polling thread + thread pool), the
 * route table and the helpers every route file uses: JSON answers and JSON errors, a
 * request body collected under a hard ceiling (or streamed to the route), query and
 * paging parameters, who the caller is and what their role allows (auth.c), and files
 * sent by file descriptor with Range.
 *
 * Route files: a route file defines `const http_route http_routes_<name>[]` ending with
 * HTTP_ROUTES_END and adds one line `X(<name>)` to HTTP_ROUTE_FILES in http_routes.h.
 * Tables are searched in that order; the console's catch-all comes last. Every route
 * names who may call it (http_access): the router answers 401 without a valid credential
 * and 403 `forbidden` when the caller's role is below the route's, before the handler
 * runs. `otad --list-routes` prints each route with it, docs/openapi.yaml shows it
 * (x-ota-role), test_http_routes refuses a route without one and test_api_roles calls
 * every route with every role.
 *
 * Handlers run on libmicrohttpd's pool threads; each request is handled by one thread
 * from start to end. A handler answers exactly once with one of the http_send_* helpers
 * (each returns the MHD result to return from the handler).
 */
#ifndef OTAD_HTTP_H
#define OTAD_HTTP_H

#include "core/account.h"
#include "core/config.h"
#include "core/reqparse.h"
#include "store/store.h"
#include "store/store_accounts.h"
#include "store/store_audit.h"

#include <jansson.h>
#include <microhttpd.h>
#include <stdatomic.h>
#include <stdint.h>

typedef struct http_req http_req;
typedef struct http_server http_server;

/* What handlers may use from the running service. Owned by otad; outlives the server. */
typedef struct {
    const cfg_t *cfg;
    store_t *store;
    const char *admin_token;      /* compared in constant time; never logged */
    unsigned char server_key[32]; /* device secrets, URL signing */
    char data_dir[CFG_STR_MAX];
    char console_dir[CFG_STR_MAX];
    /* TLS (otad.c fills them at start): the server certificate and key the HTTPS listener
     * presents, the CA devices trust, and the keys folder of the service's own CA (device
     * certificates, docs/security.md) */
    char tls_cert[CFG_STR_MAX + 32];
    char tls_key[CFG_STR_MAX + 32];
    char tls_ca[CFG_STR_MAX + 32];
    char keys_dir[CFG_STR_MAX + 8];
    /* Broker readiness: returns 1 when connected (and presence tracked), 0 otherwise, and
     * sets *state ("connected", "connecting", ...). NULL = no broker wired: reported as
     * "not_configured" and treated as ready. */
    int (*broker_ready)(void *ud, const char **state);
    void *broker_ud;
    void *engine; /* lead: the batch engine handle, for routes_batch.c */
    struct webhooks *webhooks; /* the webhook worker (webhook/webhook.h), for metrics.c;
                                  NULL = none started */
    /* Firmware downloads under way (http_download_begin) and the most allowed at once, set by
     * http_start below the connection limit so that the API and the console keep room however
     * many devices download (0 = no ceiling). */
    atomic_uint downloads;
    unsigned downloads_max;
    /* failed sign-ins by user name and by source address (routes_accounts.c); made by
     * http_start when NULL, freed by http_stop */
    acct_throttle *signin_users, *signin_addrs;
    /* request counters and latency histograms by route (metrics.c); made by http_start
     * when NULL, freed by http_stop */
    struct http_metrics *metrics;
    /* DDI devices' polls: who polled when, and the writer that puts the last polls in the
     * store (routes_ddi.c); made by http_start when NULL, freed by http_stop */
    struct http_ddi *ddi;
} http_app;

typedef int (*http_handler)(http_req *r);
/* Streaming body consumer: called with each chunk as it arrives (size > 0). Return 0 to
 * go on, -1 to stop consuming (the handler is still called at the end; the route decides
 * what to answer from its own state). */
typedef int (*http_stream_fn)(http_req *r, const char *data, size_t size);
/* Called once before any body chunk; may set r->state/r->state_free. Return 0 to go on,
 * or answer an error itself (http_send_*) and return -1. */
typedef int (*http_start_fn)(http_req *r);

/* Who may call a route. */
typedef enum {
    HTTP_ACCESS_UNSET = 0, /* never in a table: test_http_routes fails on it */
    HTTP_PUBLIC,           /* anyone: health, sign-in, console files, signed downloads */
    HTTP_BROKER,           /* the broker token, checked by the route (routes_broker.c) */
    HTTP_DEVICE,           /* a hawkBit DDI device's TargetToken (or its product's
                              GatewayToken), checked by the route (routes_ddi.c) */
    HTTP_VIEWER,           /* a credential of role viewer or above (core/account.h) */
    HTTP_OPERATOR,         /* operator or admin */
    HTTP_ADMIN,            /* admin */
} http_access;

enum {
    HTTP_BODY_JSON = 1 << 1,   /* body collected (<= body_max) and must be application/json */
    HTTP_BODY_STREAM = 1 << 2, /* body streamed through start/stream */
    HTTP_ALSO_HEAD = 1 << 3,   /* a GET route that also answers HEAD */
    HTTP_NOT_API = 1 << 4,     /* never matches paths under /api/ (catch-alls) */
    HTTP_LOG_DEBUG = 1 << 5,   /* a request made all the time (DDI polls): its access log
                                  line at debug level, as health's */
};

typedef struct {
    const char *method;  /* "GET", "POST", "DELETE", ...; NULL ends a table */
    const char *pattern; /* "/api/v1/products/{productKey}"; "{name*}" = rest of the path */
    http_handler handler;
    http_access access;
    unsigned flags;
    size_t body_max; /* ceiling for HTTP_BODY_JSON (0 = 64 KiB) */
    http_start_fn start;
    http_stream_fn stream;
} http_route;

#define HTTP_ROUTES_END                                                                            \
    {                                                                                              \
        NULL, NULL, NULL, HTTP_ACCESS_UNSET, 0, 0, NULL, NULL                                      \
    }
#define HTTP_MAX_PARAMS 8

/* The credential a request came with (auth.c, http_identify). */
typedef struct {
    acct_role role;   /* ACCT_ROLE_NONE: none, or not valid */
    int64_t user_id;  /* 0: no user (the bootstrap admin token and its tokens) */
    int64_t token_id; /* 0: the bootstrap admin token (OTA_ADMIN_TOKEN) */
    char kind[8];     /* "admin" (the bootstrap token), "api", "session" */
    char user[ACCT_NAME_MAX + 1]; /* the user's name, "" when none */
    /* who did it, for logs: the user's name for a session, "<user>/<token name>" for an
     * API token ("admin-token/<name>" without a user), "admin-token" for the bootstrap */
    char actor[STORE_WHO_MAX];
    int64_t expires_ms; /* 0: never */
} http_caller;

struct http_req {
    struct MHD_Connection *conn;
    http_app *app;
    const http_route *route;
    const char *method;
    const char *url;
    int n_params;
    const char *param_name[HTTP_MAX_PARAMS];
    char *param_value[HTTP_MAX_PARAMS];
    /* collected body (HTTP_BODY_JSON): NUL-terminated */
    char *body;
    size_t body_len, body_cap;
    int body_too_big;   /* the body passed the ceiling; the rest was discarded */
    int stream_stopped; /* the stream callback returned -1; the rest was discarded */
    uint64_t body_seen; /* bytes of body received */
    /* route-specific state, freed with state_free when the request ends */
    void *state;
    void (*state_free)(void *state);
    int answered;
    int tls;    /* the request came on the TLS listener (answers carry HSTS) */
    int download_slot; /* holds one of app->downloads, given back when the request ends */
    int status; /* status sent, for the access log */
    int retry_after_s;  /* > 0: the answer carries Retry-After (seconds) */
    int identified;     /* http_identify ran; caller holds its result */
    http_caller caller;
    /* the audit row of a change (audit.c): bound to the thread while the handler runs,
     * so the change's transaction writes it; audit_actor is the name a sign-in tried
     * (there is no caller); error_code the answer's error */
    store_audit_ctx audit;
    int audit_filled;
    char audit_actor[80];
    char error_code[48];
    uint64_t resp_bytes; /* body bytes of a file answer (http_send_fd, http_send_blob) */
    int64_t start_ms;
};

/* Starts the server on app->cfg->http_addr, and on app->cfg->https_addr (when not empty)
 * with TLS (app->tls_cert, app->tls_key), each with threads pool threads. NULL on failure
 * (logged; nothing left listening). */
http_server *http_start(http_app *app, int threads);
/* Stops accepting, waits for running handlers, frees. NULL is fine. */
void http_stop(http_server *srv);
/* Writes "METHOD PATTERN" per route (HEAD variants included) to f. */
void http_list_routes(FILE *f);

/* --- request ------------------------------------------------------------------------ */
const char *http_param(http_req *r, const char *name);  /* path parameter, or NULL */
const char *http_query(http_req *r, const char *name);  /* query argument, or NULL */
const char *http_header(http_req *r, const char *name); /* request header, or NULL */
/* Reads page/pageSize. Returns 0, or answers 400 naming the parameter and returns -1. */
int http_paging(http_req *r, store_page *pg);
/* The same for a list that also pages by keyset: `after`, a cursor this list answered
 * (http_send_keyset_list with the same scope), gives *after_key (0 when absent; page stays
 * 1). Answers 400 naming `after` when it is malformed, of another scope, or given together
 * with `page`. */
int http_paging_keyset(http_req *r, int64_t scope, store_page *pg, int64_t *after_key);
/* Reads limit (1..1000, default 50) and cursor (a nextCursor this list answered: > 0; 0
 * when absent) of a newest-first list paged by id. Returns 0, or answers 400 naming the
 * parameter and returns -1. */
int http_cursor(http_req *r, int *limit, int64_t *before_id);
/* Parses the collected body as a JSON object whose keys are all in allowed (NULL-ended).
 * Returns the object (caller decrefs), or answers 400 (invalid_json / unknown_field /
 * not an object) and returns NULL. */
json_t *http_json_body(http_req *r, const char *const *allowed);
/* A string member: returns 0 with *out (NULL when absent and !required); answers 400
 * (wrong type) or 422 (missing) naming the field and returns -1. */
int http_json_string(http_req *r, json_t *obj, const char *name, int required, const char **out);

/* --- answers (each returns the value the handler returns) ---------------------------- */
/* Sends body (stolen; NULL = no body) as application/json. */
int http_send_json(http_req *r, unsigned status, json_t *body);
/* Sends text[0..len) (JSON already written, copied here) as application/json: for answers
 * made from a template on a hot path (the DDI poll) instead of jansson objects. */
int http_send_json_text(http_req *r, unsigned status, const char *text, size_t len);
/* {"error":{"code","message","field"}}; field may be NULL. */
/* Answers the error a request parser (core/reqparse.h) recorded. */
int http_send_rq_error(http_req *r, const rq_error *e);
int http_send_error(http_req *r, unsigned status, const char *code, const char *field,
                    const char *fmt, ...) __attribute__((format(printf, 5, 6)));
int http_send_empty(http_req *r, unsigned status);
/* A response made by the route itself (taken: destroyed here in every case). */
int http_send_response(http_req *r, unsigned status, struct MHD_Response *resp);
/* {"items":[...],"total":N,"page":P,"pageSize":S}; items stolen. */
int http_send_list(http_req *r, json_t *items, int64_t total, store_page pg);
/* Appends n bytes of request body to r->body (NUL-terminated, grown as needed). Past max
 * bytes the body is dropped and r->body_too_big set (the answer is then 413): -1. */
int http_body_append(http_req *r, const void *data, size_t n, size_t max);
/* 1 when the Content-Type is `want` (case-insensitive), alone or followed by parameters. */
int http_content_type_is(http_req *r, const char *want);
/* The same plus "nextCursor": the cursor of next_key in scope, or null when next_key is 0
 * (the last page); the answer to a cursor (after_key > 0) has no "page". items stolen. */
int http_send_keyset_list(http_req *r, json_t *items, int64_t total, store_page pg, int64_t scope,
                          int64_t after_key, int64_t next_key);
/* Sends the file at path (opened here) with content_type, honoring a single Range
 * (206 + Content-Range; 416 when unsatisfiable), Accept-Ranges: bytes, HEAD;
 * download_name (may be NULL) adds Content-Disposition: attachment. 404 when missing. */
int http_send_file(http_req *r, const char *path, const char *content_type,
                   const char *download_name);
/* Same with an open fd (taken: closed by the server in every case) and its size. */
int http_send_fd(http_req *r, int fd, uint64_t size, const char *content_type,
                 const char *download_name);
/* Bytes that are not a file (a firmware kept in PostgreSQL, server/blob/): sends size bytes
 * pulled from read_at(ud, off, buf, len) (the count read, > 0, or -1) as the client takes
 * them, through libmicrohttpd's callback response, in reads of at most 256 KiB; with the same
 * Range / 416 / HEAD / header behaviour as http_send_fd. ud is freed with ud_free (may be
 * NULL) when the answer is done, in every case. A read error mid-way closes the
 * connection (the client sees a short body). */
typedef ssize_t (*http_read_at_fn)(void *ud, uint64_t off, void *buf, size_t len);
int http_send_blob(http_req *r, uint64_t size, http_read_at_fn read_at, void *ud,
                   void (*ud_free)(void *), const char *content_type, const char *download_name);
/* Takes one of the listener's download slots for r (given back when the request ends):
 * firmware downloads take one before answering. Returns 0, or -1 when every slot is taken:
 * then r is answered 503 busy with Retry-After: 5, and *answer is what the handler returns. */
int http_download_begin(http_req *r, int *answer);
/* Store result to an answer for the common cases (404 not_found, 500 internal, ...). */
int http_send_store_error(http_req *r, ota_err rc, const char *what);

/* --- callers (auth.c) ------------------------------------------------------------------ */
/* Reads "Authorization: Bearer <token>" once per request into r->caller: the bootstrap
 * admin token (compared in constant time), or an API or session token that still works
 * (store_token_auth). 1 when the caller has a role, 0 when not (no header, unknown,
 * expired, revoked, disabled user, or the store failed: logged). */
int http_identify(http_req *r);
/* "public", "broker", "viewer", "operator", "admin" ("?" for HTTP_ACCESS_UNSET). */
const char *http_access_name(http_access a);
/* The role an access level needs (ACCT_ROLE_NONE for public and broker). */
acct_role http_access_role(http_access a);
/* The client's IP address as text into out ("" when unknown). */
void http_client_addr(http_req *r, char *out, size_t outlen);
/* --- audit log (audit.c) ---------------------------------------------------------------- */
/* Names the object of the change r makes ("user:<name>", ...), when the path does not;
 * called before the store call that makes the change (what the store creates, it names
 * itself: store_audit.h). */
void http_audit_object(http_req *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The actor of a row without a caller: the user name a sign-in tried. */
void http_audit_actor(http_req *r, const char *name);
/* Around the route's handler (http.c): fills r's audit row when r is a change (or a
 * sign-in) and binds it to the thread, so the store writes it in the change's
 * transaction; unbind after the handler returns. */
void http_audit_bind(http_req *r);
void http_audit_unbind(http_req *r);
/* Called by the answer helpers just before an answer is queued: appends r's audit row
 * when r is a change (or a sign-in) whose transaction did not write it (a refusal, or a
 * change outside the database); a store failure is logged, the answer still goes. */
void http_audit_answer(http_req *r, unsigned status);

/* --- metrics (metrics.c) -------------------------------------------------------------------- */
/* Makes / frees app->metrics. */
void http_metrics_open(http_app *app);
void http_metrics_close(http_app *app);
/* Counts an answer as it is queued (its route, method, status, time since the request's
 * first byte; a download's bytes), so a client that saw the answer sees it counted: a few
 * relaxed atomic additions. */
void http_metrics_answer(http_req *r, unsigned status);
/* When the request ends: counts a download whose connection ended before its answer. */
void http_metrics_done(http_req *r, int completed);

/* Makes / frees app->ddi (routes_ddi.c). */
void http_ddi_open(http_app *app);
void http_ddi_close(http_app *app);

/* Makes app's sign-in throttles when they are NULL / frees them (routes_accounts.c). */
void http_signin_open(http_app *app);
void http_signin_close(http_app *app);
/* Whether r may run its route: 0, or answers 401 / 403 `forbidden` and returns -1. */
int http_access_check(http_req *r);

/* Formats epoch ms as RFC 3339 into a JSON string (NULL when ms == 0 and nullable). */
json_t *http_time(int64_t ms, int nullable);

#endif
