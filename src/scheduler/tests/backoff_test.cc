// Retry delays: growth, the cap, jitter bounds, determinism, overflow safety.
#include "scheduler/backoff.h"

#include <gtest/gtest.h>

#include <limits>
#include <set>

#include "base/hash.h"

namespace sundial::scheduler {
namespace {

TEST(backoff, doubles_from_one_second_up_to_five_minutes) {
  const retry_backoff b;  // 1s, x2, 5m
  EXPECT_EQ(base_delay_us(b, 1), 1'000'000);
  EXPECT_EQ(base_delay_us(b, 2), 2'000'000);
  EXPECT_EQ(base_delay_us(b, 3), 4'000'000);
  EXPECT_EQ(base_delay_us(b, 9), 256'000'000);
  EXPECT_EQ(base_delay_us(b, 10), 300'000'000);
  EXPECT_EQ(base_delay_us(b, 1000), 300'000'000);
  EXPECT_EQ(base_delay_us(b, std::numeric_limits<std::uint32_t>::max()), 300'000'000);
  EXPECT_EQ(base_delay_us(b, 0), 1'000'000);  // counts as the first retry
}

TEST(backoff, without_jitter_is_monotone_and_exact) {
  retry_backoff b;
  b.jitter = 0;
  b.factor = 1.5;
  std::int64_t prev = 0;
  for (std::uint32_t a = 1; a <= 1000; ++a) {
    const std::int64_t d = retry_delay_us(b, a, 99);
    EXPECT_EQ(d, base_delay_us(b, a));
    EXPECT_GE(d, prev);
    EXPECT_LE(d, b.max_us);
    prev = d;
  }
  EXPECT_EQ(prev, b.max_us);
}

TEST(backoff, jitter_stays_within_bounds_and_varies) {
  const retry_backoff b;  // jitter 0.1
  std::set<std::int64_t> seen;
  for (std::uint64_t seed = 0; seed < 2000; ++seed) {
    for (std::uint32_t a : {1u, 3u, 12u, 1000u}) {
      const std::int64_t base = base_delay_us(b, a);
      const std::int64_t d = retry_delay_us(b, a, seed);
      EXPECT_GE(d, static_cast<std::int64_t>(base * 0.9) - 1);
      EXPECT_LE(d, static_cast<std::int64_t>(base * 1.1));
      EXPECT_LE(static_cast<double>(d), b.max_us * 1.1);
      if (a == 1) seen.insert(d);
    }
  }
  EXPECT_GT(seen.size(), 1900u);  // spread, not a few values
}

TEST(backoff, deterministic_from_the_seed) {
  const retry_backoff b;
  const std::uint64_t seed = base::fnv1a_64("0123456789abcdef");
  EXPECT_EQ(retry_delay_us(b, 2, seed), retry_delay_us(b, 2, seed));
  EXPECT_NE(retry_delay_us(b, 1, seed), retry_delay_us(b, 1, seed + 1));
  // Pinned (worked out by a Python transcription): the same delay on every node and release.
  EXPECT_EQ(retry_delay_us(b, 2, seed), 2'167'285);
  EXPECT_EQ(retry_delay_us(b, 1, 0), 906'802);
}

TEST(backoff, hostile_parameters_never_go_negative_or_overflow) {
  retry_backoff b;
  b.initial_us = -5;
  EXPECT_EQ(retry_delay_us(b, 3, 1), 0);
  b = retry_backoff{};
  b.factor = 1e308;
  EXPECT_EQ(base_delay_us(b, 1000), b.max_us);
  b.factor = std::numeric_limits<double>::quiet_NaN();
  EXPECT_EQ(base_delay_us(b, 5), b.initial_us);  // NaN counts as 1
  b.factor = 0.5;
  EXPECT_EQ(base_delay_us(b, 5), b.initial_us);  // shrinking counts as 1
  b = retry_backoff{};
  b.max_us = std::numeric_limits<std::int64_t>::max();
  b.initial_us = std::numeric_limits<std::int64_t>::max() / 2;
  b.jitter = 1;
  for (std::uint64_t seed = 0; seed < 100; ++seed)
    EXPECT_GE(retry_delay_us(b, 1000, seed), 0);
  b = retry_backoff{};
  b.jitter = 7;  // clamped to 1: within [0, 2 x base)
  for (std::uint64_t seed = 0; seed < 100; ++seed) {
    const std::int64_t d = retry_delay_us(b, 1, seed);
    EXPECT_GE(d, 0);
    EXPECT_LT(d, 2'000'000);
  }
  b.jitter = std::numeric_limits<double>::quiet_NaN();
  EXPECT_EQ(retry_delay_us(b, 1, 5), 1'000'000);
  b = retry_backoff{};
  b.initial_us = 10 * b.max_us;  // the cap applies to the first retry too
  EXPECT_EQ(base_delay_us(b, 1), b.max_us);
  b.max_us = -1;
  EXPECT_EQ(retry_delay_us(b, 4, 1), 0);
}

}  // namespace
}  // namespace sundial::scheduler
