/*
 * libFuzzer target for the firmware upload's multipart/form-data (core/reqparse.c): the
 * streaming parser and the form rules on top, with the file part kept in memory.
 * Input: byte 0 is the chunk size (1..256) the body is fed in; bit 0 of byte 1 says
 * whether the first line of the rest is the Content-Type value (else
 * "multipart/form-data; boundary=XyZ"); the rest is the body. Beyond the sanitizers: any
 * split of the body gives the same fields, file bytes and first error as the body in one
 * piece, and an accepted form satisfies every field rule.
 */
#include "core/reqparse.h"
#include "core/validate.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define FILE_MAX (1u << 20) /* the target's ceiling instead of 100 MB */

static void check(int cond)
{
    if (!cond)
        abort();
}

typedef struct {
    uint64_t hash;
    uint64_t n;
} mem_file;

static int file_begin(void *ud)
{
    mem_file *m = ud;
    m->hash = 1469598103934665603ULL;
    m->n = 0;
    return 0;
}

static int file_write(void *ud, const char *d, size_t n)
{
    mem_file *m = ud;
    for (size_t i = 0; i < n; i++)
        m->hash = (m->hash ^ (unsigned char)d[i]) * 1099511628211ULL;
    m->n += n;
    return 0;
}

typedef struct {
    rq_form f;
    mem_file file;
    int ok;
} run;

static void parse(const char *ct, const char *d, size_t n, size_t chunk, run *r)
{
    memset(&r->file, 0, sizeof r->file);
    rq_file_sink sink = {file_begin, file_write, &r->file};
    r->ok = 0;
    if (rq_form_init(&r->f, ct, FILE_MAX, sink) == 0) {
        for (size_t off = 0; off < n; off += chunk) {
            size_t k = n - off < chunk ? n - off : chunk;
            if (rq_form_feed(&r->f, d + off, k) != 0)
                break;
        }
        r->ok = rq_form_finish(&r->f) == 0;
    }
    rq_form_free(&r->f);
}

static run whole, split; /* large: not on the stack */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char ct[512] = "multipart/form-data; boundary=XyZ";
    if (size < 2)
        return 0;
    size_t chunk = (size_t)data[0] + 1;
    const char *body = (const char *)data + 2;
    size_t n = size - 2;
    if (data[1] & 1) {
        const char *nl = memchr(body, '\n', n);
        size_t k = nl ? (size_t)(nl - body) : n;
        if (k >= sizeof ct)
            return 0;
        memcpy(ct, body, k);
        ct[k] = '\0';
        if (strlen(ct) != k)
            return 0; /* a header value holds no NUL */
        body += nl ? k + 1 : k;
        n -= nl ? k + 1 : k;
    }
    parse(ct, body, n, n ? n : 1, &whole);
    parse(ct, body, n, chunk, &split);
    check(whole.ok == split.ok && whole.f.err.status == split.f.err.status);
    check(strcmp(whole.f.err.code, split.f.err.code) == 0);
    check(whole.file.n == split.file.n && whole.file.hash == split.file.hash);
    for (int i = 0; i < RQ_F_COUNT; i++)
        check(whole.f.field_len[i] == split.f.field_len[i] &&
              memcmp(whole.f.field[i], split.f.field[i], whole.f.field_len[i]) == 0);
    if (whole.ok) {
        check(valid_firmware_name(whole.f.field[RQ_F_NAME], NULL, 0) == 0);
        check(valid_product_key(whole.f.field[RQ_F_PRODUCT]) == 0);
        check(valid_firmware_version(whole.f.field[RQ_F_VERSION], NULL, 0) == 0);
        check(valid_file_name(whole.f.file_name, NULL, NULL, 0) == 0);
        check(whole.file.n > 0 && whole.file.n <= FILE_MAX);
    } else {
        check(whole.f.err.status >= 400 && whole.f.err.status < 500 && whole.f.err.msg[0]);
    }
    return 0;
}
