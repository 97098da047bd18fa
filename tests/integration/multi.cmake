# Two otad on one store and one broker, one killed mid-batch (failover; docs/postgresql.md).
ota_integration_test(test_multi_instance SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_multi_instance.c
  LIBS ota_test_batch otacommon PkgConfig::MOSQ PkgConfig::JANSSON OpenSSL::Crypto Threads::Threads
  TIMEOUT 180 DEPENDS otad ota_auth)
