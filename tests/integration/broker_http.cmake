# Integration test of otad's HTTP endpoints for brokers other than the Mosquitto plugin
# (POST /api/v1/broker/auth, /acl, /presence; docs/broker.md "Other brokers").
if(EXISTS ${CMAKE_CURRENT_LIST_DIR}/test_broker_http.c AND TARGET otad)
  ota_integration_test(test_broker_http SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_broker_http.c
    LIBS otacommon PkgConfig::SQLITE OpenSSL::Crypto TIMEOUT 240)
  target_compile_definitions(test_broker_http PRIVATE OTA_SOURCE_DIR="${OTA_SOURCE_DIR}"
    OTA_BUILD_DIR="${OTA_BUILD_DIR}")
  add_dependencies(test_broker_http otad)
  if(TARGET ota_auth)
    add_dependencies(test_broker_http ota_auth)
  endif()
endif()
