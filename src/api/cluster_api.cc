#include "api/cluster_api.h"

#include <algorithm>
#include <memory>

#include "api/answers.h"
#include "base/version.h"

namespace sundial::api {

using nlohmann::json;

namespace {

struct context {
  raft_node::node& node;
  state::kv_state& kv;
  cluster_api_options opt;
};

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

  server.route("GET", "/v1/busy", [](const request&) {
    // TODO(scheduler issue, the one after issue 5 "Replicated job store, Dkron-compatible REST
    // API and CLI"): answer the running executions (no finished_at) across the cluster. Nothing
    // runs yet, and job_store can only find them by reading every job's whole history, so this
    // waits for the scheduler's index of running executions.
    auto r = json_ok(200, json::array());
    r.headers.emplace_back("X-Total-Count", "0");
    return r;
  });
}

}  // namespace sundial::api
