#include "base/error.h"

namespace sundial::base {

std::string_view to_string(errc code) {
  switch (code) {
    case errc::invalid_argument:
      return "invalid_argument";
    case errc::not_found:
      return "not_found";
    case errc::conflict:
      return "conflict";
    case errc::too_large:
      return "too_large";
    case errc::unavailable:
      return "unavailable";
    case errc::not_leader:
      return "not_leader";
    case errc::timeout:
      return "timeout";
    case errc::io_error:
      return "io_error";
    case errc::corruption:
      return "corruption";
    case errc::internal:
      return "internal";
  }
  return "unknown";
}

std::string describe(const error& e) {
  std::string out(to_string(e.code));
  out += ": ";
  out += e.message;
  return out;
}

}  // namespace sundial::base
