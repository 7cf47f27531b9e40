#include "agent/agent_service.h"

namespace sundial::agent {

namespace {
grpc::Status not_ready() {
  return grpc::Status(grpc::StatusCode::UNAVAILABLE, "the agent is not running yet");
}
}  // namespace

grpc::Status agent_service::Dispatch(grpc::ServerContext*, const pb::DispatchRequest* req,
                                     pb::DispatchResponse* resp) {
  agent* a = agent_.load();
  if (!a) return not_ready();
  *resp = a->dispatch(*req);
  return grpc::Status::OK;
}

grpc::Status agent_service::Stop(grpc::ServerContext*, const pb::StopRequest* req,
                                 pb::StopResponse* resp) {
  agent* a = agent_.load();
  if (!a) return not_ready();
  *resp = a->stop(*req);
  return grpc::Status::OK;
}

grpc::Status agent_service::Status(grpc::ServerContext*, const pb::StatusRequest* req,
                                   pb::StatusResponse* resp) {
  agent* a = agent_.load();
  if (!a) return not_ready();
  *resp = a->status(*req);
  return grpc::Status::OK;
}

}  // namespace sundial::agent
