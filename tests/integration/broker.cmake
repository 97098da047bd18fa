# Integration tests of the broker side (ota_auth plugin + broker-conf.sh) and of the
# server's MQTT client module, against the real mosquitto. mqttc is compiled in directly so
# these tests do not depend on the rest of otadcore.
set(_mqttc_src ${CMAKE_SOURCE_DIR}/server/mqtt/mqttc.c ${CMAKE_SOURCE_DIR}/server/mqtt/mqttc_proto.c)
set(_broker_libs ota_test_sdev otacommon PkgConfig::MOSQ PkgConfig::JANSSON Threads::Threads)

ota_integration_test(test_broker SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_broker.c
  LIBS ${_broker_libs} TIMEOUT 120 DEPENDS ota_auth)

ota_integration_test(test_mqttc SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_mqttc.c ${_mqttc_src}
  LIBS ${_broker_libs} TIMEOUT 240 DEPENDS ota_auth)
target_include_directories(test_mqttc PRIVATE ${CMAKE_SOURCE_DIR}/server/mqtt)

ota_integration_test(test_broker_snapshot SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_broker_snapshot.c
  ${_mqttc_src}
  LIBS ${_broker_libs} TIMEOUT 180 DEPENDS ota_auth)
target_include_directories(test_broker_snapshot PRIVATE ${CMAKE_SOURCE_DIR}/server/mqtt)

ota_integration_test(test_broker_run SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_broker_run.c
  LIBS ${_broker_libs} TIMEOUT 120 DEPENDS ota_auth otad)
