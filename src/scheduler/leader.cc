// The leader driver's thread: leadership, the wake-up schedule and the queues.
#include <spdlog/spdlog.h>

#include "scheduler/leader_internal.h"

namespace sundial::scheduler {

using namespace std::chrono;

std::int64_t leader::impl::now_us() const {
  return duration_cast<microseconds>(clock.now().time_since_epoch()).count();
}

void leader::impl::post(std::function<void()> fn) {
  std::lock_guard lock(mu);
  callbacks.push_back(std::move(fn));
  cv.notify_one();
}

std::unique_ptr<leader> leader::start(leader_options o, raft_node::node& node,
                                      state::job_store& jobs, const base::clock& clock,
                                      std::function<std::vector<std::string>()> members,
                                      agent_link link, leader_metrics metrics) {
  auto i = std::make_unique<impl>(std::move(o), node, jobs, clock, std::move(members),
                                  std::move(link), std::move(metrics));
  impl* p = i.get();
  i->thread = std::thread([p] { p->loop(); });
  return std::unique_ptr<leader>(new leader(std::move(i)));
}

leader::leader(std::unique_ptr<impl> i) : impl_(std::move(i)) {}

leader::~leader() {
  stop();
}

void leader::stop() {
  {
    std::lock_guard lock(impl_->mu);
    if (impl_->stopping) return;
    impl_->stopping = true;
    impl_->cv.notify_all();
  }
  if (impl_->thread.joinable()) impl_->thread.join();
  // Reports still waiting get an answer, so their agents retry with the next leader.
  for (auto& r : impl_->reports)
    r.done(base::fail(base::errc::unavailable, "the scheduler is stopping"));
  impl_->reports.clear();
}

void leader::leadership(bool is_leader, std::uint64_t term) {
  std::lock_guard lock(impl_->mu);
  impl_->is_leader = is_leader;
  impl_->leader_term = term;
  impl_->cv.notify_one();
}

void leader::applied(const state::applied_change& c) {
  std::lock_guard lock(impl_->mu);
  if (!impl_->is_leader) return;  // a follower keeps nothing: a new leader rebuilds from state
  impl_->changed_jobs.insert(impl_->changed_jobs.end(), c.jobs.begin(), c.jobs.end());
  impl_->all_jobs_changed = impl_->all_jobs_changed || c.all_jobs;
  if (c.executions) {
    for (const auto& ref : c.executions->changed())
      impl_->changed_runs.push_back(ref);
  }
  impl_->cv.notify_one();
}

void leader::report(agent::pb::ReportRequest req, std::function<void(base::status)> done) {
  std::unique_lock lock(impl_->mu);
  if (!impl_->is_leader || impl_->stopping) {
    lock.unlock();
    done(base::fail(base::errc::not_leader, "this server is not the leader"));
    return;
  }
  impl_->reports.push_back({std::move(req), std::move(done)});
  impl_->cv.notify_one();
}

bool leader::ready() const {
  return impl_->ready_flag.load();
}

std::int64_t leader::impl::next_wake_us() const {
  std::int64_t wake = now_us() + 200'000;  // liveness and status polls
  if (auto e = fire_plan.earliest()) wake = std::min(wake, *e);
  for (const auto& k : retrying) {
    auto it = runs.find(k);
    if (it == runs.end()) continue;
    const tracked_run& r = it->second;
    if (r.state == state::exec_state::retrying && !r.placing)
      wake = std::min(wake, r.retry_at_us - duration_cast<microseconds>(opt.lookahead).count());
  }
  return wake;
}

void leader::impl::step_down() {
  if (term != 0) spdlog::info("scheduler: no longer leading (term {})", term);
  term = 0;
  ready = false;
  ready_flag = false;
  fire_plan.clear();
  inflight_last_slot.clear();
  runs.clear();
  retrying.clear();
  membership_changed = true;
  last_poll_us = 0;
  nodes.clear();
  std::vector<pending_report> dropped;
  {
    std::lock_guard lock(mu);
    dropped.swap(reports);
    changed_jobs.clear();
    changed_runs.clear();
    all_jobs_changed = false;
    refresh_jobs.clear();
  }
  for (auto& r : dropped)
    r.done(base::fail(base::errc::not_leader, "leadership changed"));
}

// A new term: everything committed before it must be applied here before the plan is built
// from the state (a Raft barrier), then the active runs are taken over and the plan built.
bool leader::impl::take_over(std::uint64_t t) {
  auto barrier = node.read_barrier(opt.propose_timeout).get();
  if (barrier.status != raft_node::outcome::committed) {
    spdlog::warn("scheduler: barrier for term {} failed ({}); retrying", t, barrier.message);
    return false;
  }
  term = t;
  auto active = jobs.active();
  if (!active) {
    spdlog::error("scheduler: cannot read active executions: {}", active.err().message);
    term = 0;
    return false;
  }
  for (const auto& a : *active) {
    state::pb::ExecutionRef ref;
    ref.set_job(a.job);
    ref.set_id(a.id);
    ref.set_state(a.state);
    track(ref);
  }
  plan_all();
  ready = true;
  ready_flag = true;
  spdlog::info("scheduler: leading term {}: {} jobs planned, {} active executions taken over", t,
               fire_plan.size(), runs.size());
  return true;
}

void leader::impl::loop() {
  while (true) {
    std::vector<std::string> jobs_now, refresh;
    std::vector<state::pb::ExecutionRef> runs_now;
    std::vector<pending_report> reports_now;
    std::vector<std::function<void()>> calls;
    bool all = false, leading = false;
    std::uint64_t t = 0;
    {
      std::unique_lock lock(mu);
      const auto work = [&] {
        return stopping || is_leader != (term != 0) || (is_leader && leader_term != term) ||
               !changed_jobs.empty() || all_jobs_changed || !changed_runs.empty() ||
               !reports.empty() || !callbacks.empty() || !refresh_jobs.empty();
      };
      if (!work()) {
        if (ready) {
          const std::int64_t wait = std::max<std::int64_t>(0, next_wake_us() - now_us());
          cv.wait_for(lock, microseconds(wait), work);
        } else {
          cv.wait_for(lock, milliseconds(200), work);
        }
      }
      if (stopping) return;
      // A short window gathers reports that arrive together into one Raft entry.
      if (!reports.empty() && reports.size() < opt.max_batch) {
        cv.wait_for(lock, opt.batch_window, [&] { return stopping; });
        if (stopping) return;
      }
      leading = is_leader;
      t = leader_term;
      jobs_now.swap(changed_jobs);
      runs_now.swap(changed_runs);
      reports_now.swap(reports);
      calls.swap(callbacks);
      refresh.swap(refresh_jobs);
      all = all_jobs_changed;
      all_jobs_changed = false;
    }
    if (!leading || (term != 0 && t != term)) {
      step_down();
      for (auto& r : reports_now)
        r.done(base::fail(base::errc::not_leader, "this server is not the leader"));
      if (!leading) continue;
    }
    if (term == 0) {
      if (!take_over(t)) {
        for (auto& r : reports_now)
          r.done(base::fail(base::errc::unavailable, "the new leader is taking over"));
        continue;
      }
    }
    for (auto& fn : calls)
      fn();
    for (const auto& ref : runs_now)
      track(ref);
    if (all) {
      plan_all();
    } else {
      for (const auto& name : jobs_now)
        plan_job(name);
    }
    for (const auto& name : refresh) {
      inflight_last_slot.erase(name);
      plan_job(name);
    }
    if (!reports_now.empty()) handle_reports(std::move(reports_now));
    const std::int64_t now = now_us();
    poll_nodes(now);
    expire_lost(now);
    retries_due(now);
    fire_due(now);
  }
}

}  // namespace sundial::scheduler
