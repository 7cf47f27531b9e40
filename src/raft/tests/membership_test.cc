// Membership changes one server at a time (thesis 4.1): learners, promotion, adding a new
// server, removing followers and the leader itself.
#include <gtest/gtest.h>

#include "harness.h"

namespace sundial::raft {
namespace {

using testing::cluster;

conf_change cc(conf_change_type t, std::uint64_t id) {
  return conf_change{t, node_id{id}, {}};
}

TEST(raft_learners, receive_the_log_but_never_vote_or_campaign) {
  cluster c(3, 1);  // node 4 is a learner
  c.elect(1);
  ASSERT_TRUE(c.node(1).propose("x").ok());
  c.stabilize();
  EXPECT_EQ(c.at(4).applied, std::vector<std::string>{"x"});
  EXPECT_TRUE(c.core(1).members().is_learner(node_id{4}));
  // A learner never starts an election, however long it waits.
  c.isolate(4);
  for (int i = 0; i < 100; ++i)
    c.node(4).tick();
  EXPECT_EQ(c.core(4).state(), role::follower);
  EXPECT_EQ(c.core(4).term(), c.core(1).term());
  // Commitment does not count the learner: with 2 of 3 voters down nothing commits.
  c.heal();
  c.isolate(2);
  c.isolate(3);
  ASSERT_TRUE(c.node(1).propose("y").ok());
  c.stabilize();
  EXPECT_EQ(c.at(1).applied, std::vector<std::string>{"x"});
}

TEST(raft_learners, promotion_makes_a_voter) {
  cluster c(3, 1);
  c.elect(1);
  ASSERT_TRUE(c.node(1).propose_conf_change(cc(conf_change_type::add_voter, 4)).ok());
  c.stabilize();
  for (auto id : {1, 2, 3, 4}) {
    EXPECT_TRUE(c.core(id).members().is_voter(node_id{4})) << id;
    EXPECT_FALSE(c.core(id).members().is_learner(node_id{4})) << id;
  }
  // Now 4 counts: with 2 and 3 down, 1 and 4 are not a majority of 4 voters.
  c.isolate(2);
  c.isolate(3);
  ASSERT_TRUE(c.node(1).propose("needs-3-of-4").ok());
  c.stabilize();
  EXPECT_TRUE(c.at(1).applied.empty());
  c.heal();
  c.tick_all(2);
  EXPECT_EQ(c.at(4).applied, std::vector<std::string>{"needs-3-of-4"});
}

TEST(raft_membership, new_server_joins_as_learner_then_catches_up) {
  cluster c(3);
  c.elect(1);
  for (int i = 0; i < 5; ++i)
    ASSERT_TRUE(c.node(1).propose("v" + std::to_string(i)).ok());
  c.stabilize();
  c.add_empty(4);
  ASSERT_TRUE(c.node(1).propose_conf_change(cc(conf_change_type::add_learner, 4)).ok());
  c.stabilize();
  c.tick_all(3);
  // The empty server cannot be sent entries from index 1 (they are behind the bootstrap
  // snapshot), so it receives a snapshot and then the log.
  EXPECT_EQ(c.core(4).log().committed(), c.core(1).log().committed());
  EXPECT_EQ(c.core(4).leader(), node_id{1});
  ASSERT_TRUE(c.node(1).propose_conf_change(cc(conf_change_type::add_voter, 4)).ok());
  c.stabilize();
  EXPECT_TRUE(c.core(4).members().is_voter(node_id{4}));
}

TEST(raft_membership, one_change_at_a_time) {
  cluster c(3, 2);
  c.elect(1);
  c.isolate(2);
  c.isolate(3);
  ASSERT_TRUE(c.node(1).propose_conf_change(cc(conf_change_type::add_voter, 4)).ok());
  c.stabilize();
  auto st = c.node(1).propose_conf_change(cc(conf_change_type::add_voter, 5));
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.err().code, base::errc::conflict);
  EXPECT_NE(st.err().message.find("not applied yet"), std::string::npos);
  c.heal();
  c.tick_all(2);
  EXPECT_TRUE(c.node(1).propose_conf_change(cc(conf_change_type::add_voter, 5)).ok());
}

TEST(raft_membership, refuses_bad_changes) {
  cluster c(1);
  c.elect(1);
  auto st = c.node(1).propose_conf_change(cc(conf_change_type::remove, 1));
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.err().message.find("last voter"), std::string::npos);
  st = c.node(1).propose_conf_change(cc(conf_change_type::remove, 9));
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.err().code, base::errc::not_found);
  st = c.node(1).propose_conf_change(conf_change{});
  ASSERT_FALSE(st.ok());
}

TEST(raft_membership, removed_follower_stops_counting) {
  cluster c(3);
  c.elect(1);
  ASSERT_TRUE(c.node(1).propose_conf_change(cc(conf_change_type::remove, 3)).ok());
  c.stabilize();
  EXPECT_FALSE(c.core(1).members().contains(node_id{3}));
  // Two voters now: 1 and 2 commit without 3.
  c.isolate(3);
  ASSERT_TRUE(c.node(1).propose("after").ok());
  c.stabilize();
  EXPECT_EQ(c.at(2).applied.back(), "after");
  // The removed server cannot campaign.
  for (int i = 0; i < 50; ++i)
    c.node(3).tick();
  EXPECT_NE(c.core(3).state(), role::candidate);
}

TEST(raft_membership, removing_the_leader_hands_over_once_committed) {
  cluster c(3);
  c.elect(1);
  ASSERT_TRUE(c.node(1).propose("before").ok());
  c.stabilize();
  ASSERT_TRUE(c.node(1).propose_conf_change(cc(conf_change_type::remove, 1)).ok());
  c.stabilize();
  // 1 applied its own removal: it stepped down and told the most caught-up voter to campaign.
  EXPECT_NE(c.core(1).state(), role::leader);
  const auto l = c.leader();
  ASSERT_TRUE(l == 2 || l == 3) << "a new leader is elected without waiting for a timeout";
  EXPECT_FALSE(c.core(l).members().contains(node_id{1}));
  ASSERT_TRUE(c.node(l).propose("after").ok());
  c.stabilize();
  EXPECT_EQ(c.at(2).applied.back(), "after");
  EXPECT_EQ(c.at(3).applied.back(), "after");
}

}  // namespace
}  // namespace sundial::raft
