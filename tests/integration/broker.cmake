# Integration tests of the broker side (ota_auth plugin + broker-conf.sh) and of the
# server's MQTT client module, against the real mosquitto. mqttc is compiled in directly so
# these tests do not depend on the rest of otadcore.
if(TARGET ota_auth)
  set(_mqttc_src ${CMAKE_SOURCE_DIR}/server/mqtt/mqttc.c ${CMAKE_SOURCE_DIR}/server/mqtt/mqttc_proto.c)
  ota_integration_test(test_broker
    SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_broker.c ${CMAKE_CURRENT_LIST_DIR}/scripted_device.c
    LIBS otacommon PkgConfig::MOSQ PkgConfig::JANSSON Threads::Threads
    TIMEOUT 120)
  target_include_directories(test_broker PRIVATE ${CMAKE_CURRENT_LIST_DIR})
  add_dependencies(test_broker ota_auth)

  ota_integration_test(test_mqttc
    SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_mqttc.c ${CMAKE_CURRENT_LIST_DIR}/scripted_device.c ${_mqttc_src}
    LIBS otacommon PkgConfig::MOSQ PkgConfig::JANSSON Threads::Threads
    TIMEOUT 240)
  target_include_directories(test_mqttc PRIVATE ${CMAKE_CURRENT_LIST_DIR} ${CMAKE_SOURCE_DIR}/server/mqtt)
  add_dependencies(test_mqttc ota_auth)
endif()

if(TARGET ota_auth)
  ota_integration_test(test_broker_snapshot
    SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_broker_snapshot.c ${CMAKE_CURRENT_LIST_DIR}/scripted_device.c
      ${CMAKE_SOURCE_DIR}/server/mqtt/mqttc.c ${CMAKE_SOURCE_DIR}/server/mqtt/mqttc_proto.c
    LIBS otacommon PkgConfig::MOSQ PkgConfig::JANSSON Threads::Threads
    TIMEOUT 180)
  target_include_directories(test_broker_snapshot PRIVATE ${CMAKE_CURRENT_LIST_DIR} ${CMAKE_SOURCE_DIR}/server/mqtt)
  add_dependencies(test_broker_snapshot ota_auth)
endif()

if(TARGET ota_auth)
  ota_integration_test(test_broker_run
    SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_broker_run.c ${CMAKE_CURRENT_LIST_DIR}/scripted_device.c
    LIBS otacommon PkgConfig::MOSQ PkgConfig::JANSSON Threads::Threads
    TIMEOUT 120)
  target_include_directories(test_broker_run PRIVATE ${CMAKE_CURRENT_LIST_DIR})
  target_compile_definitions(test_broker_run PRIVATE OTA_SOURCE_DIR="${OTA_SOURCE_DIR}" OTA_BUILD_DIR="${OTA_BUILD_DIR}")
  add_dependencies(test_broker_run ota_auth)
  if(TARGET otad)
    add_dependencies(test_broker_run otad)
  endif()
endif()
