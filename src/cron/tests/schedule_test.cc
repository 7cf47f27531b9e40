// The language, form by form, against instants worked out by hand (UTC unless a zone is named).
#include <gtest/gtest.h>

#include <set>

#include "cron/hash.h"
#include "test_util.h"

namespace sundial::cron {
namespace {

using namespace testing;

TEST(cron_next, five_fields_mean_second_zero) {
  EXPECT_EQ(next_utc("*/15 * * * *", "2026-01-01T00:07:30Z", 4),
            (strings{"2026-01-01T00:15:00Z", "2026-01-01T00:30:00Z", "2026-01-01T00:45:00Z",
                     "2026-01-01T01:00:00Z"}));
}

TEST(cron_next, seconds_field_comes_first) {
  EXPECT_EQ(next_utc("*/20 * * * * *", "2026-01-01T00:00:00Z", 3),
            (strings{"2026-01-01T00:00:20Z", "2026-01-01T00:00:40Z", "2026-01-01T00:01:00Z"}));
}

TEST(cron_next, is_strictly_after) {
  EXPECT_EQ(next_utc("0 9 * * *", "2026-01-01T09:00:00Z", 1), (strings{"2026-01-02T09:00:00Z"}));
}

TEST(cron_next, lists_ranges_and_steps) {
  EXPECT_EQ(next_utc("0 5,10-20/5,50 * * * *", "2026-01-01T00:00:00Z", 6),
            (strings{"2026-01-01T00:05:00Z", "2026-01-01T00:10:00Z", "2026-01-01T00:15:00Z",
                     "2026-01-01T00:20:00Z", "2026-01-01T00:50:00Z", "2026-01-01T01:05:00Z"}));
  // "a/n" runs from a to the end of the range.
  EXPECT_EQ(next_utc("0 50/4 * * * *", "2026-01-01T00:00:00Z", 4),
            (strings{"2026-01-01T00:50:00Z", "2026-01-01T00:54:00Z", "2026-01-01T00:58:00Z",
                     "2026-01-01T01:50:00Z"}));
}

TEST(cron_next, names_and_weekday_ranges) {
  // 2026-03-27 is a Friday; January to March only.
  EXPECT_EQ(next_utc("0 0 9 * JAN-MAR MON-FRI", "2026-03-27T10:00:00Z", 3),
            (strings{"2026-03-30T09:00:00Z", "2026-03-31T09:00:00Z", "2027-01-01T09:00:00Z"}));
}

TEST(cron_next, restricted_day_of_month_and_week_match_either) {
  // April 2026: Fridays are 3, 10, 17, 24; the 13th is a Monday.
  EXPECT_EQ(next_utc("0 0 0 13 * FRI", "2026-04-01T00:00:00Z", 5),
            (strings{"2026-04-03T00:00:00Z", "2026-04-10T00:00:00Z", "2026-04-13T00:00:00Z",
                     "2026-04-17T00:00:00Z", "2026-04-24T00:00:00Z"}));
}

TEST(cron_next, star_prefixed_day_field_makes_both_required) {
  // '?' or '*' in day of month: only Fridays count.
  EXPECT_EQ(next_utc("0 0 0 ? * FRI", "2026-04-01T00:00:00Z", 1),
            (strings{"2026-04-03T00:00:00Z"}));
  EXPECT_EQ(next_utc("0 0 0 * * FRI", "2026-04-01T00:00:00Z", 1),
            (strings{"2026-04-03T00:00:00Z"}));
  // "*/10" (1, 11, 21, 31) starts with '*': a day must be both; May 1 2026 is a Friday.
  EXPECT_EQ(next_utc("0 0 0 */10 * FRI", "2026-04-01T00:00:00Z", 1),
            (strings{"2026-05-01T00:00:00Z"}));
  // '*' in day of week: only the days of month count.
  EXPECT_EQ(next_utc("0 0 0 13 * *", "2026-04-01T00:00:00Z", 2),
            (strings{"2026-04-13T00:00:00Z", "2026-05-13T00:00:00Z"}));
}

TEST(cron_next, last_day_of_month) {
  EXPECT_EQ(next_utc("0 0 0 L * ?", "2024-01-15T00:00:00Z", 4),
            (strings{"2024-01-31T00:00:00Z", "2024-02-29T00:00:00Z", "2024-03-31T00:00:00Z",
                     "2024-04-30T00:00:00Z"}));
  EXPECT_EQ(next_utc("0 0 0 L-2 * ?", "2026-02-01T00:00:00Z", 2),
            (strings{"2026-02-26T00:00:00Z", "2026-03-29T00:00:00Z"}));
}

TEST(cron_next, last_weekday_of_month) {
  // Jan 31 2026 is a Saturday, Feb 28 a Saturday, Mar 31 a Tuesday.
  EXPECT_EQ(next_utc("0 0 0 LW * ?", "2026-01-01T00:00:00Z", 3),
            (strings{"2026-01-30T00:00:00Z", "2026-02-27T00:00:00Z", "2026-03-31T00:00:00Z"}));
}

TEST(cron_next, nearest_weekday_stays_in_the_month) {
  // Feb 15 2026 is a Sunday -> Monday 16; Aug 15 is a Saturday -> Friday 14.
  EXPECT_EQ(next_utc("0 0 0 15W 2,8 ?", "2026-01-01T00:00:00Z", 2),
            (strings{"2026-02-16T00:00:00Z", "2026-08-14T00:00:00Z"}));
  // Aug 1 2026 is a Saturday: Monday the 3rd, never July 31.
  EXPECT_EQ(next_utc("0 0 0 1W 8 ?", "2026-07-01T00:00:00Z", 1), (strings{"2026-08-03T00:00:00Z"}));
  // May 31 2026 is a Sunday: Friday the 29th. June has no 31st: no fire; July 31 is a Friday.
  EXPECT_EQ(next_utc("0 0 0 31W * ?", "2026-05-01T00:00:00Z", 2),
            (strings{"2026-05-29T00:00:00Z", "2026-07-31T00:00:00Z"}));
}

TEST(cron_next, last_weekday_of_kind) {
  EXPECT_EQ(next_utc("0 0 0 ? * 5L", "2026-01-01T00:00:00Z", 3),
            (strings{"2026-01-30T00:00:00Z", "2026-02-27T00:00:00Z", "2026-03-27T00:00:00Z"}));
}

TEST(cron_next, nth_weekday) {
  EXPECT_EQ(next_utc("0 0 0 ? * MON#2", "2026-01-01T00:00:00Z", 3),
            (strings{"2026-01-12T00:00:00Z", "2026-02-09T00:00:00Z", "2026-03-09T00:00:00Z"}));
  // Only months with five Mondays.
  EXPECT_EQ(next_utc("0 0 0 ? * 1#5", "2026-01-01T00:00:00Z", 2),
            (strings{"2026-03-30T00:00:00Z", "2026-06-29T00:00:00Z"}));
}

TEST(cron_next, leap_day) {
  EXPECT_EQ(next_utc("0 0 0 29 2 ?", "2026-01-01T00:00:00Z", 2),
            (strings{"2028-02-29T00:00:00Z", "2032-02-29T00:00:00Z"}));
  EXPECT_EQ(prev_utc("0 0 0 29 2 ?", "2026-01-01T00:00:00Z", 1), (strings{"2024-02-29T00:00:00Z"}));
  // 2100 is not a leap year.
  EXPECT_EQ(next_utc("0 0 0 29 2 ?", "2097-01-01T00:00:00Z", 1), (strings{"2104-02-29T00:00:00Z"}));
}

TEST(cron_next, year_end) {
  EXPECT_EQ(next_utc("59 59 23 31 12 ?", "2026-06-01T00:00:00Z", 2),
            (strings{"2026-12-31T23:59:59Z", "2027-12-31T23:59:59Z"}));
  EXPECT_EQ(next_utc("0 0 0 1 1 ?", "2026-12-31T23:59:59Z", 1), (strings{"2027-01-01T00:00:00Z"}));
}

TEST(cron_next, impossible_schedule_returns_nothing) {
  for (const char* text : {"0 0 0 30 2 *", "0 0 0 31 4,6,9,11 *", "0 0 0 30,31 2 ?"}) {
    const schedule s = must_parse(text);
    EXPECT_TRUE(s.never_fires()) << text;
    EXPECT_FALSE(s.next(at("2026-01-01T00:00:00Z")).has_value()) << text;
    EXPECT_FALSE(s.prev(at("2026-01-01T00:00:00Z")).has_value()) << text;
    EXPECT_NE(s.describe().find("never fires"), std::string::npos);
  }
  // Rare is not impossible: a fifth Monday in February needs a leap year starting on Monday.
  const schedule rare = must_parse("0 0 0 ? 2 MON#5");
  EXPECT_FALSE(rare.never_fires());
  EXPECT_EQ(next_utc("0 0 0 ? 2 MON#5", "2026-01-01T00:00:00Z", 2),
            (strings{"2044-02-29T00:00:00Z", "2072-02-29T00:00:00Z"}));
}

TEST(cron_next, ends_at_year_9999) {
  EXPECT_TRUE(next_utc("@yearly", "9999-06-01T00:00:00Z", 1).empty());
  EXPECT_TRUE(next_utc("* * * * * *", "9999-12-31T23:59:59Z", 1).empty());
  EXPECT_TRUE(prev_utc("@yearly", "0001-01-01T00:00:00Z", 1).empty());
}

TEST(cron_prev, mirrors_next) {
  // Monday 2026-11-23: the previous weekday 09:30 is Friday the 20th.
  EXPECT_EQ(prev_utc("0 30 9 * * MON-FRI", "2026-11-23T09:30:00Z", 2),
            (strings{"2026-11-20T09:30:00Z", "2026-11-19T09:30:00Z"}));
  EXPECT_EQ(prev_utc("0 0 0 L * ?", "2024-03-15T00:00:00Z", 2),
            (strings{"2024-02-29T00:00:00Z", "2024-01-31T00:00:00Z"}));
}

TEST(cron_descriptors, fire_as_documented) {
  const char* from = "2026-05-05T10:20:30Z";
  EXPECT_EQ(next_utc("@yearly", from, 1), (strings{"2027-01-01T00:00:00Z"}));
  EXPECT_EQ(next_utc("@monthly", from, 1), (strings{"2026-06-01T00:00:00Z"}));
  EXPECT_EQ(next_utc("@weekly", from, 1), (strings{"2026-05-10T00:00:00Z"}));  // Sunday
  EXPECT_EQ(next_utc("@daily", from, 1), (strings{"2026-05-06T00:00:00Z"}));
  EXPECT_EQ(next_utc("@hourly", from, 1), (strings{"2026-05-05T11:00:00Z"}));
  EXPECT_EQ(next_utc("@minutely", from, 1), (strings{"2026-05-05T10:21:00Z"}));
}

TEST(cron_zones, apply_to_every_form_including_descriptors) {
  EXPECT_EQ(next_utc("TZ=Asia/Kolkata @daily", "2026-05-05T00:00:00Z", 1),
            (strings{"2026-05-05T18:30:00Z"}));
  EXPECT_EQ(next_utc("@daily", "2026-05-05T00:00:00Z", 1, {"Asia/Kolkata"}),
            (strings{"2026-05-05T18:30:00Z"}));
  EXPECT_EQ(next_utc("0 0 9 * * *", "2026-07-01T00:00:00Z", 1, {"Europe/Paris"}),
            (strings{"2026-07-01T07:00:00Z"}));
  // The prefix wins over the option.
  EXPECT_EQ(
      next_utc("CRON_TZ=Europe/Paris 0 0 9 * * *", "2026-07-01T00:00:00Z", 1, {"America/New_York"}),
      (strings{"2026-07-01T07:00:00Z"}));
  EXPECT_EQ(must_parse("TZ=Europe/Paris @hourly").time_zone().name(), "Europe/Paris");
  EXPECT_EQ(must_parse("@hourly").time_zone().name(), "UTC");
}

TEST(cron_hash, h_is_stable_per_job_and_spreads_jobs) {
  const parse_options a{"", hash_seed_for("nightly-backup")};
  EXPECT_EQ(next_utc("H H * * *", "2026-01-01T00:00:00Z", 3, a),
            next_utc("H H * * *", "2026-01-01T00:00:00Z", 3, a));
  EXPECT_EQ(next_utc("~ ~ * * *", "2026-01-01T00:00:00Z", 3, a),
            next_utc("H H * * *", "2026-01-01T00:00:00Z", 3, a));
  std::set<std::string> minutes;
  for (int i = 0; i < 100; ++i) {
    const parse_options o{"", hash_seed_for("job-" + std::to_string(i))};
    const auto t = next_utc("H * * * *", "2026-01-01T00:00:00Z", 1, o);
    ASSERT_EQ(t.size(), 1u);
    minutes.insert(t[0]);
  }
  EXPECT_GE(minutes.size(), 40u);  // 100 jobs over 60 minutes: not a herd
}

TEST(cron_hash, ranges_and_steps_stay_in_bounds) {
  for (int i = 0; i < 200; ++i) {
    const parse_options o{"", hash_seed_for("job-" + std::to_string(i))};
    const schedule s = must_parse("0 H(10-20)/5 H(9-17) H * *", o);
    auto t = s.next_n(at("2026-01-01T00:00:00Z"), 4);
    ASSERT_EQ(t.size(), 4u);
    std::set<int> mins;
    for (auto x : t) {
      const auto day = std::chrono::floor<std::chrono::days>(x);
      const std::chrono::hh_mm_ss hms{x - day};
      const auto dom = static_cast<unsigned>(std::chrono::year_month_day{day}.day());
      EXPECT_GE(hms.hours().count(), 9);
      EXPECT_LE(hms.hours().count(), 17);
      EXPECT_GE(hms.minutes().count(), 10);
      EXPECT_LE(hms.minutes().count(), 20);
      EXPECT_LE(dom, 28u);  // H in day of month picks 1-28: every month has it
      mins.insert(static_cast<int>(hms.minutes().count()));
    }
    // H(10-20)/5 starts at 10-14 and steps by 5 up to 20.
    const int first = *mins.begin();
    EXPECT_LE(first, 14);
    std::set<int> expected;
    for (int m = first; m <= 20; m += 5)
      expected.insert(m);
    EXPECT_EQ(mins, expected);
    // OpenBSD-style a~b equals H(a-b).
    EXPECT_EQ(next_utc("0 10~20 9~17 * * *", "2026-01-01T00:00:00Z", 2, o),
              next_utc("0 H(10-20) H(9-17) * * *", "2026-01-01T00:00:00Z", 2, o));
  }
}

TEST(cron_every, keeps_the_interval_with_a_hashed_phase) {
  const parse_options o{"", hash_seed_for("sync")};
  const schedule s = must_parse("@every 1h30m", o);
  EXPECT_EQ(s.kind(), schedule_kind::every);
  const auto t = s.next_n(at("2026-01-01T00:00:00Z"), 4);
  ASSERT_EQ(t.size(), 4u);
  EXPECT_LE(t[0] - at("2026-01-01T00:00:00Z"), std::chrono::seconds{5400});
  for (std::size_t i = 1; i < t.size(); ++i)
    EXPECT_EQ(t[i] - t[i - 1], std::chrono::seconds{5400});
  EXPECT_EQ(s.prev(t[2]), t[1]);
  EXPECT_EQ(s.prev(t[2] + std::chrono::seconds{1}), t[2]);
  EXPECT_EQ(s.next(t[1]), t[2]);
  // The phase does not depend on where the iteration starts.
  EXPECT_EQ(s.next(t[1] - std::chrono::seconds{1}), t[1]);
}

TEST(cron_every, spreads_ten_thousand_jobs_over_the_interval) {
  std::set<std::int64_t> seconds_used;
  for (int i = 0; i < 10000; ++i) {
    const parse_options o{"", hash_seed_for("job-" + std::to_string(i))};
    const auto t = must_parse("@every 1m", o).next(at("2026-01-01T00:00:00Z"));
    ASSERT_TRUE(t.has_value());
    seconds_used.insert(t->time_since_epoch().count() % 60);
  }
  EXPECT_EQ(seconds_used.size(), 60u);  // every second of the minute is used, not just :00
}

TEST(cron_at, fires_once) {
  const schedule s = must_parse("@at 2026-12-01T10:00:00+01:00");
  EXPECT_EQ(s.kind(), schedule_kind::at);
  EXPECT_EQ(s.next(at("2026-11-01T00:00:00Z")), at("2026-12-01T09:00:00Z"));
  EXPECT_FALSE(s.next(at("2026-12-01T09:00:00Z")).has_value());
  EXPECT_EQ(s.prev(at("2027-01-01T00:00:00Z")), at("2026-12-01T09:00:00Z"));
  EXPECT_FALSE(s.prev(at("2026-12-01T09:00:00Z")).has_value());
  // A fraction of a second rounds up: never early.
  EXPECT_EQ(must_parse("@at 2026-12-01T09:00:00.2Z").next(at("2026-11-01T00:00:00Z")),
            at("2026-12-01T09:00:01Z"));
}

TEST(cron_manually, never_fires_by_itself) {
  const schedule s = must_parse("@manually");
  EXPECT_EQ(s.kind(), schedule_kind::manually);
  EXPECT_FALSE(s.next(at("2026-01-01T00:00:00Z")).has_value());
  EXPECT_FALSE(s.prev(at("2026-01-01T00:00:00Z")).has_value());
}

TEST(cron_describe, says_what_it_is) {
  EXPECT_EQ(must_parse("0 9 * * *", {"Europe/Paris"}).describe(),
            "cron \"0 9 * * *\" in Europe/Paris, dst policy cron");
  EXPECT_EQ(must_parse("@every 90m").describe().substr(0, 14), "every 1h30m0s ");
  EXPECT_EQ(must_parse("@at 2026-12-01T09:00:00Z").describe(), "once at 2026-12-01T09:00:00Z");
  EXPECT_EQ(parse_dst_policy("wall").value(), dst_policy::wall);
  EXPECT_FALSE(parse_dst_policy("summer").ok());
}

}  // namespace
}  // namespace sundial::cron
