#pragma once
// SUNDIAL_ASSERT is for broken invariants only: a condition that can be false only through a
// bug in Sundial. It is checked in every build type, logs the expression, the place and an
// explanation, and aborts. Bad input is never asserted on: it gets an error (see error.h).
//
// (Not std::source_location: clang 14, which builds the fuzzers, lacks the builtin that
// libstdc++ 12's <source_location> needs.)

#include <string_view>

namespace sundial::base {

[[noreturn]] void assertion_failed(std::string_view expression, std::string_view why,
                                   const char* file, int line, const char* function);

}  // namespace sundial::base

#define SUNDIAL_ASSERT(condition, why)                                                    \
  do {                                                                                    \
    if (!(condition)) [[unlikely]] {                                                      \
      ::sundial::base::assertion_failed(#condition, (why), __FILE__, __LINE__, __func__); \
    }                                                                                     \
  } while (false)
