/*
 * store_parts: the partition leases' public calls (store_parts.h), dispatched to the
 * database's implementation (pg_parts.c); a database without one (SQLite) answers
 * OTA_ESTATE and its engine owns every partition.
 */
#include "store/store_internal.h"

#include <stdlib.h>
#include <string.h>

int store_parts_supported(const store_t *s)
{
    return s && s->parts_ops != NULL;
}

ota_err store_parts_renew(store_t *s, const char *me, int64_t ttl_ms, int64_t applied_ms,
                          uint64_t *owned)
{
    *owned = 0;
    return s->parts_ops ? s->parts_ops->renew(s, me, ttl_ms, applied_ms, owned) : OTA_ESTATE;
}

ota_err store_parts_read(store_t *s, int64_t ttl_ms, parts_lease leases[PARTS_N],
                         store_member **live, size_t *n_live, int64_t *now_ms)
{
    *live = NULL;
    *n_live = 0;
    memset(leases, 0, PARTS_N * sizeof *leases);
    return s->parts_ops ? s->parts_ops->read(s, ttl_ms, leases, live, n_live, now_ms)
                        : OTA_ESTATE;
}

ota_err store_parts_release(store_t *s, const char *me, uint64_t set, int64_t applied_ms)
{
    if (!s->parts_ops)
        return OTA_ESTATE;
    return set ? s->parts_ops->release(s, me, set, applied_ms) : OTA_OK;
}

ota_err store_parts_take(store_t *s, const char *me, uint64_t set, int64_t ttl_ms,
                         int64_t lock_ms, uint64_t *taken, int64_t applied[PARTS_N])
{
    *taken = 0;
    memset(applied, 0, PARTS_N * sizeof *applied);
    if (!s->parts_ops)
        return OTA_ESTATE;
    return set ? s->parts_ops->take(s, me, set, ttl_ms, lock_ms, taken, applied) : OTA_OK;
}

ota_err store_parts_leave(store_t *s, const char *me)
{
    return s->parts_ops ? s->parts_ops->leave(s, me) : OTA_ESTATE;
}

void store_parts_filter(store_t *s, uint64_t set)
{
    s->parts_filter = set;
}

ota_err store_parts_notify(store_t *s, const char *me)
{
    return s->parts_ops ? s->parts_ops->notify(s, me) : OTA_ESTATE;
}

ota_err store_listener_open(store_t *s, store_listener **out)
{
    *out = NULL;
    if (!s->parts_ops)
        return OTA_ESTATE;
    void *impl = NULL;
    ota_err rc = s->parts_ops->listen(s, &impl);
    if (rc != OTA_OK)
        return rc;
    store_listener *l = malloc(sizeof *l);
    if (!l)
        abort(); /* the daemon may abort on out-of-memory */
    l->ops = s->parts_ops;
    l->impl = impl;
    *out = l;
    return OTA_OK;
}

int store_listener_wait(store_listener *l, const char *me, int wait_ms)
{
    return l->ops->listen_wait(l->impl, me, wait_ms);
}

void store_listener_close(store_listener *l)
{
    if (!l)
        return;
    l->ops->listen_close(l->impl);
    free(l);
}
