#include <gtest/gtest.h>

#include "cron/schedule.h"

namespace sundial::cron {
namespace {

using std::chrono::seconds;

TEST(duration, go_forms) {
  struct good {
    const char* text;
    long long secs;
  };
  for (auto [text, secs] :
       {good{"10s", 10}, good{"1h30m", 5400}, good{"1.5h", 5400}, good{"90m", 5400},
        good{"2h45m30s", 9930}, good{"1d", 86400}, good{"1000ms", 1}, good{"1h0m0s", 3600},
        good{"+5m", 300}, good{"0.5m", 30}, good{"1500000us", -1}}) {
    auto d = parse_duration(text);
    if (secs < 0) {
      EXPECT_FALSE(d.ok()) << text;
      continue;
    }
    ASSERT_TRUE(d.ok()) << text << ": " << d.err().message;
    EXPECT_EQ(*d, seconds{secs}) << text;
  }
}

TEST(duration, refuses_with_a_reason) {
  struct bad {
    const char* text;
    const char* why;
  };
  for (auto [text, why] :
       {bad{"", "empty"}, bad{"5", "needs a unit"}, bad{"5x", "unknown unit"},
        bad{"h", "expected a number"}, bad{"-1s", "negative"}, bad{"0s", "at least 1s"},
        bad{"500ms", "whole number of seconds"}, bad{"1000000h", "100 years"},
        bad{"99999999999999999999s", "100 years"}, bad{"1h 30m", "expected a number"}}) {
    auto d = parse_duration(text);
    ASSERT_FALSE(d.ok()) << text;
    EXPECT_NE(d.err().message.find(why), std::string::npos) << text << " -> " << d.err().message;
  }
}

TEST(duration, formats_for_people) {
  EXPECT_EQ(format_duration(seconds{5400}), "1h30m0s");
  EXPECT_EQ(format_duration(seconds{90}), "1m30s");
  EXPECT_EQ(format_duration(seconds{5}), "5s");
}

}  // namespace
}  // namespace sundial::cron
