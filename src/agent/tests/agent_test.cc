// The agent with a real supervisor and real processes; the leader is a test double that
// records reports and accepts or refuses them on demand.
#include "agent/agent.h"
#include "exec/supervisor.h"

#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <mutex>

#include "storage/tests/temp_dir.h"

namespace sundial::agent {
namespace {

using namespace std::chrono;

std::int64_t now_us() {
  return duration_cast<microseconds>(system_clock::now().time_since_epoch()).count();
}

// The leader's side of reports: keeps every event it accepted, refuses while `refuse` is set.
class fake_leader {
 public:
  base::status report(const pb::ReportRequest& r) {
    std::lock_guard lock(mu_);
    ++calls_;
    if (refuse_) return base::fail(base::errc::unavailable, "no leader");
    for (const auto& e : r.events())
      events_.push_back(e);
    cv_.notify_all();
    return {};
  }
  void set_refuse(bool v) {
    std::lock_guard lock(mu_);
    refuse_ = v;
  }
  // Waits (at most 10 s) until an event of `id` in `state` has been accepted.
  bool wait_for(const std::string& id, const std::string& state) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, seconds(10), [&] { return find(id, state) != nullptr; });
  }
  std::optional<pb::RunEvent> event(const std::string& id, const std::string& state) {
    std::lock_guard lock(mu_);
    const pb::RunEvent* e = find(id, state);
    return e ? std::optional<pb::RunEvent>(*e) : std::nullopt;
  }
  int count(const std::string& id) {
    std::lock_guard lock(mu_);
    int n = 0;
    for (const auto& e : events_)
      n += e.execution_id() == id && e.state() != "running";
    return n;
  }
  int calls() {
    std::lock_guard lock(mu_);
    return calls_;
  }

 private:
  const pb::RunEvent* find(const std::string& id, const std::string& state) const {
    for (const auto& e : events_)
      if (e.execution_id() == id && e.state() == state) return &e;
    return nullptr;
  }
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<pb::RunEvent> events_;
  bool refuse_ = false;
  int calls_ = 0;
};

pb::Run shell_run(const std::string& id, const std::string& command, std::int64_t at_us = 0) {
  pb::Run r;
  r.set_execution_id(id);
  r.set_launch_id("l-" + id);
  r.set_run_at_us(at_us);
  r.set_attempt(1);
  r.set_scheduled_at_us(1796184470000000);
  auto* j = r.mutable_job();
  j->set_name("job");
  j->set_executor("shell");
  (*j->mutable_executor_config())["command"] = command;
  (*j->mutable_executor_config())["shell"] = "true";
  return r;
}

pb::DispatchRequest request(std::uint64_t epoch, std::vector<pb::Run> runs) {
  pb::DispatchRequest d;
  d.set_epoch(epoch);
  for (auto& r : runs)
    *d.add_runs() = std::move(r);
  return d;
}

struct harness {
  storage::testing::temp_dir dir;
  fake_leader leader;
  std::unique_ptr<exec::supervisor> runner = exec::supervisor::start().value();
  std::unique_ptr<agent> a;

  void start() {
    agent_options o;
    o.node_name = "n1";
    o.data_dir = dir.path() + "/agent";
    o.tags = {{"role", "sundial"}};
    a = agent::start(o, *runner, [this](const pb::ReportRequest& r) {
          return leader.report(r);
        }).value();
  }
  // A crash of the agent process: the agent goes without its last report, then its runs.
  void restart() {
    a->shutdown();
    a.reset();
    runner->shutdown();
    runner = exec::supervisor::start().value();
    start();
  }
  ~harness() {
    if (a) a->shutdown();
    runner->shutdown();
    a.reset();
  }
};

TEST(agent, runs_a_dispatch_and_reports_started_then_finished_with_the_environment) {
  harness h;
  h.start();
  auto resp =
      h.a->dispatch(request(3, {shell_run("e1",
                                          "echo $SUNDIAL_JOB $SUNDIAL_LAUNCH_ID $SUNDIAL_ATTEMPT "
                                          "$SUNDIAL_SCHEDULED_AT $SUNDIAL_NODE; exit 4")}));
  ASSERT_EQ(resp.acks_size(), 1);
  EXPECT_EQ(resp.acks(0).outcome(), "accepted");
  ASSERT_TRUE(h.leader.wait_for("e1", "failed")) << "no failed report for e1";
  EXPECT_TRUE(h.leader.event("e1", "running"));
  auto done = h.leader.event("e1", "failed").value();
  EXPECT_EQ(done.exit_code(), 4);
  EXPECT_EQ(done.output(), "job l-e1 1 2026-12-02T04:07:50Z n1\n");
  EXPECT_EQ(h.a->highest_epoch(), 3u);
}

TEST(agent, a_lower_epoch_is_refused_and_a_repeated_id_runs_once) {
  harness h;
  h.start();
  ASSERT_EQ(h.a->dispatch(request(5, {shell_run("e1", "true")})).acks(0).outcome(), "accepted");
  auto stale = h.a->dispatch(request(4, {shell_run("e2", "true")}));
  EXPECT_EQ(stale.acks(0).outcome(), "stale_epoch");
  EXPECT_EQ(stale.highest_epoch(), 5u);
  ASSERT_TRUE(h.leader.wait_for("e1", "succeeded"));
  // After its result was committed (and forgotten), a late duplicate is still not run again.
  auto again = h.a->dispatch(request(6, {shell_run("e1", "true")}));
  EXPECT_EQ(again.acks(0).outcome(), "duplicate");
  EXPECT_EQ(again.acks(0).state(), "finished");
  EXPECT_EQ(h.leader.count("e1"), 1);
  EXPECT_FALSE(h.leader.event("e2", "succeeded"));
}

TEST(agent, an_armed_run_starts_at_its_instant) {
  harness h;
  h.start();
  const std::int64_t at = now_us() + 300'000;
  h.a->dispatch(request(1, {shell_run("e1", "true", at)}));
  auto st = h.a->status({});
  ASSERT_EQ(st.launches_size(), 1);
  EXPECT_EQ(st.launches(0).state(), "armed");
  ASSERT_TRUE(h.leader.wait_for("e1", "running"));
  EXPECT_GE(h.leader.event("e1", "running")->at_us(), at);
}

TEST(agent, results_wait_for_a_leader_and_survive_a_restart) {
  harness h;
  h.leader.set_refuse(true);
  h.start();
  h.a->dispatch(request(2, {shell_run("e1", "echo kept")}));
  // Finished but not accepted: it stays unreported, in the store.
  const auto deadline = steady_clock::now() + seconds(10);
  while (h.a->status({}).launches_size() == 0 ||
         h.a->status({}).launches(0).state() != "finished") {
    ASSERT_LT(steady_clock::now(), deadline) << "the run did not finish";
    std::this_thread::sleep_for(milliseconds(10));
  }
  EXPECT_GT(h.a->unreported(), 0u);
  h.restart();
  EXPECT_EQ(h.a->highest_epoch(), 2u);  // the fence survives the restart too
  h.leader.set_refuse(false);
  h.a->leader_changed();
  ASSERT_TRUE(h.leader.wait_for("e1", "succeeded")) << "the kept result was not re-reported";
  EXPECT_EQ(h.leader.event("e1", "succeeded")->output(), "kept\n");
}

TEST(agent, a_run_going_when_the_agent_stopped_is_reported_failed_after_the_restart) {
  harness h;
  h.start();
  h.a->dispatch(request(1, {shell_run("e1", "sleep 60")}));
  ASSERT_TRUE(h.leader.wait_for("e1", "running"));
  h.leader.set_refuse(true);  // the stop's own report never reaches a leader
  h.restart();
  h.leader.set_refuse(false);
  h.a->leader_changed();
  ASSERT_TRUE(h.leader.wait_for("e1", "failed"));
  EXPECT_NE(h.leader.event("e1", "failed")->error().find("restarted"), std::string::npos);
}

TEST(agent, after_a_restart_a_run_ahead_is_forgotten_and_a_passed_one_is_not_started_again) {
  harness h;
  h.start();
  h.a->dispatch(request(1, {shell_run("ahead", "true", now_us() + 60'000'000),
                            shell_run("passed", "true", now_us() + 200'000)}));
  // Kill the agent before "passed" fires, then restart it after its instant: it cannot know
  // whether the run started, so it reports it failed rather than running it a second time.
  h.leader.set_refuse(true);
  h.a->shutdown();
  h.a.reset();
  h.runner->shutdown();
  std::this_thread::sleep_for(
      milliseconds(300));  // the instant itself must pass: time is the subject
  h.runner = exec::supervisor::start().value();
  h.start();
  h.leader.set_refuse(false);
  h.a->leader_changed();
  ASSERT_TRUE(h.leader.wait_for("passed", "failed"));
  EXPECT_NE(h.leader.event("passed", "failed")->error().find("not started again"),
            std::string::npos);
  EXPECT_FALSE(h.leader.event("passed", "running"));
  // "ahead" is no longer known: a leader that still wants it dispatches it again, and it runs.
  auto st = h.a->status({});
  for (const auto& l : st.launches())
    EXPECT_NE(l.execution_id(), "ahead");
  EXPECT_EQ(h.a->dispatch(request(1, {shell_run("ahead", "true")})).acks(0).outcome(), "accepted");
  ASSERT_TRUE(h.leader.wait_for("ahead", "succeeded"));
}

TEST(agent, stop_ends_a_running_process_and_cancels_an_armed_one) {
  harness h;
  h.start();
  h.a->dispatch(request(
      1, {shell_run("run", "sleep 60"), shell_run("armed", "true", now_us() + 60'000'000)}));
  ASSERT_TRUE(h.leader.wait_for("run", "running"));
  pb::StopRequest s;
  s.set_epoch(1);
  s.set_execution_id("run");
  EXPECT_TRUE(h.a->stop(s).found());
  s.set_execution_id("armed");
  EXPECT_TRUE(h.a->stop(s).found());
  ASSERT_TRUE(h.leader.wait_for("run", "stopped"));
  ASSERT_TRUE(h.leader.wait_for("armed", "stopped"));
  EXPECT_FALSE(h.leader.event("armed", "running"));
  s.set_epoch(0);
  EXPECT_TRUE(h.a->stop(s).stale_epoch());
}

TEST(agent, a_job_without_the_shell_executor_fails_with_a_reason) {
  harness h;
  h.start();
  pb::Run r = shell_run("e1", "true");
  r.mutable_job()->set_executor("http");
  h.a->dispatch(request(1, {r}));
  ASSERT_TRUE(h.leader.wait_for("e1", "failed"));
  EXPECT_NE(h.leader.event("e1", "failed")->error().find("executor \"http\" is not available"),
            std::string::npos);
}

}  // namespace
}  // namespace sundial::agent
