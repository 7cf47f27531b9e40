#pragma once
// Internal to the supervisor (supervisor.cc: the callers' side; supervisor_loop.cc: the loop
// thread). Not part of the module's contract.
//
// Two kinds of state. `control` records, the queues and the counters live under `mu` and are
// what other threads touch: spawn() admits a run and queues it, cancel()/stop() flip a run's
// control flags and queue its id for attention (once, however often they are called, so the
// queues are bounded by the number of runs). Everything else (processes, descriptors, timers,
// output) belongs to the loop thread alone, which never holds `mu` while calling a callback.

#include <sys/resource.h>
#include <sys/types.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <unordered_map>
#include <vector>

#include "exec/child_process.h"
#include "exec/deadline_timer.h"
#include "exec/output_tail.h"
#include "exec/supervisor.h"

namespace sundial::exec {

namespace detail {

enum class phase {
  armed,      // waiting for its instant
  running,    // admitted to start now, or started
  cancelled,  // was armed; cancel() or stop() came first (the loop reports it)
};

// What callers may change about a run, under the state's mutex.
struct control {
  phase ph = phase::running;
  bool queued = false;  // in `attention`
  bool stop_requested = false;
  std::optional<std::chrono::nanoseconds> stop_grace;
};

// What the supervisor did to end a process.
enum class ending { none, timed_out, stopped, shutdown };

// A run (or call_at) as the loop thread knows it.
struct run {
  run_id id;
  bool is_call = false;
  bool armed = false;  // its instant is in the wall-clock timer
  base::wall_time at{};
  std::function<void()> fn;  // call_at
  std::optional<launch_plan> plan;
  std::chrono::nanoseconds timeout{0};
  std::chrono::nanoseconds kill_grace{0};
  run_callbacks cb;
  output_tail tail{0};

  // Once started.
  bool started = false;
  pid_t pid = -1;
  unique_fd pidfd;
  unique_fd output;  // reset at EOF
  base::wall_time started_at{};
  bool reaped = false;
  int wait_status = 0;
  bool status_lost = false;  // reaped by someone else: wait_status and usage are unknown
  rusage usage{};
  ending end = ending::none;
  std::chrono::nanoseconds grace_used{0};
  bool sigkill_sent = false;
  // Monotonic deadlines (0: none), each also in the monotonic timer.
  deadline_timer::instant timeout_at{0};
  deadline_timer::instant kill_at{0};
  deadline_timer::instant drain_at{0};
};

// "30s", "250ms", "0.000500s": durations in messages for people.
std::string describe(std::chrono::nanoseconds d);
// The result of a finished run: for one that never started, outcome `unstarted` with error
// `note`; otherwise from its wait status, rusage, output tail and what the supervisor did to
// it, with `note` appended to the error.
run_result report(const run& r, std::string note, outcome unstarted);

}  // namespace detail

struct supervisor::state {
  explicit state(options o, unique_fd ep, unique_fd ev, deadline_timer w, deadline_timer m)
      : opts(o),
        epoll(std::move(ep)),
        wake(std::move(ev)),
        wall(std::move(w)),
        mono(std::move(m)) {}

  // Callers' side (supervisor.cc).
  base::result<run_id> admit(std::unique_ptr<detail::run> r, bool armed);
  // Queues a run's id for the loop's attention (mu held); true if the loop must be woken.
  bool queue_attention(std::uint64_t id, detail::control& c);
  void wake_loop();

  // Loop thread (supervisor_loop.cc).
  void loop();

  const options opts;

  mutable std::mutex mu;
  std::uint64_t next_id = 1;                                    // under mu
  std::unordered_map<std::uint64_t, detail::control> controls;  // under mu
  std::vector<std::unique_ptr<detail::run>> incoming;           // under mu
  std::vector<std::uint64_t> attention;                         // under mu
  std::size_t n_running = 0;                                    // under mu
  std::size_t n_armed = 0;                                      // under mu
  bool wake_pending = false;                                    // under mu
  bool stopping = false;                                        // under mu
  std::chrono::nanoseconds shutdown_grace{0};                   // under mu

  unique_fd epoll;
  unique_fd wake;
  std::atomic<bool> realtime{false};
  std::mutex join_mu;
  std::thread thread;
  std::thread::id loop_thread;  // set by start() before anyone else sees the supervisor

  // Loop thread only.
  deadline_timer wall;
  deadline_timer mono;
  std::unordered_map<std::uint64_t, std::unique_ptr<detail::run>> runs;
};

}  // namespace sundial::exec
