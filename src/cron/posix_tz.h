#pragma once
// A POSIX TZ rule (the footer of a TZif file, e.g. "EST5EDT,M3.2.0,M11.1.0"), which governs a
// zone after its last explicit transition. Internal to the cron module; see zone.h for why.

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

#include "cron/zone.h"

namespace sundial::cron::detail {

class posix_rule {
 public:
  // nullopt when `text` is not a valid rule (POSIX.1-2017 8.3 with RFC 8536's extensions:
  // hours up to 167 and negative times in rules, <+03>-style quoted names).
  static std::optional<posix_rule> parse(std::string_view text);

  // The segment of constant offset holding t (begin/end span at most a few years).
  segment at(instant t) const;

 private:
  struct day_rule {
    enum class form {
      julian_1 /* Jn: 1-365, Feb 29 never counted */,
      zero_based /* n: 0-365 */,
      month_week_day /* Mm.w.d */
    };
    form kind = form::month_week_day;
    int day = 0;                      // Jn / n
    int month = 0;                    // Mm.w.d
    int week = 0;                     // 1-5, 5 = last
    int weekday = 0;                  // 0 = Sunday
    std::chrono::seconds time{7200};  // local time of day of the change (default 02:00)
  };
  // The change's instant in `year`; `offset_before` is the offset in force just before it.
  instant transition(const day_rule& r, int year, std::chrono::seconds offset_before) const;

  std::string std_abbrev_;
  std::string dst_abbrev_;
  std::chrono::seconds std_offset_{0};  // local = utc + offset
  std::chrono::seconds dst_offset_{0};
  bool has_dst_ = false;
  day_rule start_;  // into DST
  day_rule end_;    // back to standard time
};

}  // namespace sundial::cron::detail
