// The execution state machine: the table itself, every edge (and every non-edge) through
// apply, and the enter handlers (counters, retries, groups, dependents, ephemeral jobs).
#include "state/execution_lifecycle.h"

#include <gtest/gtest.h>

#include <map>
#include <set>

#include "base/launch_id.h"
#include "state/job_store.h"
#include "state/tests/temp_store.h"

namespace sundial::state {
namespace {

using testing::temp_store;
using s = exec_state;

constexpr std::int64_t now = 1795262400LL * 1000000;  // 2026-11-21T12:00:00Z
constexpr std::int64_t second = 1000000;

const std::vector<exec_state> all_states = {s::pending, s::dispatched, s::running,  s::succeeded,
                                            s::failed,  s::timed_out,  s::stopping, s::stopped,
                                            s::lost,    s::retrying};

// SEMANTICS.md's lifecycle, written out independently of the table under test.
const std::map<exec_state, std::set<exec_state>> expected_edges = {
    {s::pending, {s::dispatched, s::failed, s::stopping, s::lost}},
    {s::dispatched, {s::running, s::failed, s::stopping, s::lost}},
    {s::running, {s::succeeded, s::failed, s::timed_out, s::stopping, s::lost}},
    {s::stopping, {s::stopped, s::succeeded, s::failed, s::timed_out, s::lost}},
    {s::retrying, {s::dispatched, s::failed, s::stopping, s::lost}},
    {s::succeeded, {}},
    {s::failed, {}},
    {s::timed_out, {}},
    {s::stopped, {}},
    {s::lost, {}},
};

TEST(execution_lifecycle, table_has_exactly_the_documented_edges) {
  ASSERT_EQ(all_states.size(), exec_state_count);
  for (exec_state from : all_states) {
    for (exec_state to : all_states) {
      EXPECT_EQ(transition_allowed(from, to), expected_edges.at(from).count(to) == 1)
          << to_string(from) << " -> " << to_string(to);
    }
    EXPECT_EQ(is_final(from), expected_edges.at(from).empty()) << to_string(from);
  }
}

TEST(execution_lifecycle, names_round_trip_and_unknown_names_are_refused) {
  for (exec_state x : all_states)
    EXPECT_EQ(parse_exec_state(to_string(x)), x);
  EXPECT_FALSE(parse_exec_state("done"));
  EXPECT_FALSE(parse_exec_state(""));
  EXPECT_TRUE(is_retryable(s::failed));
  EXPECT_TRUE(is_retryable(s::timed_out));
  EXPECT_TRUE(is_retryable(s::lost));
  EXPECT_FALSE(is_retryable(s::succeeded));
  EXPECT_FALSE(is_retryable(s::stopped));
}

TEST(execution_lifecycle, reports_walk_the_shortest_path_along_the_table) {
  using v = std::vector<exec_state>;
  EXPECT_EQ(path_between(s::pending, s::succeeded), (v{s::dispatched, s::running, s::succeeded}));
  EXPECT_EQ(path_between(s::pending, s::running), (v{s::dispatched, s::running}));
  EXPECT_EQ(path_between(s::dispatched, s::failed), (v{s::failed}));
  EXPECT_EQ(path_between(s::running, s::stopped), (v{s::stopping, s::stopped}));
  EXPECT_EQ(path_between(s::retrying, s::timed_out), (v{s::dispatched, s::running, s::timed_out}));
  EXPECT_EQ(path_between(s::running, s::running), v{});
  EXPECT_EQ(path_between(s::succeeded, s::running), v{});  // nothing leaves a final state
  EXPECT_EQ(path_between(s::stopping, s::running), v{});
  EXPECT_EQ(path_between(s::pending, s::stopped), (v{s::stopping, s::stopped}));
  EXPECT_EQ(path_between(s::stopping, s::succeeded), (v{s::succeeded}));
  EXPECT_EQ(path_between(s::pending, s::lost), (v{s::lost}));
  // Every path it returns is made of the table's edges.
  for (exec_state a : all_states) {
    for (exec_state b : all_states) {
      exec_state at = a;
      for (exec_state next : path_between(a, b)) {
        EXPECT_TRUE(transition_allowed(at, next)) << to_string(a) << " -> " << to_string(b);
        at = next;
      }
    }
  }
}

// ---- through apply ----

pb::Job job(const std::string& name, std::uint32_t retries = 0) {
  pb::Job j;
  j.set_name(name);
  j.set_schedule("@every 1h");
  j.set_executor("shell");
  j.set_retries(retries);
  return j;
}

template <typename Msg>
job_outcome run(temp_store& st, job_command t, const Msg& m) {
  return decode_outcome(st.apply(static_cast<std::uint8_t>(t), encode_command(t, m).substr(1)));
}

job_outcome set(temp_store& st, const pb::Job& j) {
  pb::SetJob c;
  *c.mutable_job() = j;
  c.set_now_us(now);
  return run(st, job_command::set_job, c);
}

// Launches one slot of `name` on `targets` (empty: unplaced); returns the batch result.
pb::BatchResult launch(temp_store& st, const std::string& name, std::int64_t slot,
                       std::vector<std::string> targets = {"n1"}, bool scheduled = true) {
  pb::LaunchBatch b;
  b.set_now_us(now);
  auto* in = b.add_intents();
  in->set_job(name);
  in->set_slot_us(slot);
  in->set_launch_id(base::make_launch_id(name, slot, 1));
  for (auto& t : targets)
    in->add_targets(t);
  in->set_epoch(3);
  in->set_trigger("schedule");
  in->set_scheduled(scheduled);
  auto o = run(st, job_command::launch_batch, b);
  EXPECT_TRUE(o.ok) << o.message;
  return o.batch.value_or(pb::BatchResult{});
}

pb::BatchResult step(temp_store& st, const std::string& name, const std::string& id, exec_state to,
                     std::int32_t exit_code = 0) {
  pb::ExecutionUpdates b;
  b.set_now_us(now + 5 * second);
  auto* u = b.add_updates();
  u->set_job(name);
  u->set_id(id);
  u->set_state(std::string(to_string(to)));
  u->set_at_us(now + 2 * second);
  u->set_exit_code(exit_code);
  u->set_output("out");
  auto o = run(st, job_command::execution_updates, b);
  EXPECT_TRUE(o.ok) << o.message;
  return o.batch.value_or(pb::BatchResult{});
}

pb::Execution record(temp_store& st, const std::string& name, const std::string& id) {
  auto e = st->execution(name, id);
  EXPECT_TRUE(e.ok());
  return e.ok() && *e ? **e : pb::Execution{};
}

// A path from a new launch to each state (retrying: a failed first attempt of a job with a retry).
const std::map<exec_state, std::vector<exec_state>> path_to = {
    {s::pending, {}},
    {s::dispatched, {s::dispatched}},
    {s::running, {s::dispatched, s::running}},
    {s::succeeded, {s::dispatched, s::running, s::succeeded}},
    {s::failed, {s::dispatched, s::running, s::failed}},
    {s::timed_out, {s::dispatched, s::running, s::timed_out}},
    {s::stopping, {s::dispatched, s::stopping}},
    {s::stopped, {s::dispatched, s::stopping, s::stopped}},
    {s::lost, {s::lost}},
};

// Brings a fresh record of a fresh job into `x`; returns (job, id).
std::pair<std::string, std::string> record_in(temp_store& st, exec_state x, int n) {
  const std::string name = "j" + std::to_string(n);
  EXPECT_TRUE(set(st, job(name, x == s::retrying ? 1 : 0)).ok);
  const std::int64_t slot = now + 10 * second;
  launch(st, name, slot);
  const std::string first = base::make_launch_id(name, slot, 1);
  if (x == s::retrying) {
    for (exec_state y : {s::dispatched, s::running, s::failed})
      step(st, name, first, y, 1);
    return {name, base::make_launch_id(name, slot, 2)};
  }
  for (exec_state y : path_to.at(x))
    step(st, name, first, y);
  return {name, first};
}

TEST(execution_lifecycle, every_edge_applies_and_every_other_pair_is_refused) {
  temp_store st;
  int n = 0;
  for (exec_state from : all_states) {
    for (exec_state to : all_states) {
      auto [name, id] = record_in(st, from, ++n);
      ASSERT_EQ(record(st, name, id).state(), to_string(from)) << "setting up " << to_string(from);
      auto r = step(st, name, id, to);
      const bool allowed = expected_edges.at(from).count(to) == 1;
      EXPECT_EQ(r.refused_size(), allowed ? 0 : 1) << to_string(from) << " -> " << to_string(to);
      EXPECT_EQ(record(st, name, id).state(), to_string(allowed ? to : from))
          << to_string(from) << " -> " << to_string(to);
      if (!allowed) {
        ASSERT_EQ(r.refused_size(), 1);
        EXPECT_NE(r.refused(0).find(std::string(to_string(from)) + " cannot become " +
                                    std::string(to_string(to))),
                  std::string::npos)
            << r.refused(0);
      }
    }
  }
}

TEST(execution_lifecycle, a_second_intent_for_a_slot_is_a_no_op) {
  temp_store st;
  ASSERT_TRUE(set(st, job("a")).ok);
  auto first = launch(st, "a", now + second);
  EXPECT_EQ(first.created_size(), 1);
  auto again = launch(st, "a", now + second, {"n2"});
  EXPECT_EQ(again.created_size(), 0);
  EXPECT_EQ(again.duplicates(), 1u);
  auto e = record(st, "a", base::make_launch_id("a", now + second, 1));
  EXPECT_EQ(e.node_name(), "n1");  // the first intent's target stands
  EXPECT_EQ(st->executions("a", {}).value().total, 1u);
  auto j = st->get("a").value().value();
  EXPECT_EQ(j.last_slot_us(), now + second);
  EXPECT_GT(j.next_us(), now + second);  // next is kept past the launched slot
}

TEST(execution_lifecycle, counters_status_and_active_follow_the_outcomes) {
  temp_store st;
  ASSERT_TRUE(set(st, job("a")).ok);
  launch(st, "a", now + second);
  const std::string id = base::make_launch_id("a", now + second, 1);
  ASSERT_EQ(st->active().value().size(), 1u);
  EXPECT_EQ(st->active().value()[0].state, "pending");
  step(st, "a", id, s::dispatched);
  step(st, "a", id, s::running);
  EXPECT_EQ(st->get("a").value()->status(), "running");
  EXPECT_EQ(st->active().value()[0].state, "running");
  step(st, "a", id, s::succeeded);
  auto j = st->get("a").value().value();
  EXPECT_EQ(j.status(), "success");
  EXPECT_EQ(j.success_count(), 1u);
  EXPECT_EQ(j.error_count(), 0u);
  EXPECT_EQ(j.last_success_us(), now + 2 * second);
  EXPECT_TRUE(st->active().value().empty());
  auto e = record(st, "a", id);
  EXPECT_TRUE(e.success());
  EXPECT_EQ(e.started_at_us(), now + 2 * second);
  EXPECT_EQ(e.output(), "out");

  launch(st, "a", now + 2 * second);
  const std::string id2 = base::make_launch_id("a", now + 2 * second, 1);
  step(st, "a", id2, s::lost);
  j = st->get("a").value().value();
  EXPECT_EQ(j.status(), "failed");
  EXPECT_EQ(j.error_count(), 1u);
  EXPECT_EQ(j.lost_count(), 1u);
}

TEST(execution_lifecycle, a_failed_attempt_with_retries_left_becomes_a_new_record) {
  temp_store st;
  ASSERT_TRUE(set(st, job("r", 2)).ok);
  const std::int64_t slot = now + second;
  launch(st, "r", slot);
  std::string id = base::make_launch_id("r", slot, 1);
  for (std::uint32_t attempt = 1; attempt <= 3; ++attempt) {
    auto e = record(st, "r", id);
    ASSERT_EQ(e.attempt(), attempt);
    ASSERT_EQ(e.group(), slot);
    if (attempt > 1) {
      EXPECT_EQ(e.state(), "retrying");
      EXPECT_EQ(e.trigger(), "retry");
      EXPECT_GT(e.retry_at_us(), now);
    }
    step(st, "r", id, s::dispatched);
    step(st, "r", id, s::running);
    auto r = step(st, "r", id, s::failed, 7);
    EXPECT_EQ(record(st, "r", id).state(), "failed");  // an ended attempt keeps its state
    EXPECT_EQ(record(st, "r", id).exit_code(), 7);
    EXPECT_EQ(r.created_size(), attempt < 3 ? 1 : 0);
    if (attempt < 3) {
      EXPECT_NE(st->get("r").value()->status(), "failed");  // the group has not ended
      id = base::make_launch_id("r", slot, attempt + 1);
    }
  }
  auto j = st->get("r").value().value();
  EXPECT_EQ(j.status(), "failed");
  EXPECT_EQ(j.error_count(), 3u);
  EXPECT_EQ(st->executions("r", {}).value().total, 3u);
  EXPECT_TRUE(st->active().value().empty());
}

TEST(execution_lifecycle, a_group_on_several_nodes_ends_when_all_have_ended) {
  temp_store st;
  ASSERT_TRUE(set(st, job("all")).ok);
  const std::int64_t slot = now + second;
  auto b = launch(st, "all", slot, {"n1", "n2", "n3"});
  ASSERT_EQ(b.created_size(), 3);
  const std::string lid = base::make_launch_id("all", slot, 1);
  for (int i = 0; i < 3; ++i) {
    const std::string id = base::make_execution_id(lid, static_cast<std::size_t>(i), 3);
    EXPECT_EQ(record(st, "all", id).node_name(), "n" + std::to_string(i + 1));
    step(st, "all", id, s::dispatched);
    step(st, "all", id, s::running);
    step(st, "all", id, i == 1 ? s::failed : s::succeeded);
    EXPECT_EQ(st->get("all").value()->status(), i < 2 ? "running" : "partially_failed");
  }
}

TEST(execution_lifecycle, dependents_launch_after_their_parent_by_on_parent) {
  temp_store st;
  ASSERT_TRUE(set(st, job("p")).ok);
  for (auto [name, on] : {std::pair{"on-success", "success"}, std::pair{"on-failure", "failure"},
                          std::pair{"on-always", "always"}}) {
    pb::Job c;
    c.set_name(name);
    c.set_parent_job("p");
    c.set_on_parent(on);
    ASSERT_TRUE(set(st, c).ok);
  }
  auto finish = [&](std::int64_t slot, exec_state how) {
    launch(st, "p", slot);
    const std::string id = base::make_launch_id("p", slot, 1);
    step(st, "p", id, s::dispatched);
    step(st, "p", id, s::running);
    return step(st, "p", id, how);
  };
  auto ok = finish(now + second, s::succeeded);
  EXPECT_EQ(ok.created_size(), 2);  // on-success and on-always
  EXPECT_EQ(st->executions("on-success", {}).value().total, 1u);
  EXPECT_EQ(st->executions("on-failure", {}).value().total, 0u);
  EXPECT_EQ(st->executions("on-always", {}).value().total, 1u);
  auto child = st->executions("on-success", {}).value().executions.at(0);
  EXPECT_EQ(child.state(), "pending");
  EXPECT_EQ(child.trigger(), "dependent");
  EXPECT_EQ(child.node_name(), "");  // placed by the leader when dispatched
  EXPECT_EQ(child.parent_execution(), base::make_launch_id("p", now + second, 1));
  finish(now + 2 * second, s::failed);
  EXPECT_EQ(st->executions("on-success", {}).value().total, 1u);
  EXPECT_EQ(st->executions("on-failure", {}).value().total, 1u);
  EXPECT_EQ(st->executions("on-always", {}).value().total, 2u);
}

TEST(execution_lifecycle, an_ephemeral_job_is_deleted_after_its_first_success) {
  temp_store st;
  pb::Job e = job("once");
  e.set_ephemeral(true);
  ASSERT_TRUE(set(st, e).ok);
  launch(st, "once", now + second);
  const std::string id = base::make_launch_id("once", now + second, 1);
  step(st, "once", id, s::dispatched);
  step(st, "once", id, s::running);
  step(st, "once", id, s::failed);
  EXPECT_TRUE(st->get("once").value());  // a failure keeps it
  launch(st, "once", now + 2 * second);
  const std::string id2 = base::make_launch_id("once", now + 2 * second, 1);
  step(st, "once", id2, s::dispatched);
  step(st, "once", id2, s::running);
  step(st, "once", id2, s::succeeded);
  EXPECT_FALSE(st->get("once").value());
  EXPECT_TRUE(st->active().value().empty());
}

TEST(execution_lifecycle, history_pruning_drops_records_and_their_launch_records) {
  temp_store st;
  pb::Job j = job("h");
  j.set_history_limit(3);
  ASSERT_TRUE(set(st, j).ok);
  for (int i = 1; i <= 6; ++i) {
    const std::int64_t slot = now + i * second;
    launch(st, "h", slot);
    const std::string id = base::make_launch_id("h", slot, 1);
    step(st, "h", id, s::dispatched);
    step(st, "h", id, s::running);
    step(st, "h", id, s::succeeded);
  }
  auto page = st->executions("h", {}).value();
  EXPECT_EQ(page.total, 3u);
  ASSERT_EQ(page.executions.size(), 3u);
  EXPECT_EQ(page.executions.front().group(), now + 6 * second);  // newest first
  // A pruned slot's launch record is gone, so the intent table cannot grow without bound; the
  // job's last_slot (not the launch record) keeps a new leader from launching it again.
  auto again = launch(st, "h", now + 1 * second);
  EXPECT_EQ(again.created_size(), 1);
  EXPECT_EQ(st->get("h").value()->last_slot_us(), now + 6 * second);
}

TEST(execution_lifecycle, a_stop_keeps_the_reason_it_was_given) {
  temp_store st;
  ASSERT_TRUE(set(st, job("a")).ok);
  launch(st, "a", now + second);
  const std::string id = base::make_launch_id("a", now + second, 1);
  step(st, "a", id, s::dispatched);
  step(st, "a", id, s::running);
  auto with_error = [&](exec_state to, const std::string& why) {
    pb::ExecutionUpdates b;
    b.set_now_us(now);
    auto* u = b.add_updates();
    u->set_job("a");
    u->set_id(id);
    u->set_state(std::string(to_string(to)));
    u->set_error(why);
    ASSERT_TRUE(run(st, job_command::execution_updates, b).ok);
  };
  with_error(s::stopping, "replaced by a newer run");
  with_error(s::stopped, "stopped: SIGTERM to the process group");
  EXPECT_EQ(record(st, "a", id).state(), "stopped");
  EXPECT_EQ(record(st, "a", id).error(), "replaced by a newer run");
}

TEST(execution_lifecycle, updates_for_unknown_records_or_states_are_refused_alone) {
  temp_store st;
  ASSERT_TRUE(set(st, job("a")).ok);
  launch(st, "a", now + second);
  const std::string id = base::make_launch_id("a", now + second, 1);
  pb::ExecutionUpdates b;
  b.set_now_us(now);
  for (auto [who, state] : {std::pair{std::string("nope"), "running"}, std::pair{id, "exploded"},
                            std::pair{id, "dispatched"}}) {
    auto* u = b.add_updates();
    u->set_job("a");
    u->set_id(who);
    u->set_state(state);
  }
  auto o = run(st, job_command::execution_updates, b);
  ASSERT_TRUE(o.ok) << o.message;
  ASSERT_EQ(o.batch->refused_size(), 2);
  EXPECT_NE(o.batch->refused(0).find("no such execution"), std::string::npos);
  EXPECT_NE(o.batch->refused(1).find("not a lifecycle state"), std::string::npos);
  EXPECT_EQ(record(st, "a", id).state(), "dispatched");  // the valid one applied
}

}  // namespace
}  // namespace sundial::state
