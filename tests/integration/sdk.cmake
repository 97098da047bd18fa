# Device SDK and agent integration tests.
#   test_sdk_download  the SDK + Linux port against a misbehaving HTTP server (no broker)
if(TARGET otasdk_posix)
  ota_integration_test(test_sdk_download
    SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/integration/test_sdk_download.c
            ${CMAKE_CURRENT_SOURCE_DIR}/integration/test_sdk_httpsrv.c
    LIBS otasdk_posix PkgConfig::MHD OpenSSL::Crypto PkgConfig::JANSSON Threads::Threads
    TIMEOUT 120)
endif()

#   test_agent_local   ota-device processes against mosquitto, the test HTTP server and a
#                      stand-in platform written in the test (no otad needed)
if(TARGET ota-device)
  ota_integration_test(test_agent_local
    SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/integration/test_agent_local.c
            ${CMAKE_CURRENT_SOURCE_DIR}/integration/test_sdk_httpsrv.c
    LIBS PkgConfig::MOSQ PkgConfig::MHD OpenSSL::Crypto PkgConfig::JANSSON Threads::Threads
    TIMEOUT 180)
  target_compile_definitions(test_agent_local PRIVATE OTA_DEVICE_BIN="$<TARGET_FILE:ota-device>"
                             OTA_SOURCE_DIR="${OTA_SOURCE_DIR}")
  add_dependencies(test_agent_local ota-device)
endif()

#   test_agent         ota-device processes against the real broker and otad (harness):
#                      batch to three agents, kill and resume, corrupted firmware
if(TARGET ota-device AND TARGET otad)
  ota_integration_test(test_agent
    SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/integration/test_agent.c
    LIBS PkgConfig::JANSSON
    TIMEOUT 240)
  target_compile_definitions(test_agent PRIVATE OTA_DEVICE_BIN="$<TARGET_FILE:ota-device>"
                             OTA_SOURCE_DIR="${OTA_SOURCE_DIR}")
  add_dependencies(test_agent ota-device otad)
  if(TARGET ota_auth)
    add_dependencies(test_agent ota_auth)
  endif()
endif()
