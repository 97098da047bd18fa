# Unit tests of the broker plugin's rules (names, ACL, payloads, connection table) and of
# the server MQTT client's pure parts (topic parsing, presence parsing, snapshot assembly).
ota_unit_test(test_mqtt_auth_rules SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_mqtt_auth_rules.c
  LIBS ota_auth_rules otacommon)
ota_unit_test(test_mqtt_proto
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_mqtt_proto.c ${CMAKE_SOURCE_DIR}/server/mqtt/mqttc_proto.c
  LIBS PkgConfig::JANSSON otacommon)
target_include_directories(test_mqtt_proto PRIVATE ${CMAKE_SOURCE_DIR}/server/mqtt)
