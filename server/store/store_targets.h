/*
 * store_targets: device tags, static groups and the devices a target matches
 * (docs/batches.md, "Targeting"), above the databases as catalog.c is. Tags are kept on the
 * device row as core/target.h's canonical text; groups are named lists of devices of one
 * product. Every call that changes a device's tags or groups also notes the device in
 * target_events, in the same transaction, when a continuous batch of its product is
 * unfinished: the engine judges it against those batches from there
 * (engine_targets_changed), so a kill -9 between the change and the join loses nothing.
 *
 * Errors as store.h: OTA_ENOTFOUND (product, device or group), OTA_EDUPLICATE (group
 * name), OTA_ELIMIT (TARGET_GROUPS_PER_PRODUCT groups; too many tags or devices, with
 * store_target_err), OTA_EINVAL (bad argument, or a refusal with store_target_err),
 * OTA_EDB. Ownership: strings in are borrowed for the call; lists are arrays the caller
 * frees with free().
 * Expected load: API calls; a bulk change handles up to STORE_TARGET_BULK_MAX devices in
 * one transaction.
 */
#ifndef OTAD_STORE_TARGETS_H
#define OTAD_STORE_TARGETS_H

#include "store/store.h"

#define STORE_TARGET_BULK_MAX 100000 /* devices one bulk call changes */

/* A target's conditions (core/target.h's texts; NULL or "" = no condition of that kind). */
typedef struct {
    const char *tags;
    const char *groups;
    const char *versions;
} store_match;

typedef struct {
    int64_t id;
    char product_key[OTA_PRODUCT_KEY_MAX + 1];
    char name[72];
    int64_t created_ms;
    int64_t members;
} store_group;

/* Why a call was refused: code (device_not_found, group_not_found, too_many_tags,
 * too_many_devices) and the identifier or group name at fault. */
typedef struct {
    const char *code;
    char name[OTA_IDENT_MAX + 8];
} store_target_err;

/* Replaces the device's tags with tags (canonical text; "" or "{}" = none); out (may be
 * NULL) gets the device. */
ota_err store_device_tags_put(store_t *s, const char *product_key, const char *identifier,
                              const char *tags, store_device *out);
/* Changes the tags of the devices idents[0..n) (n > 0), or else of the devices matching m
 * (at most STORE_TARGET_BULK_MAX; more: OTA_ELIMIT too_many_devices): set's tags put in
 * (canonical text or NULL), the keys remove[0..n_remove) taken out. All or nothing: an
 * unknown identifier (OTA_EINVAL device_not_found) or a device that would get more than
 * TARGET_TAGS_MAX tags (OTA_ELIMIT too_many_tags) changes nobody. *changed = devices. */
ota_err store_device_tags_bulk(store_t *s, const char *product_key, const char *const *idents,
                               size_t n, const store_match *m, const char *set,
                               const char *const *remove, size_t n_remove, int64_t *changed,
                               store_target_err *err);
/* The names of the device's groups as a JSON array text into out (outlen bytes). */
ota_err store_device_groups(store_t *s, const char *product_key, const char *identifier,
                            char *out, size_t outlen);

/* The product's devices matching m (and online: -1 any, 0, 1), by id. A group of m that
 * does not exist: OTA_EINVAL group_not_found. */
ota_err store_device_match_list(store_t *s, const char *product_key, int online,
                                const store_match *m, store_page pg, store_device **items,
                                size_t *n, int64_t *total, store_target_err *err);
/* How many devices of the product match m; with firmware_id > 0 (a firmware of the
 * product, else OTA_ENOTFOUND) also how many of them a batch of it would take now
 * (*eligible: activated, on another version, in no unfinished task). */
ota_err store_device_match_count(store_t *s, const char *product_key, const store_match *m,
                                 int64_t firmware_id, int64_t *matching, int64_t *eligible,
                                 store_target_err *err);

/* Groups. OTA_EDUPLICATE: the name is taken in the product. */
ota_err store_group_create(store_t *s, const char *product_key, const char *name,
                           int64_t now_ms, store_group *out);
ota_err store_group_get(store_t *s, const char *product_key, const char *name, store_group *out);
/* By name. */
ota_err store_group_list(store_t *s, const char *product_key, store_page pg, store_group **items,
                         size_t *n, int64_t *total);
/* Deletes the group and its memberships (a batch's filter naming it then matches no device
 * through it). */
ota_err store_group_delete(store_t *s, const char *product_key, const char *name);
/* Adds (add != 0) or removes the devices idents[0..n) (1..STORE_TARGET_BULK_MAX); all or
 * nothing: an unknown identifier answers OTA_EINVAL device_not_found. *changed = rows
 * added or removed (a device already in, or not in, counts 0). */
ota_err store_group_members_change(store_t *s, const char *product_key, const char *name,
                                   int add, const char *const *idents, size_t n,
                                   int64_t *changed, store_target_err *err);
/* The group's devices by id. */
ota_err store_group_members(store_t *s, const char *product_key, const char *name, store_page pg,
                            store_device **items, size_t *n, int64_t *total);

/* For batch creation (catalog.c), inside its transaction: OTA_EINVAL with err when a group
 * named in groups (a JSON array text) is not a group of the product. */
typedef struct store_tx store_tx;
ota_err store__groups_exist(store_t *s, store_tx *tx, int64_t product_id, const char *groups,
                            store_target_err *err);

#endif
