// The supervisor's loop thread: epoll over the command eventfd, the wall-clock timer (armed
// instants), the monotonic timer (timeouts, kill graces, output drains, the shutdown bound),
// and each child's output pipe and pidfd.

#include <signal.h>
#include <sys/epoll.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <optional>
#include <thread>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "exec/spawn_pool.h"
#include "exec/supervisor_state.h"

namespace sundial::exec {
namespace {

using detail::ending;
using detail::phase;
using detail::run;
using instant = deadline_timer::instant;
using namespace std::chrono_literals;

// An epoll tag is (id << 2) | kind; kind 0 with ids 0-2 are the eventfd and the two timers.
constexpr std::uint64_t kind_special = 0;
constexpr std::uint64_t kind_pipe = 1;
constexpr std::uint64_t kind_pidfd = 2;
constexpr std::uint64_t special_wake = 0;
constexpr std::uint64_t special_wall = 1;
constexpr std::uint64_t special_mono = 2;

// Monotonic timer keys are (id << 2) | kind; key 0 is the shutdown's bound (ids start at 1).
constexpr std::uint64_t deadline_timeout = 1;
constexpr std::uint64_t deadline_kill = 2;
constexpr std::uint64_t deadline_drain = 3;
constexpr std::uint64_t deadline_shutdown = 0;

// After a process exits by itself, its own output is already in the pipe and is read at once;
// only a process it left behind (`cmd &`) can still hold the pipe open. Waiting for that one's
// EOF could keep the run open forever (a daemon started by a job), not waiting at all would
// cut the last lines such a helper prints as the job ends. 200 ms covers a helper's last write
// on a loaded machine and keeps the end of a run prompt; after it the pipe is closed and the
// helper, if it writes again, gets SIGPIPE, as under cron.
constexpr auto drain_grace = 200ms;
// How long shutdown waits for processes to be reaped after SIGKILL before giving up on them.
constexpr auto reap_bound = 1s;
// Bytes read from one pipe per wake-up, so that one chatty child cannot starve the others.
constexpr std::size_t read_budget = 1 << 20;
constexpr std::size_t read_chunk = 64 * 1024;
// Armed runs spawned per wake-up of the wall-clock timer (see on_wall_timer).
constexpr std::size_t spawn_batch = 128;

base::wall_time wall_now() {
  return std::chrono::time_point_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now());
}

class loop_runner {
 public:
  explicit loop_runner(supervisor::state& s)
      : s_(s), buf_(new char[read_chunk]), spawner_(helpers_for(s.opts), s.opts.rt_priority) {}
  void run_loop();

 private:
  run* find(std::uint64_t id) {
    auto it = s_.runs.find(id);
    return it == s_.runs.end() ? nullptr : it->second.get();
  }

  void take_commands();
  void admit(std::unique_ptr<run> r);
  void attend(std::uint64_t id);
  void begin_shutdown(std::chrono::nanoseconds grace);
  void on_wall_timer();
  // Claims an armed run whose instant came; true if its process is to be started.
  bool fire(run& r);
  static std::size_t helpers_for(const supervisor::options& o) {
    if (o.spawn_helpers >= 0) return static_cast<std::size_t>(o.spawn_helpers);
    const unsigned cores = std::thread::hardware_concurrency();
    return cores <= 1 ? 0 : std::min<std::size_t>(cores - 1, 3);
  }
  void on_mono_timer();
  void on_deadline(std::uint64_t key);

  void start_process(run& r);
  // The armed runs of one wake-up, spawned together (spawn_pool), then each set up as
  // start_process does.
  void start_processes(std::vector<run*>& rs);
  void started(run& r, base::result<child_process> child);
  void read_output(run& r);
  bool try_reap(run& r);
  void after_reap(run& r);
  void terminate(run& r, ending why, std::chrono::nanoseconds grace);
  void maybe_finish(run& r) {
    if (r.reaped && !r.output) finish(r);
  }
  // Reports the run (for a run that never started: outcome `unstarted` with error `note`),
  // releases everything it holds and forgets it. `r` must not be used afterwards.
  void finish(run& r, std::string note = {}, outcome unstarted = outcome::stopped);
  void settle(run& r);

  bool watch(int fd, std::uint64_t id, std::uint64_t kind);
  void close_watched(unique_fd& fd);
  void set_deadline(run& r, instant run::*field, std::uint64_t kind, instant when);
  void clear_deadline(run& r, instant run::*field, std::uint64_t kind);

  supervisor::state& s_;
  std::unique_ptr<char[]> buf_;
  std::vector<std::unique_ptr<run>> incoming_;
  std::vector<std::uint64_t> attention_;
  std::vector<std::uint64_t> due_;
  std::vector<std::uint64_t> ids_;
  std::vector<run*> to_start_;
  std::vector<const launch_plan*> plans_;
  std::vector<std::optional<base::result<child_process>>> children_;
  // Finished runs live until the end of the batch of events, so that a later event of the same
  // batch finds no run (ids are never reused) instead of a dangling one.
  std::vector<std::unique_ptr<run>> graveyard_;
  bool shutting_ = false;
  spawn_pool spawner_;
};

void loop_runner::run_loop() {
  epoll_event events[256];
  while (true) {
    s_.wall.rearm();
    s_.mono.rearm();
    if (shutting_ && s_.runs.empty()) break;
    const int n = ::epoll_wait(s_.epoll.get(), events, 256, -1);
    if (n < 0) {
      SUNDIAL_ASSERT(errno == EINTR, "epoll_wait on our own epoll descriptor cannot fail");
      continue;
    }
    // The wall-clock timer first: an armed instant is what must not wait behind other work.
    for (int i = 0; i < n; ++i) {
      if (events[i].data.u64 == (special_wall << 2)) on_wall_timer();
    }
    for (int i = 0; i < n; ++i) {
      const std::uint64_t tag = events[i].data.u64;
      const std::uint64_t id = tag >> 2;
      const std::uint64_t kind = tag & 3;
      if (kind == kind_special) {
        if (id == special_wake) take_commands();
        if (id == special_mono) on_mono_timer();
        continue;
      }
      run* r = find(id);
      if (r == nullptr) continue;  // finished earlier in this batch
      if (kind == kind_pipe && r->output) {
        read_output(*r);
        maybe_finish(*r);
      } else if (kind == kind_pidfd && r->pidfd && try_reap(*r)) {
        after_reap(*r);
      }
    }
    graveyard_.clear();
  }
}

void loop_runner::take_commands() {
  std::uint64_t count = 0;
  [[maybe_unused]] const ssize_t got = ::read(s_.wake.get(), &count, sizeof count);
  bool stopping = false;
  std::chrono::nanoseconds grace{0};
  {
    std::lock_guard lock(s_.mu);
    incoming_.swap(s_.incoming);
    attention_.swap(s_.attention);
    for (std::uint64_t id : attention_) {
      if (auto it = s_.controls.find(id); it != s_.controls.end()) it->second.queued = false;
    }
    s_.wake_pending = false;
    stopping = s_.stopping;
    grace = s_.shutdown_grace;
  }
  // New runs first: a stop() of a run that was admitted in the same batch finds it started.
  for (auto& r : incoming_)
    admit(std::move(r));
  incoming_.clear();
  for (std::uint64_t id : attention_)
    attend(id);
  attention_.clear();
  if (stopping && !shutting_) begin_shutdown(grace);
}

void loop_runner::admit(std::unique_ptr<run> r) {
  run& ref = *r;
  s_.runs.emplace(ref.id.value(), std::move(r));
  if (ref.armed) {
    s_.wall.add(ref.at.time_since_epoch(), ref.id.value());
  } else {
    start_process(ref);
  }
}

void loop_runner::attend(std::uint64_t id) {
  run* r = find(id);
  detail::control c;
  {
    std::lock_guard lock(s_.mu);
    auto it = s_.controls.find(id);
    if (it == s_.controls.end()) return;  // finished meanwhile
    c = it->second;
  }
  if (r == nullptr) return;
  if (c.ph == phase::cancelled) {
    finish(*r, "cancelled before start");
  } else if (c.stop_requested && r->started) {
    terminate(*r, ending::stopped, c.stop_grace.value_or(r->kill_grace));
  }
}

void loop_runner::begin_shutdown(std::chrono::nanoseconds grace) {
  shutting_ = true;
  ids_.clear();
  for (const auto& [id, r] : s_.runs)
    ids_.push_back(id);
  for (std::uint64_t id : ids_) {
    run* r = find(id);
    if (r == nullptr) continue;
    if (!r->started) {
      finish(*r, "the supervisor shut down before it started");
    } else {
      terminate(*r, ending::shutdown, grace);
    }
  }
  s_.mono.add(s_.mono.now() + grace + reap_bound, deadline_shutdown);
}

void loop_runner::on_wall_timer() {
  if (!s_.wall.acknowledge()) {
    spdlog::debug("exec: the system clock was stepped; armed instants it passed fire now");
  }
  due_.clear();
  // A bounded batch: the children of a huge burst exit while it is spawned, and until the loop
  // reaps them their pipes and pidfds stay open, which every later spawn copies (clone) and
  // closes (closefrom) again: one unbounded batch costs the square of its size. The rest stay
  // due, and the timer, re-armed to their passed instant, fires again right after the reaps.
  s_.wall.take_due(s_.wall.now(), due_, spawn_batch);
  to_start_.clear();
  for (std::uint64_t id : due_) {
    if (run* r = find(id); r != nullptr && r->armed && fire(*r)) to_start_.push_back(r);
  }
  start_processes(to_start_);
}

bool loop_runner::fire(run& r) {
  r.armed = false;
  phase ph;
  bool over_limit = false;
  {
    std::lock_guard lock(s_.mu);
    auto it = s_.controls.find(r.id.value());
    SUNDIAL_ASSERT(it != s_.controls.end(), "an armed run keeps its control until it finishes");
    ph = it->second.ph;
    if (ph == phase::armed && !r.is_call) {
      if (s_.n_running < s_.opts.max_running) {
        // Claimed: from here cancel() answers false.
        it->second.ph = phase::running;
        --s_.n_armed;
        ++s_.n_running;
      } else {
        over_limit = true;
      }
    }
  }
  if (ph == phase::cancelled) return false;  // attend() reports it
  if (r.is_call) {
    auto fn = std::move(r.fn);
    finish(r);  // a call reports nothing; this only forgets it
    fn();
    return false;
  }
  if (over_limit) {
    finish(r, fmt::format("too many running processes: {} (max_running)", s_.opts.max_running),
           outcome::spawn_failed);
    return false;
  }
  return true;
}

void loop_runner::on_mono_timer() {
  s_.mono.acknowledge();
  due_.clear();
  s_.mono.take_due(s_.mono.now(), due_);
  for (std::uint64_t key : due_)
    on_deadline(key);
}

void loop_runner::on_deadline(std::uint64_t key) {
  if (key == deadline_shutdown) {
    ids_.clear();
    for (const auto& [id, r] : s_.runs)
      ids_.push_back(id);
    for (std::uint64_t id : ids_) {
      run* r = find(id);
      if (r == nullptr) continue;
      if (r->started && !r->reaped) {
        signal_group(r->pid, SIGKILL);
        finish(*r, fmt::format("still running {} after SIGKILL at shutdown; left unreaped",
                               detail::describe(reap_bound)));
      } else {
        finish(*r);
      }
    }
    return;
  }
  run* r = find(key >> 2);
  if (r == nullptr) return;
  switch (key & 3) {
    case deadline_timeout:
      r->timeout_at = instant{0};
      terminate(*r, ending::timed_out, r->kill_grace);
      break;
    case deadline_kill:
      r->kill_at = instant{0};
      if (!r->reaped) {
        signal_group(r->pid, SIGKILL);
        r->sigkill_sent = true;
      }
      break;
    case deadline_drain:
      r->drain_at = instant{0};
      read_output(*r);
      finish(*r);
      break;
  }
}

void loop_runner::start_process(run& r) {
  started(r, spawn_child(*r.plan));
}

void loop_runner::start_processes(std::vector<run*>& rs) {
  if (rs.size() <= 1) {
    for (run* r : rs)
      start_process(*r);
    return;
  }
  plans_.clear();
  for (run* r : rs)
    plans_.push_back(&*r->plan);
  spawner_.spawn_all(plans_, children_);
  for (std::size_t i = 0; i < rs.size(); ++i)
    started(*rs[i], std::move(*children_[i]));
  children_.clear();
}

void loop_runner::started(run& r, base::result<child_process> child) {
  r.plan.reset();  // the argv and environment copies are no longer needed
  if (!child) {
    r.started_at = wall_now();
    finish(r, child.err().message, outcome::spawn_failed);
    return;
  }
  r.started = true;
  r.pid = child->pid;
  r.pidfd = std::move(child->pidfd);
  r.output = std::move(child->output);
  r.started_at = child->started_at;
  if (!watch(r.output.get(), r.id.value(), kind_pipe) ||
      !watch(r.pidfd.get(), r.id.value(), kind_pidfd)) {
    // Unwatched, it would never be reported: end it now (it has barely started).
    const int err = errno;
    signal_group(r.pid, SIGKILL);
    while (::waitpid(r.pid, &r.wait_status, 0) < 0 && errno == EINTR) {
    }
    r.started = false;
    finish(
        r,
        fmt::format("cannot watch the process (epoll_ctl: {}); it was killed", std::strerror(err)),
        outcome::spawn_failed);
    return;
  }
  if (r.timeout.count() > 0) {
    set_deadline(r, &run::timeout_at, deadline_timeout, s_.mono.now() + r.timeout);
  }
  if (r.cb.on_started) r.cb.on_started(r.pid, r.started_at);
}

void loop_runner::read_output(run& r) {
  std::size_t budget = read_budget;
  while (r.output && budget > 0) {
    const ssize_t n = ::read(r.output.get(), buf_.get(), std::min(read_chunk, budget));
    if (n > 0) {
      const std::string_view chunk(buf_.get(), static_cast<std::size_t>(n));
      budget -= chunk.size();
      r.tail.append(chunk);
      if (r.cb.on_output) r.cb.on_output(chunk);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) return;
    close_watched(r.output);  // EOF (or a read error): no writer is left
  }
}

bool loop_runner::try_reap(run& r) {
  while (true) {
    const pid_t got = ::wait4(r.pid, &r.wait_status, WNOHANG, &r.usage);
    if (got == 0) return false;
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) {
      // ECHILD: someone else in the process collected it (SIGCHLD ignored, waitpid(-1)).
      r.status_lost = true;
    }
    r.reaped = true;
    close_watched(r.pidfd);
    return true;
  }
}

void loop_runner::after_reap(run& r) {
  clear_deadline(r, &run::timeout_at, deadline_timeout);
  clear_deadline(r, &run::kill_at, deadline_kill);
  // A group the supervisor was ending loses its stragglers with the main process.
  if (r.end != ending::none) signal_group(r.pid, SIGKILL);
  read_output(r);
  if (!r.output) {
    finish(r);
    return;
  }
  set_deadline(r, &run::drain_at, deadline_drain, s_.mono.now() + drain_grace);
}

void loop_runner::terminate(run& r, ending why, std::chrono::nanoseconds grace) {
  if (r.reaped) {
    // The main process is gone and its output is draining: only stragglers are left.
    signal_group(r.pid, SIGKILL);
    read_output(r);
    finish(r);
    return;
  }
  if (r.end != ending::none) {
    // Already ending; a shutdown may only bring the SIGKILL closer.
    const instant kill_at = s_.mono.now() + grace;
    if (why == ending::shutdown && !r.sigkill_sent && kill_at < r.kill_at) {
      set_deadline(r, &run::kill_at, deadline_kill, kill_at);
    }
    return;
  }
  if (try_reap(r)) {  // it exited on its own just now: that outcome stands
    after_reap(r);
    return;
  }
  r.end = why;
  r.grace_used = grace;
  signal_group(r.pid, SIGTERM);
  clear_deadline(r, &run::timeout_at, deadline_timeout);
  set_deadline(r, &run::kill_at, deadline_kill, s_.mono.now() + grace);
}

void loop_runner::finish(run& r, std::string note, outcome unstarted) {
  clear_deadline(r, &run::timeout_at, deadline_timeout);
  clear_deadline(r, &run::kill_at, deadline_kill);
  clear_deadline(r, &run::drain_at, deadline_drain);
  if (r.armed) s_.wall.remove(r.at.time_since_epoch(), r.id.value());
  r.armed = false;
  close_watched(r.output);
  close_watched(r.pidfd);
  settle(r);
  auto it = s_.runs.find(r.id.value());
  SUNDIAL_ASSERT(it != s_.runs.end(), "a run is finished once");
  graveyard_.push_back(std::move(it->second));
  s_.runs.erase(it);
  if (!r.is_call) r.cb.on_finished(detail::report(r, std::move(note), unstarted));
}

void loop_runner::settle(run& r) {
  std::lock_guard lock(s_.mu);
  auto it = s_.controls.find(r.id.value());
  if (it == s_.controls.end()) return;
  if (it->second.ph == phase::running) --s_.n_running;
  if (it->second.ph == phase::armed) --s_.n_armed;
  s_.controls.erase(it);
}

bool loop_runner::watch(int fd, std::uint64_t id, std::uint64_t kind) {
  epoll_event e{};
  e.events = EPOLLIN;
  e.data.u64 = (id << 2) | kind;
  // Fails only for want of memory or of fs.epoll.max_user_watches.
  return ::epoll_ctl(s_.epoll.get(), EPOLL_CTL_ADD, fd, &e) == 0;
}

void loop_runner::close_watched(unique_fd& fd) {
  if (!fd) return;
  ::epoll_ctl(s_.epoll.get(), EPOLL_CTL_DEL, fd.get(), nullptr);
  fd.reset();
}

void loop_runner::set_deadline(run& r, instant run::*field, std::uint64_t kind, instant when) {
  const std::uint64_t key = (r.id.value() << 2) | kind;
  if (r.*field != instant{0}) s_.mono.remove(r.*field, key);
  r.*field = when;
  s_.mono.add(when, key);
}

void loop_runner::clear_deadline(run& r, instant run::*field, std::uint64_t kind) {
  if (r.*field == instant{0}) return;
  s_.mono.remove(r.*field, (r.id.value() << 2) | kind);
  r.*field = instant{0};
}

}  // namespace

void supervisor::state::loop() {
  loop_runner(*this).run_loop();
}

}  // namespace sundial::exec
