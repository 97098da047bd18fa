# Integration tests of webhooks: the real otad and broker, scripted devices, and an HTTP
# receiver inside the test on a free port (docs/webhooks.md).
ota_integration_test(test_webhooks SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_webhooks.c
  LIBS ota_test_batch otacommon PkgConfig::MOSQ PkgConfig::JANSSON OpenSSL::Crypto Threads::Threads
  TIMEOUT 300 DEPENDS otad ota_auth)
