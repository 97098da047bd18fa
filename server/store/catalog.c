/*
 * catalog: the store's public catalog functions (products, devices, firmware, store.h)
 * and batch creation (store_batch.h), written once for every database. Each runs in one
 * transaction of the database's (store_ops.tx), reads what a rule needs through numbered
 * statements (store_ops.query; the SQL texts are the database's: store_sqlite.c,
 * store_pg.c), asks core/rules.h and writes only then. The database files decide nothing:
 * they hold the SQL, the connections, the locks and the migrations.
 *
 * A change an API caller asks for runs through store__change (store_audit.c): its audit
 * row commits in the same transaction, and a created row is named in it
 * (store__audit_object).
 *
 * Races: a rule's reads and its write share one STORE_TX_WRITE transaction. SQLite runs
 * writers one at a time (BEGIN IMMEDIATE); PostgreSQL's texts of the *_LOCK statements
 * lock the row the rule hangs on (the product for the 50-firmware limit and the version
 * rule, the firmware against a batch being created for it), so several otad sharing one
 * PostgreSQL get the answer of some serial order. A firmware name taken meanwhile by
 * another product shows as an insert that inserted nothing (ON CONFLICT DO NOTHING).
 *
 * Webhook events (batch created and terminated, firmware created and deleted) are written
 * by store__event in the transaction of their change, so both commit or neither does.
 *
 * Expected load: API calls (tens a second at most); a directed batch checks up to
 * STORE_BATCH_MAX_IDENTIFIERS identifiers in one statement.
 */
#include "core/rules.h"
#include "core/target.h"
#include "store/store_internal.h"
#include "store/store_targets.h"
#include "store/store_webhook.h"

#include "ota_time.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- statements and rows ----------------------------------------------------------------- */

static ota_err run(store_t *s, store_tx *tx, store_q q, const store_args *a, store_row_fn row,
                   void *ud, int64_t *changes)
{
    static const store_args none = {0};
    return s->ops->query(tx, q, a ? a : &none, row, ud, changes);
}

static void product_of(const store_row *r, void *out)
{
    store__read_product(r, out);
}

static void device_of(const store_row *r, void *out)
{
    store__read_device(r, out);
}

static void firmware_of(const store_row *r, void *out)
{
    store__read_firmware(r, out);
}

static void batch_of(const store_row *r, void *out)
{
    store__read_batch(r, out);
}

static void i64_of(const store_row *r, void *out)
{
    *(int64_t *)out = r->i64(r->row, 0);
}

/* Reads the single row of q into out: OTA_ENOTFOUND when there is none. */
static ota_err get_one(store_t *s, store_tx *tx, store_q q, const store_args *a,
                       void (*read)(const store_row *, void *), void *out)
{
    store_first o = {read, out, 0};
    ota_err rc = run(s, tx, q, a, store__first_fn, &o, NULL);
    if (rc != OTA_OK)
        return rc;
    return o.found ? OTA_OK : OTA_ENOTFOUND;
}

/* The first column of q's first row as an integer into *out; 0 (and OTA_OK) when q
 * returns no row, so it serves counts, ids (0 = none) and "is there one" (1/0). */
static ota_err get_i64(store_t *s, store_tx *tx, store_q q, const store_args *a, int64_t *out)
{
    *out = 0;
    ota_err rc = get_one(s, tx, q, a, i64_of, out);
    return rc == OTA_ENOTFOUND ? OTA_OK : rc;
}

/* The product's id (0 when none) by key; q is PRODUCT_ID or PRODUCT_LOCK. */
static ota_err product_id(store_t *s, store_tx *tx, store_q q, const char *key, int64_t *pid)
{
    store_args a = {0};
    store_arg_str(&a, key);
    return get_i64(s, tx, q, &a, pid);
}

/* product_id, answering OTA_ENOTFOUND when the product does not exist. */
static ota_err product_must(store_t *s, store_tx *tx, store_q q, const char *key, int64_t *pid)
{
    ota_err rc = product_id(s, tx, q, key, pid);
    return rc == OTA_OK && *pid == 0 ? OTA_ENOTFOUND : rc;
}

/* The row of q (one id parameter) into out with read: OTA_ENOTFOUND when none. */
static ota_err get_by_id(store_t *s, store_tx *tx, store_q q,
                         void (*read)(const store_row *, void *), int64_t id, void *out)
{
    store_args args = {0};
    store_arg_i64(&args, id);
    return get_one(s, tx, q, &args, read, out);
}

typedef struct {
    store_t *s;
    store_q q;
    void (*read)(const store_row *, void *);
    int64_t id;
    void *out;
} by_id_args;

static ota_err by_id_fn(store_tx *tx, void *ud)
{
    by_id_args *a = ud;
    return get_by_id(a->s, tx, a->q, a->read, a->id, a->out);
}

/* get_by_id as one statement of its own. */
static ota_err get_by_id_alone(store_t *s, store_q q, void (*read)(const store_row *, void *),
                               int64_t id, void *out)
{
    by_id_args a = {s, q, read, id, out};
    return s->ops->tx(s, STORE_TX_ONE, by_id_fn, &a);
}

/* One page of a list: count_q with the leading args gives the total, list_q with the
 * same args and then LIMIT, OFFSET the rows (at most pg.page_size, read with read into an
 * array of item_size items the caller frees). */
typedef struct {
    void (*read)(const store_row *r, void *out);
    size_t item_size, n, max;
    char *items;
} page_rows;

static void page_fn(void *ud, const store_row *r)
{
    page_rows *p = ud;
    if (p->n < p->max)
        p->read(r, p->items + p->item_size * p->n++);
}

typedef struct {
    store_page pg;
    size_t item_size;
    void (*read)(const store_row *r, void *out);
    void **items;
    size_t *n;
    int64_t *total;
} page_out;

static ota_err list_page(store_t *s, store_tx *tx, store_q count_q, store_q list_q,
                         const store_args *lead, const page_out *o)
{
    ota_err rc = get_i64(s, tx, count_q, lead, o->total);
    if (rc != OTA_OK)
        return rc;
    store_args a = *lead;
    store_arg_i64(&a, o->pg.page_size);
    store_arg_i64(&a, (int64_t)(o->pg.page - 1) * o->pg.page_size);
    page_rows p = {o->read, o->item_size, 0, (size_t)o->pg.page_size, NULL};
    p.items = calloc((size_t)o->pg.page_size, o->item_size);
    if (!p.items)
        abort(); /* the daemon may abort on out-of-memory */
    rc = run(s, tx, list_q, &a, page_fn, &p, NULL);
    if (rc != OTA_OK) {
        free(p.items);
        return rc;
    }
    *o->items = p.items;
    *o->n = p.n;
    return OTA_OK;
}

ota_err store__list_page(store_t *s, store_tx *tx, store_q count_q, store_q list_q,
                         const store_args *lead, store_page pg, size_t item_size,
                         void (*read)(const store_row *r, void *out), void **items, size_t *n,
                         int64_t *total)
{
    page_out o = {pg, item_size, read, items, n, total};
    return list_page(s, tx, count_q, list_q, lead, &o);
}

/* ---- products ------------------------------------------------------------------------------ */

typedef struct {
    store_t *s;
    const char *name, *description;
    int64_t now;
    store_product *out;
} product_new;

static ota_err product_create_fn(store_tx *tx, void *ud)
{
    product_new *a = ud;
    /* a key already taken inserts nothing: draw again */
    for (int attempt = 0; attempt < 5; attempt++) {
        char key[16];
        int64_t id = 0;
        store_args args = {0};
        if (store__product_key(key) != 0)
            return OTA_EDB;
        store_arg_str(&args, key);
        store_arg_str(&args, a->name);
        store_arg_str(&args, a->description);
        store_arg_i64(&args, a->now);
        ota_err rc = get_i64(a->s, tx, STORE_Q_PRODUCT_INSERT, &args, &id);
        if (rc != OTA_OK)
            return rc;
        if (id > 0) {
            memset(a->out, 0, sizeof *a->out);
            a->out->id = id;
            snprintf(a->out->product_key, sizeof a->out->product_key, "%s", key);
            snprintf(a->out->name, sizeof a->out->name, "%s", a->name);
            snprintf(a->out->description, sizeof a->out->description, "%s", a->description);
            a->out->created_ms = a->now;
            store__audit_object("product:%s", key);
            return OTA_OK;
        }
    }
    return OTA_EDB;
}

ota_err store_product_create(store_t *s, const char *name, const char *description, int64_t now_ms,
                             store_product *out)
{
    if (!name || !out)
        return OTA_EINVAL;
    product_new a = {s, name, description ? description : "", now_ms, out};
    return store__change(s, product_create_fn, &a);
}

typedef struct {
    store_t *s;
    const char *key;
    store_product *out;
} product_get_args;

static ota_err product_get_fn(store_tx *tx, void *ud)
{
    product_get_args *a = ud;
    store_args args = {0};
    store_arg_str(&args, a->key);
    return get_one(a->s, tx, STORE_Q_PRODUCT_GET, &args, product_of, a->out);
}

ota_err store_product_get(store_t *s, const char *product_key, store_product *out)
{
    if (!product_key)
        return OTA_EINVAL;
    product_get_args a = {s, product_key, out};
    return s->ops->tx(s, STORE_TX_ONE, product_get_fn, &a);
}

/* A list call: the page, and what selects its rows. */
typedef struct {
    store_t *s;
    const char *key;   /* product key, or NULL */
    int online;        /* devices: -1 any, 0, 1 */
    int64_t id;        /* eligible: the firmware */
    const char *q;     /* eligible: filter, or NULL */
    page_out o;
} list_args;

static ota_err product_list_fn(store_tx *tx, void *ud)
{
    list_args *a = ud;
    store_args none = {0};
    return list_page(a->s, tx, STORE_Q_PRODUCT_COUNT, STORE_Q_PRODUCT_LIST, &none, &a->o);
}

/* Starts a list: outputs empty, the page checked. */
static ota_err list_start(store_page pg, void **items, size_t *n, int64_t *total)
{
    *items = NULL;
    *n = 0;
    *total = 0;
    return store__page_ok(pg) ? OTA_OK : OTA_EINVAL;
}

ota_err store_product_list(store_t *s, store_page pg, store_product **items, size_t *n,
                           int64_t *total)
{
    if (list_start(pg, (void **)items, n, total) != OTA_OK)
        return OTA_EINVAL;
    list_args a = {s, NULL, -1, 0, NULL,
                   {pg, sizeof(store_product), product_of, (void **)items, n, total}};
    return s->ops->tx(s, STORE_TX_READ, product_list_fn, &a);
}

typedef struct {
    store_t *s;
    const char *key;
    int on;
    store_product *out;
} product_set_args;

static ota_err product_set_fn(store_tx *tx, void *ud)
{
    product_set_args *a = ud;
    store_args args = {0};
    int64_t changed = 0;
    store_arg_str(&args, a->key);
    store_arg_i64(&args, a->on ? 1 : 0);
    ota_err rc = run(a->s, tx, STORE_Q_PRODUCT_SET_REQSIG, &args, NULL, NULL, &changed);
    if (rc != OTA_OK)
        return rc;
    if (changed == 0)
        return OTA_ENOTFOUND;
    if (!a->out)
        return OTA_OK;
    args.n = 1;
    return get_one(a->s, tx, STORE_Q_PRODUCT_GET, &args, product_of, a->out);
}

ota_err store_product_set_require_signature(store_t *s, const char *product_key, int on,
                                             store_product *out)
{
    if (!product_key)
        return OTA_EINVAL;
    product_set_args a = {s, product_key, on, out};
    return store__change(s, product_set_fn, &a);
}

/* ---- signing keys -------------------------------------------------------------------------- */

static void signkey_of(const store_row *r, void *out)
{
    store__read_signkey(r, out);
}

typedef struct {
    store_t *s;
    const store_signkey *in;
    const char *key, *key_id;
    int64_t now;
    store_signkey *out;
    store_signkey **items;
    size_t *n;
} signkey_args;

static ota_err signkey_create_fn(store_tx *tx, void *ud)
{
    signkey_args *a = ud;
    int64_t pid = 0, x = 0;
    ota_err rc = product_must(a->s, tx, STORE_Q_PRODUCT_LOCK, a->in->product_key, &pid);
    if (rc != OTA_OK)
        return rc;
    store_args args = {0};
    store_arg_i64(&args, pid);
    if ((rc = get_i64(a->s, tx, STORE_Q_SIGNKEY_COUNT, &args, &x)) != OTA_OK)
        return rc;
    if (!rules_signkey_addable(x))
        return OTA_ELIMIT;
    store_arg_str(&args, a->in->key_id);
    store_arg_str(&args, a->in->name);
    store_arg_str(&args, a->in->public_key);
    store_arg_i64(&args, a->now);
    if ((rc = get_i64(a->s, tx, STORE_Q_SIGNKEY_INSERT, &args, &x)) != OTA_OK)
        return rc;
    if (x == 0)
        return OTA_EDUPLICATE;
    args.n = 2;
    return get_one(a->s, tx, STORE_Q_SIGNKEY_GET, &args, signkey_of, a->out);
}

ota_err store_signkey_create(store_t *s, const store_signkey *in, int64_t now_ms,
                              store_signkey *out)
{
    if (!in || !out)
        return OTA_EINVAL;
    signkey_args a = {s, in, NULL, NULL, now_ms, out, NULL, NULL};
    return store__change(s, signkey_create_fn, &a);
}

static ota_err signkey_list_fn(store_tx *tx, void *ud)
{
    signkey_args *a = ud;
    int64_t pid = 0;
    ota_err rc = product_must(a->s, tx, STORE_Q_PRODUCT_ID, a->key, &pid);
    if (rc != OTA_OK)
        return rc;
    store_args args = {0};
    store_arg_i64(&args, pid);
    page_rows p = {signkey_of, sizeof(store_signkey), 0, RULES_SIGNING_KEYS_PER_PRODUCT, NULL};
    p.items = calloc(RULES_SIGNING_KEYS_PER_PRODUCT, sizeof(store_signkey));
    if (!p.items)
        abort(); /* the daemon may abort on out-of-memory */
    rc = run(a->s, tx, STORE_Q_SIGNKEY_LIST, &args, page_fn, &p, NULL);
    if (rc != OTA_OK) {
        free(p.items);
        return rc;
    }
    free(*a->items); /* a retried transaction's earlier attempt */
    *a->items = (store_signkey *)p.items;
    *a->n = p.n;
    return OTA_OK;
}

ota_err store_signkey_list(store_t *s, const char *product_key, store_signkey **items,
                            size_t *n)
{
    if (!product_key || !items || !n)
        return OTA_EINVAL;
    *items = NULL;
    *n = 0;
    signkey_args a = {s, NULL, product_key, NULL, 0, NULL, items, n};
    return s->ops->tx(s, STORE_TX_READ, signkey_list_fn, &a);
}

static ota_err signkey_retire_fn(store_tx *tx, void *ud)
{
    signkey_args *a = ud;
    int64_t pid = 0;
    ota_err rc = product_must(a->s, tx, STORE_Q_PRODUCT_ID, a->key, &pid);
    if (rc != OTA_OK)
        return rc;
    store_args args = {0};
    store_arg_i64(&args, pid);
    store_arg_str(&args, a->key_id);
    store_arg_i64(&args, a->now);
    if ((rc = run(a->s, tx, STORE_Q_SIGNKEY_RETIRE, &args, NULL, NULL, NULL)) != OTA_OK)
        return rc;
    args.n = 2;
    return get_one(a->s, tx, STORE_Q_SIGNKEY_GET, &args, signkey_of, a->out);
}

ota_err store_signkey_retire(store_t *s, const char *product_key, const char *key_id,
                              int64_t now_ms, store_signkey *out)
{
    if (!product_key || !key_id || !out)
        return OTA_EINVAL;
    signkey_args a = {s, NULL, product_key, key_id, now_ms, out, NULL, NULL};
    return store__change(s, signkey_retire_fn, &a);
}

/* ---- devices ------------------------------------------------------------------------------- */

typedef struct {
    store_t *s;
    const char *key, *ident, *name;
    int64_t now;
    store_device *out;
} device_args;

static ota_err device_get_fn(store_tx *tx, void *ud)
{
    device_args *a = ud;
    store_args args = {0};
    store_arg_str(&args, a->key);
    store_arg_str(&args, a->ident);
    return get_one(a->s, tx, STORE_Q_DEVICE_GET, &args, device_of, a->out);
}

static ota_err device_create_fn(store_tx *tx, void *ud)
{
    device_args *a = ud;
    int64_t pid, id = 0;
    ota_err rc = product_must(a->s, tx, STORE_Q_PRODUCT_ID, a->key, &pid);
    if (rc != OTA_OK)
        return rc;
    store_args args = {0};
    store_arg_i64(&args, pid);
    store_arg_str(&args, a->ident);
    store_arg_str(&args, a->name);
    store_arg_i64(&args, a->now);
    rc = get_i64(a->s, tx, STORE_Q_DEVICE_INSERT, &args, &id);
    if (rc != OTA_OK)
        return rc;
    if (id == 0)
        return OTA_EDUPLICATE; /* the identifier is taken in the product */
    return device_get_fn(tx, a);
}

ota_err store_device_create(store_t *s, const char *product_key, const char *identifier,
                            const char *device_name, int64_t now_ms, store_device *out)
{
    if (!product_key || !identifier || !device_name)
        return OTA_EINVAL;
    device_args a = {s, product_key, identifier, device_name, now_ms, out};
    return store__change(s, device_create_fn, &a);
}

ota_err store_device_get(store_t *s, const char *product_key, const char *identifier,
                         store_device *out)
{
    if (!product_key || !identifier)
        return OTA_EINVAL;
    device_args a = {s, product_key, identifier, NULL, 0, out};
    return s->ops->tx(s, STORE_TX_ONE, device_get_fn, &a);
}

static ota_err device_list_fn(store_tx *tx, void *ud)
{
    list_args *a = ud;
    int64_t pid;
    ota_err rc = product_must(a->s, tx, STORE_Q_PRODUCT_ID, a->key, &pid);
    if (rc != OTA_OK)
        return rc;
    store_args args = {0};
    store_arg_i64(&args, pid);
    if (a->online < 0)
        return list_page(a->s, tx, STORE_Q_DEVICE_COUNT, STORE_Q_DEVICE_LIST, &args, &a->o);
    store_arg_i64(&args, a->online ? 1 : 0);
    return list_page(a->s, tx, STORE_Q_DEVICE_COUNT_ON, STORE_Q_DEVICE_LIST_ON, &args, &a->o);
}

ota_err store_device_list(store_t *s, const char *product_key, int online, store_page pg,
                          store_device **items, size_t *n, int64_t *total)
{
    if (list_start(pg, (void **)items, n, total) != OTA_OK || !product_key)
        return OTA_EINVAL;
    list_args a = {s, product_key, online, 0, NULL,
                   {pg, sizeof(store_device), device_of, (void **)items, n, total}};
    return s->ops->tx(s, STORE_TX_READ, device_list_fn, &a);
}

/* A single-statement write: OTA_ENOTFOUND when it changed no row (when not_found). */
typedef struct {
    store_t *s;
    store_q q;
    store_args args;
    int not_found;
} write_args;

static ota_err write_fn(store_tx *tx, void *ud)
{
    write_args *a = ud;
    int64_t changed = 0;
    ota_err rc = run(a->s, tx, a->q, &a->args, NULL, NULL, &changed);
    if (rc == OTA_OK && a->not_found && changed == 0)
        rc = OTA_ENOTFOUND;
    return rc;
}

ota_err store_device_set_online(store_t *s, const char *product_key, const char *identifier,
                                int online, int64_t now_ms)
{
    write_args a = {s, STORE_Q_PRESENCE, {0}, 1};
    store_arg_str(&a.args, product_key);
    store_arg_str(&a.args, identifier);
    store_arg_i64(&a.args, online ? 1 : 0);
    store_arg_i64(&a.args, now_ms);
    return s->ops->tx(s, STORE_TX_ONE, write_fn, &a);
}

ota_err store_device_set_version(store_t *s, const char *product_key, const char *identifier,
                                 const char *version, int64_t now_ms)
{
    if (!version)
        return OTA_EINVAL;
    write_args a = {s, STORE_Q_VERSION, {0}, 1};
    store_arg_str(&a.args, product_key);
    store_arg_str(&a.args, identifier);
    store_arg_str(&a.args, version);
    store_arg_i64(&a.args, now_ms);
    return s->ops->tx(s, STORE_TX_ONE, write_fn, &a);
}

ota_err store_device_all_offline(store_t *s)
{
    write_args a = {s, STORE_Q_ALL_OFFLINE, {0}, 0};
    return s->ops->tx(s, STORE_TX_ONE, write_fn, &a);
}

/* ---- firmware ------------------------------------------------------------------------------ */

static ota_err fw_get(store_t *s, store_tx *tx, int64_t id, store_firmware *out)
{
    return get_by_id(s, tx, STORE_Q_FW_GET, firmware_of, id, out);
}

ota_err store_firmware_get(store_t *s, int64_t id, store_firmware *out)
{
    return get_by_id_alone(s, STORE_Q_FW_GET, firmware_of, id, out);
}

typedef struct {
    store_t *s;
    const store_firmware *in;
    int64_t now;
    store_firmware *out;
    const char **field;
} fw_create_args;

/* The facts of rules_firmware_create, read with the product locked. */
static ota_err fw_facts(store_t *s, store_tx *tx, const store_firmware *in, int64_t *pid,
                        rules_firmware_facts *f)
{
    int64_t x;
    store_args args = {0};
    memset(f, 0, sizeof *f);
    ota_err rc = product_id(s, tx, STORE_Q_PRODUCT_LOCK, in->product_key, pid);
    if (rc != OTA_OK || *pid == 0)
        return rc;
    f->product_found = 1;
    store_arg_str(&args, in->name);
    if ((rc = get_i64(s, tx, STORE_Q_FW_NAME_USED, &args, &x)) != OTA_OK)
        return rc;
    f->name_taken = x != 0;
    args.n = 0;
    store_arg_i64(&args, *pid);
    store_arg_str(&args, in->version);
    if ((rc = get_i64(s, tx, STORE_Q_FW_VERSION_USED, &args, &x)) != OTA_OK)
        return rc;
    f->version_taken = x != 0;
    args.n = 1;
    if ((rc = get_i64(s, tx, STORE_Q_FW_COUNT_P, &args, &f->firmware_count)) != OTA_OK)
        return rc;
    if ((rc = get_i64(s, tx, STORE_Q_PRODUCT_REQSIG, &args, &x)) != OTA_OK)
        return rc;
    f->require_signature = x != 0;
    f->is_signed = in->key_id[0] != '\0';
    if (!f->is_signed)
        return OTA_OK;
    store_arg_str(&args, in->key_id);
    if ((rc = get_i64(s, tx, STORE_Q_SIGNKEY_ACTIVE, &args, &x)) != OTA_OK)
        return rc;
    f->key_active = x != 0;
    return OTA_OK;
}

/* The webhook event of a firmware change, in its transaction (store_webhook.h). */
static ota_err firmware_event(store_t *s, store_tx *tx, hook_event ev, const store_firmware *f,
                              int64_t now_ms)
{
    char *data = store_webhook_firmware_data(f);
    ota_err rc = store__event(s, tx, ev, data, now_ms);
    free(data);
    return rc;
}

/* The same for a batch, whose state after the change is state. */
static ota_err batch_event(store_t *s, store_tx *tx, hook_event ev, const store_batch *b,
                           const char *state, int64_t now_ms)
{
    char *data = store_webhook_batch_data(b, state);
    ota_err rc = store__event(s, tx, ev, data, now_ms);
    free(data);
    return rc;
}

static ota_err fw_create_fn(store_tx *tx, void *ud)
{
    fw_create_args *a = ud;
    const store_firmware *in = a->in;
    rules_firmware_facts facts;
    int64_t pid = 0, id = 0;
    ota_err rc = fw_facts(a->s, tx, in, &pid, &facts);
    if (rc != OTA_OK)
        return rc;
    rules_firmware verdict = rules_firmware_create(&facts);
    if (verdict != RULES_FW_OK) {
        *a->field = rules_firmware_field(verdict);
        switch (verdict) {
        case RULES_FW_NO_PRODUCT:
            return OTA_ENOTFOUND;
        case RULES_FW_PRODUCT_FULL:
            return OTA_ELIMIT;
        case RULES_FW_UNSIGNED:
        case RULES_FW_KEY_RETIRED:
            return OTA_EINVAL;
        default:
            return OTA_EDUPLICATE;
        }
    }
    store_args args = {0};
    store__firmware_args(&args, pid, in, a->now);
    rc = get_i64(a->s, tx, STORE_Q_FW_INSERT, &args, &id);
    if (rc != OTA_OK)
        return rc;
    if (id == 0) {
        /* the name, taken meanwhile by another product's firmware (the product is locked) */
        *a->field = rules_firmware_field(RULES_FW_NAME_TAKEN);
        return OTA_EDUPLICATE;
    }
    store__audit_object("firmware:%lld", (long long)id);
    if ((rc = fw_get(a->s, tx, id, a->out)) != OTA_OK)
        return rc;
    return firmware_event(a->s, tx, HOOK_EV_FIRMWARE_CREATED, a->out, a->now);
}

ota_err store_firmware_create(store_t *s, const store_firmware *in, int64_t now_ms,
                              store_firmware *out, const char **field)
{
    const char *dummy;
    if (!field)
        field = &dummy;
    *field = NULL;
    fw_create_args a = {s, in, now_ms, out, field};
    return store__change(s, fw_create_fn, &a);
}

static ota_err fw_list_fn(store_tx *tx, void *ud)
{
    list_args *a = ud;
    store_args args = {0};
    if (!a->key)
        return list_page(a->s, tx, STORE_Q_FW_COUNT, STORE_Q_FW_LIST, &args, &a->o);
    int64_t pid;
    ota_err rc = product_must(a->s, tx, STORE_Q_PRODUCT_ID, a->key, &pid);
    if (rc != OTA_OK)
        return rc;
    store_arg_i64(&args, pid);
    return list_page(a->s, tx, STORE_Q_FW_COUNT_P, STORE_Q_FW_LIST_P, &args, &a->o);
}

ota_err store_firmware_list(store_t *s, const char *product_key, store_page pg,
                            store_firmware **items, size_t *n, int64_t *total)
{
    if (list_start(pg, (void **)items, n, total) != OTA_OK)
        return OTA_EINVAL;
    list_args a = {s, product_key, -1, 0, NULL,
                   {pg, sizeof(store_firmware), firmware_of, (void **)items, n, total}};
    return s->ops->tx(s, STORE_TX_READ, fw_list_fn, &a);
}

typedef struct {
    store_t *s;
    int64_t id;
    store_firmware *deleted;
    int still_used;
    int64_t now;
} fw_delete_args;

static ota_err fw_delete_fn(store_tx *tx, void *ud)
{
    fw_delete_args *a = ud;
    int64_t x;
    store_args args = {0};
    store_arg_i64(&args, a->id);
    /* locked first: a batch being created for this firmware finishes before, or starts
     * after and finds no firmware */
    ota_err rc = get_i64(a->s, tx, STORE_Q_FW_LOCK, &args, &x);
    if (rc != OTA_OK)
        return rc;
    if (x == 0)
        return OTA_ENOTFOUND;
    if ((rc = fw_get(a->s, tx, a->id, a->deleted)) != OTA_OK)
        return rc;
    if ((rc = get_i64(a->s, tx, STORE_Q_FW_RUNNING, &args, &x)) != OTA_OK)
        return rc;
    if (!rules_firmware_deletable(x))
        return OTA_EINUSE;
    /* the finished batches and their tasks go with it */
    static const store_q dels[] = {STORE_Q_FW_DEL_TASKS, STORE_Q_FW_DEL_ROLLOUT,
                                   STORE_Q_FW_DEL_BATCHES, STORE_Q_FW_DEL};
    for (size_t i = 0; i < sizeof dels / sizeof dels[0]; i++)
        if ((rc = run(a->s, tx, dels[i], &args, NULL, NULL, NULL)) != OTA_OK)
            return rc;
    args.n = 0;
    store_arg_str(&args, a->deleted->sha256);
    if ((rc = get_i64(a->s, tx, STORE_Q_SHA_USED, &args, &x)) != OTA_OK)
        return rc;
    a->still_used = x != 0;
    return firmware_event(a->s, tx, HOOK_EV_FIRMWARE_DELETED, a->deleted, a->now);
}

ota_err store_firmware_delete(store_t *s, int64_t id, store_firmware *deleted, int *sha_still_used)
{
    store_firmware tmp;
    fw_delete_args a = {s, id, deleted ? deleted : &tmp, 0, ota_time_now_ms()};
    ota_err rc = store__change(s, fw_delete_fn, &a);
    if (sha_still_used)
        *sha_still_used = a.still_used;
    return rc;
}

typedef struct {
    store_t *s;
    const char *sha;
    int64_t used;
} sha_args;

static ota_err sha_used_fn(store_tx *tx, void *ud)
{
    sha_args *a = ud;
    store_args args = {0};
    store_arg_str(&args, a->sha);
    return get_i64(a->s, tx, STORE_Q_SHA_USED, &args, &a->used);
}

int store_firmware_sha_used(store_t *s, const char *sha256)
{
    sha_args a = {s, sha256, 0};
    return s->ops->tx(s, STORE_TX_ONE, sha_used_fn, &a) == OTA_OK ? a.used != 0 : -1;
}

static ota_err eligible_fn(store_tx *tx, void *ud)
{
    list_args *a = ud;
    store_firmware f;
    ota_err rc = fw_get(a->s, tx, a->id, &f);
    if (rc != OTA_OK)
        return rc;
    store_args args = {0};
    store_arg_i64(&args, f.product_id);
    store_arg_str(&args, f.version);
    store_arg_str(&args, a->q);
    return list_page(a->s, tx, STORE_Q_ELIG_COUNT, STORE_Q_ELIG_LIST, &args, &a->o);
}

ota_err store_firmware_eligible(store_t *s, int64_t firmware_id, const char *q, store_page pg,
                                store_device **items, size_t *n, int64_t *total)
{
    if (list_start(pg, (void **)items, n, total) != OTA_OK)
        return OTA_EINVAL;
    list_args a = {s, NULL, -1, firmware_id, q && *q ? q : NULL,
                   {pg, sizeof(store_device), device_of, (void **)items, n, total}};
    return s->ops->tx(s, STORE_TX_READ, eligible_fn, &a);
}

/* ---- batch creation ------------------------------------------------------------------------ */

/* A growing text buffer for JSON arrays; the daemon may abort on out-of-memory. */
typedef struct {
    char *s;
    size_t len, cap;
} text_buf;

static void tb_add(text_buf *b, const char *s, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *p = realloc(b->s, cap);
        if (!p)
            abort();
        b->s = p;
        b->cap = cap;
    }
    memcpy(b->s + b->len, s, n);
    b->len += n;
    b->s[b->len] = '\0';
}

/* Appends s as a JSON string. */
static void tb_json_str(text_buf *b, const char *s)
{
    tb_add(b, "\"", 1);
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        char esc[8];
        if (ch == '"' || ch == '\\') {
            esc[0] = '\\';
            esc[1] = (char)ch;
            tb_add(b, esc, 2);
        } else if (ch < 0x20) {
            snprintf(esc, sizeof esc, "\\u%04x", ch);
            tb_add(b, esc, 6);
        } else {
            tb_add(b, s, 1);
        }
    }
    tb_add(b, "\"", 1);
}

typedef struct {
    store_t *s;
    int64_t firmware_id;
    const store_batch_new *in;
    int64_t now_ms, expires_ms;
    store_batch *out;
    store_batch_err *err;
} batch_new_args;

static ota_err refuse(store_batch_err *err, const char *field, const char *code, const char *ident)
{
    err->field = field;
    err->code = code;
    snprintf(err->identifier, sizeof err->identifier, "%s", ident ? ident : "");
    return OTA_EINVAL;
}

/* The directed identifiers' rows (BATCH_DIRECTED_FIND, one per identifier in list order:
 * device id or NULL, activated, reported version or NULL, busy), judged as they come. */
typedef struct {
    const char *fw_version;
    size_t n;
    int64_t *ids;         /* device id per row (0: none) */
    unsigned char *code;  /* rules_device per row, before repeats */
    const target *from;   /* fromVersions, or NULL */
    unsigned char *other; /* 1: eligible but its version is not one of fromVersions */
} directed_rows;

static void directed_fn(void *ud, const store_row *r)
{
    directed_rows *d = ud;
    char version[128];
    r->text(r->row, 2, version, sizeof version);
    rules_device_facts f = {!r->is_null(r->row, 0), r->i64(r->row, 1) != 0,
                            !r->is_null(r->row, 2), version, r->i64(r->row, 3) != 0};
    d->ids[d->n] = f.found ? r->i64(r->row, 0) : 0;
    d->code[d->n] = (unsigned char)rules_device_for_batch(&f, d->fw_version);
    d->other[d->n] = d->from && !target_match(d->from, NULL, NULL, 0, f.has_version ? version : NULL);
    d->n++;
}

typedef struct {
    int64_t id;
    size_t row;
} id_row;

static int id_row_cmp(const void *a, const void *b)
{
    const id_row *x = a, *y = b;
    if (x->id != y->id)
        return x->id < y->id ? -1 : 1;
    return x->row < y->row ? -1 : x->row > y->row;
}

/* Judges again every row whose device is also on an earlier row (rules_device_again). */
static void mark_repeats(directed_rows *d)
{
    id_row *v = calloc(d->n + 1, sizeof *v);
    size_t m = 0;
    if (!v)
        abort();
    for (size_t i = 0; i < d->n; i++)
        if (d->ids[i])
            v[m++] = (id_row){d->ids[i], i};
    qsort(v, m, sizeof *v, id_row_cmp);
    for (size_t i = 1; i < m; i++)
        if (v[i].id == v[i - 1].id)
            d->code[v[i].row] = (unsigned char)rules_device_again((rules_device)d->code[v[i].row]);
    free(v);
}

/* Directed: every identifier judged in list order (the first refusal is the answer), then
 * all tasks inserted in one statement. */
static ota_err add_directed(batch_new_args *a, store_tx *tx, int64_t product_id,
                            const char *fw_version)
{
    const store_batch_new *in = a->in;
    text_buf idents = {0}, ids = {0};
    target from = {0};
    directed_rows d = {fw_version, 0, calloc(in->n_identifiers + 1, sizeof(int64_t)),
                       calloc(in->n_identifiers + 1, 1), NULL, calloc(in->n_identifiers + 1, 1)};
    ota_err rc;
    if (!d.ids || !d.code || !d.other)
        abort();
    if (in->versions && *in->versions) {
        if (target_load(&from, NULL, NULL, in->versions) != 0) {
            target_free(&from);
            free(d.ids);
            free(d.code);
            free(d.other);
            return OTA_EINVAL;
        }
        d.from = &from;
    }
    tb_add(&idents, "[", 1);
    for (size_t i = 0; i < in->n_identifiers; i++) {
        if (i)
            tb_add(&idents, ",", 1);
        tb_json_str(&idents, in->identifiers[i] ? in->identifiers[i] : "");
    }
    tb_add(&idents, "]", 1);
    store_args args = {0};
    store_arg_i64(&args, product_id);
    store_arg_str(&args, idents.s);
    rc = run(a->s, tx, STORE_Q_BATCH_DIRECTED_FIND, &args, directed_fn, &d, NULL);
    if (rc == OTA_OK && d.n != in->n_identifiers)
        rc = OTA_EDB; /* one row per identifier, always */
    if (rc == OTA_OK) {
        mark_repeats(&d);
        for (size_t i = 0; i < d.n; i++) {
            if (d.code[i] != RULES_DEVICE_ELIGIBLE) {
                rc = refuse(a->err, "identifiers", rules_device_code((rules_device)d.code[i]),
                            in->identifiers[i]);
                break;
            }
            if (d.other[i]) {
                rc = refuse(a->err, "identifiers", "device_version_not_listed",
                            in->identifiers[i]);
                break;
            }
        }
    }
    if (rc == OTA_OK) {
        tb_add(&ids, "[", 1);
        for (size_t i = 0; i < d.n; i++) {
            char num[24];
            int len = snprintf(num, sizeof num, "%s%lld", i ? "," : "", (long long)d.ids[i]);
            tb_add(&ids, num, (size_t)len);
        }
        tb_add(&ids, "]", 1);
        args.n = 0;
        store_arg_i64(&args, a->out->id);
        store_arg_str(&args, ids.s);
        store_arg_i64(&args, a->now_ms);
        rc = run(a->s, tx, STORE_Q_BATCH_TASKS_DIRECTED, &args, NULL, NULL, NULL);
    }
    free(idents.s);
    free(ids.s);
    free(d.ids);
    free(d.code);
    free(d.other);
    target_free(&from);
    return rc;
}

/* The batch's target on its row; for scope all or filter, the groups it names exist. */
static ota_err set_target(batch_new_args *a, store_tx *tx, int64_t product_id)
{
    const store_batch_new *in = a->in;
    store_target_err terr = {0};
    ota_err rc = OTA_OK;
    if (in->groups && *in->groups) {
        rc = store__groups_exist(a->s, tx, product_id, in->groups, &terr);
        if (rc == OTA_EINVAL && terr.code) {
            snprintf(a->err->identifier, sizeof a->err->identifier, "%.64s", terr.name);
            a->err->field = "filter.groups";
            a->err->code = "group_not_found";
        }
    }
    if (rc != OTA_OK)
        return rc;
    store_args args = {0};
    store_arg_i64(&args, a->out->id);
    store_arg_i64(&args, in->continuous ? 1 : 0);
    store_arg_str(&args, in->tags && *in->tags ? in->tags : NULL);
    store_arg_str(&args, in->groups && *in->groups ? in->groups : NULL);
    store_arg_str(&args, in->versions && *in->versions ? in->versions : NULL);
    return run(a->s, tx, STORE_Q_BATCH_TARGET_SET, &args, NULL, NULL, NULL);
}

/* Scope all or filter with a target: the eligible devices that match it. */
static ota_err add_matching(batch_new_args *a, store_tx *tx, int64_t product_id,
                            const char *fw_version, int64_t *total)
{
    const store_batch_new *in = a->in;
    store_args args = {0};
    store_arg_i64(&args, a->out->id);
    store_arg_i64(&args, a->now_ms);
    store_arg_i64(&args, product_id);
    store_arg_str(&args, fw_version);
    store_arg_str(&args, in->tags && *in->tags ? in->tags : "{}");
    store_arg_str(&args, in->groups && *in->groups ? in->groups : "[]");
    store_arg_str(&args, in->versions && *in->versions ? in->versions : "[]");
    return run(a->s, tx, STORE_Q_BATCH_TASKS_MATCH, &args, NULL, NULL, total);
}

/* BATCH_FIRMWARE's row: product id, version. */
typedef struct {
    int64_t product_id;
    char version[128];
} batch_fw;

static void batch_fw_of(const store_row *r, void *out)
{
    batch_fw *f = out;
    f->product_id = r->i64(r->row, 0);
    r->text(r->row, 1, f->version, sizeof f->version);
}

typedef struct {
    store_t *s;
    int64_t id;
    rollout_tally *out;
    char text[ROLLOUT_TALLY_TEXT_MAX];
    int found;
} rollout_init_args;
static ota_err rollout_get_or_make(store_tx *tx, rollout_init_args *a, int make);

/* The rollout on the batch row and each task's phase (STORE_Q_TASK_PHASE says how), and its
 * counters (batch_rollout) from the phases given. A named first phase's identifier without
 * a task in the batch refuses the create. */
static ota_err add_phases(batch_new_args *a, store_tx *tx, int64_t product_id, int64_t total)
{
    const rollout *ro = a->in->rollout;
    char text[ROLLOUT_STORED_MAX];
    int64_t sizes[ROLLOUT_MAX_PHASES], changed = 0;
    store_args args = {0};
    if (rollout_to_text(ro, text, sizeof text) != 0)
        return OTA_EINVAL;
    store_arg_i64(&args, a->out->id);
    store_arg_str(&args, text);
    ota_err rc = run(a->s, tx, STORE_Q_BATCH_ROLLOUT, &args, NULL, NULL, NULL);
    for (size_t i = 0; rc == OTA_OK && i < ro->n_canary; i++) {
        args.n = 0;
        store_arg_i64(&args, a->out->id);
        store_arg_i64(&args, product_id);
        store_arg_str(&args, ro->canary[i]);
        rc = run(a->s, tx, STORE_Q_TASK_CANARY, &args, NULL, NULL, &changed);
        if (rc == OTA_OK && changed != 1)
            return refuse(a->err, "rollout.phases[0].identifiers", "not_in_batch",
                          ro->canary[i]);
    }
    rollout_sizes(ro, total, (int64_t)ro->n_canary, sizes);
    for (int k = rollout_phase_count(ro) - 1; rc == OTA_OK && k >= 1; k--) {
        args.n = 0;
        store_arg_i64(&args, a->out->id);
        store_arg_i64(&args, k);
        store_arg_i64(&args, sizes[k]);
        if (sizes[k] > 0)
            rc = run(a->s, tx, STORE_Q_TASK_PHASE, &args, NULL, NULL, NULL);
    }
    if (rc == OTA_OK && ro->n_canary > 0) {
        args.n = 0;
        store_arg_i64(&args, a->out->id);
        rc = run(a->s, tx, STORE_Q_TASK_CANARY_DONE, &args, NULL, NULL, NULL);
    }
    if (rc == OTA_OK) { /* the engine's counters (store_uow_rollout_lock) start here */
        rollout_tally ct;
        rollout_init_args ri = {.s = a->s, .id = a->out->id, .out = &ct};
        rc = rollout_get_or_make(tx, &ri, 1);
    }
    return rc;
}

static ota_err batch_create_fn(store_tx *tx, void *ud)
{
    batch_new_args *a = ud;
    const store_batch_new *in = a->in;
    store_args args = {0};
    batch_fw fw;
    int64_t total = 0, x;

    /* the firmware (PostgreSQL: shared lock against its delete), then the product (creates
     * for one product take turns, so the second sees the first's tasks) */
    store_arg_i64(&args, a->firmware_id);
    ota_err rc = get_one(a->s, tx, STORE_Q_BATCH_FIRMWARE, &args, batch_fw_of, &fw);
    if (rc == OTA_ENOTFOUND)
        refuse(a->err, "firmwareId", "firmware_not_found", NULL);
    if (rc != OTA_OK)
        return rc;
    args.n = 0;
    store_arg_i64(&args, fw.product_id);
    if ((rc = get_i64(a->s, tx, STORE_Q_BATCH_PRODUCT_LOCK, &args, &x)) != OTA_OK)
        return rc;
    /* a continuous batch: the engine rounds applying its devices' events first, or after
     * (PostgreSQL; docs/batches.md, "Continuous batches") */
    if (in->continuous && (rc = get_i64(a->s, tx, STORE_Q_BATCH_CONTINUOUS_LOCK, &args, &x)) != OTA_OK)
        return rc;

    args.n = 0;
    store_arg_i64(&args, a->firmware_id);
    store_arg_i64(&args, fw.product_id);
    store_arg_str(&args, in->directed ? "directed" : in->filter ? "filter" : "all");
    store_arg_str(&args, in->policy);
    store_arg_i64(&args, in->validity_days);
    store_arg_i64(&args, in->timeout_min);
    store_arg_i64(&args, in->retry_times);
    store_arg_i64(&args, in->retry_interval_min);
    store_arg_i64(&args, in->max_push_per_min);
    store_arg_i64(&args, a->now_ms);
    store_arg_i64(&args, a->expires_ms);
    if ((rc = get_i64(a->s, tx, STORE_Q_BATCH_INSERT, &args, &a->out->id)) != OTA_OK)
        return rc;

    int targeted = in->filter || in->continuous || (in->versions && *in->versions);
    if (targeted && (rc = set_target(a, tx, fw.product_id)) != OTA_OK)
        return rc;
    if (!in->directed && targeted) {
        rc = add_matching(a, tx, fw.product_id, fw.version, &total);
    } else if (!in->directed) {
        args.n = 0;
        store_arg_i64(&args, a->out->id);
        store_arg_i64(&args, a->now_ms);
        store_arg_i64(&args, fw.product_id);
        store_arg_str(&args, fw.version);
        rc = run(a->s, tx, STORE_Q_BATCH_TASKS_ALL, &args, NULL, NULL, &total);
    } else if (in->n_identifiers > 0) {
        rc = add_directed(a, tx, fw.product_id, fw.version);
        total = (int64_t)in->n_identifiers;
    }
    if (rc != OTA_OK)
        return rc;
    /* a continuous batch may start empty: devices join as they come to match */
    if (total == 0 && !in->continuous)
        return refuse(a->err, in->filter ? "filter" : rules_no_devices_field(in->directed),
                      RULES_NO_DEVICES, NULL);

    args.n = 0;
    store_arg_i64(&args, total);
    store_arg_i64(&args, a->out->id);
    if ((rc = run(a->s, tx, STORE_Q_BATCH_TOTAL, &args, NULL, NULL, NULL)) != OTA_OK)
        return rc;
    if (in->rollout && (rc = add_phases(a, tx, fw.product_id, total)) != OTA_OK)
        return rc;
    if (in->start_at_ms > 0 || in->windows || in->confirm_min > 0) {
        args.n = 0;
        store_arg_i64(&args, a->out->id);
        store_arg_i64(&args, in->start_at_ms);
        store_arg_str(&args, in->windows);
        store_arg_i64(&args, in->confirm_min);
        if ((rc = run(a->s, tx, STORE_Q_BATCH_TIME, &args, NULL, NULL, NULL)) != OTA_OK)
            return rc;
    }
    store__audit_object("batch:%lld", (long long)a->out->id);
    args.n = 0;
    store_arg_i64(&args, a->out->id);
    if ((rc = get_one(a->s, tx, STORE_Q_BATCH_GET, &args, batch_of, a->out)) != OTA_OK)
        return rc;
    return batch_event(a->s, tx, HOOK_EV_BATCH_CREATED, a->out, a->out->state, a->now_ms);
}

ota_err store_batch_create(store_t *s, int64_t firmware_id, const store_batch_new *in,
                           int64_t now_ms, int64_t expires_ms, store_batch *out,
                           store_batch_err *err)
{
    if (!in || !out || !err || !in->policy || (in->directed && !in->identifiers) ||
        in->n_identifiers > STORE_BATCH_MAX_IDENTIFIERS)
        return OTA_EINVAL;
    memset(err, 0, sizeof *err);
    batch_new_args a = {s, firmware_id, in, now_ms, expires_ms, out, err};
    ota_err rc = store__change(s, batch_create_fn, &a);
    if (rc == OTA_OK && s->ops->bulk_written)
        s->ops->bulk_written(s, "tasks", out->total);
    return rc;
}

/* ---- batch reads and terminate --------------------------------------------------------------- */

typedef struct {
    store_t *s;
    int64_t id, now;
    store_batch *out;
    int64_t failed; /* terminate: the tasks it failed */
} batch_args;

static ota_err batch_get(store_t *s, store_tx *tx, int64_t id, store_batch *out)
{
    return get_by_id(s, tx, STORE_Q_BATCH_GET, batch_of, id, out);
}

ota_err store_batch_get(store_t *s, int64_t id, store_batch *out)
{
    return get_by_id_alone(s, STORE_Q_BATCH_GET, batch_of, id, out);
}

typedef struct {
    store_t *s;
    int64_t id;
    void (*fn)(void *ud, int phase, fsm_state st, fsm_reason r, int64_t n);
    void *ud;
} phase_counts_args;

static void phase_count_row(void *ud, const store_row *r)
{
    phase_counts_args *a = ud;
    char st[FSM_NAME_MAX], why[FSM_NAME_MAX];
    fsm_state s = FSM_FAILED;
    fsm_reason reason = FSM_REASON_NONE;
    r->text(r->row, 1, st, sizeof st);
    r->text(r->row, 2, why, sizeof why);
    fsm_state_from_name(st, &s);
    if (why[0])
        fsm_reason_from_name(why, &reason);
    a->fn(a->ud, (int)r->i64(r->row, 0), s, reason, r->i64(r->row, 3));
}

static ota_err phase_counts_fn(store_tx *tx, void *ud)
{
    phase_counts_args *a = ud;
    store_args args = {0};
    store_arg_i64(&args, a->id);
    return run(a->s, tx, STORE_Q_BATCH_PHASE_COUNTS, &args, phase_count_row, a, NULL);
}

ota_err store_batch_phase_counts(store_t *s, int64_t batch_id,
                                 void (*fn)(void *ud, int phase, fsm_state st, fsm_reason r,
                                            int64_t n),
                                 void *ud)
{
    phase_counts_args a = {s, batch_id, fn, ud};
    return s->ops->tx(s, STORE_TX_READ, phase_counts_fn, &a);
}

typedef struct {
    store_t *s;
    const store_batch_filter *f;
    page_out o;
} batch_list_args;

static ota_err batch_list_fn(store_tx *tx, void *ud)
{
    batch_list_args *a = ud;
    store_args args = {0};
    store_arg_i64(&args, a->f->firmware_id);
    store_arg_str(&args, a->f->product_key);
    store_arg_str(&args, a->f->state);
    return list_page(a->s, tx, STORE_Q_BATCH_COUNT, STORE_Q_BATCH_LIST, &args, &a->o);
}

static void rollout_text_row(void *ud, const store_row *r)
{
    rollout_init_args *a = ud;
    r->text(r->row, 0, a->text, sizeof a->text);
    a->found = 1;
}

/* A row of STORE_Q_BATCH_PHASE_COUNTS into the tally: n devices of a phase in a state. */
static void tally_row(void *ud, const store_row *r)
{
    rollout_tally *t = ((rollout_init_args *)ud)->out;
    char st[FSM_NAME_MAX], why[FSM_NAME_MAX];
    fsm_state s = FSM_FAILED;
    fsm_reason reason = FSM_REASON_NONE;
    int k = (int)r->i64(r->row, 0);
    int64_t n = r->i64(r->row, 3);
    r->text(r->row, 1, st, sizeof st);
    r->text(r->row, 2, why, sizeof why);
    fsm_state_from_name(st, &s);
    if (why[0])
        fsm_reason_from_name(why, &reason);
    if (k < 0 || k >= ROLLOUT_MAX_PHASES)
        k = 0;
    t->size[k] += n;
    if (s == FSM_SUCCEEDED) {
        t->succ[k] += n;
    } else if (s == FSM_FAILED) {
        t->fail[k] += n;
        if ((unsigned)reason < FSM_REASON_COUNT)
            t->failed_by[reason] += n;
    }
}

/* Reads the batch's stored counters (a->found, a->text); with make, counts them from the
 * tasks and stores them first when there are none. */
static ota_err rollout_get_or_make(store_tx *tx, rollout_init_args *a, int make)
{
    store_args args = {0};
    store_arg_i64(&args, a->id);
    a->found = 0;
    ota_err rc = run(a->s, tx, STORE_Q_ROLLOUT_GET, &args, rollout_text_row, a, NULL);
    if (rc == OTA_OK && !a->found && make) {
        /* no finish of this batch's tasks commits without the row (the engine locks it
         * first), so the tasks counted here are every finish until it exists */
        memset(a->out, 0, sizeof *a->out);
        rc = run(a->s, tx, STORE_Q_BATCH_PHASE_COUNTS, &args, tally_row, a, NULL);
        if (rc == OTA_OK && rollout_tally_to_text(a->out, a->text, sizeof a->text) != 0)
            rc = OTA_EINVAL;
        store_arg_str(&args, a->text);
        if (rc == OTA_OK)
            rc = run(a->s, tx, STORE_Q_ROLLOUT_ADD, &args, NULL, NULL, NULL);
        args.n = 1;
        if (rc == OTA_OK) /* ours, or the row of a concurrent init that committed first */
            rc = run(a->s, tx, STORE_Q_ROLLOUT_GET, &args, rollout_text_row, a, NULL);
    }
    if (rc == OTA_OK && a->found && rollout_tally_from_text(a->text, a->out) != 0)
        rc = OTA_EDB;
    return rc;
}

static ota_err rollout_read_fn(store_tx *tx, void *ud)
{
    return rollout_get_or_make(tx, ud, 0);
}

static ota_err rollout_make_fn(store_tx *tx, void *ud)
{
    return rollout_get_or_make(tx, ud, 1);
}

ota_err store_batch_rollout_init(store_t *s, int64_t batch_id, int make, rollout_tally *out)
{
    rollout_init_args a = {.s = s, .id = batch_id, .out = out};
    ota_err rc = s->ops->tx(s, STORE_TX_READ, rollout_read_fn, &a);
    if (rc == OTA_OK && !a.found && make)
        rc = s->ops->tx(s, STORE_TX_WRITE, rollout_make_fn, &a);
    return rc == OTA_OK && !a.found ? OTA_ENOTFOUND : rc;
}

ota_err store_batch_list(store_t *s, const store_batch_filter *f, store_page pg,
                         store_batch **items, size_t *n, int64_t *total)
{
    if (list_start(pg, (void **)items, n, total) != OTA_OK || !f)
        return OTA_EINVAL;
    batch_list_args a = {s, f, {pg, sizeof(store_batch), batch_of, (void **)items, n, total}};
    return s->ops->tx(s, STORE_TX_READ, batch_list_fn, &a);
}

/* A page of a batch's device rows, and whether a row follows it. */
typedef struct {
    store_batch_device *arr;
    size_t n, max;
    int more;
    int retry_times;
} device_rows;

static void device_row_fn(void *ud, const store_row *r)
{
    device_rows *d = ud;
    if (d->n == d->max) {
        d->more = 1;
        return;
    }
    store__read_batch_device(r, d->retry_times, &d->arr[d->n++]);
}

typedef struct {
    store_t *s;
    int64_t batch_id;
    int state;
    store_page pg;
    int64_t after;
    store_batch_device **items;
    size_t *n;
    int64_t *total, *next_after;
} devices_args;

static ota_err batch_devices_fn(store_tx *tx, void *ud)
{
    devices_args *a = ud;
    store_batch b;
    ota_err rc = batch_get(a->s, tx, a->batch_id, &b);
    if (rc != OTA_OK)
        return rc;
    /* totals come from the batch's counters, never from counting rows */
    *a->total = a->state < 0 ? b.total : b.counts[a->state];
    /* one row beyond the page says whether another follows */
    store_args args = {0};
    store_arg_i64(&args, a->batch_id);
    store_arg_str(&args, a->state < 0 ? NULL : fsm_state_name((fsm_state)a->state));
    store_arg_i64(&args, a->pg.page_size + 1);
    store_arg_i64(&args, (int64_t)(a->pg.page - 1) * a->pg.page_size);
    store_arg_i64(&args, a->after);
    device_rows d = {calloc((size_t)a->pg.page_size, sizeof(store_batch_device)), 0,
                     (size_t)a->pg.page_size, 0, b.retry_times};
    if (!d.arr)
        abort();
    rc = run(a->s, tx, a->state < 0 ? STORE_Q_BATCH_DEVICES : STORE_Q_BATCH_DEVICES_STATE, &args,
             device_row_fn, &d, NULL);
    if (rc != OTA_OK) {
        free(d.arr);
        return rc;
    }
    if (d.more && d.n > 0)
        *a->next_after = d.arr[d.n - 1].device_id;
    *a->items = d.arr;
    *a->n = d.n;
    return OTA_OK;
}

ota_err store_batch_devices(store_t *s, int64_t batch_id, int state, store_page pg,
                            store_batch_device **items, size_t *n, int64_t *total)
{
    return store_batch_devices_keyset(s, batch_id, state, pg, 0, items, n, total, NULL);
}

ota_err store_batch_devices_keyset(store_t *s, int64_t batch_id, int state, store_page pg,
                                   int64_t after, store_batch_device **items, size_t *n,
                                   int64_t *total, int64_t *next_after)
{
    int64_t next_unused;
    if (!next_after)
        next_after = &next_unused;
    *next_after = 0;
    if (list_start(pg, (void **)items, n, total) != OTA_OK || state >= FSM_STATE_COUNT ||
        after < 0 || (after > 0 && pg.page != 1))
        return OTA_EINVAL;
    devices_args a = {s, batch_id, state, pg, after, items, n, total, next_after};
    return s->ops->tx(s, STORE_TX_READ, batch_devices_fn, &a);
}

/* The batch's unfinished tasks failed (terminated; *failed of them) and its counters set
 * from its own row, its state end_state: *done = 1 when the batch was running. */
static ota_err terminate_rows(store_t *s, store_tx *tx, int64_t id, int64_t now_ms,
                              const char *end_state, int *done, int64_t *failed)
{
    int64_t changed = 0;
    store_args args = {0};
    store_arg_i64(&args, id);
    store_arg_i64(&args, now_ms);
    *done = 0;
    ota_err rc = run(s, tx, STORE_Q_TERM_TASKS, &args, NULL, NULL, failed);
    store_arg_str(&args, end_state);
    if (rc == OTA_OK)
        rc = run(s, tx, STORE_Q_TERM_BATCH, &args, NULL, NULL, &changed);
    *done = rc == OTA_OK && changed == 1;
    return rc;
}

/* The batch row locked (PostgreSQL; SQLite's writers take turns): *found = whether it is. */
static ota_err batch_lock(store_t *s, store_tx *tx, int64_t id, int64_t *found)
{
    store_args args = {0};
    store_arg_i64(&args, id);
    return get_i64(s, tx, STORE_Q_BATCH_LOCK, &args, found);
}

ota_err store__batch_terminate(store_t *s, store_tx *tx, int64_t id, int64_t now_ms,
                               const char *end_state, int *done, int64_t *failed)
{
    int64_t found, n = 0;
    store_batch b;
    *done = 0;
    if (!failed)
        failed = &n;
    *failed = 0;
    ota_err rc = batch_lock(s, tx, id, &found);
    if (rc != OTA_OK || !found)
        return rc;
    if ((rc = terminate_rows(s, tx, id, now_ms, end_state, done, failed)) != OTA_OK || !*done)
        return rc;
    if ((rc = batch_get(s, tx, id, &b)) != OTA_OK)
        return rc;
    return batch_event(s, tx, strcmp(end_state, "aborted") == 0 ? HOOK_EV_BATCH_ABORTED
                                                                : HOOK_EV_BATCH_TERMINATED,
                       &b, b.state, now_ms);
}

static ota_err batch_terminate_fn(store_tx *tx, void *ud)
{
    batch_args *a = ud;
    int64_t found;
    int done;
    /* locked before it is read, so the row read is the one the terminate acts on */
    ota_err rc = batch_lock(a->s, tx, a->id, &found);
    if (rc != OTA_OK)
        return rc;
    if (!found)
        return OTA_ENOTFOUND;
    if ((rc = batch_get(a->s, tx, a->id, a->out)) != OTA_OK)
        return rc;
    if ((rc = terminate_rows(a->s, tx, a->id, a->now, "terminated", &done, &a->failed)) !=
        OTA_OK)
        return rc;
    if (!done)
        return OTA_EINUSE;
    if ((rc = batch_get(a->s, tx, a->id, a->out)) != OTA_OK)
        return rc;
    return batch_event(a->s, tx, HOOK_EV_BATCH_TERMINATED, a->out, a->out->state, a->now);
}

ota_err store_batch_terminate(store_t *s, int64_t id, int64_t now_ms, store_batch *out,
                              int64_t *failed)
{
    batch_args a = {s, id, now_ms, out, 0};
    ota_err rc = store__change(s, batch_terminate_fn, &a);
    if (failed)
        *failed = rc == OTA_OK ? a.failed : 0;
    return rc;
}

typedef struct {
    store_t *s;
    int64_t id;
    const char *why; /* NULL: resume */
    store_batch *out;
} pause_args;

/* Pause or resume under the batch row's lock: the state the row is in decides. */
static ota_err batch_pause_fn(store_tx *tx, void *ud)
{
    pause_args *a = ud;
    int64_t found, changed = 0;
    store_args args = {0};
    ota_err rc = batch_lock(a->s, tx, a->id, &found);
    if (rc != OTA_OK)
        return rc;
    if (!found)
        return OTA_ENOTFOUND;
    store_arg_i64(&args, a->id);
    if (a->why)
        store_arg_str(&args, a->why);
    rc = run(a->s, tx, a->why ? STORE_Q_BATCH_PAUSE : STORE_Q_BATCH_RESUME, &args, NULL, NULL,
             &changed);
    if (rc == OTA_OK)
        rc = batch_get(a->s, tx, a->id, a->out);
    if (rc == OTA_OK && changed != 1)
        return OTA_EINUSE;
    if (rc != OTA_OK)
        return rc;
    return batch_event(a->s, tx, a->why ? HOOK_EV_BATCH_PAUSED : HOOK_EV_BATCH_RESUMED, a->out,
                       a->out->state, ota_time_now_ms());
}

ota_err store_batch_pause(store_t *s, int64_t id, const char *why, store_batch *out)
{
    pause_args a = {s, id, why ? why : "{}", out};
    return store__change(s, batch_pause_fn, &a);
}

ota_err store_batch_resume(store_t *s, int64_t id, store_batch *out)
{
    pause_args a = {s, id, NULL, out};
    return store__change(s, batch_pause_fn, &a);
}
