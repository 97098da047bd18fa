/*
 * lease: the keeper of this instance's partition leases (several otad on one PostgreSQL;
 * docs/postgresql.md, "Partitions"). One thread, one tick every LEASE_TICK_MS: renew what
 * we hold, then from the live instances and the leases (core/parts.h's parts_plan) release
 * what another instance should have and take what is ours and free. The engine learns the
 * set it works on through the apply callback, which returns once the engine has switched:
 * a partition is released only after the engine stopped working on it.
 *
 * Leases last LEASE_TTL_MS: an instance that dies loses its partitions within that plus a
 * tick (and a round that was in flight), well inside 10 s.
 */
#ifndef OTAD_LEASE_H
#define OTAD_LEASE_H

#include <stdint.h>

#include "store/store.h"

#define LEASE_TTL_MS 4000
#define LEASE_TICK_MS 1000

typedef struct lease lease_t;

typedef struct {
    store_t *store;   /* borrowed; outlives the keeper */
    const char *me;   /* this instance's name (copied) */
    /* The engine works on set from now on; returns 0 once it does, -1 when it could not
     * switch in time (the keeper then keeps what it had for this tick). For a partition it
     * gains, from_ms[p] (from_ms may be NULL: 0 for all) is the last owner's watermark: the
     * device messages that reached the broker before it are committed, so the engine
     * replays only what it set aside after it (0: everything). *applied_ms gets the
     * engine's watermark at the switch (what a release records). Keeper thread. */
    int (*apply)(void *ud, uint64_t set, const int64_t *from_ms, int64_t *applied_ms);
    /* The engine's watermark now: every device message that reached the broker before it
     * is committed (0: none yet). Keeper thread. */
    int64_t (*applied)(void *ud);
    void *ud;
    /* Optional: where device messages are read (engine.h's route), called with route_ud on
     * the keeper thread around every switch of the engine's set: before it, with the
     * partitions kept and gained and connect = 0 (the sessions of partitions lost are left
     * first, so nothing of them is read once the engine no longer works on them), after
     * it with the set held and connect = 1 (the sessions of partitions gained connect once
     * the engine works on them). */
    void (*route)(void *route_ud, uint64_t set, int connect);
    void *route_ud;
} lease_config;

/* Starts the thread (the first tick runs at once). NULL on failure. */
lease_t *lease_start(const lease_config *cfg);
/* Stops the thread and, with leave = 1, releases every lease at once (a clean stop: the
 * others take over without waiting for the leases to run out). NULL is fine. */
void lease_stop(lease_t *l, int leave);
/* The partitions held after the last tick. Any thread. */
uint64_t lease_held(lease_t *l);

#endif
