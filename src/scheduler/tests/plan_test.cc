// The fire plan: order by (fire_us, name), moves, removal, ties, and a million entries.
#include "scheduler/plan.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <map>
#include <random>
#include <string>
#include <utility>

namespace sundial::scheduler {
namespace {

std::string job_name(std::size_t i) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "job-%07zu", i);
  return buf;
}

TEST(plan, empty_plan_has_no_earliest_and_nothing_due) {
  plan p;
  EXPECT_EQ(p.size(), 0u);
  EXPECT_TRUE(p.empty());
  EXPECT_EQ(p.earliest(), std::nullopt);
  EXPECT_EQ(p.fire_of("a"), std::nullopt);
  EXPECT_TRUE(p.take_due(1'000'000, 10).empty());
  EXPECT_FALSE(p.remove("a"));
}

TEST(plan, take_due_pops_in_time_order_up_to_until_inclusive) {
  plan p;
  p.set("c", 30);
  p.set("a", 10);
  p.set("b", 20);
  p.set("d", 40);
  EXPECT_EQ(p.earliest(), 10);
  EXPECT_EQ(p.take_due(30, 100), (std::vector<due_entry>{{"a", 10}, {"b", 20}, {"c", 30}}));
  EXPECT_EQ(p.size(), 1u);
  EXPECT_EQ(p.fire_of("a"), std::nullopt);
  EXPECT_EQ(p.earliest(), 40);
  EXPECT_TRUE(p.take_due(39, 100).empty());
}

TEST(plan, ties_are_ordered_by_name) {
  plan p;
  for (const char* n : {"zeta", "alpha", "mid", "beta"})
    p.set(n, 5);
  p.set("early", 4);
  EXPECT_EQ(
      p.take_due(5, 100),
      (std::vector<due_entry>{{"early", 4}, {"alpha", 5}, {"beta", 5}, {"mid", 5}, {"zeta", 5}}));
}

TEST(plan, take_due_respects_max_and_leaves_the_rest) {
  plan p;
  for (int i = 0; i < 10; ++i)
    p.set(job_name(i), i);
  EXPECT_EQ(p.take_due(100, 3).size(), 3u);
  EXPECT_EQ(p.take_due(100, 0).size(), 0u);
  EXPECT_EQ(p.earliest(), 3);
  EXPECT_EQ(p.take_due(100, 100).size(), 7u);
  EXPECT_TRUE(p.empty());
}

TEST(plan, set_moves_an_existing_job_earlier_and_later) {
  plan p;
  p.set("a", 100);
  p.set("b", 200);
  p.set("c", 300);
  p.set("c", 50);  // earlier: becomes the earliest
  EXPECT_EQ(p.size(), 3u);
  EXPECT_EQ(p.earliest(), 50);
  EXPECT_EQ(p.fire_of("c"), 50);
  p.set("c", 1000);  // later
  p.set("a", 250);
  EXPECT_EQ(p.take_due(10'000, 100), (std::vector<due_entry>{{"b", 200}, {"a", 250}, {"c", 1000}}));
}

TEST(plan, remove_takes_a_job_out_from_anywhere) {
  plan p;
  for (int i = 0; i < 20; ++i)
    p.set(job_name(i), 100 - i);
  EXPECT_TRUE(p.remove(job_name(19)));  // the earliest
  EXPECT_TRUE(p.remove(job_name(7)));   // the middle
  EXPECT_TRUE(p.remove(job_name(0)));   // the latest
  EXPECT_FALSE(p.remove(job_name(7)));
  EXPECT_EQ(p.size(), 17u);
  EXPECT_EQ(p.fire_of(job_name(7)), std::nullopt);
  EXPECT_EQ(p.earliest(), 82);
  auto all = p.take_due(1000, 1000);
  ASSERT_EQ(all.size(), 17u);
  for (std::size_t i = 1; i < all.size(); ++i)
    EXPECT_LT(all[i - 1].fire_us, all[i].fire_us);
}

TEST(plan, removed_slots_are_reused_and_clear_empties) {
  plan p;
  for (int round = 0; round < 3; ++round) {
    for (int i = 0; i < 100; ++i)
      p.set(job_name(i), i);
    for (int i = 0; i < 100; i += 2)
      EXPECT_TRUE(p.remove(job_name(i)));
    EXPECT_EQ(p.size(), 50u);
    for (int i = 1; i < 100; i += 2)
      EXPECT_EQ(p.fire_of(job_name(i)), i);
    p.clear();
    EXPECT_TRUE(p.empty());
    EXPECT_EQ(p.fire_of(job_name(1)), std::nullopt);
  }
}

TEST(plan, negative_and_extreme_times_order_correctly) {
  plan p;
  p.set("max", std::numeric_limits<std::int64_t>::max());
  p.set("min", std::numeric_limits<std::int64_t>::min());
  p.set("zero", 0);
  p.set("neg", -5);
  EXPECT_EQ(p.take_due(std::numeric_limits<std::int64_t>::max(), 10),
            (std::vector<due_entry>{{"min", std::numeric_limits<std::int64_t>::min()},
                                    {"neg", -5},
                                    {"zero", 0},
                                    {"max", std::numeric_limits<std::int64_t>::max()}}));
}

TEST(plan, long_names_are_kept_and_found) {
  plan p;
  const std::string a(256, 'a'), b = std::string(255, 'a') + "b";
  p.set(b, 1);
  p.set(a, 1);
  EXPECT_EQ(p.fire_of(a), 1);
  EXPECT_EQ(p.take_due(1, 10), (std::vector<due_entry>{{a, 1}, {b, 1}}));
}

// Random operations against a std::map model of (name -> fire).
TEST(plan, random_operations_agree_with_a_model) {
  std::mt19937_64 rng(7);
  plan p;
  std::map<std::string, std::int64_t> model;
  std::int64_t popped_until = -1;
  for (int step = 0; step < 200'000; ++step) {
    const std::string name = job_name(rng() % 2000);
    const unsigned op = rng() % 10;
    if (op < 6) {
      const std::int64_t fire = popped_until + 1 + static_cast<std::int64_t>(rng() % 5000);
      p.set(name, fire);
      model[name] = fire;
    } else if (op < 8) {
      EXPECT_EQ(p.remove(name), model.erase(name) == 1);
    } else if (op < 9) {
      auto it = model.find(name);
      EXPECT_EQ(p.fire_of(name), it == model.end() ? std::nullopt : std::optional(it->second));
    } else {
      const std::int64_t until = popped_until + static_cast<std::int64_t>(rng() % 50);
      const std::size_t max = rng() % 20;
      // The model's answer: entries with fire <= until by (fire, name), at most max.
      std::vector<due_entry> expect;
      for (const auto& [n, f] : model) {
        if (f <= until) expect.push_back({n, f});
      }
      std::sort(expect.begin(), expect.end(), [](const due_entry& x, const due_entry& y) {
        return std::pair(x.fire_us, x.job) < std::pair(y.fire_us, y.job);
      });
      if (expect.size() > max) expect.resize(max);
      for (const auto& e : expect)
        model.erase(e.job);
      ASSERT_EQ(p.take_due(until, max), expect) << "step " << step;
      if (expect.size() < max) popped_until = std::max(popped_until, until);
    }
    ASSERT_EQ(p.size(), model.size());
    if (!model.empty()) {
      std::int64_t lo = std::numeric_limits<std::int64_t>::max();
      for (const auto& [n, f] : model)
        lo = std::min(lo, f);
      ASSERT_EQ(p.earliest(), lo);
    }
  }
}

// A million jobs: memory per job, sampled order, and take_due in order over all of them.
TEST(plan, one_million_entries) {
  constexpr std::size_t n = 1'000'000;
  std::mt19937_64 rng(42);
  std::vector<std::int64_t> fire(n);
  // A day of slots at one-second resolution: many ties, broken by name.
  for (auto& f : fire)
    f = static_cast<std::int64_t>(rng() % 86'400) * 1'000'000;

  plan grown;
  for (std::size_t i = 0; i < n; ++i)
    grown.set(job_name(i), fire[i]);
  ASSERT_EQ(grown.size(), n);
  const double grown_per_job = static_cast<double>(grown.memory_bytes()) / n;

  plan p;
  p.reserve(n);
  for (std::size_t i = 0; i < n; ++i)
    p.set(job_name(i), fire[i]);
  const double reserved_per_job = static_cast<double>(p.memory_bytes()) / n;
  std::printf("plan memory at 1M jobs: %.1f bytes/job grown by inserts, %.1f after reserve\n",
              grown_per_job, reserved_per_job);
  // 16 (heap) + 40 (slot) + 8 (index at <= 3/4 load, power of two), plus growth slack.
  EXPECT_LE(reserved_per_job, 66.0);
  EXPECT_LE(grown_per_job, 72.0);
  grown.clear();

  for (std::size_t i = 0; i < n; i += 9973)
    EXPECT_EQ(p.fire_of(job_name(i)), fire[i]);
  // Moving a sample of jobs keeps them findable.
  for (std::size_t i = 0; i < n; i += 10007) {
    fire[i] = static_cast<std::int64_t>(rng() % 86'400) * 1'000'000;
    p.set(job_name(i), fire[i]);
  }
  for (std::size_t i = 0; i < n; i += 10007)
    EXPECT_EQ(p.fire_of(job_name(i)), fire[i]);

  std::size_t taken = 0;
  due_entry prev{"", std::numeric_limits<std::int64_t>::min()};
  for (std::int64_t until = 0; taken < n; until += 3'600'000'000ll) {
    for (const due_entry& e : p.take_due(until, n)) {
      ASSERT_LE(e.fire_us, until);
      ASSERT_TRUE(std::pair(prev.fire_us, prev.job) < std::pair(e.fire_us, e.job))
          << prev.job << " then " << e.job;
      // Check every 1,000th against the expected fire time.
      if (taken % 1000 == 0) {
        const std::size_t i = std::stoul(e.job.substr(4));
        ASSERT_EQ(e.fire_us, fire[i]);
      }
      prev = e;
      ++taken;
    }
  }
  EXPECT_EQ(taken, n);
  EXPECT_TRUE(p.empty());
}

}  // namespace
}  // namespace sundial::scheduler
