/*
 * test_store_uow: the engine's unit of work (store_batch.h) on SQLite and, with
 * OTA_TEST_PG_URL, PostgreSQL (store_each.h): the round's loads by name and by id, the
 * answers the unit gives from what it read and wrote (ids, names, readiness, open tasks),
 * and the task writes it sends together at the commit (PostgreSQL: one UPDATE ... FROM
 * unnest), each device's row its own, and the device writes sent the same way (presence,
 * readiness, versions: each device as the writes one at a time leave it). SQLite has no loads (its unit reads each device when
 * first asked); the answers must be the same. Also the continuous batches read ahead with
 * a load (store_uow_continuous_ahead).
 */
#include "store/store.h"
#include "store/store_batch.h"

#include "store_each.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

static const int64_t now_ms = 1700000000000LL;

/* The round's bulk operations (store_uow_load_names / _ids, the task writes sent together
 * at the commit): every device must get its own row. The devices are loaded in an order
 * other than their ids', with unknown names and repeats among them, and each task is
 * written with values of its own (NULLs and quoting included), so a row mapped to the
 * wrong element of an array would show. */
#define BULK_N 300

static int64_t bulk_ids[BULK_N];

static void bulk_due_cb(void *ud, int64_t device_id, int kind, int64_t due_ms)
{
    for (int i = 0; i < BULK_N; i++)
        if (bulk_ids[i] == device_id) {
            assert_int_equal(kind, FSM_DL_ACK);
            assert_int_equal(due_ms, now_ms + 1000 + i);
            (*(int64_t *)ud)++;
        }
}

static void bulk_ident(int i, char *out, size_t len)
{
    /* quotes, a backslash and a comma in some: the array literals must keep them */
    snprintf(out, len, i % 7 == 0 ? "bk\"%03d,\\x" : "bk-%03d", i);
}

static void bulk_expect(const store_task *t, int i, int64_t batch_id)
{
    char msg[32], ver[32];
    snprintf(msg, sizeof msg, "m-%d", i);
    snprintf(ver, sizeof ver, "1.%d", i);
    assert_int_equal(t->batch_id, batch_id);
    assert_int_equal(t->task.state, i % 3 == 0 ? FSM_UPGRADING : FSM_PUSHED);
    assert_int_equal(t->task.progress, i % 3 == 0 ? i % 100 : 0);
    assert_int_equal(t->task.attempt, 1 + i % 4);
    assert_string_equal(t->task.push_msg_id, i % 5 == 0 ? "" : msg);
    assert_int_equal(t->task.pushed_ms, now_ms + i);
    assert_int_equal(t->task.started_ms, i % 3 == 0 ? now_ms + 2 * i : 0);
    assert_int_equal(t->task.deadline_kind, i % 2 ? FSM_DL_ACK : FSM_DL_NONE);
    assert_int_equal(t->task.deadline_ms, i % 2 ? now_ms + 1000 + i : 0);
    assert_string_equal(t->current_version, i % 4 == 0 ? "" : ver);
}

/* Unit 4: device writes (presence, readiness, versions) wait in the unit and go out
 * together (PostgreSQL: one UPDATE ... FROM unnest per wave); each device must end as the
 * writes one at a time, in its order, leave it. Every device gets one of eight sequences;
 * the steps of all devices interleave, and reads in the middle must see the writes before
 * them. The presence rule: only a connection newer than the one the row knows counts. */
#define DW_T (now_ms + 100000)
#define DW_STEPS 3

static void dw_step(store_uow *u, int64_t id, int i, int step)
{
    int64_t t = DW_T + 10 * i;
    char v[32];
    int pushable = -1;
    switch (i % 8 * DW_STEPS + step) {
    case 0 * DW_STEPS + 0: /* on; a read after it sees it */
        assert_int_equal(store_uow_device_presence(u, id, 1, t), OTA_OK);
        break;
    case 0 * DW_STEPS + 1:
        assert_int_equal(store_uow_device_pushable(u, id, &pushable, NULL), OTA_OK);
        assert_int_equal(pushable, 0); /* online, not ready */
        break;
    case 1 * DW_STEPS + 0: /* on, ready, version: one row */
        assert_int_equal(store_uow_device_presence(u, id, 1, t), OTA_OK);
        break;
    case 1 * DW_STEPS + 1:
        assert_int_equal(store_uow_device_ready(u, id, t + 1), OTA_OK);
        break;
    case 1 * DW_STEPS + 2:
        snprintf(v, sizeof v, "3.%d", i);
        assert_int_equal(store_uow_device_version(u, id, v, t + 2), OTA_OK);
        break;
    case 2 * DW_STEPS + 0: /* ready and version, then a new connection: not ready */
        assert_int_equal(store_uow_device_ready(u, id, t), OTA_OK);
        snprintf(v, sizeof v, "4.%d", i);
        assert_int_equal(store_uow_device_version(u, id, v, t + 1), OTA_OK);
        break;
    case 2 * DW_STEPS + 1:
        assert_int_equal(store_uow_device_presence(u, id, 1, t + 2), OTA_OK);
        break;
    case 3 * DW_STEPS + 0: /* on, off, on */
        assert_int_equal(store_uow_device_presence(u, id, 1, t), OTA_OK);
        break;
    case 3 * DW_STEPS + 1:
        assert_int_equal(store_uow_device_presence(u, id, 0, t + 1), OTA_OK);
        break;
    case 3 * DW_STEPS + 2:
        assert_int_equal(store_uow_device_presence(u, id, 1, t + 2), OTA_OK);
        break;
    case 4 * DW_STEPS + 0: /* off */
        assert_int_equal(store_uow_device_presence(u, id, 0, t), OTA_OK);
        break;
    case 5 * DW_STEPS + 0: /* two versions: the last one stays */
        assert_int_equal(store_uow_device_version(u, id, "5.a", t), OTA_OK);
        break;
    case 5 * DW_STEPS + 2:
        assert_int_equal(store_uow_device_version(u, id, "5.b", t + 1), OTA_OK);
        break;
    case 6 * DW_STEPS + 0: /* on and ready, read; then an older end: changes nothing */
        assert_int_equal(store_uow_device_presence(u, id, 1, t), OTA_OK);
        assert_int_equal(store_uow_device_ready(u, id, t + 1), OTA_OK);
        break;
    case 6 * DW_STEPS + 1:
        assert_int_equal(store_uow_device_pushable(u, id, &pushable, NULL), OTA_OK);
        assert_int_equal(pushable, 1);
        assert_int_equal(store_uow_device_presence(u, id, 0, t - 1), OTA_OK);
        break;
    case 7 * DW_STEPS + 0: /* on, then an older start (nothing), then ready (in its row) */
        assert_int_equal(store_uow_device_presence(u, id, 1, t), OTA_OK);
        break;
    case 7 * DW_STEPS + 1:
        assert_int_equal(store_uow_device_presence(u, id, 1, t - 5), OTA_OK);
        assert_int_equal(store_uow_device_ready(u, id, t + 1), OTA_OK);
        break;
    default:
        break;
    }
}

static void device_writes(store_t *st, const char *pk, char idents[][32])
{
    store_uow *u;
    int online_before[BULK_N];
    for (int i = 0; i < BULK_N; i++) {
        store_device d;
        assert_int_equal(store_device_get(st, pk, idents[i], &d), OTA_OK);
        online_before[i] = d.online;
    }
    assert_int_equal(store_uow_begin(st, &u), OTA_OK);
    for (int step = 0; step < DW_STEPS; step++)
        for (int i = 0; i < BULK_N; i++)
            dw_step(u, bulk_ids[i], i, step);
    assert_int_equal(store_uow_commit(u), OTA_OK);

    /* what each sequence leaves: online, ready, version ("" = as before), last seen */
    assert_int_equal(store_uow_begin(st, &u), OTA_OK);
    assert_int_equal(store_uow_load_ids(u, bulk_ids, BULK_N), OTA_OK);
    for (int i = 0; i < BULK_N; i++) {
        int64_t t = DW_T + 10 * i;
        static const struct {
            int online, ready; /* -1: as before */
            const char *version;
            int64_t seen; /* after t */
        } want[8] = {{1, 0, NULL, 0},   {1, 1, "3.", 2}, {1, 0, "4.", 2}, {1, 0, NULL, 2},
                     {0, 0, NULL, 0},   {-1, -1, "5.b", 1}, {1, 1, NULL, 0}, {1, 1, NULL, 0}};
        store_device d;
        int pushable;
        char v[32];
        int k = i % 8;
        assert_int_equal(store_device_get(st, pk, idents[i], &d), OTA_OK);
        assert_int_equal(d.online, want[k].online < 0 ? online_before[i] : want[k].online);
        assert_int_equal(d.last_seen_ms, t + want[k].seen);
        if (want[k].online == 1)
            assert_int_equal(d.activated, 1);
        if (want[k].version) {
            if (k == 5)
                snprintf(v, sizeof v, "%s", want[k].version);
            else
                snprintf(v, sizeof v, "%s%d", want[k].version, i); /* "3.<i>", "4.<i>" */
            assert_string_equal(d.firmware_version, v);
        }
        assert_int_equal(store_uow_device_pushable(u, bulk_ids[i], &pushable, NULL), OTA_OK);
        if (want[k].ready >= 0)
            assert_int_equal(pushable, want[k].online && want[k].ready);
    }
    assert_int_equal(store_uow_commit(u), OTA_OK);

    /* a DDI poll (written at once) after an end of connection that waits in the unit: the
     * poll comes last, so the device is online */
    store_device d;
    assert_int_equal(store_uow_begin(st, &u), OTA_OK);
    assert_int_equal(store_uow_device_presence(u, bulk_ids[4], 0, DW_T + 100000), OTA_OK);
    assert_int_equal(store_uow_ddi_online(u, bulk_ids[4], DW_T + 100001), OTA_OK);
    assert_int_equal(store_uow_commit(u), OTA_OK);
    assert_int_equal(store_device_get(st, pk, idents[4], &d), OTA_OK);
    assert_int_equal(d.online, 1);
}

static void run_cases(store_t *st)
{
    store_product p;
    store_firmware f, out;
    store_batch b;
    store_batch_err err;
    store_uow *u;
    store_task t;
    static char idents[BULK_N][32];
    int64_t *ids = bulk_ids;
    assert_int_equal(store_product_create(st, "Bulk", "", now_ms, &p), OTA_OK);
    for (int i = 0; i < BULK_N; i++) {
        store_device d;
        bulk_ident(i, idents[i], sizeof idents[i]);
        assert_int_equal(store_device_create(st, p.product_key, idents[i], "", now_ms, &d), OTA_OK);
        assert_int_equal(store_device_set_online(st, p.product_key, idents[i], i % 2, now_ms),
                         OTA_OK);
        ids[i] = d.id;
    }
    memset(&f, 0, sizeof f);
    snprintf(f.product_key, sizeof f.product_key, "%s", p.product_key);
    snprintf(f.name, sizeof f.name, "bulk-fw");
    snprintf(f.version, sizeof f.version, "2.0");
    snprintf(f.file_name, sizeof f.file_name, "bulk-fw.bin");
    f.size = 3;
    snprintf(f.md5, sizeof f.md5, "%032d", 0);
    snprintf(f.sha256, sizeof f.sha256, "%064d", 7);
    assert_int_equal(store_firmware_create(st, &f, now_ms, &out, NULL), OTA_OK);
    /* devices set offline were activated too (set_online 0 after 1 would be needed
     * otherwise): a directed batch of the activated ones, every odd device */
    const char *sel[BULK_N];
    size_t nsel = 0;
    for (int i = 1; i < BULK_N; i += 2)
        sel[nsel++] = idents[i];
    store_batch_new in = {.directed = 1, .identifiers = sel, .n_identifiers = nsel,
                          .policy = "standard", .validity_days = 1, .timeout_min = 10,
                          .retry_times = 1, .retry_interval_min = 1, .max_push_per_min = 1000};
    assert_int_equal(store_batch_create(st, out.id, &in, now_ms, now_ms + 100000, &b, &err),
                     OTA_OK);

    /* unit 1: load by name, backwards, with unknown names and repeats; write every task */
    const char *pks[BULK_N + 3], *names[BULK_N + 3];
    size_t n = 0;
    for (int i = BULK_N - 1; i >= 0; i--) {
        pks[n] = p.product_key;
        names[n++] = idents[i];
    }
    pks[n] = p.product_key;
    names[n++] = "no-such-device";
    pks[n] = "nosuchprod";
    names[n++] = idents[0];
    pks[n] = p.product_key;
    names[n++] = idents[5];
    assert_int_equal(store_uow_begin(st, &u), OTA_OK);
    assert_int_equal(store_uow_load_names(u, pks, names, n), OTA_OK);
    for (int i = 0; i < BULK_N; i++) {
        int64_t id;
        int pushable;
        char pk[16], ident[72];
        assert_int_equal(store_uow_device_find(u, p.product_key, idents[i], &id), OTA_OK);
        assert_int_equal(id, ids[i]);
        assert_int_equal(store_uow_device_names(u, id, pk, sizeof pk, ident, sizeof ident), OTA_OK);
        assert_string_equal(ident, idents[i]);
        assert_int_equal(store_uow_device_pushable(u, id, &pushable, NULL), OTA_OK);
        assert_int_equal(pushable, 0); /* online or not, none said it is ready */
        if (i % 2 == 0) {
            assert_int_equal(store_uow_task_open(u, id, &t), OTA_ENOTFOUND);
            continue;
        }
        assert_int_equal(store_uow_task_open(u, id, &t), OTA_OK);
        assert_int_equal(t.device_id, id);
        assert_int_equal(t.task.state, FSM_TO_PUSH);
        t.task.state = i % 3 == 0 ? FSM_UPGRADING : FSM_PUSHED;
        t.task.progress = i % 3 == 0 ? i % 100 : 0;
        t.task.attempt = 1 + i % 4;
        if (i % 5)
            snprintf(t.task.push_msg_id, sizeof t.task.push_msg_id, "m-%d", i);
        t.task.pushed_ms = now_ms + i;
        t.task.started_ms = i % 3 == 0 ? now_ms + 2 * i : 0;
        t.task.deadline_kind = i % 2 ? FSM_DL_ACK : FSM_DL_NONE;
        t.task.deadline_ms = i % 2 ? now_ms + 1000 + i : 0;
        if (i % 4)
            snprintf(t.current_version, sizeof t.current_version, "1.%d", i);
        assert_int_equal(store_uow_task_put(u, &t, now_ms + 7), OTA_OK);
        /* read back inside the unit before it is written */
        store_task back;
        assert_int_equal(store_uow_task_open(u, id, &back), OTA_OK);
        bulk_expect(&back, i, b.id);
    }
    int64_t none;
    assert_int_equal(store_uow_device_find(u, p.product_key, "no-such-device", &none),
                     OTA_ENOTFOUND);
    assert_int_equal(store_uow_device_find(u, "nosuchprod", idents[0], &none), OTA_ENOTFOUND);
    /* readiness written in the unit shows in its answers */
    int pushable;
    assert_int_equal(store_uow_device_ready(u, ids[3], now_ms), OTA_OK);
    assert_int_equal(store_uow_device_pushable(u, ids[3], &pushable, NULL), OTA_OK);
    assert_int_equal(pushable, 1);
    assert_int_equal(store_uow_commit(u), OTA_OK);

    /* unit 2: load by id in a shuffled order; every task as written, one finished */
    int64_t shuffled[BULK_N];
    for (int i = 0; i < BULK_N; i++)
        shuffled[i] = ids[(i * 7 + 3) % BULK_N]; /* 7 and 300 share no factor: a permutation */
    assert_int_equal(store_uow_begin(st, &u), OTA_OK);
    assert_int_equal(store_uow_load_ids(u, shuffled, BULK_N), OTA_OK);
    for (int i = 1; i < BULK_N; i += 2) {
        assert_int_equal(store_uow_task_open(u, ids[i], &t), OTA_OK);
        bulk_expect(&t, i, b.id);
    }
    assert_int_equal(store_uow_device_pushable(u, ids[3], &pushable, NULL), OTA_OK);
    assert_int_equal(pushable, 1);
    assert_int_equal(store_uow_task_open(u, ids[1], &t), OTA_OK);
    t.task.state = FSM_SUCCEEDED;
    t.task.finished_ms = now_ms + 9;
    t.task.deadline_kind = FSM_DL_NONE;
    t.task.deadline_ms = 0;
    assert_int_equal(store_uow_task_put(u, &t, now_ms + 9), OTA_OK);
    assert_int_equal(store_uow_task_open(u, ids[1], &t), OTA_ENOTFOUND);
    assert_int_equal(store_uow_commit(u), OTA_OK);

    /* and the API (another connection) reads the same per device */
    store_batch_device *devs;
    store_page pgs = {1, 1000};
    size_t nd;
    int64_t total;
    assert_int_equal(store_batch_devices(st, b.id, -1, pgs, &devs, &nd, &total), OTA_OK);
    assert_int_equal(total, BULK_N / 2);
    for (size_t k = 0; k < nd; k++) {
        int i = -1;
        for (int j = 0; j < BULK_N; j++)
            if (ids[j] == devs[k].device_id)
                i = j;
        assert_true(i > 0 && i % 2 == 1);
        assert_string_equal(devs[k].identifier, idents[i]);
        if (i == 1) {
            assert_int_equal(devs[k].state, FSM_SUCCEEDED);
            assert_int_equal(devs[k].finish_ms, now_ms + 9);
            continue;
        }
        assert_int_equal(devs[k].state, i % 3 == 0 ? FSM_UPGRADING : FSM_PUSHED);
        assert_int_equal(devs[k].progress, i % 3 == 0 ? i % 100 : 0);
        char ver[32];
        snprintf(ver, sizeof ver, "1.%d", i);
        if (i % 4)
            assert_string_equal(devs[k].current_version, ver);
    }
    free(devs);
    /* the armed deadlines are the odd devices' (all of the batch's tasks are odd) */
    int64_t due = 0;
    assert_int_equal(store_engine_deadlines(st, INT64_MAX, INT64_MAX, bulk_due_cb, &due), OTA_OK);
    assert_int_equal(due, BULK_N / 2 - 1); /* device 1 finished */
    assert_int_equal(store_uow_begin(st, &u), OTA_OK);
    assert_int_equal(store_uow_batch_terminate(u, b.id, now_ms + 10, &pushable, NULL), OTA_OK);
    assert_int_equal(store_uow_commit(u), OTA_OK);

    /* unit 3: continuous batches asked ahead (store_uow_continuous_ahead) come back with the
     * load (PostgreSQL: in its round trip) and answer as the read does; asked for another
     * "after" than the one ahead, the unit reads */
    store_batch c;
    store_batch_new cin = {.policy = "standard", .validity_days = 1, .timeout_min = 10,
                           .max_push_per_min = 1000, .filter = 1, .tags = "{\"hw\":\"none\"}",
                           .continuous = 1};
    assert_int_equal(store_batch_create(st, out.id, &cin, now_ms, now_ms + 100000, &c, &err),
                     OTA_OK);
    int64_t cids[4];
    size_t nc = 9;
    assert_int_equal(store_uow_begin(st, &u), OTA_OK);
    store_uow_continuous_ahead(u, 0);
    assert_int_equal(store_uow_load_names(u, pks, names, 2), OTA_OK);
    uint64_t trips = store_uow_round_trips(st);
    assert_int_equal(store_uow_continuous_new(u, 0, cids, 4, &nc), OTA_OK);
    assert_int_equal(store_uow_round_trips(st), trips); /* answered without a round trip */
    assert_int_equal(nc, 1);
    assert_int_equal(cids[0], c.id);
    nc = 9;
    assert_int_equal(store_uow_continuous_new(u, 0, cids, 4, &nc), OTA_OK); /* read again */
    assert_int_equal(nc, 1);
    assert_int_equal(cids[0], c.id);
    store_uow_continuous_ahead(u, 0);
    assert_int_equal(store_uow_load_ids(u, &ids[2], 1), OTA_OK);
    nc = 9;
    assert_int_equal(store_uow_continuous_new(u, c.id, cids, 4, &nc), OTA_OK);
    assert_int_equal(nc, 0);
    nc = 9;
    assert_int_equal(store_uow_continuous_new(u, 0, cids, 0, &nc), OTA_OK); /* max 0 */
    assert_int_equal(nc, 0);
    assert_int_equal(store_uow_commit(u), OTA_OK);

    device_writes(st, p.product_key, idents);
}

static void test_sqlite(void **state)
{
    (void)state;
    store_each_sqlite(run_cases);
}

static void test_postgresql(void **state)
{
    (void)state;
    store_each_postgresql("uow", run_cases);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sqlite),
        cmocka_unit_test(test_postgresql),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
