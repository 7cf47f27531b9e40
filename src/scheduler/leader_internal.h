#pragma once
// The leader driver's state (internal to src/scheduler). One thread (loop) owns everything
// below mu_ except the queues, which other threads fill: the apply thread (applied changes,
// proposal outcomes), RPC threads (reports, agent answers) and the Raft thread (leadership).

#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <set>
#include <thread>
#include <unordered_map>

#include "scheduler/leader.h"
#include "scheduler/plan.h"
#include "state/execution_lifecycle.h"

namespace sundial::scheduler {

// An execution not in a final state, as the leader follows it. `state` is the state after
// every update this leader proposed (applied or in flight), so the next report's steps start
// from there.
struct tracked_run {
  std::string job;
  std::string id;
  state::exec_state state = state::exec_state::pending;
  std::string node;              // empty: not placed yet
  bool dispatched_here = false;  // sent to its agent by this leader (in this term)
  bool ack_proposed = false;     // pending -> dispatched proposed after the agent's accept
  bool placing = false;          // a placement (-> dispatched with a node) is in flight
  bool stop_sent = false;
  std::int64_t retry_at_us = 0;  // retrying: when it is due
};

// What the loop learns of each node from its status answers.
struct node_state {
  node_view view;
  std::int64_t last_ok_us = 0;     // last status answer (leader's clock)
  std::int64_t first_fail_us = 0;  // first failure since the last answer; 0: none
  std::int64_t last_asked_us = 0;
  std::int64_t agent_started_us = 0;  // from its last answer: a change is a restart
  bool asking = false;
};

struct pending_report {
  agent::pb::ReportRequest req;
  std::function<void(base::status)> done;
};

struct leader::impl {
  leader_options opt;
  consensus_link consensus;
  state::job_store& jobs;
  const base::clock& clock;
  std::function<std::vector<std::string>()> members;
  agent_link link;
  leader_metrics metrics;

  std::mutex mu;
  std::condition_variable cv;
  bool stopping = false;  // guarded by mu
  // Leadership as last reported (guarded by mu); the loop compares with its own term_.
  bool is_leader = false;
  std::uint64_t leader_term = 0;
  // Queues filled by other threads (guarded by mu).
  std::vector<std::string> changed_jobs;
  bool all_jobs_changed = false;
  std::vector<state::pb::ExecutionRef> changed_runs;
  std::vector<pending_report> reports;
  std::vector<std::string> refresh_jobs;         // a proposal for them failed: re-read their state
  std::vector<std::function<void()>> callbacks;  // agent answers to handle on the loop
  // The take-over barrier (guarded by mu): asked for a term, and done for a term (0: none).
  std::uint64_t barrier_asked = 0;
  std::uint64_t barrier_done = 0;

  // ---- loop-only state ----
  std::uint64_t term = 0;  // the term this leader took over; 0: not leading
  bool ready = false;
  std::atomic<bool> ready_flag{false};
  plan fire_plan;  // job -> when to decide its next slots (slot - lookahead, or slot)
  // Slots proposed but not yet applied, per job: due() must start after them.
  std::unordered_map<std::string, std::int64_t> inflight_last_slot;
  // Records of launch intents proposed but not yet applied, per job (their ids): overlap is
  // decided against them too, or two batches in flight could both start a forbid job.
  std::unordered_map<std::string, std::set<std::string>> inflight_runs;
  std::unordered_map<std::string, std::uint64_t> rr_cursor;  // round_robin jobs
  std::map<std::string, tracked_run> runs;                   // key: job \0 id
  std::set<std::string> retrying;  // keys of runs whose applied state is retrying
  bool membership_changed = true;  // walk the runs for ones on nodes that left
  std::int64_t last_poll_us = 0;
  std::map<std::string, node_state> nodes;
  state::pb::ExecutionUpdates pending_stops;  // replace: stops gathered by fire_due
  std::uint64_t seed_counter = 0;

  std::thread thread;

  impl(leader_options o, consensus_link n, state::job_store& j, const base::clock& c,
       std::function<std::vector<std::string>()> m, agent_link l, leader_metrics x)
      : opt(std::move(o)),
        consensus(std::move(n)),
        jobs(j),
        clock(c),
        members(std::move(m)),
        link(std::move(l)),
        metrics(std::move(x)) {}

  std::int64_t now_us() const;
  void post(std::function<void()> fn);  // runs fn on the loop thread

  // leader.cc
  void loop();
  bool has_work_locked() const;  // mu held
  void step();
  bool barrier_passed(std::uint64_t t);
  bool take_over(std::uint64_t t);
  void step_down();
  std::int64_t next_wake_us() const;

  // leader_launch.cc: the plan and launch intents.
  void plan_job(const std::string& name);
  void plan_all();
  void fire_due(std::int64_t now);
  void propose_launches(state::pb::LaunchBatch batch, std::vector<std::string> jobs);

  // leader_runs.cc: placement, dispatch, reports, stops, liveness.
  void track(const state::pb::ExecutionRef& ref);
  void act_on(tracked_run& r);
  void place(tracked_run& r);
  void dispatch(std::vector<tracked_run*> runs);
  void handle_reports(std::vector<pending_report> batch);
  void propose_updates(state::pb::ExecutionUpdates u,
                       std::vector<std::function<void(base::status)>> done);
  void poll_nodes(std::int64_t now);
  void expire_lost(std::int64_t now);
  void drop_runs_of(const std::string& job, bool deleted);
  void retries_due(std::int64_t now);
  std::vector<node_view> alive_nodes() const;
  // choose_targets among the alive nodes, this leader's own node left out when the others can
  // take the launch as well (leader_options::prefer_other_nodes).
  base::result<target_choice> choose(const target_request& req) const;
  static std::string key(const std::string& job, const std::string& id) { return job + '\0' + id; }
};

}  // namespace sundial::scheduler
