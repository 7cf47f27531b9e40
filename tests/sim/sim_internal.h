#pragma once
// Internals of the simulator, shared by its source files: simulation.cc (setup, driver and
// the end-of-run checks), sim_workload.cc (clients and fault injection) and sim_checks.cc
// (the invariants checked after every step). Not a public interface.

#include <algorithm>
#include <cstdio>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <sstream>
#include <vector>
#include "kv.h"
#include "linearizability.h"
#include "raft/codec.h"
#include "raft/raw_node.h"

#include "simulation.h"

namespace sundial::sim::internal {

using raft::conf_change;
using raft::conf_change_type;
using raft::entry;
using raft::entry_type;
using raft::index_t;
using raft::message;
using raft::message_type;
using raft::node_id;
using raft::ready;
using raft::role;
using raft::term_t;

constexpr std::uint64_t tick_units = 10;        // one Raft tick
constexpr std::uint64_t op_timeout = 3000;      // a client gives up after this
constexpr std::uint64_t liveness_bound = 6000;  // 60 ticks = 6 election timeouts
constexpr std::uint64_t never = std::numeric_limits<std::uint64_t>::max();

class prng {
 public:
  explicit prng(std::uint64_t seed) : s_(seed * 0x9e3779b97f4a7c15ull + 0x1234567ull) { next(); }
  std::uint64_t next() {
    s_ ^= s_ >> 12;
    s_ ^= s_ << 25;
    s_ ^= s_ >> 27;
    return s_ * 0x2545f4914f6cdd1dull;
  }
  std::uint64_t below(std::uint64_t n) { return n == 0 ? 0 : next() % n; }
  std::uint64_t between(std::uint64_t lo, std::uint64_t hi) { return lo + below(hi - lo + 1); }
  // True with probability per_mille / 1000.
  bool chance(std::uint64_t per_mille) { return below(1000) < per_mille; }

 private:
  std::uint64_t s_;
};

inline std::uint64_t mix(std::uint64_t h, std::uint64_t v) {
  h ^= v + 0x9e3779b97f4a7c15ull + (h << 6) + (h >> 2);
  return h;
}

inline std::uint64_t hash_bytes(std::string_view s) {
  std::uint64_t h = 0xcbf29ce484222325ull;
  for (unsigned char c : s) {
    h ^= c;
    h *= 0x100000001b3ull;
  }
  return h;
}

inline std::uint64_t entry_hash(std::uint64_t prev, const entry& e) {
  return mix(mix(mix(prev, e.term.value()), static_cast<std::uint64_t>(e.type)),
             hash_bytes(e.data.view()));
}

struct violation {
  std::string what;
};

struct client_op {
  std::size_t history_index;  // into history
  command cmd;
  node_id node;
  std::uint64_t started = 0;
  std::string read_ctx;
  std::optional<index_t> read_index;
};

struct sim_node {
  node_id id;
  std::unique_ptr<raft::memory_storage> disk;  // what survives a crash
  std::unique_ptr<raft::raw_node> raft;        // null while down
  kv_store kv;
  index_t applied;
  std::optional<ready> pending;  // taken from the core, not yet persisted
  std::uint64_t persist_at = 0;
  bool up = false;
  bool retired = false;     // removed from the cluster and shut down for good
  bool was_member = false;  // has seen itself in the membership
  std::uint64_t tick_phase = 0;
  // Checker state: hash chain over this node's persisted log, chain[i - chain_base].
  index_t chain_base;
  std::vector<std::uint64_t> chain;
  index_t max_commit;  // this incarnation's highest commit index
  index_t persisted_commit;
  role last_role = role::follower;
};

struct in_flight {
  std::uint64_t at;
  std::uint64_t seq;
  message m;
  bool operator>(const in_flight& o) const { return at != o.at ? at > o.at : seq > o.seq; }
};

class simulation {
 public:
  explicit simulation(const sim_options& o) : opt_(o), rng_(o.seed) {}

  sim_result run();

 private:
  // setup and lifecycle
  raft::config make_config(node_id id) const;
  void boot(int voters);
  void start_node(sim_node& n);
  void crash(sim_node& n);
  sim_node* leader();
  std::vector<sim_node*> live();

  // the loop
  void step_time();
  void process_ready(sim_node& n);
  void persist_and_apply(sim_node& n, ready rd);
  void apply_entry(sim_node& n, const entry& e);
  void send(const message& m);
  void deliver(message m);
  void random_faults();
  void client_actions();
  void finish_ops(sim_node& n);
  void time_out_ops();

  // checks
  void check(sim_node& n);
  void check_all();
  void chain_append(sim_node& n, const std::vector<entry>& es);
  void chain_reset(sim_node& n, index_t base);
  void fail(const std::string& what) {
    if (!failure_) failure_ = "t=" + std::to_string(now_) + ": " + what;
  }
  void trace(const std::string& line) {
    trace_hash_ = mix(trace_hash_, hash_bytes(line));
    if (opt_.verbose)
      std::printf("%8llu %s\n", static_cast<unsigned long long>(now_), line.c_str());
  }

  sim_options opt_;
  prng rng_;
  std::uint64_t now_ = 0;
  std::uint64_t trace_hash_ = 0;
  std::optional<std::string> failure_;
  sim_stats stats_;

  std::map<node_id, sim_node> nodes_;
  std::uint64_t next_id_ = 1;
  std::vector<in_flight> net_;  // a heap on (at, seq)
  std::uint64_t msg_seq_ = 0;
  // Faults.
  std::set<std::pair<node_id, node_id>> cut_;  // one-way: from -> to blocked
  std::uint64_t drop_per_mille_ = 0;
  std::uint64_t dup_per_mille_ = 0;
  std::uint64_t max_delay_ = 5;
  bool faults_on_ = true;
  bool clients_on_ = true;

  // Global knowledge for the invariants.
  std::map<std::uint64_t, node_id> leader_of_term_;
  std::map<std::pair<std::uint64_t, std::uint64_t>, std::uint64_t> chain_by_index_term_;
  struct committed {
    term_t term;
    std::uint64_t chain;
    std::uint64_t digest;
    std::uint64_t client;
    std::uint64_t seq;
  };
  std::map<std::uint64_t, committed> committed_;  // index -> what was applied there
  std::uint64_t max_committed_ = 1;

  // Clients.
  std::vector<operation> history_;
  std::map<std::uint64_t, client_op> outstanding_;  // by client
  std::map<std::uint64_t, std::uint64_t> client_seq_;
  std::uint64_t clients_ = 4;
  std::uint64_t writes_acked_ = 0;
  std::set<std::pair<std::uint64_t, std::uint64_t>> acked_writes_;
};

}  // namespace sundial::sim::internal
