#pragma once
// Wiring of the parts that run jobs on a server: the executor's supervisor, the local agent and
// its gRPC service, the leader's scheduler and the Scheduler.Report service, and the gRPC
// clients between them (ARCHITECTURE.md "Data flow of one run"). Every server is also an agent:
// the leader reaches its own agent by a direct call and the others over gRPC.

#include <map>
#include <memory>
#include <string>

#include "agent.grpc.pb.h"
#include "api/metrics.h"
#include "base/result.h"
#include "raft_node/node.h"
#include "state/job_store.h"
#include "state/kv_state.h"

namespace sundial::server {

struct run_options {
  std::string node_name;
  std::string agent_dir;                    // <data-dir>/agent
  std::map<std::string, std::string> tags;  // role=sundial plus --tag
  std::chrono::milliseconds lookahead{2000};
  std::chrono::milliseconds agent_ttl{10000};
};

class run_services {
 public:
  // The gRPC services, to register with the RPC server before it starts; they answer
  // UNAVAILABLE until start().
  run_services();
  ~run_services();
  std::vector<grpc::Service*> grpc_services();

  // Observers to install before the Raft node starts (the job store's and leadership).
  void attach(state::job_store& jobs);
  // Starts the supervisor, the agent and the scheduler (after the node started).
  base::status start(const run_options& o, raft_node::node& node, state::job_store& jobs,
                     state::kv_state& kv, api::metrics& m);
  // Stops the scheduler, then the agent (its last report), then the processes.
  void stop();

  struct impl;

 private:
  std::unique_ptr<impl> impl_;
};

}  // namespace sundial::server
