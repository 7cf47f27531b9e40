#pragma once
// The compiled form of a cron expression: one bit set per field, plus the Quartz day forms
// (L, W, #) that depend on the month. Internal to the cron module.

#include <cstdint>
#include <limits>

namespace sundial::cron::detail {

// Invariant: every bit set lies inside its field's range (seconds 0-59, hours 0-23, ...).
struct cron_spec {
  std::uint64_t seconds = 0;  // bit s: second s matches
  std::uint64_t minutes = 0;  // bit m: minute m matches
  std::uint32_t hours = 0;    // bit h: hour h matches

  std::uint32_t dom = 0;                  // bit d (1-31): day d matches
  std::uint32_t dom_last_minus = 0;       // bit n (0-30): "L-n" (bit 0 is plain "L")
  std::uint32_t dom_nearest_weekday = 0;  // bit d: "dW", the weekday nearest day d
  bool dom_last_weekday = false;          // "LW", the month's last weekday
  bool dom_star = false;                  // the field starts with '*' or '?' (Vixie's DOM_STAR)

  std::uint16_t months = 0;  // bit m (1-12)

  std::uint8_t dow = 0;       // bit w (0-6, Sunday 0)
  std::uint8_t dow_last = 0;  // bit w: "wL", the month's last w-day
  std::uint64_t dow_nth = 0;  // bit w*5+(k-1): "w#k", the month's k-th w-day
  bool dow_star = false;      // the field starts with '*' or '?' (Vixie's DOW_STAR)

  static constexpr std::uint32_t all_hours = (1u << 24) - 1;

  // True when every hour of the day matches: such schedules fire at least hourly and follow
  // elapsed time across DST changes under the `cron` policy (SEMANTICS.md).
  bool every_hour() const { return hours == all_hours; }
};

// The days (bit d, 1-31) of `month` in `year` that the day-of-month and day-of-week fields
// accept, combined as Vixie cron does: if either field is star-prefixed both must match,
// otherwise either may.
std::uint32_t day_mask(const cron_spec& spec, int year, unsigned month);

// Days in the month (28-31).
unsigned days_in_month(int year, unsigned month);

// Day of week of the first of the month, 0 = Sunday.
unsigned first_weekday(int year, unsigned month);

// False when no day of any year can match (e.g. "30 2": February the 30th); decided over one
// 400-year Gregorian cycle, after which the calendar repeats.
bool can_ever_match(const cron_spec& spec);

// Smallest local time (seconds since 1970-01-01T00:00 local) >= from and < limit that matches
// every field, or no_match. Local times outside years 1-9999 never match.
std::int64_t next_local(const cron_spec& spec, std::int64_t from, std::int64_t limit);
// Largest local time <= from and >= lower that matches every field, or no_match.
std::int64_t prev_local(const cron_spec& spec, std::int64_t from, std::int64_t lower);

constexpr std::int64_t min_local = -62135596800;  // 0001-01-01T00:00:00
constexpr std::int64_t max_local = 253402300799;  // 9999-12-31T23:59:59
constexpr std::int64_t no_match = std::numeric_limits<std::int64_t>::min();

}  // namespace sundial::cron::detail
