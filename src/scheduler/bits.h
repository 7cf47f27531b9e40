#pragma once
// Small fixed helpers shared by the planning core (internal to src/scheduler): a stable mixer
// for seeded choices and overflow-safe arithmetic on microsecond times.
//
// Every value derived from these must be the same on every node and every release, so the
// algorithms are fixed (SplitMix64's finaliser, FNV-1a in base/hash.h), never std::hash.

#include <cstdint>
#include <limits>

namespace sundial::scheduler::detail {

// SplitMix64's output function (Steele, Lea, Flood 2014): a bijective, well-mixed 64-bit
// value. Consecutive inputs give unrelated outputs.
constexpr std::uint64_t splitmix64(std::uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

// Two values into one, order-sensitive.
constexpr std::uint64_t mix2(std::uint64_t a, std::uint64_t b) {
  return splitmix64(splitmix64(a) ^ b);
}

// a + b and a - b clamped to the int64 range: window arithmetic near the range's ends must not
// overflow (UBSan aborts on it), and a clamped bound still orders correctly.
constexpr std::int64_t sat_add(std::int64_t a, std::int64_t b) {
  std::int64_t r = 0;
  if (__builtin_add_overflow(a, b, &r))
    return b > 0 ? std::numeric_limits<std::int64_t>::max()
                 : std::numeric_limits<std::int64_t>::min();
  return r;
}
constexpr std::int64_t sat_sub(std::int64_t a, std::int64_t b) {
  std::int64_t r = 0;
  if (__builtin_sub_overflow(a, b, &r))
    return b < 0 ? std::numeric_limits<std::int64_t>::max()
                 : std::numeric_limits<std::int64_t>::min();
  return r;
}

// Rounds towards minus infinity (C++ division rounds towards zero).
constexpr std::int64_t floor_div(std::int64_t a, std::int64_t b) {
  const std::int64_t q = a / b;
  return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}

inline constexpr std::int64_t us_per_second = 1'000'000;

}  // namespace sundial::scheduler::detail
