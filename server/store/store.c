/*
 * store: the public store functions. Each checks its arguments and dispatches through
 * the implementation's ops table; no SQL here. store_open picks the implementation from
 * the URL scheme.
 */
#include "store/store_internal.h"
#ifdef OTA_HAVE_PG
#include "store/store_pg.h"
#endif

#include "ota_crypto.h"
#include "ota_log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

store_rc store_open(const char *url, store_t **out, char *err, size_t errlen)
{
    *out = NULL;
    if (url && strncmp(url, "sqlite:", 7) == 0)
        return store_sqlite_open(url + 7, out, err, errlen);
#ifdef OTA_HAVE_PG
    if (url && (strncmp(url, "postgresql://", 13) == 0 || strncmp(url, "postgres://", 11) == 0))
        return store_pg_open(url, out, err, errlen);
    snprintf(err, errlen, "unsupported database URL (sqlite: or postgresql://)");
#else
    snprintf(err, errlen,
             "unsupported database URL (only sqlite: is built in; PostgreSQL needs"
             " otad built with libpq)");
#endif
    return STORE_ERROR;
}

void store_close(store_t *s)
{
    if (s)
        s->ops->close(s);
}

store_rc store_ping(store_t *s)
{
    return s ? s->ops->ping(s) : STORE_ERROR;
}

const char *store_kind(const store_t *s)
{
    return s ? s->ops->kind : "none";
}

int store_schema_version(store_t *s)
{
    return s->ops->schema_version(s);
}

const char *store_rc_name(store_rc rc)
{
    switch (rc) {
    case STORE_OK:
        return "ok";
    case STORE_NOT_FOUND:
        return "not_found";
    case STORE_DUPLICATE:
        return "duplicate";
    case STORE_LIMIT:
        return "limit";
    case STORE_IN_USE:
        return "in_use";
    case STORE_INVALID:
        return "invalid";
    case STORE_ERROR:
        break;
    }
    return "error";
}

int store__product_key(char *out)
{
    static const char set[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    unsigned char r[11];
    if (ota_random_bytes(r, sizeof r) != 0)
        return -1;
    for (int i = 0; i < 11; i++)
        out[i] = set[r[i] % 62]; /* the slight bias does not matter for an identifier */
    out[11] = '\0';
    return 0;
}

store_rc store_product_create(store_t *s, const char *name, const char *description, int64_t now_ms,
                              store_product *out)
{
    if (!name || !out)
        return STORE_INVALID;
    return s->ops->product_create(s, name, description ? description : "", now_ms, out);
}

store_rc store_product_get(store_t *s, const char *product_key, store_product *out)
{
    if (!product_key)
        return STORE_INVALID;
    return s->ops->product_get(s, product_key, out);
}

int store__page_ok(store_page pg)
{
    return pg.page >= 1 && pg.page_size >= 1 && pg.page_size <= 1000;
}

store_rc store_product_list(store_t *s, store_page pg, store_product **items, size_t *n,
                            int64_t *total)
{
    *items = NULL;
    *n = 0;
    *total = 0;
    if (!store__page_ok(pg))
        return STORE_INVALID;
    return s->ops->product_list(s, pg, items, n, total);
}

store_rc store_device_create(store_t *s, const char *product_key, const char *identifier,
                             const char *device_name, int64_t now_ms, store_device *out)
{
    if (!product_key || !identifier || !device_name)
        return STORE_INVALID;
    return s->ops->device_create(s, product_key, identifier, device_name, now_ms, out);
}

store_rc store_device_get(store_t *s, const char *product_key, const char *identifier,
                          store_device *out)
{
    if (!product_key || !identifier)
        return STORE_INVALID;
    return s->ops->device_get(s, product_key, identifier, out);
}

store_rc store_device_list(store_t *s, const char *product_key, int online, store_page pg,
                           store_device **items, size_t *n, int64_t *total)
{
    *items = NULL;
    *n = 0;
    *total = 0;
    if (!product_key)
        return STORE_INVALID;
    if (!store__page_ok(pg))
        return STORE_INVALID;
    return s->ops->device_list(s, product_key, online, pg, items, n, total);
}

store_rc store_import_begin(store_t *s, const char *product_key, int64_t now_ms, store_import **out)
{
    *out = NULL;
    store_import *im = calloc(1, sizeof *im);
    if (!im)
        abort();
    im->ops = s->ops;
    im->s = s;
    store_rc rc = s->ops->import_begin(s, product_key, now_ms, im);
    if (rc != STORE_OK) {
        free(im);
        return rc;
    }
    *out = im;
    return STORE_OK;
}

store_rc store_import_add(store_import *im, const char *identifier, const char *device_name)
{
    return im->ops->import_add(im, identifier, device_name);
}

store_rc store_import_commit(store_import *im, int64_t *created)
{
    store_rc rc = im->ops->import_commit(im, created);
    free(im);
    return rc;
}

void store_import_abort(store_import *im)
{
    if (!im)
        return;
    im->ops->import_abort(im);
    free(im);
}

store_rc store_device_set_online(store_t *s, const char *product_key, const char *identifier,
                                 int online, int64_t now_ms)
{
    return s->ops->device_set_online(s, product_key, identifier, online, now_ms);
}

store_rc store_device_set_version(store_t *s, const char *product_key, const char *identifier,
                                  const char *version, int64_t now_ms)
{
    return s->ops->device_set_version(s, product_key, identifier, version, now_ms);
}

store_rc store_device_all_offline(store_t *s)
{
    return s->ops->device_all_offline(s);
}

store_rc store_firmware_create(store_t *s, const store_firmware *in, int64_t now_ms,
                               store_firmware *out, const char **field)
{
    const char *dummy;
    if (!field)
        field = &dummy;
    *field = NULL;
    return s->ops->firmware_create(s, in, now_ms, out, field);
}

store_rc store_firmware_get(store_t *s, int64_t id, store_firmware *out)
{
    return s->ops->firmware_get(s, id, out);
}

store_rc store_firmware_list(store_t *s, const char *product_key, store_page pg,
                             store_firmware **items, size_t *n, int64_t *total)
{
    *items = NULL;
    *n = 0;
    *total = 0;
    if (!store__page_ok(pg))
        return STORE_INVALID;
    return s->ops->firmware_list(s, product_key, pg, items, n, total);
}

store_rc store_firmware_delete(store_t *s, int64_t id, store_firmware *deleted, int *sha_still_used)
{
    return s->ops->firmware_delete(s, id, deleted, sha_still_used);
}

int store_firmware_sha_used(store_t *s, const char *sha256)
{
    return s->ops->firmware_sha_used(s, sha256);
}

store_rc store_firmware_eligible(store_t *s, int64_t firmware_id, const char *q, store_page pg,
                                 store_device **items, size_t *n, int64_t *total)
{
    *items = NULL;
    *n = 0;
    *total = 0;
    if (!store__page_ok(pg))
        return STORE_INVALID;
    return s->ops->firmware_eligible(s, firmware_id, q && *q ? q : NULL, pg, items, n, total);
}
