# Helpers that keep every module's CMakeLists short and alike.

# sundial_module(NAME SOURCES... [DEPS targets...])
# A static library `sundial_<name>`, with src/ as its include root, so that headers are
# included as "base/result.h" and dependencies point one way through DEPS.
function(sundial_module name)
  cmake_parse_arguments(M "" "" "SOURCES;DEPS" ${ARGN})
  add_library(sundial_${name} STATIC ${M_SOURCES})
  target_include_directories(sundial_${name} PUBLIC ${PROJECT_SOURCE_DIR}/src)
  target_link_libraries(sundial_${name} PUBLIC ${M_DEPS})
endfunction()

# sundial_test(NAME MODULE SOURCES... [DEPS targets...])
# A GoogleTest binary registered with ctest, labelled by module.
function(sundial_test name)
  cmake_parse_arguments(T "" "MODULE" "SOURCES;DEPS" ${ARGN})
  if(NOT SUNDIAL_TESTS)
    return()
  endif()
  find_package(GTest REQUIRED)
  add_executable(${name} ${T_SOURCES})
  set_target_properties(${name} PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/tests)
  target_link_libraries(${name} PRIVATE ${T_DEPS} GTest::gtest GTest::gtest_main GTest::gmock)
  add_test(NAME ${name} COMMAND ${name})
  set_tests_properties(${name} PROPERTIES LABELS ${T_MODULE} TIMEOUT 900)
endfunction()
