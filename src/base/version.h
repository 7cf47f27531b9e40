#pragma once
// The release version, as --version, GET /v1 and the members' tags report it. Keep it equal to
// project(VERSION) in CMakeLists.txt.

#include <string_view>

namespace sundial::base {

inline constexpr std::string_view version = "0.1.0";

}  // namespace sundial::base
