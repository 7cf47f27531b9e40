#include "base/log.h"

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <array>
#include <string>

namespace sundial::base {

status init_logging(std::string_view level) {
  static constexpr std::array<std::pair<std::string_view, spdlog::level::level_enum>, 7> levels{{
      {"trace", spdlog::level::trace},
      {"debug", spdlog::level::debug},
      {"info", spdlog::level::info},
      {"warn", spdlog::level::warn},
      {"error", spdlog::level::err},
      {"critical", spdlog::level::critical},
      {"off", spdlog::level::off},
  }};
  for (const auto& [name, value] : levels) {
    if (name == level) {
      auto logger = spdlog::get("sundial");
      if (!logger) logger = spdlog::stderr_color_mt("sundial");
      logger->set_pattern("%Y-%m-%dT%H:%M:%S.%e%z %^%l%$ %v");
      logger->set_level(value);
      spdlog::set_default_logger(logger);
      return {};
    }
  }
  return fail(errc::invalid_argument,
              "unknown log level \"" + std::string(level) +
                  "\" (use trace, debug, info, warn, error, critical or off)");
}

}  // namespace sundial::base
