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
  foreach(_t urlsign batchparams)
    set(_name fuzz_${_t})
    if(_t STREQUAL batchparams)
      set(_name fuzz_bparams)
    endif()
    ota_fuzz_target(${_name}
      SOURCES ${CMAKE_CURRENT_LIST_DIR}/${_name}.c ${_core}/core/${_t}.c
      LIBS otacommon PkgConfig::JANSSON OpenSSL::Crypto)
    if(TARGET ${_name})
      target_include_directories(${_name} PRIVATE ${_core})
    endif()
  endforeach()
endif()
