# Integration tests of the management API: each starts the real otad (no broker needed:
# readiness reports the broker as not_configured) on a free port and talks HTTP to it.
foreach(t products firmware import_big routes otactl)
  if(NOT EXISTS ${CMAKE_CURRENT_LIST_DIR}/test_api_${t}.c)
    continue()
  endif()
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
