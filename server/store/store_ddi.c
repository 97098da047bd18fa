/*
 * store_ddi: the DDI device API's reads and writes (store_ddi.h), each one numbered
 * statement of store_sql.c run as its own transaction (the last polls a JSON array per
 * statement); and the firmware SHA-1 that rows older than the column get when first needed.
 */
#include "store/store_ddi.h"

#include "store/store_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    store_t *s;
    store_q q;
    store_args a;
    store_row_fn row;
    void *ud;
} one_call;

static ota_err one_fn(store_tx *tx, void *ud)
{
    one_call *c = ud;
    return c->s->ops->query(tx, c->q, &c->a, c->row, c->ud, NULL);
}

static ota_err run_one(one_call *c)
{
    return c->s->ops->tx(c->s, STORE_TX_ONE, one_fn, c);
}

typedef struct {
    store_ddi_target *out;
    int found;
} target_read;

static void target_row(void *ud, const store_row *r)
{
    target_read *t = ud;
    store_ddi_target *o = t->out;
    char st[FSM_NAME_MAX], reason[FSM_NAME_MAX], bs[FSM_NAME_MAX];
    fsm_batch_state b;
    t->found = 1;
    o->device_id = r->i64(r->row, 0);
    o->batch_id = r->i64(r->row, 1);
    r->text(r->row, 2, st, sizeof st);
    o->attempt = (int)r->i64(r->row, 3);
    r->text(r->row, 4, reason, sizeof reason);
    r->text(r->row, 5, bs, sizeof bs);
    o->has_attributes = (int)r->i64(r->row, 6);
    o->cancel_acked = r->i64(r->row, 7);
    r->text(r->row, 8, o->windows, sizeof o->windows);
    o->online = (int)r->i64(r->row, 9);
    o->ddi = (int)r->i64(r->row, 10);
    o->hint_action = r->i64(r->row, 11);
    o->hint_step = (int)r->i64(r->row, 12);
    o->has_task = o->batch_id != 0 && fsm_state_from_name(st, &o->state) == 0;
    if (!reason[0] || fsm_reason_from_name(reason, &o->reason) != 0)
        o->reason = FSM_REASON_NONE;
    o->batch_running = fsm_batch_state_from_name(bs, &b) == 0 && fsm_batch_state_is_running(b);
}

ota_err store_ddi_target_get(store_t *s, const char *product_key, const char *identifier,
                             store_ddi_target *out)
{
    target_read t = {out, 0};
    one_call c = {s, STORE_Q_DDI_TARGET, {0}, target_row, &t};
    memset(out, 0, sizeof *out);
    store_arg_str(&c.a, product_key);
    store_arg_str(&c.a, identifier);
    ota_err rc = run_one(&c);
    if (rc == OTA_OK && !t.found)
        rc = OTA_ENOTFOUND;
    return rc;
}

ota_err store_ddi_attributes_put(store_t *s, int64_t device_id, const char *json, int64_t now_ms)
{
    one_call c = {s, STORE_Q_DDI_ATTRS_PUT, {0}, NULL, NULL};
    store_arg_i64(&c.a, device_id);
    store_arg_str(&c.a, json);
    store_arg_i64(&c.a, now_ms);
    return run_one(&c);
}

typedef struct {
    char *json;
    size_t len;
    int64_t *ms;
    int found;
} attrs_read;

static void attrs_row(void *ud, const store_row *r)
{
    attrs_read *a = ud;
    a->found = 1;
    r->text(r->row, 0, a->json, a->len);
    if (a->ms)
        *a->ms = r->i64(r->row, 1);
}

ota_err store_ddi_attributes_get(store_t *s, const char *product_key, const char *identifier,
                                 char *json, size_t len, int64_t *ms)
{
    attrs_read a = {json, len, ms, 0};
    one_call c = {s, STORE_Q_DDI_ATTRS_GET, {0}, attrs_row, &a};
    store_arg_str(&c.a, product_key);
    store_arg_str(&c.a, identifier);
    ota_err rc = run_one(&c);
    if (rc == OTA_OK && !a.found)
        rc = OTA_ENOTFOUND;
    return rc;
}

ota_err store_ddi_cancel_ack(store_t *s, int64_t device_id, int64_t action_id)
{
    one_call c = {s, STORE_Q_DDI_CANCEL_ACK, {0}, NULL, NULL};
    store_arg_i64(&c.a, device_id);
    store_arg_i64(&c.a, action_id);
    return run_one(&c);
}

ota_err store_ddi_hint_put(store_t *s, int64_t device_id, int64_t action_id, int step)
{
    one_call c = {s, STORE_Q_DDI_HINT_PUT, {0}, NULL, NULL};
    store_arg_i64(&c.a, device_id);
    store_arg_i64(&c.a, action_id);
    store_arg_i64(&c.a, step);
    return run_one(&c);
}

#define POLLS_CHUNK 5000 /* pairs per statement: about 150 KB of JSON text */

ota_err store_ddi_polls_put(store_t *s, const int64_t *ids, const int64_t *ms, size_t n)
{
    /* one JSON array of [id, ms] pairs per statement: both databases unpack it
     * (json_each, jsonb_array_elements) */
    size_t cap = (n < POLLS_CHUNK ? n : POLLS_CHUNK) * 44 + 3;
    char *text = malloc(cap);
    ota_err rc = OTA_OK;
    if (!text)
        abort(); /* the daemon may abort on out-of-memory */
    for (size_t start = 0; start < n && rc == OTA_OK; start += POLLS_CHUNK) {
        size_t len = 0;
        text[len++] = '[';
        for (size_t i = start; i < n && i < start + POLLS_CHUNK; i++)
            len += (size_t)snprintf(text + len, cap - len, "%s[%lld,%lld]", i > start ? "," : "",
                                    (long long)ids[i], (long long)ms[i]);
        text[len++] = ']';
        text[len] = '\0';
        one_call c = {s, STORE_Q_DDI_POLLS_PUT, {0}, NULL, NULL};
        store_arg_str(&c.a, text);
        rc = run_one(&c);
    }
    free(text);
    return rc;
}

ota_err store_firmware_set_sha1(store_t *s, int64_t id, const char *sha1)
{
    one_call c = {s, STORE_Q_FW_SET_SHA1, {0}, NULL, NULL};
    store_arg_i64(&c.a, id);
    store_arg_str(&c.a, sha1);
    return run_one(&c);
}
