#pragma once
// Starts a burst of processes on several threads at once. posix_spawn costs the kernel's clone
// and exec, one after the other on one thread; the armed runs of a thousand every-second jobs
// all come due at the same instant, and the last of them waits for every spawn before it. With
// helpers, the batch is shared (each thread takes the next plan until none is left), so it
// starts in about 1 / (helpers + 1) of the time on a machine with the cores for it.
//
// posix_spawn is thread-safe, and the descriptors a spawn creates are close-on-exec (pipe2
// O_CLOEXEC) and closed in the child above stderr (closefrom), so concurrent spawns never
// leak one child's pipe into another.

#include <condition_variable>
#include <cstddef>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "base/result.h"
#include "exec/child_process.h"

namespace sundial::exec {

class spawn_pool {
 public:
  // `helpers` threads besides the caller (0: the caller spawns everything), each made precise
  // at `rt_priority` as the loop thread is (precision.h).
  spawn_pool(std::size_t helpers, int rt_priority);
  ~spawn_pool();
  spawn_pool(const spawn_pool&) = delete;
  spawn_pool& operator=(const spawn_pool&) = delete;

  // Spawns every plan; out[i] is plans[i]'s child or why it could not start. The calling
  // thread takes part; returns when all are done. One batch at a time (the loop thread's).
  void spawn_all(const std::vector<const launch_plan*>& plans,
                 std::vector<std::optional<base::result<child_process>>>& out);

 private:
  void helper_loop(int rt_priority);
  // Spawns plans until none is left (mu_ not held).
  void take_work();

  std::mutex mu_;
  std::condition_variable work_cv_;  // helpers wait for a batch
  std::condition_variable done_cv_;  // the caller waits for the helpers' last spawns
  const std::vector<const launch_plan*>* plans_ = nullptr;                  // guarded by mu_
  std::vector<std::optional<base::result<child_process>>>* out_ = nullptr;  // guarded by mu_
  std::size_t next_ = 0;     // guarded by mu_: the next plan to take
  std::size_t done_ = 0;     // guarded by mu_: plans spawned in this batch
  std::uint64_t batch_ = 0;  // guarded by mu_: wakes helpers once per batch
  bool stopping_ = false;    // guarded by mu_
  std::vector<std::thread> helpers_;
};

}  // namespace sundial::exec
