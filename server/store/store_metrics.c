/*
 * store_metrics: the scrape's reads (store_metrics.h), three numbered statements in one
 * read transaction.
 */
#include "store/store_metrics.h"

#include "store/store_internal.h"

#include <string.h>

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
    return rc;
}

ota_err store_metrics_read(store_t *s, store_metrics *out)
{
    read_call c = {s, out};
    memset(out, 0, sizeof *out);
    return s->ops->tx(s, STORE_TX_READ, read_fn, &c);
}
