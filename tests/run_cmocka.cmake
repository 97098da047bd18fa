# Runs one cmocka test program (cmake -DPROG=path -P run_cmocka.cmake; ctest does this for
# every test registered in tests/CMakeLists.txt) with its output shown as it comes. Fails
# when the program fails, and also when it ran no case: every group it runs must report
# "[==========] N test(s) run." with N > 0, so a program whose cases were left out or never
# registered cannot pass.
if(NOT PROG)
  message(FATAL_ERROR "run_cmocka.cmake: PROG is not set")
endif()
execute_process(COMMAND ${PROG} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out
  ECHO_OUTPUT_VARIABLE ECHO_ERROR_VARIABLE)
if(NOT rc STREQUAL "0")
  message(FATAL_ERROR "${PROG}: ${rc}")
endif()
string(REGEX MATCHALL "\\[==========\\] [0-9]+ test\\(s\\) run\\." groups "${out}")
if(NOT groups)
  message(FATAL_ERROR "${PROG}: ran no cmocka group")
endif()
foreach(g ${groups})
  if(g MATCHES "\\] 0 test\\(s\\) run")
    message(FATAL_ERROR "${PROG}: a cmocka group ran no case")
  endif()
endforeach()
