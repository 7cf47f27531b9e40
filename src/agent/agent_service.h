#pragma once
// The Agent gRPC service (proto/agent.proto) on the RPC port: a thin adapter over `agent`.
// It may be registered before the agent exists (the RPC server starts first); until bind()
// it answers UNAVAILABLE.

#include <atomic>

#include "agent.grpc.pb.h"
#include "agent/agent.h"

namespace sundial::agent {

class agent_service final : public pb::Agent::Service {
 public:
  void bind(agent* a) { agent_.store(a); }

  grpc::Status Dispatch(grpc::ServerContext*, const pb::DispatchRequest* req,
                        pb::DispatchResponse* resp) override;
  grpc::Status Stop(grpc::ServerContext*, const pb::StopRequest* req,
                    pb::StopResponse* resp) override;
  grpc::Status Status(grpc::ServerContext*, const pb::StatusRequest* req,
                      pb::StatusResponse* resp) override;

 private:
  std::atomic<agent*> agent_{nullptr};
};

}  // namespace sundial::agent
