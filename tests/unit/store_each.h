/*
 * store_each: runs a unit test's cases on a fresh store of each database the build has:
 * SQLite in a temp folder, and PostgreSQL in a fresh database (dropped afterwards) when
 * OTA_TEST_PG_URL names a server it may create databases on (scripts/pg-test.sh sets it);
 * without one the PostgreSQL case skips. Call each from its own cmocka test.
 */
#ifndef OTA_TEST_STORE_EACH_H
#define OTA_TEST_STORE_EACH_H

#include "store/store.h"

void store_each_sqlite(void (*cases)(store_t *s));
/* tag names the database (ota_<tag>_<random>). */
void store_each_postgresql(const char *tag, void (*cases)(store_t *s));

#endif
