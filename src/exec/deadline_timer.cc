#include "exec/deadline_timer.h"

#include <sys/timerfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace sundial::exec {
namespace {

timespec to_timespec(deadline_timer::instant t) {
  const auto secs = std::chrono::duration_cast<std::chrono::seconds>(t);
  timespec ts{};
  ts.tv_sec = static_cast<time_t>(secs.count());
  ts.tv_nsec = static_cast<long>((t - secs).count());
  return ts;
}

}  // namespace

base::result<deadline_timer> deadline_timer::open(clockid_t clock) {
  const int fd = ::timerfd_create(clock, TFD_NONBLOCK | TFD_CLOEXEC);
  if (fd < 0) {
    return base::fail(base::errc::io_error, std::string("timerfd_create: ") + std::strerror(errno));
  }
  return deadline_timer(clock, unique_fd(fd));
}

deadline_timer::instant deadline_timer::now() const {
  timespec ts{};
  ::clock_gettime(clock_, &ts);
  return std::chrono::seconds(ts.tv_sec) + std::chrono::nanoseconds(ts.tv_nsec);
}

void deadline_timer::take_due(instant now, std::vector<std::uint64_t>& due, std::size_t max) {
  for (std::size_t n = 0; n < max && !set_.empty() && set_.begin()->first <= now; ++n) {
    due.push_back(set_.begin()->second);
    set_.erase(set_.begin());
  }
}

void deadline_timer::rearm() {
  if (set_.empty()) {
    if (!armed_) return;
    itimerspec off{};
    const int rc = ::timerfd_settime(fd_.get(), 0, &off, nullptr);
    SUNDIAL_ASSERT(rc == 0, "disarming an open timerfd cannot fail");
    armed_ = false;
    return;
  }
  instant when = set_.begin()->first;
  if (armed_ && armed_at_ == when) return;
  // An all-zero it_value disarms a timerfd; an instant at the epoch is long past anyway.
  if (when <= instant{0}) when = instant{1};
  itimerspec spec{};
  spec.it_value = to_timespec(when);
  int flags = TFD_TIMER_ABSTIME;
  if (clock_ == CLOCK_REALTIME) flags |= TFD_TIMER_CANCEL_ON_SET;
  const int rc = ::timerfd_settime(fd_.get(), flags, &spec, nullptr);
  SUNDIAL_ASSERT(rc == 0, "arming an open timerfd with a valid instant cannot fail");
  armed_ = true;
  armed_at_ = set_.begin()->first;
}

bool deadline_timer::acknowledge() {
  std::uint64_t expirations = 0;
  const ssize_t n = ::read(fd_.get(), &expirations, sizeof expirations);
  if (n < 0 && errno == ECANCELED) {
    // The clock was stepped. The timer is re-armed from the set by the next rearm().
    armed_ = false;
    return false;
  }
  // An expiry (or EAGAIN: re-armed since epoll reported it): a one-shot timer is spent either
  // way, and rearm() sets it again from the set.
  armed_ = false;
  return true;
}

}  // namespace sundial::exec
