#pragma once
// The scheduler simulation's world (internal to tests/sim/sched): the event queue, the Raft
// model, the network, the servers, the simulated launcher and the checker.

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "agent/agent.h"
#include "base/clock.h"
#include "exec/launcher.h"
#include "raft_node/node.h"
#include "sched_sim.h"
#include "scheduler/leader.h"
#include "state/job_store.h"
#include "state/state_db.h"

namespace sundial::sched_sim {

class world;

// A server's wall clock: the simulated instant plus the server's offset (clock jumps).
class sim_clock final : public base::clock {
 public:
  sim_clock(const world& w, const std::int64_t& offset_us) : w_(w), offset_us_(offset_us) {}
  base::wall_time now() const override;
  base::mono_time mono_now() const override;

 private:
  const world& w_;
  const std::int64_t& offset_us_;
};

// A process the simulated launcher started (alive until it ends or is killed).
struct sim_process {
  int server = 0;
  std::string job, execution_id;
  std::int64_t started_us = 0;
  std::uint64_t identity = 0;
};

// The launcher of one server's agent: armed runs fire on simulated time, "processes" run for
// the time their command names ("sim <ms> <exit>"); a crash leaves them running as orphans.
class sim_launcher final : public exec::launcher {
 public:
  sim_launcher(world& w, int server) : w_(w), server_(server) {}
  base::result<exec::run_id> spawn_at(base::wall_time at, exec::shell_spec spec,
                                      exec::run_callbacks cb) override;
  bool stop(exec::run_id id, std::optional<std::chrono::nanoseconds> grace) override;
  std::uint64_t process_identity(int pid) const override;
  void kill_leftover_group(int pgid, std::uint64_t identity) override;

  // The server crashed: armed runs are gone, running ones go on with nobody to tell; every
  // callback still owed is answered at once (the dying agent waits for them).
  void crash();
  // The crashed agent is gone: what it had armed is dropped, what runs is an orphan now.
  void revive();
  // The server's wall clock jumped: armed runs follow it (an absolute realtime timer).
  void clock_jumped();

 private:
  struct run {
    exec::shell_spec spec;
    exec::run_callbacks cb;
    std::int64_t at_us = 0;  // the armed instant (the server's wall clock)
    bool started = false, ended = false, stopping = false;
    bool orphan = false;  // its agent crashed: nobody hears of it any more
    int pid = 0;
    std::int64_t started_us = 0;  // the server's wall clock
    std::uint64_t identity = 0;
    std::uint64_t fire_seq = 0;  // the fire event that counts (clock jumps move it)
  };
  void fire(std::uint64_t id);
  void end(std::uint64_t id, exec::outcome how, int exit_code, std::string error);

  world& w_;
  const int server_;
  std::uint64_t next_id_ = 0;
  std::map<std::uint64_t, run> runs_;
  bool crashed_ = false;
};

struct server {
  int id = 0;
  std::string name;
  std::string dir;
  bool up = false;
  std::uint64_t incarnation = 0;
  std::int64_t clock_offset_us = 0;
  std::unique_ptr<sim_clock> clock;
  std::unique_ptr<state::state_db> db;
  std::unique_ptr<state::job_store> store;
  std::uint64_t applied = 0;  // log entries applied (no-ops included)
  bool apply_scheduled = false;
  std::uint64_t believed_term = 0;  // the term this server believes it leads (0: none)
  std::unique_ptr<scheduler::leader> leader;
  std::unique_ptr<sim_launcher> launcher;
  std::unique_ptr<agent::agent> agent;
  bool step_scheduled = false;
  std::int64_t wake_at = 0;
  bool reporting = false;        // a report is out
  std::uint64_t report_seq = 0;  // which one: a late answer to an older one is ignored
  bool pump_scheduled = false;
  bool persist_scheduled = false;
  std::map<std::uint64_t, std::function<void(raft_node::proposal_result)>> awaiting;  // index
};

struct log_entry {
  std::uint64_t term = 0;
  std::string command;  // empty: a no-op (barrier)
};

// A proposal appended by a leader and not yet committed.
struct inflight_proposal {
  int server = 0;
  std::uint64_t incarnation = 0;
  std::uint64_t term = 0;
  std::string command;
  std::function<void(raft_node::proposal_result)> done;
};

class checker;

class world {
 public:
  explicit world(const sim_options& o);
  ~world();
  sim_result run();

  std::int64_t now() const { return now_; }
  std::mt19937_64& rng() { return rng_; }
  std::uint64_t uniform(std::uint64_t lo, std::uint64_t hi) {  // [lo, hi]
    return lo + rng_() % (hi - lo + 1);
  }
  bool chance(double p) { return std::uniform_real_distribution<double>(0, 1)(rng_) < p; }
  // Runs fn at `at` (simulated µs); same instant: in the order scheduled.
  void at(std::int64_t at, std::function<void()> fn);
  void after(std::int64_t delay, std::function<void()> fn) { at(now_ + delay, std::move(fn)); }
  void fail(const std::string& why);
  bool failed() const { return !result_.ok; }
  void trace(const std::string& line);
  std::vector<server>& servers() { return servers_; }
  checker& check() { return *checker_; }
  sim_stats& stats() { return result_.stats; }
  state::job_store& reference() { return *ref_store_; }
  std::int64_t start_us() const { return start_us_; }
  std::int64_t server_now_us(int s) const { return now_ + servers_[s].clock_offset_us; }

  // Raft model.
  void propose(int s, std::string cmd, std::function<void(raft_node::proposal_result)> done);
  // Proposes on behalf of a client (the API): to the current leader, again until committed.
  void client_propose(std::string cmd, int attempts = 50);
  int leader() const { return leader_; }

  // Network between servers (the same server: no network).
  bool reachable(int from, int to) const;
  std::int64_t delay();

  // Wakes server s's scheduler for a round now (coalesced).
  void kick(int s);
  void kick_reports(int s);

  // Faults and workload (sched_faults.cc, sched_workload.cc).
  void schedule_faults();
  void schedule_workload();
  void crash(int s);
  void restart(int s);
  void elect(std::int64_t delay_us);
  void depose_leader(bool promptly);

 private:
  void open_server(int s);
  void apply_committed(int s);
  void commit_inflight();
  void step_server(int s);
  void pump_reports(int s);
  scheduler::agent_link link_for(int s);
  void finish_and_check();

  sim_options opt_;
  std::mt19937_64 rng_;
  std::int64_t now_ = 0;
  std::int64_t start_us_ = 0;
  std::uint64_t seq_ = 0;
  std::multimap<std::pair<std::int64_t, std::uint64_t>, std::function<void()>> events_;
  sim_result result_;
  std::string root_;
  std::vector<server> servers_;

  std::vector<log_entry> log_;
  std::uint64_t term_ = 0;
  int leader_ = -1;
  std::vector<inflight_proposal> inflight_;
  bool electing_ = false;
  std::set<std::pair<int, int>> cut_;  // partitioned pairs (both directions)
  double drop_p_ = 0;

  std::unique_ptr<state::state_db> ref_db_;
  std::unique_ptr<state::job_store> ref_store_;  // applies each entry at its commit
  std::unique_ptr<checker> checker_;

  friend class checker;
  friend class sim_launcher;
};

// The invariants (sched_checks.cc).
class checker {
 public:
  explicit checker(world& w) : w_(w) {}
  // The reference store applied a command.
  void applied(const state::applied_change& c);
  void process_started(const sim_process& p);
  void process_ended(const std::string& execution_id);
  // End of the run: accounting of every job's slots, liveness.
  void final_checks(std::int64_t end_us);
  std::uint64_t next_identity() { return ++identities_; }
  bool alive(const std::string& execution_id) const { return running_.count(execution_id) > 0; }

 private:
  world& w_;
  std::set<std::string> started_;                // every execution id ever started
  std::map<std::string, sim_process> running_;   // by execution id
  std::map<std::string, std::string> state_of_;  // execution id -> state (reference store)
  std::uint64_t identities_ = 0;
};

}  // namespace sundial::sched_sim
