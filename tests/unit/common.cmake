# Unit tests of the shared helpers in common/ (library otacommon).
ota_unit_test(test_log SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_log.c LIBS otacommon)
ota_unit_test(test_pki SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_pki.c LIBS otacommon OpenSSL::Crypto)
ota_unit_test(test_ota_err SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_ota_err.c LIBS otacommon)
ota_unit_test(test_sign SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_sign.c LIBS otacommon OpenSSL::Crypto)
