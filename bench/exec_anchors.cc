// The machine's own limits for running jobs, which the scheduler's benchmarks compare against:
// how fast this kernel spawns and reaps /bin/true, how late an absolute timerfd deadline wakes
// a thread, and the same two through exec::supervisor (rate of spawn(), lateness of spawn_at()
// from the instant to started_at).
//
// Prints `key value` lines (and `#` comments) for bench scripts to parse. Usage:
//   exec_anchors [--quick]
// EXEC_ANCHORS_NO_RT=1 runs the supervisor without SCHED_FIFO (rt_priority 0), for comparison.

#include <spawn.h>
#include <sys/timerfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <fstream>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "exec/child_process.h"
#include "exec/precision.h"
#include "exec/supervisor.h"

extern char** environ;

namespace {

using namespace std::chrono_literals;
using sundial::exec::supervisor;

double seconds_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

sundial::exec::shell_spec true_spec() {
  sundial::exec::shell_spec spec;
  spec.argv = {"/bin/true"};
  return spec;
}

pid_t spawn_true() {
  char arg0[] = "true";
  char* argv[] = {arg0, nullptr};
  pid_t pid = -1;
  if (::posix_spawn(&pid, "/bin/true", nullptr, nullptr, argv, environ) != 0) {
    std::perror("posix_spawn");
    std::exit(1);
  }
  return pid;
}

void reap(pid_t pid) {
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
}

struct stats {
  double p50 = 0;
  double p99 = 0;
  double max = 0;
};

stats summarize(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const auto at = [&](double q) { return v[static_cast<std::size_t>(q * (v.size() - 1))]; };
  return {at(0.5), at(0.99), v.back()};
}

double micros_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t).count();
}

// How long the posix_spawn call itself takes (the parent waits until the child has exec'd):
// bare, and as the supervisor sets it up (process group, signal defaults, /dev/null, pipe,
// closefrom, pidfd). This is the part of a launch's lateness that follows the timer's.
void spawn_call_durations(int n, stats& bare, stats& full) {
  std::vector<double> a;
  std::vector<double> b;
  for (int i = 0; i < n; ++i) {
    auto t = std::chrono::steady_clock::now();
    const pid_t pid = spawn_true();
    a.push_back(micros_since(t));
    reap(pid);
    t = std::chrono::steady_clock::now();
    auto child = sundial::exec::spawn_child(sundial::exec::launch_plan(true_spec()));
    b.push_back(micros_since(t));
    if (!child) {
      std::fprintf(stderr, "spawn_child: %s\n", child.err().message.c_str());
      std::exit(1);
    }
    reap(child->pid);
  }
  bare = summarize(a);
  full = summarize(b);
}

// (a) posix_spawn + waitpid of /bin/true with `in_flight` children at a time.
double raw_spawn_rate(int n, int in_flight) {
  std::vector<pid_t> live;
  const auto begin = std::chrono::steady_clock::now();
  for (int i = 0; i < n; ++i) {
    if (static_cast<int>(live.size()) == in_flight) {
      reap(live.front());
      live.erase(live.begin());
    }
    live.push_back(spawn_true());
  }
  for (pid_t pid : live)
    reap(pid);
  return n / seconds_since(begin);
}

std::int64_t realtime_ns() {
  timespec ts{};
  ::clock_gettime(CLOCK_REALTIME, &ts);
  return ts.tv_sec * 1'000'000'000LL + ts.tv_nsec;
}

// (b) A thread made precise as the supervisor's loop is, waking at absolute CLOCK_REALTIME
// deadlines 1 ms apart; lateness = clock read after the wake-up minus the deadline.
stats timerfd_lateness(int n, bool& realtime) {
  std::vector<double> late_us;
  std::thread t([&] {
    realtime = sundial::exec::make_thread_precise(5);
    const int fd = ::timerfd_create(CLOCK_REALTIME, TFD_CLOEXEC);
    std::int64_t deadline = realtime_ns() + 10'000'000;
    for (int i = 0; i < n; ++i) {
      itimerspec spec{};
      spec.it_value.tv_sec = deadline / 1'000'000'000;
      spec.it_value.tv_nsec = deadline % 1'000'000'000;
      ::timerfd_settime(fd, TFD_TIMER_ABSTIME, &spec, nullptr);
      std::uint64_t expirations = 0;
      if (::read(fd, &expirations, sizeof expirations) < 0) std::perror("read timerfd");
      late_us.push_back((realtime_ns() - deadline) / 1000.0);
      deadline += 1'000'000;
    }
    ::close(fd);
  });
  t.join();
  return summarize(late_us);
}

// Counts finished runs for the supervisor cases.
struct counter {
  std::mutex mu;
  std::condition_variable cv;
  int done = 0;
  int failed = 0;
  std::vector<double> late_us;

  void wait_for(int n) {
    std::unique_lock lock(mu);
    if (!cv.wait_for(lock, 120s, [&] { return done >= n; })) {
      std::fprintf(stderr, "only %d of %d runs finished in 120 s\n", done, n);
      std::exit(1);
    }
  }
};

// (c) spawn() of /bin/true until all have finished, with at most `in_flight` runs submitted
// and not finished (0: no bound, every spawn() at once).
double supervisor_spawn_rate(supervisor& sup, int n, int in_flight) {
  counter c;
  const auto begin = std::chrono::steady_clock::now();
  for (int i = 0; i < n; ++i) {
    if (in_flight > 0) {
      std::unique_lock lock(c.mu);
      c.cv.wait(lock, [&] { return i - c.done < in_flight; });
    }
    sundial::exec::run_callbacks cb;
    cb.on_finished = [&c](sundial::exec::run_result r) {
      std::lock_guard lock(c.mu);
      ++c.done;
      if (!r.success()) ++c.failed;
      c.cv.notify_all();
    };
    if (!sup.spawn(true_spec(), std::move(cb)).ok()) {
      std::fprintf(stderr, "spawn refused\n");
      std::exit(1);
    }
  }
  c.wait_for(n);
  if (c.failed > 0) std::fprintf(stderr, "%d runs failed\n", c.failed);
  return n / seconds_since(begin);
}

// (c) spawn_at() lateness: `n` launches armed ahead, `batch` at each instant, instants
// `spacing` apart; lateness = started_at - instant.
stats supervisor_lateness(supervisor& sup, int n, int batch, std::chrono::microseconds spacing) {
  counter c;
  const auto first =
      std::chrono::time_point_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now()) +
      200ms;
  for (int i = 0; i < n; ++i) {
    const auto at = first + (i / batch) * spacing;
    sundial::exec::run_callbacks cb;
    cb.on_finished = [&c, at](sundial::exec::run_result r) {
      std::lock_guard lock(c.mu);
      ++c.done;
      c.late_us.push_back(std::chrono::duration<double, std::micro>(r.started_at - at).count());
      c.cv.notify_all();
    };
    if (!sup.spawn_at(at, true_spec(), std::move(cb)).ok()) {
      std::fprintf(stderr, "spawn_at refused\n");
      std::exit(1);
    }
  }
  c.wait_for(n);
  return summarize(c.late_us);
}

std::string machine() {
  std::ifstream f("/proc/cpuinfo");
  std::string line;
  std::string model = "unknown CPU";
  while (std::getline(f, line)) {
    if (line.rfind("model name", 0) == 0) {
      model = line.substr(line.find(':') + 2);
      break;
    }
  }
  return std::to_string(std::thread::hardware_concurrency()) + " cores, " + model;
}

void print_stats(const char* key, stats s) {
  std::printf("%s_p50_us %.1f\n%s_p99_us %.1f\n%s_max_us %.1f\n", key, s.p50, key, s.p99, key,
              s.max);
}

}  // namespace

int main(int argc, char** argv) {
  const bool quick = argc > 1 && std::strcmp(argv[1], "--quick") == 0;
  const int spawns = quick ? 500 : 3000;
  const int wakeups = quick ? 500 : 2000;

  char date[32];
  const std::time_t now = std::time(nullptr);
  std::strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&now));
  std::printf("# exec anchors (%s); machine: %s\n", date, machine().c_str());
  std::ifstream loadavg("/proc/loadavg");
  std::string load;
  std::getline(loadavg, load);
  std::printf("# load average at start (other work on the machine): %s\n", load.c_str());
  std::printf("# spawn rates: /bin/true, posix_spawn + waitpid, %d spawns each\n", spawns);

  std::printf("raw_spawn_sequential_per_s %.0f\n", raw_spawn_rate(spawns, 1));
  std::printf("raw_spawn_2_in_flight_per_s %.0f\n", raw_spawn_rate(spawns, 2));
  stats bare;
  stats full;
  spawn_call_durations(spawns / 3, bare, full);
  std::printf("# duration of the posix_spawn call (returns once the child has exec'd)\n");
  print_stats("raw_posix_spawn_call", bare);
  print_stats("exec_spawn_child_call", full);

  bool rt = false;
  const stats timer = timerfd_lateness(wakeups, rt);
  std::printf("# timerfd: %d absolute CLOCK_REALTIME deadlines 1 ms apart, 1 ns slack\n", wakeups);
  std::printf("timerfd_realtime %s\n", rt ? "yes" : "no");
  print_stats("timerfd_lateness", timer);

  supervisor::options opts;
  if (std::getenv("EXEC_ANCHORS_NO_RT") != nullptr) opts.rt_priority = 0;
  auto sup = supervisor::start(opts);
  if (!sup) {
    std::fprintf(stderr, "supervisor::start: %s\n", sup.err().message.c_str());
    return 1;
  }
  std::printf("supervisor_realtime %s\n", (*sup)->realtime() ? "yes" : "no");
  std::printf(
      "# spawn(): /bin/true, %d runs, 1 or 2 in flight like the raw rates, then all at once\n",
      spawns);
  std::printf("supervisor_spawn_sequential_per_s %.0f\n", supervisor_spawn_rate(**sup, spawns, 1));
  std::printf("supervisor_spawn_2_in_flight_per_s %.0f\n", supervisor_spawn_rate(**sup, spawns, 2));
  std::printf("supervisor_spawn_all_at_once_per_s %.0f\n", supervisor_spawn_rate(**sup, spawns, 0));
  std::printf("# spawn_at: %d launches of /bin/true, one every 2 ms; lateness = started_at - at\n",
              wakeups / 2);
  print_stats("supervisor_spawn_at_lateness", supervisor_lateness(**sup, wakeups / 2, 1, 2000us));
  std::printf("# spawn_at burst: 10 instants 100 ms apart, 100 launches at each\n");
  print_stats("supervisor_spawn_at_burst100_lateness",
              supervisor_lateness(**sup, 1000, 100, 100'000us));
  (*sup)->shutdown();
  return 0;
}
