#pragma once
// The vocabulary of a run shared by the supervisor and every launcher: its id, how it ended,
// its result and the callbacks that report it.

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "base/clock.h"
#include "base/strong_id.h"

namespace sundial::exec {

// Identifies one run (or one call_at) of one supervisor; never reused by it. 0 is none.
using run_id = base::strong_id<struct run_tag>;

// How a run ended.
enum class outcome {
  exited,        // the process exited by itself; exit_code is its status
  signaled,      // a signal ended it, not sent by the supervisor; `signal` names it
  timed_out,     // spec.timeout passed: the group was sent SIGTERM (then SIGKILL)
  stopped,       // stop(), cancel() or shutdown() ended it, or it never started
  spawn_failed,  // it could not be started; `error` says why
};
std::string_view to_string(outcome o);

struct run_result {
  outcome how = outcome::spawn_failed;
  int exit_code = -1;             // the process's exit status, or -1 when it did not exit by itself
  int signal = 0;                 // the signal that ended it, or 0
  std::string output;             // the tail of stdout+stderr, at most spec.output_limit bytes
  bool output_truncated = false;  // more was written than kept
  std::uint64_t output_bytes = 0;   // everything written, kept or not
  double cpu_seconds = 0;           // user + system time of the process (wait4's rusage)
  std::uint64_t max_rss_bytes = 0;  // its peak resident set
  // started_at is read right after posix_spawn returned (for spawn_failed and never-started
  // runs: when that was decided); finished_at when the result was complete.
  base::wall_time started_at{};
  base::wall_time finished_at{};
  std::string error;  // for people: why it could not start, or what the supervisor did to it

  // Exited by itself with status 0.
  bool success() const { return how == outcome::exited && exit_code == 0; }
};

struct run_callbacks {
  // The process was started (may be empty).
  std::function<void(int pid, base::wall_time started_at)> on_started;
  // A chunk of output as it was read (may be empty): for live output only; the result's tail
  // does not depend on it.
  std::function<void(std::string_view chunk)> on_output;
  // Required. Called exactly once per accepted run, whatever happens: exit, spawn failure,
  // cancel, stop, shutdown.
  std::function<void(run_result)> on_finished;
};

}  // namespace sundial::exec
