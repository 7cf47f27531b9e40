// Field-by-field search over local (wall-clock) time, forwards and backwards. Time zones are
// not known here: schedule.cc maps local times to instants segment by segment.
#include <bit>
#include <chrono>

#include "cron/spec.h"

namespace sundial::cron::detail {
namespace {

constexpr std::int64_t seconds_per_day = 86400;

// A local calendar position. Fields may be out of their range transiently (hour 24, day 0)
// only inside the normalising helpers below.
struct position {
  int year;
  unsigned month;
  unsigned day;
  int hour;
  int minute;
  int second;
};

std::int64_t days_from_civil(int y, unsigned m, unsigned d) {
  const std::chrono::year_month_day ymd{std::chrono::year{y}, std::chrono::month{m},
                                        std::chrono::day{d}};
  return std::chrono::sys_days{ymd}.time_since_epoch().count();
}

position to_position(std::int64_t local) {
  std::int64_t days = local / seconds_per_day;
  std::int64_t rem = local % seconds_per_day;
  if (rem < 0) {
    rem += seconds_per_day;
    --days;
  }
  const std::chrono::year_month_day ymd{std::chrono::sys_days{std::chrono::days{days}}};
  return position{static_cast<int>(ymd.year()),     static_cast<unsigned>(ymd.month()),
                  static_cast<unsigned>(ymd.day()), static_cast<int>(rem / 3600),
                  static_cast<int>(rem / 60 % 60),  static_cast<int>(rem % 60)};
}

std::int64_t to_local(const position& p) {
  return days_from_civil(p.year, p.month, p.day) * seconds_per_day + p.hour * 3600 + p.minute * 60 +
         p.second;
}

// Lowest set bit >= from, or -1.
template <class Bits>
int next_bit(Bits bits, int from) {
  if (from >= static_cast<int>(sizeof(Bits) * 8)) return -1;
  const std::uint64_t rest = static_cast<std::uint64_t>(bits) >> from;
  return rest == 0 ? -1 : from + std::countr_zero(rest);
}

// Highest set bit <= from, or -1.
template <class Bits>
int prev_bit(Bits bits, int from) {
  if (from < 0) return -1;
  const std::uint64_t keep = from >= 63 ? ~0ull : (2ull << from) - 1;
  const std::uint64_t rest = static_cast<std::uint64_t>(bits) & keep;
  return rest == 0 ? -1 : 63 - std::countl_zero(rest);
}

void start_of_day(position& p) {
  p.hour = p.minute = p.second = 0;
}
void end_of_day(position& p) {
  p.hour = 23;
  p.minute = p.second = 59;
}

void next_month(position& p) {
  if (++p.month > 12) {
    p.month = 1;
    ++p.year;
  }
  p.day = 1;
  start_of_day(p);
}

void prev_month(position& p) {
  if (--p.month < 1) {
    p.month = 12;
    --p.year;
  }
  p.day = p.year >= 1 ? days_in_month(p.year, p.month) : 31;
  end_of_day(p);
}

void next_day(position& p) {
  if (++p.day > days_in_month(p.year, p.month)) {
    next_month(p);
  } else {
    start_of_day(p);
  }
}

void prev_day(position& p) {
  if (--p.day < 1) {
    prev_month(p);
  } else {
    end_of_day(p);
  }
}

}  // namespace

std::int64_t next_local(const cron_spec& spec, std::int64_t from, std::int64_t limit) {
  if (from < min_local) from = min_local;
  if (limit > max_local + 1) limit = max_local + 1;
  if (from >= limit) return no_match;
  position p = to_position(from);
  // Every pass moves p forward by at least a second, and a month is skipped in one pass, so
  // the loop is bounded by the months between `from` and `limit` (plus a few passes per day
  // that matches); the year check ends it.
  while (true) {
    if (p.year > 9999) return no_match;
    if (!(spec.months & (1u << p.month))) {
      const int m = next_bit(spec.months, static_cast<int>(p.month) + 1);
      if (m < 0) {
        p.month = 12;
      } else {
        p.month = static_cast<unsigned>(m) - 1;
      }
      next_month(p);
      if (p.year <= 9999 && to_local(p) >= limit) return no_match;
      continue;
    }
    const std::uint32_t days = day_mask(spec, p.year, p.month) >> p.day << p.day;
    if (days == 0) {
      next_month(p);
      if (p.year <= 9999 && to_local(p) >= limit) return no_match;
      continue;
    }
    const unsigned d = static_cast<unsigned>(std::countr_zero(days));
    if (d != p.day) {
      p.day = d;
      start_of_day(p);
    }
    if (to_local(position{p.year, p.month, p.day, 0, 0, 0}) >= limit) return no_match;

    const int h = next_bit(spec.hours, p.hour);
    if (h < 0) {
      next_day(p);
      continue;
    }
    if (h != p.hour) {
      p.hour = h;
      p.minute = p.second = 0;
    }
    const int m = next_bit(spec.minutes, p.minute);
    if (m < 0) {
      p.minute = p.second = 0;
      if (++p.hour > 23) next_day(p);
      continue;
    }
    if (m != p.minute) {
      p.minute = m;
      p.second = 0;
    }
    const int s = next_bit(spec.seconds, p.second);
    if (s < 0) {
      p.second = 0;
      if (++p.minute > 59) {
        p.minute = 0;
        if (++p.hour > 23) next_day(p);
      }
      continue;
    }
    p.second = s;
    const std::int64_t found = to_local(p);
    return found < limit ? found : no_match;
  }
}

std::int64_t prev_local(const cron_spec& spec, std::int64_t from, std::int64_t lower) {
  if (from > max_local) from = max_local;
  if (lower < min_local) lower = min_local;
  if (from < lower) return no_match;
  position p = to_position(from);
  // Mirror image of next_local.
  while (true) {
    if (p.year < 1) return no_match;
    if (!(spec.months & (1u << p.month))) {
      const int m = prev_bit(spec.months, static_cast<int>(p.month) - 1);
      if (m < 1) {
        p.month = 1;
      } else {
        p.month = static_cast<unsigned>(m) + 1;
      }
      prev_month(p);
      if (p.year >= 1 && to_local(p) < lower) return no_match;
      continue;
    }
    const std::uint32_t days =
        day_mask(spec, p.year, p.month) & static_cast<std::uint32_t>((2ull << p.day) - 1);
    if (days == 0) {
      prev_month(p);
      if (p.year >= 1 && to_local(p) < lower) return no_match;
      continue;
    }
    const unsigned d = static_cast<unsigned>(31 - std::countl_zero(days));
    if (d != p.day) {
      p.day = d;
      end_of_day(p);
    }
    if (to_local(position{p.year, p.month, p.day, 23, 59, 59}) < lower) return no_match;

    const int h = prev_bit(spec.hours, p.hour);
    if (h < 0) {
      prev_day(p);
      continue;
    }
    if (h != p.hour) {
      p.hour = h;
      p.minute = p.second = 59;
    }
    const int m = prev_bit(spec.minutes, p.minute);
    if (m < 0) {
      p.minute = p.second = 59;
      if (--p.hour < 0) prev_day(p);
      continue;
    }
    if (m != p.minute) {
      p.minute = m;
      p.second = 59;
    }
    const int s = prev_bit(spec.seconds, p.second);
    if (s < 0) {
      p.second = 59;
      if (--p.minute < 0) {
        p.minute = 59;
        if (--p.hour < 0) prev_day(p);
      }
      continue;
    }
    p.second = s;
    const std::int64_t found = to_local(p);
    return found >= lower ? found : no_match;
  }
}

}  // namespace sundial::cron::detail
