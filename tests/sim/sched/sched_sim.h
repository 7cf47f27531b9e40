#pragma once
// A deterministic simulation of the scheduler: servers, each with its replicated job store,
// its leader's scheduler (the real driver, stepped) and its agent (the real one, with a
// simulated launcher), over a simulated clock, network and Raft log.
//
// Raft itself is proven by the cluster simulator (simulation.h); here it is a model with the
// properties the scheduler relies on and the faults it must survive: one committed log that
// every server applies in order (each at its own pace), one leader per term, proposals that
// commit, fail, or stay unknown and commit anyway after a leader change, barriers, and
// leaders that learn late that they were deposed.
//
// Faults: server crashes and restarts (a crash keeps the data dirs, loses what was in memory;
// processes a crashed agent started go on as orphans), full outages, partitions, lost and slow
// messages, leader changes, and wall-clock jumps on any server.
//
// Checked after every event (ISSUES 11 "Proof"): no execution starts twice anywhere; forbid
// never overlaps a run that was not declared lost; nothing scheduled after expires_at (or
// before starts_at) starts; a dependent starts only after its parent ended as on_parent asks.
// At the end, after a quiet period: every slot of every job from its creation to its last
// decided slot is accounted for exactly once (launched, merged into a catch-up run, or
// counted skipped), the scheduler kept up to the end, and no run is left hanging.

#include <cstdint>
#include <string>

namespace sundial::sched_sim {

struct sim_options {
  std::uint64_t seed = 1;
  int servers = 3;
  std::int64_t fault_us = 60'000'000;   // simulated time with faults
  std::int64_t settle_us = 25'000'000;  // then quiet: everything healed
  bool verbose = false;
};

struct sim_stats {
  std::uint64_t events = 0;
  std::uint64_t starts = 0;   // processes started
  std::uint64_t records = 0;  // execution records created
  std::uint64_t leader_changes = 0;
  std::uint64_t crashes = 0;
  std::uint64_t outages = 0;  // every server down at once
  std::uint64_t partitions = 0;
  std::uint64_t clock_jumps = 0;
  std::uint64_t lost = 0;      // records that reached lost
  std::uint64_t retries = 0;   // records with attempt > 1
  std::uint64_t catchups = 0;  // catch-up records
  std::uint64_t dependents = 0;
  std::uint64_t skipped = 0;          // slots counted skipped (forbid, misfire)
  std::uint64_t refused = 0;          // lifecycle steps the state refused
  std::uint64_t unknown_commits = 0;  // proposals whose proposer lost track but committed

  sim_stats& operator+=(const sim_stats& o);  // sums every field (over seeds)
};

struct sim_result {
  bool ok = true;
  std::string failure;  // the first broken invariant, with the simulated time
  std::uint64_t trace_hash = 0;
  sim_stats stats;
};

sim_result run(const sim_options& o);

}  // namespace sundial::sched_sim
