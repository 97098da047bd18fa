# libFuzzer target of the tools' MQTT packet reader (tools/ota-fleet/mqttwire.c), compiled in
# for coverage.
ota_fuzz_target(fuzz_mqttwire
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/fuzz_mqttwire.c ${CMAKE_SOURCE_DIR}/tools/ota-fleet/mqttwire.c
  INCLUDES ${CMAKE_SOURCE_DIR}/tools/ota-fleet LIBS otaproto)
