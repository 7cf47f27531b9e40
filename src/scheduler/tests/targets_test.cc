// Target selection (SEMANTICS.md, "Targets"): tag matching, counts, one/all, every routing,
// dead and draining nodes, retries, error text.
#include "scheduler/targets.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <set>

namespace sundial::scheduler {
namespace {

using strings = std::vector<std::string>;
using tags = std::map<std::string, std::string>;

node_view node(std::string name, tags t = {}, std::uint32_t running = 0) {
  t.emplace("role", "sundial");
  return node_view{std::move(name), std::move(t), true, false, running};
}

std::vector<node_view> cluster() {
  return {node("a", {{"zone", "eu"}, {"disk", "ssd"}}, 3), node("b", {{"zone", "eu"}}, 1),
          node("c", {{"zone", "us"}, {"disk", "ssd"}}, 0), node("d", {{"zone", "us"}}, 2),
          node("e", {{"zone", "eu"}, {"disk", "ssd"}}, 1)};
}

strings pick(const target_request& r, const std::vector<node_view>& nodes = cluster()) {
  auto c = choose_targets(r, nodes);
  EXPECT_TRUE(c.ok()) << (c.ok() ? "" : c.err().message);
  return c.ok() ? c->nodes : strings{};
}

std::string error_of(const target_request& r, const std::vector<node_view>& nodes = cluster()) {
  auto c = choose_targets(r, nodes);
  EXPECT_FALSE(c.ok());
  return c.ok() ? "(chosen)" : c.err().message;
}

target_request req(tags t = {}, target_mode m = target_mode::one,
                   routing_policy r = routing_policy::least_busy) {
  target_request q;
  q.job = "backup";
  q.tags = std::move(t);
  q.target = m;
  q.routing = r;
  return q;
}

TEST(parse_job_tags, values_and_counts) {
  auto r = parse_job_tags({{"role", "web:2"}, {"zone", "eu"}});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, (std::vector<tag_rule>{{"role", "web", 2}, {"zone", "eu", 0}}));
  for (const char* bad : {"web:0", "web:", "web:x", "web:1234567", "a:b"}) {
    auto e = parse_job_tags({{"role", bad}});
    ASSERT_FALSE(e.ok()) << bad;
    EXPECT_EQ(e.err().code, base::errc::invalid_argument);
    EXPECT_NE(e.err().message.find("tags[role]"), std::string::npos);
  }
  // The last colon splits, so a value may itself hold one.
  EXPECT_EQ(*parse_job_tags({{"addr", "host:80:3"}}),
            (std::vector<tag_rule>{{"addr", "host:80", 3}}));
}

TEST(targets, a_node_matches_when_every_tag_matches) {
  EXPECT_EQ(pick(req({{"zone", "eu"}}, target_mode::all)), (strings{"a", "b", "e"}));
  EXPECT_EQ(pick(req({{"zone", "eu"}, {"disk", "ssd"}}, target_mode::all)), (strings{"a", "e"}));
  EXPECT_EQ(pick(req({{"role", "sundial"}}, target_mode::all)).size(), 5u);
  EXPECT_TRUE(node_matches(cluster()[0], {}));
  EXPECT_FALSE(node_matches(cluster()[1], {{"disk", "ssd", 0}}));
}

TEST(targets, no_tags_target_one_picks_one_and_all_takes_every_node) {
  EXPECT_EQ(pick(req()), (strings{"c"}));  // least busy
  EXPECT_EQ(pick(req({}, target_mode::all)), (strings{"a", "b", "c", "d", "e"}));
}

TEST(targets, a_count_picks_that_many_and_the_lowest_count_wins) {
  EXPECT_EQ(pick(req({{"zone", "eu:2"}})), (strings{"b", "e"}));          // least busy: 1, 1
  EXPECT_EQ(pick(req({{"zone", "eu:2"}}, target_mode::all)).size(), 2u);  // count beats all
  EXPECT_EQ(pick(req({{"zone", "eu:3"}, {"role", "sundial:1"}})), (strings{"b"}));
  EXPECT_EQ(pick(req({{"zone", "eu:10"}})).size(), 3u);  // fewer nodes than the count
}

TEST(targets, dead_and_draining_nodes_are_never_picked) {
  auto nodes = cluster();
  nodes[2].alive = false;    // c, the least busy
  nodes[1].draining = true;  // b
  EXPECT_EQ(pick(req({}, target_mode::all), nodes), (strings{"a", "d", "e"}));
  EXPECT_EQ(pick(req(), nodes), (strings{"e"}));
  for (auto r : {routing_policy::random, routing_policy::round_robin, routing_policy::least_busy,
                 routing_policy::consistent_hash}) {
    for (std::uint64_t s = 0; s < 50; ++s) {
      target_request q = req({}, target_mode::one, r);
      q.seed = s;
      q.cursor = s;
      const strings got = pick(q, nodes);
      ASSERT_EQ(got.size(), 1u);
      EXPECT_NE(got[0], "b");
      EXPECT_NE(got[0], "c");
    }
  }
}

TEST(targets, least_busy_breaks_ties_by_name) {
  auto nodes = cluster();
  for (auto& n : nodes)
    n.running = 4;
  nodes[3].running = 1;  // d
  nodes[4].running = 1;  // e
  EXPECT_EQ(pick(req({{"role", "sundial:3"}}), nodes), (strings{"d", "e", "a"}));
}

TEST(targets, round_robin_walks_the_matching_nodes_with_the_callers_cursor) {
  target_request q = req({{"zone", "eu"}}, target_mode::one, routing_policy::round_robin);
  strings seen;
  for (int i = 0; i < 6; ++i) {
    auto c = choose_targets(q, cluster());
    ASSERT_TRUE(c.ok());
    seen.push_back(c->nodes[0]);
    EXPECT_EQ(c->cursor, q.cursor + 1);
    q.cursor = c->cursor;
  }
  EXPECT_EQ(seen, (strings{"a", "b", "e", "a", "b", "e"}));
  q.tags = {{"zone", "eu:2"}};
  q.cursor = 2;
  auto c = choose_targets(q, cluster());
  EXPECT_EQ(c->nodes, (strings{"e", "a"}));
  EXPECT_EQ(c->cursor, 4u);
}

TEST(targets, random_is_deterministic_from_the_seed_and_spreads) {
  target_request q = req({}, target_mode::one, routing_policy::random);
  std::map<std::string, int> hits;
  for (std::uint64_t s = 0; s < 1000; ++s) {
    q.seed = s;
    const strings a = pick(q);
    EXPECT_EQ(a, pick(q));
    ++hits[a[0]];
  }
  ASSERT_EQ(hits.size(), 5u);
  for (const auto& [n, h] : hits)
    EXPECT_GT(h, 120) << n;
  // The order of the node list does not matter.
  auto reversed = cluster();
  std::reverse(reversed.begin(), reversed.end());
  q.seed = 77;
  EXPECT_EQ(pick(q), pick(q, reversed));
  q.tags = {{"role", "sundial:3"}};
  const strings three = pick(q);
  EXPECT_EQ(std::set<std::string>(three.begin(), three.end()).size(), 3u);
}

TEST(targets, consistent_hash_is_stable_when_other_nodes_come_and_go) {
  std::vector<node_view> many;
  for (int i = 0; i < 20; ++i)
    many.push_back(node("n" + std::to_string(i)));
  int moved = 0;
  for (int j = 0; j < 200; ++j) {
    target_request q = req({}, target_mode::one, routing_policy::consistent_hash);
    q.job = "job-" + std::to_string(j);
    const std::string owner = pick(q, many)[0];
    // Another node leaves or joins: the owner stays.
    auto fewer = many;
    fewer.erase(std::find_if(fewer.begin(), fewer.end(),
                             [&](const node_view& n) { return n.name != owner; }));
    EXPECT_EQ(pick(q, fewer)[0], owner);
    auto more = many;
    more.push_back(node("newcomer"));
    const std::string now = pick(q, more)[0];
    EXPECT_TRUE(now == owner || now == "newcomer");
    if (now == "newcomer") ++moved;
    // The owner leaves: someone else takes it, and the same someone every time.
    auto without = many;
    without.erase(std::find_if(without.begin(), without.end(),
                               [&](const node_view& n) { return n.name == owner; }));
    EXPECT_EQ(pick(q, without), pick(q, without));
    EXPECT_NE(pick(q, without)[0], owner);
  }
  // About 1/21 of the jobs move to a newcomer, not most of them.
  EXPECT_LT(moved, 30);
}

TEST(targets, retry_same_node_stays_or_fails) {
  target_request q = req({{"zone", "eu"}});
  q.retry = retry_on::same_node;
  q.retry_of_node = "a";
  EXPECT_EQ(pick(q), (strings{"a"}));
  auto nodes = cluster();
  nodes[0].alive = false;
  EXPECT_EQ(error_of(q, nodes), "retry_on same_node: node a of job backup is dead");
  nodes[0].alive = true;
  nodes[0].draining = true;
  EXPECT_EQ(error_of(q, nodes), "retry_on same_node: node a of job backup is draining");
  q.retry_of_node = "zz";
  EXPECT_EQ(error_of(q), "retry_on same_node: node zz of job backup is not a member");
}

TEST(targets, retry_any_node_prefers_another_node) {
  target_request q = req({{"zone", "eu"}}, target_mode::all, routing_policy::least_busy);
  q.retry_of_node = "b";  // b and e both run 1; a retry is one execution: one node
  EXPECT_EQ(pick(q), (strings{"e"}));
  q.retry_of_node = "e";
  EXPECT_EQ(pick(q), (strings{"b"}));
  // Only the failed node qualifies: it gets the retry.
  auto nodes = cluster();
  nodes[0].alive = false;
  nodes[4].alive = false;
  q.retry_of_node = "b";
  EXPECT_EQ(pick(q, nodes), (strings{"b"}));
  nodes[1].alive = false;
  EXPECT_EQ(error_of(q, nodes),
            "no alive node matches tags {zone=eu}: 5 nodes, 3 with zone=eu but 3 dead, 0 draining");
}

TEST(targets, no_match_errors_say_why) {
  auto e = choose_targets(req({{"role", "web"}}), cluster());
  ASSERT_FALSE(e.ok());
  EXPECT_EQ(e.err().code, base::errc::unavailable);
  EXPECT_EQ(e.err().message, "no alive node matches tags {role=web}: 5 nodes, none with role=web");
  EXPECT_EQ(error_of(req({{"zone", "eu:2"}, {"disk", "hdd"}})),
            "no alive node matches tags {disk=hdd, zone=eu:2}: 5 nodes, none with disk=hdd");
  EXPECT_EQ(error_of(req({{"zone", "us"}, {"disk", "ssd"}, {"role", "sundial"}}),
                     {node("b", {{"zone", "us"}}), node("c", {{"disk", "ssd"}})}),
            "no alive node matches tags {disk=ssd, role=sundial, zone=us}: 2 nodes, none with "
            "all of disk=ssd, role=sundial, zone=us");
  auto nodes = cluster();
  for (auto& n : nodes)
    n.alive = false;
  nodes[0].alive = true;
  nodes[0].draining = true;
  EXPECT_EQ(error_of(req(), nodes),
            "no alive node to run job backup on: 5 nodes, 4 dead, 1 draining");
  EXPECT_EQ(error_of(req(), {}), "no alive node to run job backup on: 0 nodes, 0 dead, 0 draining");
  EXPECT_EQ(choose_targets(req({{"zone", "eu:0"}}), cluster()).err().code,
            base::errc::invalid_argument);
}

}  // namespace
}  // namespace sundial::scheduler
