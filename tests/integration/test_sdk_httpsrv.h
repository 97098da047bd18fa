/*
 * test_sdk_httpsrv: a small firmware download server for the SDK's integration tests,
 * on libmicrohttpd. It serves one in-memory image at /fw/image.bin, answers
 * "Range: bytes=N-" with 206 and Content-Range, and can misbehave on purpose: cut the
 * connection once the stream reaches a byte, ignore Range, answer an error status,
 * corrupt a byte, go slow, or stall. It records where each request started.
 */
#ifndef TEST_SDK_HTTPSRV_H
#define TEST_SDK_HTTPSRV_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

typedef struct tsrv tsrv;

struct tsrv {
    struct MHD_Daemon *d;
    int port;
    pthread_mutex_t mu;
    unsigned char *img;
    size_t len;
    char md5[33], sha256[65];
    /* behaviour, set before a request (under mu when the server runs) */
    long cut_at;       /* absolute byte at which the next response breaks; -1 none (one-shot) */
    int ignore_range;  /* answer 200 with the whole image */
    int status;        /* non-zero: answer this error status */
    long flip_byte;    /* corrupt this byte; -1 none */
    unsigned delay_us; /* sleep per block */
    long stall_at;     /* at this byte, stop sending for stall_ms; -1 none (one-shot) */
    unsigned stall_ms;
    void (*on_byte)(tsrv *s, uint64_t pos); /* called with each block's start; test hook */
    /* record */
    uint64_t starts[64];
    int nreq;
};

/* Starts on a free port with a random image of len bytes. Returns 0 or -1. */
int tsrv_start(tsrv *s, size_t len, unsigned seed);
void tsrv_stop(tsrv *s);
/* http://127.0.0.1:PORT/fw/image.bin into buf. */
void tsrv_url(const tsrv *s, char *buf, size_t cap);
int tsrv_nreq(tsrv *s);
uint64_t tsrv_start_of(tsrv *s, int i);

#endif
