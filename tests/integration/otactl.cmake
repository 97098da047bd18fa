# otactl's batch commands against the real broker and otad (scripted devices).
ota_integration_test(test_otactl_batch SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_otactl_batch.c
  LIBS ota_test_sdev otacommon PkgConfig::MOSQ PkgConfig::JANSSON OpenSSL::Crypto Threads::Threads
  TIMEOUT 180 DEPENDS otad ota_auth otactl)
