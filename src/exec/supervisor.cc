// The callers' side of the supervisor: admission, cancel/stop flags, counters, start and
// shutdown. The loop thread is in supervisor_loop.cc.

#include "exec/supervisor.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <future>

#include <fmt/format.h>

#include "exec/precision.h"
#include "exec/supervisor_state.h"

namespace sundial::exec {
namespace {

base::status check_spec(const shell_spec& spec) {
  if (spec.argv.empty() || spec.argv[0].empty()) {
    return base::fail(base::errc::invalid_argument, "shell_spec: argv names no program");
  }
  if (spec.timeout.count() < 0 || spec.kill_grace.count() < 0) {
    return base::fail(base::errc::invalid_argument,
                      "shell_spec: timeout and kill_grace must not be negative");
  }
  return {};
}

std::unique_ptr<detail::run> process_run(shell_spec spec, run_callbacks cb) {
  auto r = std::make_unique<detail::run>();
  r->timeout = spec.timeout;
  r->kill_grace = spec.kill_grace;
  r->tail = output_tail(spec.output_limit);
  r->plan.emplace(std::move(spec));
  r->cb = std::move(cb);
  return r;
}

base::failure os_failure(const char* what) {
  return base::fail(base::errc::io_error, fmt::format("{}: {}", what, std::strerror(errno)));
}

}  // namespace

std::string_view to_string(outcome o) {
  switch (o) {
    case outcome::exited:
      return "exited";
    case outcome::signaled:
      return "signaled";
    case outcome::timed_out:
      return "timed_out";
    case outcome::stopped:
      return "stopped";
    case outcome::spawn_failed:
      return "spawn_failed";
  }
  return "unknown";
}

base::result<run_id> supervisor::state::admit(std::unique_ptr<detail::run> r, bool armed) {
  bool need_wake = false;
  run_id id;
  {
    std::lock_guard lock(mu);
    if (stopping) {
      return base::fail(base::errc::unavailable, "the supervisor is shutting down");
    }
    if (armed && n_armed >= opts.max_armed) {
      return base::fail(base::errc::unavailable,
                        fmt::format("too many armed runs: {} (max_armed)", opts.max_armed));
    }
    if (!armed && n_running >= opts.max_running) {
      return base::fail(
          base::errc::unavailable,
          fmt::format("too many running processes: {} (max_running)", opts.max_running));
    }
    id = run_id(next_id++);
    r->id = id;
    r->armed = armed;
    controls.emplace(id.value(),
                     detail::control{armed ? detail::phase::armed : detail::phase::running});
    ++(armed ? n_armed : n_running);
    incoming.push_back(std::move(r));
    need_wake = !wake_pending;
    wake_pending = true;
  }
  if (need_wake) wake_loop();
  return id;
}

bool supervisor::state::queue_attention(std::uint64_t id, detail::control& c) {
  if (c.queued) return false;
  c.queued = true;
  attention.push_back(id);
  const bool need_wake = !wake_pending;
  wake_pending = true;
  return need_wake;
}

void supervisor::state::wake_loop() {
  const std::uint64_t one = 1;
  // The counter cannot overflow (the loop drains it); EAGAIN would only mean "already woken".
  [[maybe_unused]] const ssize_t n = ::write(wake.get(), &one, sizeof one);
}

base::result<std::unique_ptr<supervisor>> supervisor::start(options o) {
  unique_fd ep(::epoll_create1(EPOLL_CLOEXEC));
  if (!ep) return os_failure("epoll_create1");
  unique_fd ev(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!ev) return os_failure("eventfd");
  auto wall = deadline_timer::open(CLOCK_REALTIME);
  if (!wall) return wall.err();
  auto mono = deadline_timer::open(CLOCK_MONOTONIC);
  if (!mono) return mono.err();
  auto s =
      std::make_unique<state>(o, std::move(ep), std::move(ev), std::move(*wall), std::move(*mono));
  // Tags 0, 1, 2 with kind 0 are the eventfd and the two timers (supervisor_loop.cc).
  const int fds[] = {s->wake.get(), s->wall.fd(), s->mono.fd()};
  for (std::uint64_t tag = 0; tag < 3; ++tag) {
    epoll_event e{};
    e.events = EPOLLIN;
    e.data.u64 = tag << 2;
    if (::epoll_ctl(s->epoll.get(), EPOLL_CTL_ADD, fds[tag], &e) != 0) {
      return os_failure("epoll_ctl");
    }
  }
  std::promise<void> ready;
  auto ready_future = ready.get_future();
  state* raw = s.get();
  s->thread = std::thread([raw, &ready] {
    raw->realtime.store(make_thread_precise(raw->opts.rt_priority));
    ready.set_value();
    raw->loop();
  });
  ready_future.wait();
  s->loop_thread = s->thread.get_id();
  return std::unique_ptr<supervisor>(new supervisor(std::move(s)));
}

supervisor::supervisor(std::unique_ptr<state> s) : s_(std::move(s)) {}

supervisor::~supervisor() {
  shutdown();
}

base::result<run_id> supervisor::spawn(shell_spec spec, run_callbacks cb) {
  SUNDIAL_TRY(check_spec(spec));
  SUNDIAL_ASSERT(static_cast<bool>(cb.on_finished), "run_callbacks.on_finished is required");
  return s_->admit(process_run(std::move(spec), std::move(cb)), false);
}

base::result<run_id> supervisor::spawn_at(base::wall_time at, shell_spec spec, run_callbacks cb) {
  SUNDIAL_TRY(check_spec(spec));
  SUNDIAL_ASSERT(static_cast<bool>(cb.on_finished), "run_callbacks.on_finished is required");
  auto r = process_run(std::move(spec), std::move(cb));
  r->at = at;
  return s_->admit(std::move(r), true);
}

base::result<run_id> supervisor::call_at(base::wall_time at, std::function<void()> fn) {
  SUNDIAL_ASSERT(static_cast<bool>(fn), "call_at needs a function");
  auto r = std::make_unique<detail::run>();
  r->is_call = true;
  r->at = at;
  r->fn = std::move(fn);
  return s_->admit(std::move(r), true);
}

bool supervisor::cancel(run_id id) {
  bool need_wake = false;
  {
    std::lock_guard lock(s_->mu);
    auto it = s_->controls.find(id.value());
    if (it == s_->controls.end() || it->second.ph != detail::phase::armed) return false;
    it->second.ph = detail::phase::cancelled;
    --s_->n_armed;
    need_wake = s_->queue_attention(id.value(), it->second);
  }
  if (need_wake) s_->wake_loop();
  return true;
}

bool supervisor::stop(run_id id, std::optional<std::chrono::nanoseconds> grace) {
  bool need_wake = false;
  {
    std::lock_guard lock(s_->mu);
    auto it = s_->controls.find(id.value());
    if (it == s_->controls.end()) return false;
    detail::control& c = it->second;
    switch (c.ph) {
      case detail::phase::cancelled:
        return true;
      case detail::phase::armed:
        c.ph = detail::phase::cancelled;
        --s_->n_armed;
        break;
      case detail::phase::running:
        if (c.stop_requested) return true;
        c.stop_requested = true;
        c.stop_grace = grace;
        break;
    }
    need_wake = s_->queue_attention(id.value(), c);
  }
  if (need_wake) s_->wake_loop();
  return true;
}

std::size_t supervisor::running() const {
  std::lock_guard lock(s_->mu);
  return s_->n_running;
}

std::size_t supervisor::armed() const {
  std::lock_guard lock(s_->mu);
  return s_->n_armed;
}

bool supervisor::realtime() const {
  return s_->realtime.load();
}

void supervisor::shutdown(std::chrono::nanoseconds grace) {
  SUNDIAL_ASSERT(std::this_thread::get_id() != s_->loop_thread,
                 "shutdown() from a supervisor callback would wait for its own thread");
  bool need_wake = false;
  {
    std::lock_guard lock(s_->mu);
    if (!s_->stopping) {
      s_->stopping = true;
      s_->shutdown_grace = grace;
      need_wake = !s_->wake_pending;
      s_->wake_pending = true;
    }
  }
  if (need_wake) s_->wake_loop();
  std::lock_guard join_lock(s_->join_mu);
  if (s_->thread.joinable()) s_->thread.join();
}

std::uint64_t supervisor::process_identity(int pid) const {
  // One open and one read into a stack buffer: this runs for every start.
  char path[32];
  std::snprintf(path, sizeof path, "/proc/%d/stat", pid);
  const int fd = ::open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  char buf[1024];
  const ssize_t n = ::read(fd, buf, sizeof buf - 1);
  ::close(fd);
  if (n <= 0) return 0;
  buf[n] = '\0';
  // The command name (field 2) may hold spaces and parentheses: fields resume after the last ')'.
  const char* p = std::strrchr(buf, ')');
  if (p == nullptr) return 0;
  ++p;
  for (int field = 2; field < 22 && *p != '\0'; ++p) {
    if (*p == ' ') ++field;
  }
  return std::strtoull(p, nullptr, 10);
}

void supervisor::kill_leftover_group(int pgid, std::uint64_t identity) {
  if (pgid > 0 && identity != 0 && process_identity(pgid) == identity) ::kill(-pgid, SIGKILL);
}

}  // namespace sundial::exec
