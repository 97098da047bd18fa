# Integration tests of the fleet simulator (tools/ota-fleet) at small size: against the
# broker alone with ota-fleet-responder, and a real rollout through otad.
ota_integration_test(test_fleet SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_fleet.c
  LIBS ota_test_fleet otacommon PkgConfig::JANSSON TIMEOUT 120
  DEPENDS ota-fleet ota-fleet-responder otad ota_auth)
target_compile_definitions(test_fleet PRIVATE FLEET_BIN="$<TARGET_FILE:ota-fleet>"
  RESPONDER_BIN="$<TARGET_FILE:ota-fleet-responder>")
