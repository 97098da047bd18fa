# Integration tests of the management API: each starts the real otad (and the broker) on
# free ports and talks HTTP to it (test_api_util: ota_test_api).
foreach(t products firmware import_big routes otactl signing)
  ota_integration_test(test_api_${t} SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_api_${t}.c
    LIBS ota_test_api OpenSSL::Crypto TIMEOUT 240 DEPENDS otad otactl ota_auth)
endforeach()
