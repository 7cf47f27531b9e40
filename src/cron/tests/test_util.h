#pragma once
// Helpers shared by the cron unit tests.

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "base/time_format.h"
#include "cron/schedule.h"

namespace sundial::cron::testing {

inline instant at(const char* rfc3339) {
  auto t = base::parse_rfc3339(rfc3339);
  EXPECT_TRUE(t.ok()) << rfc3339;
  return std::chrono::floor<std::chrono::seconds>(*t);
}

inline schedule must_parse(const std::string& text, const parse_options& o = {}) {
  auto s = parse(text, o);
  EXPECT_TRUE(s.ok()) << text << ": " << (s.ok() ? "" : s.err().message);
  if (!s.ok()) return parse("@manually").value();
  return std::move(s).value();
}

// The next n instants after `from`, as RFC 3339 UTC strings.
inline std::vector<std::string> next_utc(const std::string& text, const char* from, std::size_t n,
                                         const parse_options& o = {}) {
  std::vector<std::string> out;
  for (auto t : must_parse(text, o).next_n(at(from), n))
    out.push_back(base::format_rfc3339_utc(t));
  return out;
}

// The previous n instants before `before`, newest first.
inline std::vector<std::string> prev_utc(const std::string& text, const char* before, std::size_t n,
                                         const parse_options& o = {}) {
  std::vector<std::string> out;
  const schedule s = must_parse(text, o);
  instant cur = at(before);
  while (out.size() < n) {
    auto p = s.prev(cur);
    if (!p) break;
    out.push_back(base::format_rfc3339_utc(*p));
    cur = *p;
  }
  return out;
}

inline std::string parse_error(const std::string& text, const parse_options& o = {}) {
  auto s = parse(text, o);
  if (s.ok()) return "(parsed)";
  EXPECT_EQ(s.err().code, base::errc::invalid_argument);
  return s.err().message;
}

using strings = std::vector<std::string>;

}  // namespace sundial::cron::testing
