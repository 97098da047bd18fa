# TLS on every wire (docs/security.md): HTTPS, MQTT over TLS, device certificates and their
# revocation, clients refusing a server they cannot trust.
ota_integration_test(test_tls SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_tls.c
  LIBS otacommon PkgConfig::MOSQ PkgConfig::JANSSON OpenSSL::Crypto Threads::Threads
  TIMEOUT 180 DEPENDS otad ota_auth otactl ota-device)
target_compile_definitions(test_tls PRIVATE OTA_DEVICE_BIN="$<TARGET_FILE:ota-device>")
