# Device SDK unit tests: the core against fakes (test_sdk), the Linux port's file staging
# and digests (test_sdk_posix).
if(TARGET otasdk)
  ota_unit_test(test_sdk SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_sdk.c
                LIBS otasdk OpenSSL::Crypto PkgConfig::JANSSON)
endif()
if(TARGET otasdk_posix)
  ota_unit_test(test_sdk_posix SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_sdk_posix.c
                LIBS otasdk_posix)
endif()
if(TARGET ota-device)
  ota_unit_test(test_sdk_agent_config
                SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_sdk_agent_config.c
                        ${OTA_SOURCE_DIR}/tools/ota-device/config.c
                LIBS)
  target_include_directories(test_sdk_agent_config PRIVATE ${OTA_SOURCE_DIR}/tools/ota-device)
endif()
