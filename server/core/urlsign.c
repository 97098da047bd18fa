/*
 * urlsign: builds and verifies signed download links (format and rules in urlsign.h).
 * Expected load: one build per push, one check per download request (plus Range
 * requests), so a few HMACs per device per attempt. All input is bounded: a target over
 * URLSIGN_TARGET_MAX bytes or a field over URLSIGN_FIELD_MAX bytes is refused before any
 * work.
 */
#include "urlsign.h"

#include "ota_crypto.h"

#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

ota_err urlsign_derive_key(const unsigned char server_key[32],
                           unsigned char url_key[URLSIGN_KEY_BYTES])
{
    return ota_hmac_sha256(server_key, 32, "url:", 4, url_key) == 0 ? OTA_OK : OTA_EINTERNAL;
}

static int field_ok(const char *s)
{
    if (!s || !s[0])
        return 0;
    return strnlen(s, URLSIGN_FIELD_MAX + 1) <= URLSIGN_FIELD_MAX;
}

static const char *file_or_default(const char *name)
{
    return name && name[0] ? name : URLSIGN_DEFAULT_FILE;
}

/* Appends "<len>:<value>\n" to buf at *pos (buf is large enough by construction). */
static void put_field(char *buf, size_t *pos, const char *v)
{
    size_t n = strlen(v);
    *pos += (size_t)snprintf(buf + *pos, 24, "%zu:", n);
    memcpy(buf + *pos, v, n);
    *pos += n;
    buf[(*pos)++] = '\n';
}

/* The MAC over the five fields, as hex. Fields already checked by the caller. */
static int mac_hex(const unsigned char key[URLSIGN_KEY_BYTES], const char *fid, const char *name,
                   const char *bid, const char *dev, int64_t exp, char out[URLSIGN_SIG_HEX + 1])
{
    char msg[16 + 5 * (URLSIGN_FIELD_MAX + 24)];
    size_t pos = 0;
    char num[24];
    snprintf(num, sizeof num, "%lld", (long long)exp);
    memcpy(msg, "ota-dl-v1\n", 10);
    pos = 10;
    put_field(msg, &pos, fid);
    put_field(msg, &pos, name);
    put_field(msg, &pos, bid);
    put_field(msg, &pos, dev);
    put_field(msg, &pos, num);
    unsigned char mac[32];
    if (ota_hmac_sha256(key, URLSIGN_KEY_BYTES, msg, pos, mac) != 0)
        return OTA_EINTERNAL;
    ota_hex_encode(mac, sizeof mac, out);
    OPENSSL_cleanse(mac, sizeof mac);
    return OTA_OK;
}

ota_err urlsign_sign(const unsigned char key[URLSIGN_KEY_BYTES], const urlsign_fields *f,
                     char sig_hex[URLSIGN_SIG_HEX + 1])
{
    const char *name = file_or_default(f->file_name);
    if (!field_ok(f->firmware_id) || !field_ok(name) || !field_ok(f->batch_id) ||
        !field_ok(f->device) || f->expires_s < 0)
        return OTA_EINVAL;
    return mac_hex(key, f->firmware_id, name, f->batch_id, f->device, f->expires_s, sig_hex);
}

static int unreserved(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '.' || c == '_' || c == '~';
}

/* Appends the percent-escaped s at *pos. */
static void put_escaped(char *buf, size_t *pos, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (unreserved(*p)) {
            buf[(*pos)++] = (char)*p;
        } else {
            buf[(*pos)++] = '%';
            buf[(*pos)++] = hex[*p >> 4];
            buf[(*pos)++] = hex[*p & 15];
        }
    }
}

static void put_raw(char *buf, size_t *pos, const char *s)
{
    size_t n = strlen(s);
    memcpy(buf + *pos, s, n);
    *pos += n;
}

ota_err urlsign_build(const unsigned char key[URLSIGN_KEY_BYTES], const char *base_url,
                      const urlsign_fields *f, char **out_url)
{
    *out_url = NULL;
    if (!base_url)
        return OTA_EINVAL;
    size_t blen = strnlen(base_url, URLSIGN_TARGET_MAX + 1);
    while (blen > 0 && base_url[blen - 1] == '/')
        blen--;
    if (blen == 0 || blen > URLSIGN_TARGET_MAX)
        return OTA_EINVAL;
    char sig[URLSIGN_SIG_HEX + 1];
    int rc = urlsign_sign(key, f, sig);
    if (rc != OTA_OK)
        return rc;
    const char *name = file_or_default(f->file_name);
    char num[24];
    snprintf(num, sizeof num, "%lld", (long long)f->expires_s);
    /* every escaped field is at most 3x its bytes; fixed parts are small */
    size_t cap =
        blen +
        3 * (strlen(f->firmware_id) + strlen(name) + strlen(f->batch_id) + strlen(f->device)) +
        strlen(num) + URLSIGN_SIG_HEX + 64;
    char *url = malloc(cap);
    if (!url)
        return OTA_EINTERNAL;
    size_t pos = 0;
    memcpy(url, base_url, blen);
    pos = blen;
    put_raw(url, &pos, "/dl/");
    put_escaped(url, &pos, f->firmware_id);
    put_raw(url, &pos, "/");
    put_escaped(url, &pos, name);
    put_raw(url, &pos, "?b=");
    put_escaped(url, &pos, f->batch_id);
    put_raw(url, &pos, "&d=");
    put_escaped(url, &pos, f->device);
    put_raw(url, &pos, "&e=");
    put_raw(url, &pos, num);
    put_raw(url, &pos, "&s=");
    put_raw(url, &pos, sig);
    url[pos] = '\0';
    *out_url = url;
    return OTA_OK;
}

/* ---- parsing ---- */

/* Unescapes s[0..len) into out (cap bytes incl. NUL). plus_space: '+' means ' ' (query).
 * Returns 0, or -1 on a bad escape, an embedded NUL, or overflow. */
static int unescape(const char *s, size_t len, char *out, size_t cap, int plus_space)
{
    size_t w = 0;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (c == '%') {
            if (i + 2 >= len)
                return -1;
            int hi = ota_hex_digit(s[i + 1]), lo = ota_hex_digit(s[i + 2]);
            if (hi < 0 || lo < 0)
                return -1;
            c = (char)(hi << 4 | lo);
            if (c == '\0')
                return -1;
            i += 2;
        } else if (c == '+' && plus_space) {
            c = ' ';
        }
        if (w + 1 >= cap)
            return -1;
        out[w++] = c;
    }
    out[w] = '\0';
    return 0;
}

/* Parses 1..18 decimal digits in canonical form (no leading zero, so every expiry has
 * exactly one spelling). Returns 0 and sets *v, or -1. */
static int parse_expiry(const char *s, int64_t *v)
{
    size_t n = strlen(s);
    if (n == 0 || n > 18 || (n > 1 && s[0] == '0'))
        return -1;
    int64_t x = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        x = x * 10 + (s[i] - '0');
    }
    *v = x;
    return 0;
}

static void set_sig(urlsign_request *out, const char *s)
{
    size_t n = strnlen(s, URLSIGN_SIG_HEX + 1);
    out->sig_bad_length = n != URLSIGN_SIG_HEX;
    if (n > URLSIGN_SIG_HEX)
        n = URLSIGN_SIG_HEX;
    memcpy(out->sig, s, n);
    out->sig[n] = '\0';
}

ota_err urlsign_request_from_parts(const char *firmware_id, const char *file_name, const char *b,
                                   const char *d, const char *e, const char *s,
                                   urlsign_request *out)
{
    memset(out, 0, sizeof *out);
    if (!field_ok(firmware_id) || !field_ok(file_name) || !field_ok(b) || !field_ok(d) || !e ||
        !s || !s[0])
        return OTA_EMALFORMED;
    if (parse_expiry(e, &out->expires_s) != 0)
        return OTA_EMALFORMED;
    memcpy(out->firmware_id, firmware_id, strlen(firmware_id) + 1);
    memcpy(out->file_name, file_name, strlen(file_name) + 1);
    memcpy(out->batch_id, b, strlen(b) + 1);
    memcpy(out->device, d, strlen(d) + 1);
    set_sig(out, s);
    return OTA_OK;
}

ota_err urlsign_parse(const char *target, urlsign_request *out)
{
    memset(out, 0, sizeof *out);
    if (!target)
        return OTA_EMALFORMED;
    size_t tlen = strnlen(target, URLSIGN_TARGET_MAX + 1);
    if (tlen > URLSIGN_TARGET_MAX || strncmp(target, "/dl/", 4) != 0)
        return OTA_EMALFORMED;
    const char *path = target + 4;
    const char *q = memchr(path, '?', tlen - 4);
    const char *pend = q ? q : target + tlen;
    const char *frag = memchr(path, '#', tlen - 4);
    if (frag)
        return OTA_EMALFORMED;
    const char *slash = memchr(path, '/', (size_t)(pend - path));
    if (!slash || slash == path || slash + 1 == pend ||
        memchr(slash + 1, '/', (size_t)(pend - slash - 1)))
        return OTA_EMALFORMED;
    if (unescape(path, (size_t)(slash - path), out->firmware_id, sizeof out->firmware_id, 0) ||
        unescape(slash + 1, (size_t)(pend - slash - 1), out->file_name, sizeof out->file_name, 0))
        return OTA_EMALFORMED;
    if (!out->firmware_id[0] || !out->file_name[0] || !q)
        return OTA_EMALFORMED;

    char e[32] = "", s[URLSIGN_FIELD_MAX + 1] = "";
    int seen_b = 0, seen_d = 0, seen_e = 0, seen_s = 0;
    const char *p = q + 1, *end = target + tlen;
    while (p < end) {
        const char *amp = memchr(p, '&', (size_t)(end - p));
        const char *pe = amp ? amp : end;
        const char *eq = memchr(p, '=', (size_t)(pe - p));
        if (pe > p) {
            if (!eq)
                return OTA_EMALFORMED;
            size_t klen = (size_t)(eq - p);
            const char *v = eq + 1;
            size_t vlen = (size_t)(pe - v);
            int rc = 0;
            if (klen == 1 && *p == 'b') {
                rc = seen_b++ || unescape(v, vlen, out->batch_id, sizeof out->batch_id, 1);
            } else if (klen == 1 && *p == 'd') {
                rc = seen_d++ || unescape(v, vlen, out->device, sizeof out->device, 1);
            } else if (klen == 1 && *p == 'e') {
                rc = seen_e++ || unescape(v, vlen, e, sizeof e, 1);
            } else if (klen == 1 && *p == 's') {
                rc = seen_s++ || unescape(v, vlen, s, sizeof s, 1);
            } /* other parameters are ignored */
            if (rc)
                return OTA_EMALFORMED;
        }
        p = pe + 1;
    }
    if (!seen_b || !seen_d || !seen_e || !seen_s || !out->batch_id[0] || !out->device[0] || !s[0] ||
        parse_expiry(e, &out->expires_s) != 0)
        return OTA_EMALFORMED;
    set_sig(out, s);
    return OTA_OK;
}

ota_err urlsign_verify(const unsigned char key[URLSIGN_KEY_BYTES], const urlsign_request *req,
                       int64_t now_s)
{
    char want[URLSIGN_SIG_HEX + 1];
    int rc = mac_hex(key, req->firmware_id, req->file_name, req->batch_id, req->device,
                     req->expires_s, want);
    if (rc != OTA_OK)
        return rc;
    if (req->sig_bad_length || !ota_ct_streq(want, req->sig))
        return OTA_EBADSIG;
    if (now_s >= req->expires_s)
        return OTA_EEXPIRED;
    return OTA_OK;
}

ota_err urlsign_check(const unsigned char key[URLSIGN_KEY_BYTES], const char *target, int64_t now_s,
                      urlsign_request *out)
{
    urlsign_request tmp;
    urlsign_request *r = out ? out : &tmp;
    int rc = urlsign_parse(target, r);
    if (rc != OTA_OK)
        return rc;
    return urlsign_verify(key, r, now_s);
}
