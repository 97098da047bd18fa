# Unit tests of the server's pure logic (server/core, library otad_logic): one cmocka
# executable per module.
foreach(m fsm hist timerheap urlsign devmsg batchparams rules reqparse webhook ddi rollout target window parts)
  ota_unit_test(test_${m} SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_${m}.c LIBS otad_logic)
endforeach()
