# Unit tests of the firmware byte store (server/blob/): the fs implementation always, the
# PostgreSQL one when otad is built with libpq and OTA_TEST_PG_URL names a server (its
# tests skip otherwise; scripts/pg-test.sh sets it).
ota_unit_test(test_blob SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_blob.c LIBS otadcore Threads::Threads)
if(LIBPQ_FOUND)
  target_link_libraries(test_blob PRIVATE PkgConfig::LIBPQ)
endif()
