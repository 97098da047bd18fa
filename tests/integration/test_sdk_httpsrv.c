/*
 * test_sdk_httpsrv: see test_sdk_httpsrv.h. Thread per connection, so a slow or stalled
 * response never blocks the next request.
 */
#include "test_sdk_httpsrv.h"

#include <microhttpd.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct {
    tsrv *s;
    uint64_t start; /* absolute offset of the response's first byte */
    long cut;       /* absolute cut for this response, -1 none */
    long stall;
} resp_state;

static void hexs(const unsigned char *in, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++)
        snprintf(out + 2 * i, 3, "%02x", in[i]);
}

static ssize_t reader(void *cls, uint64_t pos, char *buf, size_t max)
{
    resp_state *r = cls;
    tsrv *s = r->s;
    uint64_t abs = r->start + pos;
    size_t n = max > 4096 ? 4096 : max;
    if (abs >= s->len)
        return MHD_CONTENT_READER_END_OF_STREAM;
    if (r->cut >= 0 && abs >= (uint64_t)r->cut)
        return MHD_CONTENT_READER_END_WITH_ERROR;
    if (r->stall >= 0 && abs >= (uint64_t)r->stall) {
        r->stall = -1;
        usleep(s->stall_ms * 1000u);
    }
    if (n > s->len - abs)
        n = (size_t)(s->len - abs);
    if (r->cut >= 0 && abs + n > (uint64_t)r->cut)
        n = (size_t)((uint64_t)r->cut - abs);
    if (s->on_byte)
        s->on_byte(s, abs);
    if (s->delay_us)
        usleep(s->delay_us);
    memcpy(buf, s->img + abs, n);
    pthread_mutex_lock(&s->mu);
    if (s->flip_byte >= 0 && (uint64_t)s->flip_byte >= abs && (uint64_t)s->flip_byte < abs + n)
        buf[(uint64_t)s->flip_byte - abs] ^= 0x5a;
    pthread_mutex_unlock(&s->mu);
    return (ssize_t)n;
}

static enum MHD_Result handler(void *cls, struct MHD_Connection *c, const char *url,
                               const char *method, const char *version, const char *data,
                               size_t *data_size, void **con_cls)
{
    tsrv *s = cls;
    struct MHD_Response *resp;
    resp_state *r;
    const char *range;
    unsigned long long from = 0;
    unsigned status = MHD_HTTP_OK;
    enum MHD_Result ret;
    (void)version, (void)data, (void)data_size;
    if (*con_cls == NULL) { /* first call: headers only */
        *con_cls = (void *)1;
        return MHD_YES;
    }
    if (strcmp(method, "GET") != 0 || strcmp(url, "/fw/image.bin") != 0) {
        resp = MHD_create_response_from_buffer(9, (void *)"not found", MHD_RESPMEM_PERSISTENT);
        ret = MHD_queue_response(c, MHD_HTTP_NOT_FOUND, resp);
        MHD_destroy_response(resp);
        return ret;
    }
    range = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Range");
    pthread_mutex_lock(&s->mu);
    if (range && !s->ignore_range && sscanf(range, "bytes=%llu-", &from) == 1 && from < s->len)
        status = MHD_HTTP_PARTIAL_CONTENT;
    else
        from = 0;
    if (s->nreq < 64)
        s->starts[s->nreq] = range ? (uint64_t)from : 0;
    if (range && s->nreq < 64 && s->ignore_range)
        sscanf(range, "bytes=%llu-", (unsigned long long *)&s->starts[s->nreq]);
    s->nreq++;
    if (s->status) {
        unsigned st = (unsigned)s->status;
        pthread_mutex_unlock(&s->mu);
        resp = MHD_create_response_from_buffer(5, (void *)"error", MHD_RESPMEM_PERSISTENT);
        ret = MHD_queue_response(c, st, resp);
        MHD_destroy_response(resp);
        return ret;
    }
    r = calloc(1, sizeof *r);
    r->s = s;
    r->start = from;
    r->cut = s->cut_at;
    r->stall = s->stall_at;
    s->cut_at = -1;
    s->stall_at = -1;
    pthread_mutex_unlock(&s->mu);
    resp = MHD_create_response_from_callback(s->len - from, 4096, reader, r, free);
    if (status == MHD_HTTP_PARTIAL_CONTENT) {
        char cr[96];
        snprintf(cr, sizeof cr, "bytes %llu-%llu/%llu", from, (unsigned long long)s->len - 1,
                 (unsigned long long)s->len);
        MHD_add_response_header(resp, "Content-Range", cr);
    }
    MHD_add_response_header(resp, "Accept-Ranges", "bytes");
    ret = MHD_queue_response(c, status, resp);
    MHD_destroy_response(resp);
    return ret;
}

int tsrv_start(tsrv *s, size_t len, unsigned seed)
{
    unsigned char md[32];
    unsigned int n;
    const union MHD_DaemonInfo *info;
    memset(s, 0, sizeof *s);
    pthread_mutex_init(&s->mu, NULL);
    s->cut_at = s->flip_byte = s->stall_at = -1;
    s->len = len;
    s->img = malloc(len);
    if (!s->img)
        return -1;
    srand(seed);
    for (size_t i = 0; i < len; i++)
        s->img[i] = (unsigned char)(rand() >> 3);
    EVP_Digest(s->img, len, md, &n, EVP_md5(), NULL);
    hexs(md, 16, s->md5);
    EVP_Digest(s->img, len, md, &n, EVP_sha256(), NULL);
    hexs(md, 32, s->sha256);
    s->d =
        MHD_start_daemon(MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD, 0, NULL,
                         NULL, handler, s, MHD_OPTION_CONNECTION_TIMEOUT, 30u, MHD_OPTION_END);
    if (!s->d)
        return -1;
    info = MHD_get_daemon_info(s->d, MHD_DAEMON_INFO_BIND_PORT);
    s->port = info ? info->port : 0;
    return s->port > 0 ? 0 : -1;
}

void tsrv_stop(tsrv *s)
{
    if (s->d)
        MHD_stop_daemon(s->d);
    s->d = NULL;
    free(s->img);
    s->img = NULL;
    pthread_mutex_destroy(&s->mu);
}

void tsrv_url(const tsrv *s, char *buf, size_t cap)
{
    snprintf(buf, cap, "http://127.0.0.1:%d/fw/image.bin", s->port);
}

int tsrv_nreq(tsrv *s)
{
    int n;
    pthread_mutex_lock(&s->mu);
    n = s->nreq;
    pthread_mutex_unlock(&s->mu);
    return n;
}

uint64_t tsrv_start_of(tsrv *s, int i)
{
    uint64_t v;
    pthread_mutex_lock(&s->mu);
    v = i < s->nreq && i < 64 ? s->starts[i] : UINT64_MAX;
    pthread_mutex_unlock(&s->mu);
    return v;
}
