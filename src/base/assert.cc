#include "base/assert.h"

#include <cstdio>
#include <cstdlib>

namespace sundial::base {

void assertion_failed(std::string_view expression, std::string_view why, const char* file, int line,
                      const char* function) {
  // stderr directly, not the logger: the logger may itself be what is broken, and the
  // message must reach the operator before abort().
  std::fprintf(stderr, "sundial: invariant broken at %s:%d (%s): %.*s: %.*s\n", file, line,
               function, static_cast<int>(expression.size()), expression.data(),
               static_cast<int>(why.size()), why.data());
  std::fflush(stderr);
  std::abort();
}

}  // namespace sundial::base
