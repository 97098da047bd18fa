# Unit tests of the tools' own code (tools/).
ota_unit_test(test_mqttwire SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_mqttwire.c LIBS ota_mqttwire)
