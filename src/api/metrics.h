#pragma once
// Prometheus metrics of one server, served on GET /metrics in the text exposition format
// (0.0.4): Raft progress read from the node at scrape time, leader changes, state machine apply
// latency and HTTP requests. docs/architecture.md ("Observability") says what each one means.

#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "api/http_server.h"
#include "raft_node/node.h"

namespace sundial::api {

class metrics {
 public:
  metrics();
  ~metrics();
  metrics(const metrics&) = delete;
  metrics& operator=(const metrics&) = delete;

  // Counts one answered HTTP request (an http_server request observer).
  void observe_request(const request_record& r);
  // A connection opened, closed, refused or cut (an http_server connection observer).
  void observe_connection(connection_event e);
  // One state machine apply and how long it took (raft_node::node_options::on_apply).
  void observe_apply(std::chrono::nanoseconds d);
  // A status published with a leader or role change (node::on_leader_change). Counts each term
  // in which this node learns of a leader, so losing sight of a leader and finding the same
  // one again in the same term is not a change.
  void observe_leader(const raft_node::node_status& s);
  // Scheduling (SEMANTICS.md; docs/architecture.md "Observability"): an armed run's lateness
  // (its instant to its process start), launches by outcome, missed (skipped) and caught-up
  // slots, runs lost with their node; the running count is read at scrape time.
  void observe_lateness(double seconds);
  void count_launches(std::string_view outcome, std::uint64_t n);
  void count_missed(std::uint64_t n);
  void count_caught_up(std::uint64_t n);
  void count_lost(std::uint64_t n);
  void set_running_count(std::function<std::uint64_t()> f);

  // Every metric as exposition text, with the Raft gauges taken from `s`.
  std::string render(const raft_node::node_status& s);

  struct impl;

 private:
  friend void register_metrics(http_server& server, raft_node::node& node, metrics& m);
  std::unique_ptr<impl> impl_;
};

// Serves GET /metrics from `m`, and makes `m` count `server`'s requests and `node`'s leader
// changes. Call before server.start().
void register_metrics(http_server& server, raft_node::node& node, metrics& m);

}  // namespace sundial::api
