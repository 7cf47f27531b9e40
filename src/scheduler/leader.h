#pragma once
// The leader's scheduler: the threaded driver around the pure planning core (plan, due,
// misfire, overlap, targets, backoff). It runs on every server and acts only while the
// server's Raft node leads (ARCHITECTURE.md "Data flow of one run").
//
// What it reacts to, on one thread:
// - leadership: on winning, a Raft barrier, then the plan rebuilt from the replicated jobs,
//   the active executions taken over (agents asked how they stand) and the slots missed while
//   no leader existed handed to each job's misfire policy;
// - time: slots due within the lookahead are journaled (LaunchBatch through Raft), then
//   dispatched to their agents as "run at T" (armed launches); retries when their backoff ends;
// - applied state (the job store's observer): job changes move the plan; execution records
//   created or moved by any node's command (run-now, stop, retries, dependents) are placed,
//   dispatched or stopped;
// - agent reports: turned into lifecycle steps (ExecutionUpdates through Raft), answered once
//   committed.
//
// Nothing here is the source of truth: every decision is a command through Raft, and a new
// leader rebuilds all of it from the replicated state.

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "agent.pb.h"
#include "base/clock.h"
#include "base/result.h"
#include "raft_node/node.h"
#include "scheduler/targets.h"
#include "state/job_store.h"

namespace sundial::scheduler {

struct leader_options {
  std::string node_name;
  // Slots are journaled and armed this far ahead (ARCHITECTURE.md "armed launches").
  std::chrono::microseconds lookahead{std::chrono::seconds(2)};
  // A slot at most this late is still launched as on time; older ones are missed.
  std::chrono::microseconds on_time_grace{std::chrono::seconds(1)};
  // After the first queued item, wait this long for more before proposing one batch.
  std::chrono::microseconds batch_window{std::chrono::milliseconds(1)};
  std::size_t max_batch = 4096;  // intents or updates per Raft entry
  std::chrono::milliseconds propose_timeout{std::chrono::seconds(5)};
  // A node unreachable this long has its active runs declared lost.
  std::chrono::milliseconds agent_ttl{std::chrono::seconds(10)};
  // How often each node's status is asked (liveness, tags, load).
  std::chrono::milliseconds status_interval{std::chrono::seconds(1)};
  // Launches that could go to this node or as well to others go to the others: a leader that
  // dies then takes no armed slot with it (the survivors' timers fire them on time while a new
  // leader is elected), and its CPU stays with the scheduling. `target: all` still includes it,
  // and so does a launch only it can take.
  bool prefer_other_nodes = true;
};

// Counters and observations for /metrics (all optional).
struct leader_metrics {
  std::function<void(std::string_view outcome, std::uint64_t n)> launches;  // by outcome
  std::function<void(std::uint64_t n)> missed_slots;     // skipped by misfire policy
  std::function<void(std::uint64_t n)> caught_up_slots;  // merged into or run as catch-up
  std::function<void(std::uint64_t n)> lost_runs;
};

// Consensus, as the leader needs it (server/ wires the Raft node; the simulator its own log).
// Each answers once through its callback, from any thread.
struct consensus_link {
  // Proposes a command (state::encode_command); the result once it is applied here, or why not.
  std::function<void(std::string command, std::function<void(raft_node::proposal_result)>)> propose;
  // Completes once everything committed before it is applied here (Raft thesis 6.4).
  std::function<void(std::function<void(raft_node::proposal_result)>)> barrier;
};

// Talking to agents (server/ wires the local agent directly and the others over gRPC). Each
// call answers through its callback, from any thread.
struct agent_link {
  std::function<void(const std::string& node, agent::pb::DispatchRequest,
                     std::function<void(base::result<agent::pb::DispatchResponse>)>)>
      dispatch;
  std::function<void(const std::string& node, agent::pb::StopRequest,
                     std::function<void(base::result<agent::pb::StopResponse>)>)>
      stop;
  std::function<void(const std::string& node, agent::pb::StatusRequest,
                     std::function<void(base::result<agent::pb::StatusResponse>)>)>
      status;
};

class leader {
 public:
  // `members` names the nodes that can run jobs (the servers today); the leader asks each
  // one's status every second (tags, running count, liveness) and places runs among those
  // that answer.
  static std::unique_ptr<leader> start(leader_options o, consensus_link consensus,
                                       state::job_store& jobs, const base::clock& clock,
                                       std::function<std::vector<std::string>()> members,
                                       agent_link link, leader_metrics metrics = {});
  // The same leader without its thread: the caller drives it with step() (the simulator, on
  // simulated time; every callback must then come from the caller's thread too).
  static std::unique_ptr<leader> stepped(leader_options o, consensus_link consensus,
                                         state::job_store& jobs, const base::clock& clock,
                                         std::function<std::vector<std::string>()> members,
                                         agent_link link, leader_metrics metrics = {});
  ~leader();  // stop()
  leader(const leader&) = delete;
  leader& operator=(const leader&) = delete;

  // From raft_node::node::on_leader_change (any thread, must not block).
  void leadership(bool is_leader, std::uint64_t term);
  // From the job store's observer (the apply thread, must not block).
  void applied(const state::applied_change& c);
  // An agent's events; `done` is called with ok once they are committed (or refused for good:
  // a report the state refuses is still answered ok, so the agent stops resending it), or with
  // an error (not the leader, no commit in time) so the agent retries.
  void report(agent::pb::ReportRequest req, std::function<void(base::status)> done);

  // Whether this node leads and has taken over (barrier, plan, active runs).
  bool ready() const;
  void stop();

  // Stepped mode: one round of the loop (takes what the queues hold, acts, never blocks), and
  // the clock's instant (µs) by which the next round is due if nothing arrives before.
  void step();
  std::int64_t next_wake_us() const;

  struct impl;

 private:
  explicit leader(std::unique_ptr<impl> i);
  std::unique_ptr<impl> impl_;
};

}  // namespace sundial::scheduler
