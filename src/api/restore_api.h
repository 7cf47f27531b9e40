#pragma once
// POST /v1/restore: a backup (what GET /v1/jobs returns, a JSON array of jobs) in the
// multipart field `file`, or as the bare body. The body is streamed to a temporary file (up to
// restore_options::max_body_bytes) and parsed one job at a time, so a large backup never sits
// in memory as a JSON tree.
//
// Every job is checked before anything is written: an invalid job, a job named twice, a missing
// parent or a cycle rejects the whole file with a 4xx and creates nothing (DKRON_API.md).
// The jobs are then written in Raft commands of at most ~512 KiB, parents before children; a
// backup that fits one command is all or nothing even against a concurrent change. A larger one
// can fail part-way only if the cluster fails or changes under it (no leader, a parent deleted
// meanwhile); the answer then says how many jobs were restored.

#include "api/http_server.h"
#include "api/jobs_api.h"
#include "raft_node/node.h"
#include "state/job_store.h"
#include "state/kv_state.h"

namespace sundial::api {

// Up to this many restored jobs are returned as stored (with X-Total-Count); a larger restore
// answers {"restored": N} instead of a body of that size.
inline constexpr std::size_t restore_echo_limit = 10'000;

void register_restore_route(http_server& server, raft_node::node& node, state::kv_state& kv,
                            state::job_store& jobs, const jobs_api_options& options);

}  // namespace sundial::api
