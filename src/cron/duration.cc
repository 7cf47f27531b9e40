#include <fmt/format.h>

#include <cstdint>

#include "cron/schedule.h"

namespace sundial::cron {
namespace {

struct unit {
  std::string_view suffix;
  std::int64_t nanos;
};
// Longest suffixes first so that "ms" is not read as "m".
constexpr unit units[] = {
    {"ns", 1},
    {"us", 1'000},
    {"\xC2\xB5s", 1'000},  // µs (micro sign)
    {"\xCE\xBCs", 1'000},  // μs (Greek mu)
    {"ms", 1'000'000},
    {"s", 1'000'000'000},
    {"m", 60'000'000'000},
    {"h", 3'600'000'000'000},
    {"d", 86'400'000'000'000},
};

constexpr std::int64_t max_nanos = 100LL * 365 * 86'400'000'000'000;  // 100 years

base::failure bad(std::string_view text, std::string_view why) {
  return base::fail(
      base::errc::invalid_argument,
      fmt::format("\"{}\" is not a valid duration: {} (e.g. 10s, 5m, 1h30m)", text, why));
}

}  // namespace

base::result<std::chrono::nanoseconds> parse_go_duration(std::string_view text) {
  if (text.empty()) return bad(text, "it is empty");
  if (text.size() > 64) return bad(text.substr(0, 64), "too long");
  if (text[0] == '-') return bad(text, "it is negative");
  if (text[0] == '+') text.remove_prefix(1);
  std::int64_t total = 0;
  std::size_t i = 0;
  while (i < text.size()) {
    std::int64_t whole = 0;
    std::int64_t frac = 0;
    std::int64_t frac_scale = 1;
    std::size_t digits = 0;
    while (i < text.size() && text[i] >= '0' && text[i] <= '9') {
      if (whole > max_nanos / 10) return bad(text, "it is longer than 100 years");
      whole = whole * 10 + (text[i] - '0');
      ++digits;
      ++i;
    }
    if (i < text.size() && text[i] == '.') {
      ++i;
      while (i < text.size() && text[i] >= '0' && text[i] <= '9') {
        if (frac_scale < 1'000'000'000'000'000LL) {
          frac = frac * 10 + (text[i] - '0');
          frac_scale *= 10;
        }
        ++digits;
        ++i;
      }
    }
    if (digits == 0) return bad(text, "expected a number");
    const unit* found = nullptr;
    for (const auto& u : units) {
      if (text.substr(i, u.suffix.size()) == u.suffix) {
        found = &u;
        break;
      }
    }
    if (found == nullptr) {
      if (i >= text.size()) return bad(text, "a number needs a unit (h, m, s)");
      return bad(text, fmt::format("unknown unit at \"{}\"", text.substr(i)));
    }
    i += found->suffix.size();
    if (whole > max_nanos / found->nanos) return bad(text, "it is longer than 100 years");
    // frac / frac_scale of a unit, in nanoseconds; done in long double to avoid overflow, then
    // rounded: fractions below a nanosecond cannot matter once whole seconds are required.
    const long double frac_nanos = static_cast<long double>(frac) *
                                   static_cast<long double>(found->nanos) /
                                   static_cast<long double>(frac_scale);
    total += whole * found->nanos + static_cast<std::int64_t>(frac_nanos + 0.5L);
    if (total > max_nanos) return bad(text, "it is longer than 100 years");
  }
  return std::chrono::nanoseconds{total};
}

base::result<std::chrono::seconds> parse_duration(std::string_view text) {
  auto d = parse_go_duration(text);
  if (!d) return d.err();
  const std::int64_t total = d->count();
  if (total == 0) return bad(text, "it must be at least 1s");
  if (total % 1'000'000'000 != 0) return bad(text, "it must be a whole number of seconds");
  return std::chrono::seconds{total / 1'000'000'000};
}

std::string format_duration(std::chrono::seconds d) {
  const std::int64_t s = d.count();
  if (s >= 3600) return fmt::format("{}h{}m{}s", s / 3600, s / 60 % 60, s % 60);
  if (s >= 60) return fmt::format("{}m{}s", s / 60, s % 60);
  return fmt::format("{}s", s);
}

}  // namespace sundial::cron
