#pragma once
// The worker side of a run (ARCHITECTURE.md "Data flow of one run", steps 3-4): accepts
// dispatches from the leader, fences stale leaders by epoch, arms each run on the executor's
// precise timer, reports started and finished to the current leader, and keeps every result
// in its data dir until a leader has committed it.
//
// Rules (SEMANTICS.md "Launches: one slot, one run"):
// - A request whose epoch (the leader's term) is lower than the highest seen is refused:
//   a deposed leader can no longer start or stop anything (TiFlow's epochs, seeds/004).
// - An execution id is run at most once: a repeated dispatch (a retrying leader, a new leader
//   re-dispatching what its predecessor journaled) answers "duplicate" with how it stands.
//   Ids whose results were committed are remembered for a while (bounded) for the same reason.
// - A result is forgotten only after the leader answered that it committed it.
//
// Threads: dispatch/stop/status come from RPC threads; run callbacks from the executor's loop
// thread; a persister thread writes what changed within half a millisecond (one transaction for
// the runs that start or end together), and a reporter thread batches events to the leader (a
// small window, so a thousand runs a second cost a few reports, not a thousand). Without the
// threads (agent_options::report_thread false) the caller drives persist() and take_report().

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <unordered_set>

#include "agent.pb.h"
#include "agent/launch_store.h"
#include "base/clock.h"
#include "base/result.h"
#include "exec/launcher.h"

namespace sundial::agent {

struct agent_options {
  std::string node_name;
  std::map<std::string, std::string> tags;  // reported in status (placement by tags)
  std::string data_dir;  // the agent's own directory (a server uses <data-dir>/agent)
  // How long the reporter waits for more events after the first one, to batch them.
  std::chrono::milliseconds report_window{2};
  // How long the persister waits after the first change before writing the changed records.
  std::chrono::microseconds persist_window{500};
  std::size_t max_report_events = 4096;
  // Committed execution ids remembered against late duplicate dispatches.
  std::size_t remembered_ids = 200000;
  // Seconds from an armed instant to the process start (the fire lateness histogram).
  std::function<void(double)> observe_lateness;
  const base::clock* clock = nullptr;  // wall time of events; nullptr: the system clock
  // false: no reporter thread; the caller sends reports with take_report()/report_answered()
  // (the simulator, on simulated time).
  bool report_thread = true;
};

// Sends a batch of events to the current leader; ok once the leader has committed them.
// Called on the reporter thread only.
using report_fn = std::function<base::status(const pb::ReportRequest&)>;

class agent {
 public:
  // Opens the store, re-arms or re-reports what it holds, starts the reporter.
  static base::result<std::unique_ptr<agent>> start(agent_options o, exec::launcher& runner,
                                                    report_fn report);
  ~agent();  // shutdown()
  agent(const agent&) = delete;
  agent& operator=(const agent&) = delete;

  pb::DispatchResponse dispatch(const pb::DispatchRequest& req);
  pb::StopResponse stop(const pb::StopRequest& req);
  pb::StatusResponse status(const pb::StatusRequest& req);

  // The leader changed or became known: send waiting events now instead of after the backoff.
  void leader_changed();
  // Stops the reporter (after one last attempt to report), cancels armed runs and stops running
  // ones (their records stay in the store, so a restart reports them), and waits until the
  // supervisor has called back for each of them.
  void shutdown();

  // Without a reporter thread: the next report to send (persisting what changed first), or
  // nothing if no event waits or a report is already out; then its answer (ok: committed).
  std::optional<pb::ReportRequest> take_report();
  void report_answered(bool ok);
  // Without the threads: writes the records that changed (the persister's round).
  void persist();

  std::uint64_t highest_epoch() const;
  std::size_t running() const;
  std::size_t unreported() const;  // events not yet committed by a leader

 private:
  struct entry {
    pb::AgentLaunch rec;
    exec::run_id rid{};
  };

  agent(agent_options o, exec::launcher& runner, report_fn report,
        std::unique_ptr<launch_store> store);
  base::status recover();
  // Hands a run to the executor (mu_ not held). Fails the run at once if it cannot start.
  void arm(const pb::Run& run);
  void on_started(const std::string& id, int pid, base::wall_time at);
  void on_finished(const std::string& id, exec::run_result r);
  void finish_locked(entry& e, pb::RunEvent ev);
  void wake_locked();
  void report_loop();
  // The request for the oldest events (none: nothing to send); mu_ not held.
  std::optional<pb::ReportRequest> prepare_report();
  // The answer to the report of the oldest `n` events (mu_ not held).
  void complete_report(std::size_t n, bool ok);
  void persist_loop();
  std::int64_t now_us() const;
  bool is_known_locked(const std::string& id) const;
  void remember_locked(const std::string& id);

  const agent_options opt_;
  exec::launcher& runner_;
  const report_fn report_;
  std::unique_ptr<launch_store> store_;

  mutable std::mutex mu_;
  std::condition_variable persist_cv_;  // the persister waits on it
  std::condition_variable report_cv_;   // the reporter waits on it
  std::condition_variable runner_cv_;   // shutdown() waits on it for the runner's callbacks
  bool persister_idle_ = false;         // guarded by mu_: waiting for changes to write
  bool reporter_idle_ = false;          // guarded by mu_: waiting for events to send
  std::int64_t started_at_us_ = 0;      // set once at start
  std::uint64_t highest_epoch_ = 0;     // guarded by mu_
  std::unordered_map<std::string, entry> launches_;  // guarded by mu_: id -> launch
  std::deque<pb::RunEvent> outbox_;                  // guarded by mu_: in order of events
  std::unordered_set<std::string> dirty_;            // guarded by mu_: ids to persist
  std::unordered_set<std::string> remembered_;       // guarded by mu_: committed ids
  std::deque<std::string> remembered_order_;         // guarded by mu_: oldest first
  std::size_t running_ = 0;                          // guarded by mu_
  // Runs handed to the supervisor whose on_finished has not come yet (guarded by mu_): the
  // agent must outlive their callbacks, so shutdown() waits for them.
  std::size_t with_runner_ = 0;
  bool kick_ = false;           // guarded by mu_
  std::size_t report_out_ = 0;  // guarded by mu_: events in the report being sent
  bool stopping_ = false;       // guarded by mu_
  std::thread reporter_;
  std::thread persister_;
  // Serializes the store's writes of changed records with the forgets after a commit (taken
  // before mu_), so a forgotten record is never written back.
  std::mutex store_mu_;
};

// The environment every run gets (SEMANTICS.md "Launches"): SUNDIAL_JOB,
// SUNDIAL_SCHEDULED_AT (RFC 3339 UTC), SUNDIAL_LAUNCH_ID, SUNDIAL_ATTEMPT, SUNDIAL_MISSED,
// SUNDIAL_EXECUTION_ID and SUNDIAL_NODE.
std::vector<std::string> run_environment(const pb::Run& run, const std::string& node_name);
// The process to start for a run: the job's executor must be "shell" here (other executors come
// with the executors issue); its config, the job's timeout and output limit, the environment.
base::result<exec::shell_spec> shell_spec_for(const pb::Run& run, const std::string& node_name);

}  // namespace sundial::agent
