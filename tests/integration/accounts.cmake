# Integration tests of accounts: roles on every route (test_api_roles, generated from
# otad --list-routes), users, sign-in, tokens and the sign-in throttle (test_api_accounts).
# Each starts the real otad (and the broker when it is built) on free ports.
foreach(t accounts roles)
  ota_integration_test(test_api_${t} SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_api_${t}.c
    LIBS PkgConfig::SQLITE OpenSSL::Crypto TIMEOUT 240)
  target_compile_definitions(test_api_${t} PRIVATE OTA_SOURCE_DIR="${OTA_SOURCE_DIR}"
    OTA_BUILD_DIR="${OTA_BUILD_DIR}")
  if(TARGET otad)
    add_dependencies(test_api_${t} otad)
  endif()
  if(TARGET otactl)
    add_dependencies(test_api_${t} otactl)
  endif()
endforeach()
