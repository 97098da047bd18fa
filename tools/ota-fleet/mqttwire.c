/*
 * mqttwire.c: MQTT 3.1.1 packets as bytes, and a non-blocking connection that reads and
 * writes them in bulk (mqttwire.h says why the measuring tools do not use libmosquitto).
 */
#include "mqttwire.h"

#include "otaproto/ota_protocol.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* Room for n more bytes after len (compacting what was consumed first). */
static int reserve(mw_buf *b, size_t n)
{
    if (b->off && b->off == b->len)
        b->off = b->len = 0;
    if (b->len + n <= b->cap)
        return 0;
    if (b->off) {
        memmove(b->p, b->p + b->off, b->len - b->off);
        b->len -= b->off;
        b->off = 0;
        if (b->len + n <= b->cap)
            return 0;
    }
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->len + n)
        cap *= 2;
    if (cap > MW_BUF_MAX)
        return -1;
    uint8_t *p = realloc(b->p, cap);
    if (!p)
        return -1;
    b->p = p;
    b->cap = cap;
    return 0;
}

/* Fixed header: type/flags byte and the remaining length (1..4 bytes). */
static void put_head(mw_buf *b, uint8_t first, size_t rem)
{
    b->p[b->len++] = first;
    do {
        uint8_t d = rem & 0x7f;
        rem >>= 7;
        b->p[b->len++] = (uint8_t)(d | (rem ? 0x80 : 0));
    } while (rem);
}

static void put_u16(mw_buf *b, unsigned v)
{
    b->p[b->len++] = (uint8_t)(v >> 8);
    b->p[b->len++] = (uint8_t)v;
}

static void put_str(mw_buf *b, const char *s, size_t n)
{
    put_u16(b, (unsigned)n);
    memcpy(b->p + b->len, s, n);
    b->len += n;
}

int mw_connect(mw_buf *b, const char *client_id, const char *user, const char *password,
               uint16_t keepalive_s, int clean_session)
{
    size_t ci = strlen(client_id), ul = user ? strlen(user) : 0, pl = password ? strlen(password) : 0;
    if (ci > 65535 || ul > 65535 || pl > 65535)
        return -1;
    size_t rem = 10 + 2 + ci + (user ? 2 + ul : 0) + (password ? 2 + pl : 0);
    if (reserve(b, rem + 5) != 0)
        return -1;
    put_head(b, MW_CONNECT << 4, rem);
    put_str(b, "MQTT", 4);
    b->p[b->len++] = 4; /* 3.1.1 */
    b->p[b->len++] = (uint8_t)((user ? 0x80 : 0) | (password ? 0x40 : 0) | (clean_session ? 0x02 : 0));
    put_u16(b, keepalive_s);
    put_str(b, client_id, ci);
    if (user)
        put_str(b, user, ul);
    if (password)
        put_str(b, password, pl);
    return 0;
}

int mw_subscribe(mw_buf *b, uint16_t mid, const char *const *filters, int n, int qos)
{
    size_t rem = 2;
    for (int i = 0; i < n; i++) {
        size_t l = strlen(filters[i]);
        if (l > 65535)
            return -1;
        rem += 2 + l + 1;
    }
    if (reserve(b, rem + 5) != 0)
        return -1;
    put_head(b, (MW_SUBSCRIBE << 4) | 0x02, rem);
    put_u16(b, mid);
    for (int i = 0; i < n; i++) {
        put_str(b, filters[i], strlen(filters[i]));
        b->p[b->len++] = (uint8_t)qos;
    }
    return 0;
}

int mw_server_subscribe(mw_buf *b, uint16_t mid, const char *pk, const char *group, unsigned j,
                        unsigned k)
{
    static const char *const kinds[3] = {OTA_TOPIC_VERSION, OTA_TOPIC_UPGRADE_REPLY,
                                         OTA_TOPIC_PROGRESS};
    enum { MAXF = 3 + 3 * OTA_PARTS_N };
    char buf[MAXF][OTA_PART_TOPIC_MAX + 64];
    const char *filters[MAXF];
    int n = 0;
    if (k == 0 || j >= k)
        return -1;
    for (int i = 0; i < 3; i++) {
        if (k > 1)
            snprintf(buf[n], sizeof buf[n], "$share/%s/" OTA_TOPIC_ROOT "%s/+/%s", group, pk,
                     kinds[i]);
        else
            snprintf(buf[n], sizeof buf[n], OTA_TOPIC_ROOT "%s/+/%s", pk, kinds[i]);
        filters[n] = buf[n];
        n++;
    }
    if (k == 1) {
        for (int i = 0; i < 3; i++) {
            snprintf(buf[n], sizeof buf[n], OTA_TOPIC_PART_PREFIX "+" OTA_TOPIC_ROOT "%s/+/%s", pk,
                     kinds[i]);
            filters[n] = buf[n];
            n++;
        }
    } else {
        for (unsigned p = j; p < OTA_PARTS_N; p += k)
            for (int i = 0; i < 3; i++) {
                snprintf(buf[n], sizeof buf[n], OTA_TOPIC_PART_PREFIX "%u" OTA_TOPIC_ROOT "%s/+/%s",
                         p, pk, kinds[i]);
                filters[n] = buf[n];
                n++;
            }
    }
    return mw_subscribe(b, mid, filters, n, 1);
}

int mw_publish(mw_buf *b, const char *topic, const void *payload, size_t len, int qos,
               uint16_t mid)
{
    size_t tl = strlen(topic);
    if (tl > 65535)
        return -1;
    size_t rem = 2 + tl + (qos ? 2 : 0) + len;
    if (reserve(b, rem + 5) != 0)
        return -1;
    put_head(b, (uint8_t)((MW_PUBLISH << 4) | (qos << 1)), rem);
    put_str(b, topic, tl);
    if (qos)
        put_u16(b, mid);
    memcpy(b->p + b->len, payload, len);
    b->len += len;
    return 0;
}

static int put_short(mw_buf *b, uint8_t first, int with_mid, uint16_t mid)
{
    if (reserve(b, 4) != 0)
        return -1;
    put_head(b, first, with_mid ? 2 : 0);
    if (with_mid)
        put_u16(b, mid);
    return 0;
}

int mw_puback(mw_buf *b, uint16_t mid)
{
    return put_short(b, MW_PUBACK << 4, 1, mid);
}

int mw_pingreq(mw_buf *b)
{
    return put_short(b, MW_PINGREQ << 4, 0, 0);
}

int mw_disconnect(mw_buf *b)
{
    return put_short(b, MW_DISCONNECT << 4, 0, 0);
}

int mw_next(mw_buf *b, mw_packet *pkt)
{
    size_t have = b->len - b->off, rem = 0, i = 1;
    unsigned shift = 0;
    if (have < 2)
        return 0;
    const uint8_t *p = b->p + b->off;
    for (;; i++) {
        if (i > 4)
            return -1;
        if (i >= have)
            return 0;
        rem |= (size_t)(p[i] & 0x7f) << shift;
        shift += 7;
        if (!(p[i] & 0x80))
            break;
    }
    i++;
    if (have - i < rem)
        return 0;
    pkt->type = p[0] >> 4;
    pkt->flags = p[0] & 0x0f;
    pkt->body = p + i;
    pkt->len = rem;
    b->off += i + rem;
    return 1;
}

int mw_publish_parts(const mw_packet *pkt, const char **topic, size_t *tlen, uint16_t *mid,
                     const uint8_t **payload, size_t *plen)
{
    int qos = (pkt->flags >> 1) & 3;
    if (pkt->len < 2)
        return -1;
    size_t tl = (size_t)pkt->body[0] << 8 | pkt->body[1];
    size_t at = 2 + tl + (qos ? 2 : 0);
    if (at > pkt->len)
        return -1;
    *topic = (const char *)pkt->body + 2;
    *tlen = tl;
    *mid = qos ? (uint16_t)(pkt->body[2 + tl] << 8 | pkt->body[3 + tl]) : 0;
    *payload = pkt->body + at;
    *plen = pkt->len - at;
    return 0;
}

int mw_ack_mid(const mw_packet *pkt)
{
    if (pkt->len < 2)
        return -1;
    return pkt->body[0] << 8 | pkt->body[1];
}

int mw_conn_open(mw_conn *c, const char *host, int port, const char *local)
{
    struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    memset(c, 0, sizeof *c);
    c->fd = -1;
    if (inet_pton(AF_INET, host, &to.sin_addr) != 1) {
        errno = EINVAL;
        return -1;
    }
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (local) {
        struct sockaddr_in me = {.sin_family = AF_INET};
        if (inet_pton(AF_INET, local, &me.sin_addr) != 1 ||
            bind(fd, (struct sockaddr *)&me, sizeof me) != 0) {
            int e = errno;
            close(fd);
            errno = e ? e : EINVAL;
            return -1;
        }
    }
    if (connect(fd, (struct sockaddr *)&to, sizeof to) != 0 && errno != EINPROGRESS) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    c->fd = fd;
    return 0;
}

long mw_conn_read(mw_conn *c)
{
    long total = 0;
    for (;;) {
        if (reserve(&c->in, 65536) != 0) {
            errno = ENOMEM;
            return -1;
        }
        ssize_t n = read(c->fd, c->in.p + c->in.len, c->in.cap - c->in.len);
        if (n > 0) {
            c->in.len += (size_t)n;
            total += n;
            if (c->in.len < c->in.cap)
                return total; /* a short read: the socket is empty */
            continue;
        }
        if (n == 0) {
            errno = ECONNRESET;
            return -1;
        }
        if (errno == EINTR)
            continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK)
            return total;
        return -1;
    }
}

int mw_conn_flush(mw_conn *c)
{
    while (c->out.off < c->out.len) {
        ssize_t n = send(c->fd, c->out.p + c->out.off, c->out.len - c->out.off, MSG_NOSIGNAL);
        if (n > 0) {
            c->out.off += (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOTCONN))
            return 0;
        return -1;
    }
    c->out.off = c->out.len = 0;
    return 1;
}

void mw_conn_close(mw_conn *c)
{
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
    free(c->in.p);
    free(c->out.p);
    memset(&c->in, 0, sizeof c->in);
    memset(&c->out, 0, sizeof c->out);
}
