# Device SDK and agent integration tests.
#   test_sdk_download  the SDK + Linux port against a misbehaving HTTP server (no broker)
ota_integration_test(test_sdk_download SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_sdk_download.c
  LIBS ota_test_httpsrv otasdk_posix PkgConfig::MHD OpenSSL::Crypto PkgConfig::JANSSON Threads::Threads
  TIMEOUT 120)

#   test_agent_local   ota-device processes against mosquitto, the test HTTP server and a
#                      stand-in platform written in the test (no otad needed)
ota_integration_test(test_agent_local SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_agent_local.c
  LIBS ota_test_httpsrv PkgConfig::MOSQ PkgConfig::MHD OpenSSL::Crypto PkgConfig::JANSSON Threads::Threads
  TIMEOUT 180 DEPENDS ota-device)
target_compile_definitions(test_agent_local PRIVATE OTA_DEVICE_BIN="$<TARGET_FILE:ota-device>")

#   test_agent         ota-device processes against the real broker and otad (harness):
#                      batch to three agents, kill and resume, corrupted firmware
ota_integration_test(test_agent SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_agent.c
  LIBS ota_test_api otacommon OpenSSL::Crypto PkgConfig::JANSSON TIMEOUT 360
  DEPENDS ota-device otad ota_auth)
target_compile_definitions(test_agent PRIVATE OTA_DEVICE_BIN="$<TARGET_FILE:ota-device>")
