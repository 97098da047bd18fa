/*
 * http: the libmicrohttpd server, the router and the shared answer helpers (see http.h).
 *
 * Request flow (libmicrohttpd calls the access handler several times per request):
 *   first call   -> match the route (404/405), check the token (401), the content type
 *                   (415) and a declared Content-Length above the ceiling (413); answers
 *                   queued here end the request early without reading the body;
 *   body chunks  -> collected under the route's ceiling (HTTP_BODY_JSON), streamed to the
 *                   route (HTTP_BODY_STREAM) or discarded;
 *   last call    -> the route's handler answers.
 * Load: the management API and console (low rate) plus firmware downloads served by
 * file descriptor (sendfile), so the pool threads never copy firmware bytes.
 */
#include "http/http.h"
#include "http/http_guard.h"
#include "http/http_internal.h"
#include "http/http_routes.h"

#include "core/validate.h"

#include "ota_crypto.h"
#include "ota_log.h"
#include "ota_time.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <openssl/crypto.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#define DEFAULT_BODY_MAX (64 * 1024)

/* One listening daemon: plain (OTA_HTTP_ADDR) or TLS (OTA_HTTPS_ADDR). Both share the
 * router and handlers; a TLS listener adds HSTS to its answers. */
typedef struct {
    http_app *app;
    int tls;
} http_listener;

struct http_server {
    struct MHD_Daemon *d, *tls_d;
    http_listener plain, secure;
    char *cert_pem, *key_pem; /* what the TLS daemon presents; freed at stop */
    http_app *app;
    http_guard *guard; /* head deadlines and peer closes, for both listeners */
};

/* What otad keeps per TCP connection (libmicrohttpd's socket context), from accept to
 * close; a connection carries its requests one after the other. */
typedef struct {
    http_guard_conn watch; /* first member: http_guard hands it back to conn_free */
    http_guard *guard;
    int url_nul; /* the current request's path or query decoded to a NUL byte */
} conn_ctx;

/* The TLS listener's GnuTLS priorities: TLS 1.2 and 1.3 only, AEAD ciphers only (no CBC,
 * no RC4, no 3DES), forward secrecy (ECDHE / DHE), SHA-2 signatures. */
#define HTTP_TLS_PRIORITIES                                                                    \
    "SECURE128:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2:-AES-128-CBC:-AES-256-CBC:"                 \
    "-CAMELLIA-128-CBC:-CAMELLIA-256-CBC:-3DES-CBC:-ARCFOUR-128:-RSA:-SHA1"
/* HSTS on every answer of the TLS listener (a year; browsers keep to HTTPS for the host) */
#define HTTP_HSTS "max-age=31536000"

static const http_route *const route_tables[] = {
#define X(name) http_routes_##name,
    HTTP_ROUTE_FILES
#undef X
};
#define N_TABLES (sizeof route_tables / sizeof route_tables[0])

/* ---- routing -------------------------------------------------------------------------- */

/* Matches url against pattern; on success fills r's params (when r is not NULL). */
int http__match(const char *pattern, const char *url, http_req *r)
{
    const char *p = pattern, *u = url;
    int n = 0;
    while (*p && *u) {
        if (*p == '{') {
            const char *close = strchr(p, '}');
            if (!close)
                return 0;
            int rest = close[-1] == '*';
            size_t nlen = (size_t)(close - p - 1 - rest);
            const char *end = rest ? u + strlen(u) : u + strcspn(u, "/");
            /* a literal suffix after the parameter inside the same segment, e.g. "{id}:x" */
            const char *after = close + 1;
            size_t lit = strcspn(after, "/");
            if (!rest && lit > 0) {
                if ((size_t)(end - u) <= lit || strncmp(end - lit, after, lit) != 0)
                    return 0;
                end -= lit;
            }
            if (end == u || n >= HTTP_MAX_PARAMS)
                return 0;
            if (r) {
                char *name = strndup(p + 1, nlen);
                char *val = strndup(u, (size_t)(end - u));
                if (!name || !val)
                    abort();
                r->param_name[n] = name;
                r->param_value[n] = val;
                r->n_params = n + 1;
            }
            n++;
            u = end;
            p = close + 1;
            if (!rest && lit > 0) {
                p += lit;
                u += lit;
            }
            continue;
        }
        if (*p != *u)
            return 0;
        p++;
        u++;
    }
    return *p == '\0' && *u == '\0';
}

static void free_params(http_req *r)
{
    for (int i = 0; i < r->n_params; i++) {
        free((char *)r->param_name[i]);
        free(r->param_value[i]);
    }
    r->n_params = 0;
}

static int method_matches(const http_route *rt, const char *method)
{
    if (strcmp(rt->method, method) == 0)
        return 1;
    return (rt->flags & HTTP_ALSO_HEAD) && strcmp(method, "HEAD") == 0 &&
           strcmp(rt->method, "GET") == 0;
}

/* Finds the route; *path_known is set when some route matches the path (for 405). */
static const http_route *find_route(const char *method, const char *url, int *path_known)
{
    *path_known = 0;
    for (size_t t = 0; t < N_TABLES; t++)
        for (const http_route *rt = route_tables[t]; rt->method; rt++) {
            if ((rt->flags & HTTP_NOT_API) && strncmp(url, "/api/", 5) == 0)
                continue;
            if (!http__match(rt->pattern, url, NULL))
                continue;
            if (method_matches(rt, method))
                return rt;
            *path_known = 1;
        }
    return NULL;
}

void http_list_routes(FILE *f)
{
    for (size_t t = 0; t < N_TABLES; t++)
        for (const http_route *rt = route_tables[t]; rt->method; rt++) {
            fprintf(f, "%s %s %s\n", rt->method, rt->pattern, http_access_name(rt->access));
            if (rt->flags & HTTP_ALSO_HEAD)
                fprintf(f, "HEAD %s %s\n", rt->pattern, http_access_name(rt->access));
        }
}

const http_route *http__route_at(size_t i)
{
    for (size_t t = 0; t < N_TABLES; t++)
        for (const http_route *rt = route_tables[t]; rt->method; rt++)
            if (i-- == 0)
                return rt;
    return NULL;
}

/* ---- request helpers ------------------------------------------------------------------ */

const char *http_param(http_req *r, const char *name)
{
    for (int i = 0; i < r->n_params; i++)
        if (strcmp(r->param_name[i], name) == 0)
            return r->param_value[i];
    return NULL;
}

const char *http_query(http_req *r, const char *name)
{
    return MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, name);
}

const char *http_header(http_req *r, const char *name)
{
    return MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, name);
}

int http_cursor(http_req *r, int *limit, int64_t *before_id)
{
    const char *cur = http_query(r, "cursor"), *lim = http_query(r, "limit");
    char *end;
    *limit = 50;
    *before_id = 0;
    if (lim) {
        errno = 0;
        long l = strtol(lim, &end, 10);
        if (errno || *end || !*lim || l < 1 || l > 1000) {
            http_send_error(r, 400, "invalid_parameter", "limit",
                            "limit is a whole number from 1 to 1000.");
            return -1;
        }
        *limit = (int)l;
    }
    if (cur) {
        errno = 0;
        long long c = strtoll(cur, &end, 10);
        if (errno || *end || !*cur || c <= 0) {
            http_send_error(r, 400, "invalid_parameter", "cursor",
                            "cursor is the nextCursor of an earlier page.");
            return -1;
        }
        *before_id = c;
    }
    return 0;
}

int http_paging(http_req *r, store_page *pg)
{
    const char *field = NULL;
    char why[128];
    int page, size;
    if (valid_paging(http_query(r, "page"), http_query(r, "pageSize"), &page, &size, &field, why,
                     sizeof why) != 0) {
        http_send_error(r, 400, "invalid_parameter", field, "%s.", why);
        return -1;
    }
    pg->page = page;
    pg->page_size = size;
    return 0;
}

/* A keyset cursor is "<scope>.<key>": the list's scope (a batch id) and the last row's key
 * (a device id), both as valid_id has them. The scope makes a cursor of another list fail
 * loudly instead of paging it silently wrong. Clients treat it as opaque (docs/api.md). */
static void cursor_format(int64_t scope, int64_t key, char *out, size_t cap)
{
    snprintf(out, cap, "%lld.%lld", (long long)scope, (long long)key);
}

/* 0 and *key when s is a cursor of scope; -1 otherwise. */
static int cursor_parse(const char *s, int64_t scope, int64_t *key)
{
    char part[24];
    int64_t sc;
    const char *dot = strchr(s, '.');
    size_t len = dot ? (size_t)(dot - s) : 0;
    if (!dot || len == 0 || len >= sizeof part)
        return -1;
    memcpy(part, s, len);
    part[len] = '\0';
    if (valid_id(part, &sc) != 0 || sc != scope || valid_id(dot + 1, key) != 0)
        return -1;
    return 0;
}

int http_paging_keyset(http_req *r, int64_t scope, store_page *pg, int64_t *after_key)
{
    *after_key = 0;
    if (http_paging(r, pg) != 0)
        return -1;
    const char *after = http_query(r, "after");
    if (!after)
        return 0;
    if (http_query(r, "page")) {
        http_send_error(r, 400, "invalid_parameter", "after",
                        "after and page cannot be combined: page by one or the other.");
        return -1;
    }
    if (cursor_parse(after, scope, after_key) != 0) {
        http_send_error(r, 400, "invalid_parameter", "after",
                        "after must be a nextCursor this list answered.");
        return -1;
    }
    return 0;
}

json_t *http_json_body(http_req *r, const char *const *allowed)
{
    rq_error e = {0};
    json_t *j = rq_json_object(r->body, r->body_len, allowed, &e);
    if (!j)
        http_send_rq_error(r, &e);
    return j;
}

int http_json_string(http_req *r, json_t *obj, const char *name, int required, const char **out)
{
    rq_error e = {0};
    if (rq_json_string(obj, name, required, out, &e) == 0)
        return 0;
    http_send_rq_error(r, &e);
    return -1;
}

/* ---- answers -------------------------------------------------------------------------- */

/* The request's URL as logs may show it: a route that carries a secret in its path (the
 * broker token of RabbitMQ's routes, routes_broker.c) is logged by its pattern. */
static const char *url_for_log(const http_req *r)
{
    return r->route && strstr(r->route->pattern, "{token}") ? r->route->pattern : r->url;
}

static int queue(http_req *r, unsigned status, struct MHD_Response *resp)
{
    if (!resp) {
        OTA_ERROR("http: cannot create a response for %s %s", r->method, url_for_log(r));
        return MHD_NO;
    }
    if (r->answered) {
        OTA_ERROR("http: second answer for %s %s ignored", r->method, url_for_log(r));
        MHD_destroy_response(resp);
        return MHD_YES;
    }
    r->answered = 1;
    r->status = (int)status;
    http_audit_answer(r, status);
    http_metrics_answer(r, status);
    if (strncmp(r->url, "/api/", 5) == 0)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    if (r->tls)
        MHD_add_response_header(resp, "Strict-Transport-Security", HTTP_HSTS);
    /* Every answer: the console is same-origin ES modules and style sheets only (no inline
     * script, style or handler), never framed; nothing is sniffed into another type. */
    MHD_add_response_header(resp, "Content-Security-Policy",
                            "default-src 'self'; object-src 'none'; base-uri 'none'; "
                            "form-action 'self'; frame-ancestors 'none'");
    MHD_add_response_header(resp, "X-Frame-Options", "DENY");
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(resp, "Referrer-Policy", "no-referrer");
    if (r->retry_after_s > 0) {
        char ra[16];
        snprintf(ra, sizeof ra, "%d", r->retry_after_s);
        MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, ra);
    }
    enum MHD_Result ret = MHD_queue_response(r->conn, status, resp);
    MHD_destroy_response(resp);
    return ret;
}

/* A response of text[0..len) as application/json (mode as MHD_create_response_from_buffer),
 * or NULL. */
static struct MHD_Response *json_text_response(const char *text, size_t len,
                                               enum MHD_ResponseMemoryMode mode)
{
    struct MHD_Response *resp = MHD_create_response_from_buffer(len, (void *)text, mode);
    if (resp)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
                                "application/json; charset=utf-8");
    return resp;
}

/* A response of body (stolen; NULL = empty) as application/json, or NULL. */
static struct MHD_Response *json_response(json_t *body)
{
    if (!body)
        return MHD_create_response_from_buffer(0, (char *)"", MHD_RESPMEM_PERSISTENT);
    char *s = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    if (!s)
        abort();
    struct MHD_Response *resp = json_text_response(s, strlen(s), MHD_RESPMEM_MUST_FREE);
    if (!resp)
        free(s);
    return resp;
}

int http_send_response(http_req *r, unsigned status, struct MHD_Response *resp)
{
    return queue(r, status, resp);
}

int http_send_json(http_req *r, unsigned status, json_t *body)
{
    return queue(r, status, json_response(body));
}

int http_send_json_text(http_req *r, unsigned status, const char *text, size_t len)
{
    return queue(r, status, json_text_response(text, len, MHD_RESPMEM_MUST_COPY));
}

int http_download_begin(http_req *r, int *answer)
{
    http_app *app = r->app;
    unsigned n = atomic_fetch_add(&app->downloads, 1) + 1;
    if (app->downloads_max == 0 || n <= app->downloads_max) {
        r->download_slot = 1;
        return 0;
    }
    atomic_fetch_sub(&app->downloads, 1);
    /* one line per refusal would flood the log exactly when the listener is busiest */
    OTA_DEBUG("http: %s %s -> 503 busy (%u downloads)", r->method, url_for_log(r), app->downloads_max);
    struct MHD_Response *resp = json_response(
        json_pack("{s:{s:s, s:s}}", "error", "code", "busy", "message",
                  "Too many downloads at once; retry after the time in Retry-After."));
    if (resp) { /* and the connection goes: a refused client keeps no slot */
        MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, "5");
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "close");
    }
    *answer = queue(r, 503, resp);
    return -1;
}

int http_send_error(http_req *r, unsigned status, const char *code, const char *field,
                    const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (msg[0] >= 'a' && msg[0] <= 'z')
        msg[0] = (char)(msg[0] - 'a' + 'A'); /* one short sentence */
    snprintf(r->error_code, sizeof r->error_code, "%s", code);
    json_t *err = json_pack("{s:s, s:s}", "code", code, "message", msg);
    if (!err) /* a message cut inside a UTF-8 sequence: keep the code */
        err = json_pack("{s:s, s:s}", "code", code, "message", "Invalid request.");
    if (field) {
        json_t *f = json_string(field);
        json_object_set_new(err, "field", f ? f : json_string("?"));
    }
    if (status >= 500)
        OTA_ERROR("http: %s %s -> %u %s: %s", r->method, url_for_log(r), status, code, msg);
    else
        OTA_DEBUG("http: %s %s -> %u %s%s%s", r->method, url_for_log(r), status, code,
                  field ? " field=" : "", field ? field : "");
    return http_send_json(r, status, json_pack("{s:o}", "error", err));
}

int http_send_rq_error(http_req *r, const rq_error *e)
{
    return http_send_error(r, e->status, e->code, e->field[0] ? e->field : NULL, "%s", e->msg);
}

int http_send_empty(http_req *r, unsigned status)
{
    return queue(r, status, MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT));
}

static json_t *list_json(json_t *items, int64_t total, store_page pg)
{
    return json_pack("{s:o, s:I, s:i, s:i}", "items", items, "total", (json_int_t)total, "page",
                     pg.page, "pageSize", pg.page_size);
}

int http_send_list(http_req *r, json_t *items, int64_t total, store_page pg)
{
    return http_send_json(r, 200, list_json(items, total, pg));
}

int http_send_keyset_list(http_req *r, json_t *items, int64_t total, store_page pg, int64_t scope,
                          int64_t after_key, int64_t next_key)
{
    char cur[48];
    json_t *o = list_json(items, total, pg);
    if (after_key > 0)
        json_object_del(o, "page"); /* a keyset page has no number */
    cursor_format(scope, next_key, cur, sizeof cur);
    json_object_set_new(o, "nextCursor", next_key > 0 ? json_string(cur) : json_null());
    return http_send_json(r, 200, o);
}

int http_send_store_error(http_req *r, ota_err rc, const char *what)
{
    switch (rc) {
    case OTA_ENOTFOUND:
        return http_send_error(r, 404, "not_found", NULL, "The %s does not exist.", what);
    case OTA_EDUPLICATE:
        return http_send_error(r, 409, "duplicate", NULL, "The %s already exists.", what);
    case OTA_EINUSE:
        return http_send_error(r, 409, "in_use", NULL, "The %s is in use.", what);
    case OTA_EINVAL:
        return http_send_error(r, 400, "bad_request", NULL, "Invalid request.");
    default:
        return http_send_error(r, 500, "internal", NULL, "The %s could not be read or written.",
                               what);
    }
}

json_t *http_time(int64_t ms, int nullable)
{
    char buf[40];
    if (ms == 0 && nullable)
        return json_null();
    return json_string(ota_time_format_ms(ms, buf, sizeof buf));
}

/* Parses a single "bytes=a-b" / "bytes=a-" / "bytes=-n" range against size.
 * Returns 1 with [*from, *to] inclusive, 0 when absent or not a single byte range (send
 * everything), -1 when unsatisfiable. */
int http__parse_range(const char *h, uint64_t size, uint64_t *from, uint64_t *to)
{
    if (!h)
        return 0;
    while (*h == ' ')
        h++;
    if (strncasecmp(h, "bytes=", 6) != 0 || strchr(h, ','))
        return 0;
    h += 6;
    const char *dash = strchr(h, '-');
    if (!dash)
        return 0;
    uint64_t a = 0, b = 0;
    int has_a = 0, has_b = 0;
    for (const char *p = h; p < dash; p++) {
        if (*p < '0' || *p > '9' || a > (UINT64_MAX - 9) / 10)
            return 0;
        a = a * 10 + (uint64_t)(*p - '0');
        has_a = 1;
    }
    for (const char *p = dash + 1; *p; p++) {
        if (*p == ' ')
            break;
        if (*p < '0' || *p > '9' || b > (UINT64_MAX - 9) / 10)
            return 0;
        b = b * 10 + (uint64_t)(*p - '0');
        has_b = 1;
    }
    if (!has_a && !has_b)
        return 0;
    if (!has_a) { /* suffix: last b bytes */
        if (b == 0 || size == 0)
            return -1;
        *from = b >= size ? 0 : size - b;
        *to = size - 1;
        return 1;
    }
    if (has_b && b < a)
        return 0;
    if (a >= size)
        return -1;
    *from = a;
    *to = (!has_b || b >= size) ? size - 1 : b;
    return 1;
}

static void add_disposition(struct MHD_Response *resp, const char *name)
{
    char h[1024], enc[900];
    size_t o = 0;
    static const char hex[] = "0123456789ABCDEF";
    if (!name)
        return;
    for (const unsigned char *p = (const unsigned char *)name; *p && o + 4 < sizeof enc; p++) {
        if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
            *p == '.' || *p == '_' || *p == '-') {
            enc[o++] = (char)*p;
        } else {
            enc[o++] = '%';
            enc[o++] = hex[*p >> 4];
            enc[o++] = hex[*p & 15];
        }
    }
    enc[o] = '\0';
    snprintf(h, sizeof h, "attachment; filename*=UTF-8''%s", enc);
    MHD_add_response_header(resp, "Content-Disposition", h);
}

/* A Range that nothing of the size bytes satisfies: 416, Content-Range naming the size. */
static int send_416(http_req *r, uint64_t size)
{
    char cr[96];
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
    if (resp) {
        snprintf(cr, sizeof cr, "bytes */%llu", (unsigned long long)size);
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_RANGE, cr);
        MHD_add_response_header(resp, MHD_HTTP_HEADER_ACCEPT_RANGES, "bytes");
    }
    return queue(r, 416, resp);
}

int http_send_fd(http_req *r, int fd, uint64_t size, const char *content_type,
                 const char *download_name)
{
    uint64_t from = 0, to = 0;
    int rng = http__parse_range(http_header(r, MHD_HTTP_HEADER_RANGE), size, &from, &to);
    struct MHD_Response *resp;
    unsigned status = 200;
    char cr[96];
    if (rng < 0) {
        close(fd);
        return send_416(r, size);
    }
    if (size == 0) {
        close(fd);
        resp = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
    } else if (rng == 1) {
        resp = MHD_create_response_from_fd_at_offset64(to - from + 1, fd, from);
        r->resp_bytes = to - from + 1;
        status = 206;
        if (resp) {
            snprintf(cr, sizeof cr, "bytes %llu-%llu/%llu", (unsigned long long)from,
                     (unsigned long long)to, (unsigned long long)size);
            MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_RANGE, cr);
        }
    } else {
        resp = MHD_create_response_from_fd_at_offset64(size, fd, 0);
        r->resp_bytes = size;
    }
    if (!resp) {
        if (size != 0)
            close(fd);
        return http_send_error(r, 500, "internal", NULL, "The file could not be sent.");
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_ACCEPT_RANGES, "bytes");
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
                            content_type ? content_type : "application/octet-stream");
    add_disposition(resp, download_name);
    return queue(r, status, resp);
}

/* http_send_blob's response state: the byte source and where the answered range starts. */
#define HTTP_BLOB_BLOCK (256 * 1024)
typedef struct {
    http_read_at_fn read_at;
    void *ud;
    void (*ud_free)(void *);
    uint64_t from;
} blob_body;

/* libmicrohttpd asks for the bytes at pos (relative to the answered range) as the socket
 * takes them; max is at most HTTP_BLOB_BLOCK. */
static ssize_t blob_body_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    blob_body *bb = cls;
    ssize_t n = bb->read_at(bb->ud, bb->from + pos, buf, max);
    return n > 0 ? n : MHD_CONTENT_READER_END_WITH_ERROR;
}

static void blob_body_free(void *cls)
{
    blob_body *bb = cls;
    if (bb->ud_free)
        bb->ud_free(bb->ud);
    free(bb);
}

int http_send_blob(http_req *r, uint64_t size, http_read_at_fn read_at, void *ud,
                   void (*ud_free)(void *), const char *content_type, const char *download_name)
{
    uint64_t from = 0, to = size ? size - 1 : 0;
    int rng = http__parse_range(http_header(r, MHD_HTTP_HEADER_RANGE), size, &from, &to);
    struct MHD_Response *resp;
    unsigned status = rng == 1 ? 206 : 200;
    char cr[96];
    blob_body *bb;
    if (rng < 0) {
        if (ud_free)
            ud_free(ud);
        return send_416(r, size);
    }
    bb = calloc(1, sizeof *bb);
    if (!bb)
        abort();
    bb->read_at = read_at;
    bb->ud = ud;
    bb->ud_free = ud_free;
    bb->from = from;
    /* the block size is the response's buffer (one per download in flight) and the most
     * one read_at call is asked for */
    r->resp_bytes = size ? to - from + 1 : 0;
    resp = MHD_create_response_from_callback(size ? to - from + 1 : 0, HTTP_BLOB_BLOCK,
                                             blob_body_read, bb, blob_body_free);
    if (!resp) {
        blob_body_free(bb);
        return http_send_error(r, 500, "internal", NULL, "The file could not be sent.");
    }
    if (rng == 1) {
        snprintf(cr, sizeof cr, "bytes %llu-%llu/%llu", (unsigned long long)from,
                 (unsigned long long)to, (unsigned long long)size);
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_RANGE, cr);
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_ACCEPT_RANGES, "bytes");
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
                            content_type ? content_type : "application/octet-stream");
    add_disposition(resp, download_name);
    return queue(r, status, resp);
}

int http_send_file(http_req *r, const char *path, const char *content_type,
                   const char *download_name)
{
    struct stat st;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        if (fd >= 0)
            close(fd);
        return http_send_error(r, 404, "not_found", NULL, "The file does not exist.");
    }
    return http_send_fd(r, fd, (uint64_t)st.st_size, content_type, download_name);
}

/* ---- the access handler ----------------------------------------------------------------- */

static int has_body_method(const char *m)
{
    return strcmp(m, "POST") == 0 || strcmp(m, "PUT") == 0 || strcmp(m, "PATCH") == 0;
}

int http_content_type_is(http_req *r, const char *want)
{
    const char *ct = http_header(r, MHD_HTTP_HEADER_CONTENT_TYPE);
    size_t wl = strlen(want);
    if (!ct)
        return 0;
    while (*ct == ' ')
        ct++;
    return strncasecmp(ct, want, wl) == 0 && (ct[wl] == '\0' || ct[wl] == ';' || ct[wl] == ' ');
}

static conn_ctx *conn_of(struct MHD_Connection *conn)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    return ci ? ci->socket_context : NULL;
}

static int first_call(http_req *r)
{
    int path_known = 0;
    conn_ctx *cc = conn_of(r->conn);
    if (cc) {
        http_guard_head_done(cc->guard, &cc->watch);
        if (cc->url_nul)
            return http_send_error(r, 400, "bad_request", "path",
                                   "The path or the query contains an encoded NUL byte (%%00).");
    }
    r->route = find_route(r->method, r->url, &path_known);
    if (!r->route) {
        /* every /api/v1 call needs the token, even one that does not exist */
        if (strncmp(r->url, "/api/", 5) == 0 && !http_identify(r))
            return http_send_error(r, 401, "unauthorized", NULL,
                                   "A valid token is required (Authorization: Bearer <token>).");
        if (path_known)
            return http_send_error(r, 405, "method_not_allowed", NULL,
                                   "The method %s is not allowed here.", r->method);
        return http_send_error(r, 404, "not_found", NULL, "No such resource.");
    }
    http__match(r->route->pattern, r->url, r);
    if (http_access_check(r) != 0)
        return MHD_YES;
    const char *cl = http_header(r, MHD_HTTP_HEADER_CONTENT_LENGTH);
    unsigned long long declared = 0;
    if (cl) {
        char *end;
        errno = 0;
        declared = strtoull(cl, &end, 10);
        if (errno || *end)
            declared = 0;
    }
    if (r->route->flags & HTTP_BODY_JSON) {
        size_t max = r->route->body_max ? r->route->body_max : DEFAULT_BODY_MAX;
        if (has_body_method(r->method) && !http_content_type_is(r, "application/json"))
            return http_send_error(r, 415, "unsupported_media_type", NULL,
                                   "The body must be application/json.");
        if (declared > max)
            return http_send_error(r, 413, "too_large", NULL, "The body is larger than %zu bytes.",
                                   max);
    }
    if ((r->route->flags & HTTP_BODY_STREAM) && r->route->start)
        return r->route->start(r) == 0 ? MHD_YES : (r->answered ? MHD_YES : MHD_NO);
    return MHD_YES;
}

int http_body_append(http_req *r, const void *data, size_t n, size_t max)
{
    if (r->body_too_big || r->body_len + n > max) {
        r->body_too_big = 1;
        free(r->body);
        r->body = NULL;
        r->body_len = r->body_cap = 0;
        return -1;
    }
    if (r->body_len + n + 1 > r->body_cap) {
        size_t cap = r->body_cap ? r->body_cap : 1024;
        while (cap < r->body_len + n + 1)
            cap *= 2;
        char *nb = realloc(r->body, cap);
        if (!nb)
            abort();
        r->body = nb;
        r->body_cap = cap;
    }
    memcpy(r->body + r->body_len, data, n);
    r->body_len += n;
    r->body[r->body_len] = '\0';
    return 0;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
    http_req *r = *con_cls;
    (void)version;
    if (!r) {
        r = calloc(1, sizeof *r);
        if (!r)
            abort();
        const http_listener *l = cls;
        r->conn = conn;
        r->app = l->app;
        r->tls = l->tls;
        r->method = method;
        r->url = url;
        r->start_ms = ota_time_mono_ms();
        *con_cls = r;
        return first_call(r) == MHD_YES ? MHD_YES : MHD_NO;
    }
    if (*upload_data_size) {
        size_t n = *upload_data_size;
        *upload_data_size = 0;
        r->body_seen += n;
        if (r->answered || !r->route)
            return MHD_YES;
        if (r->route->flags & HTTP_BODY_STREAM) {
            if (!r->stream_stopped && r->route->stream(r, upload_data, n) != 0)
                r->stream_stopped = 1;
        } else if (r->route->flags & HTTP_BODY_JSON) {
            http_body_append(r, upload_data, n,
                             r->route->body_max ? r->route->body_max : DEFAULT_BODY_MAX);
        }
        return MHD_YES;
    }
    conn_ctx *cc = conn_of(conn);
    if (cc)
        http_guard_request_done(cc->guard, &cc->watch);
    if (r->answered)
        return MHD_YES;
    if (r->body_too_big) {
        size_t max = r->route->body_max ? r->route->body_max : DEFAULT_BODY_MAX;
        return http_send_error(r, 413, "too_large", NULL, "The body is larger than %zu bytes.",
                               max) == MHD_YES
                   ? MHD_YES
                   : MHD_NO;
    }
    http_audit_bind(r);
    int ret = r->route->handler(r);
    http_audit_unbind(r);
    return ret == MHD_YES ? MHD_YES : MHD_NO;
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    http_req *r = *con_cls;
    conn_ctx *cc = conn_of(conn);
    (void)cls;
    if (cc) {
        cc->url_nul = 0;
        if (toe == MHD_REQUEST_TERMINATED_COMPLETED_OK)
            http_guard_idle(cc->guard, &cc->watch); /* kept alive: the next head's deadline */
    }
    if (!r)
        return;
    int64_t ms = ota_time_mono_ms() - r->start_ms;
    if (r->route && (strcmp(r->route->pattern, "/api/v1/health") == 0 ||
                     (r->route->flags & HTTP_LOG_DEBUG)))
        OTA_DEBUG("http: %s %s %d %lldms", r->method, url_for_log(r), r->status, (long long)ms);
    else if (toe == MHD_REQUEST_TERMINATED_COMPLETED_OK)
        OTA_INFO("http: %s %s %d %lldms", r->method, url_for_log(r), r->status, (long long)ms);
    else
        OTA_INFO("http: %s %s %d aborted (%d) after %llu body bytes, %lldms", r->method, url_for_log(r),
                 r->status, (int)toe, (unsigned long long)r->body_seen, (long long)ms);
    http_metrics_done(r, toe == MHD_REQUEST_TERMINATED_COMPLETED_OK);
    if (r->download_slot)
        atomic_fetch_sub(&r->app->downloads, 1);
    if (r->state_free)
        r->state_free(r->state);
    free(r->body);
    free_params(r);
    free(r);
    *con_cls = NULL;
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    char line[512];
    (void)cls;
    vsnprintf(line, sizeof line, fmt, ap);
    OTA_WARN("http: libmicrohttpd: %s", line);
}

/* ---- the listener ------------------------------------------------------------------------ */

static void conn_free(http_guard_conn *w)
{
    free(w); /* w is the first member of its conn_ctx */
}

/* libmicrohttpd: a TCP connection opens or closes (closed: before its fd is closed). */
static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
                          enum MHD_ConnectionNotificationCode code)
{
    http_server *srv = cls;
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
        conn_ctx *cc = calloc(1, sizeof *cc);
        if (!cc)
            abort();
        cc->guard = srv->guard;
        *socket_context = cc;
        http_guard_opened(srv->guard, &cc->watch, ci ? ci->connect_fd : -1, conn_free);
    } else if (*socket_context) {
        conn_ctx *cc = *socket_context;
        *socket_context = NULL;
        http_guard_closed(cc->guard, &cc->watch); /* frees cc later */
    }
}

/* libmicrohttpd decodes the path and the query with this: the standard %XX decoding, and a
 * note on the connection when a value decodes to a NUL byte, which would silently cut it
 * (first_call answers 400 instead). */
static size_t unescape(void *cls, struct MHD_Connection *conn, char *s)
{
    (void)cls;
    size_t n = MHD_http_unescape(s);
    if (strlen(s) != n) {
        conn_ctx *cc = conn_of(conn);
        if (cc)
            cc->url_nul = 1;
    }
    return n;
}

/* Raises the soft open-file limit to the hard one (every connection is a descriptor, a
 * download by file descriptor two) and returns the connection limit of each of n_listeners
 * that fits in it: the configured one, or less (warned) when the descriptors cannot hold it. */
static unsigned connection_limit(const cfg_t *cfg, unsigned n_listeners)
{
    struct rlimit rl;
    unsigned want = (unsigned)cfg->http_max_connections;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0) {
        OTA_WARN("http: getrlimit(RLIMIT_NOFILE): %s", strerror(errno));
        return want;
    }
    rlim_t before = rl.rlim_cur;
    if (rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &rl) != 0) {
            OTA_WARN("http: cannot raise the open-file limit to %llu: %s",
                     (unsigned long long)rl.rlim_max, strerror(errno));
            rl.rlim_cur = before;
        }
    }
    /* descriptors kept for the database, the broker, logs and firmware being placed */
    const rlim_t reserve = 256;
    rlim_t fit = rl.rlim_cur > reserve * 2 ? (rl.rlim_cur - reserve) / 2 / n_listeners : 16;
    OTA_INFO("http: open-file limit %llu (was %llu)", (unsigned long long)rl.rlim_cur,
             (unsigned long long)before);
    if ((rlim_t)want > fit) {
        OTA_WARN("http: %u connections (on each of %u listeners) need about %llu open files; "
                 "holding at most %llu (raise LimitNOFILE / ulimit -Hn)",
                 want, n_listeners, (unsigned long long)want * 2 * n_listeners + reserve,
                 (unsigned long long)fit);
        want = (unsigned)fit;
    }
    return want;
}

/* The options both listeners use (the TLS one adds its certificate): pool threads on epoll,
 * the connection limits, the idle timeout, the connection watch, the access log and the URL
 * decoding. Fills o (HTTP_LISTENER_OPTIONS items, the last MHD_OPTION_END) for
 * MHD_OPTION_ARRAY. */
#define HTTP_LISTENER_OPTIONS 12
#define HTTP_CONN_POOL (32 * 1024)
static void listener_options(http_server *srv, int threads, unsigned max_conn,
                             struct MHD_OptionItem o[HTTP_LISTENER_OPTIONS])
{
    const cfg_t *cfg = srv->app->cfg;
    size_t n = 0;
#define OPT(opt, val, ptr) o[n++] = (struct MHD_OptionItem){(opt), (intptr_t)(val), (ptr)}
    OPT(MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL);
    OPT(MHD_OPTION_THREAD_POOL_SIZE, threads > 0 ? threads : 1, NULL);
    OPT(MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL);
    OPT(MHD_OPTION_NOTIFY_CONNECTION, on_connection, srv);
    OPT(MHD_OPTION_UNESCAPE_CALLBACK, unescape, NULL);
    OPT(MHD_OPTION_CONNECTION_TIMEOUT, cfg->http_idle_timeout, NULL);
    /* libmicrohttpd clears the whole pool at the end of every request of a kept-alive
     * connection: at 128 KiB that memset was 11.5 % of otad's CPU under DDI polls
     * (docs/benchmarks.md, figure 9). 32 KiB (the library's default) still holds any
     * request line and headers we accept; bodies stream through the routes' own buffers
     * (uploads, imports), so only the size of each chunk handed to them shrinks. */
    OPT(MHD_OPTION_CONNECTION_MEMORY_LIMIT, HTTP_CONN_POOL, NULL);
    OPT(MHD_OPTION_CONNECTION_LIMIT, max_conn, NULL);
    OPT(MHD_OPTION_PER_IP_CONNECTION_LIMIT, cfg->http_max_per_address, NULL);
    OPT(MHD_OPTION_END, 0, NULL);
#undef OPT
}

/* Reads a whole PEM file (at most 1 MiB) into a malloc'd NUL-terminated string, or NULL. */
static char *read_pem(const char *path)
{
    FILE *f = fopen(path, "r");
    char *buf = NULL;
    size_t n = 0;
    if (!f)
        return NULL;
    buf = malloc(1024 * 1024 + 1);
    if (buf)
        n = fread(buf, 1, 1024 * 1024, f);
    if (buf && (ferror(f) || n == 0 || n == 1024 * 1024)) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    if (buf)
        buf[n] = '\0';
    return buf;
}

/* Starts one daemon on addr (host:port) for l; TLS when l->tls (srv's PEM texts).
 * Returns it, or NULL (logged). */
static struct MHD_Daemon *listen_on(http_server *srv, const char *addr, http_listener *l,
                                    const struct MHD_OptionItem *opts)
{
    char host[256], port[16];
    int p;
    struct addrinfo hints = {0}, *ai = NULL;
    struct MHD_Daemon *d;
    if (cfg_split_addr(addr, host, sizeof host, &p) != 0) {
        OTA_ERROR("http: bad listen address %s", addr);
        return NULL;
    }
    snprintf(port, sizeof port, "%d", p);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    int gr = getaddrinfo(host, port, &hints, &ai);
    if (gr != 0 || !ai) {
        OTA_ERROR("http: cannot resolve %s: %s", addr, gai_strerror(gr));
        return NULL;
    }
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ERROR_LOG;
    if (ai->ai_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    if (l->tls)
        flags |= MHD_USE_TLS;
    /* the TLS options come last; a plain daemon ends the list before them */
    d = MHD_start_daemon(flags, (uint16_t)p, NULL, NULL, on_request, l, MHD_OPTION_ARRAY, opts,
                         MHD_OPTION_SOCK_ADDR, ai->ai_addr,
                         l->tls ? MHD_OPTION_HTTPS_MEM_CERT : MHD_OPTION_END, srv->cert_pem,
                         MHD_OPTION_HTTPS_MEM_KEY, srv->key_pem, MHD_OPTION_HTTPS_PRIORITIES,
                         HTTP_TLS_PRIORITIES, MHD_OPTION_END);
    freeaddrinfo(ai);
    if (!d)
        OTA_ERROR("http: cannot listen on %s%s: %s", addr, l->tls ? " (TLS)" : "",
                  strerror(errno));
    return d;
}

http_server *http_start(http_app *app, int threads)
{
    const char *https = app->cfg->https_addr;
    http_server *srv = calloc(1, sizeof *srv);
    if (!srv)
        abort();
    srv->app = app;
    srv->plain.app = srv->secure.app = app;
    srv->secure.tls = 1;
    http_signin_open(app);
    http_metrics_open(app);
    http_ddi_open(app);
    srv->guard = http_guard_start((int64_t)app->cfg->http_head_timeout * 1000);
    if (!srv->guard)
        goto fail;
    unsigned max_conn = connection_limit(app->cfg, https[0] ? 2 : 1);
    /* downloads leave a tenth of the connections (64..1024) to the API and the console */
    unsigned keep = max_conn / 10 < 64 ? 64 : max_conn / 10 > 1024 ? 1024 : max_conn / 10;
    app->downloads_max = max_conn > 2 * keep ? max_conn - keep : max_conn / 2;
    struct MHD_OptionItem opts[HTTP_LISTENER_OPTIONS];
    listener_options(srv, threads, max_conn, opts);
    srv->d = listen_on(srv, app->cfg->http_addr, &srv->plain, opts);
    if (!srv->d)
        goto fail;
    OTA_INFO("http: listening on %s (%d threads, up to %u connections, %u of them downloads, "
             "%d per address, head timeout %d s, idle timeout %d s)",
             app->cfg->http_addr, threads, max_conn, app->downloads_max,
             app->cfg->http_max_per_address,
             app->cfg->http_head_timeout, app->cfg->http_idle_timeout);
    if (https[0]) {
        srv->cert_pem = read_pem(app->tls_cert);
        srv->key_pem = read_pem(app->tls_key);
        if (!srv->cert_pem || !srv->key_pem) {
            OTA_ERROR("http: cannot read the TLS certificate %s or its key %s", app->tls_cert,
                      app->tls_key);
            goto fail;
        }
        srv->tls_d = listen_on(srv, https, &srv->secure, opts);
        if (!srv->tls_d)
            goto fail;
        OTA_INFO("http: listening on %s with TLS (certificate %s)", https, app->tls_cert);
    }
    return srv;
fail:
    http_stop(srv);
    return NULL;
}

void http_stop(http_server *srv)
{
    if (!srv)
        return;
    if (srv->tls_d)
        MHD_stop_daemon(srv->tls_d);
    if (srv->d)
        MHD_stop_daemon(srv->d);
    http_guard_stop(srv->guard); /* every connection is closed by now */
    if (srv->key_pem)
        OPENSSL_cleanse(srv->key_pem, strlen(srv->key_pem));
    free(srv->cert_pem);
    free(srv->key_pem);
    http_signin_close(srv->app);
    http_metrics_close(srv->app);
    http_ddi_close(srv->app);
    free(srv);
}
