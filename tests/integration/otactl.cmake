# otactl's batch commands against the real broker and otad (scripted devices).
if(TARGET ota_auth AND TARGET otad AND TARGET otactl)
  ota_integration_test(test_otactl_batch
    SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_otactl_batch.c ${CMAKE_CURRENT_LIST_DIR}/scripted_device.c
    LIBS otacommon PkgConfig::MOSQ PkgConfig::JANSSON OpenSSL::Crypto Threads::Threads
    TIMEOUT 180)
  target_include_directories(test_otactl_batch PRIVATE ${CMAKE_CURRENT_LIST_DIR})
  target_compile_definitions(test_otactl_batch PRIVATE OTA_BUILD_DIR="${OTA_BUILD_DIR}")
  add_dependencies(test_otactl_batch otad ota_auth otactl)
endif()
