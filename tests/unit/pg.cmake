# Unit tests of the PostgreSQL store (server/store/store_pg.c, pg_batch.c), built when otad
# is built with libpq. Every test skips unless OTA_TEST_PG_URL names a server it may create
# and drop databases on (scripts/pg-test.sh starts a local one and sets it).
if(LIBPQ_FOUND)
  ota_unit_test(test_store_pg SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_store_pg.c
    LIBS otadcore PkgConfig::LIBPQ Threads::Threads)
else()
  ota_tests_record(${CMAKE_CURRENT_LIST_DIR}/test_store_pg.c)
endif()
# Tests that run on SQLite, and on PostgreSQL as well when libpq is there and
# OTA_TEST_PG_URL is set (store_each.c makes the fresh stores): the targeting tables
# (store_targets.c) and the engine's unit of work (store_batch.c).
if(LIBPQ_FOUND)
  ota_test_library(store_each SOURCES ${CMAKE_CURRENT_LIST_DIR}/store_each.c
    LIBS otadcore PkgConfig::LIBPQ PkgConfig::CMOCKA)
else()
  ota_test_library(store_each SOURCES ${CMAKE_CURRENT_LIST_DIR}/store_each.c
    LIBS otadcore PkgConfig::CMOCKA)
endif()
ota_unit_test(test_store_targets SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_store_targets.c
  LIBS store_each)
ota_unit_test(test_store_uow SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_store_uow.c
  LIBS store_each)
