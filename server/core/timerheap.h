/*
 * timerheap: the engine's deadlines (ack timeouts, upgrade timeouts, retry dues, batch
 * validity ends) as a binary min-heap of (due_ms, id, kind), earliest first; ties are
 * broken by id, then kind, so the order is deterministic.
 *
 * Deletion is lazy by design: when a task's deadline changes, the engine pushes the new
 * one and leaves the old entry in the heap; when an entry pops, the engine checks it
 * against the task (fsm_apply() answers FSM_NOTE_TIMER_STALE for a deadline that no longer
 * matches) and drops it. This keeps every operation O(log n) for fleets of a million
 * tasks. theap_remove() exists for the rare exact removal (a batch deleted, tests); it is
 * O(n) and should not be called per device message.
 *
 * Memory: the heap owns one array that doubles as needed, never beyond the `max_entries`
 * ceiling given at creation; a push over the ceiling fails with OTA_EFULL and leaves the
 * heap as it was. Not thread-safe: one owner (the engine thread).
 */
#ifndef OTAD_TIMERHEAP_H
#define OTAD_TIMERHEAP_H

#include <stddef.h>
#include <stdint.h>

#include "ota_err.h"

typedef struct {
    int64_t due_ms; /* epoch ms when it fires */
    uint64_t id;    /* the engine's id of the task (or batch) */
    int kind;       /* what fires (e.g. fsm_deadline); opaque here */
} theap_entry;

typedef struct theap theap;

/* A new empty heap that never holds more than max_entries (>= 1); initial_capacity is a
 * hint (0 for a default). Returns NULL on out of memory or max_entries == 0. Free with
 * theap_free(). */
theap *theap_new(size_t initial_capacity, size_t max_entries);
/* Frees the heap and its array. Accepts NULL. */
void theap_free(theap *h);

/* Adds an entry. OTA_OK, OTA_EFULL or OTA_ENOMEM (heap unchanged on failure). */
ota_err theap_push(theap *h, int64_t due_ms, uint64_t id, int kind);
/* Copies the earliest entry to *out without removing it. OTA_OK or OTA_EEMPTY. */
ota_err theap_peek(const theap *h, theap_entry *out);
/* Removes the earliest entry, copying it to *out (may be NULL). OTA_OK or OTA_EEMPTY. */
ota_err theap_pop(theap *h, theap_entry *out);
/* Pops the earliest entry only if due_ms <= now_ms. OTA_OK, or OTA_EEMPTY when the
 * heap is empty or its earliest entry is still in the future. */
ota_err theap_pop_due(theap *h, int64_t now_ms, theap_entry *out);
/* Removes every entry with this id and kind (kind < 0: any kind). O(n). Returns the number
 * removed (0 when none). */
size_t theap_remove(theap *h, uint64_t id, int kind);
/* Milliseconds from now_ms until the earliest entry is due (0 if already due), clamped to
 * max_wait_ms; max_wait_ms when empty. For the engine's sleep. */
int64_t theap_wait_ms(const theap *h, int64_t now_ms, int64_t max_wait_ms);
/* Removes everything (keeps the array). */
void theap_clear(theap *h);

size_t theap_size(const theap *h);
size_t theap_capacity(const theap *h);
size_t theap_max_entries(const theap *h);

#endif
