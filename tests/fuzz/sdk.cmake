# libFuzzer target of the device SDK's message handling (built only with -DOTA_FUZZ=ON).
# The SDK's sources are compiled into the target so they get coverage instrumentation.
set(_sdk ${CMAKE_SOURCE_DIR}/sdk)
ota_fuzz_target(fuzz_sdk_msg
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/fuzz_sdk_msg.c ${_sdk}/core.c ${_sdk}/msg.c ${_sdk}/download.c ${_sdk}/sign.c
  LIBS PkgConfig::JANSSON INCLUDES ${CMAKE_SOURCE_DIR}/include ${_sdk})
