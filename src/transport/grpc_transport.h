#pragma once
// Raft messages between servers over gRPC, after etcd's rafthttp: per peer, one long-lived
// client stream for ordinary and append messages, and a separate chunked stream for snapshots
// so that a large snapshot never delays heartbeats. A peer that cannot be reached gets no
// queue: while it is down (reconnecting with exponential backoff) its messages are dropped and
// reported to the core as unreachable, which makes the core probe it gently. Queues are bounded
// in messages and bytes either way.

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <grpcpp/impl/codegen/service_type.h>

#include "base/result.h"
#include "raft_node/node.h"

namespace sundial::transport {

using raft::node_id;

// Where incoming messages and delivery reports go (the node).
class receiver {
 public:
  virtual ~receiver() = default;
  virtual void step(raft::message m) = 0;
  virtual void report_unreachable(node_id peer) = 0;
  virtual void report_snapshot(node_id peer, bool delivered) = 0;
};

struct transport_options {
  std::string advertise;  // this server's RPC address as peers should dial it
  std::size_t max_queue_messages = 4096;
  std::size_t max_queue_bytes = 64 << 20;
  std::size_t max_batch_bytes = 4 << 20;
  std::size_t snapshot_chunk_bytes = 1 << 20;
  // Where snapshots whose data is a file are received (the node's snapshot directory, so that
  // storage can adopt them with a rename). Empty: such snapshots are refused.
  std::string snapshot_dir;
  std::chrono::milliseconds backoff_min{100};
  std::chrono::milliseconds backoff_max{5000};
  std::chrono::milliseconds connect_timeout{1000};
};

struct peer_status {
  node_id id;
  std::string address;
  bool active = false;
  std::chrono::system_clock::time_point active_since;  // when the current stream came up
  std::uint64_t bytes_sent = 0;
  std::uint64_t bytes_received = 0;
  std::uint64_t dropped = 0;  // messages dropped (peer down or queue full)
  std::string last_error;
};

class grpc_transport final : public raft_node::transport {
 public:
  grpc_transport(node_id self, transport_options options = {});
  ~grpc_transport() override;

  // Serves the Raft service (and `extra` services, e.g. cluster formation) on `listen`
  // ("host:port"; port 0 picks one). Returns the bound port.
  base::result<int> start(const std::string& listen, receiver& r,
                          const std::vector<grpc::Service*>& extra = {});
  void stop();

  void set_peer(node_id id, const std::string& address);
  void remove_peer(node_id id);
  void send(std::vector<raft::message> messages) override;
  std::vector<peer_status> status() const;

  struct impl;

 private:
  std::unique_ptr<impl> impl_;
};

}  // namespace sundial::transport
