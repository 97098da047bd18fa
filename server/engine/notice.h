/*
 * notice: the batch notices between several otad on one PostgreSQL. An instance that
 * changes a batch (the API creates, pauses, resumes or ends it; its engine moves it to its
 * next phase, stops it at a brake or completes it) sends a notice (store_parts_notify),
 * and every other instance's notice thread hears it and has its engine re-read the
 * batches at once (engine.c, resync) instead of at its next resync, up to a second later:
 * a batch created through one instance starts pushing on all of them together
 * (docs/postgresql.md, "Partitions"). Best-effort: a notice lost while the connection is
 * down is made up by that resync.
 */
#ifndef OTAD_NOTICE_H
#define OTAD_NOTICE_H

#include "store/store.h"

typedef struct notice notice_t;

/* Starts the listening thread; heard(ud) runs on it for every wait that brought notices
 * from other instances (several notices, one call). me: this instance's name (copied);
 * store: borrowed, outlives the thread. NULL on failure (logged). */
notice_t *notice_start(store_t *store, const char *me, void (*heard)(void *ud), void *ud);
/* Stops and joins the thread (within NOTICE_WAIT_MS). NULL is fine. */
void notice_stop(notice_t *n);

#endif
