# Unit tests of the API part: config table and field validators (pure logic, otad_logic),
# the HTTP request parsing (otadcore).
ota_unit_test(test_validate SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_validate.c LIBS otad_logic)
ota_unit_test(test_config SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_config.c LIBS otad_logic)
ota_unit_test(test_http_parse SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_http_parse.c LIBS otadcore)
