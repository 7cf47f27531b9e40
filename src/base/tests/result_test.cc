#include "base/result.h"

#include <gtest/gtest.h>

#include <memory>

namespace sundial::base {
namespace {

result<int> parse_positive(int v) {
  if (v <= 0) return fail(errc::invalid_argument, "must be positive");
  return v;
}

TEST(result, holds_value) {
  auto r = parse_positive(3);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, 3);
}

TEST(result, holds_error_with_code_and_message) {
  auto r = parse_positive(-1);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.err().code, errc::invalid_argument);
  EXPECT_EQ(r.err().message, "must be positive");
  EXPECT_EQ(describe(r.err()), "invalid_argument: must be positive");
}

TEST(result, moves_only_types) {
  result<std::unique_ptr<int>> r = std::make_unique<int>(7);
  ASSERT_TRUE(r.ok());
  std::unique_ptr<int> p = std::move(r).value();
  EXPECT_EQ(*p, 7);
}

TEST(result, void_status) {
  status good;
  EXPECT_TRUE(good.ok());
  status bad = fail(errc::not_found, "gone");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.err().code, errc::not_found);
}

TEST(result, every_code_has_a_name) {
  for (errc c :
       {errc::invalid_argument, errc::not_found, errc::conflict, errc::too_large, errc::unavailable,
        errc::not_leader, errc::timeout, errc::io_error, errc::corruption, errc::internal}) {
    EXPECT_NE(to_string(c), "unknown");
  }
}

TEST(result_death, reading_value_of_error_aborts) {
  auto r = parse_positive(0);
  EXPECT_DEATH((void)r.value(), "value\\(\\) of an error result");
}

}  // namespace
}  // namespace sundial::base
