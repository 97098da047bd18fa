/*
 * libFuzzer target for the NDJSON device import (core/reqparse.c): the line cutter and
 * the per-line parser, fed the body in chunks whose size byte 0 chooses. Beyond the
 * sanitizers: any split of the body gives the same devices and the same first error as
 * the body in one piece (a streamed upload arrives in arbitrary pieces), and every device
 * accepted passes the identifier and name rules.
 */
#include "core/reqparse.h"
#include "core/validate.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static void check(int cond)
{
    if (!cond)
        abort();
}

typedef struct {
    rq_error err;
    uint64_t hash; /* of every accepted device, in order */
    long devices;
} run;

static int on_line(void *ud, const char *line, size_t len, long lineno)
{
    run *r = ud;
    rq_import_row row;
    int rc = rq_import_line(line, len, lineno, &row, &r->err);
    if (rc < 0)
        return -1;
    if (rc == 1) {
        check(valid_identifier(row.identifier, NULL, 0) == 0);
        check(valid_device_name(row.name, NULL, 0) == 0);
        for (const char *p = row.identifier; *p; p++)
            r->hash = (r->hash ^ (unsigned char)*p) * 1099511628211ULL;
        r->hash = (r->hash ^ '\t') * 1099511628211ULL;
        for (const char *p = row.name; *p; p++)
            r->hash = (r->hash ^ (unsigned char)*p) * 1099511628211ULL;
        r->devices++;
    }
    return 0;
}

static void parse(const char *d, size_t n, size_t chunk, run *r)
{
    static rq_lines l;
    memset(&l, 0, sizeof l);
    memset(r, 0, sizeof *r);
    r->hash = 1469598103934665603ULL;
    for (size_t off = 0; off < n; off += chunk) {
        size_t k = n - off < chunk ? n - off : chunk;
        if (rq_lines_feed(&l, d + off, k, on_line, r, &r->err) != 0)
            return;
    }
    rq_lines_end(&l, on_line, r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    size_t chunk = (size_t)data[0] + 1;
    run whole, split;
    parse((const char *)data + 1, size - 1, size, &whole);
    parse((const char *)data + 1, size - 1, chunk, &split);
    check(whole.devices == split.devices && whole.hash == split.hash);
    check(whole.err.status == split.err.status && whole.err.line == split.err.line);
    check(strcmp(whole.err.code, split.err.code) == 0);
    if (whole.err.status)
        check(whole.err.status >= 400 && whole.err.status < 500 && whole.err.msg[0]);
    return 0;
}
