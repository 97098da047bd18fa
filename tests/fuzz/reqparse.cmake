# libFuzzer targets of the management API's request parsers (server/core/reqparse.c):
# JSON bodies, NDJSON import lines, multipart/form-data. No socket, store or disk: each
# runs tens of thousands of inputs a second. The parser is compiled into each target so it
# gets libFuzzer's coverage instrumentation.
set(_core ${CMAKE_SOURCE_DIR}/server)
foreach(_name fuzz_body fuzz_import fuzz_multipart)
  ota_fuzz_target(${_name}
    SOURCES ${CMAKE_CURRENT_LIST_DIR}/${_name}.c ${_core}/core/reqparse.c ${_core}/core/validate.c
    LIBS otaproto PkgConfig::JANSSON otacommon INCLUDES ${_core})
endforeach()
# The router's own parsers (path patterns, Range, paging): server/http/http.c compiled in
# for coverage, the rest of the server linked from otadcore.
ota_fuzz_target(fuzz_http
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/fuzz_http.c ${_core}/http/http.c
  LIBS otadcore)
# The signed-firmware parsers: base64, PEM public keys, the manifest, the signing-key body.
ota_fuzz_target(fuzz_sign
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/fuzz_sign.c ${_core}/core/reqparse.c ${_core}/core/validate.c
  ${CMAKE_SOURCE_DIR}/common/sign.c
  LIBS otaproto PkgConfig::JANSSON otacommon OpenSSL::Crypto INCLUDES ${_core})
