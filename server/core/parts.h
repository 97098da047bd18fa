/*
 * parts: the partitions of the device key space and who should own them (pure, no I/O).
 *
 * With several otad on one PostgreSQL each device belongs to one partition, PARTS_N of
 * them, chosen by the identifier's MD5 (the same formula as the generated column
 * devices.part, so SQL and C agree: docs/postgresql.md, "Partitions"). Partitions are
 * owned through leases in the database (store/store_parts.h); parts_plan() decides, from
 * the live instances and the leases as read, which leases this instance renews, releases
 * and takes. Partition p goes to the live instance at position p mod n in name order, so
 * the partitions are spread evenly and every instance computes the same picture.
 */
#ifndef OTAD_PARTS_H
#define OTAD_PARTS_H

#include <stddef.h>
#include <stdint.h>

#include "otaproto/ota_protocol.h"

#define PARTS_N OTA_PARTS_N /* a set of partitions fits one uint64_t (bit p = partition p) */
#define PARTS_ALL UINT64_MAX
#define PARTS_OWNER_MAX 48

/* The partition of a device (0..PARTS_N-1): first byte of MD5(identifier) mod PARTS_N. */
int parts_of(const char *identifier);

typedef struct {
    char owner[PARTS_OWNER_MAX]; /* "" = nobody */
    int64_t epoch;               /* +1 at every change of owner */
    int64_t expires_ms;
} parts_lease;

typedef enum {
    PARTS_NONE,    /* not ours, nothing to do */
    PARTS_RENEW,   /* ours and stays ours */
    PARTS_RELEASE, /* ours, but another live instance should have it */
    PARTS_TAKE,    /* should be ours and is free (nobody, or the lease ran out) */
    PARTS_WAIT,    /* should be ours, its holder has not let it go yet */
} parts_action;

/* Fills act[PARTS_N] for instance me given the live instances (names, any order, me
 * included or not: me counts as live) and the leases as read at now_ms. */
void parts_plan(const char *me, const char *const *live, size_t n_live,
                const parts_lease leases[PARTS_N], int64_t now_ms, parts_action act[PARTS_N]);

/* The number of partitions in the set. */
int parts_count(uint64_t set);

#endif
