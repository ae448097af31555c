# Golden tests of the policy messages, byte for byte:
#   MODE=validate: `sbx policy validate policy.toml` in CASE; stderr must equal expected.txt, exit 1.
#   MODE=check: `sbx policy check` in CASE with SBX_POLICY_PATH=policy.toml, HOME=CASE/home and
#     every other sbx directory empty; stdout, with CASE written as <case>, must equal
#     expected.txt; the exit status must equal the number in CASE/exit (1 when there is none).
#   cmake -DSBX=<sbx> -DCASE=<dir> -DMODE=validate|check -P golden_policy.cmake
# To regenerate after an intended change of wording: tests/policy/update_golden.sh build/bin/sbx
set(none ${CASE}/.no-such-dir)
if(MODE STREQUAL "validate")
  execute_process(COMMAND ${SBX} policy validate policy.toml WORKING_DIRECTORY ${CASE}
                  RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  set(actual "${err}")
  set(want_rc 1)
  if(NOT out STREQUAL "")
    message(FATAL_ERROR "sbx policy validate in ${CASE} printed on stdout:\n${out}")
  endif()
else()
  execute_process(COMMAND ${CMAKE_COMMAND} -E env HOME=${CASE}/home SBX_POLICY_PATH=policy.toml
                          SBX_SYSTEM_CONFIG_DIR=${none} SBX_CONFIG_DIR=${none}/config SBX_STATE_DIR=${none}/state
                          SBX_DATA_DIR=${none}/data SBX_CACHE_DIR=${none}/cache
                          ${SBX} policy check
                  WORKING_DIRECTORY ${CASE} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  string(REPLACE "${CASE}" "<case>" actual "${out}")
  set(want_rc 1)
  if(EXISTS ${CASE}/exit)
    file(STRINGS ${CASE}/exit want_rc)
  endif()
endif()
file(READ ${CASE}/expected.txt expected)
if(NOT rc EQUAL want_rc)
  message(FATAL_ERROR "sbx policy ${MODE} in ${CASE} exited ${rc}, expected ${want_rc}\nstdout:\n${out}\nstderr:\n${err}")
endif()
if(NOT actual STREQUAL expected)
  message(FATAL_ERROR "output differs from ${CASE}/expected.txt\n--- expected\n${expected}\n--- actual\n${actual}")
endif()
