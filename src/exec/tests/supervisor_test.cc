// The supervisor with real processes: results, environment, directories, spawn failures,
// output, armed launches, cancel, rusage and many runs at once. Kill paths are in
// supervisor_kill_test.cc.

#include <gtest/gtest.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <set>

#include "exec/tests/test_util.h"

namespace sundial::exec {
namespace {

using namespace std::chrono_literals;
using testing::probe;

shell_spec sh(std::string script) {
  shell_spec s;
  s.argv = {"/bin/sh", "-c", std::move(script)};
  return s;
}

base::wall_time now() {
  return std::chrono::time_point_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now());
}

class supervisor_test : public ::testing::Test {
 protected:
  void SetUp() override {
    sup_ = testing::start_supervisor();
    ASSERT_NE(sup_, nullptr);
  }
  void TearDown() override {
    if (sup_) sup_->shutdown();
  }

  // Spawns `spec` now and waits for its result.
  std::optional<run_result> run(shell_spec spec) {
    auto p = probe::make();
    auto id = sup_->spawn(std::move(spec), p->callbacks());
    if (!id) {
      ADD_FAILURE() << "spawn: " << id.err().message;
      return std::nullopt;
    }
    return p->wait_finished();
  }

  std::unique_ptr<supervisor> sup_;
};

TEST_F(supervisor_test, reports_exit_code_and_combined_output) {
  auto r = run(sh("echo out; echo err >&2; exit 3"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->how, outcome::exited);
  EXPECT_EQ(r->exit_code, 3);
  EXPECT_EQ(r->signal, 0);
  EXPECT_EQ(r->output, "out\nerr\n");
  EXPECT_EQ(r->output_bytes, 8u);
  EXPECT_FALSE(r->output_truncated);
  EXPECT_FALSE(r->success());
  EXPECT_TRUE(r->error.empty()) << r->error;
  EXPECT_LE(r->started_at, r->finished_at);

  auto ok = run(sh("true"));
  ASSERT_TRUE(ok);
  EXPECT_TRUE(ok->success());
  EXPECT_EQ(ok->output, "");
}

TEST_F(supervisor_test, a_signal_the_supervisor_did_not_send_is_signaled) {
  auto r = run(sh("kill -USR1 $$"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->how, outcome::signaled);
  EXPECT_EQ(r->signal, SIGUSR1);
  EXPECT_EQ(r->exit_code, -1);
}

TEST_F(supervisor_test, the_child_has_default_signals_and_dev_null_stdin) {
  // A supervisor started from a thread that blocks SIGUSR2, in a process that ignores
  // SIGPIPE (as servers do): neither may reach the child.
  sup_->shutdown();
  sigset_t usr2;
  sigset_t old_mask;
  sigemptyset(&usr2);
  sigaddset(&usr2, SIGUSR2);
  ASSERT_EQ(::pthread_sigmask(SIG_BLOCK, &usr2, &old_mask), 0);
  sup_ = testing::start_supervisor();
  ::pthread_sigmask(SIG_SETMASK, &old_mask, nullptr);
  ASSERT_NE(sup_, nullptr);
  ::signal(SIGPIPE, SIG_IGN);
  auto r = run(sh("grep -E '^(SigBlk|SigIgn)' /proc/self/status; cat; echo end"));
  ::signal(SIGPIPE, SIG_DFL);
  ASSERT_TRUE(r);
  // Signals 32 and 33 are glibc's own (thread cancellation, setxid): its posix_spawn leaves
  // them ignored in every child, and glibc installs their handlers when it needs them. Every
  // other signal must be at its default.
  EXPECT_EQ(r->output, "SigBlk:\t0000000000000000\nSigIgn:\t0000000180000000\nend\n");
}

TEST_F(supervisor_test, no_descriptor_leaks_into_the_child) {
  // Not close-on-exec on purpose: the child must still not see it.
  const int leaked = ::dup(STDOUT_FILENO);
  ASSERT_GE(leaked, 0);
  auto r = run(sh("ls /proc/self/fd | sort -n | tr '\\n' ' '"));
  ::close(leaked);
  ASSERT_TRUE(r);
  // 0, 1, 2 and the descriptor ls opens to read the directory.
  EXPECT_EQ(r->output, "0 1 2 3 ");
}

TEST_F(supervisor_test, env_reaches_the_child_and_overrides) {
  ASSERT_EQ(::setenv("SUNDIAL_EXEC_TEST_OUTER", "outer", 1), 0);
  ASSERT_EQ(::setenv("SUNDIAL_EXEC_TEST_KEPT", "kept", 1), 0);
  auto spec = sh("echo $SUNDIAL_EXEC_TEST_OUTER $SUNDIAL_EXEC_TEST_KEPT $NEW_ONE $TWICE");
  spec.env = {"SUNDIAL_EXEC_TEST_OUTER=inner", "NEW_ONE=a=b", "TWICE=first", "TWICE=second"};
  auto r = run(spec);
  ::unsetenv("SUNDIAL_EXEC_TEST_OUTER");
  ::unsetenv("SUNDIAL_EXEC_TEST_KEPT");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->output, "inner kept a=b second\n");
  auto count = run([] {
    auto s = sh("env | grep -c '^SUNDIAL_EXEC_TEST_X='");
    s.env = {"SUNDIAL_EXEC_TEST_X=1", "SUNDIAL_EXEC_TEST_X=2"};
    return s;
  }());
  ASSERT_TRUE(count);
  EXPECT_EQ(count->output, "1\n") << "a variable set twice appears once";
}

TEST_F(supervisor_test, runs_in_the_given_directory) {
  char tmpl[] = "/tmp/sundial-exec-cwd-XXXXXX";
  ASSERT_NE(::mkdtemp(tmpl), nullptr);
  auto spec = sh("pwd");
  spec.cwd = tmpl;
  auto r = run(spec);
  std::filesystem::remove(tmpl);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->output, std::string(tmpl) + "\n");
}

TEST_F(supervisor_test, argv_zero_is_searched_in_path) {
  shell_spec spec;
  spec.argv = {"echo", "one arg", "two"};
  auto r = run(spec);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->output, "one arg two\n");
}

TEST_F(supervisor_test, spawn_failures_are_runs_with_a_reason) {
  shell_spec missing;
  missing.argv = {"sundial-no-such-program"};
  auto r = run(missing);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->how, outcome::spawn_failed);
  EXPECT_EQ(r->error, "cannot run \"sundial-no-such-program\": No such file or directory");
  EXPECT_FALSE(r->success());

  char path[] = "/tmp/sundial-exec-noexec-XXXXXX";
  const int fd = ::mkstemp(path);  // mode 0600: no execute bit for anyone, root included
  ASSERT_GE(fd, 0);
  ::close(fd);
  shell_spec not_exec;
  not_exec.argv = {path};
  auto denied = run(not_exec);
  ::unlink(path);
  ASSERT_TRUE(denied);
  EXPECT_EQ(denied->how, outcome::spawn_failed);
  EXPECT_EQ(denied->error, std::string("cannot run \"") + path + "\": Permission denied");

  auto no_dir = sh("true");
  no_dir.cwd = "/nonexistent/sundial";
  auto d = run(no_dir);
  ASSERT_TRUE(d);
  EXPECT_EQ(d->how, outcome::spawn_failed);
  EXPECT_EQ(d->error,
            "cannot change to directory \"/nonexistent/sundial\": No such file or directory");
  EXPECT_EQ(sup_->running(), 0u);
}

TEST_F(supervisor_test, bad_specs_are_refused_at_the_call) {
  auto p = probe::make();
  auto empty = sup_->spawn(shell_spec{}, p->callbacks());
  ASSERT_FALSE(empty.ok());
  EXPECT_EQ(empty.err().code, base::errc::invalid_argument);
  auto negative = sh("true");
  negative.timeout = -1s;
  EXPECT_FALSE(sup_->spawn(negative, p->callbacks()).ok());
  EXPECT_EQ(p->finished_count(), 0);
}

// Text of `seq 1 n`, computed here.
std::string seq_text(int n) {
  std::string s;
  for (int i = 1; i <= n; ++i)
    s += std::to_string(i) + "\n";
  return s;
}

TEST_F(supervisor_test, keeps_the_exact_tail_of_a_big_output) {
  constexpr int n = 1'500'000;  // 10.9 MB of text
  const std::string all = seq_text(n);
  auto spec = sh("seq 1 " + std::to_string(n));
  spec.output_limit = 64 * 1024;
  auto r = run(spec);
  ASSERT_TRUE(r);
  EXPECT_TRUE(r->success());
  EXPECT_EQ(r->output_bytes, all.size());
  EXPECT_TRUE(r->output_truncated);
  ASSERT_EQ(r->output.size(), spec.output_limit);
  EXPECT_TRUE(r->output == all.substr(all.size() - spec.output_limit))
      << "the tail differs; it ends with " << r->output.substr(r->output.size() - 40);
}

TEST_F(supervisor_test, live_output_and_started_are_reported) {
  auto p = probe::make();
  auto id = sup_->spawn(sh("echo first; echo second"), p->callbacks());
  ASSERT_TRUE(id.ok());
  EXPECT_GT(p->wait_started(), 1);
  auto r = p->wait_finished();
  ASSERT_TRUE(r);
  EXPECT_EQ(p->live_output(), "first\nsecond\n");
  EXPECT_EQ(r->output, p->live_output());
}

TEST_F(supervisor_test, spawn_at_starts_at_the_instant) {
  const auto at = now() + 300ms;
  auto p = probe::make();
  auto id = sup_->spawn_at(at, sh("true"), p->callbacks());
  ASSERT_TRUE(id.ok()) << id.err().message;
  EXPECT_EQ(sup_->armed(), 1u);
  auto r = p->wait_finished();
  ASSERT_TRUE(r);
  EXPECT_TRUE(r->success());
  EXPECT_GE(r->started_at, at);
  EXPECT_LT(r->started_at - at, 1s) << "late by " << (r->started_at - at).count() / 1000 << " us";
  EXPECT_EQ(sup_->armed(), 0u);
}

// A burst of runs armed for one instant is spawned by several threads at once (spawn_pool):
// each run starts once, at or after the instant, with its own pipe (its output is its own).
TEST_F(supervisor_test, a_burst_armed_for_one_instant_starts_each_run_once_with_its_own_output) {
  constexpr int n = 200;
  const auto at = now() + 500ms;
  std::vector<std::shared_ptr<probe>> probes;
  for (int i = 0; i < n; ++i) {
    probes.push_back(probe::make());
    shell_spec spec;
    spec.argv = {"/bin/echo", "run-" + std::to_string(i)};
    auto id = sup_->spawn_at(at, std::move(spec), probes.back()->callbacks());
    ASSERT_TRUE(id.ok()) << id.err().message;
  }
  for (int i = 0; i < n; ++i) {
    auto r = probes[i]->wait_finished();
    ASSERT_TRUE(r) << "run " << i;
    EXPECT_TRUE(r->success()) << "run " << i << ": " << r->error;
    EXPECT_EQ(r->output, "run-" + std::to_string(i) + "\n");
    EXPECT_GE(r->started_at, at);
    EXPECT_EQ(probes[i]->finished_count(), 1);
  }
  EXPECT_EQ(sup_->running(), 0u);
}

TEST_F(supervisor_test, spawn_at_in_the_past_starts_at_once) {
  auto p = probe::make();
  const auto before = now();
  ASSERT_TRUE(sup_->spawn_at(before - 1h, sh("echo late"), p->callbacks()).ok());
  auto r = p->wait_finished();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->output, "late\n");
  EXPECT_GE(r->started_at, before);
}

TEST_F(supervisor_test, cancel_of_an_armed_run_reports_it_and_it_never_starts) {
  auto p = probe::make();
  auto id = sup_->spawn_at(now() + 1h, sh("echo must-not-run"), p->callbacks());
  ASSERT_TRUE(id.ok());
  EXPECT_EQ(sup_->armed(), 1u);
  EXPECT_TRUE(sup_->cancel(*id));
  EXPECT_EQ(sup_->armed(), 0u);
  auto r = p->wait_finished();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->how, outcome::stopped);
  EXPECT_EQ(r->error, "cancelled before start");
  EXPECT_EQ(p->live_output(), "");
  EXPECT_FALSE(sup_->cancel(*id)) << "a finished run cannot be cancelled";
  EXPECT_FALSE(sup_->stop(*id));
  EXPECT_EQ(p->finished_count(), 1);
}

TEST_F(supervisor_test, cancel_after_start_is_refused) {
  auto p = probe::make();
  auto id = sup_->spawn(sh("true"), p->callbacks());
  ASSERT_TRUE(id.ok());
  ASSERT_TRUE(p->wait_finished());
  EXPECT_FALSE(sup_->cancel(*id));
  EXPECT_FALSE(sup_->cancel(run_id(999'999)));
}

TEST_F(supervisor_test, call_at_calls_at_the_instant_and_can_be_cancelled) {
  std::mutex mu;
  std::condition_variable cv;
  base::wall_time called_at{};
  const auto at = now() + 200ms;
  ASSERT_TRUE(sup_->call_at(at,
                            [&] {
                              std::lock_guard lock(mu);
                              called_at = now();
                              cv.notify_all();
                            })
                  .ok());
  std::atomic<bool> cancelled_called{false};
  auto never = sup_->call_at(now() + 100ms, [&] { cancelled_called = true; });
  ASSERT_TRUE(never.ok());
  EXPECT_TRUE(sup_->cancel(*never));
  std::unique_lock lock(mu);
  ASSERT_TRUE(cv.wait_for(lock, 10s, [&] { return called_at != base::wall_time{}; }))
      << "call_at did not call within 10 s";
  EXPECT_GE(called_at, at);
  EXPECT_FALSE(cancelled_called.load());
}

TEST_F(supervisor_test, cpu_time_and_peak_memory_of_a_busy_child) {
  auto r = run(sh("i=0; while [ $i -lt 300000 ]; do i=$((i+1)); done"));
  ASSERT_TRUE(r);
  EXPECT_TRUE(r->success());
  EXPECT_GT(r->cpu_seconds, 0.01);
  EXPECT_GT(r->max_rss_bytes, 100u * 1024) << "sh's resident set is more than 100 KiB";
}

TEST_F(supervisor_test, five_hundred_concurrent_runs_each_finish_once) {
  constexpr int n = 500;
  std::mutex mu;
  std::condition_variable cv;
  std::vector<int> finished(n + 1, 0);
  int done = 0;
  int failures = 0;
  std::set<std::uint64_t> ids;
  for (int i = 0; i < n; ++i) {
    shell_spec spec;
    spec.argv = {"true"};
    run_callbacks cb;
    cb.on_finished = [&, i](run_result r) {
      std::lock_guard lock(mu);
      ++finished[i];
      ++done;
      if (!r.success()) ++failures;
      cv.notify_all();
    };
    auto id = sup_->spawn(spec, cb);
    ASSERT_TRUE(id.ok()) << id.err().message;
    ids.insert(id->value());
  }
  EXPECT_EQ(ids.size(), static_cast<std::size_t>(n)) << "ids are unique";
  std::unique_lock lock(mu);
  ASSERT_TRUE(cv.wait_for(lock, 60s, [&] { return done >= n; }))
      << done << " of " << n << " finished within 60 s";
  EXPECT_EQ(failures, 0);
  for (int i = 0; i < n; ++i)
    EXPECT_EQ(finished[i], 1) << "run " << i;
  lock.unlock();
  EXPECT_EQ(sup_->running(), 0u);
}

TEST_F(supervisor_test, max_running_refuses_with_a_reason) {
  sup_->shutdown();
  supervisor::options o;
  o.max_running = 2;
  sup_ = testing::start_supervisor(o);
  ASSERT_NE(sup_, nullptr);
  auto a = probe::make();
  auto b = probe::make();
  auto first = sup_->spawn(sh("sleep 100"), a->callbacks());
  auto second = sup_->spawn(sh("sleep 100"), b->callbacks());
  ASSERT_TRUE(first.ok() && second.ok());
  auto third = sup_->spawn(sh("true"), probe::make()->callbacks());
  ASSERT_FALSE(third.ok());
  EXPECT_EQ(third.err().code, base::errc::unavailable);
  EXPECT_EQ(third.err().message, "too many running processes: 2 (max_running)");
  // An armed run whose instant comes at the limit fails as a run.
  auto armed = probe::make();
  ASSERT_TRUE(sup_->spawn_at(now(), sh("true"), armed->callbacks()).ok());
  auto r = armed->wait_finished();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->how, outcome::spawn_failed);
  EXPECT_EQ(r->error, "too many running processes: 2 (max_running)");
  EXPECT_TRUE(sup_->stop(*first, 0ns));
  EXPECT_TRUE(sup_->stop(*second, 0ns));
  ASSERT_TRUE(a->wait_finished());
  ASSERT_TRUE(b->wait_finished());
}

TEST_F(supervisor_test, after_shutdown_spawns_are_refused) {
  sup_->shutdown();
  sup_->shutdown();  // idempotent
  auto p = probe::make();
  auto id = sup_->spawn(sh("true"), p->callbacks());
  ASSERT_FALSE(id.ok());
  EXPECT_EQ(id.err().code, base::errc::unavailable);
  EXPECT_FALSE(sup_->call_at(now(), [] {}).ok());
  EXPECT_EQ(p->finished_count(), 0);
}

TEST_F(supervisor_test, shutdown_reports_armed_runs_as_never_started) {
  auto p = probe::make();
  ASSERT_TRUE(sup_->spawn_at(now() + 1h, sh("true"), p->callbacks()).ok());
  sup_->shutdown();
  EXPECT_EQ(p->finished_count(), 1) << "reported before shutdown() returned";
  auto r = p->wait_finished(1ms);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->how, outcome::stopped);
  EXPECT_EQ(r->error, "the supervisor shut down before it started");
}

TEST_F(supervisor_test, callbacks_may_call_the_supervisor) {
  auto second = probe::make();
  auto first = probe::make();
  auto cb = first->callbacks();
  auto inner = cb.on_finished;
  supervisor* s = sup_.get();
  cb.on_finished = [inner, s, second](run_result r) {
    auto id = s->spawn(sh("echo chained"), second->callbacks());
    EXPECT_TRUE(id.ok());
    inner(std::move(r));
  };
  ASSERT_TRUE(sup_->spawn(sh("true"), cb).ok());
  auto r = second->wait_finished();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->output, "chained\n");
}

TEST(supervisor, reports_whether_it_got_realtime) {
  auto s = testing::start_supervisor();
  ASSERT_NE(s, nullptr);
  // Either answer is right (it depends on privileges); the run must work regardless.
  RecordProperty("realtime", s->realtime() ? "yes" : "no");
  // Field 41 of /proc/PID/stat is the scheduling policy: children run under SCHED_OTHER (0)
  // even when the loop thread that spawned them is SCHED_FIFO.
  auto p = probe::make();
  ASSERT_TRUE(s->spawn(sh("cut -d' ' -f41 /proc/self/stat"), p->callbacks()).ok());
  auto r = p->wait_finished();
  ASSERT_TRUE(r);
  EXPECT_TRUE(r->success());
  EXPECT_EQ(r->output, "0\n") << "realtime: " << s->realtime();
}

// The identity a restarted agent compares before killing a leftover group: stable for one
// process, different for another, 0 for none (a sleeping child: its /proc/<pid>/stat is there).
TEST_F(supervisor_test, process_identity_tells_processes_apart) {
  const std::uint64_t self = sup_->process_identity(::getpid());
  EXPECT_NE(self, 0u);
  EXPECT_EQ(sup_->process_identity(::getpid()), self);
  EXPECT_EQ(sup_->process_identity(0x3fffffff), 0u);  // beyond pid_max: no such process
  auto p = probe::make();
  auto id = sup_->spawn(sh("sleep 5"), p->callbacks());
  ASSERT_TRUE(id) << id.err().message;
  const int pid = p->wait_started();
  ASSERT_GT(pid, 0) << "the child did not start";
  const std::uint64_t child = sup_->process_identity(pid);
  EXPECT_NE(child, 0u);
  EXPECT_EQ(sup_->process_identity(pid), child);
  sup_->stop(*id);
  EXPECT_TRUE(p->wait_finished());
}

}  // namespace
}  // namespace sundial::exec
