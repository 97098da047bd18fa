# Two otad on one PostgreSQL behind HAProxy, one killed mid-batch while clients call the API
# and download (docs/operations.md, "Behind a load balancer: HAProxy"); skipped on SQLite.
ota_integration_test(test_haproxy SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_haproxy.c
  LIBS ota_test_batch otacommon PkgConfig::CURL PkgConfig::JANSSON Threads::Threads
  TIMEOUT 180 DEPENDS otad ota_auth)
