#include "state/job_store.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <random>

#include "state/job_rules.h"
#include "state/kv_state.h"
#include "state/tests/temp_store.h"
#include "storage/snapshot_ref.h"
#include "storage/tests/temp_dir.h"

namespace sundial::state {
namespace {

using testing::temp_store;

constexpr std::int64_t now = 1795262400LL * 1000000;  // 2026-11-21T12:00:00Z

pb::Job job(const std::string& name, const std::string& parent = "") {
  pb::Job j;
  j.set_name(name);
  if (parent.empty()) j.set_schedule("@every 1h");
  j.set_parent_job(parent);
  j.set_executor("shell");
  return j;
}

job_outcome set(temp_store& s, const pb::Job& j, std::int64_t at = now) {
  pb::SetJob c;
  *c.mutable_job() = j;
  c.set_now_us(at);
  return decode_outcome(s.apply(static_cast<std::uint8_t>(job_command::set_job),
                                encode_command(job_command::set_job, c).substr(1)));
}

template <typename Msg>
job_outcome run(temp_store& s, job_command t, const Msg& m) {
  return decode_outcome(s.apply(static_cast<std::uint8_t>(t), encode_command(t, m).substr(1)));
}

job_outcome del(temp_store& s, const std::string& name) {
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

// Every listing (each sort key, both orders, each index-served filter, slices) against a
// brute-force model over the same jobs, after random creates, overwrites, runs, toggles and
// deletes: the indexes and counts must agree with the jobs table whatever happened.
TEST(job_store, listings_match_a_brute_force_model) {
  for (std::uint32_t seed = 1; seed <= 5; ++seed) {
    temp_store s;
    std::mt19937 rng(seed);
    auto pick = [&](int n) { return static_cast<int>(rng() % static_cast<std::uint32_t>(n)); };
    std::uint64_t exec_n = 0;
    for (int op = 0; op < 300; ++op) {
      const std::string name = "j" + std::to_string(pick(40));
      const int what = pick(10);
      if (what < 4) {
        pb::Job j = job(name);
        j.set_displayname(pick(3) == 0 ? "" : "D" + std::to_string(pick(7)));
        j.set_schedule(pick(2) ? "@every " + std::to_string(1 + pick(5)) + "h"
                               : "@at 2027-0" + std::to_string(1 + pick(9)) + "-01T00:00:00Z");
        j.set_disabled(pick(4) == 0);
        if (pick(4) != 0) (*j.mutable_metadata())["team"] = "t" + std::to_string(pick(3));
        if (pick(2) == 0) (*j.mutable_metadata())["env"] = "e" + std::to_string(pick(2));
        if (pick(8) == 0) (*j.mutable_metadata())["long"] = std::string(150, 'x');  // unindexed
        (void)set(*s, j, now + pick(1000) * 1000000LL);
      } else if (what < 7) {
        pb::SetExecution e;
        *e.mutable_execution() = exec(name, static_cast<int>(++exec_n), pick(3) != 0);
        (void)run(*s, pick(5) == 0 ? job_command::set_execution : job_command::execution_done, e);
      } else if (what < 8) {
        pb::ToggleJob c;
        c.set_name(name);
        c.set_now_us(now);
        (void)run(*s, job_command::toggle_job, c);
      } else if (what < 9) {
        (void)del(*s, name);
      } else {
        pb::DeleteExecutions d;
        d.set_job_name(name);
        (void)run(*s, job_command::delete_executions, d);
      }
    }
    const std::vector<pb::Job> all = s->list({}).value().jobs;
    ASSERT_EQ(all.size(), s->job_count().value());
    auto key_less = [](const std::string& sort, const pb::Job& a, const pb::Job& b) {
      auto tie = [&](auto x, auto y) { return x != y ? x < y : a.name() < b.name(); };
      if (sort == "displayname") return tie(a.displayname(), b.displayname());
      if (sort == "schedule") return tie(a.schedule(), b.schedule());
      if (sort == "success_count") return tie(a.success_count(), b.success_count());
      if (sort == "error_count") return tie(a.error_count(), b.error_count());
      if (sort == "last_success") return tie(a.last_success_us(), b.last_success_us());
      if (sort == "last_error") return tie(a.last_error_us(), b.last_error_us());
      if (sort == "next") {
        auto n = [](const pb::Job& j) {
          return j.next_us() > 0 ? static_cast<std::uint64_t>(j.next_us()) : ~0ull;
        };
        return tie(n(a), n(b));
      }
      return a.name() < b.name();
    };
    for (const std::string sort : {"name", "displayname", "schedule", "success_count",
                                   "error_count", "last_success", "last_error", "next"}) {
      const std::vector<std::map<std::string, std::string>> metadata_filters{
          {}, {{"team", "t1"}}, {{"team", "t0"}, {"env", "e1"}}, {{"long", std::string(150, 'x')}}};
      for (const std::string status : {"", "success", "failed", "running", "untriggered"}) {
        for (int disabled = -1; disabled <= 1; ++disabled) {
          for (std::size_t mf = 0; mf < metadata_filters.size(); ++mf)
            for (bool desc : {false, true}) {
              job_query q;
              q.sort = sort;
              q.status = status;
              if (disabled >= 0) q.disabled = disabled == 1;
              q.metadata = metadata_filters[mf];
              q.descending = desc;
              std::vector<pb::Job> want;
              for (const auto& j : all) {
                const std::string st = status == "untriggered" ? "" : status;
                if (!status.empty() && j.status() != st) continue;
                if (q.disabled && j.disabled() != *q.disabled) continue;
                bool meta_ok = true;
                for (const auto& [k, v] : q.metadata) {
                  auto it = j.metadata().find(k);
                  meta_ok = meta_ok && it != j.metadata().end() && it->second == v;
                }
                if (!meta_ok) continue;
                want.push_back(j);
              }
              std::sort(want.begin(), want.end(),
                        [&](const pb::Job& a, const pb::Job& b) { return key_less(sort, a, b); });
              if (desc) std::reverse(want.begin(), want.end());
              for (auto [start, end] : {std::pair<std::uint64_t, std::uint64_t>{0, 1000},
                                        {3, 7},
                                        {0, 1},
                                        {5, 5},
                                        {50, 60}}) {
                q.start = start;
                q.end = end;
                auto page = s->list(q).value();
                const std::string what =
                    "seed " + std::to_string(seed) + " sort " + sort + " status '" + status +
                    "' disabled " + std::to_string(disabled) + " metadata filter " +
                    std::to_string(mf) + (desc ? " desc" : " asc") + " slice " +
                    std::to_string(start) + ".." + std::to_string(end);
                ASSERT_EQ(page.total, want.size()) << what;
                std::vector<std::string> got_names, want_names;
                for (const auto& j : page.jobs)
                  got_names.push_back(j.name());
                for (std::uint64_t i = start; i < std::min<std::uint64_t>(end, want.size()); ++i)
                  want_names.push_back(want[i].name());
                ASSERT_EQ(got_names, want_names) << what;
              }
            }
        }
      }
    }
  }
}

// Deep slices come from the rank fences: with enough jobs for buckets to split (and empty
// after deletes), every page at a random offset still equals the brute-force one.
TEST(job_store, deep_slices_through_rank_fences_match_the_model) {
  temp_store s;
  std::mt19937 rng(7);
  std::vector<std::string> names;
  for (int i = 0; i < 2600; ++i)
    names.push_back("n" + std::to_string(rng() % 1000000) + "-" + std::to_string(i));
  pb::SetJobs batch;
  batch.set_now_us(now);
  for (const auto& n : names) {
    pb::Job j = job(n);
    j.set_displayname("d" + std::to_string(rng() % 50));
    j.set_schedule("@every " + std::to_string(1 + rng() % 90) + "m");
    (*j.mutable_metadata())["team"] = "t" + std::to_string(rng() % 3);
    *batch.add_jobs() = j;
    if (batch.jobs_size() == 500) {
      ASSERT_TRUE(run(*s, job_command::set_jobs, batch).ok);
      batch.clear_jobs();
    }
  }
  ASSERT_TRUE(run(*s, job_command::set_jobs, batch).ok);
  std::shuffle(names.begin(), names.end(), rng);
  for (int i = 0; i < 1500; ++i)  // empties whole buckets, so fences go
    ASSERT_TRUE(del(*s, names[static_cast<std::size_t>(i)]).ok);
  const std::vector<pb::Job> all = s->list({}).value().jobs;
  ASSERT_EQ(all.size(), 1100u);
  // error_count and status live after other indexes in job_index: their slices start inside
  // a bucket that began with another index's keys.
  for (const std::string sort :
       {"name", "next", "displayname", "error_count", "untriggered", "team"}) {
    std::vector<pb::Job> want;
    for (const auto& j : all) {
      if (sort != "team" || j.metadata().at("team") == "t1") want.push_back(j);
    }
    std::sort(want.begin(), want.end(), [&](const pb::Job& a, const pb::Job& b) {
      if (sort == "next" && a.next_us() != b.next_us()) return a.next_us() < b.next_us();
      if (sort == "displayname" && a.displayname() != b.displayname())
        return a.displayname() < b.displayname();
      return a.name() < b.name();
    });
    for (bool desc : {false, true}) {
      if (desc) std::reverse(want.begin(), want.end());
      for (int k = 0; k < 40; ++k) {
        const std::uint64_t start = rng() % (want.size() + 50);
        job_query q{.sort = sort, .descending = desc, .start = start, .end = start + 25};
        if (sort == "untriggered") {
          q.sort = "name";
          q.status = "untriggered";  // walks the status index's range
        }
        if (sort == "team") {
          q.sort = "name";
          q.metadata = {{"team", "t1"}};  // walks the metadata index's range
        }
        auto page = s->list(q).value();
        ASSERT_EQ(page.total, want.size()) << sort;
        for (std::uint64_t i = 0; i < 25; ++i) {
          if (start + i >= want.size()) {
            ASSERT_EQ(page.jobs.size(), i) << sort << " start " << start;
            break;
          }
          ASSERT_LT(i, page.jobs.size()) << sort << " start " << start;
          ASSERT_EQ(page.jobs[i].name(), want[start + i].name())
              << sort << (desc ? " desc" : " asc") << " start " << start << " item " << i;
        }
      }
    }
  }
}

TEST(job_store, pause_refuses_changes_and_snapshot_round_trips) {
  temp_store s;
  ASSERT_TRUE(set(*s, job("a")).ok);
  pb::SetPause pause;
  pause.set_paused(true);
  ASSERT_TRUE(run(*s, job_command::set_pause, pause).ok);
  EXPECT_EQ(set(*s, job("b")).code, base::errc::unavailable);
  EXPECT_FALSE(s->get("b").value());
  const std::string image = s.kv().snapshot();
  auto ref = storage::decode_file_ref(image);
  ASSERT_TRUE(ref) << "the snapshot is a file reference";
  temp_store t;
  ASSERT_TRUE(t.kv().restore(image).ok());
  EXPECT_TRUE(t->paused());
  EXPECT_TRUE(t->get("a").value());
  EXPECT_EQ(t->list({.sort = "next"}).value().total, 1u);
  EXPECT_EQ(t->list({.status = "untriggered"}).value().total, 1u) << "counts travel too";
  EXPECT_EQ(t.db().applied(), s.db().applied());
  EXPECT_TRUE(storage::verify_file(*ref).ok()) << "installing leaves the snapshot file intact";
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
  EXPECT_FALSE(decode_outcome(s.apply(99, "")).ok);
  EXPECT_FALSE(decode_outcome(s.apply(3, "\xff\xff\xff")).ok);
  EXPECT_EQ(s->job_count().value(), 0u);
}

}  // namespace
}  // namespace sundial::state
