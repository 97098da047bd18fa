# libFuzzer targets of the server's pure logic (built only with -DOTA_FUZZ=ON).
# The module under test is compiled into the target itself (not taken from otad_logic)
# so that it gets libFuzzer's coverage instrumentation.
if(TARGET otad_logic)
  set(_core ${CMAKE_CURRENT_LIST_DIR}/../../server)
  ota_fuzz_target(fuzz_devmsg
    SOURCES ${CMAKE_CURRENT_LIST_DIR}/fuzz_devmsg.c ${_core}/core/devmsg.c
    LIBS PkgConfig::JANSSON)
  if(TARGET fuzz_devmsg)
    target_include_directories(fuzz_devmsg PRIVATE ${_core})
  endif()
endif()
