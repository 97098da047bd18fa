/*
 * libFuzzer target for the signed-firmware parsers anyone with an operator token (or a
 * compromised server, for the device side) can feed: strict base64 (common/sign.c), the
 * PEM public-key reader, the manifest builder, and the signing-key body of the API
 * (server/core/reqparse.c). Checks, beyond the sanitizers: base64 that decodes encodes
 * back to the same text (one text per value), a key read from PEM gets a 16-hex id, a
 * manifest holds no character needing JSON escapes, and a random signature never
 * verifies over the input.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/reqparse.h"
#include "ota_sign.h"

static void check(int cond)
{
    if (!cond)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *s = (const char *)data;
    unsigned char bin[256], raw[OTA_SIGN_PUB_BYTES];
    char txt[400], id[OTA_SIGN_KEY_ID_LEN + 1], m[OTA_SIGN_MANIFEST_MAX], buf[300];

    long n = ota_b64_decode(s, size, bin, sizeof bin);
    if (n >= 0) {
        check(ota_b64_encode(bin, (size_t)n, txt, sizeof txt) == (long)size);
        check(memcmp(txt, s, size) == 0);
    }
    if (ota_sign_pubkey_pem(s, size, raw, NULL) == 0) {
        ota_sign_key_id(raw, id);
        check(strlen(id) == OTA_SIGN_KEY_ID_LEN);
        unsigned char sig[OTA_SIGN_SIG_BYTES] = {0};
        if (size >= sizeof sig)
            memcpy(sig, data, sizeof sig);
        check(!ota_sign_verify(raw, data, size, sig));
    }
    /* the manifest from pieces of the input */
    size_t k = size < sizeof buf - 1 ? size : sizeof buf - 1;
    memcpy(buf, data, k);
    buf[k] = '\0';
    char *ver = strchr(buf, '|');
    if (ver)
        *ver++ = '\0';
    static const char sha[] = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";
    int ml = ota_sign_manifest(buf, ver ? ver : "1", (int64_t)size, sha, m, sizeof m);
    if (ml >= 0) {
        check((size_t)ml == strlen(m));
        for (int i = 0; i < ml; i++)
            check((unsigned char)m[i] >= 0x20 && m[i] != '\\');
    }
    /* the API body */
    json_t *keep = NULL;
    rq_signkey key;
    rq_error e = {0};
    if (rq_signkey_body(s, size, &keep, &key, &e) == 0)
        check(strlen(key.key_id) == OTA_SIGN_KEY_ID_LEN);
    else
        check(e.status >= 400 && e.status < 500);
    json_decref(keep);
    return 0;
}
