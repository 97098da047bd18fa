# Issue 8's failover at fleet scale: two otad on one store, 1,000 ota-fleet devices in a
# paced batch, one otad killed mid-batch (tests/integration/test_failover_fleet.c).
if(TARGET ota-fleet AND TARGET ota-fleet-responder AND TARGET ota_auth AND TARGET otad)
  ota_integration_test(test_failover_fleet SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_failover_fleet.c
    ${CMAKE_CURRENT_LIST_DIR}/fleet_fixture.c
    LIBS otacommon PkgConfig::JANSSON TIMEOUT 240)
  target_compile_definitions(test_failover_fleet PRIVATE OTA_BUILD_DIR="${OTA_BUILD_DIR}"
    FLEET_BIN="$<TARGET_FILE:ota-fleet>" RESPONDER_BIN="$<TARGET_FILE:ota-fleet-responder>")
  add_dependencies(test_failover_fleet ota-fleet ota-fleet-responder otad ota_auth)
endif()
