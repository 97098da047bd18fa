# Integration tests of the batch engine and its API: the real mosquitto + ota_auth and otad,
# scripted MQTT devices, each test with its own OTA_TIME_SCALE (test_batch_fixture:
# ota_test_batch).
foreach(t rules durable api lag paging phases)
  ota_integration_test(test_batch_${t} SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_batch_${t}.c
    LIBS ota_test_batch otacommon PkgConfig::MOSQ PkgConfig::JANSSON OpenSSL::Crypto Threads::Threads
    TIMEOUT 300 DEPENDS otad ota_auth)
endforeach()
# Tags, groups, batch targets and continuous batches (docs/batches.md, "Targeting").
ota_integration_test(test_targets SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_targets.c
  LIBS ota_test_batch otacommon PkgConfig::MOSQ PkgConfig::JANSSON OpenSSL::Crypto Threads::Threads
  TIMEOUT 300 DEPENDS otad ota_auth)
