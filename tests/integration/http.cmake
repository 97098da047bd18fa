# Integration tests of otad's HTTP listener under hostile clients (slow heads, closed
# bursts, cut uploads, encoded NUL, security headers): one otad, real sockets.
if(EXISTS ${CMAKE_CURRENT_LIST_DIR}/test_http_listener.c)
  ota_integration_test(test_http_listener SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_http_listener.c
    LIBS PkgConfig::SQLITE TIMEOUT 120)
  target_compile_definitions(test_http_listener PRIVATE OTA_SOURCE_DIR="${OTA_SOURCE_DIR}"
    OTA_BUILD_DIR="${OTA_BUILD_DIR}")
  if(TARGET otad)
    add_dependencies(test_http_listener otad)
  endif()
endif()
