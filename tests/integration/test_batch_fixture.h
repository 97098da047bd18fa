/*
 * test_batch_fixture: what the batch integration tests share (test_batch_<part>.c,
 * test_multi_instance.c), a small library (ota_test_batch, tests/integration/fixtures.cmake).
 * Every test starts its own broker and otad (harness) with the OTA_TIME_SCALE it needs,
 * creates its product, devices and firmware through the API, plays devices with
 * scripted_device, and polls the API with deadlines: a wait never passes by luck, it either
 * sees the state or fails naming what it saw last.
 *
 * State: one bt_ctx per test, kept in the test's cmocka state (bt_new stores it there) so
 * that bt_teardown frees it, and every device made with bt_dev_start/bt_keep, even after a
 * failed assertion. The helpers fail the running cmocka test on any error.
 */
#ifndef OTA_TEST_BATCH_FIXTURE_H
#define OTA_TEST_BATCH_FIXTURE_H

#include "ota_harness.h"
#include "scripted_device.h"

/* cmocka.h needs these first */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

/* Wait budgets (ms) for things that happen "at once" on the server; generous so ASan and a
 * loaded CI machine pass, while a broken rule still fails (the wait then runs out). */
#define BT_SOON 8000
#define BT_POLL_MS 25

#define BT_MAX_DEVS 32

typedef struct {
    oth_env env;
    char pk[64];
    char product_name[64];
    int up;
    sdev *devs[BT_MAX_DEVS]; /* freed by bt_teardown */
    int ndevs;
} bt_ctx;

/* A context with an initialised (not started) environment, stored in *state for bt_teardown. */
bt_ctx *bt_alloc(void **state);
/* bt_alloc, then the broker and otad started with OTA_TIME_SCALE=time_scale. */
bt_ctx *bt_new(void **state, double time_scale);
/* Starts the broker and otad of an allocated context (settings added with oth_env_set). */
void bt_start(bt_ctx *t);
/* cmocka teardown: stops what the test's bt_ctx (in *state) started, frees its devices. */
int bt_teardown(void **state);
/* Registers a device for bt_teardown; returns d. */
sdev *bt_keep(bt_ctx *t, sdev *d);

/* The string member k of o, or "". */
const char *bt_js(json_t *o, const char *k);
/* An id the API may give as a string or a number, as text ("?" otherwise). */
void bt_id_text(json_t *v, char *out, size_t cap);
/* The integer member k of o (0 when absent). */
int bt_int(json_t *o, const char *k);
/* A task's failReason, or "null". */
const char *bt_reason(json_t *task);
/* RFC 3339 UTC ("2026-01-02T03:04:05.678Z") to epoch ms; -1 when not parsable. */
int64_t bt_rfc3339_ms(const char *s);

/* POST a JSON body; GET a formatted path. Both return the HTTP status; free r. */
long bt_post(bt_ctx *t, const char *path, const char *body, oth_resp *r);
long bt_get(bt_ctx *t, oth_resp *r, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Creates the test's product (its key into t->pk) and a device of it. */
void bt_product(bt_ctx *t, const char *name);
void bt_device(bt_ctx *t, const char *id);

/* Firmware bytes of a test: deterministic, `len` bytes. Caller frees. */
unsigned char *bt_fw_bytes(size_t len, unsigned seed);
/* Uploads a firmware of version `ver` for the product; firmware id into out. */
void bt_firmware_data(bt_ctx *t, const char *name, const char *ver, const unsigned char *data,
                      size_t len, char *out, size_t cap);
/* bt_firmware_data with 4096 bytes of bt_fw_bytes(.., 1). */
void bt_firmware(bt_ctx *t, const char *name, const char *ver, char *out, size_t cap);

/* POST a batch; returns the status; batch id into out when 201; the answer into *keep when
 * keep is set (caller frees it). */
long bt_batch_try(bt_ctx *t, const char *fw, const char *body, char *out, size_t cap,
                  oth_resp *keep);
/* bt_batch_try that fails the test unless 201. */
void bt_batch(bt_ctx *t, const char *fw, const char *body, char *out, size_t cap);
/* A standard batch body with the given retry settings (0 retry_times: no interval). */
void bt_body(char *out, size_t cap, const char *scope_extra, int timeout_min, int retry_times,
             int retry_interval);

/* A device connected, activated and reporting `ver`; auto mode set before it speaks. */
sdev *bt_dev_start(bt_ctx *t, const char *id, const char *ver, sdev_auto mode, int fail_step);
/* A device that has connected once (activated, reporting `ver`) and is now offline. */
sdev *bt_dev_activated_offline(bt_ctx *t, const char *id, const char *ver, sdev_auto mode,
                               int fail_step);
/* Waits until the device's `online` is `online` (and, when ver is set, firmwareVersion==ver). */
void bt_wait_device(bt_ctx *t, const char *id, int online, const char *ver, int timeout_ms);

/* The task row of device `id` in batch `b` (new reference), or NULL. */
json_t *bt_task(bt_ctx *t, const char *b, const char *id);
/* The current state of a task ("" when no row). */
void bt_task_state(bt_ctx *t, const char *b, const char *id, char *out, size_t cap);
/* Fails unless the task's upgradeState is `state` now. */
void bt_expect_task(bt_ctx *t, const char *b, const char *id, const char *state);
/* Waits until the task's upgradeState is `state`; returns the row (new reference). */
json_t *bt_wait_task(bt_ctx *t, const char *b, const char *id, const char *state, int timeout_ms);
/* Waits until the task shows state `state` with progress `progress`; returns the row. */
json_t *bt_wait_progress(bt_ctx *t, const char *b, const char *id, const char *state, int progress,
                         int timeout_ms);

/* The batch detail (new reference), or NULL. */
json_t *bt_batch_get(bt_ctx *t, const char *b);
/* Waits until the batch's state is `state`; returns the detail (new reference). */
json_t *bt_wait_batch(bt_ctx *t, const char *b, const char *state, int timeout_ms);
/* Fails unless the batch detail bj says every one of its n devices succeeded, and unless
 * each of the n devices d[i] (named prefix%d) got every attempt pushed once. */
void bt_expect_all_succeeded(json_t *bj, sdev *const *d, int n, const char *prefix);
/* Counts by upgradeState of the device rows equal the batch's counts and counters. */
void bt_check_counts(bt_ctx *t, const char *b);

/* Waits for the n-th push of a device, failing with the logs when it does not come. */
void bt_wait_push(bt_ctx *t, sdev *d, int n, int timeout_ms);
/* Fails unless the device gets no push for `ms` (a window for a negative check). */
void bt_no_push_for(bt_ctx *t, sdev *d, int have, int ms);

#endif
