#include "api/cluster_api.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <memory>
#include <thread>

#include "api/answers.h"
#include "api/event_hub.h"
#include "base/version.h"

namespace sundial::api {

using nlohmann::json;
using namespace std::chrono_literals;

namespace {

struct context {
  // A constructor rather than parenthesized aggregate initialization, which clang 14 (the
  // fuzz build's compiler) lacks.
  context(raft_node::node& n, state::kv_state& k, cluster_api_options o)
      : node(n), kv(k), opt(std::move(o)) {}
  raft_node::node& node;
  state::kv_state& kv;
  cluster_api_options opt;
  std::atomic<bool> leaving{false};
  event_hub leader_events;
};

// {"leader": NAME or "", "term": N, "node": THIS NODE} for GET /v1/events/leader.
std::string leader_event(const context& c, const raft_node::node_status& s) {
  std::string name;
  if (s.leader != raft::no_node) {
    const auto m = c.kv.member(s.leader.value());
    name = m ? m->name : std::to_string(s.leader.value());
  }
  return sse_event("leader",
                   json{{"leader", name}, {"term", s.term.value()}, {"node", c.opt.self.name}}.dump(
                       -1, ' ', false, json::error_handler_t::replace));
}

bool contains(const std::vector<raft::node_id>& ids, std::uint64_t id) {
  return std::find(ids.begin(), ids.end(), raft::node_id{id}) != ids.end();
}

std::string_view status_text(member_status s) {
  switch (s) {
    case member_status::alive:
      return "alive";
    case member_status::leaving:
      return "leaving";
    case member_status::left:
      return "left";
    case member_status::failed:
      return "failed";
  }
  return "none";
}

json self_tags(const context& c) {
  return member_json(c.opt.self, member_status::alive, c.opt.datacenter)["Tags"];
}

// Every known server with its status, sorted by name (Serf's order is arbitrary; a stable
// one reads better in tables).
json members_json(const context& c) {
  const std::set<std::uint64_t> down =
      c.opt.unreachable_peers ? c.opt.unreachable_peers() : std::set<std::uint64_t>{};
  auto members = c.kv.members();
  std::sort(members.begin(), members.end(),
            [](const auto& a, const auto& b) { return a.name < b.name; });
  json out = json::array();
  for (const auto& m : members) {
    const bool failed = m.id != c.opt.self.id && down.count(m.id) > 0;
    out.push_back(
        member_json(m, failed ? member_status::failed : member_status::alive, c.opt.datacenter));
  }
  return out;
}

response node_info(const context& c) {
  const auto s = c.node.status();
  const json members = members_json(c);
  const auto failed = std::count_if(members.begin(), members.end(), [](const json& m) {
    return m["Status"] == static_cast<int>(member_status::failed);
  });
  std::string leader_name;
  if (auto m = c.kv.member(s.leader.value())) leader_name = m->name;
  // Serf's stats are strings; kept so Dkron's UI reads them as it does from Dkron.
  const json serf{{"members", std::to_string(members.size())},
                  {"failed", std::to_string(failed)},
                  {"left", "0"},
                  {"encrypted", "false"}};
  const json raft{{"state", std::string(raft::to_string(s.state))},
                  {"term", s.term.value()},
                  {"leader", std::to_string(s.leader.value())},
                  {"leader_name", leader_name},
                  {"commit_index", s.commit.value()},
                  {"applied_index", s.applied.value()},
                  {"voters", s.members.voters.size()},
                  {"learners", s.members.learners.size()}};
  const json agent{{"name", c.opt.self.name},
                   {"id", std::to_string(c.opt.self.id)},
                   {"version", std::string(base::version)},
                   {"server", true},
                   {"backend", "raft+lmdb"}};
  return json_ok(200,
                 json{{"agent", agent}, {"serf", serf}, {"raft", raft}, {"tags", self_tags(c)}});
}

// Waits until another server leads, asking the most caught-up voter to take over while this
// one still does. Polls node status: the node offers leader-change callbacks but no way to
// remove one, and a leave happens once per process.
base::status hand_over_leadership(context& c, std::chrono::steady_clock::time_point deadline) {
  auto next_request = std::chrono::steady_clock::now();
  while (true) {
    const auto s = c.node.status();
    if (s.state != raft::role::leader && s.leader != raft::no_node &&
        s.leader.value() != c.opt.self.id) {
      return {};
    }
    const auto now = std::chrono::steady_clock::now();
    if (now >= deadline) {
      return base::fail(base::errc::unavailable,
                        "leadership was not handed over in time; nothing changed, retry the leave");
    }
    if (s.state == raft::role::leader && now >= next_request) {
      raft::node_id target = raft::no_node;
      raft::index_t best;
      for (auto v : s.members.voters) {
        if (v.value() == c.opt.self.id) continue;
        auto it = s.match.find(v);
        const raft::index_t match = it == s.match.end() ? raft::index_t{} : it->second;
        if (target == raft::no_node || match > best) {
          target = v;
          best = match;
        }
      }
      if (target != raft::no_node) {
        spdlog::info("leave: handing leadership to {}", target.value());
        c.node.transfer_leadership(target);
      }
      // The core abandons a transfer after an election timeout; ask again after a while.
      next_request = now + 1s;
    }
    std::this_thread::sleep_for(20ms);
  }
}

response leave(context& c) {
  if (!c.opt.remove_from_cluster || !c.opt.stop)
    return json_error(501, "this server cannot leave the cluster (no removal path configured)");
  if (c.leaving.exchange(true)) return json_error(409, "this server is already leaving");
  auto refuse = [&c](response r) {
    c.leaving = false;
    return r;
  };
  const auto s = c.node.status();
  const std::uint64_t self = c.opt.self.id;
  const bool voter = contains(s.members.voters, self);
  if (!voter && !contains(s.members.learners, self))
    return refuse(json_error(409, "this server is not a member of the cluster"));
  if (voter && s.members.voters.size() == 1) {
    return refuse(json_error(409,
                             "this server is the cluster's only voter and cannot leave it (a "
                             "cluster cannot remove its last voter); stop the server instead"));
  }
  const auto deadline = std::chrono::steady_clock::now() + c.opt.leave_timeout;
  // Hand leadership over first: the removal is then an ordinary change by a leader that stays,
  // and the cluster keeps a leader throughout instead of relying on a removed leader's parting
  // timeout_now.
  if (voter) {
    if (auto st = hand_over_leadership(c, deadline); !st) return refuse(error_answer(st.err()));
  }
  const auto left = std::max(std::chrono::duration_cast<std::chrono::milliseconds>(
                                 deadline - std::chrono::steady_clock::now()),
                             1000ms);
  if (auto st = c.opt.remove_from_cluster(self, left); !st) return refuse(error_answer(st.err()));
  spdlog::info("leave: {} was removed from the cluster; stopping", c.opt.self.name);
  c.opt.stop();
  return json_ok(200, member_json(c.opt.self, member_status::left, c.opt.datacenter));
}

}  // namespace

json member_json(const state::member_info& m, member_status status, const std::string& datacenter) {
  std::string host;
  int port = 0;
  if (auto hp = split_host_port(m.rpc_addr)) {
    host = hp->first;
    port = hp->second;
  }
  const json tags{{"role", "sundial"},
                  {"server", "true"},
                  {"dc", datacenter},
                  {"region", "global"},
                  {"port", std::to_string(port)},
                  {"rpc_addr", m.rpc_addr},
                  {"http_addr", m.http_addr},
                  {"version", std::string(base::version)}};
  // Protocol numbers are Serf's current ones, as Dkron 3.x reports them.
  return json{{"Name", m.name},
              {"Addr", host},
              {"Port", port},
              {"Tags", tags},
              {"Status", static_cast<int>(status)},
              {"statusText", std::string(status_text(status))},
              {"ProtocolMin", 1},
              {"ProtocolMax", 5},
              {"ProtocolCur", 2},
              {"DelegateMin", 2},
              {"DelegateMax", 5},
              {"DelegateCur", 4},
              {"id", std::to_string(m.id)}};
}

void register_cluster_routes(http_server& server, raft_node::node& node, state::kv_state& kv,
                             cluster_api_options options) {
  auto c = std::make_shared<context>(node, kv, std::move(options));

  server.route("GET", "/v1", [c](const request&) { return node_info(*c); });
  // "/v1/" is a prefix route (the router's rule for a trailing '/'): it also receives every
  // path under /v1/ that no other route claims, which must stay 404 whatever the method.
  for (const char* m : {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"}) {
    server.route(m, "/v1/", [c](const request& req) -> response {
      if (req.path != "/v1/") return json_error(404, "no route for " + req.path);
      if (req.method != "GET") return json_error(405, "use GET on /v1/");
      return node_info(*c);
    });
  }

  server.route("GET", "/v1/members", [c](const request&) {
    const json members = members_json(*c);
    auto r = json_ok(200, members);
    r.headers.emplace_back("X-Total-Count", std::to_string(members.size()));
    return r;
  });

  server.route("GET", "/v1/leader", [c](const request&) -> response {
    const auto s = c->node.status();
    if (s.leader == raft::no_node) return json_error(503, "no leader elected yet");
    // A leader missing from the address book (not expected: founders and joiners carry their
    // addresses) is still named by id.
    const auto m =
        c->kv.member(s.leader.value()).value_or(state::member_info{s.leader.value(), "", "", ""});
    const bool down = m.id != c->opt.self.id && c->opt.unreachable_peers &&
                      c->opt.unreachable_peers().count(m.id);
    return json_ok(200, member_json(m, down ? member_status::failed : member_status::alive,
                                    c->opt.datacenter));
  });
  server.route("GET", "/v1/isleader", [c](const request&) -> response {
    if (c->node.status().state == raft::role::leader)
      return json_ok(200, json{{"leader", true}, {"message", "Node is leader"}});
    return json_ok(404, json{{"leader", false}, {"message", "Node is not a leader"}});
  });

  server.route(
      "POST", "/v1/leave", [c](const request&) { return leave(*c); }, route_kind::blocking);

  // Server-sent events: the leader now and at every change (a Sundial extension; the UI and
  // scripts follow leadership without polling).
  c->node.on_leader_change([weak = std::weak_ptr<context>(c)](const raft_node::node_status& s) {
    if (auto cc = weak.lock()) cc->leader_events.publish(leader_event(*cc, s));
  });
  server.route_async("GET", "/v1/events/leader", [c](request&&, responder reply) {
    auto stream = reply.open_stream(200, "text/event-stream", {}, sse_keep_alive);
    c->leader_events.subscribe(std::move(stream), leader_event(*c, c->node.status()));
  });
}

}  // namespace sundial::api
