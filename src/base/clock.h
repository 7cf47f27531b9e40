#pragma once
// Time as an input. Deterministic code never reads std::chrono clocks itself: it is handed a
// clock (or plain time values), so tests and the simulator can drive it.

#include <chrono>
#include <mutex>

namespace sundial::base {

// Wall-clock instant (UTC, Unix epoch), nanosecond resolution.
using wall_time = std::chrono::sys_time<std::chrono::nanoseconds>;
// Monotonic instant: only differences mean anything. Timers and timeouts use it.
using mono_time = std::chrono::time_point<std::chrono::steady_clock, std::chrono::nanoseconds>;

class clock {
 public:
  virtual ~clock() = default;
  // The current wall-clock time. It may jump (NTP, an operator): never use it for timeouts.
  virtual wall_time now() const = 0;
  // The current monotonic time; never goes backwards.
  virtual mono_time mono_now() const = 0;
};

// The operating system's clocks.
class real_clock final : public clock {
 public:
  wall_time now() const override;
  mono_time mono_now() const override;
};

// A clock that moves only when told to: for tests and the deterministic simulator.
// Thread-safe, so a test thread can drive it while a component reads it.
class manual_clock final : public clock {
 public:
  explicit manual_clock(wall_time start = wall_time{});

  wall_time now() const override;
  mono_time mono_now() const override;

  // Lets time pass: both clocks move forward by d (d must not be negative).
  void advance(std::chrono::nanoseconds d);
  // Makes the wall clock jump to t (forwards or backwards); the monotonic clock does not move,
  // as when an operator or NTP steps the system clock.
  void set_wall(wall_time t);

 private:
  mutable std::mutex mutex_;
  wall_time wall_;
  mono_time mono_;
};

}  // namespace sundial::base
