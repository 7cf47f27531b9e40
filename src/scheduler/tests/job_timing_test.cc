// next_slot / prev_slot: the job-level rules on top of the schedule engine.
#include "scheduler/job_timing.h"

#include <gtest/gtest.h>

#include "test_util.h"

namespace sundial::scheduler {
namespace {

using namespace testing;

TEST(next_slot, follows_the_schedule_strictly_after) {
  const job_timing j = make_job("0 */15 * * * *");
  EXPECT_EQ(utc(*next_slot(j, us("2026-01-01T10:00:00Z"))), "2026-01-01T10:15:00Z");
  EXPECT_EQ(utc(*next_slot(j, us("2026-01-01T10:14:59.999999Z"))), "2026-01-01T10:15:00Z");
  EXPECT_EQ(utc(*next_slot(j, us("2026-01-01T10:15:00Z"))), "2026-01-01T10:30:00Z");
  EXPECT_EQ(utc(*next_slot(j, us("2026-01-01T10:15:00.000001Z"))), "2026-01-01T10:30:00Z");
}

TEST(prev_slot, is_the_last_slot_strictly_before) {
  const job_timing j = make_job("0 */15 * * * *");
  EXPECT_EQ(utc(*prev_slot(j, us("2026-01-01T10:15:00Z"))), "2026-01-01T10:00:00Z");
  EXPECT_EQ(utc(*prev_slot(j, us("2026-01-01T10:15:00.000001Z"))), "2026-01-01T10:15:00Z");
  EXPECT_EQ(utc(*prev_slot(j, us("2026-01-01T10:29:59Z"))), "2026-01-01T10:15:00Z");
}

TEST(next_slot, before_the_epoch) {
  const job_timing j = make_job("* * * * * *");
  EXPECT_EQ(next_slot(j, -1'500'000), -1'000'000);
  EXPECT_EQ(next_slot(j, -1'000'000), 0);
  EXPECT_EQ(prev_slot(j, -1'000'000), -2'000'000);
  EXPECT_EQ(prev_slot(j, -999'999), -1'000'000);
}

TEST(next_slot, starts_at_is_inclusive_and_nothing_comes_before_it) {
  job_timing j = make_job("@hourly");
  j.starts_at_us = us("2026-05-01T12:00:00Z");
  EXPECT_EQ(utc(*next_slot(j, us("2026-01-01T00:00:00Z"))), "2026-05-01T12:00:00Z");
  EXPECT_EQ(utc(*next_slot(j, us("2026-05-01T12:00:00Z"))), "2026-05-01T13:00:00Z");
  j.starts_at_us = us("2026-05-01T12:30:00Z");
  EXPECT_EQ(utc(*next_slot(j, 0)), "2026-05-01T13:00:00Z");
  EXPECT_EQ(prev_slot(j, us("2026-05-01T13:00:00Z")), std::nullopt);
  EXPECT_EQ(utc(*prev_slot(j, us("2026-05-01T13:00:01Z"))), "2026-05-01T13:00:00Z");
}

TEST(next_slot, expires_at_is_inclusive_and_nothing_comes_after_it) {
  job_timing j = make_job("@hourly");
  j.expires_at_us = us("2026-05-01T12:00:00Z");
  EXPECT_EQ(utc(*next_slot(j, us("2026-05-01T11:00:00Z"))), "2026-05-01T12:00:00Z");
  EXPECT_EQ(next_slot(j, us("2026-05-01T12:00:00Z")), std::nullopt);
  EXPECT_EQ(next_slot(j, us("2027-01-01T00:00:00Z")), std::nullopt);
  EXPECT_EQ(utc(*prev_slot(j, us("2027-01-01T00:00:00Z"))), "2026-05-01T12:00:00Z");
  j.expires_at_us = us("2026-05-01T12:30:00Z");
  EXPECT_EQ(next_slot(j, us("2026-05-01T12:00:00Z")), std::nullopt);
}

TEST(next_slot, disabled_dependent_and_manual_jobs_never_fire) {
  job_timing j = make_job("* * * * * *");
  EXPECT_TRUE(fires_by_schedule(j));
  j.disabled = true;
  EXPECT_EQ(next_slot(j, 0), std::nullopt);
  EXPECT_EQ(prev_slot(j, 10 * sec), std::nullopt);
  j.disabled = false;
  j.has_parent = true;
  EXPECT_EQ(next_slot(j, 0), std::nullopt);
  EXPECT_FALSE(fires_by_schedule(j));

  const job_timing manual = make_job("@manually");
  EXPECT_FALSE(fires_by_schedule(manual));
  EXPECT_EQ(next_slot(manual, 0), std::nullopt);
  EXPECT_EQ(prev_slot(manual, us("2030-01-01T00:00:00Z")), std::nullopt);

  job_timing none;  // no schedule at all (a dependent job)
  EXPECT_EQ(next_slot(none, 0), std::nullopt);
  EXPECT_EQ(next_slot(make_job("0 0 0 30 2 *"), 0), std::nullopt);  // never matches
}

TEST(next_slot, at_fires_once_then_is_spent) {
  const job_timing j = make_job("@at 2026-07-04T12:00:00Z");
  EXPECT_EQ(utc(*next_slot(j, us("2026-01-01T00:00:00Z"))), "2026-07-04T12:00:00Z");
  EXPECT_EQ(next_slot(j, us("2026-07-04T12:00:00Z")), std::nullopt);
  EXPECT_EQ(utc(*prev_slot(j, us("2026-07-05T00:00:00Z"))), "2026-07-04T12:00:00Z");
  EXPECT_EQ(prev_slot(j, us("2026-07-04T12:00:00Z")), std::nullopt);
}

TEST(next_slot, every_is_phase_aligned_and_stable) {
  const job_timing j = make_job("@every 10s", "", cron::dst_policy::cron, "spread-me");
  const auto a = next_slot(j, us("2026-01-01T00:00:00Z"));
  ASSERT_TRUE(a);
  EXPECT_EQ(next_slot(j, *a), *a + 10 * sec);
  EXPECT_EQ(prev_slot(j, *a), *a - 10 * sec);
  // Any point within the interval gives the same next slot (no drift with the caller's time).
  EXPECT_EQ(next_slot(j, *a - 9 * sec - 1), *a);
}

TEST(policy_names, are_stable) {
  EXPECT_EQ(to_string(misfire_policy::run_once), "run_once");
  EXPECT_EQ(to_string(misfire_policy::run_all), "run_all");
  EXPECT_EQ(to_string(misfire_policy::skip), "skip");
  EXPECT_EQ(to_string(concurrency_policy::allow), "allow");
  EXPECT_EQ(to_string(concurrency_policy::forbid), "forbid");
  EXPECT_EQ(to_string(concurrency_policy::replace), "replace");
}

}  // namespace
}  // namespace sundial::scheduler
