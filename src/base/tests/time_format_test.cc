#include "base/time_format.h"

#include <gtest/gtest.h>

namespace sundial::base {
namespace {

using namespace std::chrono;

TEST(time_format, formats_utc) {
  EXPECT_EQ(format_rfc3339_utc(sys_seconds{0s}), "1970-01-01T00:00:00Z");
  EXPECT_EQ(format_rfc3339_utc(sys_days{2026y / 11 / 21} + 14h + 5min + 9s),
            "2026-11-21T14:05:09Z");
}

TEST(time_format, formats_local_with_offset) {
  const sys_seconds t = sys_days{2026y / 11 / 21} + 14h;
  EXPECT_EQ(format_rfc3339_local(t, -5h), "2026-11-21T09:00:00-05:00");
  EXPECT_EQ(format_rfc3339_local(t, 12h + 45min), "2026-11-22T02:45:00+12:45");
  EXPECT_EQ(format_rfc3339_local(t, 0s), "2026-11-21T14:00:00+00:00");
}

TEST(time_format, parses_forms) {
  auto a = parse_rfc3339("2026-11-21T09:00:00Z");
  ASSERT_TRUE(a.ok()) << a.err().message;
  EXPECT_EQ(*a, sys_days{2026y / 11 / 21} + 9h);
  auto b = parse_rfc3339("2026-11-21t04:00:00-05:00");
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(*b, sys_days{2026y / 11 / 21} + 9h);
  auto c = parse_rfc3339("2026-11-21 09:00:00.25+00:00");
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(*c, sys_days{2026y / 11 / 21} + 9h + 250ms);
  auto far = parse_rfc3339("9999-12-31T23:59:59.1234567Z");
  ASSERT_TRUE(far.ok());
  EXPECT_EQ(floor<seconds>(*far), sys_days{9999y / 12 / 31} + 23h + 59min + 59s);
  EXPECT_EQ(*far - floor<seconds>(*far), 123456us);
  auto d = parse_rfc3339("2024-02-29T23:59:59+05:30");
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(*d, sys_days{2024y / 2 / 29} + 18h + 29min + 59s);
}

TEST(time_format, rejects_bad_text_with_reason) {
  struct bad_case {
    const char* text;
    const char* why;
  };
  for (auto [text, why] :
       {bad_case{"", "YYYY-MM-DD"}, bad_case{"2026-13-01T00:00:00Z", "month"},
        bad_case{"2026-02-29T00:00:00Z", "no such day"}, bad_case{"2026-01-01T24:00:00Z", "hour"},
        bad_case{"2026-01-01T00:60:00Z", "minute"}, bad_case{"2026-01-01T00:00:60Z", "leap second"},
        bad_case{"2026-01-01T00:00:00", "offset"}, bad_case{"2026-01-01T00:00:00+5", "offset"},
        bad_case{"2026-01-01T00:00:00Zjunk", "unexpected text"},
        bad_case{"2026-01-01X00:00:00Z", "separated"},
        bad_case{"2026-01-01T00:00:00.Z", "digits"}}) {
    auto r = parse_rfc3339(text);
    ASSERT_FALSE(r.ok()) << text;
    EXPECT_EQ(r.err().code, errc::invalid_argument);
    EXPECT_NE(r.err().message.find(why), std::string::npos) << text << " -> " << r.err().message;
  }
}

TEST(time_format, round_trips) {
  for (std::int64_t s : {0LL, 1LL, 951782400LL, 1700000000LL, 4102444799LL, -86400LL}) {
    const sys_seconds t{seconds{s}};
    auto back = parse_rfc3339(format_rfc3339_utc(t));
    ASSERT_TRUE(back.ok());
    EXPECT_EQ(*back, t);
  }
}

}  // namespace
}  // namespace sundial::base
