#pragma once
// Helpers for the exec tests: a probe that records one run's callbacks and lets the test wait
// for them (bounded, with a failure message), and a way to see what is left of a process
// group.

#include <gtest/gtest.h>
#include <sys/types.h>

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "exec/supervisor.h"

namespace sundial::exec::testing {

// Records one run. Callbacks arrive on the supervisor thread; waits happen on the test's.
class probe : public std::enable_shared_from_this<probe> {
 public:
  static std::shared_ptr<probe> make() { return std::make_shared<probe>(); }

  run_callbacks callbacks();

  // Waits until on_finished was called; fails the test (and returns nullopt) after `limit`.
  std::optional<run_result> wait_finished(
      std::chrono::milliseconds limit = std::chrono::seconds(20));
  // Waits until on_started was called; returns the pid, or -1 after `limit`.
  int wait_started(std::chrono::milliseconds limit = std::chrono::seconds(20));
  // Waits until the live output contains `text`.
  bool wait_output(const std::string& text,
                   std::chrono::milliseconds limit = std::chrono::seconds(20));

  int finished_count() const;
  std::string live_output() const;

 private:
  mutable std::mutex mu_;
  std::condition_variable cv_;
  int pid_ = -1;
  base::wall_time started_at_{};
  std::string live_;
  std::optional<run_result> result_;
  int finished_ = 0;
};

// Processes (not zombies) whose process group is `pgid`, from /proc.
std::vector<pid_t> live_group_members(pid_t pgid);
// Waits, on pidfds, until every live member of the group has exited; true if none is left
// after `limit`.
bool wait_group_gone(pid_t pgid, std::chrono::milliseconds limit = std::chrono::seconds(10));

// A supervisor for one test, shut down at the end of it.
std::unique_ptr<supervisor> start_supervisor(supervisor::options o = {});

}  // namespace sundial::exec::testing
