#pragma once
// Many deadlines on one timerfd: an ordered set of (instant, key) and a timerfd kept armed to
// the earliest instant. Thousands of armed runs cost a tree node each, not a descriptor each.
// Used by one thread (the supervisor's loop); not thread-safe.

#include <time.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <set>
#include <utility>
#include <vector>

#include "base/result.h"
#include "exec/child_process.h"

namespace sundial::exec {

class deadline_timer {
 public:
  // Instants are durations since the clock's epoch (CLOCK_REALTIME: the Unix epoch).
  using instant = std::chrono::nanoseconds;

  // A timerfd on `clock` (CLOCK_REALTIME or CLOCK_MONOTONIC), non-blocking, close-on-exec. On
  // CLOCK_REALTIME it is armed with TFD_TIMER_CANCEL_ON_SET, so that a step of the system clock
  // wakes the loop (clock_was_set() then says so) to look at the deadlines again.
  static base::result<deadline_timer> open(clockid_t clock);

  int fd() const { return fd_.get(); }
  // The clock's current instant.
  instant now() const;

  // Adds a deadline; a key may have several, each removed by its own (when, key).
  void add(instant when, std::uint64_t key) { set_.emplace(when, key); }
  // Removes a deadline added before; removing one that is not there does nothing.
  void remove(instant when, std::uint64_t key) { set_.erase({when, key}); }
  // Moves the keys of deadlines at or before `now` to `due`, earliest first, at most `max`.
  void take_due(instant now, std::vector<std::uint64_t>& due, std::size_t max = SIZE_MAX);
  std::size_t size() const { return set_.size(); }

  // Arms the timerfd to the earliest deadline, or disarms it when there is none; a no-op when
  // it is armed to that instant already. Call after changes, before waiting.
  void rearm();
  // Consumes the timerfd's readiness after the loop saw it readable. Returns false when the
  // wake-up was a step of the realtime clock rather than an expiry.
  bool acknowledge();

 private:
  deadline_timer(clockid_t clock, unique_fd fd) : clock_(clock), fd_(std::move(fd)) {}

  clockid_t clock_;
  unique_fd fd_;
  std::set<std::pair<instant, std::uint64_t>> set_;
  bool armed_ = false;
  instant armed_at_{0};
};

}  // namespace sundial::exec
