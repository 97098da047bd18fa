/*
 * routes_certs: device certificates (mutual TLS, docs/security.md). Issue a client
 * certificate with CN "{productKey}.{identifier}" signed by the service's CA, list a
 * device's certificates, revoke them all (the CRL the broker plugin checks at the next
 * connection). The CA, the issued list and the CRL are files in DATA/keys (common/pki.c);
 * one mutex serialises the writers of this process. Load: operator actions, a few a minute.
 */
#include "http/http.h"

#include "core/validate.h"
#include "ota_log.h"
#include "ota_pki.h"

#include <openssl/crypto.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

static pthread_mutex_t pki_lock = PTHREAD_MUTEX_INITIALIZER;

/* The device of the path into cn ("pk.id"); answers 404 itself and returns -1 when the
 * product or device does not exist. */
static int path_device(http_req *r, char *cn, size_t cap)
{
    const char *pk = http_param(r, "productKey"), *id = http_param(r, "identifier");
    store_device d;
    ota_err rc = valid_product_key(pk) == 0 && valid_identifier(id, NULL, 0) == 0
                     ? store_device_get(r->app->store, pk, id, &d)
                     : OTA_ENOTFOUND;
    if (rc != OTA_OK) {
        http_send_store_error(r, rc, "device");
        return -1;
    }
    snprintf(cn, cap, "%s.%s", pk, id);
    return 0;
}

static json_t *cert_json(const char *serial, const char *cn, time_t not_after, int revoked)
{
    return json_pack("{s:s, s:s, s:o, s:b}", "serial", serial, "commonName", cn, "notAfter",
                     http_time((int64_t)not_after * 1000, 0), "revoked", revoked);
}

static int cert_issue(http_req *r)
{
    char cn[160], serial[OTA_PKI_SERIAL_HEX], err[256];
    char *cert = NULL, *key = NULL;
    time_t not_after;
    if (path_device(r, cn, sizeof cn) != 0)
        return MHD_YES;
    pthread_mutex_lock(&pki_lock);
    int rc = ota_pki_issue_device(r->app->keys_dir, cn, &cert, &key, serial, &not_after, err,
                                  sizeof err);
    pthread_mutex_unlock(&pki_lock);
    if (rc != 0) {
        OTA_ERROR("certs: cannot issue a certificate for %s: %s", cn, err);
        return http_send_error(r, 500, "internal", NULL, "The certificate could not be issued.");
    }
    OTA_INFO("certs: issued certificate %s for %s", serial, cn);
    json_t *j = cert_json(serial, cn, not_after, 0);
    json_object_set_new(j, "certificate", json_string(cert));
    json_object_set_new(j, "privateKey", json_string(key));
    OPENSSL_cleanse(key, strlen(key));
    free(cert);
    free(key);
    return http_send_json(r, 201, j);
}

typedef struct {
    json_t *items;
} list_ctx;

static void list_one(const char *serial, const char *cn, time_t not_after, int revoked, void *ud)
{
    list_ctx *l = ud;
    json_array_append_new(l->items, cert_json(serial, cn, not_after, revoked));
}

static int cert_list(http_req *r)
{
    char cn[160], err[256];
    store_page pg;
    list_ctx l;
    if (path_device(r, cn, sizeof cn) != 0 || http_paging(r, &pg) != 0)
        return MHD_YES;
    l.items = json_array();
    pthread_mutex_lock(&pki_lock);
    int n = ota_pki_list_device(r->app->keys_dir, cn, list_one, &l, err, sizeof err);
    pthread_mutex_unlock(&pki_lock);
    if (n < 0) {
        json_decref(l.items);
        OTA_ERROR("certs: cannot list the certificates of %s: %s", cn, err);
        return http_send_error(r, 500, "internal", NULL, "The certificates could not be read.");
    }
    /* the page asked for, oldest first */
    json_t *page = json_array();
    size_t from = (size_t)(pg.page - 1) * (size_t)pg.page_size;
    for (size_t i = from; i < json_array_size(l.items) && i < from + (size_t)pg.page_size; i++)
        json_array_append(page, json_array_get(l.items, i));
    json_decref(l.items);
    return http_send_list(r, page, n, pg);
}

static int cert_revoke(http_req *r)
{
    char cn[160], err[256];
    int revoked = 0;
    if (path_device(r, cn, sizeof cn) != 0)
        return MHD_YES;
    pthread_mutex_lock(&pki_lock);
    int rc = ota_pki_revoke_device(r->app->keys_dir, cn, &revoked, err, sizeof err);
    pthread_mutex_unlock(&pki_lock);
    if (rc != 0) {
        OTA_ERROR("certs: cannot revoke the certificates of %s: %s", cn, err);
        return http_send_error(r, 500, "internal", NULL, "The certificates could not be revoked.");
    }
    OTA_INFO("certs: revoked %d certificate(s) of %s", revoked, cn);
    return http_send_json(r, 200, json_pack("{s:i}", "revoked", revoked));
}

#define CERTS "/api/v1/products/{productKey}/devices/{identifier}/certificates"
const http_route http_routes_certs[] = {
    {"POST", CERTS, cert_issue, HTTP_OPERATOR, 0, 0, NULL, NULL},
    {"GET", CERTS, cert_list, HTTP_VIEWER, 0, 0, NULL, NULL},
    {"DELETE", CERTS, cert_revoke, HTTP_OPERATOR, 0, 0, NULL, NULL},
    HTTP_ROUTES_END,
};
