#include "base/time_format.h"

#include <fmt/format.h>

#include <cstdint>

namespace sundial::base {
namespace {

using std::chrono::days;
using std::chrono::seconds;

std::string format_fields(seconds_time t) {
  constexpr std::int64_t min_s = -62167219200;  // 0000-01-01T00:00:00Z
  constexpr std::int64_t max_s = 253402300799;  // 9999-12-31T23:59:59Z
  std::int64_t s = t.time_since_epoch().count();
  if (s < min_s) s = min_s;
  if (s > max_s) s = max_s;
  const seconds_time clamped{seconds(s)};
  const auto day = std::chrono::floor<days>(clamped);
  const std::chrono::year_month_day ymd{day};
  const std::chrono::hh_mm_ss hms{clamped - day};
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}", static_cast<int>(ymd.year()),
                     static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()),
                     hms.hours().count(), hms.minutes().count(), hms.seconds().count());
}

// Reads exactly `width` decimal digits at text[pos]; -1 if they are not all digits.
int read_digits(std::string_view text, std::size_t pos, std::size_t width) {
  if (pos + width > text.size()) return -1;
  int value = 0;
  for (std::size_t i = 0; i < width; ++i) {
    const char c = text[pos + i];
    if (c < '0' || c > '9') return -1;
    value = value * 10 + (c - '0');
  }
  return value;
}

failure bad(std::string_view text, std::string_view why) {
  return fail(errc::invalid_argument,
              fmt::format("\"{}\" is not an RFC 3339 time: {} (expected e.g. 2026-11-21T09:00:00Z)",
                          text, why));
}

}  // namespace

std::string format_rfc3339_utc(seconds_time t) {
  return format_fields(t) + "Z";
}

std::string format_rfc3339_local(seconds_time t, seconds offset) {
  const std::int64_t off_min = offset.count() / 60;
  const char sign = off_min < 0 ? '-' : '+';
  const std::int64_t abs_min = off_min < 0 ? -off_min : off_min;
  return fmt::format("{}{}{:02}:{:02}", format_fields(t + offset), sign, abs_min / 60,
                     abs_min % 60);
}

result<micro_time> parse_rfc3339(std::string_view text) {
  if (text.size() > 64) return bad(text.substr(0, 64), "too long");
  const int year = read_digits(text, 0, 4);
  if (year < 0 || text.size() < 19 || text[4] != '-' || text[7] != '-')
    return bad(text, "the date must be YYYY-MM-DD");
  const int month = read_digits(text, 5, 2);
  const int day = read_digits(text, 8, 2);
  if (month < 1 || month > 12) return bad(text, "month must be 01-12");
  const char sep = text[10];
  if (sep != 'T' && sep != 't' && sep != ' ')
    return bad(text, "date and time must be separated by T");
  const int hour = read_digits(text, 11, 2);
  const int minute = read_digits(text, 14, 2);
  const int second = read_digits(text, 17, 2);
  if (text[13] != ':' || text[16] != ':' || hour < 0 || minute < 0 || second < 0)
    return bad(text, "the time must be HH:MM:SS");
  if (hour > 23) return bad(text, "hour must be 00-23");
  if (minute > 59) return bad(text, "minute must be 00-59");
  if (second == 60) return bad(text, "leap seconds (:60) are not supported");
  if (second > 59) return bad(text, "second must be 00-59");
  const std::chrono::year_month_day ymd{std::chrono::year{year},
                                        std::chrono::month{static_cast<unsigned>(month)},
                                        std::chrono::day{static_cast<unsigned>(day)}};
  if (!ymd.ok()) return bad(text, "no such day in that month");

  std::size_t pos = 19;
  std::int64_t micros = 0;
  if (pos < text.size() && text[pos] == '.') {
    ++pos;
    std::size_t digits = 0;
    while (pos < text.size() && text[pos] >= '0' && text[pos] <= '9') {
      if (digits < 6) micros = micros * 10 + (text[pos] - '0');
      ++digits;
      ++pos;
    }
    if (digits == 0) return bad(text, "a '.' must be followed by digits");
    for (std::size_t i = digits; i < 6; ++i)
      micros *= 10;
  }
  std::int64_t offset_s = 0;
  if (pos >= text.size()) return bad(text, "missing the offset (Z or +HH:MM)");
  if (text[pos] == 'Z' || text[pos] == 'z') {
    ++pos;
  } else if (text[pos] == '+' || text[pos] == '-') {
    const int oh = read_digits(text, pos + 1, 2);
    const int om = read_digits(text, pos + 4, 2);
    if (oh < 0 || om < 0 || pos + 3 >= text.size() || text[pos + 3] != ':')
      return bad(text, "the offset must be +HH:MM or -HH:MM");
    if (oh > 23 || om > 59) return bad(text, "the offset is out of range");
    offset_s = (oh * 3600 + om * 60) * (text[pos] == '-' ? -1 : 1);
    pos += 6;
  } else {
    return bad(text, "missing the offset (Z or +HH:MM)");
  }
  if (pos != text.size()) return bad(text, "unexpected text after the offset");

  const auto local = std::chrono::sys_days{ymd} + std::chrono::hours{hour} +
                     std::chrono::minutes{minute} + seconds{second};
  return micro_time{local - seconds{offset_s}} + std::chrono::microseconds{micros};
}

}  // namespace sundial::base
