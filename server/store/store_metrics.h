/*
 * store_metrics: what GET /metrics reads from the store at each scrape (http/metrics.c):
 * batches by state, the tasks of running batches by state (from the batches' counters,
 * no task row read) and devices online. Three small statements; the online count reads
 * the devices_online index (about 50 ms at 1,000,000 devices on SQLite).
 */
#ifndef OTAD_STORE_METRICS_H
#define OTAD_STORE_METRICS_H

#include "core/fsm.h"
#include "store/store.h"

#define STORE_METRIC_BATCH_STATES 8

typedef struct {
    int n_batch_states;
    char batch_state[STORE_METRIC_BATCH_STATES][24];
    int64_t batches[STORE_METRIC_BATCH_STATES];
    int64_t running_batches;
    int64_t tasks[FSM_STATE_COUNT]; /* of running batches, FSM_STATES order */
    int64_t devices_online;
} store_metrics;

/* Fills *out. OTA_EDB (logged) when the store fails. */
ota_err store_metrics_read(store_t *s, store_metrics *out);

#endif
