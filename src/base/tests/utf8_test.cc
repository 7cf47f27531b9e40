// UTF-8 validity: every class of malformed input RFC 3629 names is refused.
#include "base/utf8.h"

#include <gtest/gtest.h>

namespace sundial::base {
namespace {

TEST(utf8, accepts_every_sequence_length) {
  EXPECT_EQ(utf8_sequence_length("a", 0), 1u);
  EXPECT_EQ(utf8_sequence_length("\xc3\xa9", 0), 2u);          // é
  EXPECT_EQ(utf8_sequence_length("\xe2\x82\xac", 0), 3u);      // €
  EXPECT_EQ(utf8_sequence_length("\xf0\x9f\x98\x80", 0), 4u);  // 😀
  EXPECT_EQ(utf8_sequence_length("\xf4\x8f\xbf\xbf", 0), 4u);  // U+10FFFF
  EXPECT_FALSE(text_problem("h\xc3\xa9llo \xe2\x82\xac").has_value());
}

TEST(utf8, refuses_overlongs_surrogates_out_of_range_and_truncation) {
  for (std::string_view bad :
       {"\xc0\xaf", "\xc1\xbf", "\xe0\x80\xaf", "\xf0\x80\x80\xaf", "\xed\xa0\x80", "\xed\xbf\xbf",
        "\xf4\x90\x80\x80", "\xf5\x80\x80\x80", "\xff", "\x80", "\xc3", "\xe2\x82",
        "\xf0\x9f\x98"}) {
    EXPECT_EQ(utf8_sequence_length(bad, 0), 0u) << "accepted " << ::testing::PrintToString(bad);
  }
}

TEST(utf8, decodes_code_points_and_names_the_bad_byte) {
  std::string_view s = "a\xe2\x82\xac";
  std::size_t i = 0;
  EXPECT_EQ(next_code_point(s, i), U'a');
  EXPECT_EQ(next_code_point(s, i), U'\u20ac');
  EXPECT_EQ(i, s.size());
  i = 0;
  EXPECT_FALSE(next_code_point("\xed\xa0\x80", i).has_value());
  EXPECT_EQ(i, 0u);
  EXPECT_EQ(text_problem("ab\xff"), "byte 2 is not valid UTF-8");
  EXPECT_EQ(text_problem(std::string_view("ab\0c", 4)), "byte 2 is NUL");
}

}  // namespace
}  // namespace sundial::base
