#include "base/clock.h"

#include "base/assert.h"

namespace sundial::base {

wall_time real_clock::now() const {
  return std::chrono::time_point_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now());
}

mono_time real_clock::mono_now() const {
  return std::chrono::time_point_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now());
}

manual_clock::manual_clock(wall_time start) : wall_(start), mono_() {}

wall_time manual_clock::now() const {
  std::lock_guard lock(mutex_);
  return wall_;
}

mono_time manual_clock::mono_now() const {
  std::lock_guard lock(mutex_);
  return mono_;
}

void manual_clock::advance(std::chrono::nanoseconds d) {
  SUNDIAL_ASSERT(d.count() >= 0, "time only moves forward through advance(); use set_wall()");
  std::lock_guard lock(mutex_);
  wall_ += d;
  mono_ += d;
}

void manual_clock::set_wall(wall_time t) {
  std::lock_guard lock(mutex_);
  wall_ = t;
}

}  // namespace sundial::base
