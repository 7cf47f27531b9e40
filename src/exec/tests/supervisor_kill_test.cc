// How the supervisor ends processes: timeouts, stop(), SIGKILL after the grace, shutdown, and a
// run whose main process exits while a background child keeps the output pipe open. Every test
// checks, on pidfds, that no process of the run's group is left (except where leaving it is
// the contract; the test then kills it).

#include <gtest/gtest.h>
#include <signal.h>

#include "exec/tests/test_util.h"

namespace sundial::exec {
namespace {

using namespace std::chrono_literals;
using testing::live_group_members;
using testing::probe;
using testing::wait_group_gone;

shell_spec sh(std::string script) {
  shell_spec s;
  s.argv = {"/bin/sh", "-c", std::move(script)};
  return s;
}

std::chrono::steady_clock::time_point mono() {
  return std::chrono::steady_clock::now();
}

class kill_test : public ::testing::Test {
 protected:
  void SetUp() override {
    sup_ = testing::start_supervisor();
    ASSERT_NE(sup_, nullptr);
  }
  void TearDown() override {
    if (sup_) sup_->shutdown();
  }
  std::unique_ptr<supervisor> sup_;
};

TEST_F(kill_test, timeout_kills_the_whole_group) {
  auto spec = sh("sleep 100 & sleep 100 & echo ready; wait");
  spec.timeout = 1500ms;
  auto p = probe::make();
  const auto begin = mono();
  ASSERT_TRUE(sup_->spawn(spec, p->callbacks()).ok());
  const int pid = p->wait_started();
  ASSERT_GT(pid, 0);
  ASSERT_TRUE(p->wait_output("ready"));
  EXPECT_EQ(live_group_members(pid).size(), 3u) << "sh and its two sleeps share the group";
  auto r = p->wait_finished();
  ASSERT_TRUE(r);
  EXPECT_GE(mono() - begin, 1500ms);
  EXPECT_EQ(r->how, outcome::timed_out);
  EXPECT_EQ(r->signal, SIGTERM);
  EXPECT_EQ(r->error, "timed out after 1500ms: SIGTERM to the process group");
  EXPECT_EQ(r->output, "ready\n");
  EXPECT_TRUE(wait_group_gone(pid));
}

TEST_F(kill_test, stop_terminates_a_running_group) {
  auto p = probe::make();
  auto id = sup_->spawn(sh("sleep 100 & echo ready; wait"), p->callbacks());
  ASSERT_TRUE(id.ok());
  const int pid = p->wait_started();
  ASSERT_TRUE(p->wait_output("ready"));
  EXPECT_EQ(sup_->running(), 1u);
  EXPECT_TRUE(sup_->stop(*id));
  EXPECT_TRUE(sup_->stop(*id)) << "a second stop of a running run is accepted and changes nothing";
  auto r = p->wait_finished();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->how, outcome::stopped);
  EXPECT_EQ(r->signal, SIGTERM);
  EXPECT_EQ(r->error, "stopped: SIGTERM to the process group");
  EXPECT_FALSE(r->success());
  EXPECT_TRUE(wait_group_gone(pid));
  EXPECT_FALSE(sup_->stop(*id)) << "a finished run cannot be stopped";
  EXPECT_EQ(sup_->running(), 0u);
}

TEST_F(kill_test, sigkill_after_the_grace_when_sigterm_is_ignored) {
  // sh ignores TERM, and so do the sleeps it starts (ignored dispositions survive exec).
  auto p = probe::make();
  auto id = sup_->spawn(sh("trap '' TERM; sleep 100 & echo ready; while :; do sleep 1; done"),
                        p->callbacks());
  ASSERT_TRUE(id.ok());
  const int pid = p->wait_started();
  ASSERT_TRUE(p->wait_output("ready"));
  const auto stopped_at = mono();
  ASSERT_TRUE(sup_->stop(*id, 400ms));
  auto r = p->wait_finished();
  ASSERT_TRUE(r);
  EXPECT_GE(mono() - stopped_at, 400ms) << "SIGKILL only after the grace";
  EXPECT_EQ(r->how, outcome::stopped);
  EXPECT_EQ(r->signal, SIGKILL);
  EXPECT_EQ(r->error, "stopped: SIGTERM to the process group, SIGKILL after 400ms");
  EXPECT_TRUE(wait_group_gone(pid)) << "the background sleep ignoring TERM is killed too";
}

TEST_F(kill_test, timeout_with_a_child_that_traps_sigterm_uses_kill_grace) {
  auto spec = sh("trap 'echo got TERM' TERM; echo ready; while :; do sleep 1; done");
  spec.timeout = 300ms;
  spec.kill_grace = 300ms;
  auto p = probe::make();
  ASSERT_TRUE(sup_->spawn(spec, p->callbacks()).ok());
  const int pid = p->wait_started();
  auto r = p->wait_finished();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->how, outcome::timed_out);
  EXPECT_EQ(r->signal, SIGKILL);
  EXPECT_EQ(r->error, "timed out after 300ms: SIGTERM to the process group, SIGKILL after 300ms");
  EXPECT_TRUE(wait_group_gone(pid));
}

TEST_F(kill_test, a_group_that_exits_on_sigterm_is_not_sigkilled) {
  auto spec = sh("trap 'echo bye; exit 7' TERM; echo ready; while :; do sleep 1; done");
  spec.kill_grace = 30s;
  auto p = probe::make();
  auto id = sup_->spawn(spec, p->callbacks());
  ASSERT_TRUE(id.ok());
  const int pid = p->wait_started();
  ASSERT_TRUE(p->wait_output("ready"));
  ASSERT_TRUE(sup_->stop(*id));
  auto r = p->wait_finished(10s);
  ASSERT_TRUE(r) << "finished long before the 30 s grace";
  EXPECT_EQ(r->how, outcome::stopped);
  EXPECT_EQ(r->exit_code, 7);
  EXPECT_EQ(r->signal, 0);
  EXPECT_EQ(r->error, "stopped: SIGTERM to the process group");
  EXPECT_NE(r->output.find("bye"), std::string::npos) << r->output;
  EXPECT_TRUE(wait_group_gone(pid));
}

TEST_F(kill_test, a_background_child_holding_the_pipe_does_not_keep_the_run_open) {
  auto p = probe::make();
  const auto begin = mono();
  ASSERT_TRUE(sup_->spawn(sh("sleep 100 & echo done"), p->callbacks()).ok());
  const int pid = p->wait_started();
  auto r = p->wait_finished(20s);
  ASSERT_TRUE(r);
  EXPECT_LT(mono() - begin, 20s);
  EXPECT_EQ(r->how, outcome::exited);
  EXPECT_EQ(r->exit_code, 0);
  EXPECT_EQ(r->output, "done\n");
  // On a normal exit the group is left alone, as cron leaves it: the sleep still runs.
  EXPECT_EQ(live_group_members(pid).size(), 1u);
  ::kill(-pid, SIGKILL);  // ours to clean up
  EXPECT_TRUE(wait_group_gone(pid));
}

TEST_F(kill_test, shutdown_with_running_children_leaves_no_process_behind) {
  std::vector<std::shared_ptr<probe>> probes;
  std::vector<int> pids;
  for (int i = 0; i < 3; ++i) {
    auto p = probe::make();
    // One of them ignores TERM, so shutdown has to SIGKILL it after the grace.
    auto script = i == 0 ? "trap '' TERM; sleep 100 & echo ready; while :; do sleep 1; done"
                         : "sleep 100 & sleep 100 & echo ready; wait";
    ASSERT_TRUE(sup_->spawn(sh(script), p->callbacks()).ok());
    probes.push_back(p);
  }
  for (auto& p : probes) {
    pids.push_back(p->wait_started());
    ASSERT_TRUE(p->wait_output("ready"));
  }
  const auto begin = mono();
  sup_->shutdown(500ms);
  EXPECT_LT(mono() - begin, 500ms + 1s + 5s) << "bounded by the grace and the reap bound";
  for (std::size_t i = 0; i < probes.size(); ++i) {
    EXPECT_EQ(probes[i]->finished_count(), 1) << "reported before shutdown() returned";
    auto r = probes[i]->wait_finished(1ms);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->how, outcome::stopped);
    EXPECT_EQ(r->error.rfind("the supervisor shut down: SIGTERM to the process group", 0), 0u)
        << r->error;
    EXPECT_TRUE(wait_group_gone(pids[i]));
  }
  EXPECT_EQ(probes[0]->wait_finished(1ms)->signal, SIGKILL);
}

TEST_F(kill_test, an_output_flood_with_a_timeout_still_ends) {
  // `yes` writes as fast as the loop reads; the timeout must still get through.
  shell_spec spec;
  spec.argv = {"yes"};
  spec.timeout = 500ms;
  spec.output_limit = 1024;
  auto p = probe::make();
  ASSERT_TRUE(sup_->spawn(spec, p->callbacks()).ok());
  const int pid = p->wait_started();
  auto r = p->wait_finished();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->how, outcome::timed_out);
  EXPECT_EQ(r->output.size(), 1024u);
  EXPECT_TRUE(r->output_truncated);
  EXPECT_GT(r->output_bytes, 1024u * 1024) << "yes wrote more than a MiB in 500 ms";
  EXPECT_EQ(r->output.substr(r->output.size() - 4), "y\ny\n");
  EXPECT_TRUE(wait_group_gone(pid));
}

}  // namespace
}  // namespace sundial::exec
