// Overlap (SEMANTICS.md, "Overlap"): the policy table over every execution state.
#include "scheduler/concurrency.h"

#include <gtest/gtest.h>

namespace sundial::scheduler {
namespace {

using es = execution_state;

constexpr es all_states[] = {es::pending,  es::dispatched, es::running, es::stopping,
                             es::retrying, es::succeeded,  es::failed,  es::timed_out,
                             es::stopped,  es::lost};

TEST(execution_state, active_states_and_names) {
  for (es s : all_states) {
    const bool expect = s == es::pending || s == es::dispatched || s == es::running ||
                        s == es::stopping || s == es::retrying;
    EXPECT_EQ(is_active(s), expect) << to_string(s);
  }
  EXPECT_EQ(to_string(es::timed_out), "timed_out");
  EXPECT_EQ(to_string(es::lost), "lost");
  EXPECT_EQ(to_string(es::pending), "pending");
}

TEST(decide_overlap, nothing_active_always_launches) {
  const std::vector<execution_view> finished = {{"a", es::succeeded},
                                                {"b", es::failed},
                                                {"c", es::timed_out},
                                                {"d", es::stopped},
                                                {"e", es::lost}};
  for (auto p :
       {concurrency_policy::allow, concurrency_policy::forbid, concurrency_policy::replace}) {
    EXPECT_EQ(decide_overlap(p, {}).action, overlap_action::launch) << to_string(p);
    const overlap_decision d = decide_overlap(p, finished);
    EXPECT_EQ(d.action, overlap_action::launch) << to_string(p);
    EXPECT_TRUE(d.to_stop.empty());
    EXPECT_TRUE(d.reason.empty());
  }
}

TEST(decide_overlap, allow_launches_beside_active_runs) {
  EXPECT_EQ(decide_overlap(concurrency_policy::allow, {{"a", es::running}}).action,
            overlap_action::launch);
}

TEST(decide_overlap, forbid_skips_while_any_state_is_active) {
  for (es s : {es::pending, es::dispatched, es::running, es::stopping, es::retrying}) {
    const overlap_decision d =
        decide_overlap(concurrency_policy::forbid, {{"old", es::succeeded}, {"x1", s}});
    EXPECT_EQ(d.action, overlap_action::skip) << to_string(s);
    EXPECT_EQ(d.reason,
              "concurrency forbid: 1 active execution: x1 (" + std::string(to_string(s)) + ")");
  }
}

TEST(decide_overlap, a_lost_run_never_blocks_forbid) {
  // Dkron #1939: an orphaned "running" record skipped the job forever.
  EXPECT_EQ(decide_overlap(concurrency_policy::forbid, {{"gone", es::lost}}).action,
            overlap_action::launch);
}

TEST(decide_overlap, forbid_reason_names_a_few_of_many) {
  const overlap_decision d = decide_overlap(
      concurrency_policy::forbid,
      {{"a", es::running}, {"b", es::retrying}, {"c", es::pending}, {"d", es::dispatched}});
  EXPECT_EQ(d.reason,
            "concurrency forbid: 4 active executions: a (running), b (retrying), c (pending), ...");
}

TEST(decide_overlap, replace_stops_the_active_runs_not_already_stopping) {
  const overlap_decision d = decide_overlap(concurrency_policy::replace, {{"done", es::succeeded},
                                                                          {"r1", es::running},
                                                                          {"s1", es::stopping},
                                                                          {"p1", es::pending},
                                                                          {"l1", es::lost}});
  EXPECT_EQ(d.action, overlap_action::replace);
  EXPECT_EQ(d.to_stop, (std::vector<std::string>{"r1", "p1"}));
  const overlap_decision only_stopping =
      decide_overlap(concurrency_policy::replace, {{"s1", es::stopping}});
  EXPECT_EQ(only_stopping.action, overlap_action::replace);
  EXPECT_TRUE(only_stopping.to_stop.empty());
}

}  // namespace
}  // namespace sundial::scheduler
