#include "exec/precision.h"

#include <sched.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>

#include <spdlog/spdlog.h>

namespace sundial::exec {

bool make_thread_precise(int rt_priority) {
  ::prctl(PR_SET_TIMERSLACK, 1UL, 0UL, 0UL, 0UL);
  if (rt_priority <= 0) return false;  // asked not to
  sched_param param{};
  param.sched_priority = rt_priority;
  // sched_setscheduler on the thread id (Linux schedules threads) rather than
  // pthread_setschedparam, which cannot pass SCHED_RESET_ON_FORK.
  if (::sched_setscheduler(::gettid(), SCHED_FIFO | SCHED_RESET_ON_FORK, &param) == 0) return true;
  static std::atomic<bool> logged{false};
  if (!logged.exchange(true)) {
    spdlog::debug("exec: no SCHED_FIFO for timer threads ({}); they run under SCHED_OTHER",
                  std::strerror(errno));
  }
  return false;
}

}  // namespace sundial::exec
