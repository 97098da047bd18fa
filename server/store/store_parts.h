/*
 * store_parts: the partition leases of several otad on one PostgreSQL (docs/postgresql.md,
 * "Partitions"). Tables partition_leases (one row per partition: owner, epoch, expires_ms)
 * and otad_members (instance name, last seen), both on the database's clock. The engine's
 * lease keeper (engine/lease.c) calls these once a tick; the engine fences each unit of
 * work with store_uow_fence, so an instance that lost a lease (paused past its expiry,
 * then taken over) cannot write for that partition any more.
 *
 * SQLite has one otad: store_parts_supported() is 0 there and the calls answer
 * OTA_ESTATE; the engine then owns every partition without leases and without a fence.
 * Load: a handful of statements per instance per second.
 */
#ifndef OTAD_STORE_PARTS_H
#define OTAD_STORE_PARTS_H

#include "core/parts.h"
#include "store/store.h"
#include "store/store_batch.h"

typedef struct {
    char name[PARTS_OWNER_MAX];
    int64_t seen_ms;
} store_member;

/* 1 when the database takes leases (PostgreSQL). */
int store_parts_supported(const store_t *s);
/* Marks me seen now and extends every lease me holds to now + ttl_ms, recording
 * applied_ms (the engine's watermark: every device message that reached the broker before
 * it is committed); *owned gets the set of partitions me holds after it. */
ota_err store_parts_renew(store_t *s, const char *me, int64_t ttl_ms, int64_t applied_ms,
                          uint64_t *owned);
/* The leases (leases[PARTS_N]), the instances seen within ttl_ms (*live, malloc'ed, the
 * caller frees it; *n_live entries) and the database's clock. */
ota_err store_parts_read(store_t *s, int64_t ttl_ms, parts_lease leases[PARTS_N],
                         store_member **live, size_t *n_live, int64_t *now_ms);
/* Lets go of the partitions of set that me holds (owner cleared, expired), with the
 * engine's watermark when it stopped working on them. */
ota_err store_parts_release(store_t *s, const char *me, uint64_t set, int64_t applied_ms);
/* Takes the partitions of set that are free (no owner, or the lease ran out), waiting for
 * the units of work that still hold them under their old owner (at most lock_ms); epoch
 * + 1 on each. *taken gets the ones taken, applied[p] the old owner's last watermark for
 * each (0: none recorded). */
ota_err store_parts_take(store_t *s, const char *me, uint64_t set, int64_t ttl_ms,
                         int64_t lock_ms, uint64_t *taken, int64_t applied[PARTS_N]);
/* A clean stop: releases everything me holds and forgets me. */
ota_err store_parts_leave(store_t *s, const char *me);

/* In a unit of work: checks that me holds every partition of set, and keeps them held
 * (their lease rows locked against a takeover) until the unit ends. OTA_EFENCED when one
 * is held by someone else or nobody. On PostgreSQL the unit is also ended by the server
 * when it stays idle more than a few seconds (a paused instance cannot keep the lock). */
ota_err store_uow_fence(store_uow *u, const char *me, uint64_t set);

/* Notices between instances (PostgreSQL LISTEN/NOTIFY): an instance that changed a batch
 * (created, paused, resumed, ended, moved to its next phase) tells the others, whose
 * engines re-read the batches at once instead of at their next resync (engine/notice.h).
 * Best-effort: a notice lost is made up by that resync. */
typedef struct store_listener store_listener;
/* Sends a notice from me (one statement, committed at once). */
ota_err store_parts_notify(store_t *s, const char *me);
/* Opens a connection of its own that listens; *out is closed with store_listener_close. */
ota_err store_listener_open(store_t *s, store_listener **out);
/* Waits up to wait_ms for notices: the number received from instances other than me (0 on
 * a timeout), or -1 when the connection is lost (close it and open another). */
int store_listener_wait(store_listener *l, const char *me, int wait_ms);
/* NULL is fine. */
void store_listener_close(store_listener *l);

/* The partitions the engine's reads cover (store_engine_deadlines, store_engine_pushable,
 * the presence snapshot and reset): PARTS_ALL at open. Engine thread only. */
void store_parts_filter(store_t *s, uint64_t set);

#endif
