# Golden test: run `sbx validate` inside one invalid example case and compare its stderr byte for
# byte with the case's expected.txt, and its exit status with 1.
#   cmake -DSBX=<sbx binary> -DCASE=<case dir> -P golden_validate.cmake
# To regenerate after an intended change of wording: tests/cli/update_golden.sh build/bin/sbx
execute_process(
  COMMAND ${SBX} validate
  WORKING_DIRECTORY ${CASE}
  RESULT_VARIABLE rc
  OUTPUT_VARIABLE out
  ERROR_VARIABLE err)
file(READ ${CASE}/expected.txt expected)
if(NOT rc EQUAL 1)
  message(FATAL_ERROR "sbx validate in ${CASE} exited ${rc}, expected 1\nstderr:\n${err}")
endif()
if(NOT out STREQUAL "")
  message(FATAL_ERROR "sbx validate in ${CASE} printed on stdout:\n${out}")
endif()
if(NOT err STREQUAL expected)
  message(FATAL_ERROR "stderr differs from ${CASE}/expected.txt\n--- expected\n${expected}\n--- actual\n${err}")
endif()
