#pragma once
// Starting one child process with posix_spawn, and the file descriptors that watch it. Used by
// the supervisor's loop thread; no threads or state of its own.

#include <sys/types.h>

#include <string>
#include <utility>
#include <vector>

#include "base/clock.h"
#include "base/result.h"
#include "exec/shell_config.h"

namespace sundial::exec {

// An owned file descriptor, closed on destruction.
class unique_fd {
 public:
  unique_fd() = default;
  explicit unique_fd(int fd) : fd_(fd) {}
  unique_fd(unique_fd&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
  unique_fd& operator=(unique_fd&& o) noexcept;
  unique_fd(const unique_fd&) = delete;
  unique_fd& operator=(const unique_fd&) = delete;
  ~unique_fd() { reset(); }

  int get() const { return fd_; }
  explicit operator bool() const { return fd_ >= 0; }
  void reset(int fd = -1);

 private:
  int fd_ = -1;
};

// What to exec, taken from a shell_spec ahead of time (on the caller's thread for an armed
// launch), so that the instant itself costs only the spawn. The environment is resolved at the
// spawn: the `environ` of that moment with the spec's entries applied.
class launch_plan {
 public:
  explicit launch_plan(shell_spec&& spec);

  // Move-only: the argv pointers point into the strings, which a vector's move leaves in place.
  launch_plan(launch_plan&&) = default;
  launch_plan& operator=(launch_plan&&) = default;
  launch_plan(const launch_plan&) = delete;
  launch_plan& operator=(const launch_plan&) = delete;

  const std::string& program() const { return argv_.front(); }
  const std::string& cwd() const { return cwd_; }
  char* const* argv() const { return const_cast<char* const*>(argv_ptrs_.data()); }
  // `environ` with the spec's entries applied (a later entry wins over an earlier or inherited
  // one of the same name); pointers into both, valid until environ or the plan changes.
  std::vector<const char*> envp() const;
  bool inherits_environment() const { return env_.empty(); }

 private:
  std::vector<std::string> argv_;
  std::vector<std::string> env_;
  std::vector<const char*> argv_ptrs_;  // into argv_, null-terminated
  std::string cwd_;
};

// A started child: its pid (also its process group id), a pidfd that becomes readable when it
// exits, and the read end (non-blocking) of the pipe holding its stdout and stderr.
struct child_process {
  pid_t pid = -1;
  unique_fd pidfd;
  unique_fd output;
  base::wall_time started_at{};  // read right after posix_spawn returned
};

// Spawns the plan: own process group, empty signal mask, default dispositions for every signal,
// stdin from /dev/null, stdout and stderr into one pipe, every other descriptor closed.
// Failures are messages for people: `cannot run "nosuch": No such file or directory`,
// `cannot change to directory "/x": No such file or directory`.
base::result<child_process> spawn_child(const launch_plan& plan);

// Sends `sig` to the process group `pgid`; ESRCH (nobody left) is not an error.
void signal_group(pid_t pgid, int sig);

}  // namespace sundial::exec
