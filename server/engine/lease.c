/*
 * lease: the partition lease keeper's thread (lease.h says what it promises).
 */
#include "engine/lease.h"

#include "core/parts.h"
#include "ota_log.h"
#include "ota_time.h"
#include "store/store_parts.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define TAKE_LOCK_MS 2000 /* how long a take waits for the old owner's round, per tick */

struct lease {
    lease_config cfg;
    char me[PARTS_OWNER_MAX];
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t wake;
    int stop;
    _Atomic uint64_t held; /* what the engine works on */
    int failing;           /* the last tick could not reach the store */
};

/* The engine switches to set (from_ms: lease.h); on success it is what we hold. */
static int switch_to(lease_t *l, uint64_t set, const int64_t *from_ms, int64_t *applied_ms)
{
    uint64_t before = atomic_load(&l->held);
    if (set == before)
        return 0;
    if (l->cfg.route)
        l->cfg.route(l->cfg.route_ud, set, 0);
    if (l->cfg.apply(l->cfg.ud, set, from_ms, applied_ms) != 0) {
        if (l->cfg.route) /* the engine kept what it had: so do its sessions */
            l->cfg.route(l->cfg.route_ud, before, 1);
        return -1;
    }
    if (l->cfg.route)
        l->cfg.route(l->cfg.route_ud, set, 1);
    uint64_t was = atomic_exchange(&l->held, set);
    OTA_INFO("lease: %s now holds %d partitions (%+d)", l->me, parts_count(set),
             parts_count(set) - parts_count(was));
    return 0;
}

/* One tick. OTA_OK, or the first store error (the next tick tries again). */
static ota_err tick(lease_t *l)
{
    store_t *s = l->cfg.store;
    uint64_t owned = 0, taken = 0, release = 0, take = 0;
    parts_lease leases[PARTS_N];
    parts_action act[PARTS_N];
    store_member *live = NULL;
    size_t n_live = 0;
    int64_t now = 0, wm = 0, from[PARTS_N];

    ota_err rc = store_parts_renew(s, l->me, LEASE_TTL_MS, l->cfg.applied(l->cfg.ud), &owned);
    if (rc != OTA_OK)
        return rc;
    /* held in the database: what we had and kept, and what we held before a restart */
    if (switch_to(l, owned, NULL, &wm) != 0)
        return OTA_OK;
    rc = store_parts_read(s, LEASE_TTL_MS, leases, &live, &n_live, &now);
    if (rc != OTA_OK)
        return rc;
    const char **names = calloc(n_live + 1, sizeof *names);
    if (!names)
        abort(); /* the daemon may abort on out-of-memory */
    for (size_t i = 0; i < n_live; i++)
        names[i] = live[i].name;
    parts_plan(l->me, names, n_live, leases, now, act);
    free(names);
    free(live);
    for (int p = 0; p < PARTS_N; p++) {
        if (act[p] == PARTS_RELEASE && (owned >> p & 1))
            release |= (uint64_t)1 << p;
        else if (act[p] == PARTS_TAKE)
            take |= (uint64_t)1 << p;
    }
    /* the engine lets go first, then the database: no round of ours runs on them after */
    if (release && switch_to(l, owned & ~release, NULL, &wm) == 0) {
        rc = store_parts_release(s, l->me, release, wm);
        if (rc != OTA_OK)
            return rc;
        owned &= ~release;
    }
    if (take) {
        rc = store_parts_take(s, l->me, take, LEASE_TTL_MS, TAKE_LOCK_MS, &taken, from);
        if (rc == OTA_OK && taken)
            switch_to(l, owned | taken, from, &wm);
    }
    return OTA_OK;
}

static void *lease_main(void *arg)
{
    lease_t *l = arg;
    pthread_mutex_lock(&l->mu);
    while (!l->stop) {
        pthread_mutex_unlock(&l->mu);
        ota_err rc = tick(l);
        if (rc != OTA_OK && !l->failing)
            OTA_WARN("lease: %s cannot renew or take partition leases (%s); retrying",
                     l->me, ota_err_name(rc));
        else if (rc == OTA_OK && l->failing)
            OTA_INFO("lease: %s reaches the store again", l->me);
        l->failing = rc != OTA_OK;
        pthread_mutex_lock(&l->mu);
        if (l->stop)
            break;
        ota_time_cond_wait(&l->wake, &l->mu, LEASE_TICK_MS);
    }
    pthread_mutex_unlock(&l->mu);
    return NULL;
}

lease_t *lease_start(const lease_config *cfg)
{
    if (!cfg || !cfg->store || !cfg->me || !cfg->apply || !cfg->applied ||
        !store_parts_supported(cfg->store))
        return NULL;
    lease_t *l = calloc(1, sizeof *l);
    if (!l)
        return NULL;
    l->cfg = *cfg;
    snprintf(l->me, sizeof l->me, "%s", cfg->me);
    atomic_init(&l->held, 0);
    pthread_mutex_init(&l->mu, NULL);
    pthread_cond_init(&l->wake, NULL);
    if (pthread_create(&l->thread, NULL, lease_main, l) != 0) {
        pthread_cond_destroy(&l->wake);
        pthread_mutex_destroy(&l->mu);
        free(l);
        return NULL;
    }
    pthread_setname_np(l->thread, "ota-lease"); /* top -H, perf */
    return l;
}

void lease_stop(lease_t *l, int leave)
{
    if (!l)
        return;
    pthread_mutex_lock(&l->mu);
    l->stop = 1;
    pthread_cond_broadcast(&l->wake);
    pthread_mutex_unlock(&l->mu);
    pthread_join(l->thread, NULL);
    if (leave && store_parts_leave(l->cfg.store, l->me) != OTA_OK)
        OTA_WARN("lease: %s could not release its partitions; the others take them when "
                 "the leases run out",
                 l->me);
    pthread_cond_destroy(&l->wake);
    pthread_mutex_destroy(&l->mu);
    free(l);
}

uint64_t lease_held(lease_t *l)
{
    return l ? atomic_load(&l->held) : PARTS_ALL;
}
