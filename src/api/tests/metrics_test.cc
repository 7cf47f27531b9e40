#include "api/metrics.h"

#include <gtest/gtest.h>

#include <map>
#include <sstream>
#include <string>

namespace sundial::api {
namespace {

using namespace std::chrono_literals;

// sample line ("name{labels}") -> value, from the exposition text.
std::map<std::string, double> samples(const std::string& text) {
  std::map<std::string, double> out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    const auto space = line.rfind(' ');
    out[line.substr(0, space)] = std::stod(line.substr(space + 1));
  }
  return out;
}

raft_node::node_status status(std::uint64_t term, std::uint64_t leader,
                              raft::role role = raft::role::follower) {
  raft_node::node_status s;
  s.id = raft::node_id{1};
  s.term = raft::term_t{term};
  s.leader = raft::node_id{leader};
  s.state = role;
  s.commit = raft::index_t{42};
  s.applied = raft::index_t{41};
  return s;
}

TEST(metrics, raft_gauges_come_from_the_status_at_render_time) {
  metrics m;
  auto s = samples(m.render(status(7, 1, raft::role::leader)));
  EXPECT_EQ(s["sundial_raft_term"], 7);
  EXPECT_EQ(s["sundial_raft_commit_index"], 42);
  EXPECT_EQ(s["sundial_raft_applied_index"], 41);
  EXPECT_EQ(s["sundial_raft_is_leader"], 1);
  s = samples(m.render(status(8, 2)));
  EXPECT_EQ(s["sundial_raft_term"], 8);
  EXPECT_EQ(s["sundial_raft_is_leader"], 0);
}

TEST(metrics, every_family_has_help_and_type) {
  metrics m;
  const std::string text = m.render(status(1, 1));
  for (const char* family :
       {"sundial_raft_term gauge", "sundial_raft_commit_index gauge",
        "sundial_raft_applied_index gauge", "sundial_raft_is_leader gauge",
        "sundial_raft_leader_changes_total counter", "sundial_raft_apply_seconds histogram"}) {
    EXPECT_NE(text.find(std::string("# TYPE ") + family + "\n"), std::string::npos) << family;
  }
  EXPECT_NE(text.find("# HELP sundial_raft_leader_changes_total "), std::string::npos) << text;
}

TEST(metrics, a_leader_change_is_counted_once_per_term) {
  metrics m;
  auto changes = [&] {
    return samples(m.render(status(1, 1)))["sundial_raft_leader_changes_total"];
  };
  EXPECT_EQ(changes(), 0);
  m.observe_leader(status(2, 0));  // an election without a winner yet
  EXPECT_EQ(changes(), 0);
  m.observe_leader(status(2, 5));
  EXPECT_EQ(changes(), 1);
  m.observe_leader(status(2, 0));  // lost sight of it (a pre-vote), then found it again
  m.observe_leader(status(2, 5));
  EXPECT_EQ(changes(), 1);
  m.observe_leader(status(4, 6));
  EXPECT_EQ(changes(), 2);
  m.observe_leader(status(5, 6));  // re-elected in a new term: a new election
  EXPECT_EQ(changes(), 3);
}

TEST(metrics, apply_latency_lands_in_its_bucket) {
  metrics m;
  m.observe_apply(3ms);
  m.observe_apply(20us);
  auto s = samples(m.render(status(1, 1)));
  EXPECT_EQ(s["sundial_raft_apply_seconds_count"], 2);
  EXPECT_NEAR(s["sundial_raft_apply_seconds_sum"], 0.00302, 1e-9);
  EXPECT_EQ(s["sundial_raft_apply_seconds_bucket{le=\"1e-05\"}"], 0);
  EXPECT_EQ(s["sundial_raft_apply_seconds_bucket{le=\"2.5e-05\"}"], 1);
  EXPECT_EQ(s["sundial_raft_apply_seconds_bucket{le=\"0.0025\"}"], 1);
  EXPECT_EQ(s["sundial_raft_apply_seconds_bucket{le=\"0.005\"}"], 2);
  EXPECT_EQ(s["sundial_raft_apply_seconds_bucket{le=\"+Inf\"}"], 2);
}

TEST(metrics, requests_are_counted_by_route_method_and_status) {
  metrics m;
  m.observe_request(request_record{"GET", "/v1/jobs/", 404, 2ms});
  m.observe_request(request_record{"GET", "/v1/jobs/", 404, 3ms});
  m.observe_request(request_record{"POST", "/v1/jobs", 201, 1ms});
  m.observe_request(request_record{"GET", "unmatched", 404, 1ms});
  auto s = samples(m.render(status(1, 1)));
  EXPECT_EQ(s["sundial_api_requests_total{method=\"GET\",route=\"/v1/jobs/\",status=\"404\"}"], 2);
  EXPECT_EQ(s["sundial_api_requests_total{method=\"POST\",route=\"/v1/jobs\",status=\"201\"}"], 1);
  EXPECT_EQ(s["sundial_api_requests_total{method=\"GET\",route=\"unmatched\",status=\"404\"}"], 1);
  EXPECT_EQ(s["sundial_api_request_seconds_count{route=\"/v1/jobs/\"}"], 2);
  EXPECT_NEAR(s["sundial_api_request_seconds_sum{route=\"/v1/jobs/\"}"], 0.005, 1e-9);
  EXPECT_EQ(s["sundial_api_request_seconds_bucket{route=\"/v1/jobs/\",le=\"0.0025\"}"], 1);
}

}  // namespace
}  // namespace sundial::api
