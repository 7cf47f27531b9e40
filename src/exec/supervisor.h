#pragma once
// The supervisor runs job processes: it starts them now or at a wall-clock instant (armed
// launches), captures their output, enforces timeouts, stops them on request and reports how
// each ended. One event-loop thread does all of it (epoll over an eventfd, two timerfds, and
// each child's output pipe and pidfd), so thousands of runs need no thread each.
//
// Callbacks run on that thread, one at a time: they must be quick and must not block. They may
// call the supervisor (spawn, stop, ...), but not shutdown() or the destructor.
//
// The process must leave SIGCHLD's disposition alone (not SIG_IGN) and must not wait for
// children it did not start (waitpid(-1)): the supervisor reaps its own children by pid.

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "base/clock.h"
#include "base/result.h"
#include "base/strong_id.h"
#include "exec/launcher.h"
#include "exec/run_types.h"
#include "exec/shell_config.h"

namespace sundial::exec {

class supervisor final : public launcher {
 public:
  struct options {
    // Processes running at once; spawn() beyond it is refused (unavailable), and an armed run
    // whose instant comes while it is reached ends as spawn_failed.
    std::size_t max_running = 10000;
    // Runs and calls waiting for their instant; spawn_at()/call_at() beyond it are refused.
    std::size_t max_armed = 100000;
    // SCHED_FIFO priority tried for the loop thread (low: above ordinary work, below the
    // kernel's own real-time threads); 0: do not try.
    int rt_priority = 5;
    // Threads that spawn beside the loop thread when several armed runs come due together;
    // -1: one less than the machine's cores (at most 3).
    int spawn_helpers = -1;
  };

  // Starts the loop thread. Fails only when the kernel refuses epoll, eventfd or timerfd.
  static base::result<std::unique_ptr<supervisor>> start(options o);
  static base::result<std::unique_ptr<supervisor>> start() { return start(options{}); }
  ~supervisor();  // shutdown() with its default grace

  supervisor(const supervisor&) = delete;
  supervisor& operator=(const supervisor&) = delete;

  // Starts the process as soon as the loop thread gets to it. Thread-safe. Refused
  // (unavailable) after shutdown() and at max_running; a refused run calls nothing. A running
  // process holds two descriptors (its output pipe and pidfd): RLIMIT_NOFILE must allow
  // twice max_running, or spawns beyond it end as spawn_failed ("Too many open files").
  base::result<run_id> spawn(shell_spec spec, run_callbacks cb);
  // An armed launch: starts the process at the wall-clock instant `at` (an instant already
  // past starts it at once). The instant costs only the timer's wake-up and the spawn (the
  // child's environment is the supervisor's environ of that moment plus spec.env). If the system
  // clock is stepped, the instant stays a wall-clock one: a forward step past it fires it at once,
  // a backward step delays it.
  base::result<run_id> spawn_at(base::wall_time at, shell_spec spec, run_callbacks cb) override;
  // Calls fn on the loop thread at `at`, on the same timer: for executors that are not
  // processes. cancel() applies; shutdown() drops calls that have not happened.
  base::result<run_id> call_at(base::wall_time at, std::function<void()> fn);

  // An armed run (or call) that has not started never will; a run's on_finished then reports
  // outcome stopped with error "cancelled before start". False if it already started, ended,
  // or is not known.
  bool cancel(run_id id);
  // A running process: SIGTERM to its group, SIGKILL after `grace` (default spec.kill_grace)
  // if it has not exited; outcome stopped. An armed run is cancelled as by cancel(). False if
  // the run ended or is not known. A second stop() of the same run changes nothing.
  bool stop(run_id id, std::optional<std::chrono::nanoseconds> grace = {}) override;

  // Field 22 of /proc/<pid>/stat (start time in clock ticks), 0 if the process is gone.
  std::uint64_t process_identity(int pid) const override;
  // SIGKILL to the group if its leader is still the process that had `identity`.
  void kill_leftover_group(int pgid, std::uint64_t identity) override;

  // Runs started (or being started) and not yet reported finished.
  std::size_t running() const;
  // Runs and calls waiting for their instant.
  std::size_t armed() const;
  // Whether the loop thread obtained SCHED_FIFO.
  bool realtime() const;

  // Ends everything and joins the loop thread: armed runs never start (outcome stopped), every
  // running group gets SIGTERM and, after `grace`, SIGKILL; each run's on_finished is called
  // before it returns. Bounded: a process that survives SIGKILL for another second (stuck in
  // the kernel) is reported stopped and left unreaped. Idempotent; later calls return at once.
  void shutdown(std::chrono::nanoseconds grace = std::chrono::seconds(2));

  struct state;  // the loop's and the callers' shared state (supervisor.cc)

 private:
  explicit supervisor(std::unique_ptr<state> s);
  std::unique_ptr<state> s_;
};

}  // namespace sundial::exec
