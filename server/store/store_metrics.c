/*
 * store_metrics: the scrape's reads (store_metrics.h), four numbered statements in one
 * read transaction.
 */
#include "store/store_metrics.h"

#include "store/store_internal.h"

#include "ota_time.h"

#include <string.h>

/* seconds: a SQLite statement takes tens of microseconds, a PostgreSQL round trip a few
 * hundred; an engine round of 10,000 pushes a few hundred milliseconds */
static const double tx_le[] = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01,
                               0.025,  0.05,    0.1,    0.25,  0.5,    1,     2.5};

static const char *const kind_names[STORE_TX_KINDS] = {"one", "read", "write", "engine"};
_Static_assert(STORE_TX_ONE == 0 && STORE_TX_READ == 1 && STORE_TX_WRITE == 2,
               "kind_names follows store_tx_mode, then the engine's unit of work");

const char *store_tx_kind_name(int kind)
{
    return kind >= 0 && kind < STORE_TX_KINDS ? kind_names[kind] : "?";
}

void store__tx_latency_init(store_t *s)
{
    for (int k = 0; k < STORE_TX_KINDS; k++)
        hist_init(&s->tx_latency[k], tx_le, sizeof tx_le / sizeof tx_le[0]);
}

void store__tx_observe(store_t *s, int kind, int64_t t0_us)
{
    hist_observe_us(&s->tx_latency[kind], ota_time_mono_us() - t0_us);
}

void store_tx_latency(store_t *s, int kind, hist_read_t *out)
{
    hist_read(&s->tx_latency[kind], out);
}

static void batch_row(void *ud, const store_row *r)
{
    store_metrics *m = ud;
    if (m->n_batch_states >= STORE_METRIC_BATCH_STATES)
        return;
    r->text(r->row, 0, m->batch_state[m->n_batch_states], sizeof m->batch_state[0]);
    m->batches[m->n_batch_states++] = r->i64(r->row, 1);
}

static void tasks_row(void *ud, const store_row *r)
{
    store_metrics *m = ud;
    m->running_batches = r->i64(r->row, 0);
    for (int i = 0; i < FSM_STATE_COUNT; i++)
        m->tasks[i] = r->i64(r->row, 1 + i);
}

static void running_row(void *ud, const store_row *r)
{
    store_metrics *m = ud;
    if (m->n_running >= STORE_METRIC_RUNNING_MAX)
        return;
    m->running[m->n_running].id = r->i64(r->row, 0);
    m->running[m->n_running].total = r->i64(r->row, 1);
    m->running[m->n_running].succeeded = r->i64(r->row, 2);
    m->running[m->n_running].failed = r->i64(r->row, 3);
    m->n_running++;
}

typedef struct {
    store_t *s;
    store_metrics *m;
} read_call;

static ota_err read_fn(store_tx *tx, void *ud)
{
    read_call *c = ud;
    static const store_args none = {0};
    ota_err rc = c->s->ops->query(tx, STORE_Q_METRIC_BATCHES, &none, batch_row, c->m, NULL);
    if (rc == OTA_OK)
        rc = c->s->ops->query(tx, STORE_Q_METRIC_TASKS, &none, tasks_row, c->m, NULL);
    if (rc == OTA_OK)
        rc = c->s->ops->query(tx, STORE_Q_METRIC_ONLINE, &none, store__first_i64,
                              &c->m->devices_online, NULL);
    if (rc == OTA_OK)
        rc = c->s->ops->query(tx, STORE_Q_METRIC_RUNNING, &none, running_row, c->m, NULL);
    return rc;
}

ota_err store_metrics_read(store_t *s, store_metrics *out)
{
    read_call c = {s, out};
    memset(out, 0, sizeof *out);
    return s->ops->tx(s, STORE_TX_READ, read_fn, &c);
}
