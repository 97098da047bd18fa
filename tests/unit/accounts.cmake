# Unit tests of accounts: roles, names, scrypt passwords, tokens and the sign-in throttle
# (server/core/account.c, otad_logic), and the route table's access levels (otadcore).
ota_unit_test(test_account SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_account.c LIBS otad_logic)
ota_unit_test(test_http_routes SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_http_routes.c LIBS otadcore)
