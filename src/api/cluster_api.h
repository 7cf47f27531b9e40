#pragma once
// Dkron's cluster routes (DKRON_API.md), answered in Serf's shapes so Dkron's tools keep working:
//   GET /v1, /v1/     this node: {"agent", "serf", "raft", "tags"}
//   GET /v1/members   every server as a Serf member; X-Total-Count
//   GET /v1/leader    the leader as a Serf member (503 while none is known)
//   GET /v1/isleader  200 on the leader, 404 elsewhere
//   GET /v1/busy      running executions across the cluster; X-Total-Count
//   POST /v1/leave    this server leaves: hands over leadership if it leads, has the leader
//                     remove it, answers, then stops
// Membership answers come from this node's copy of the replicated address book, without a read
// barrier: like Serf's view they must answer when the cluster has lost its quorum, which is
// when an operator needs them most.

#include <chrono>
#include <cstdint>
#include <functional>
#include <set>
#include <string>

#include <nlohmann/json.hpp>

#include "api/http_server.h"
#include "base/result.h"
#include "raft_node/node.h"
#include "state/kv_state.h"

namespace sundial::api {

struct cluster_api_options {
  state::member_info self;
  std::string datacenter = "dc1";
  // Peers the transport currently fails to reach (ids); they are listed as "failed".
  std::function<std::set<std::uint64_t>()> unreachable_peers;
  // Has the leader remove server `id` from the Raft configuration; blocks for at most
  // `timeout`. Leave needs it; without it POST /v1/leave answers 501.
  std::function<base::status(std::uint64_t id, std::chrono::milliseconds timeout)>
      remove_from_cluster;
  // Stops this server once the answer to POST /v1/leave has been handed back.
  std::function<void()> stop;
  // Bound on the whole leave: leadership hand-over plus removal.
  std::chrono::milliseconds leave_timeout{10000};
};

// Serf's member statuses (Dkron exposes them as numbers plus statusText).
enum class member_status { alive = 1, leaving = 2, left = 3, failed = 4 };

// A member in Serf's shape: Name, Addr, Port (of its RPC address), Tags, Status, statusText,
// the protocol numbers, and Sundial's id (decimal string). Tags carry role, server, dc,
// region, port, rpc_addr, http_addr and version (the answering node's: members do not
// exchange versions yet).
nlohmann::json member_json(const state::member_info& m, member_status status,
                           const std::string& datacenter);

void register_cluster_routes(http_server& server, raft_node::node& node, state::kv_state& kv,
                             cluster_api_options options);

}  // namespace sundial::api
