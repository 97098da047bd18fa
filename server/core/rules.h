/*
 * rules: the catalog's business rules, decided once in C for every database. The store's
 * layer above the SQL (store/catalog.c) reads the facts a rule needs inside the
 * database's transaction, asks here, and writes only when the answer is yes; the SQLite
 * and PostgreSQL files never decide a rule. Pure functions, no I/O; called once per
 * firmware create or delete and once per identifier of a directed batch.
 *
 * The rules (docs/api.md states them for the API):
 *   - a product holds at most RULES_FIRMWARES_PER_PRODUCT firmwares;
 *   - a firmware name is unique over all products; a version is unique in its product;
 *   - a product that requires signatures takes only signed firmware, and a firmware's
 *     signature counts only from an active (not retired) key of its product (the
 *     signature itself is verified by the upload route, common/ota_sign.h);
 *   - a product holds at most RULES_SIGNING_KEYS_PER_PRODUCT signing keys, retired ones
 *     included;
 *   - a firmware used by a running batch cannot be deleted;
 *   - a device joins a batch when it exists in the firmware's product, is activated,
 *     reported a version other than the firmware's (none counts as other) and has no
 *     unfinished task (a device is in at most one; SQL says the same for a batch of all
 *     devices: STORE_SQL_ELIGIBLE in store/store_sql.h);
 *   - a batch has at least one device.
 */
#ifndef OTAD_RULES_H
#define OTAD_RULES_H

#include <stdint.h>

#define RULES_FIRMWARES_PER_PRODUCT 50
#define RULES_SIGNING_KEYS_PER_PRODUCT 50

/* What creating a firmware depends on, read in its transaction (counts of other rows). */
typedef struct {
    int product_found;
    int name_taken;         /* a firmware of any product has the name */
    int version_taken;      /* a firmware of the product has the version */
    int64_t firmware_count; /* firmwares of the product */
    int require_signature;  /* the product's requireSignature */
    int is_signed;          /* the upload carries a verified signature */
    int key_active;         /* its key is an active key of the product */
} rules_firmware_facts;

/* Why a firmware cannot be created, in the order they are checked: X(C, field) with the
 * request field at fault. */
#define RULES_FIRMWARE_REFUSALS(X)                                                              \
    X(NO_PRODUCT, "productKey")                                                                 \
    X(UNSIGNED, "signature")                                                                    \
    X(KEY_RETIRED, "signature")                                                                 \
    X(NAME_TAKEN, "firmwareName")                                                               \
    X(VERSION_TAKEN, "firmwareVersion")                                                         \
    X(PRODUCT_FULL, "productKey")

#define RULES_X_FW_ENUM(c, field) RULES_FW_##c,
typedef enum { RULES_FW_OK = 0, RULES_FIRMWARE_REFUSALS(RULES_X_FW_ENUM) } rules_firmware;
#undef RULES_X_FW_ENUM

/* The first rule the facts break, or RULES_FW_OK. */
rules_firmware rules_firmware_create(const rules_firmware_facts *f);
/* The request field a refusal names; NULL for RULES_FW_OK. */
const char *rules_firmware_field(rules_firmware r);

/* 1 when a product with key_count signing keys may take one more. */
int rules_signkey_addable(int64_t key_count);

/* 1 when a firmware used by running_batches running batches may be deleted. */
int rules_firmware_deletable(int64_t running_batches);

/* One identifier of a directed batch, as its product has it. */
typedef struct {
    int found;           /* a device of the firmware's product has the identifier */
    int activated;
    int has_version;     /* it reported a version */
    const char *version; /* that version (borrowed) */
    int busy;            /* it has an unfinished task */
} rules_device_facts;

/* Why a device cannot join a batch, in the order they are checked: X(C, API code). */
#define RULES_DEVICE_REFUSALS(X)                                                                \
    X(NOT_FOUND, "device_not_found")                                                            \
    X(NOT_ACTIVATED, "device_not_activated")                                                    \
    X(SAME_VERSION, "device_same_version")                                                      \
    X(BUSY, "device_busy")

#define RULES_X_DEV_ENUM(c, code) RULES_DEVICE_##c,
typedef enum { RULES_DEVICE_ELIGIBLE = 0, RULES_DEVICE_REFUSALS(RULES_X_DEV_ENUM) } rules_device;
#undef RULES_X_DEV_ENUM

/* Whether the device may join a batch of a firmware of version fw_version. */
rules_device rules_device_for_batch(const rules_device_facts *d, const char *fw_version);
/* The verdict for an identifier that came earlier in the same request, given its own:
 * its first task is unfinished by then, so an eligible device is busy. */
rules_device rules_device_again(rules_device verdict);
/* The API code of a refusal ("device_busy", ...); NULL for RULES_DEVICE_ELIGIBLE. */
const char *rules_device_code(rules_device r);

/* A batch without devices is refused with this code, naming identifiers (directed) or
 * scope (all devices). */
#define RULES_NO_DEVICES "no_devices"
const char *rules_no_devices_field(int directed);

#endif
