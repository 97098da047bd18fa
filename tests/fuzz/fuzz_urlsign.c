/*
 * libFuzzer target for server/core/urlsign: the parser of download request targets that
 * anyone on the network can send to /dl/. Checks, beyond the sanitizers: parsing never
 * accepts a target whose fields exceed the documented bounds, verification of a random
 * target never succeeds (the signature is unforgeable), and a link built from parsed
 * fields verifies and parses back to the same fields.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/urlsign.h"

static void check(int cond)
{
    if (!cond)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const unsigned char key[URLSIGN_KEY_BYTES] = {1, 2, 3};
    char target[URLSIGN_TARGET_MAX + 1];
    urlsign_request req;
    if (size > URLSIGN_TARGET_MAX)
        size = URLSIGN_TARGET_MAX;
    memcpy(target, data, size);
    target[size] = '\0';
    if (urlsign_parse(target, &req) != OTA_OK)
        return 0;
    check(strlen(req.firmware_id) <= URLSIGN_FIELD_MAX && strlen(req.device) <= URLSIGN_FIELD_MAX);
    check(strlen(req.batch_id) <= URLSIGN_FIELD_MAX && strlen(req.file_name) <= URLSIGN_FIELD_MAX);
    /* a random signature must not verify (the odds of a hit are 2^-256) */
    check(urlsign_verify(key, &req, 0) != OTA_OK);
    /* round trip: sign the parsed fields, build, parse the path back */
    urlsign_fields f = {req.firmware_id, req.file_name, req.batch_id, req.device, req.expires_s};
    char *url = NULL;
    if (req.firmware_id[0] && req.batch_id[0] && req.device[0] &&
        urlsign_build(key, "http://h", &f, &url) == OTA_OK) {
        urlsign_request back;
        check(urlsign_check(key, url + strlen("http://h"), -1, &back) == OTA_OK);
        check(strcmp(back.firmware_id, req.firmware_id) == 0 && strcmp(back.device, req.device) == 0);
        check(strcmp(back.batch_id, req.batch_id) == 0 && back.expires_s == req.expires_s);
    }
    free(url);
    return 0;
}
