#pragma once
// Logging setup. Components log through spdlog's default logger; this sets its level and format
// once at start-up, from a flag or SUNDIAL_LOG_LEVEL.

#include <string_view>

#include "base/result.h"

namespace sundial::base {

// Sets the default logger: stderr, "<time> <level> <message>", at `level` (one of trace,
// debug, info, warn, error, critical, off). An unknown level is an invalid_argument error and
// leaves logging as it was.
status init_logging(std::string_view level);

}  // namespace sundial::base
