// The jobs the simulation runs (one of each policy) and the faults it injects.
#include <fmt/format.h>

#include "sched_world.h"

namespace sundial::sched_sim {

namespace {

state::pb::Job make_job(const std::string& name, const std::string& schedule,
                        const std::string& command) {
  state::pb::Job j;
  j.set_name(name);
  j.set_schedule(schedule);
  j.set_executor("shell");
  (*j.mutable_executor_config())["command"] = command;
  j.set_history_limit(100000);  // the final accounting reads every record
  return j;
}

std::string set_job_command(state::pb::Job j, std::int64_t now_us) {
  state::pb::SetJob c;
  *c.mutable_job() = std::move(j);
  c.set_now_us(now_us);
  return state::encode_command(state::job_command::set_job, c);
}

std::string run_now_command(const std::string& name, std::int64_t now_us) {
  return state::encode_command(state::job_command::launch_batch,
                               state::run_now_intent(name, now_us));
}

}  // namespace

void world::schedule_workload() {
  elect(100'000);
  const std::int64_t t0 = start_us_;
  std::vector<state::pb::Job> jobs;
  jobs.push_back(make_job("tick", "* * * * * *", "sim 50-400 0"));
  jobs.back().set_misfire_policy("run_all");
  jobs.push_back(make_job("forbid", "* * * * * *", "sim 300-2500 0"));
  jobs.back().set_concurrency("forbid");
  jobs.push_back(make_job("replace", "*/2 * * * * *", "sim 1000-3000 0"));
  jobs.back().set_concurrency("replace");
  jobs.push_back(make_job("flaky", "@every 3s", "sim 100-300 fail_below=2"));
  jobs.back().set_retries(2);
  jobs.back().set_retry_backoff_s(1);
  jobs.push_back(make_job("parent", "@every 5s", "sim 100-500 parity"));
  for (const char* on : {"success", "failure", "always"}) {
    jobs.push_back(make_job(fmt::format("child_{}", on), "", "sim 100-300 0"));
    jobs.back().set_parent_job("parent");
    jobs.back().set_on_parent(on);
  }
  jobs.push_back(make_job("slow", "@every 4s", "sim 3000 0"));
  jobs.back().set_timeout_s(1);
  jobs.push_back(make_job("window", "* * * * * *", "sim 100 0"));
  jobs.back().set_starts_at_us(t0 + 5'000'000);
  jobs.back().set_expires_at_us(t0 + 25'000'000);
  jobs.push_back(make_job("once", "*/3 * * * * *", "sim 200 0"));
  jobs.back().set_misfire_policy("run_once");
  jobs.push_back(make_job("skipper", "*/2 * * * * *", "sim 100 0"));
  jobs.back().set_misfire_policy("skip");
  jobs.push_back(make_job("long", "* * * * * *", "sim 2000-4000 0"));
  jobs.back().set_retries(1);
  jobs.push_back(make_job("everywhere", "*/5 * * * * *", "sim 100 0"));
  jobs.back().set_target("all");
  jobs.push_back(make_job("manual", "@manually", "sim 200-800 0"));
  // Parents before their dependents; a little apart, as a user would create them.
  std::int64_t at = t0 + 500'000;
  for (auto& j : jobs) {
    at += static_cast<std::int64_t>(uniform(10'000, 150'000));
    this->at(at, [this, j] { client_propose(set_job_command(j, now_)); });
  }
  // Stop requests for runs of the long jobs (as POST .../executions/{id}/stop proposes them).
  for (std::int64_t t = t0 + 6'000'000; t < t0 + opt_.fault_us;
       t += static_cast<std::int64_t>(uniform(2'000'000, 6'000'000))) {
    this->at(t, [this] {
      auto active = ref_store_->active();
      if (!active) return;
      std::vector<state::active_execution> candidates;
      for (const auto& a : *active)
        if (a.job == "long" || a.job == "manual" || a.job == "replace") candidates.push_back(a);
      if (candidates.empty()) return;
      const auto& a = candidates[uniform(0, candidates.size() - 1)];
      state::pb::ExecutionUpdates u;
      u.set_now_us(now_);
      auto* x = u.add_updates();
      x->set_job(a.job);
      x->set_id(a.id);
      x->set_state("stopping");
      x->set_error("stopped by request");
      trace(fmt::format("client stops {} of {}", a.id, a.job));
      client_propose(state::encode_command(state::job_command::execution_updates, u), 3);
    });
  }
  // Run-now requests throughout the faults.
  for (std::int64_t t = t0 + 3'000'000; t < t0 + opt_.fault_us;
       t += static_cast<std::int64_t>(uniform(1'500'000, 5'000'000))) {
    const std::string name = chance(0.7) ? "manual" : "tick";
    this->at(t, [this, name] { client_propose(run_now_command(name, now_)); });
  }
}

void world::schedule_faults() {
  const std::int64_t t0 = start_us_;
  const std::int64_t end = t0 + opt_.fault_us;
  const int n = static_cast<int>(servers_.size());
  for (std::int64_t t = t0 + 4'000'000; t < end;
       t += static_cast<std::int64_t>(uniform(500'000, 4'000'000))) {
    const std::uint64_t kind = uniform(0, 99);
    const int s = static_cast<int>(uniform(0, static_cast<std::uint64_t>(n - 1)));
    const std::int64_t span = static_cast<std::int64_t>(uniform(500'000, 8'000'000));
    at(t, [this, kind, s, span, n, end] {
      if (failed()) return;
      if (kind < 22) {
        crash(s);
        at(std::min(now_ + span, end), [this, s] { restart(s); });
      } else if (kind < 26) {
        ++stats().outages;
        trace("full outage");
        for (int x = 0; x < n; ++x)
          crash(x);
        const std::int64_t back = now_ + static_cast<std::int64_t>(uniform(2'000'000, 12'000'000));
        for (int x = 0; x < n; ++x)
          at(std::min(back, end), [this, x] { restart(x); });
      } else if (kind < 40) {
        ++stats().partitions;
        trace(fmt::format("{} cut off", servers_[s].name));
        for (int x = 0; x < n; ++x)
          if (x != s) cut_.insert({std::min(s, x), std::max(s, x)});
        if (leader_ == s) depose_leader(false);
        at(std::min(now_ + span, end), [this, s, n] {
          for (int x = 0; x < n; ++x)
            cut_.erase({std::min(s, x), std::max(s, x)});
          trace(fmt::format("{} reconnected", servers_[s].name));
          for (int x = 0; x < n; ++x)
            apply_committed(x);
          if (leader_ < 0) elect(200'000);
        });
      } else if (kind < 55) {
        trace("leader change");
        depose_leader(chance(0.5));
      } else if (kind < 67) {
        ++stats().clock_jumps;
        server& v = servers_[s];
        std::int64_t jump = static_cast<std::int64_t>(uniform(50'000, 2'500'000));
        if (chance(0.5)) jump = -jump;
        v.clock_offset_us =
            std::clamp<std::int64_t>(v.clock_offset_us + jump, -3'000'000, 3'000'000);
        trace(fmt::format("{} clock offset {} ms", v.name, v.clock_offset_us / 1000));
        v.launcher->clock_jumped();
        kick(s);
      } else if (kind < 77) {
        drop_p_ = 0.05;
        at(std::min(now_ + span / 3, end), [this] { drop_p_ = 0; });
      }
    });
  }
  // The quiet period: everything heals.
  at(end, [this, n] {
    trace("healing");
    cut_.clear();
    drop_p_ = 0;
    for (int x = 0; x < n; ++x) {
      if (servers_[x].clock_offset_us != 0) {
        servers_[x].clock_offset_us = 0;
        if (servers_[x].launcher) servers_[x].launcher->clock_jumped();
      }
      restart(x);
      apply_committed(x);
    }
    if (leader_ < 0) elect(300'000);
  });
}

}  // namespace sundial::sched_sim
