# Integration tests of the batch engine and its API (contract sections 2-4, issue 4): the
# real mosquitto + ota_auth and otad, scripted MQTT devices (scripted_device.c, reusable by
# other tests), each test with its own OTA_TIME_SCALE. test_batch_fixture.c is #included.
if(TARGET ota_auth AND TARGET otad)
  foreach(t rules durable api lag paging)
    ota_integration_test(test_batch_${t}
      SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_batch_${t}.c ${CMAKE_CURRENT_LIST_DIR}/scripted_device.c
      LIBS otacommon PkgConfig::MOSQ PkgConfig::JANSSON OpenSSL::Crypto Threads::Threads
      TIMEOUT 300)
    target_include_directories(test_batch_${t} PRIVATE ${CMAKE_CURRENT_LIST_DIR})
    add_dependencies(test_batch_${t} otad ota_auth)
  endforeach()
endif()
