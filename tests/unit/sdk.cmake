# Device SDK unit tests: the core against fakes (test_sdk), the Linux port's file staging
# and digests (test_sdk_posix), the agent's configuration file (test_sdk_agent_config).
ota_unit_test(test_sdk SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_sdk.c
  LIBS otasdk OpenSSL::Crypto PkgConfig::JANSSON)
ota_unit_test(test_sdk_posix SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_sdk_posix.c LIBS otasdk_posix)
ota_unit_test(test_sdk_agent_config
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_sdk_agent_config.c ${OTA_SOURCE_DIR}/tools/ota-device/config.c)
target_include_directories(test_sdk_agent_config PRIVATE ${OTA_SOURCE_DIR}/tools/ota-device)
