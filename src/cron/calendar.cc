// Which days of a month a cron spec accepts.
#include <bit>
#include <chrono>

#include "cron/spec.h"

namespace sundial::cron::detail {
namespace {

// Bit d set for every d = 0, 7, 14, ... (shifted to a month's first w-day).
constexpr std::uint64_t every_seventh =
    (1ull << 0) | (1ull << 7) | (1ull << 14) | (1ull << 21) | (1ull << 28) | (1ull << 35);

unsigned weekday_of(unsigned first_wd, unsigned day) {
  return (first_wd + day - 1) % 7;
}

// The weekday (Mon-Fri) nearest to `day`, never leaving the month (Quartz's "W").
unsigned nearest_weekday(unsigned first_wd, unsigned dim, unsigned day) {
  const unsigned wd = weekday_of(first_wd, day);
  if (wd == 6) return day == 1 ? day + 2 : day - 1;    // Saturday
  if (wd == 0) return day == dim ? day - 2 : day + 1;  // Sunday
  return day;
}

}  // namespace

unsigned days_in_month(int year, unsigned month) {
  static constexpr unsigned dims[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  if (month == 2) {
    const bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    return leap ? 29 : 28;
  }
  return dims[month - 1];
}

unsigned first_weekday(int year, unsigned month) {
  const std::chrono::year_month_day ymd{std::chrono::year{year}, std::chrono::month{month},
                                        std::chrono::day{1}};
  return std::chrono::weekday{std::chrono::sys_days{ymd}}.c_encoding();
}

std::uint32_t day_mask(const cron_spec& spec, int year, unsigned month) {
  const unsigned dim = days_in_month(year, month);
  const unsigned fw = first_weekday(year, month);
  const std::uint32_t valid = static_cast<std::uint32_t>(((1ull << (dim + 1)) - 1) & ~1ull);

  std::uint32_t by_dom = spec.dom;
  for (std::uint32_t bits = spec.dom_last_minus; bits != 0; bits &= bits - 1) {
    const unsigned n = static_cast<unsigned>(std::countr_zero(bits));
    if (n < dim) by_dom |= 1u << (dim - n);
  }
  for (std::uint32_t bits = spec.dom_nearest_weekday; bits != 0; bits &= bits - 1) {
    const unsigned d = static_cast<unsigned>(std::countr_zero(bits));
    if (d <= dim) by_dom |= 1u << nearest_weekday(fw, dim, d);
  }
  if (spec.dom_last_weekday) {
    const unsigned wd = weekday_of(fw, dim);
    by_dom |= 1u << (dim - (wd == 0 ? 2 : wd == 6 ? 1 : 0));
  }
  by_dom &= valid;

  std::uint64_t by_dow = 0;
  for (unsigned w = 0; w < 7; ++w) {
    const unsigned first = 1 + (w + 7 - fw) % 7;  // the month's first w-day
    if (spec.dow & (1u << w)) by_dow |= every_seventh << first;
    if (spec.dow_last & (1u << w)) {
      by_dow |= 1ull << (dim - (weekday_of(fw, dim) + 7 - w) % 7);
    }
    for (unsigned k = 1; k <= 5; ++k) {
      if (spec.dow_nth & (1ull << (w * 5 + k - 1))) {
        const unsigned d = first + 7 * (k - 1);
        if (d <= dim) by_dow |= 1ull << d;
      }
    }
  }
  const std::uint32_t dow_days = static_cast<std::uint32_t>(by_dow) & valid;

  if (spec.dom_star || spec.dow_star) return by_dom & dow_days;
  return by_dom | dow_days;
}

bool can_ever_match(const cron_spec& spec) {
  for (int year = 2000; year < 2400; ++year) {
    for (unsigned month = 1; month <= 12; ++month) {
      if ((spec.months & (1u << month)) && day_mask(spec, year, month) != 0) return true;
    }
  }
  return false;
}

}  // namespace sundial::cron::detail
