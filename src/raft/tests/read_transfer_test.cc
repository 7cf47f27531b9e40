// ReadIndex (thesis 6.4) and leadership transfer (3.10).
#include <gtest/gtest.h>

#include "harness.h"

namespace sundial::raft {
namespace {

using testing::cluster;

TEST(raft_read_index, leader_answers_after_a_heartbeat_quorum) {
  cluster c(3);
  c.elect(1);
  ASSERT_TRUE(c.node(1).propose("x").ok());
  c.stabilize();
  ASSERT_TRUE(c.node(1).read_index("r1").ok());
  c.stabilize();
  ASSERT_EQ(c.at(1).reads.size(), 1u);
  EXPECT_EQ(c.at(1).reads[0].context, "r1");
  EXPECT_FALSE(c.at(1).reads[0].refused);
  EXPECT_EQ(c.at(1).reads[0].index, c.core(1).log().committed());
}

TEST(raft_read_index, follower_reads_through_the_leader) {
  cluster c(3);
  c.elect(1);
  ASSERT_TRUE(c.node(1).propose("x").ok());
  c.stabilize();
  ASSERT_TRUE(c.node(3).read_index("f").ok());
  c.stabilize();
  ASSERT_EQ(c.at(3).reads.size(), 1u);
  EXPECT_FALSE(c.at(3).reads[0].refused);
  EXPECT_EQ(c.at(3).reads[0].index, c.core(1).log().committed());
}

TEST(raft_read_index, isolated_leader_cannot_confirm_reads) {
  cluster c(3, 0, [](config& cfg) { cfg.check_quorum = false; });
  c.elect(1);
  c.isolate(1);
  ASSERT_TRUE(c.node(1).read_index("lonely").ok());
  c.stabilize();
  EXPECT_TRUE(c.at(1).reads.empty()) << "no quorum confirmed leadership: no read point";
  // When the term moves on, the pending read is refused rather than left hanging.
  message bump;
  bump.type = message_type::append;
  bump.from = node_id{2};
  bump.to = node_id{1};
  bump.term = c.core(1).term() + 1;
  bump.index = c.core(1).log().last_index();
  bump.log_term = c.core(1).log().last_term();
  ASSERT_TRUE(c.node(1).step(bump).ok());
  c.stabilize();
  ASSERT_EQ(c.at(1).reads.size(), 1u);
  EXPECT_TRUE(c.at(1).reads[0].refused);
}

TEST(raft_read_index, refused_until_the_leader_commits_in_its_term) {
  cluster c(3);
  // 1 wins the vote but its no-op has not committed yet: hold its appends.
  c.intercept = [](const message& m) { return m.type == message_type::append; };
  c.elect(1);
  ASSERT_FALSE(c.core(1).committed_in_current_term());
  ASSERT_TRUE(c.node(1).read_index("early").ok());
  c.stabilize();
  ASSERT_EQ(c.at(1).reads.size(), 1u);
  EXPECT_TRUE(c.at(1).reads[0].refused);
  c.intercept = nullptr;
  c.tick_all(2);
  ASSERT_TRUE(c.node(1).read_index("later").ok());
  c.stabilize();
  ASSERT_EQ(c.at(1).reads.size(), 2u);
  EXPECT_FALSE(c.at(1).reads[1].refused);
}

TEST(raft_read_index, follower_without_leader_is_told_at_once) {
  cluster c(3);
  ASSERT_TRUE(c.node(2).read_index("nobody").ok());
  c.stabilize();
  ASSERT_EQ(c.at(2).reads.size(), 1u);
  EXPECT_TRUE(c.at(2).reads[0].refused);
}

TEST(raft_transfer, to_an_up_to_date_follower) {
  cluster c(3);
  c.elect(1);
  ASSERT_TRUE(c.node(1).propose("x").ok());
  c.stabilize();
  c.node(1).transfer_leadership(node_id{2});
  c.stabilize();
  EXPECT_EQ(c.leader(), 2u);
  EXPECT_EQ(c.core(1).leader(), node_id{2});
}

TEST(raft_transfer, to_a_slow_follower_catches_it_up_first) {
  cluster c(3);
  c.elect(1);
  c.isolate(3);
  for (int i = 0; i < 5; ++i)
    ASSERT_TRUE(c.node(1).propose("v" + std::to_string(i)).ok());
  c.stabilize();
  c.heal();
  c.node(1).transfer_leadership(node_id{3});
  // While the transfer is under way proposals are refused.
  auto st = c.node(1).propose("during");
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.err().message.find("transfer"), std::string::npos);
  c.stabilize();
  EXPECT_EQ(c.leader(), 3u);
  EXPECT_EQ(c.at(3).applied.size(), 5u);
}

TEST(raft_transfer, aborts_after_an_election_timeout) {
  cluster c(3);
  c.elect(1);
  c.isolate(3);
  c.node(1).transfer_leadership(node_id{3});
  EXPECT_EQ(c.core(1).leader_transferee(), node_id{3});
  EXPECT_FALSE(c.node(1).propose("blocked").ok());
  for (int i = 0; i < 10; ++i) {
    c.node(1).tick();
    c.node(2).tick();
    c.stabilize();
  }
  EXPECT_EQ(c.core(1).leader_transferee(), no_node);
  EXPECT_EQ(c.leader(), 1u);
  EXPECT_TRUE(c.node(1).propose("unblocked").ok());
}

TEST(raft_transfer, target_removed_aborts) {
  cluster c(3);
  c.elect(1);
  c.isolate(3);
  c.node(1).transfer_leadership(node_id{3});
  ASSERT_EQ(c.core(1).leader_transferee(), node_id{3});
  // The removal is applied on 1 (it commits with 1 and 2).
  c.node(1).apply_conf_change(conf_change{conf_change_type::remove, node_id{3}, {}});
  EXPECT_EQ(c.core(1).leader_transferee(), no_node);
  EXPECT_EQ(c.core(1).state(), role::leader);
}

TEST(raft_transfer, to_self_learner_or_stranger_is_ignored) {
  cluster c(3, 1);
  c.elect(1);
  for (std::uint64_t to : {1, 4, 9}) {
    c.node(1).transfer_leadership(node_id{to});
    c.stabilize();
    EXPECT_EQ(c.leader(), 1u) << to;
    EXPECT_EQ(c.core(1).leader_transferee(), no_node) << to;
  }
}

TEST(raft_transfer, requested_on_a_follower_is_forwarded) {
  cluster c(3);
  c.elect(1);
  c.node(2).transfer_leadership(node_id{2});
  c.stabilize();
  EXPECT_EQ(c.leader(), 2u);
}

}  // namespace
}  // namespace sundial::raft
