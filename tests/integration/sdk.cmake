# Device SDK and agent integration tests.
#   test_sdk_download  the SDK + Linux port against a misbehaving HTTP server (no broker)
if(TARGET otasdk_posix)
  ota_integration_test(test_sdk_download
    SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/integration/test_sdk_download.c
            ${CMAKE_CURRENT_SOURCE_DIR}/integration/test_sdk_httpsrv.c
    LIBS otasdk_posix PkgConfig::MHD OpenSSL::Crypto PkgConfig::JANSSON Threads::Threads
    TIMEOUT 120)
endif()
