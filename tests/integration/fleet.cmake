# Integration tests of the fleet simulator (tools/ota-fleet) at small size: against the
# broker alone with ota-fleet-responder, and a real rollout through otad.
if(TARGET ota-fleet AND TARGET ota-fleet-responder AND TARGET ota_auth AND TARGET otad)
  ota_integration_test(test_fleet SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_fleet.c
    ${CMAKE_CURRENT_LIST_DIR}/fleet_fixture.c
    LIBS otacommon PkgConfig::JANSSON TIMEOUT 120)
  target_compile_definitions(test_fleet PRIVATE OTA_SOURCE_DIR="${OTA_SOURCE_DIR}"
    OTA_BUILD_DIR="${OTA_BUILD_DIR}" FLEET_BIN="$<TARGET_FILE:ota-fleet>"
    RESPONDER_BIN="$<TARGET_FILE:ota-fleet-responder>")
  add_dependencies(test_fleet ota-fleet ota-fleet-responder otad ota_auth)
endif()
