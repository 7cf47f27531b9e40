#include "scheduler/backoff.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "scheduler/bits.h"

namespace sundial::scheduler {

namespace {

constexpr double two_to_63 = 9223372036854775808.0;  // the first double above every int64

// A non-negative double (or +inf) as int64 microseconds, rounded down and saturated.
std::int64_t to_us(double d) {
  if (!(d > 0)) return 0;
  if (d >= two_to_63) return std::numeric_limits<std::int64_t>::max();
  return static_cast<std::int64_t>(d);
}

double clamped_jitter(double j) {
  return j > 0 ? std::min(j, 1.0) : 0.0;
}  // NaN -> 0

}  // namespace

std::int64_t base_delay_us(const retry_backoff& b, std::uint32_t attempt) {
  const std::int64_t max_us = std::max<std::int64_t>(b.max_us, 0);
  const std::int64_t initial = std::clamp<std::int64_t>(b.initial_us, 0, max_us);
  if (initial == 0 || attempt <= 1) return initial;
  const double factor = b.factor >= 1 ? b.factor : 1.0;  // NaN -> 1
  // pow overflows to +inf for huge exponents, which the cap turns into max_us.
  const double d = static_cast<double>(initial) * std::pow(factor, attempt - 1.0);
  if (!(d < static_cast<double>(max_us))) return max_us;
  return std::min(to_us(d), max_us);
}

std::int64_t retry_delay_us(const retry_backoff& b, std::uint32_t attempt, std::uint64_t seed) {
  const std::int64_t base = base_delay_us(b, attempt);
  const double jitter = clamped_jitter(b.jitter);
  if (base == 0 || jitter == 0) return base;
  // 53 random bits -> x in [0, 1) -> a scale in [1 - jitter, 1 + jitter).
  const std::uint64_t bits = detail::mix2(seed, attempt) >> 11;
  const double x = static_cast<double>(bits) * 0x1.0p-53;
  const double scale = 1.0 + jitter * (2.0 * x - 1.0);
  return to_us(static_cast<double>(base) * scale);
}

}  // namespace sundial::scheduler
