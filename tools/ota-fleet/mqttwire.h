/*
 * mqttwire: the few MQTT 3.1.1 packets the measuring tools need, as bytes on a non-blocking
 * socket, with no library in between (docs/benchmarks.md, "Method": the floor and the broker's
 * ceiling). libmosquitto reads a packet per call and writes each PUBACK with its own system
 * call; a tool that measures the broker must cost less than what it measures, so here a read
 * takes whatever the socket holds, every whole packet in it is handed out, and the answers
 * gather in one output buffer written once per round.
 *
 * Client side only: CONNECT, SUBSCRIBE, PUBLISH (QoS 0/1), PUBACK, PINGREQ, DISCONNECT out;
 * any packet in (the caller looks at the types it cares about). Prefix mw_.
 * Expected load: tens of thousands of connections, hundreds of thousands of packets a second.
 */
#ifndef OTA_MQTTWIRE_H
#define OTA_MQTTWIRE_H

#include <stddef.h>
#include <stdint.h>

enum {
    MW_CONNECT = 1,
    MW_CONNACK = 2,
    MW_PUBLISH = 3,
    MW_PUBACK = 4,
    MW_SUBSCRIBE = 8,
    MW_SUBACK = 9,
    MW_PINGREQ = 12,
    MW_PINGRESP = 13,
    MW_DISCONNECT = 14
};

/* A growable byte buffer; bytes [off, len) are pending. Never grows past MW_BUF_MAX. */
#define MW_BUF_MAX (256u << 20)
typedef struct {
    uint8_t *p;
    size_t off, len, cap;
} mw_buf;

/* One packet inside an input buffer: borrowed, valid until the buffer is next read into. */
typedef struct {
    uint8_t type;  /* MW_* */
    uint8_t flags; /* the low 4 bits of the first byte */
    const uint8_t *body;
    size_t len;
} mw_packet;

/* One client connection: a non-blocking socket and its two buffers. */
typedef struct {
    int fd; /* -1 when closed */
    mw_buf in, out;
} mw_conn;

/* Appends a packet to b. Each returns 0, or -1 when b would pass MW_BUF_MAX or memory ran out
 * (b unchanged). Strings are copied; payload may hold any bytes. */
int mw_connect(mw_buf *b, const char *client_id, const char *user, const char *password,
               uint16_t keepalive_s, int clean_session);
int mw_subscribe(mw_buf *b, uint16_t mid, const char *const *filters, int n, int qos);
int mw_publish(mw_buf *b, const char *topic, const void *payload, size_t len, int qos,
               uint16_t mid);
int mw_puback(mw_buf *b, uint16_t mid);
/* The SUBSCRIBE of server connection j of k reading product pk's version, upgrade_reply and
 * progress messages, the way otad reads them: on the device topics (one shared subscription
 * named group when k > 1) and on the partition topics the broker plugin moves them to
 * (docs/broker.md, "Partition topics"), where connection j takes the partitions p with
 * p mod k = j (Mosquitto refuses a shared subscription of a "$" topic). 0 or -1 as above. */
int mw_server_subscribe(mw_buf *b, uint16_t mid, const char *pk, const char *group, unsigned j,
                        unsigned k);
int mw_pingreq(mw_buf *b);
int mw_disconnect(mw_buf *b);

/* The next whole packet at b's pending bytes: returns 1 and fills *pkt (and consumes it),
 * 0 when the bytes so far end inside a packet, -1 on a malformed length. */
int mw_next(mw_buf *b, mw_packet *pkt);
/* A PUBLISH's parts: topic (not NUL-terminated, tlen bytes), mid (0 for QoS 0), payload.
 * Returns 0, or -1 when the body is malformed. */
int mw_publish_parts(const mw_packet *pkt, const char **topic, size_t *tlen, uint16_t *mid,
                     const uint8_t **payload, size_t *plen);
/* The mid a PUBACK or SUBACK answers, or -1. */
int mw_ack_mid(const mw_packet *pkt);

/* Starts a TCP connection to host:port (an IPv4 address), non-blocking, TCP_NODELAY; if
 * local is not NULL, binds to that IPv4 address first (spreads many connections over
 * 127.0.0.x). The connect may still be in progress: what is queued in c->out leaves once
 * the socket is writable (EPOLLOUT). Returns 0, or -1 (errno set). c's buffers start empty. */
int mw_conn_open(mw_conn *c, const char *host, int port, const char *local);
/* Reads everything the socket holds (until EAGAIN) into c->in. Returns the bytes read, 0 on
 * EAGAIN with nothing read, -1 on EOF or an error (errno set; ECONNRESET for EOF). */
long mw_conn_read(mw_conn *c);
/* Writes c->out until it is empty or the socket is full. Returns 1 when all is written, 0 when
 * bytes are left (wait for EPOLLOUT), -1 on an error. */
int mw_conn_flush(mw_conn *c);
/* Closes the socket and frees both buffers; c may be closed already. */
void mw_conn_close(mw_conn *c);

#endif
