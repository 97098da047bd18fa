# Two otad on one store and one broker, one killed mid-batch (issue 8's failover).
if(TARGET ota_auth AND TARGET otad)
  ota_integration_test(test_multi_instance
    SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_multi_instance.c ${CMAKE_CURRENT_LIST_DIR}/scripted_device.c
    LIBS otacommon PkgConfig::MOSQ PkgConfig::JANSSON OpenSSL::Crypto Threads::Threads
    TIMEOUT 180)
  target_include_directories(test_multi_instance PRIVATE ${CMAKE_CURRENT_LIST_DIR})
  target_compile_definitions(test_multi_instance PRIVATE OTA_BUILD_DIR="${OTA_BUILD_DIR}")
  add_dependencies(test_multi_instance otad ota_auth)
endif()
