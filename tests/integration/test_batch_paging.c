/*
 * test_batch_paging: GET /api/v1/batches/{batchId}/devices, paged by page/pageSize and by
 * keyset cursor (after/nextCursor). Through HTTP only: real broker, real otad.
 */
#include "test_batch_fixture.c"

/* An unknown batch is 404. */
static void test_paging_unknown_batch(void **state)
{
    (void)state;
    oth_resp r;
    bt_ctx *t = bt_new(1);
    if (bt_get(t, &r, "/api/v1/batches/987654/devices") != 404)
        fail_msg("unknown batch: want 404, got %ld %s", r.status, r.body);
    oth_resp_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_paging_unknown_batch, bt_teardown),
    };
    if (getenv("BT_FILTER"))
        cmocka_set_test_filter(getenv("BT_FILTER"));
    return cmocka_run_group_tests_name("batch_paging", tests, NULL, NULL);
}
