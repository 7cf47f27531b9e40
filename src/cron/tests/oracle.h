#pragma once
// A brute-force oracle for the schedule engine, written independently of it: it re-reads the
// schedule text with naive per-value rules and walks time forward second by second in the
// zone, applying the DST policies as SEMANTICS.md words them. Whole days, hours or minutes
// whose field cannot match are stepped over in one go (a second in them cannot match either),
// but DST transitions are always visited second-exactly.

#include <date/tz.h>

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

namespace sundial::cron::oracle {

using instant = std::chrono::sys_seconds;

struct local_fields {
  int year;
  unsigned month, day, weekday;  // weekday 0 = Sunday
  int hour, minute, second;
};

// The naive matcher of one 5- or 6-field expression (no descriptors or prefixes).
class matcher {
 public:
  matcher(const std::string& fields_text, std::uint64_t hash_seed);
  bool day_matches(int year, unsigned month, unsigned day) const;
  bool hour_matches(int h) const;
  bool minute_matches(int m) const;
  bool second_matches(int s) const;
  bool matches(const local_fields& f) const;
  bool every_hour() const;

 private:
  bool value_in(int field, int value) const;
  bool dom_item(const std::string& it, int year, unsigned month, unsigned day) const;
  bool dow_item(const std::string& it, int year, unsigned month, unsigned day) const;
  std::vector<std::vector<std::string>> items_;  // 6 fields of plain items
  std::vector<std::string> dom_special_;         // L, L-n, LW, nW
  std::vector<std::string> dow_special_;         // nL, n#k
  bool dom_star_ = false;
  bool dow_star_ = false;
  std::uint64_t seed_;
};

enum class policy { cron, wall };

// Every instant in [from, to) at which the expression fires in `zone` under `p`.
std::vector<instant> fires(const matcher& m, const date::time_zone* zone, policy p, instant from,
                           instant to);

}  // namespace sundial::cron::oracle
