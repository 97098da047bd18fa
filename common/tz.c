/*
 * tz: a reader of the system's TZif files (ota_tz.h). RFC 8536 describes the format: a
 * 44-byte header, a version 1 data block with 32-bit times (skipped), a second header and
 * the version 2 block with 64-bit times, read here: transition times, the index of each
 * transition's local time type, and the types (UT offset, isdst, designation index).
 */
#include "ota_tz.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TZ_FILE_MAX (512 * 1024) /* bytes: the largest zone file is a few KiB */

int ota_tz_name_ok(const char *name)
{
    size_t n = name ? strlen(name) : 0;
    if (n == 0 || n > OTA_TZ_NAME_MAX || name[0] == '/' || strstr(name, ".."))
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-' || c == '+' || c == '/'))
            return 0;
    }
    return 1;
}

static uint32_t be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int64_t be64(const unsigned char *p)
{
    return (int64_t)((uint64_t)be32(p) << 32 | be32(p + 4));
}

/* The six counts of a header at p (isutcnt, isstdcnt, leapcnt, timecnt, typecnt, charcnt). */
static void counts(const unsigned char *p, uint32_t c[6])
{
    for (int i = 0; i < 6; i++)
        c[i] = be32(p + 20 + 4 * i);
}

/* Reads the file into *buf (malloc'd), its size into *len. 0 or -1. */
static int read_file(const char *path, unsigned char **buf, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return -1;
    unsigned char *b = malloc(TZ_FILE_MAX);
    size_t n = b ? fread(b, 1, TZ_FILE_MAX, f) : 0;
    int err = ferror(f) || n == TZ_FILE_MAX;
    fclose(f);
    if (!b || err) {
        free(b);
        return -1;
    }
    *buf = b;
    *len = n;
    return 0;
}

/* Fills *out from the TZif bytes b[0..len). 0 or -1. */
static int parse(const unsigned char *b, size_t len, ota_tz *out)
{
    uint32_t c[6];
    if (len < 44 || memcmp(b, "TZif", 4) != 0 || b[4] < '2')
        return -1;
    counts(b, c);
    /* version 1 block: times 4 bytes, types 6 bytes */
    uint64_t skip = 44 + (uint64_t)c[3] * 5 + (uint64_t)c[4] * 6 + c[5] + (uint64_t)c[2] * 8 +
                    c[1] + c[0];
    if (skip + 44 > len || memcmp(b + skip, "TZif", 4) != 0)
        return -1;
    const unsigned char *h = b + skip;
    counts(h, c);
    uint32_t timecnt = c[3], typecnt = c[4];
    uint64_t need = 44 + (uint64_t)timecnt * 9 + (uint64_t)typecnt * 6;
    if (typecnt == 0 || timecnt > OTA_TZ_MAX_TRANSITIONS || skip + need > len)
        return -1;
    const unsigned char *times = h + 44, *idx = times + (size_t)timecnt * 8,
                        *types = idx + timecnt;
    out->at = malloc((timecnt ? timecnt : 1) * sizeof *out->at);
    out->off = malloc((timecnt ? timecnt : 1) * sizeof *out->off);
    if (!out->at || !out->off)
        return -1;
    for (uint32_t i = 0; i < timecnt; i++) {
        if (idx[i] >= typecnt || (i > 0 && be64(times + 8 * i) <= out->at[i - 1]))
            return -1;
        out->at[i] = be64(times + 8 * i);
        out->off[i] = (int32_t)be32(types + 6 * idx[i]);
    }
    out->n = timecnt;
    /* before the first transition: the first non-DST type (RFC 8536, section 3.2) */
    out->off_before = (int32_t)be32(types);
    for (uint32_t k = 0; k < typecnt; k++)
        if (types[6 * k + 4] == 0) {
            out->off_before = (int32_t)be32(types + 6 * k);
            break;
        }
    return 0;
}

int ota_tz_load(const char *name, ota_tz *out)
{
    char path[512];
    unsigned char *buf = NULL;
    size_t len = 0;
    memset(out, 0, sizeof *out);
    if (!ota_tz_name_ok(name))
        return -1;
    const char *dir = getenv("TZDIR");
    snprintf(path, sizeof path, "%s/%s", dir && *dir ? dir : "/usr/share/zoneinfo", name);
    if (read_file(path, &buf, &len) != 0)
        return -1;
    int rc = parse(buf, len, out);
    free(buf);
    if (rc != 0) {
        ota_tz_free(out);
        return -1;
    }
    snprintf(out->name, sizeof out->name, "%s", name);
    return 0;
}

void ota_tz_free(ota_tz *tz)
{
    if (!tz)
        return;
    free(tz->at);
    free(tz->off);
    memset(tz, 0, sizeof *tz);
}

int32_t ota_tz_offset(const ota_tz *tz, int64_t t_ms)
{
    int64_t t = t_ms >= 0 ? t_ms / 1000 : -((-t_ms + 999) / 1000);
    if (tz->n == 0 || t < tz->at[0])
        return tz->off_before;
    size_t lo = 0, hi = tz->n; /* the last transition at or before t */
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        if (tz->at[mid] <= t)
            lo = mid;
        else
            hi = mid;
    }
    return tz->off[lo];
}
