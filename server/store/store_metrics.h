/*
 * store_metrics: what GET /metrics reads from the store at each scrape (http/metrics.c):
 * batches by state, the tasks of running batches by state (from the batches' counters,
 * no task row read), devices online and each running batch's counters. Four small
 * statements; the online count reads
 * the devices_online index (about 50 ms at 1,000,000 devices on SQLite). And the latency
 * of the store's transactions, counted as they end (store__tx_observe).
 */
#ifndef OTAD_STORE_METRICS_H
#define OTAD_STORE_METRICS_H

#include "core/fsm.h"
#include "core/hist.h"
#include "store/store.h"

#define STORE_METRIC_BATCH_STATES 8
#define STORE_METRIC_RUNNING_MAX 100 /* as the statement's LIMIT */

typedef struct {
    int n_batch_states;
    char batch_state[STORE_METRIC_BATCH_STATES][24];
    int64_t batches[STORE_METRIC_BATCH_STATES];
    int64_t running_batches;
    int64_t tasks[FSM_STATE_COUNT]; /* of running batches, FSM_STATES order */
    int64_t devices_online;
    int n_running; /* running batches, newest first, at most STORE_METRIC_RUNNING_MAX */
    struct {
        int64_t id, total, succeeded, failed;
    } running[STORE_METRIC_RUNNING_MAX];
} store_metrics;

/* Fills *out. OTA_EDB (logged) when the store fails. */
ota_err store_metrics_read(store_t *s, store_metrics *out);

/* Transaction latency from its BEGIN (or first statement) to its COMMIT or ROLLBACK, by
 * kind: "one" (a statement alone), "read" (a read snapshot), "write" (the catalog's write
 * transactions and the API's changes), "engine" (the batch engine's unit of work, one per
 * round). Kept in memory by the handle, lock-free; read at a scrape. */
#define STORE_TX_KINDS 4
const char *store_tx_kind_name(int kind);
void store_tx_latency(store_t *s, int kind, hist_read_t *out);

#endif
