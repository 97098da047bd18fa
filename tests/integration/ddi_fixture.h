/*
 * ddi_fixture: what the hawkBit DDI tests share (test_ddi_protocol.c, test_ddi_swupdate.c),
 * a small library (ota_test_ddi, tests/integration/fixtures.cmake) on top of
 * test_batch_fixture: otad and the broker started with a DDI poll interval, and the device
 * side of the DDI API as a client sees it (its TargetToken, the links of a poll answer).
 * Helpers fail the running cmocka test on error.
 */
#ifndef OTA_DDI_FIXTURE_H
#define OTA_DDI_FIXTURE_H

#include "test_batch_fixture.h"

/* bt_new with OTA_DDI_POLL_SECONDS=poll_s as well: devices are told poll_s / time_scale. */
bt_ctx *ddi_new(void **state, double time_scale, int poll_s);

/* A DDI request of device id of the test's product: path_rest is appended to
 * /{pk}/controller/v1/{id} (NULL or "" for the poll); auth is the Authorization header's
 * value (NULL: none). body/ctype may be NULL. Returns the status; free r. */
long ddi_call(bt_ctx *t, const char *method, const char *id, const char *auth,
              const char *path_rest, const char *ctype, const char *body, oth_resp *r);
/* "TargetToken <secret of id>" into out (>= 64 bytes). */
void ddi_token(bt_ctx *t, const char *id, char *out, size_t cap);
/* Polls as device id (its TargetToken); the href of link `name` of the answer into out
 * ("" when absent). Fails unless 200. */
void ddi_poll_link(bt_ctx *t, const char *id, const char *name, char *out, size_t cap);
/* Runs SQL on the test's database (SQLite, or its PostgreSQL one): tapi_sql. 0 or -1. */
int ddi_sql(bt_ctx *t, const char *q);
/* The action id in a deploymentBase or cancelAction href (0 when none). */
long long ddi_href_action(const char *href);

#endif
