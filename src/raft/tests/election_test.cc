// Leader election: the rules of the Raft paper's sections 5.1, 5.2 and 5.4.1, pre-vote and
// check-quorum (thesis 9.6, 4.2.3).
#include <gtest/gtest.h>

#include "harness.h"

namespace sundial::raft {
namespace {

using testing::cluster;

auto no_prevote = [](config& c) { c.pre_vote = false; };
auto plain = [](config& c) {
  c.pre_vote = false;
  c.check_quorum = false;
};

message msg(message_type t, std::uint64_t from, std::uint64_t to, std::uint64_t term) {
  message m;
  m.type = t;
  m.from = node_id{from};
  m.to = node_id{to};
  m.term = term_t{term};
  return m;
}

// 5.1: servers begin as followers.
TEST(raft_5_1, servers_start_as_followers) {
  cluster c(3);
  for (auto id : c.ids()) {
    EXPECT_EQ(c.core(id.value()).state(), role::follower);
    EXPECT_EQ(c.core(id.value()).leader(), no_node);
  }
}

// 5.1: a server that sees a higher term adopts it and becomes a follower.
TEST(raft_5_1, higher_term_turns_a_leader_into_a_follower) {
  cluster c(3, 0, plain);
  c.elect(1);
  const term_t t = c.core(1).term();
  message m = msg(message_type::append, 2, 1, t.value() + 5);
  m.index = c.core(1).log().last_index();
  m.log_term = c.core(1).log().last_term();
  ASSERT_TRUE(c.node(1).step(m).ok());
  EXPECT_EQ(c.core(1).state(), role::follower);
  EXPECT_EQ(c.core(1).term(), t + 5);
  EXPECT_EQ(c.core(1).leader(), node_id{2});
}

// 5.1: requests with a stale term are rejected (and a stale leader learns the new term).
TEST(raft_5_1, stale_term_requests_are_refused) {
  cluster c(3, 0, [](config& cfg) { cfg.check_quorum = false; });
  c.elect(1);
  c.elect(2);  // term moves on; 1 is a follower now
  const term_t t = c.core(2).term();
  c.record = true;
  message stale = msg(message_type::append, 1, 3, t.value() - 1);
  ASSERT_TRUE(c.node(3).step(stale).ok());
  c.stabilize();
  EXPECT_EQ(c.core(3).term(), t);
  EXPECT_EQ(c.core(3).leader(), node_id{2});
  bool told = false;
  for (const auto& m : c.delivered) {
    if (m.from == node_id{3} && m.to == node_id{1} && m.type == message_type::append_resp) {
      EXPECT_EQ(m.term, t);
      told = true;
    }
  }
  EXPECT_TRUE(told) << "the stale sender must be told the current term";
}

// 5.2: a follower that hears nothing for an election timeout starts an election.
TEST(raft_5_2, follower_campaigns_after_election_timeout) {
  cluster c(3, 0, plain);
  c.isolate(2);
  c.isolate(3);
  for (int i = 0; i < 20 && c.core(1).state() == role::follower; ++i)
    c.node(1).tick();
  EXPECT_EQ(c.core(1).state(), role::candidate);
  EXPECT_EQ(c.core(1).term(), term_t{2});
  EXPECT_EQ(c.core(1).vote(), node_id{1});  // votes for itself
}

// 5.2: timeouts are randomised within [election_tick, election_tick + jitter), jitter
// defaulting to half the timeout.
TEST(raft_5_2, election_timeouts_are_randomised) {
  std::set<int> seen;
  for (std::uint64_t seed = 1; seed <= 40; ++seed) {
    cluster c(3, 0, [seed](config& cfg) {
      cfg.pre_vote = false;
      cfg.seed = seed;
    });
    c.isolate(2);
    c.isolate(3);
    int ticks = 0;
    while (c.core(1).state() == role::follower && ticks < 100) {
      c.node(1).tick();
      ++ticks;
    }
    EXPECT_GE(ticks, 10);
    EXPECT_LT(ticks, 15);
    seen.insert(ticks);
  }
  EXPECT_GE(seen.size(), 4u);
}

// 5.2: the candidate asks every other voter for its vote, with its last log position.
TEST(raft_5_2, candidate_requests_votes_from_all) {
  cluster c(5, 0, plain);
  c.isolate(1);
  ASSERT_TRUE(c.node(1).campaign().ok());
  auto& out = const_cast<raft&>(c.core(1));
  (void)out;
  ready rd = c.node(1).get_ready();
  std::set<std::uint64_t> asked;
  for (const auto& m : rd.messages) {
    EXPECT_EQ(m.type, message_type::vote);
    EXPECT_EQ(m.index, c.core(1).log().last_index());
    asked.insert(m.to.value());
  }
  EXPECT_EQ(asked, (std::set<std::uint64_t>{2, 3, 4, 5}));
}

// 5.2: a majority wins; the winner sends heartbeats/appends to establish authority.
TEST(raft_5_2, majority_elects_and_leader_asserts_authority) {
  cluster c(5, 0, plain);
  c.isolate(4);
  c.isolate(5);
  c.elect(1);
  for (auto id : {2, 3}) {
    EXPECT_EQ(c.core(id).leader(), node_id{1});
    EXPECT_EQ(c.core(id).term(), c.core(1).term());
  }
}

// 5.2: without a majority no leader emerges.
TEST(raft_5_2, minority_cannot_elect) {
  cluster c(5, 0, plain);
  c.isolate(3);
  c.isolate(4);
  c.isolate(5);
  ASSERT_TRUE(c.node(1).campaign().ok());
  c.stabilize();
  EXPECT_EQ(c.core(1).state(), role::candidate);
}

// 5.2: a candidate that hears from a leader of its term steps down.
TEST(raft_5_2, candidate_yields_to_leader_of_same_term) {
  cluster c(3, 0, plain);
  c.isolate(1);
  ASSERT_TRUE(c.node(1).campaign().ok());
  c.stabilize();
  ASSERT_EQ(c.core(1).state(), role::candidate);
  const term_t t = c.core(1).term();
  message m = msg(message_type::append, 2, 1, t.value());
  m.index = c.core(1).log().last_index();
  m.log_term = c.core(1).log().last_term();
  c.heal();
  ASSERT_TRUE(c.node(1).step(m).ok());
  EXPECT_EQ(c.core(1).state(), role::follower);
  EXPECT_EQ(c.core(1).leader(), node_id{2});
}

// 5.2: at most one vote per term, first come first served.
TEST(raft_5_2, one_vote_per_term) {
  cluster c(3, 0, plain);
  message a = msg(message_type::vote, 2, 1, 5);
  a.index = c.core(1).log().last_index();
  a.log_term = c.core(1).log().last_term();
  message b = a;
  b.from = node_id{3};
  c.record = true;
  ASSERT_TRUE(c.node(1).step(a).ok());
  ASSERT_TRUE(c.node(1).step(b).ok());
  ready rd = c.node(1).get_ready();
  ASSERT_EQ(rd.messages.size(), 2u);
  EXPECT_FALSE(rd.messages[0].reject);
  EXPECT_EQ(rd.messages[0].to, node_id{2});
  EXPECT_TRUE(rd.messages[1].reject);
  EXPECT_EQ(rd.hard->vote, node_id{2});
  EXPECT_TRUE(rd.must_sync);  // the vote is persisted before it is sent
  c.node(1).advance(rd);
  // The same candidate asking again gets the same answer.
  ASSERT_TRUE(c.node(1).step(a).ok());
  rd = c.node(1).get_ready();
  ASSERT_EQ(rd.messages.size(), 1u);
  EXPECT_FALSE(rd.messages[0].reject);
}

// 5.4.1: a voter denies its vote to a candidate whose log is less up to date.
TEST(raft_5_4_1, election_restriction) {
  cluster c(3, 0, plain);
  c.elect(1);
  c.isolate(3);
  ASSERT_TRUE(c.node(1).propose("x").ok());
  c.stabilize();
  c.heal();
  // 3 lacks "x"; 2 has it. 3's campaign must fail on 2's vote (and 1's).
  c.isolate(1);
  ASSERT_TRUE(c.node(3).campaign().ok());
  c.stabilize();
  EXPECT_NE(c.core(3).state(), role::leader);
  // 2 can win: its log is the most complete.
  c.elect(2);
  EXPECT_EQ(c.at(2).applied.back(), "x");
}

// Split votes: with randomised timeouts, repeated elections end with one leader.
TEST(raft_5_2, split_votes_resolve) {
  cluster c(4, 0, no_prevote);
  // Two candidates at once split four voters 2-2.
  ASSERT_TRUE(c.node(1).campaign().ok());
  ASSERT_TRUE(c.node(3).campaign().ok());
  c.drop(1, 4);
  c.drop(3, 2);
  c.stabilize();
  c.heal();
  int ticks = 0;
  while (c.leader() == 0 && ticks < 200) {
    c.tick_all();
    ++ticks;
  }
  EXPECT_NE(c.leader(), 0u) << "no leader after " << ticks << " ticks";
}

// Pre-vote: a node cut off from the cluster does not inflate its term, so when it returns it
// does not depose the healthy leader (thesis 9.6).
TEST(raft_prevote, rejoining_node_does_not_disrupt) {
  cluster c(3);
  c.elect(1);
  const term_t t = c.core(1).term();
  c.isolate(3);
  for (int i = 0; i < 100; ++i) {
    c.node(3).tick();
    c.stabilize();
  }
  EXPECT_EQ(c.core(3).term(), t) << "pre-vote must keep the isolated node's term";
  EXPECT_EQ(c.core(3).state(), role::pre_candidate);
  c.heal();
  c.tick_all(3);
  EXPECT_EQ(c.leader(), 1u);
  EXPECT_EQ(c.core(1).term(), t);
  EXPECT_EQ(c.core(3).leader(), node_id{1});
}

// Without pre-vote but with check-quorum, followers in the leader's lease ignore the
// returning node's higher-term votes (leader stickiness).
TEST(raft_checkquorum, lease_ignores_disruptive_votes) {
  cluster c(3, 0, no_prevote);
  c.elect(1);
  c.isolate(3);
  for (int i = 0; i < 60; ++i) {
    c.node(3).tick();
    c.stabilize();
  }
  EXPECT_GT(c.core(3).term(), c.core(1).term());
  c.heal();
  // 3's vote requests reach 2 while 2 hears from 1: ignored.
  ASSERT_TRUE(c.node(3).campaign().ok());
  c.stabilize();
  EXPECT_EQ(c.core(2).leader(), node_id{1}) << "a follower in lease must not vote";
}

// Check-quorum: a leader that cannot reach a quorum steps down.
TEST(raft_checkquorum, leader_without_quorum_steps_down) {
  cluster c(3);
  c.elect(1);
  c.isolate(1);
  for (int i = 0; i < 25 && c.core(1).state() == role::leader; ++i)
    c.node(1).tick();
  EXPECT_EQ(c.core(1).state(), role::follower);
  EXPECT_EQ(c.core(1).leader(), no_node);
}

TEST(raft_config, invalid_configs_are_refused) {
  memory_storage s;
  config c;
  EXPECT_FALSE(raw_node::create(c, s).ok());  // id 0
  c.id = node_id{1};
  c.election_tick = 1;
  c.heartbeat_tick = 1;
  auto r = raw_node::create(c, s);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.err().message.find("election_tick"), std::string::npos);
}

TEST(raft_step, local_messages_from_the_network_are_refused) {
  cluster c(3);
  for (auto t : {message_type::hup, message_type::beat, message_type::check_quorum,
                 message_type::unreachable, message_type::snap_status}) {
    auto st = c.node(1).step(msg(t, 2, 1, 1));
    EXPECT_FALSE(st.ok());
  }
  EXPECT_EQ(c.core(1).state(), role::follower);
}

}  // namespace
}  // namespace sundial::raft
