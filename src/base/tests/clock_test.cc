#include "base/clock.h"

#include <gtest/gtest.h>

namespace sundial::base {
namespace {

using namespace std::chrono_literals;

TEST(manual_clock, advances_both_clocks) {
  manual_clock c(wall_time{1000s});
  const auto m0 = c.mono_now();
  c.advance(5s);
  EXPECT_EQ(c.now(), wall_time{1005s});
  EXPECT_EQ(c.mono_now() - m0, 5s);
}

TEST(manual_clock, wall_jump_leaves_monotonic_alone) {
  manual_clock c(wall_time{1000s});
  const auto m0 = c.mono_now();
  c.set_wall(wall_time{10s});
  EXPECT_EQ(c.now(), wall_time{10s});
  EXPECT_EQ(c.mono_now(), m0);
}

TEST(real_clock, monotonic_never_goes_back) {
  real_clock c;
  auto prev = c.mono_now();
  for (int i = 0; i < 1000; ++i) {
    auto now = c.mono_now();
    ASSERT_GE(now, prev);
    prev = now;
  }
  EXPECT_GT(c.now().time_since_epoch().count(), 0);
}

}  // namespace
}  // namespace sundial::base
