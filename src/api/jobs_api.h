#pragma once
// Dkron's v1 job routes (DKRON_API.md) over the replicated job store:
//   GET /v1/jobs (q, status, disabled, metadata[k]=v, _sort, _order, _start, _end;
//   X-Total-Count), POST|PATCH /v1/jobs, PUT|GET|DELETE /v1/jobs/{job},
//   POST /v1/jobs/{job}/toggle, GET|DELETE /v1/jobs/{job}/executions,
//   GET /v1/jobs/{job}/executions/{id}, GET|POST /v1/pause, POST /v1/unpause,
//   POST /v1/restore (restore_api.h).
// Writes go through Raft (a follower forwards them to the leader); reads are linearizable
// (a ReadIndex barrier) unless ?stale. Run-now (POST /v1/jobs/{job}, /run, ?runoncreate)
// answers 501 until the scheduler exists.

#include <chrono>

#include "api/http_server.h"
#include "raft_node/node.h"
#include "state/job_store.h"
#include "state/kv_state.h"

namespace sundial::api {

struct jobs_api_options {
  std::chrono::milliseconds write_timeout{5000};
  std::chrono::milliseconds read_timeout{5000};
  // The proposer's clock: commands carry its time, apply never reads one.
  std::function<std::int64_t()> now_us;
  std::size_t max_restore_bytes = 256u << 20;  // POST /v1/restore's body (restore_api.h)
};

void register_job_routes(http_server& server, raft_node::node& node, state::kv_state& kv,
                         state::job_store& jobs, jobs_api_options options);

}  // namespace sundial::api
