/*
 * store_targets: device tags, groups and target matching above the databases
 * (store_targets.h). Numbered statements (store_sql.h's STORE_QUERIES) run through
 * store_ops.tx/query as in catalog.c; the tag arithmetic (merge, remove, the 20-tag limit)
 * is core/target.c's, done here row by row inside one write transaction. The databases
 * compare tags, group names and versions in SQL (their JSON functions: the MATCH texts of
 * store_sqlite.c and store_pg.c), so a filter reads no device into memory but a page.
 *
 * Races: a change to one product's tags or groups takes the product's lock (PRODUCT_LOCK)
 * first, as batch creation does, so a continuous batch being created either sees the
 * change in its devices or is seen by the change (target_events).
 */
#include "store/store_targets.h"

#include "core/target.h"
#include "store/store_internal.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

_Static_assert(STORE_TAGS_TEXT_MAX >= TARGET_TAGS_TEXT_MAX, "tags text fits store_device");
_Static_assert(STORE_TARGET_GROUPS_MAX >= TARGET_GROUPS_TEXT_MAX, "groups text fits store_batch");
_Static_assert(STORE_TARGET_VERSIONS_MAX >= TARGET_VERSIONS_TEXT_MAX,
               "versions text fits store_batch");

static ota_err run(store_t *s, store_tx *tx, store_q q, const store_args *a, store_row_fn row,
                   void *ud, int64_t *changes)
{
    return s->ops->query(tx, q, a, row, ud, changes);
}

static void i64_col0(const store_row *r, void *out)
{
    *(int64_t *)out = r->i64(r->row, 0);
}

/* The first row of q into out with read; OTA_ENOTFOUND when none. */
static ota_err first(store_t *s, store_tx *tx, store_q q, const store_args *a,
                     void (*read)(const store_row *, void *), void *out)
{
    store_first f = {read, out, 0};
    ota_err rc = run(s, tx, q, a, store__first_fn, &f, NULL);
    return rc != OTA_OK ? rc : f.found ? OTA_OK : OTA_ENOTFOUND;
}

/* Column 0 of q's first row as an integer; 0 when no row. */
static ota_err first_i64(store_t *s, store_tx *tx, store_q q, const store_args *a, int64_t *out)
{
    *out = 0;
    ota_err rc = first(s, tx, q, a, i64_col0, out);
    return rc == OTA_ENOTFOUND ? OTA_OK : rc;
}

/* The product's id by key (locked with lock, for a change); OTA_ENOTFOUND when none. */
static ota_err product_of(store_t *s, store_tx *tx, const char *key, int lock, int64_t *pid)
{
    store_args a = {0};
    store_arg_str(&a, key);
    ota_err rc = first_i64(s, tx, lock ? STORE_Q_PRODUCT_LOCK : STORE_Q_PRODUCT_ID, &a, pid);
    return rc == OTA_OK && *pid == 0 ? OTA_ENOTFOUND : rc;
}

static void set_err(store_target_err *err, const char *code, const char *name)
{
    if (!err)
        return;
    err->code = code;
    snprintf(err->name, sizeof err->name, "%s", name ? name : "");
}

static const char *or_none(const char *s, const char *none)
{
    return s && *s ? s : none;
}

/* The device's id and tags ("" = none) by identifier. */
typedef struct {
    int64_t id;
    char tags[STORE_TAGS_TEXT_MAX];
} dev_tags;

static void dev_tags_of(const store_row *r, void *out)
{
    dev_tags *d = out;
    d->id = r->i64(r->row, 0);
    r->text(r->row, 1, d->tags, sizeof d->tags);
}

static ota_err find_device(store_t *s, store_tx *tx, int64_t pid, const char *ident, dev_tags *d)
{
    store_args a = {0};
    store_arg_i64(&a, pid);
    store_arg_str(&a, ident);
    return first(s, tx, STORE_Q_DEVICE_ID_TAGS, &a, dev_tags_of, d);
}

/* Notes the device for the engine when the product has an unfinished continuous batch
 * (*continuous: -1 not asked yet, else the answer, kept for the transaction). */
static ota_err note_change(store_t *s, store_tx *tx, int64_t pid, int64_t device_id,
                           int *continuous)
{
    store_args a = {0};
    if (*continuous < 0) {
        int64_t any = 0;
        store_arg_i64(&a, pid);
        ota_err rc = first_i64(s, tx, STORE_Q_CONTINUOUS_ANY, &a, &any);
        if (rc != OTA_OK)
            return rc;
        *continuous = any != 0;
        a.n = 0;
    }
    if (!*continuous)
        return OTA_OK;
    store_arg_i64(&a, device_id);
    return run(s, tx, STORE_Q_TARGET_EVENT_ADD, &a, NULL, NULL, NULL);
}

static ota_err write_tags(store_t *s, store_tx *tx, int64_t device_id, const char *tags)
{
    store_args a = {0};
    store_arg_i64(&a, device_id);
    store_arg_str(&a, tags && *tags && strcmp(tags, "{}") != 0 ? tags : NULL);
    return run(s, tx, STORE_Q_DEVICE_TAGS_SET, &a, NULL, NULL, NULL);
}

static void device_row(const store_row *r, void *out)
{
    store__read_device(r, out);
}

static ota_err device_get(store_t *s, store_tx *tx, const char *pk, const char *ident,
                          store_device *out)
{
    if (!out)
        return OTA_OK;
    store_args a = {0};
    store_arg_str(&a, pk);
    store_arg_str(&a, ident);
    return first(s, tx, STORE_Q_DEVICE_GET, &a, device_row, out);
}

/* ---- tags ------------------------------------------------------------------------------ */

typedef struct {
    store_t *s;
    const char *pk, *ident, *tags;
    store_device *out;
} tags_put_args;

static ota_err tags_put_fn(store_tx *tx, void *ud)
{
    tags_put_args *a = ud;
    int64_t pid;
    int continuous = -1;
    dev_tags d;
    ota_err rc = product_of(a->s, tx, a->pk, 1, &pid);
    if (rc == OTA_OK)
        rc = find_device(a->s, tx, pid, a->ident, &d);
    if (rc == OTA_OK)
        rc = write_tags(a->s, tx, d.id, a->tags);
    if (rc == OTA_OK)
        rc = note_change(a->s, tx, pid, d.id, &continuous);
    if (rc == OTA_OK)
        rc = device_get(a->s, tx, a->pk, a->ident, a->out);
    return rc;
}

ota_err store_device_tags_put(store_t *s, const char *product_key, const char *identifier,
                              const char *tags, store_device *out)
{
    if (!product_key || !identifier)
        return OTA_EINVAL;
    tags_put_args a = {s, product_key, identifier, tags, out};
    return store__change(s, tags_put_fn, &a);
}

typedef struct {
    store_t *s;
    const char *pk;
    const char *const *idents;
    size_t n;
    const store_match *m;
    const char *set;
    const char *const *remove;
    size_t n_remove;
    int64_t *changed;
    store_target_err *err;
} bulk_args;

/* The matching devices' ids and tags, at most max + 1 of them (to see "more than max"). */
typedef struct {
    dev_tags *rows;
    size_t n, max;
} dev_rows;

static void dev_rows_fn(void *ud, const store_row *r)
{
    dev_rows *d = ud;
    if (d->n < d->max)
        dev_tags_of(r, &d->rows[d->n]);
    d->n++;
}

static ota_err edit_one(bulk_args *a, store_tx *tx, int64_t pid, const dev_tags *d,
                        const char *name, int *continuous)
{
    char tags[TARGET_TAGS_TEXT_MAX];
    if (target_tags_edit(d->tags, a->set, a->remove, a->n_remove, tags) != 0) {
        set_err(a->err, "too_many_tags", name);
        return OTA_ELIMIT;
    }
    if (strcmp(tags, d->tags) == 0)
        return OTA_OK;
    ota_err rc = write_tags(a->s, tx, d->id, tags);
    if (rc == OTA_OK)
        rc = note_change(a->s, tx, pid, d->id, continuous);
    if (rc == OTA_OK)
        (*a->changed)++;
    return rc;
}

static ota_err bulk_by_filter(bulk_args *a, store_tx *tx, int64_t pid, int *continuous)
{
    dev_rows d = {calloc(STORE_TARGET_BULK_MAX, sizeof(dev_tags)), 0, STORE_TARGET_BULK_MAX};
    if (!d.rows)
        abort(); /* the daemon may abort on out-of-memory */
    store_args q = {0};
    store_arg_i64(&q, pid);
    store_arg_str(&q, or_none(a->m ? a->m->tags : NULL, "{}"));
    store_arg_str(&q, or_none(a->m ? a->m->groups : NULL, "[]"));
    store_arg_str(&q, or_none(a->m ? a->m->versions : NULL, "[]"));
    store_arg_i64(&q, STORE_TARGET_BULK_MAX + 1);
    ota_err rc = run(a->s, tx, STORE_Q_MATCH_IDS, &q, dev_rows_fn, &d, NULL);
    if (rc == OTA_OK && d.n > d.max) {
        set_err(a->err, "too_many_devices", NULL);
        rc = OTA_ELIMIT;
    }
    for (size_t i = 0; rc == OTA_OK && i < d.n; i++) {
        char name[24];
        snprintf(name, sizeof name, "#%lld", (long long)d.rows[i].id);
        rc = edit_one(a, tx, pid, &d.rows[i], name, continuous);
    }
    free(d.rows);
    return rc;
}

static ota_err bulk_fn(store_tx *tx, void *ud)
{
    bulk_args *a = ud;
    int64_t pid;
    int continuous = -1;
    *a->changed = 0;
    ota_err rc = product_of(a->s, tx, a->pk, 1, &pid);
    if (rc == OTA_OK && a->m && a->m->groups && *a->m->groups)
        rc = store__groups_exist(a->s, tx, pid, a->m->groups, a->err);
    if (rc != OTA_OK)
        return rc;
    if (a->n == 0)
        return bulk_by_filter(a, tx, pid, &continuous);
    for (size_t i = 0; rc == OTA_OK && i < a->n; i++) {
        dev_tags d;
        rc = find_device(a->s, tx, pid, a->idents[i], &d);
        if (rc == OTA_ENOTFOUND) {
            set_err(a->err, "device_not_found", a->idents[i]);
            rc = OTA_EINVAL;
        }
        if (rc == OTA_OK)
            rc = edit_one(a, tx, pid, &d, a->idents[i], &continuous);
    }
    return rc;
}

ota_err store_device_tags_bulk(store_t *s, const char *product_key, const char *const *idents,
                               size_t n, const store_match *m, const char *set,
                               const char *const *remove, size_t n_remove, int64_t *changed,
                               store_target_err *err)
{
    if (!product_key || !changed || n > STORE_TARGET_BULK_MAX || (n > 0 && !idents))
        return OTA_EINVAL;
    if (err)
        memset(err, 0, sizeof *err);
    bulk_args a = {s, product_key, idents, n, m, set, remove, n_remove, changed, err};
    return store__change(s, bulk_fn, &a);
}

/* ---- groups of a device, and whether groups exist ---------------------------------------- */

typedef struct {
    json_t *arr;
} names_out;

static void name_fn(void *ud, const store_row *r)
{
    char name[72];
    r->text(r->row, 0, name, sizeof name);
    json_array_append_new(((names_out *)ud)->arr, json_string(name));
}

typedef struct {
    store_t *s;
    const char *pk, *ident;
    json_t *arr;
} dev_groups_args;

static ota_err dev_groups_fn(store_tx *tx, void *ud)
{
    dev_groups_args *a = ud;
    int64_t pid;
    dev_tags d;
    ota_err rc = product_of(a->s, tx, a->pk, 0, &pid);
    if (rc == OTA_OK)
        rc = find_device(a->s, tx, pid, a->ident, &d);
    if (rc != OTA_OK)
        return rc;
    store_args q = {0};
    store_arg_i64(&q, d.id);
    names_out o = {a->arr};
    return run(a->s, tx, STORE_Q_DEVICE_GROUP_NAMES, &q, name_fn, &o, NULL);
}

ota_err store_device_groups(store_t *s, const char *product_key, const char *identifier,
                            char *out, size_t outlen)
{
    dev_groups_args a = {s, product_key, identifier, json_array()};
    ota_err rc = s->ops->tx(s, STORE_TX_READ, dev_groups_fn, &a);
    if (rc == OTA_OK) {
        size_t len = json_dumpb(a.arr, out, outlen - 1, JSON_COMPACT);
        if (len == 0 || len >= outlen)
            rc = OTA_ELIMIT;
        else
            out[len] = '\0';
    }
    json_decref(a.arr);
    return rc;
}

ota_err store__groups_exist(store_t *s, store_tx *tx, int64_t product_id, const char *groups,
                            store_target_err *err)
{
    json_t *arr = json_loads(groups, 0, NULL);
    size_t i;
    json_t *v;
    ota_err rc = json_is_array(arr) ? OTA_OK : OTA_EINVAL;
    json_array_foreach(arr, i, v)
    {
        int64_t id = 0;
        store_args a = {0};
        store_arg_i64(&a, product_id);
        store_arg_str(&a, json_string_value(v));
        rc = first_i64(s, tx, STORE_Q_GROUP_GET, &a, &id);
        if (rc == OTA_OK && id == 0) {
            set_err(err, "group_not_found", json_string_value(v));
            rc = OTA_EINVAL;
        }
        if (rc != OTA_OK)
            break;
    }
    json_decref(arr);
    return rc;
}

/* ---- matching -------------------------------------------------------------------------- */

typedef struct {
    store_t *s;
    const char *pk;
    int online;
    const store_match *m;
    store_page pg;
    store_device **items;
    size_t *n;
    int64_t *total;
    int64_t firmware_id;
    int64_t *eligible;
    store_target_err *err;
} match_args;

static void match_lead(store_args *q, const store_match *m)
{
    store_arg_str(q, or_none(m ? m->tags : NULL, "{}"));
    store_arg_str(q, or_none(m ? m->groups : NULL, "[]"));
    store_arg_str(q, or_none(m ? m->versions : NULL, "[]"));
}

static ota_err match_start(match_args *a, store_tx *tx, int64_t *pid)
{
    ota_err rc = product_of(a->s, tx, a->pk, 0, pid);
    if (rc == OTA_OK && a->m && a->m->groups && *a->m->groups)
        rc = store__groups_exist(a->s, tx, *pid, a->m->groups, a->err);
    return rc;
}

static ota_err match_list_fn(store_tx *tx, void *ud)
{
    match_args *a = ud;
    int64_t pid;
    ota_err rc = match_start(a, tx, &pid);
    if (rc != OTA_OK)
        return rc;
    store_args q = {0};
    store_arg_i64(&q, pid);
    store_arg_i64(&q, a->online);
    match_lead(&q, a->m);
    return store__list_page(a->s, tx, STORE_Q_MATCH_COUNT, STORE_Q_MATCH_LIST, &q, a->pg, sizeof(store_device),
                device_row, (void **)a->items, a->n, a->total);
}

ota_err store_device_match_list(store_t *s, const char *product_key, int online,
                                const store_match *m, store_page pg, store_device **items,
                                size_t *n, int64_t *total, store_target_err *err)
{
    *items = NULL;
    *n = 0;
    *total = 0;
    if (err)
        memset(err, 0, sizeof *err);
    if (!product_key || !store__page_ok(pg))
        return OTA_EINVAL;
    match_args a = {s, product_key, online < 0 ? -1 : online != 0, m, pg, items, n, total, 0,
                    NULL, err};
    return s->ops->tx(s, STORE_TX_READ, match_list_fn, &a);
}

static void firmware_row(const store_row *r, void *out)
{
    store__read_firmware(r, out);
}

static ota_err match_count_fn(store_tx *tx, void *ud)
{
    match_args *a = ud;
    int64_t pid;
    ota_err rc = match_start(a, tx, &pid);
    if (rc != OTA_OK)
        return rc;
    store_args q = {0};
    store_arg_i64(&q, pid);
    store_arg_i64(&q, -1);
    match_lead(&q, a->m);
    if ((rc = first_i64(a->s, tx, STORE_Q_MATCH_COUNT, &q, a->total)) != OTA_OK)
        return rc;
    if (a->firmware_id <= 0)
        return OTA_OK;
    store_firmware fw;
    q.n = 0;
    store_arg_i64(&q, a->firmware_id);
    if ((rc = first(a->s, tx, STORE_Q_FW_GET, &q, firmware_row, &fw)) != OTA_OK)
        return rc;
    if (fw.product_id != pid)
        return OTA_ENOTFOUND;
    q.n = 0;
    store_arg_i64(&q, pid);
    store_arg_str(&q, fw.version);
    match_lead(&q, a->m);
    return first_i64(a->s, tx, STORE_Q_MATCH_ELIGIBLE, &q, a->eligible);
}

ota_err store_device_match_count(store_t *s, const char *product_key, const store_match *m,
                                 int64_t firmware_id, int64_t *matching, int64_t *eligible,
                                 store_target_err *err)
{
    int64_t dummy = 0;
    *matching = 0;
    if (eligible)
        *eligible = 0;
    if (err)
        memset(err, 0, sizeof *err);
    if (!product_key)
        return OTA_EINVAL;
    match_args a = {s, product_key, -1, m, {1, 1}, NULL, NULL, matching, firmware_id,
                    eligible ? eligible : &dummy, err};
    return s->ops->tx(s, STORE_TX_READ, match_count_fn, &a);
}

/* ---- groups ------------------------------------------------------------------------------ */

static void group_of(const store_row *r, void *out)
{
    store_group *g = out;
    memset(g, 0, sizeof *g);
    g->id = r->i64(r->row, 0);
    r->text(r->row, 1, g->product_key, sizeof g->product_key);
    r->text(r->row, 2, g->name, sizeof g->name);
    g->created_ms = r->i64(r->row, 3);
    g->members = r->i64(r->row, 4);
}

typedef struct {
    store_t *s;
    const char *pk, *name;
    int64_t now;
    store_group *out;
    int add;
    const char *const *idents;
    size_t n;
    int64_t *changed;
    store_target_err *err;
    store_page pg;
    void **items;
    size_t *n_items;
    int64_t *total;
} group_args;

static ota_err group_find(group_args *a, store_tx *tx, int lock, int64_t *pid, store_group *g)
{
    ota_err rc = product_of(a->s, tx, a->pk, lock, pid);
    if (rc != OTA_OK)
        return rc;
    store_args q = {0};
    store_arg_i64(&q, *pid);
    store_arg_str(&q, a->name);
    return first(a->s, tx, STORE_Q_GROUP_GET, &q, group_of, g);
}

static ota_err group_create_fn(store_tx *tx, void *ud)
{
    group_args *a = ud;
    int64_t pid, count = 0, id = 0;
    ota_err rc = product_of(a->s, tx, a->pk, 1, &pid);
    store_args q = {0};
    store_arg_i64(&q, pid);
    if (rc == OTA_OK)
        rc = first_i64(a->s, tx, STORE_Q_GROUP_COUNT_P, &q, &count);
    if (rc != OTA_OK)
        return rc;
    if (count >= TARGET_GROUPS_PER_PRODUCT)
        return OTA_ELIMIT;
    store_arg_str(&q, a->name);
    store_arg_i64(&q, a->now);
    if ((rc = first_i64(a->s, tx, STORE_Q_GROUP_INSERT, &q, &id)) != OTA_OK)
        return rc;
    if (id == 0)
        return OTA_EDUPLICATE;
    return group_find(a, tx, 0, &pid, a->out);
}

ota_err store_group_create(store_t *s, const char *product_key, const char *name,
                           int64_t now_ms, store_group *out)
{
    if (!product_key || !name || !out)
        return OTA_EINVAL;
    group_args a = {.s = s, .pk = product_key, .name = name, .now = now_ms, .out = out};
    return store__change(s, group_create_fn, &a);
}

static ota_err group_get_fn(store_tx *tx, void *ud)
{
    group_args *a = ud;
    int64_t pid;
    return group_find(a, tx, 0, &pid, a->out);
}

ota_err store_group_get(store_t *s, const char *product_key, const char *name, store_group *out)
{
    if (!product_key || !name || !out)
        return OTA_EINVAL;
    group_args a = {.s = s, .pk = product_key, .name = name, .out = out};
    return s->ops->tx(s, STORE_TX_READ, group_get_fn, &a);
}

static ota_err group_list_fn(store_tx *tx, void *ud)
{
    group_args *a = ud;
    int64_t pid;
    ota_err rc = product_of(a->s, tx, a->pk, 0, &pid);
    if (rc != OTA_OK)
        return rc;
    store_args q = {0};
    store_arg_i64(&q, pid);
    return store__list_page(a->s, tx, STORE_Q_GROUP_COUNT_P, STORE_Q_GROUP_LIST, &q, a->pg, sizeof(store_group),
                group_of, a->items, a->n_items, a->total);
}

ota_err store_group_list(store_t *s, const char *product_key, store_page pg, store_group **items,
                         size_t *n, int64_t *total)
{
    *items = NULL;
    *n = 0;
    *total = 0;
    if (!product_key || !store__page_ok(pg))
        return OTA_EINVAL;
    group_args a = {.s = s, .pk = product_key, .pg = pg, .items = (void **)items, .n_items = n,
                    .total = total};
    return s->ops->tx(s, STORE_TX_READ, group_list_fn, &a);
}

static ota_err group_delete_fn(store_tx *tx, void *ud)
{
    group_args *a = ud;
    int64_t pid;
    store_group g;
    ota_err rc = group_find(a, tx, 1, &pid, &g);
    store_args q = {0};
    store_arg_i64(&q, g.id);
    if (rc == OTA_OK)
        rc = run(a->s, tx, STORE_Q_GROUP_DEL_MEMBERS, &q, NULL, NULL, NULL);
    if (rc == OTA_OK)
        rc = run(a->s, tx, STORE_Q_GROUP_DEL, &q, NULL, NULL, NULL);
    return rc;
}

ota_err store_group_delete(store_t *s, const char *product_key, const char *name)
{
    if (!product_key || !name)
        return OTA_EINVAL;
    group_args a = {.s = s, .pk = product_key, .name = name};
    return store__change(s, group_delete_fn, &a);
}

static ota_err members_change_fn(store_tx *tx, void *ud)
{
    group_args *a = ud;
    int64_t pid;
    int continuous = -1;
    store_group g;
    *a->changed = 0;
    ota_err rc = group_find(a, tx, 1, &pid, &g);
    if (rc == OTA_ENOTFOUND)
        set_err(a->err, "group_not_found", a->name);
    for (size_t i = 0; rc == OTA_OK && i < a->n; i++) {
        dev_tags d;
        int64_t changed = 0;
        rc = find_device(a->s, tx, pid, a->idents[i], &d);
        if (rc == OTA_ENOTFOUND) {
            set_err(a->err, "device_not_found", a->idents[i]);
            rc = OTA_EINVAL;
            break;
        }
        store_args q = {0};
        store_arg_i64(&q, g.id);
        store_arg_i64(&q, d.id);
        if (rc == OTA_OK)
            rc = run(a->s, tx, a->add ? STORE_Q_GROUP_MEMBER_ADD : STORE_Q_GROUP_MEMBER_DEL, &q,
                     NULL, NULL, &changed);
        if (rc == OTA_OK && changed > 0) {
            *a->changed += changed;
            /* a device that left a group can match nothing more through it */
            if (a->add)
                rc = note_change(a->s, tx, pid, d.id, &continuous);
        }
    }
    return rc;
}

ota_err store_group_members_change(store_t *s, const char *product_key, const char *name,
                                   int add, const char *const *idents, size_t n,
                                   int64_t *changed, store_target_err *err)
{
    if (!product_key || !name || !changed || !idents || n == 0 || n > STORE_TARGET_BULK_MAX)
        return OTA_EINVAL;
    if (err)
        memset(err, 0, sizeof *err);
    group_args a = {.s = s, .pk = product_key, .name = name, .add = add, .idents = idents,
                    .n = n, .changed = changed, .err = err};
    return store__change(s, members_change_fn, &a);
}

static ota_err members_fn(store_tx *tx, void *ud)
{
    group_args *a = ud;
    int64_t pid;
    store_group g;
    ota_err rc = group_find(a, tx, 0, &pid, &g);
    if (rc != OTA_OK)
        return rc;
    store_args q = {0};
    store_arg_i64(&q, g.id);
    return store__list_page(a->s, tx, STORE_Q_GROUP_MEMBER_COUNT, STORE_Q_GROUP_MEMBER_LIST, &q, a->pg,
                sizeof(store_device), device_row, a->items, a->n_items, a->total);
}

ota_err store_group_members(store_t *s, const char *product_key, const char *name, store_page pg,
                            store_device **items, size_t *n, int64_t *total)
{
    *items = NULL;
    *n = 0;
    *total = 0;
    if (!product_key || !name || !store__page_ok(pg))
        return OTA_EINVAL;
    group_args a = {.s = s, .pk = product_key, .name = name, .pg = pg, .items = (void **)items,
                    .n_items = n, .total = total};
    return s->ops->tx(s, STORE_TX_READ, members_fn, &a);
}
