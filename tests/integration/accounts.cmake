# Integration tests of accounts: roles on every route (test_api_roles, generated from
# otad --list-routes), users, sign-in, tokens, the sign-in throttle and otactl's account
# commands (test_api_accounts), the audit log (test_api_audit; test_api_audit_durable: a
# change never without its row across a kill). Each starts the real otad and broker on free ports;
# ota_test_accounts (test_accounts_util) makes users and tokens through the API.
ota_test_library(ota_test_accounts SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_accounts_util.c
  LIBS ota_test_api PkgConfig::CMOCKA PkgConfig::JANSSON)
foreach(t accounts audit audit_durable roles)
  ota_integration_test(test_api_${t} SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_api_${t}.c
    LIBS ota_test_accounts m TIMEOUT 240 DEPENDS otad otactl ota_auth)
endforeach()
# test_api_metrics also runs a small batch with scripted devices (ota_test_batch)
ota_integration_test(test_api_metrics SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_api_metrics.c
  LIBS ota_test_accounts ota_test_batch m TIMEOUT 240 DEPENDS otad otactl ota_auth)
