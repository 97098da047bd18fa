# Test libraries of the integration tests: each a .c with its .h in this folder, compiled
# once (ota_test_library, tests/CMakeLists.txt) and linked by the tests that use it.
#   ota_test_sdev     scripted_device: scripted MQTT devices and server accounts
#   ota_test_batch    test_batch_fixture: one broker + otad per test, batch API helpers
#   ota_test_api      test_api_util: one otad per program, API and SQL shortcuts
#   ota_test_fleet    fleet_fixture: ota-fleet as a child process, setup through the API
#   ota_test_httpsrv  test_sdk_httpsrv: a misbehaving firmware HTTP server for the SDK
#   ota_test_ddi      ddi_fixture: otad with a DDI poll interval, the DDI client side
ota_test_library(ota_test_sdev SOURCES ${CMAKE_CURRENT_LIST_DIR}/scripted_device.c
  LIBS otacommon PkgConfig::MOSQ PkgConfig::JANSSON Threads::Threads)
ota_test_library(ota_test_batch SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_batch_fixture.c
  LIBS ota_test_sdev ota_harness PkgConfig::CMOCKA)
ota_test_library(ota_test_api SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_api_util.c
  LIBS ota_harness otacommon PkgConfig::SQLITE OpenSSL::Crypto)
ota_test_library(ota_test_fleet SOURCES ${CMAKE_CURRENT_LIST_DIR}/fleet_fixture.c
  LIBS ota_harness PkgConfig::CMOCKA PkgConfig::JANSSON)
ota_test_library(ota_test_httpsrv SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_sdk_httpsrv.c
  LIBS PkgConfig::MHD OpenSSL::Crypto Threads::Threads)
ota_test_library(ota_test_ddi SOURCES ${CMAKE_CURRENT_LIST_DIR}/ddi_fixture.c
  LIBS ota_test_batch ota_test_api PkgConfig::JANSSON)
