/*
 * store_internal: what the store's implementations share, and nothing the rest of otad
 * may use. Each implementation fills one store_ops table; store.c's public functions
 * only check arguments and dispatch through it. A new database is a new file with a new
 * table and one line in store_open (store.c).
 */
#ifndef OTAD_STORE_INTERNAL_H
#define OTAD_STORE_INTERNAL_H

#include "store/store.h"

typedef struct store_ops store_ops;

struct store {
    const store_ops *ops;
    void *impl; /* the implementation's state (sqlite: struct store_sqlite) */
};

struct store_import {
    const store_ops *ops;
    store_t *s;
    void *impl;
};

struct store_ops {
    const char *kind;
    void (*close)(store_t *s);
    store_rc (*ping)(store_t *s);
    int (*schema_version)(store_t *s);

    store_rc (*product_create)(store_t *s, const char *name, const char *description,
                               int64_t now_ms, store_product *out);
    store_rc (*product_get)(store_t *s, const char *product_key, store_product *out);
    store_rc (*product_list)(store_t *s, store_page pg, store_product **items, size_t *n,
                             int64_t *total);

    store_rc (*device_create)(store_t *s, const char *product_key, const char *identifier,
                              const char *device_name, int64_t now_ms, store_device *out);
    store_rc (*device_get)(store_t *s, const char *product_key, const char *identifier,
                           store_device *out);
    store_rc (*device_list)(store_t *s, const char *product_key, int online, store_page pg,
                            store_device **items, size_t *n, int64_t *total);
    store_rc (*import_begin)(store_t *s, const char *product_key, int64_t now_ms, store_import *im);
    store_rc (*import_add)(store_import *im, const char *identifier, const char *device_name);
    store_rc (*import_commit)(store_import *im, int64_t *created);
    void (*import_abort)(store_import *im);
    store_rc (*device_set_online)(store_t *s, const char *product_key, const char *identifier,
                                  int online, int64_t now_ms);
    store_rc (*device_set_version)(store_t *s, const char *product_key, const char *identifier,
                                   const char *version, int64_t now_ms);
    store_rc (*device_all_offline)(store_t *s);

    store_rc (*firmware_create)(store_t *s, const store_firmware *in, int64_t now_ms,
                                store_firmware *out, const char **field);
    store_rc (*firmware_get)(store_t *s, int64_t id, store_firmware *out);
    store_rc (*firmware_list)(store_t *s, const char *product_key, store_page pg,
                              store_firmware **items, size_t *n, int64_t *total);
    store_rc (*firmware_delete)(store_t *s, int64_t id, store_firmware *deleted,
                                int *sha_still_used);
    int (*firmware_sha_used)(store_t *s, const char *sha256);
    store_rc (*firmware_eligible)(store_t *s, int64_t firmware_id, const char *q, store_page pg,
                                  store_device **items, size_t *n, int64_t *total);

    /* ---- batch engine ops (lead) ---------------------------------------------------
     * The lead adds the batch functions' pointers here, implements them for SQLite in
     * sqlite_batch.c (borrowing connections with store_sqlite_conn_get/put or running
     * store_sqlite_tx, store_sqlite.h) and declares the public wrappers in store_batch.h.
     * store_sqlite.c's table names its batch entries in the same marked section.
     * ------------------------------------------------------------------------------ */
};

/* Implementations. */
store_rc store_sqlite_open(const char *path, store_t **out, char *err, size_t errlen);

/* 1 when pg is a valid page (page >= 1, page_size 1..1000); the public list functions
 * check it once, so implementations may assume it. */
int store__page_ok(store_page pg);

/* Fills a random product key of 11 [A-Za-z0-9] characters + NUL into out (>= 12 bytes). */
int store__product_key(char *out);

#endif
