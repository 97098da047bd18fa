# Integration tests of the hawkBit DDI device API (docs/ddi.md): the real otad and broker;
# test_ddi_protocol speaks the API with libcurl as a DDI client would, test_ddi_swupdate
# runs Debian's swupdate (its hawkBit client) as the device (ddi_fixture: ota_test_ddi).
ota_integration_test(test_ddi_swupdate SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_ddi_swupdate.c
  LIBS ota_test_ddi TIMEOUT 240 DEPENDS otad ota_auth)
ota_integration_test(test_ddi_protocol SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_ddi_protocol.c
  LIBS ota_test_ddi ota_test_fleet otacommon OpenSSL::Crypto TIMEOUT 180
  DEPENDS otad ota_auth ota-fleet)
