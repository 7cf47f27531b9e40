#pragma once
// A deterministic, fault-injecting simulation of a Raft cluster: the real core (raw_node) on
// simulated time, network (delay, drop, duplicate, reorder, partitions) and storage (a crash
// loses what was not yet persisted). A client workload of get / put / compare-and-set runs
// throughout, with membership changes, leader transfers and compactions during faults.
//
// Invariants are checked after every step; at the end the client history is checked for
// linearizability and the healed cluster for liveness. Same options -> same trace hash.

#include <cstdint>
#include <string>

namespace sundial::sim {

struct sim_options {
  std::uint64_t seed = 1;
  int nodes = 3;                // 3, 5 or 7 voters at the start
  std::uint64_t steps = 20000;  // simulated time units with faults (a tick is 10 units)
  bool verbose = false;         // print the trace
  bool wire = true;             // send every message through the protobuf codec
};

struct sim_stats {
  std::uint64_t leaders = 0;      // distinct (term, leader) pairs seen
  std::uint64_t applied = 0;      // entries applied, all nodes
  std::uint64_t ops_ok = 0;       // client operations that completed
  std::uint64_t ops_unknown = 0;  // writes whose outcome stayed unknown
  std::uint64_t crashes = 0;
  std::uint64_t partitions = 0;
  std::uint64_t conf_changes = 0;  // membership changes committed
  std::uint64_t transfers = 0;     // leadership transfers requested
  std::uint64_t snapshots = 0;     // snapshots installed from a leader
  std::uint64_t compactions = 0;
  std::uint64_t messages = 0;  // delivered
};

struct sim_result {
  bool ok = true;
  std::string failure;  // what broke, with the step it broke at
  std::uint64_t trace_hash = 0;
  sim_stats stats;
};

sim_result run_simulation(const sim_options& options);

}  // namespace sundial::sim
