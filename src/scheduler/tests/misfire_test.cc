// The misfire policies (SEMANTICS.md, "Missed runs"): the decision table on its own, then
// through due() with windows, max_catchup and DST days in New York.
#include "scheduler/misfire.h"

#include <gtest/gtest.h>

#include "scheduler/due.h"
#include "test_util.h"

namespace sundial::scheduler {
namespace {

using namespace testing;

missed_slots sample() {
  missed_slots m;
  m.newest = {100, 200, 300};
  m.in_window = 5;  // two older in-window slots were not kept
  m.too_old = 7;
  return m;
}

TEST(decide_misfire, run_once_merges_the_window_into_the_newest_slot) {
  const misfire_decision d = decide_misfire(misfire_policy::run_once, 100, sample());
  EXPECT_EQ(d.launches, (std::vector<catchup_launch>{{300, 5}}));
  EXPECT_EQ(d.skipped, 7u);
  EXPECT_FALSE(d.lower_bound);
  EXPECT_EQ(slots_needed(misfire_policy::run_once, 100), 1u);
}

TEST(decide_misfire, run_all_launches_the_newest_max_catchup_oldest_first) {
  misfire_decision d = decide_misfire(misfire_policy::run_all, 2, sample());
  EXPECT_EQ(d.launches, (std::vector<catchup_launch>{{200, 1}, {300, 1}}));
  EXPECT_EQ(d.skipped, 7u + 3u);
  d = decide_misfire(misfire_policy::run_all, 10, sample());
  EXPECT_EQ(d.launches.size(), 3u);
  EXPECT_EQ(d.skipped, 7u + 2u);
  d = decide_misfire(misfire_policy::run_all, 0, sample());
  EXPECT_TRUE(d.launches.empty());
  EXPECT_EQ(d.skipped, 12u);
  EXPECT_EQ(slots_needed(misfire_policy::run_all, 42), 42u);
}

TEST(decide_misfire, skip_launches_nothing_and_counts_everything) {
  const misfire_decision d = decide_misfire(misfire_policy::skip, 100, sample());
  EXPECT_TRUE(d.launches.empty());
  EXPECT_EQ(d.skipped, 12u);
  EXPECT_EQ(slots_needed(misfire_policy::skip, 100), 0u);
}

TEST(decide_misfire, all_too_old_or_nothing_missed) {
  missed_slots old;
  old.too_old = 3;
  for (auto p : {misfire_policy::run_once, misfire_policy::run_all, misfire_policy::skip}) {
    const misfire_decision d = decide_misfire(p, 100, old);
    EXPECT_TRUE(d.launches.empty());
    EXPECT_EQ(d.skipped, 3u);
    EXPECT_TRUE(decide_misfire(p, 100, missed_slots{}).launches.empty());
  }
}

TEST(decide_misfire, lower_bound_is_passed_on) {
  missed_slots m = sample();
  m.lower_bound = true;
  EXPECT_TRUE(decide_misfire(misfire_policy::skip, 1, m).lower_bound);
}

// Through due(): an hourly job whose leader was gone for 5h30m, 1h window by default.
TEST(misfire, window_limits_what_is_caught_up) {
  job_timing j = make_job("0 0 * * * *");
  const std::int64_t last = us("2026-01-01T00:00:00Z");
  const std::int64_t now = us("2026-01-01T05:30:00Z");
  // Missed 01:00 .. 05:00; only 05:00 is within an hour of now.
  due_slots d = due(j, last, 0, now);
  EXPECT_EQ(d.catchup, (std::vector<catchup_launch>{{us("2026-01-01T05:00:00Z"), 1}}));
  EXPECT_EQ(d.skipped, 4u);
  j.catchup_window_us = 3 * hour;  // 02:30 onwards: 03:00, 04:00, 05:00
  d = due(j, last, 0, now);
  EXPECT_EQ(d.catchup, (std::vector<catchup_launch>{{us("2026-01-01T05:00:00Z"), 3}}));
  EXPECT_EQ(d.skipped, 2u);
  j.misfire = misfire_policy::run_all;
  d = due(j, last, 0, now);
  EXPECT_EQ(d.catchup, (std::vector<catchup_launch>{{us("2026-01-01T03:00:00Z"), 1},
                                                    {us("2026-01-01T04:00:00Z"), 1},
                                                    {us("2026-01-01T05:00:00Z"), 1}}));
  EXPECT_EQ(d.skipped, 2u);
  j.max_catchup = 2;
  d = due(j, last, 0, now);
  EXPECT_EQ(d.catchup, (std::vector<catchup_launch>{{us("2026-01-01T04:00:00Z"), 1},
                                                    {us("2026-01-01T05:00:00Z"), 1}}));
  EXPECT_EQ(d.skipped, 3u);
  j.misfire = misfire_policy::skip;
  d = due(j, last, 0, now);
  EXPECT_TRUE(d.catchup.empty());
  EXPECT_EQ(d.skipped, 5u);
  EXPECT_EQ(utc(d.last_slot_us), "2026-01-01T05:00:00Z");
  j.catchup_window_us = 0;  // no window: everything missed is skipped, whatever the policy
  j.misfire = misfire_policy::run_once;
  d = due(j, last, 0, now);
  EXPECT_TRUE(d.catchup.empty());
  EXPECT_EQ(d.skipped, 5u);
}

TEST(misfire, window_bound_is_inclusive) {
  job_timing j = make_job("0 0 * * * *");
  j.misfire = misfire_policy::run_all;
  const std::int64_t last = us("2026-01-01T00:00:00Z");
  const due_slots d = due(j, last, 0, us("2026-01-01T03:00:00Z") + j.catchup_window_us);
  EXPECT_EQ(utc(d.catchup.front().slot_us), "2026-01-01T03:00:00Z");
  EXPECT_EQ(d.skipped, 2u);
}

// `0 30 2 * * *` in New York across the spring-forward gap (2026-03-08, 02:00 EST -> 03:00
// EDT): under the cron policy the 8th's slot is 07:00Z (the end of the gap), under wall it
// does not exist. Missed counts follow the engine's instants.
TEST(misfire, spring_forward_day_in_new_york) {
  job_timing j = make_job("0 30 2 * * *", "America/New_York");
  j.catchup_window_us = 7 * day;
  const std::int64_t last = us("2026-03-06T07:30:00Z");
  const std::int64_t now = us("2026-03-10T12:00:00Z");
  j.misfire = misfire_policy::run_all;
  due_slots d = due(j, last, 0, now);
  std::vector<std::int64_t> slots;
  for (const auto& c : d.catchup)
    slots.push_back(c.slot_us);
  EXPECT_EQ(utc(slots), (strings{"2026-03-07T07:30:00Z", "2026-03-08T07:00:00Z",
                                 "2026-03-09T06:30:00Z", "2026-03-10T06:30:00Z"}));
  j.misfire = misfire_policy::run_once;
  d = due(j, last, 0, now);
  EXPECT_EQ(d.catchup, (std::vector<catchup_launch>{{us("2026-03-10T06:30:00Z"), 4}}));
  j.misfire = misfire_policy::skip;
  EXPECT_EQ(due(j, last, 0, now).skipped, 4u);

  // A 30h window ends between the 8th's slot and the 7th's.
  j.misfire = misfire_policy::run_once;
  j.catchup_window_us = 30 * hour;
  d = due(j, last, 0, us("2026-03-09T12:00:00Z"));
  EXPECT_EQ(d.catchup, (std::vector<catchup_launch>{{us("2026-03-09T06:30:00Z"), 2}}));
  EXPECT_EQ(d.skipped, 1u);

  job_timing wall = make_job("0 30 2 * * *", "America/New_York", cron::dst_policy::wall);
  wall.catchup_window_us = 7 * day;
  wall.misfire = misfire_policy::run_once;
  d = due(wall, last, 0, now);
  EXPECT_EQ(d.catchup, (std::vector<catchup_launch>{{us("2026-03-10T06:30:00Z"), 3}}));
}

// The fall-back overlap (2026-11-01, 02:00 EDT -> 01:00 EST): 01:30 happens twice. Under cron
// it fires once (05:30Z), under wall twice (05:30Z and 06:30Z).
TEST(misfire, fall_back_day_in_new_york) {
  const std::int64_t last = us("2026-10-30T05:30:00Z");
  const std::int64_t now = us("2026-11-02T12:00:00Z");
  job_timing cron_job = make_job("0 30 1 * * *", "America/New_York");
  cron_job.catchup_window_us = 7 * day;
  cron_job.misfire = misfire_policy::run_all;
  due_slots d = due(cron_job, last, 0, now);
  std::vector<std::int64_t> slots;
  for (const auto& c : d.catchup)
    slots.push_back(c.slot_us);
  EXPECT_EQ(utc(slots),
            (strings{"2026-10-31T05:30:00Z", "2026-11-01T05:30:00Z", "2026-11-02T06:30:00Z"}));

  job_timing wall = make_job("0 30 1 * * *", "America/New_York", cron::dst_policy::wall);
  wall.catchup_window_us = 7 * day;
  wall.misfire = misfire_policy::run_once;
  d = due(wall, last, 0, now);
  EXPECT_EQ(d.catchup, (std::vector<catchup_launch>{{us("2026-11-02T06:30:00Z"), 4}}));
  wall.misfire = misfire_policy::skip;
  EXPECT_EQ(due(wall, last, 0, now).skipped, 4u);

  // `0 30 2 * * *` is outside the repeated hour: one slot a day (10-30 06:30Z, 10-31 06:30Z,
  // then 07:30Z on EST days).
  job_timing two_thirty = make_job("0 30 2 * * *", "America/New_York");
  two_thirty.catchup_window_us = 7 * day;
  EXPECT_EQ(due(two_thirty, last, 0, now).catchup,
            (std::vector<catchup_launch>{{us("2026-11-02T07:30:00Z"), 4}}));
}

}  // namespace
}  // namespace sundial::scheduler
