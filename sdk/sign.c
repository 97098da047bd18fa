/*
 * sign: the SDK's check of a signed firmware job before anything is downloaded
 * (otasdk.h, "Signed firmware"; docs/device-protocol.md). The manifest is the exact
 * byte string the firmware's owner signed with Ed25519:
 *   {"productKey":"<pk>","firmwareVersion":"<v>","size":<bytes>,"sha256":"<hex>"}
 * The signature is checked over the bytes as received; only then is the manifest parsed
 * and compared with the device and the job. The Ed25519 arithmetic is the port's
 * (otasdk_verify_ops), so the core stays free of a crypto library. Runs once per job.
 */
#include "sdk_internal.h"

#include <stdio.h>
#include <string.h>

static int b64_value(char ch)
{
    if (ch >= 'A' && ch <= 'Z')
        return ch - 'A';
    if (ch >= 'a' && ch <= 'z')
        return ch - 'a' + 26;
    if (ch >= '0' && ch <= '9')
        return ch - '0' + 52;
    if (ch == '+')
        return 62;
    if (ch == '/')
        return 63;
    return -1;
}

/* Standard padded base64 of exactly 64 bytes (88 characters ending "==") into out.
 * 0, or -1. */
static int sig_decode(const char *in, unsigned char out[64])
{
    size_t n = 0;
    int v[4];
    if (strlen(in) != 88 || in[86] != '=' || in[87] != '=')
        return -1;
    for (size_t i = 0; i < 84; i += 4) {
        for (int k = 0; k < 4; k++)
            if ((v[k] = b64_value(in[i + (size_t)k])) < 0)
                return -1;
        unsigned long w = (unsigned long)v[0] << 18 | (unsigned long)v[1] << 12 |
                          (unsigned long)v[2] << 6 | (unsigned long)v[3];
        out[n++] = (unsigned char)(w >> 16);
        out[n++] = (unsigned char)(w >> 8);
        out[n++] = (unsigned char)w;
    }
    v[0] = b64_value(in[84]);
    v[1] = b64_value(in[85]);
    if (v[0] < 0 || v[1] < 0 || (v[1] & 15))
        return -1;
    out[n] = (unsigned char)(v[0] << 2 | v[1] >> 4);
    return 0;
}

static int is_digits(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] < '0' || s[i] > '9')
            return 0;
    return n > 0;
}

static int is_sep(char ch)
{
    return ch == '.' || ch == '-' || ch == '_';
}

int otasdk_version_cmp(const char *a, const char *b)
{
    if (!a || !b)
        return a ? 1 : b ? -1 : 0;
    for (;;) {
        size_t la = 0, lb = 0;
        while (a[la] && !is_sep(a[la]))
            la++;
        while (b[lb] && !is_sep(b[lb]))
            lb++;
        int da = is_digits(a, la), db = is_digits(b, lb), r;
        if (da && db) {
            size_t za = 0, zb = 0; /* leading zeros do not count */
            while (za + 1 < la && a[za] == '0')
                za++;
            while (zb + 1 < lb && b[zb] == '0')
                zb++;
            if (la - za != lb - zb)
                return la - za < lb - zb ? -1 : 1;
            r = memcmp(a + za, b + zb, la - za);
        } else if (da != db) {
            r = da ? 1 : -1;
        } else {
            r = memcmp(a, b, la < lb ? la : lb);
            if (r == 0 && la != lb)
                r = la < lb ? -1 : 1;
        }
        if (r)
            return r < 0 ? -1 : 1;
        a += la;
        b += lb;
        if (!*a || !*b)
            return !*a && !*b ? 0 : !*a ? -1 : 1;
        a++; /* the separators */
        b++;
    }
}

static int fail(char *desc, size_t cap, const char *why)
{
    snprintf(desc, cap, "%s", why);
    return -1;
}

int sdk__check_signature(otasdk_ctx *c, char *desc, size_t cap)
{
    const otasdk_job *j = &c->job;
    unsigned char sig[64];
    char running[OTASDK_VERSION_MAX + 1];
    int ok = 0, rc = -1;
    if (c->n_keys == 0)
        return 0;
    if (!j->signature[0] || !j->manifest[0])
        return fail(desc, cap, "signature check failed: unsigned firmware");
    if (sig_decode(j->signature, sig) != 0)
        return fail(desc, cap, "signature check failed: malformed signature");
    for (size_t i = 0; i < c->n_keys && !ok; i++)
        ok = c->cfg.verify.ed25519(c->cfg.verify.user, c->keys[i], j->manifest,
                                   strlen(j->manifest), sig) == 1;
    if (!ok)
        return fail(desc, cap, "signature check failed: bad signature (no trusted key verifies it)");
    /* signed by a trusted key: now its content binds the job */
    json_t *m = json_loads(j->manifest, JSON_REJECT_DUPLICATES, NULL);
    json_t *size = m ? json_object_get(m, "size") : NULL;
    const char *pk = m ? json_string_value(json_object_get(m, "productKey")) : NULL;
    const char *ver = m ? json_string_value(json_object_get(m, "firmwareVersion")) : NULL;
    const char *sha = m ? json_string_value(json_object_get(m, "sha256")) : NULL;
    sdk__lock(c);
    memcpy(running, c->version, sizeof running);
    sdk__unlock(c);
    if (!pk || !ver || !sha || !json_is_integer(size))
        fail(desc, cap, "signature check failed: malformed manifest");
    else if (strcmp(pk, c->product_key) != 0)
        snprintf(desc, cap, "signature check failed: manifest for another product (%.32s)", pk);
    else if (strcmp(ver, j->version) != 0)
        fail(desc, cap, "signature check failed: manifest version differs from the push");
    else if (json_integer_value(size) < 0 || (uint64_t)json_integer_value(size) != j->size)
        fail(desc, cap, "signature check failed: manifest size differs from the push");
    else if (strcmp(sha, j->sha256) != 0)
        fail(desc, cap, "signature check failed: manifest sha256 differs from the push");
    else if (otasdk_version_cmp(ver, running) < 0)
        snprintf(desc, cap, "signature check failed: downgrade from %.40s to %.40s refused",
                 running, ver);
    else
        rc = 0;
    json_decref(m);
    return rc;
}
