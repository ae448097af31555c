# sbx_add_fuzz_target(NAME <name> SOURCES <files...> LIBS <targets...> SEEDS <dir>...
#                     [MAX_TOTAL_TIME <s>] [RUNS <n>] [MAX_LEN <bytes>] [DICT <file>])
#
# Declares one libFuzzer target. Call it from any area's CMakeLists.txt after
#   include(${CMAKE_SOURCE_DIR}/tests/fuzz/SbxFuzz.cmake)
# In the normal (g++) build it only records the target; tests/fuzz/CMakeLists.txt then builds every
# recorded target in a separate clang build (build/fuzz, SBX_FUZZ=ON, ASan + UBSan) and adds one
# CTest test "fuzz: <name>" (label fuzz) that runs it for a bounded time from the SEEDS corpus.
# In that clang build (SBX_FUZZ=ON) it creates the executable, linked with -fsanitize=fuzzer.
# See tests/fuzz/README.md.
include_guard(GLOBAL)

function(sbx_add_fuzz_target)
  cmake_parse_arguments(F "" "NAME;MAX_TOTAL_TIME;RUNS;MAX_LEN;DICT" "SOURCES;LIBS;SEEDS" ${ARGN})
  if(NOT F_NAME OR NOT F_SOURCES)
    message(FATAL_ERROR "sbx_add_fuzz_target: NAME and SOURCES are required")
  endif()
  if(NOT F_MAX_TOTAL_TIME)
    set(F_MAX_TOTAL_TIME 30)
  endif()
  if(NOT F_RUNS)
    set(F_RUNS 200000)
  endif()
  if(NOT F_MAX_LEN)
    set(F_MAX_LEN 4096)
  endif()
  if(NOT F_DICT)
    set(F_DICT NONE)  # a placeholder: empty list elements do not survive the property round trip
  endif()
  if(SBX_FUZZ)
    add_executable(${F_NAME} ${F_SOURCES})
    target_link_libraries(${F_NAME} PRIVATE ${F_LIBS})
    target_link_options(${F_NAME} PRIVATE -fsanitize=fuzzer)
    set_target_properties(${F_NAME} PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/fuzz-bin)
    if(TARGET sbx_fuzz_all)
      add_dependencies(sbx_fuzz_all ${F_NAME})
    else()
      set_property(GLOBAL APPEND PROPERTY SBX_FUZZ_PENDING ${F_NAME})
    endif()
  endif()
  # Recorded in both builds; the g++ build turns each record into a CTest test.
  string(REPLACE ";" "|" seeds "${F_SEEDS}")
  set_property(GLOBAL APPEND PROPERTY SBX_FUZZ_TARGETS
               "${F_NAME};${F_MAX_TOTAL_TIME};${F_RUNS};${F_MAX_LEN};${F_DICT};${seeds}")
endfunction()
