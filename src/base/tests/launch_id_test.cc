// Launch ids: fixed values (a change of algorithm breaks this test on purpose: ids are
// idempotency keys that must agree across nodes and releases), distinct inputs, and
// execution ids.
#include "base/launch_id.h"

#include <gtest/gtest.h>

#include <set>

namespace sundial::base {
namespace {

TEST(launch_id, pinned_values) {
  // Worked out independently (a Python transcription of FNV-1a 64 + SplitMix64 over the
  // documented bytes). 1'767'225'600'000'000 is 2026-01-01T00:00:00Z.
  EXPECT_EQ(make_launch_id("backup", 1'767'225'600'000'000, 1), "894b9e32ae19ffa8");
  EXPECT_EQ(make_launch_id("backup", 1'767'225'600'000'000, 2), "6e5343a900e345cd");
  EXPECT_EQ(make_launch_id("", 0, 0), "7e4c2eab8dc4e8b9");
}

TEST(launch_id, is_sixteen_lowercase_hex_digits_and_deterministic) {
  const std::string id = make_launch_id("job-1", 42, 1);
  EXPECT_EQ(id.size(), 16u);
  EXPECT_EQ(id.find_first_not_of("0123456789abcdef"), std::string::npos);
  EXPECT_EQ(id, make_launch_id("job-1", 42, 1));
}

TEST(launch_id, distinct_across_jobs_slots_and_attempts) {
  std::set<std::string> ids;
  std::size_t n = 0;
  for (int j = 0; j < 50; ++j) {
    for (std::int64_t slot = 0; slot < 200; ++slot) {
      for (std::uint32_t attempt = 1; attempt <= 3; ++attempt) {
        ids.insert(make_launch_id("job-" + std::to_string(j), slot * 1'000'000, attempt));
        ++n;
      }
    }
  }
  EXPECT_EQ(ids.size(), n);
  // The separator keeps a name and the slot's bytes apart.
  EXPECT_NE(make_launch_id("a", 0, 1), make_launch_id(std::string("a\0", 2), 0, 1));
  EXPECT_NE(make_launch_id("a", -1, 1), make_launch_id("a", 1, 1));
}

TEST(execution_id, is_the_launch_id_for_one_target_else_indexed) {
  EXPECT_EQ(make_execution_id("0123456789abcdef", 0, 1), "0123456789abcdef");
  EXPECT_EQ(make_execution_id("0123456789abcdef", 0, 0), "0123456789abcdef");
  EXPECT_EQ(make_execution_id("0123456789abcdef", 0, 3), "0123456789abcdef-0");
  EXPECT_EQ(make_execution_id("0123456789abcdef", 2, 3), "0123456789abcdef-2");
}

}  // namespace
}  // namespace sundial::base
