# Integration tests of otad's HTTP listener under hostile clients (slow heads, closed
# bursts, cut uploads, encoded NUL, security headers): one otad, real sockets
# (test_api_util: ota_test_api).
ota_integration_test(test_http_listener SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_http_listener.c
  LIBS ota_test_api TIMEOUT 120 DEPENDS otad)
