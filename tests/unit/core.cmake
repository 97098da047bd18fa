# Unit tests of the server's pure logic (server/core, library otad_logic): one cmocka
# executable per module.
if(TARGET otad_logic)
  foreach(m fsm timerheap urlsign devmsg batchparams rules reqparse)
    if(EXISTS ${CMAKE_CURRENT_LIST_DIR}/test_${m}.c)
      ota_unit_test(test_${m} SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_${m}.c LIBS otad_logic)
    endif()
  endforeach()
endif()
