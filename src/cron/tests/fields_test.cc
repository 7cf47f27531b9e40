// Parsing: every form is accepted, every mistake gets an error naming field, text and range.
#include <gtest/gtest.h>

#include "test_util.h"

namespace sundial::cron {
namespace {

using namespace testing;

TEST(cron_errors, name_the_field_by_position_value_and_range) {
  EXPECT_EQ(parse_error("0 0 0 32 * *"), "field 4 (day of month): 32 is out of range 1-31");
  EXPECT_EQ(parse_error("0 0 32 * *"), "field 3 (day of month): 32 is out of range 1-31");
  EXPECT_EQ(parse_error("60 * * * * *"), "field 1 (second): 60 is out of range 0-59");
  EXPECT_EQ(parse_error("* 24 * * *"), "field 2 (hour): 24 is out of range 0-23");
  EXPECT_EQ(parse_error("* * * 13 *"), "field 4 (month): 13 is out of range 1-12");
  EXPECT_EQ(parse_error("* * * 0 *"), "field 4 (month): 0 is out of range 1-12");
  EXPECT_EQ(parse_error("* * * * 8"), "field 5 (day of week): 8 is out of range 0-7");
  EXPECT_EQ(parse_error("* * 0 * *"), "field 3 (day of month): 0 is out of range 1-31");
  EXPECT_EQ(parse_error("99999999 * * * *"), "field 1 (minute): 99999999 is out of range 0-59");
}

TEST(cron_errors, explain_malformed_items) {
  EXPECT_EQ(parse_error("* * * FOO *"),
            "field 4 (month): \"FOO\" is not a number or a name (JAN-DEC)");
  EXPECT_EQ(parse_error("* * * * FUNDAY"),
            "field 5 (day of week): \"FUNDAY\" is not a number or a name (SUN-SAT)");
  EXPECT_EQ(parse_error("x * * * *"), "field 1 (minute): \"X\" is not a number");
  EXPECT_EQ(parse_error("*/0 * * * *"), "field 1 (minute): step 0 must be at least 1");
  EXPECT_EQ(parse_error("*/61 * * * *"), "field 1 (minute): step 61 is larger than the range 0-59");
  EXPECT_EQ(parse_error("*/x * * * *"), "field 1 (minute): step \"X\" is not a number");
  EXPECT_EQ(parse_error("1/2/3 * * * *"), "field 1 (minute): \"1/2/3\" has more than one '/'");
  EXPECT_EQ(parse_error("/5 * * * *"), "field 1 (minute): \"/5\" needs a value before '/'");
  EXPECT_EQ(parse_error("5-3 * * * *"), "field 1 (minute): range start 5 is after its end 3");
  EXPECT_EQ(parse_error("1,,2 * * * *"),
            "field 1 (minute): empty list item (a doubled or trailing comma?)");
  EXPECT_EQ(parse_error("1, * * * *").substr(0, 40), "field 1 (minute): empty list item (a dou");
  EXPECT_EQ(parse_error("? * * * *"),
            "field 1 (minute): '?' is only allowed in day of month and day of week");
  EXPECT_EQ(parse_error("H(5) * * * *"),
            "field 1 (minute): \"H(5)\" needs a range inside H(), e.g. H(0-29)");
  EXPECT_EQ(parse_error("H(9-3) * * * *"), "field 1 (minute): range start 9 is after its end 3");
}

TEST(cron_errors, explain_quartz_forms) {
  EXPECT_EQ(parse_error("0 0 * * L"),
            "field 5 (day of week): \"L\" in day of week needs a day before it, e.g. 5L (the "
            "last Friday)");
  EXPECT_EQ(parse_error("0 0 * * 1#6"),
            "field 5 (day of week): \"1#6\": the week in w#k must be 1-5");
  EXPECT_EQ(parse_error("0 0 * * 1#0"),
            "field 5 (day of week): \"1#0\": the week in w#k must be 1-5");
  EXPECT_EQ(parse_error("0 0 L-31 * *"),
            "field 3 (day of month): \"L-31\": the offset in L-n must be 0-30");
  EXPECT_EQ(parse_error("0 0 1-5W * *"),
            "field 3 (day of month): \"1-5W\": W takes one day of the month, e.g. 15W");
  EXPECT_EQ(parse_error("0 0 32W * *"), "field 3 (day of month): 32 is out of range 1-31");
  EXPECT_EQ(parse_error("0 0 L/2 * *"), "field 3 (day of month): a step cannot follow \"L\"");
  EXPECT_EQ(parse_error("0 0 * * 9L"), "field 5 (day of week): 9 is out of range 0-7");
}

TEST(cron_errors, explain_the_whole_expression) {
  EXPECT_EQ(parse_error("* * * *"),
            "expected 5 fields (minute hour day-of-month month day-of-week) or 6 (with seconds "
            "first), got 4");
  EXPECT_NE(parse_error("* * * * * * *").find("got 7"), std::string::npos);
  EXPECT_NE(parse_error("1 2 3 4 5 6 7 8 9 10 11").find("got more than 7"), std::string::npos);
  EXPECT_EQ(parse_error(""), "the schedule is empty");
  EXPECT_EQ(parse_error("   "), "the schedule is empty");
  EXPECT_EQ(parse_error(std::string(2000, '*')), "the schedule is longer than 1024 characters");
  EXPECT_NE(parse_error("@fortnightly").find("unknown descriptor \"@fortnightly\""),
            std::string::npos);
  EXPECT_EQ(parse_error("@daily now"), "@daily takes no argument, got \"now\"");
  EXPECT_EQ(parse_error("@manually please"), "@manually takes no argument, got \"please\"");
  EXPECT_EQ(parse_error("@every"), "@every needs a duration, e.g. @every 1h30m");
  EXPECT_NE(parse_error("@every 5x").find("unknown unit"), std::string::npos);
  EXPECT_NE(parse_error("@every 0s").find("at least 1s"), std::string::npos);
  EXPECT_NE(parse_error("@every 1.5s").find("whole number of seconds"), std::string::npos);
  EXPECT_EQ(parse_error("@at"), "@at needs an RFC 3339 time, e.g. @at 2026-12-01T09:00:00Z");
  EXPECT_NE(parse_error("@at tomorrow").find("is not an RFC 3339 time"), std::string::npos);
  EXPECT_NE(parse_error("TZ=Mars/Base 0 0 * * *").find("unknown time zone \"Mars/Base\""),
            std::string::npos);
  EXPECT_EQ(parse_error("TZ=Europe/Paris"), "TZ=Europe/Paris must be followed by a schedule");
  EXPECT_NE(parse_error("0 0 * * *", {"No/Where"}).find("unknown time zone"), std::string::npos);
  EXPECT_NE(parse_error("0 0 * * *", {"../../etc/passwd"}).find("unknown time zone"),
            std::string::npos);
}

TEST(cron_parse, accepts_every_form) {
  for (const char* text : {"* * * * *",
                           "* * * * * *",
                           "0 30 9 * * MON-FRI",
                           "0 0 9 ? * mon,wed,fri",
                           "0 0 0 1 JAN-DEC/2 *",
                           "*/5 1-10/3,20,40-45 * * * *",
                           "0 50/4 * * * *",
                           "0 0 0 L * ?",
                           "0 0 0 L-3 * ?",
                           "0 0 0 LW * ?",
                           "0 0 0 15W * ?",
                           "0 0 0 ? * 5L",
                           "0 0 0 ? * FRIL",
                           "0 0 0 ? * MON#2",
                           "0 0 0 ? * 1#5",
                           "H H * * *",
                           "H(0-29)/10 H(9-17) * * *",
                           "~ 3~7 * * *",
                           "H/15 * * * *",
                           "0 0 H * *",
                           "0 0 0 * * 7",
                           "0 0 0 * * 0-7",
                           "@yearly",
                           "@annually",
                           "@monthly",
                           "@weekly",
                           "@daily",
                           "@midnight",
                           "@hourly",
                           "@minutely",
                           "@DAILY",
                           "@every 10s",
                           "@every 1h30m",
                           "@at 2026-12-01T09:00:00Z",
                           "@manually",
                           "TZ=Europe/Paris 0 9 * * *",
                           "CRON_TZ=Asia/Kolkata @daily",
                           "  0 9 * * *  ",
                           "0\t9\t*\t*\t*",
                           "0 0 0 13 * FRI",
                           "0 0 0 L,15 * ?",
                           "0 0 0 ? * 1L,5#3,SAT"}) {
    auto s = parse(text);
    EXPECT_TRUE(s.ok()) << text << ": " << (s.ok() ? "" : s.err().message);
  }
}

TEST(cron_parse, equivalent_spellings_fire_alike) {
  const char* from = "2026-01-01T00:00:00Z";
  EXPECT_EQ(next_utc("0 0 0 ? jan mon", from, 6), next_utc("0 0 0 ? 1 1", from, 6));
  EXPECT_EQ(next_utc("0 0 0 ? * 7", from, 6), next_utc("0 0 0 ? * 0", from, 6));
  EXPECT_EQ(next_utc("0 0 0 ? * SUN", from, 6), next_utc("0 0 0 ? * 0", from, 6));
  EXPECT_EQ(next_utc("0 0 0 ? * 5-7", from, 9), next_utc("0 0 0 ? * 0,5,6", from, 9));
  EXPECT_EQ(next_utc("30 9 * * *", from, 4), next_utc("0 30 9 * * *", from, 4));
  EXPECT_EQ(next_utc("@daily", from, 4), next_utc("0 0 * * *", from, 4));
  EXPECT_EQ(next_utc("@midnight", from, 4), next_utc("@daily", from, 4));
  EXPECT_EQ(next_utc("@annually", from, 2), next_utc("@yearly", from, 2));
  EXPECT_EQ(next_utc("0 0 0 ? * FRIL", from, 3), next_utc("0 0 0 ? * 5L", from, 3));
}

}  // namespace
}  // namespace sundial::cron
