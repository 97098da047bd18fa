# Unit tests of the PostgreSQL store (server/store/store_pg.c, pg_batch.c), built when otad
# is built with libpq. Every test skips unless OTA_TEST_PG_URL names a server it may create
# and drop databases on (scripts/pg-test.sh starts a local one and sets it).
if(LIBPQ_FOUND)
  ota_unit_test(test_store_pg SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_store_pg.c
    LIBS otadcore PkgConfig::LIBPQ Threads::Threads)
else()
  ota_tests_record(${CMAKE_CURRENT_LIST_DIR}/test_store_pg.c)
endif()
# The targeting tables (store_targets.c) on SQLite, and on PostgreSQL as well when libpq is
# there and OTA_TEST_PG_URL is set.
if(LIBPQ_FOUND)
  ota_unit_test(test_store_targets SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_store_targets.c
    LIBS otadcore PkgConfig::LIBPQ)
else()
  ota_unit_test(test_store_targets SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_store_targets.c
    LIBS otadcore)
endif()
