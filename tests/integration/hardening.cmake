# What an outside probe of a running system checks: a private data folder (created so,
# repaired, a readable key refused), the admin token shown once, control bytes escaped in
# the log, and the per-device log rate limit.
if(TARGET ota_auth)
  ota_integration_test(test_hardening
    SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_hardening.c ${CMAKE_CURRENT_LIST_DIR}/scripted_device.c
    LIBS otacommon PkgConfig::MOSQ PkgConfig::JANSSON Threads::Threads
    TIMEOUT 180)
  target_include_directories(test_hardening PRIVATE ${CMAKE_CURRENT_LIST_DIR})
  target_compile_definitions(test_hardening PRIVATE OTA_BUILD_DIR="${OTA_BUILD_DIR}")
  add_dependencies(test_hardening ota_auth)
  if(TARGET otad)
    add_dependencies(test_hardening otad)
  endif()
endif()
