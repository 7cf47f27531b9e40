// due(): on-time versus missed slots, the lookahead and grace boundaries, last-slot
// progression (a property test: no slot twice, none lost), bounded work on huge backlogs.
#include "scheduler/due.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <random>
#include <set>

#include "test_util.h"

namespace sundial::scheduler {
namespace {

using namespace testing;

std::vector<std::int64_t> catchup_slots(const due_slots& d) {
  std::vector<std::int64_t> out;
  for (const auto& c : d.catchup)
    out.push_back(c.slot_us);
  return out;
}

TEST(due, splits_on_time_and_missed_slots) {
  job_timing j = make_job("0 * * * * *");
  j.misfire = misfire_policy::run_all;
  const due_slots d = due(j, us("2026-01-01T10:00:00Z"), 0, us("2026-01-01T10:05:00.500000Z"));
  // 10:05:00 is 0.5 s late: within the 1 s grace, so on time.
  EXPECT_EQ(utc(d.on_time), (strings{"2026-01-01T10:05:00Z"}));
  EXPECT_EQ(utc(catchup_slots(d)), (strings{"2026-01-01T10:01:00Z", "2026-01-01T10:02:00Z",
                                            "2026-01-01T10:03:00Z", "2026-01-01T10:04:00Z"}));
  for (const auto& c : d.catchup)
    EXPECT_EQ(c.missed, 1u);
  EXPECT_EQ(d.skipped, 0u);
  EXPECT_FALSE(d.skipped_is_lower_bound);
  EXPECT_EQ(utc(d.last_slot_us), "2026-01-01T10:05:00Z");
  EXPECT_EQ(utc(*d.next_fire_us), "2026-01-01T10:06:00Z");
}

TEST(due, nothing_due_leaves_last_slot_alone) {
  const job_timing j = make_job("0 * * * * *");
  const std::int64_t last = us("2026-01-01T10:00:00Z");
  const due_slots d = due(j, last, 0, us("2026-01-01T10:00:30Z"));
  EXPECT_TRUE(d.on_time.empty());
  EXPECT_TRUE(d.catchup.empty());
  EXPECT_EQ(d.skipped, 0u);
  EXPECT_EQ(d.last_slot_us, last);
  EXPECT_EQ(utc(*d.next_fire_us), "2026-01-01T10:01:00Z");
}

TEST(due, lookahead_boundary_is_inclusive) {
  const job_timing j = make_job("0 * * * * *");
  const std::int64_t slot = us("2026-01-01T10:01:00Z");
  const std::int64_t last = us("2026-01-01T10:00:00Z");
  EXPECT_TRUE(due(j, last, 0, slot - 2 * sec - 1).on_time.empty());
  EXPECT_EQ(due(j, last, 0, slot - 2 * sec).on_time, (std::vector<std::int64_t>{slot}));
  due_options o;
  o.lookahead_us = 10 * sec;
  EXPECT_EQ(due(j, last, 0, slot - 10 * sec, o).on_time, (std::vector<std::int64_t>{slot}));
  EXPECT_TRUE(due(j, last, 0, slot - 10 * sec - 1, o).on_time.empty());
}

TEST(due, grace_boundary_separates_on_time_from_missed) {
  const job_timing j = make_job("0 * * * * *");
  const std::int64_t slot = us("2026-01-01T10:01:00Z");
  const std::int64_t last = us("2026-01-01T10:00:00Z");
  const due_slots at_grace = due(j, last, 0, slot + sec);
  EXPECT_EQ(at_grace.on_time, (std::vector<std::int64_t>{slot}));
  EXPECT_TRUE(at_grace.catchup.empty());
  const due_slots past = due(j, last, 0, slot + sec + 1);
  EXPECT_TRUE(past.on_time.empty());
  ASSERT_EQ(past.catchup.size(), 1u);  // run_once, the default
  EXPECT_EQ(past.catchup[0], (catchup_launch{slot, 1}));
  due_options o;
  o.on_time_grace_us = 0;
  EXPECT_EQ(due(j, last, 0, slot, o).on_time, (std::vector<std::int64_t>{slot}));
  EXPECT_EQ(due(j, last, 0, slot + 1, o).catchup.size(), 1u);
}

TEST(due, a_new_job_counts_slots_only_after_from) {
  const job_timing j = make_job("0 * * * * *");
  const std::int64_t created = us("2026-01-01T10:00:00Z");
  // Created exactly on a slot: that slot is not due (strictly after).
  const due_slots d = due(j, 0, created, created + 1);
  EXPECT_TRUE(d.on_time.empty());
  EXPECT_TRUE(d.catchup.empty());
  EXPECT_EQ(d.last_slot_us, 0);
  EXPECT_EQ(utc(*d.next_fire_us), "2026-01-01T10:01:00Z");
  // from_us also cuts off an old last slot (the job was disabled meanwhile).
  const due_slots re = due(j, created, us("2026-01-01T12:00:30Z"), us("2026-01-01T12:00:40Z"));
  EXPECT_TRUE(re.catchup.empty());
  EXPECT_EQ(re.skipped, 0u);
}

TEST(due, clock_going_back_returns_nothing_again) {
  const job_timing j = make_job("* * * * * *");
  const std::int64_t now = us("2026-01-01T10:00:00Z");
  const due_slots d = due(j, now - sec, 0, now);
  ASSERT_EQ(d.on_time.size(), 3u);  // now, now + 1 s, now + 2 s
  const due_slots back = due(j, d.last_slot_us, 0, now - 30 * sec);
  EXPECT_TRUE(back.on_time.empty());
  EXPECT_TRUE(back.catchup.empty());
  EXPECT_EQ(back.last_slot_us, d.last_slot_us);
}

TEST(due, max_on_time_defers_the_rest_to_the_next_call) {
  const job_timing j = make_job("* * * * * *");
  const std::int64_t now = us("2026-01-01T10:00:00Z");
  due_options o;
  o.lookahead_us = 10 * sec;
  o.max_on_time = 4;
  const due_slots a = due(j, now - sec, 0, now, o);
  EXPECT_EQ(a.on_time.size(), 4u);
  EXPECT_EQ(a.next_fire_us, now + 4 * sec);
  const due_slots b = due(j, a.last_slot_us, 0, now, o);
  EXPECT_EQ(b.on_time.front(), now + 4 * sec);
  EXPECT_EQ(b.on_time.size(), 4u);
}

TEST(due, a_year_behind_every_second_is_bounded_and_flagged) {
  job_timing j = make_job("* * * * * *");
  const std::int64_t now = us("2027-01-01T00:00:00Z");
  due_options o;
  o.max_count_steps = 5000;
  j.misfire = misfire_policy::skip;
  due_slots d = due(j, us("2026-01-01T00:00:00Z"), 0, now, o);
  EXPECT_TRUE(d.catchup.empty());
  EXPECT_EQ(d.skipped, 5000u);  // a lower bound: 31M slots were missed
  EXPECT_TRUE(d.skipped_is_lower_bound);
  EXPECT_EQ(d.last_slot_us, now + 2 * sec);  // the backlog is gone for good
  EXPECT_EQ(d.on_time.size(), 4u);           // now - 1 s .. now + 2 s

  j.misfire = misfire_policy::run_once;  // 1h window: 3,599 slots merged, the rest skipped
  d = due(j, us("2026-01-01T00:00:00Z"), 0, now, o);
  ASSERT_EQ(d.catchup.size(), 1u);
  EXPECT_EQ(d.catchup[0].slot_us, now - 2 * sec);
  EXPECT_EQ(d.catchup[0].missed, 3599u);  // slots in [now - 1h, now - 1 s)
  EXPECT_EQ(d.skipped, 5000u - 3599u);
  EXPECT_TRUE(d.skipped_is_lower_bound);

  j.misfire = misfire_policy::run_all;
  j.max_catchup = 100;
  d = due(j, us("2026-01-01T00:00:00Z"), 0, now, o);
  ASSERT_EQ(d.catchup.size(), 100u);
  EXPECT_EQ(d.catchup.front().slot_us, now - 101 * sec);
  EXPECT_EQ(d.catchup.back().slot_us, now - 2 * sec);
}

TEST(due, the_budget_never_starves_the_launched_slots) {
  job_timing j = make_job("* * * * * *");
  j.misfire = misfire_policy::run_all;
  j.max_catchup = 50;
  due_options o;
  o.max_count_steps = 0;  // raised to max_catchup
  const std::int64_t now = us("2026-06-01T00:00:00Z");
  const due_slots d = due(j, now - 1000 * sec, 0, now, o);
  EXPECT_EQ(d.catchup.size(), 50u);
  EXPECT_TRUE(d.skipped_is_lower_bound);
  j.misfire = misfire_policy::skip;
  const due_slots s = due(j, now - 1000 * sec, 0, now, o);
  EXPECT_EQ(s.last_slot_us, now + 2 * sec);  // still moves past the backlog
  EXPECT_GE(s.skipped, 1u);
}

// Property: as `now` moves (mostly forwards, in small and large steps, sometimes back),
// every slot after `from` up to the furthest horizon is launched on time, launched as a
// catch-up, merged into one, or counted as skipped, exactly once; launches come in strictly
// increasing slot order.
struct property_case {
  const char* schedule;
  std::int64_t scale_us;  // about the schedule's period
};

TEST(due, property_every_slot_accounted_exactly_once) {
  const property_case cases[] = {
      {"* * * * * *", sec},          {"*/7 * * * * *", 7 * sec},
      {"@every 13s", 13 * sec},      {"0 * * * * *", minute},
      {"0 0 */3 * * *", 3 * hour},   {"TZ=America/New_York 0 30 1,2 * * *", day},
      {"H H/2 * * * *", 2 * minute},
  };
  std::mt19937_64 rng(20260308);
  std::uint64_t total_catchup = 0, total_skipped = 0, total_on_time = 0;
  for (int iteration = 0; iteration < 300; ++iteration) {
    const property_case& pc = cases[rng() % std::size(cases)];
    job_timing j =
        make_job(pc.schedule, "", cron::dst_policy::cron, "job-" + std::to_string(iteration));
    const int policy = static_cast<int>(rng() % 3);
    j.misfire = static_cast<misfire_policy>(policy);
    const bool exact = j.misfire == misfire_policy::run_all && rng() % 2 == 0;
    j.catchup_window_us = exact ? 3650 * day : static_cast<std::int64_t>(rng() % 20) * pc.scale_us;
    j.max_catchup = exact ? 1'000'000 : static_cast<std::uint32_t>(rng() % 5);
    due_options o;
    o.lookahead_us = static_cast<std::int64_t>(rng() % 4) * sec;
    o.on_time_grace_us = static_cast<std::int64_t>(rng() % 3) * sec;

    // Around the March 2026 DST change in New York.
    const std::int64_t from =
        us("2026-03-06T00:00:00Z") + static_cast<std::int64_t>(rng() % 1'000'000) * 1000;
    std::int64_t now = from;
    std::int64_t last = 0;
    std::int64_t max_horizon = from;
    std::vector<std::int64_t> launched;
    std::uint64_t accounted = 0;
    for (int call = 0; call < 250; ++call) {
      const unsigned kind = rng() % 20;
      const std::int64_t scale = pc.scale_us;
      if (kind == 0) {
        now += static_cast<std::int64_t>(rng() % 100) * scale;  // an outage
      } else if (kind == 2 || kind == 3) {
        // Onto a whole second (slots are whole seconds: boundaries meet exactly) or off it.
        now -= ((now % sec) + sec) % sec;
        if (kind == 3) now += static_cast<std::int64_t>(rng() % sec);
      } else if (kind == 1) {
        now -= static_cast<std::int64_t>(rng() % static_cast<std::uint64_t>(scale));  // clock back
      } else {
        now += static_cast<std::int64_t>(rng() % static_cast<std::uint64_t>(3 * scale));
      }
      max_horizon = std::max(max_horizon, now + o.lookahead_us);
      const due_slots d = due(j, last, from, now, o);
      ASSERT_FALSE(d.skipped_is_lower_bound);
      for (const auto& c : d.catchup) {
        EXPECT_GE(c.missed, 1u);
        launched.push_back(c.slot_us);
        accounted += c.missed;
      }
      for (auto t : d.on_time) {
        EXPECT_GE(t, now - o.on_time_grace_us);
        EXPECT_LE(t, now + o.lookahead_us);
        launched.push_back(t);
        ++accounted;
      }
      accounted += d.skipped;
      total_catchup += d.catchup.size();
      total_skipped += d.skipped;
      total_on_time += d.on_time.size();
      EXPECT_GE(d.last_slot_us, last);
      last = d.last_slot_us;
    }
    // The schedule's own slots in (from, max_horizon].
    std::vector<std::int64_t> expected;
    for (auto s = next_slot(j, from); s && *s <= max_horizon; s = next_slot(j, *s))
      expected.push_back(*s);
    SCOPED_TRACE(std::string(pc.schedule) + " policy " + std::string(to_string(j.misfire)));
    ASSERT_TRUE(std::is_sorted(launched.begin(), launched.end()));
    ASSERT_EQ(std::set<std::int64_t>(launched.begin(), launched.end()).size(), launched.size())
        << "a slot was launched twice";
    const std::set<std::int64_t> all(expected.begin(), expected.end());
    for (auto t : launched)
      ASSERT_TRUE(all.count(t)) << utc(t) << " is not a slot";
    EXPECT_EQ(accounted, expected.size());
    if (!expected.empty()) {
      EXPECT_EQ(last, expected.back());
    }
    if (exact) {
      EXPECT_EQ(launched, expected);
    }
  }
  // The walk met every kind of outcome, so the property is not vacuous.
  EXPECT_GT(total_catchup, 1000u);
  EXPECT_GT(total_skipped, 1000u);
  EXPECT_GT(total_on_time, 1000u);
  std::printf("property: %llu on time, %llu catch-up launches, %llu skipped\n",
              static_cast<unsigned long long>(total_on_time),
              static_cast<unsigned long long>(total_catchup),
              static_cast<unsigned long long>(total_skipped));
}

}  // namespace
}  // namespace sundial::scheduler
