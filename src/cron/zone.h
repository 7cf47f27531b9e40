#pragma once
// A time zone from the system tzdata, as a sequence of segments of constant UTC offset.
//
// Howard Hinnant's date/tz reads the compiled TZif files, whose explicit transitions end in
// 2037; later instants are governed by the POSIX rule in the file's footer, which date/tz's
// OS-tzdb reader ignores (it would keep 2038 on standard time forever). We therefore answer
// from date/tz up to the last explicit transition and from the footer rule (date's
// Posix::time_zone) after it, so DST stays right for any year.
//
// Loading reads /usr/share/zoneinfo once per zone (cached for the process); every other call
// is pure computation.

#include <chrono>
#include <memory>
#include <string>
#include <string_view>

#include "base/result.h"

namespace sundial::cron {

using instant = std::chrono::sys_seconds;

// A maximal interval [begin, end) of instants with one UTC offset.
struct segment {
  instant begin;
  instant end;
  std::chrono::seconds offset;  // local = utc + offset
  std::string abbrev;           // e.g. "EST"
};

class zone {
 public:
  // The zone named `name` (IANA, e.g. "Europe/Paris"; "" and "UTC" mean UTC). Unknown names
  // are an invalid_argument error naming the zone.
  static base::result<std::shared_ptr<const zone>> locate(std::string_view name);

  const std::string& name() const { return name_; }
  bool is_utc() const { return utc_; }

  // The segment holding t.
  segment segment_at(instant t) const;
  // The UTC offset at t.
  std::chrono::seconds offset_at(instant t) const;

  class impl;
  explicit zone(std::string name, std::unique_ptr<impl> i);
  ~zone();

 private:
  std::string name_;
  bool utc_ = false;
  std::unique_ptr<impl> impl_;
};

}  // namespace sundial::cron
