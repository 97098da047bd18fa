# What an outside probe of a running system checks: a private data folder (created so,
# repaired, a readable key refused), the admin token shown once, control bytes escaped in
# the log, and the per-device log rate limit.
ota_integration_test(test_hardening SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_hardening.c
  LIBS ota_test_sdev otacommon PkgConfig::MOSQ PkgConfig::JANSSON Threads::Threads
  TIMEOUT 180 DEPENDS ota_auth otad)
