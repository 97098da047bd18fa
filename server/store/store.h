/*
 * store: the service's durable catalog (products, devices, firmware) and the batch tables,
 * behind one interface. store_open picks the implementation from the URL ("sqlite:PATH",
 * or "postgresql://..." when otad is built with libpq: store_sqlite.c, store_pg.c); every
 * public function below dispatches through the tables the implementation put on the
 * handle (store_internal.h).
 *
 * Threads: one store_t is safe from any thread. Every mutating call is one transaction.
 * Ownership: strings passed in are copied; result structs are filled by value (fixed
 * buffers) and lists are arrays allocated by the store, freed with free().
 * Errors: every function returns an ota_err (common/ota_err.h): OTA_ENOTFOUND (the row, or
 * the product named in a request, does not exist), OTA_EDUPLICATE (a unique rule; *field,
 * when given, names which), OTA_ELIMIT (50 firmwares per product), OTA_EINUSE (firmware used
 * by an in_progress batch), OTA_EINVAL (bad argument), OTA_EDB (database failure, logged
 * once where found with the database's message).
 */
#ifndef OTAD_STORE_H
#define OTAD_STORE_H

#include "otaproto/ota_protocol.h"

#include <stddef.h>
#include <stdint.h>

#include "ota_err.h"

typedef struct store store_t;

typedef struct {
    int64_t id;
    char product_key[OTA_PRODUCT_KEY_MAX + 1];
    char name[256];        /* <= 50 code points */
    char description[512]; /* <= 100 code points */
    int64_t created_ms;
    int64_t device_count;   /* filled by get and list */
    int64_t firmware_count; /* filled by get and list */
    int require_signature;  /* uploads without a valid signature are refused */
} store_product;

/* Bytes of a device's tags text with its NUL (core/target.h's canonical JSON object). */
#define STORE_TAGS_TEXT_MAX 2048

typedef struct {
    int64_t id;
    int64_t product_id;
    char product_key[OTA_PRODUCT_KEY_MAX + 1];
    char identifier[OTA_IDENT_MAX + 1];
    char device_name[272];
    int activated;
    int online;
    int has_version; /* 0 when the device never reported one */
    char firmware_version[OTA_VERSION_MAX + 1];
    int64_t created_ms;
    int64_t activated_ms; /* 0 = never */
    int64_t last_seen_ms; /* 0 = never */
    char tags[STORE_TAGS_TEXT_MAX]; /* canonical JSON object; "" = none (store_targets.h) */
} store_device;

typedef struct {
    int64_t id;
    int64_t product_id;
    char product_key[OTA_PRODUCT_KEY_MAX + 1];
    char name[256];
    char version[OTA_VERSION_MAX + 1];
    char description[512];
    char file_name[320];
    int64_t size;
    char md5[33];
    char sha256[65];
    int64_t created_ms;
    char signature[96]; /* base64 Ed25519 signature of the manifest; "" = unsigned */
    char key_id[17];    /* the product's signing key that verified it; "" = unsigned */
    char sha1[41];      /* hex; "" for a row older than the column until first needed
                           (store_firmware_set_sha1, docs/ddi.md) */
} store_firmware;

/* A product's Ed25519 public key for firmware signatures (common/ota_sign.h). */
typedef struct {
    int64_t id;
    char product_key[16];
    char key_id[17]; /* ota_sign_key_id of the key */
    char name[256];
    char public_key[1100]; /* PEM SubjectPublicKeyInfo */
    int64_t created_ms;
    int64_t retired_ms; /* 0 = active */
} store_signkey;

/* One page of a list: items[0..n) owned by the caller (free(items)); total = all matches. */
typedef struct {
    int page;      /* from 1 */
    int page_size; /* 1..1000 */
} store_page;

/* Opens (creating if needed) the database named by url and applies pending migrations.
 * data_dir is used for relative paths. Returns OTA_OK and *out, or OTA_EDB with a
 * reason in err. */
ota_err store_open(const char *url, store_t **out, char *err, size_t errlen);
/* Closes the handle; NULL is fine. No call may be running. */
void store_close(store_t *s);
/* Cheap liveness check (a trivial query). OTA_OK when usable. */
ota_err store_ping(store_t *s);
/* Name of the implementation ("sqlite" or "postgresql"). */
const char *store_kind(const store_t *s);
/* The schema version after migrations. */
int store_schema_version(store_t *s);

/* --- products ---------------------------------------------------------------------- */
/* Creates a product with a new random productKey (out->product_key). */
ota_err store_product_create(store_t *s, const char *name, const char *description, int64_t now_ms,
                             store_product *out);
ota_err store_product_get(store_t *s, const char *product_key, store_product *out);
ota_err store_product_list(store_t *s, store_page pg, store_product **items, size_t *n,
                           int64_t *total);
/* Sets requireSignature; out (may be NULL) gets the product. OTA_ENOTFOUND: no product. */
ota_err store_product_set_require_signature(store_t *s, const char *product_key, int on,
                                             store_product *out);

/* --- signing keys ------------------------------------------------------------------ */
/* Adds a key (in->product_key, key_id, name, public_key). OTA_ENOTFOUND: no product;
 * OTA_EDUPLICATE: the product already has this key (active or retired); OTA_ELIMIT: the
 * product has RULES_SIGNING_KEYS_PER_PRODUCT keys. */
ota_err store_signkey_create(store_t *s, const store_signkey *in, int64_t now_ms,
                              store_signkey *out);
/* Every key of the product, oldest first, retired ones too (at most
 * RULES_SIGNING_KEYS_PER_PRODUCT). OTA_ENOTFOUND: no product. */
ota_err store_signkey_list(store_t *s, const char *product_key, store_signkey **items,
                            size_t *n);
/* Retires a key (already retired: unchanged); out gets the row. OTA_ENOTFOUND: no such
 * key in the product. */
ota_err store_signkey_retire(store_t *s, const char *product_key, const char *key_id,
                              int64_t now_ms, store_signkey *out);

/* --- devices ----------------------------------------------------------------------- */
/* OTA_ENOTFOUND: no such product; OTA_EDUPLICATE: identifier taken in the product. */
ota_err store_device_create(store_t *s, const char *product_key, const char *identifier,
                            const char *device_name, int64_t now_ms, store_device *out);
ota_err store_device_get(store_t *s, const char *product_key, const char *identifier,
                         store_device *out);
/* online: -1 any, 0 offline only, 1 online only. */
ota_err store_device_list(store_t *s, const char *product_key, int online, store_page pg,
                          store_device **items, size_t *n, int64_t *total);

/* Bulk import: one transaction for the whole import. begin (OTA_ENOTFOUND: no product),
 * add per device (OTA_EDUPLICATE: identifier already in the product or earlier in this
 * import), then commit (all rows appear) or abort (none do). The handle is used by one
 * thread at a time; commit and abort free it. */
typedef struct store_import store_import;
ota_err store_import_begin(store_t *s, const char *product_key, int64_t now_ms, store_import **out);
ota_err store_import_add(store_import *im, const char *identifier, const char *device_name);
ota_err store_import_commit(store_import *im, int64_t *created);
void store_import_abort(store_import *im);

/* Presence and version, for the MQTT side. presence sets online, last_seen_ms and (first
 * time) activated/activated_ms. OTA_ENOTFOUND when the device does not exist. */
ota_err store_device_set_online(store_t *s, const char *product_key, const char *identifier,
                                int online, int64_t now_ms);
ota_err store_device_set_version(store_t *s, const char *product_key, const char *identifier,
                                 const char *version, int64_t now_ms);
/* Marks every device offline (at start, before presence is rebuilt). */
ota_err store_device_all_offline(store_t *s);

/* --- firmware ---------------------------------------------------------------------- */
/* Adds a row for a file already placed under its sha256 name. In one transaction checks:
 * product exists (OTA_ENOTFOUND, field "productKey"), a signature when the product
 * requires one and in->key_id an active key of the product when given (OTA_EINVAL,
 * "signature": the caller verified the signature), fewer than 50 firmwares in the
 * product (OTA_ELIMIT), name unique (OTA_EDUPLICATE, "firmwareName"), version unique in
 * the product (OTA_EDUPLICATE, "firmwareVersion"). in->product_key names the product;
 * out gets the full row. *field (may be NULL) names the field at fault. */
ota_err store_firmware_create(store_t *s, const store_firmware *in, int64_t now_ms,
                              store_firmware *out, const char **field);
ota_err store_firmware_get(store_t *s, int64_t id, store_firmware *out);
/* product_key NULL = all products; OTA_ENOTFOUND when the given product does not exist. */
ota_err store_firmware_list(store_t *s, const char *product_key, store_page pg,
                            store_firmware **items, size_t *n, int64_t *total);
/* Deletes the row (and the finished batches and tasks that used it) unless an
 * in_progress batch uses it (OTA_EINUSE), in one transaction. On OTA_OK *deleted gets
 * the row and *sha_still_used says whether another row still uses the same file. */
ota_err store_firmware_delete(store_t *s, int64_t id, store_firmware *deleted, int *sha_still_used);
/* Records the SHA-1 of a firmware row that has none yet (rows added before the column).
 * OTA_OK also when it had one (then unchanged). */
ota_err store_firmware_set_sha1(store_t *s, int64_t id, const char *sha1);
/* 1 when some firmware row uses this sha256, 0 when none, -1 on error. */
int store_firmware_sha_used(store_t *s, const char *sha256);
/* Devices a directed batch of this firmware may pick: same product, activated, reported
 * version different from the firmware's (none counts as different), no unfinished task.
 * q (NULL or "") filters by substring of identifier or device name. */
ota_err store_firmware_eligible(store_t *s, int64_t firmware_id, const char *q, store_page pg,
                                store_device **items, size_t *n, int64_t *total);

#endif
