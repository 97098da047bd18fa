# Integration test of otad's HTTP endpoints for brokers other than the Mosquitto plugin
# (POST /api/v1/broker/auth, /acl, /presence; docs/broker.md "Other brokers").
ota_integration_test(test_broker_http SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_broker_http.c
  LIBS ota_test_api otacommon OpenSSL::Crypto TIMEOUT 240 DEPENDS otad ota_auth)
