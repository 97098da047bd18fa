/*
 * rules: the catalog's business rules (see rules.h). Each is a small function of facts
 * read by the caller; the refusal lists in rules.h give the order and the names.
 */
#include "rules.h"

#include <stddef.h>
#include <string.h>

rules_firmware rules_firmware_create(const rules_firmware_facts *f)
{
    if (!f->product_found)
        return RULES_FW_NO_PRODUCT;
    if (f->require_signature && !f->is_signed)
        return RULES_FW_UNSIGNED;
    if (f->is_signed && !f->key_active)
        return RULES_FW_KEY_RETIRED;
    if (f->name_taken)
        return RULES_FW_NAME_TAKEN;
    if (f->version_taken)
        return RULES_FW_VERSION_TAKEN;
    if (f->firmware_count >= RULES_FIRMWARES_PER_PRODUCT)
        return RULES_FW_PRODUCT_FULL;
    return RULES_FW_OK;
}

const char *rules_firmware_field(rules_firmware r)
{
    switch (r) {
#define X_FIELD(c, field)                                                                          \
    case RULES_FW_##c:                                                                             \
        return field;
        RULES_FIRMWARE_REFUSALS(X_FIELD)
#undef X_FIELD
    case RULES_FW_OK:
        break;
    }
    return NULL;
}

int rules_signkey_addable(int64_t key_count)
{
    return key_count < RULES_SIGNING_KEYS_PER_PRODUCT;
}

int rules_firmware_deletable(int64_t running_batches)
{
    return running_batches == 0;
}

rules_device rules_device_for_batch(const rules_device_facts *d, const char *fw_version)
{
    if (!d->found)
        return RULES_DEVICE_NOT_FOUND;
    if (!d->activated)
        return RULES_DEVICE_NOT_ACTIVATED;
    if (d->has_version && d->version && strcmp(d->version, fw_version) == 0)
        return RULES_DEVICE_SAME_VERSION;
    if (d->busy)
        return RULES_DEVICE_BUSY;
    return RULES_DEVICE_ELIGIBLE;
}

rules_device rules_device_again(rules_device verdict)
{
    return verdict == RULES_DEVICE_ELIGIBLE ? RULES_DEVICE_BUSY : verdict;
}

const char *rules_device_code(rules_device r)
{
    switch (r) {
#define X_CODE(c, code)                                                                            \
    case RULES_DEVICE_##c:                                                                         \
        return code;
        RULES_DEVICE_REFUSALS(X_CODE)
#undef X_CODE
    case RULES_DEVICE_ELIGIBLE:
        break;
    }
    return NULL;
}

const char *rules_no_devices_field(int directed)
{
    return directed ? "identifiers" : "scope";
}
