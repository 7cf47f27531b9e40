// Snapshots and compaction (thesis 5): a slow follower is caught up by snapshot; a server
// restarts from its snapshot and log.
#include <gtest/gtest.h>

#include "harness.h"

namespace sundial::raft {
namespace {

using testing::cluster;

void compact_leader(cluster& c, std::uint64_t id) {
  auto& p = c.at(id);
  const index_t applied = p.applied_index;
  auto snap = p.storage->create_snapshot(applied, c.core(id).members().to_conf_state(),
                                         payload("state@" + std::to_string(applied.value())));
  ASSERT_TRUE(snap.ok()) << snap.err().message;
  ASSERT_TRUE(p.storage->compact(applied).ok());
}

TEST(raft_snapshot, slow_follower_is_caught_up_by_snapshot) {
  cluster c(3);
  c.elect(1);
  c.isolate(3);
  for (int i = 0; i < 10; ++i)
    ASSERT_TRUE(c.node(1).propose("v" + std::to_string(i)).ok());
  c.stabilize();
  compact_leader(c, 1);
  c.heal();
  c.record = true;
  c.tick_all(3);
  bool got_snapshot = false;
  for (const auto& m : c.delivered) {
    if (m.type == message_type::snap && m.to == node_id{3}) {
      got_snapshot = true;
      ASSERT_TRUE(m.snap);
      EXPECT_EQ(m.snap->data.view(),
                "state@" + std::to_string(c.core(1).log().first_index().prev().value()));
    }
  }
  EXPECT_TRUE(got_snapshot);
  // Report delivery so the leader resumes normal replication.
  c.node(1).report_snapshot(node_id{3}, true);
  c.tick_all(2);
  EXPECT_EQ(c.core(3).log().committed(), c.core(1).log().committed());
  ASSERT_TRUE(c.node(1).propose("after").ok());
  c.stabilize();
  EXPECT_EQ(c.at(3).applied.back(), "after");
  EXPECT_EQ(c.core(1).progresses().at(node_id{3}).state, progress_state::replicate);
}

TEST(raft_snapshot, failed_delivery_is_retried) {
  cluster c(3);
  c.elect(1);
  c.isolate(3);
  for (int i = 0; i < 5; ++i)
    ASSERT_TRUE(c.node(1).propose("v" + std::to_string(i)).ok());
  c.stabilize();
  compact_leader(c, 1);
  c.heal();
  c.intercept = [](const message& m) { return m.type == message_type::snap; };
  c.tick_all(2);
  EXPECT_EQ(c.core(1).progresses().at(node_id{3}).state, progress_state::snapshot);
  c.node(1).report_snapshot(node_id{3}, false);
  EXPECT_EQ(c.core(1).progresses().at(node_id{3}).state, progress_state::probe);
  c.intercept = nullptr;
  c.tick_all(3);
  c.node(1).report_snapshot(node_id{3}, true);
  c.tick_all(3);
  EXPECT_EQ(c.core(3).log().committed(), c.core(1).log().committed());
}

TEST(raft_snapshot, restart_from_snapshot_and_log) {
  cluster c(3);
  c.elect(1);
  for (int i = 0; i < 6; ++i)
    ASSERT_TRUE(c.node(1).propose("v" + std::to_string(i)).ok());
  c.stabilize();
  compact_leader(c, 2);
  for (int i = 6; i < 9; ++i)
    ASSERT_TRUE(c.node(1).propose("v" + std::to_string(i)).ok());
  c.stabilize();
  const hard_state before = c.core(2).current_hard_state();
  c.crash(2);
  c.restart(2);
  EXPECT_EQ(c.core(2).term(), before.term);
  EXPECT_EQ(c.core(2).vote(), before.vote);
  EXPECT_EQ(c.core(2).log().committed(), before.commit);
  // It replays what came after its snapshot.
  c.tick_all(2);
  EXPECT_EQ(c.at(2).applied, (std::vector<std::string>{"v6", "v7", "v8"}));
  ASSERT_TRUE(c.node(1).propose("v9").ok());
  c.stabilize();
  EXPECT_EQ(c.at(2).applied.back(), "v9");
}

TEST(raft_snapshot, crash_loses_only_what_was_not_persisted) {
  cluster c(3);
  c.elect(1);
  ASSERT_TRUE(c.node(1).propose("durable").ok());
  c.stabilize();
  c.crash(1);
  c.restart(1);
  c.tick_all(40);
  const auto l = c.leader();
  ASSERT_NE(l, 0u);
  ASSERT_TRUE(c.node(l).propose("next").ok());
  c.stabilize();
  for (auto id : {1, 2, 3})
    EXPECT_EQ(c.at(id).applied.back(), "next") << id;
}

}  // namespace
}  // namespace sundial::raft
