#pragma once
// The replicated key-value API and the Raft membership endpoints:
//   PUT|POST /v1/kv/{key}[?cas=INDEX]   store the raw body (409 if cas does not match)
//   GET      /v1/kv/{key}[?stale]       the raw value, X-Sundial-Index: modify index; 404
//   DELETE   /v1/kv/{key}[?cas=INDEX]
//   GET /v1/raft/peers, DELETE /v1/raft/peers/{name|id}, GET /health
// (GET /v1/leader and /v1/isleader are cluster routes: cluster_api.h.)
// Reads are linearizable (a ReadIndex barrier) unless ?stale; writes on a follower are
// forwarded to the leader by Raft.

#include <chrono>

#include "api/http_server.h"
#include "raft_node/node.h"
#include "state/kv_state.h"

namespace sundial::api {

struct kv_api_options {
  std::chrono::milliseconds write_timeout{5000};
  std::chrono::milliseconds read_timeout{5000};
};

void register_kv_routes(http_server& server, raft_node::node& node, state::kv_state& kv,
                        kv_api_options options = {});

}  // namespace sundial::api
