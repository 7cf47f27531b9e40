// Both DST policies at real transitions, against instants worked out by hand.
// New York 2026: 02:00 EST -> 03:00 EDT on March 8 (07:00Z); 02:00 EDT -> 01:00 EST on
// November 1 (06:00Z).
#include <gtest/gtest.h>

#include "test_util.h"

namespace sundial::cron {
namespace {

using namespace testing;

const parse_options ny_cron{"America/New_York", 0, dst_policy::cron};
const parse_options ny_wall{"America/New_York", 0, dst_policy::wall};

TEST(dst_cron, time_in_spring_gap_fires_once_at_the_end_of_the_gap) {
  EXPECT_EQ(next_utc("0 30 2 * * *", "2026-03-07T12:00:00Z", 2, ny_cron),
            (strings{"2026-03-08T07:00:00Z", "2026-03-09T06:30:00Z"}));
  EXPECT_EQ(prev_utc("0 30 2 * * *", "2026-03-09T00:00:00Z", 2, ny_cron),
            (strings{"2026-03-08T07:00:00Z", "2026-03-07T07:30:00Z"}));
}

TEST(dst_cron, several_times_in_the_gap_collapse_to_one_fire) {
  EXPECT_EQ(next_utc("0 */15 2 * * *", "2026-03-07T12:00:00Z", 3, ny_cron),
            (strings{"2026-03-08T07:00:00Z", "2026-03-09T06:00:00Z", "2026-03-09T06:15:00Z"}));
  // 02:00 (in the gap) and 03:00 (the end of the gap) are the same instant: one fire.
  EXPECT_EQ(next_utc("0 0 2,3 * * *", "2026-03-07T12:00:00Z", 3, ny_cron),
            (strings{"2026-03-08T07:00:00Z", "2026-03-09T06:00:00Z", "2026-03-09T07:00:00Z"}));
}

TEST(dst_cron, time_in_fall_overlap_fires_once_at_the_first_occurrence) {
  EXPECT_EQ(next_utc("0 30 1 * * *", "2026-10-31T12:00:00Z", 2, ny_cron),
            (strings{"2026-11-01T05:30:00Z", "2026-11-02T06:30:00Z"}));
  EXPECT_EQ(next_utc("0 0,30 1 * * *", "2026-10-31T12:00:00Z", 3, ny_cron),
            (strings{"2026-11-01T05:00:00Z", "2026-11-01T05:30:00Z", "2026-11-02T06:00:00Z"}));
  EXPECT_EQ(prev_utc("0 30 1 * * *", "2026-11-02T00:00:00Z", 2, ny_cron),
            (strings{"2026-11-01T05:30:00Z", "2026-10-31T05:30:00Z"}));
  // Asked from inside the repeated hour, the next run is the next day's.
  EXPECT_EQ(next_utc("0 45 1 * * *", "2026-11-01T06:10:00Z", 1, ny_cron),
            (strings{"2026-11-02T06:45:00Z"}));
}

TEST(dst_cron, hourly_schedules_follow_elapsed_time) {
  // Fall back: 01:30 happens twice and both are an hour apart in real time.
  EXPECT_EQ(next_utc("0 30 * * * *", "2026-11-01T04:00:00Z", 4, ny_cron),
            (strings{"2026-11-01T04:30:00Z", "2026-11-01T05:30:00Z", "2026-11-01T06:30:00Z",
                     "2026-11-01T07:30:00Z"}));
  // Spring forward: 02:30 does not exist; no hour of real time is missed.
  EXPECT_EQ(next_utc("0 30 * * * *", "2026-03-08T05:00:00Z", 3, ny_cron),
            (strings{"2026-03-08T05:30:00Z", "2026-03-08T06:30:00Z", "2026-03-08T07:30:00Z"}));
  EXPECT_EQ(next_utc("@hourly", "2026-11-01T04:30:00Z", 3, ny_cron),
            (strings{"2026-11-01T05:00:00Z", "2026-11-01T06:00:00Z", "2026-11-01T07:00:00Z"}));
}

TEST(dst_wall, skips_the_gap_and_fires_twice_in_the_overlap) {
  EXPECT_EQ(next_utc("0 30 2 * * *", "2026-03-07T12:00:00Z", 1, ny_wall),
            (strings{"2026-03-09T06:30:00Z"}));
  EXPECT_EQ(next_utc("0 30 1 * * *", "2026-10-31T12:00:00Z", 3, ny_wall),
            (strings{"2026-11-01T05:30:00Z", "2026-11-01T06:30:00Z", "2026-11-02T06:30:00Z"}));
  EXPECT_EQ(prev_utc("0 30 1 * * *", "2026-11-02T00:00:00Z", 2, ny_wall),
            (strings{"2026-11-01T06:30:00Z", "2026-11-01T05:30:00Z"}));
  // From inside the second pass the first pass is behind us.
  EXPECT_EQ(prev_utc("0 45 1 * * *", "2026-11-01T06:10:00Z", 1, ny_wall),
            (strings{"2026-11-01T05:45:00Z"}));
}

TEST(dst_other_zones, lord_howe_half_hour_shift) {
  // 2026-10-04 02:00 +10:30 -> 02:30 +11 (2026-10-03T15:30Z).
  const parse_options c{"Australia/Lord_Howe", 0, dst_policy::cron};
  const parse_options w{"Australia/Lord_Howe", 0, dst_policy::wall};
  EXPECT_EQ(next_utc("0 15 2 * * *", "2026-10-03T00:00:00Z", 2, c),
            (strings{"2026-10-03T15:30:00Z", "2026-10-04T15:15:00Z"}));
  EXPECT_EQ(next_utc("0 15 2 * * *", "2026-10-03T00:00:00Z", 1, w),
            (strings{"2026-10-04T15:15:00Z"}));
  // 2026-04-05 02:00 +11 -> 01:30 +10:30 (2026-04-04T15:00Z): 01:45 happens twice.
  EXPECT_EQ(next_utc("0 45 1 * * *", "2026-04-04T00:00:00Z", 2, c),
            (strings{"2026-04-04T14:45:00Z", "2026-04-05T15:15:00Z"}));
  EXPECT_EQ(next_utc("0 45 1 * * *", "2026-04-04T00:00:00Z", 2, w),
            (strings{"2026-04-04T14:45:00Z", "2026-04-04T15:15:00Z"}));
}

TEST(dst_other_zones, chatham_quarter_hour_offsets) {
  // 2026-04-05 03:45 +13:45 -> 02:45 +12:45 (2026-04-04T14:00Z).
  const parse_options c{"Pacific/Chatham", 0, dst_policy::cron};
  const parse_options w{"Pacific/Chatham", 0, dst_policy::wall};
  EXPECT_EQ(next_utc("0 0 3 * * *", "2026-04-04T00:00:00Z", 2, c),
            (strings{"2026-04-04T13:15:00Z", "2026-04-05T14:15:00Z"}));
  EXPECT_EQ(next_utc("0 0 3 * * *", "2026-04-04T00:00:00Z", 2, w),
            (strings{"2026-04-04T13:15:00Z", "2026-04-04T14:15:00Z"}));
  // 2026-09-27 02:45 +12:45 -> 03:45 +13:45 (2026-09-26T14:00Z): 03:00 does not exist.
  EXPECT_EQ(next_utc("0 0 3 * * *", "2026-09-26T00:00:00Z", 1, c),
            (strings{"2026-09-26T14:00:00Z"}));
  EXPECT_EQ(next_utc("0 0 3 * * *", "2026-09-26T00:00:00Z", 1, w),
            (strings{"2026-09-27T13:15:00Z"}));
}

TEST(dst_other_zones, london_and_kolkata) {
  const parse_options c{"Europe/London", 0, dst_policy::cron};
  const parse_options w{"Europe/London", 0, dst_policy::wall};
  // 2026-03-29 01:00 GMT -> 02:00 BST.
  EXPECT_EQ(next_utc("0 30 1 * * *", "2026-03-28T12:00:00Z", 1, c),
            (strings{"2026-03-29T01:00:00Z"}));
  EXPECT_EQ(next_utc("0 30 1 * * *", "2026-03-28T12:00:00Z", 1, w),
            (strings{"2026-03-30T00:30:00Z"}));
  EXPECT_EQ(next_utc("0 0 9 * * *", "2026-03-28T12:00:00Z", 2, {"Asia/Kolkata"}),
            (strings{"2026-03-29T03:30:00Z", "2026-03-30T03:30:00Z"}));
}

TEST(dst_other_zones, midnight_gap_keeps_daily_jobs_under_cron_policy) {
  // Santiago moves its clocks at midnight: one day a year has no 00:00.
  const schedule c = must_parse("@daily", {"America/Santiago", 0, dst_policy::cron});
  const schedule w = must_parse("@daily", {"America/Santiago", 0, dst_policy::wall});
  const instant from = at("2026-01-01T12:00:00Z");
  const instant to = at("2027-01-01T12:00:00Z");
  auto count = [&](const schedule& s) {
    int n = 0;
    for (auto t = s.next(from); t && *t < to; t = s.next(*t))
      ++n;
    return n;
  };
  EXPECT_EQ(count(c), 365);
  EXPECT_EQ(count(w), 364);
}

TEST(dst_after_2037, rules_continue_past_the_tzdata_table) {
  // 2040: DST starts March 11 and ends November 4 in New York.
  EXPECT_EQ(next_utc("0 30 2 * * *", "2040-03-10T12:00:00Z", 2, ny_cron),
            (strings{"2040-03-11T07:00:00Z", "2040-03-12T06:30:00Z"}));
  EXPECT_EQ(next_utc("0 30 1 * * *", "2040-11-03T12:00:00Z", 3, ny_wall),
            (strings{"2040-11-04T05:30:00Z", "2040-11-04T06:30:00Z", "2040-11-05T06:30:00Z"}));
  EXPECT_EQ(next_utc("0 0 12 1 7 *", "2100-01-01T00:00:00Z", 1, ny_cron),
            (strings{"2100-07-01T16:00:00Z"}));
}

TEST(dst_policy_flag, leaves_utc_and_non_dst_zones_alone) {
  for (const char* zone : {"UTC", "Asia/Kolkata"}) {
    EXPECT_EQ(next_utc("0 30 2 * * *", "2026-03-07T12:00:00Z", 5, {zone, 0, dst_policy::cron}),
              next_utc("0 30 2 * * *", "2026-03-07T12:00:00Z", 5, {zone, 0, dst_policy::wall}));
  }
}

}  // namespace
}  // namespace sundial::cron
