#pragma once
// Wiring only: builds a Sundial server from its options (storage, transport, Raft node, state,
// HTTP API), forms or joins the cluster, and starts and stops the parts in order.

#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "api/http_server.h"
#include "base/result.h"

namespace sundial::server {

struct server_options {
  std::string node_name;
  std::string data_dir;  // empty with dev: a temporary directory
  std::string rpc_addr = "127.0.0.1:6868";
  std::string http_addr = "127.0.0.1:8080";
  bool dev = false;                     // single node, temporary data, bootstraps itself
  int bootstrap_expect = 0;             // form a new cluster once this many servers meet
  std::vector<std::string> join;        // RPC addresses of other servers
  std::chrono::milliseconds tick{100};  // heartbeat; election timeout = election_ticks ticks
  int election_ticks = 10;
  // Applied entries between snapshots. A state snapshot is taken on the apply thread and holds
  // applies back while it runs: at 10,000 (the old default) and 10k writes/s that was a pause a
  // second, the p99 of writes (bench/results/api_server.txt). etcd snapshots every 100,000 too.
  std::uint64_t snapshot_every = 100000;
  std::uint64_t snapshot_retain = 5000;  // entries kept behind a snapshot
  // Recovery after a permanent loss of quorum: make this server the only member, keeping its
  // data (docs/operations.md). Entries it holds that were never committed become committed.
  bool force_new_cluster = false;
  // Tags this server's agent carries besides role=sundial (Dkron's --tag key=value).
  std::map<std::string, std::string> tags;
  // Slots are journaled and armed on their agents this far ahead of their instant.
  std::chrono::milliseconds lookahead{2000};
  // A node that does not answer this long has its runs declared lost.
  std::chrono::milliseconds agent_ttl{10000};
  api::http_options http;                      // the API server's threads, timeouts and limits
  std::size_t max_restore_bytes = 256u << 20;  // POST /v1/restore's body
};

class server {
 public:
  static base::result<std::unique_ptr<server>> start(const server_options& options);
  ~server();
  // Blocks until request_stop() or stop().
  void wait();
  // Asks wait() to return (safe from any thread, e.g. a signal-waiting thread).
  void request_stop();
  // Stops every part in order; idempotent and safe to call from several threads.
  void stop();
  int http_port() const;
  int rpc_port() const;
  // The HTTP routes this server serves (e.g. to check them against the OpenAPI document).
  std::vector<api::route_info> http_routes() const;
  // One raw HTTP request through the API's parsing, limits, routing and handlers, without a
  // socket (api::http_server::serve_bytes): for the fuzzer and tests.
  std::string serve_http_bytes(std::string_view raw);

  struct impl;

 private:
  explicit server(std::unique_ptr<impl> i);
  std::unique_ptr<impl> impl_;
};

// The node id of a server: FNV-1a of its name (never 0), so every server can compute every
// other's id from its name alone.
std::uint64_t node_id_for(const std::string& name);

}  // namespace sundial::server
