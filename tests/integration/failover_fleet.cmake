# Failover at fleet scale: two otad on one store, 1,000 ota-fleet devices in a paced batch,
# one otad killed mid-batch (tests/integration/test_failover_fleet.c).
ota_integration_test(test_failover_fleet SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_failover_fleet.c
  LIBS ota_test_fleet otacommon PkgConfig::JANSSON TIMEOUT 400
  DEPENDS ota-fleet ota-fleet-responder otad ota_auth)
target_compile_definitions(test_failover_fleet PRIVATE FLEET_BIN="$<TARGET_FILE:ota-fleet>"
  RESPONDER_BIN="$<TARGET_FILE:ota-fleet-responder>")
