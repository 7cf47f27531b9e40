#include "state/job_store.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "state/job_rules.h"

namespace sundial::state {
namespace {

class temp_store {
 public:
  temp_store() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "sundial-js-XXXXXX").string();
    dir_ = ::mkdtemp(tmpl.data());
    store_ = job_store::open(dir_).value();
  }
  ~temp_store() {
    store_.reset();
    std::filesystem::remove_all(dir_);
  }
  job_store& operator*() { return *store_; }
  job_store* operator->() { return store_.get(); }

 private:
  std::string dir_;
  std::unique_ptr<job_store> store_;
};

constexpr std::int64_t now = 1795262400LL * 1000000;  // 2026-11-21T12:00:00Z

pb::Job job(const std::string& name, const std::string& parent = "") {
  pb::Job j;
  j.set_name(name);
  if (parent.empty()) j.set_schedule("@every 1h");
  j.set_parent_job(parent);
  j.set_executor("shell");
  return j;
}

job_outcome set(job_store& s, const pb::Job& j, std::int64_t at = now) {
  pb::SetJob c;
  *c.mutable_job() = j;
  c.set_now_us(at);
  return decode_outcome(s.apply(static_cast<std::uint8_t>(job_command::set_job),
                                encode_command(job_command::set_job, c).substr(1)));
}

template <typename Msg>
job_outcome run(job_store& s, job_command t, const Msg& m) {
  return decode_outcome(s.apply(static_cast<std::uint8_t>(t), encode_command(t, m).substr(1)));
}

job_outcome del(job_store& s, const std::string& name) {
  pb::DeleteJob c;
  c.set_name(name);
  return run(s, job_command::delete_job, c);
}

pb::Execution exec(const std::string& job, int n, bool success) {
  pb::Execution e;
  e.set_id("e" + std::to_string(n));
  e.set_job_name(job);
  e.set_started_at_us(now + n * 1000000LL);
  e.set_finished_at_us(now + n * 1000000LL + 500);
  e.set_success(success);
  return e;
}

TEST(job_store, create_get_overwrite_keeps_counters) {
  temp_store s;
  auto o = set(*s, job("a"));
  ASSERT_TRUE(o.ok) << o.message;
  ASSERT_TRUE(o.job);
  EXPECT_EQ(o.job->concurrency(), "allow");
  EXPECT_GT(o.job->next_us(), now);
  pb::SetExecution e;
  *e.mutable_execution() = exec("a", 1, true);
  ASSERT_TRUE(run(*s, job_command::execution_done, e).ok);
  pb::Job changed = job("a");
  changed.set_displayname("Job A");
  changed.set_success_count(999);  // read-only: ignored
  ASSERT_TRUE(set(*s, changed).ok);
  auto got = s->get("a").value();
  ASSERT_TRUE(got);
  EXPECT_EQ(got->displayname(), "Job A");
  EXPECT_EQ(got->success_count(), 1u);
  EXPECT_EQ(got->status(), "success");
  EXPECT_FALSE(s->get("missing").value());
}

TEST(job_store, invalid_job_changes_nothing) {
  temp_store s;
  ASSERT_TRUE(set(*s, job("a")).ok);
  pb::Job bad = job("a");
  bad.set_schedule("61 * * * * *");
  auto o = set(*s, bad);
  EXPECT_FALSE(o.ok);
  EXPECT_EQ(o.code, base::errc::invalid_argument);
  EXPECT_EQ(s->get("a").value()->schedule(), "@every 1h");
}

TEST(job_store, parents_dependents_and_cycles) {
  temp_store s;
  auto o = set(*s, job("child", "parent"));
  EXPECT_EQ(o.code, base::errc::not_found) << "a missing parent is a 404";
  EXPECT_FALSE(s->get("child").value());
  ASSERT_TRUE(set(*s, job("parent")).ok);
  ASSERT_TRUE(set(*s, job("child", "parent")).ok);
  ASSERT_TRUE(set(*s, job("grandchild", "child")).ok);
  EXPECT_EQ(s->get("parent").value()->dependent_jobs_size(), 1);
  // parent -> child -> grandchild; making parent a child of grandchild closes a cycle.
  o = set(*s, job("parent", "grandchild"));
  EXPECT_FALSE(o.ok);
  EXPECT_NE(o.message.find("cycle"), std::string::npos) << o.message;
  o = del(*s, "parent");
  EXPECT_EQ(o.code, base::errc::conflict) << "deleting a job with dependents";
  // Re-parenting moves the dependent between lists.
  ASSERT_TRUE(set(*s, job("grandchild", "parent")).ok);
  EXPECT_EQ(s->get("child").value()->dependent_jobs_size(), 0);
  EXPECT_EQ(s->get("parent").value()->dependent_jobs_size(), 2);
  ASSERT_TRUE(del(*s, "grandchild").ok);
  ASSERT_TRUE(del(*s, "child").ok);
  EXPECT_EQ(s->get("parent").value()->dependent_jobs_size(), 0);
  ASSERT_TRUE(del(*s, "parent").ok);
  EXPECT_EQ(del(*s, "parent").code, base::errc::not_found);
}

TEST(job_store, history_is_pruned_to_the_limit_oldest_first) {
  temp_store s;
  pb::Job j = job("a");
  j.set_history_limit(3);
  ASSERT_TRUE(set(*s, j).ok);
  for (int n = 1; n <= 5; ++n) {
    pb::SetExecution e;
    *e.mutable_execution() = exec("a", n, n != 4);
    ASSERT_TRUE(run(*s, job_command::set_execution, e).ok);   // running
    ASSERT_TRUE(run(*s, job_command::execution_done, e).ok);  // same record, done
  }
  auto page = s->executions("a", {}).value();
  EXPECT_EQ(page.total, 3u);
  ASSERT_EQ(page.executions.size(), 3u);
  EXPECT_EQ(page.executions[0].id(), "e5") << "newest first";
  EXPECT_EQ(page.executions[2].id(), "e3");
  EXPECT_FALSE(s->execution("a", "e1").value()) << "pruned";
  EXPECT_TRUE(s->execution("a", "e4").value());
  auto a = s->get("a").value();
  EXPECT_EQ(a->success_count(), 4u);
  EXPECT_EQ(a->error_count(), 1u);
  EXPECT_EQ(a->status(), "success");
  pb::DeleteExecutions d;
  d.set_job_name("a");
  ASSERT_TRUE(run(*s, job_command::delete_executions, d).ok);
  EXPECT_EQ(s->executions("a", {}).value().total, 0u);
  EXPECT_EQ(s->get("a").value()->success_count(), 0u);
}

TEST(job_store, listing_filters_sorts_and_slices) {
  temp_store s;
  for (int i = 0; i < 30; ++i) {
    pb::Job j = job("job-" + std::string(i < 10 ? "0" : "") + std::to_string(i));
    j.set_schedule("@at 2027-01-01T00:" + std::string(59 - i < 10 ? "0" : "") +
                   std::to_string(59 - i) + ":00Z");
    (*j.mutable_metadata())["team"] = i % 2 ? "odd" : "even";
    j.set_disabled(i % 3 == 0);
    ASSERT_TRUE(set(*s, j).ok);
  }
  auto p = s->list({.start = 5, .end = 8}).value();
  EXPECT_EQ(p.total, 30u);
  ASSERT_EQ(p.jobs.size(), 3u);
  EXPECT_EQ(p.jobs[0].name(), "job-05");
  p = s->list({.sort = "next", .start = 0, .end = 2}).value();
  ASSERT_EQ(p.jobs.size(), 2u);
  EXPECT_EQ(p.jobs[0].name(), "job-29") << "soonest first";
  p = s->list({.sort = "name", .descending = true, .end = 1}).value();
  EXPECT_EQ(p.jobs[0].name(), "job-29");
  p = s->list({.disabled = true}).value();
  EXPECT_EQ(p.total, 10u);
  p = s->list({.metadata = {{"team", "odd"}}, .start = 0, .end = 3}).value();
  EXPECT_EQ(p.total, 15u);
  EXPECT_EQ(p.jobs.size(), 3u);
  p = s->list({.q = "job-1"}).value();
  EXPECT_EQ(p.total, 10u);
  p = s->list({.status = "untriggered"}).value();
  EXPECT_EQ(p.total, 30u);
  p = s->list({.start = 100, .end = 200}).value();
  EXPECT_EQ(p.total, 30u);
  EXPECT_TRUE(p.jobs.empty()) << "out of range is empty, not an error";
}

TEST(job_store, pause_refuses_changes_and_snapshot_round_trips) {
  temp_store s;
  ASSERT_TRUE(set(*s, job("a")).ok);
  pb::SetPause pause;
  pause.set_paused(true);
  ASSERT_TRUE(run(*s, job_command::set_pause, pause).ok);
  EXPECT_EQ(set(*s, job("b")).code, base::errc::unavailable);
  EXPECT_FALSE(s->get("b").value());
  pb::JobStoreImage img;
  ASSERT_TRUE(s->save(img).ok());
  temp_store t;
  ASSERT_TRUE(t->restore(img).ok());
  EXPECT_TRUE(t->paused());
  EXPECT_TRUE(t->get("a").value());
  EXPECT_EQ(t->list({.sort = "next"}).value().total, 1u);
}

TEST(job_store, set_jobs_is_all_or_nothing_and_takes_children_first) {
  temp_store s;
  pb::SetJobs c;
  c.set_now_us(now);
  *c.add_jobs() = job("child", "parent");
  *c.add_jobs() = job("parent");
  auto o = run(*s, job_command::set_jobs, c);
  ASSERT_TRUE(o.ok) << o.message;
  EXPECT_EQ(s->get("parent").value()->dependent_jobs_size(), 1);
  pb::SetJobs bad;
  *bad.add_jobs() = job("x");
  pb::Job broken = job("y");
  broken.set_timezone("Nowhere/Land");
  *bad.add_jobs() = broken;
  o = run(*s, job_command::set_jobs, bad);
  EXPECT_FALSE(o.ok);
  EXPECT_NE(o.message.find("job y"), std::string::npos) << o.message;
  EXPECT_FALSE(s->get("x").value()) << "nothing of a refused batch is stored";
}

TEST(job_store, unknown_or_garbled_commands_are_refused) {
  temp_store s;
  EXPECT_FALSE(decode_outcome(s->apply(99, "")).ok);
  EXPECT_FALSE(decode_outcome(s->apply(3, "\xff\xff\xff")).ok);
  EXPECT_EQ(s->job_count().value(), 0u);
}

}  // namespace
}  // namespace sundial::state
