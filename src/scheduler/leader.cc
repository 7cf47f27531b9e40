// The leader driver's thread: leadership, the wake-up schedule and the queues.
#include <spdlog/spdlog.h>

#include "base/assert.h"
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

std::unique_ptr<leader> leader::start(leader_options o, consensus_link consensus,
                                      state::job_store& jobs, const base::clock& clock,
                                      std::function<std::vector<std::string>()> members,
                                      agent_link link, leader_metrics metrics) {
  auto l = stepped(std::move(o), std::move(consensus), jobs, clock, std::move(members),
                   std::move(link), std::move(metrics));
  impl* p = l->impl_.get();
  p->thread = std::thread([p] { p->loop(); });
  return l;
}

std::unique_ptr<leader> leader::stepped(leader_options o, consensus_link consensus,
                                        state::job_store& jobs, const base::clock& clock,
                                        std::function<std::vector<std::string>()> members,
                                        agent_link link, leader_metrics metrics) {
  auto i = std::make_unique<impl>(std::move(o), std::move(consensus), jobs, clock,
                                  std::move(members), std::move(link), std::move(metrics));
  return std::unique_ptr<leader>(new leader(std::move(i)));
}

void leader::step() {
  SUNDIAL_ASSERT(!impl_->thread.joinable(), "step() is for a leader made by stepped()");
  impl_->step();
}

std::int64_t leader::next_wake_us() const {
  if (!impl_->ready) return impl_->now_us() + 200'000;
  return impl_->next_wake_us();
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
  inflight_runs.clear();
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
// Whether term t's barrier has completed; asks for it (once per term, again after a failure).
bool leader::impl::barrier_passed(std::uint64_t t) {
  std::lock_guard lock(mu);
  if (barrier_done == t) return true;
  if (barrier_asked == t) return false;
  barrier_asked = t;
  consensus.barrier([this, t](raft_node::proposal_result r) {
    std::lock_guard lock(mu);
    if (barrier_asked != t) return;
    if (r.status == raft_node::outcome::committed) {
      barrier_done = t;
    } else {
      spdlog::warn("scheduler: barrier for term {} failed ({}); retrying", t, r.message);
      barrier_asked = 0;
    }
    callbacks.push_back([] {});  // wakes the loop
    cv.notify_one();
  });
  return false;
}

bool leader::impl::take_over(std::uint64_t t) {
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
    if (auto e = jobs.execution(a.job, a.id); e && *e) {
      ref.set_node_name((*e)->node_name());
      ref.set_retry_at_us((*e)->retry_at_us());
    }
    track(ref);
  }
  plan_all();
  ready = true;
  ready_flag = true;
  spdlog::info("scheduler: leading term {}: {} jobs planned, {} active executions taken over", t,
               fire_plan.size(), runs.size());
  return true;
}

// Whether a round has something to do now (besides the clock's wake-ups).
bool leader::impl::has_work_locked() const {
  const bool leadership_moved = is_leader != (term != 0) || (is_leader && leader_term != term);
  // Waiting for the take-over barrier is not work: its answer (a callback) is.
  const bool awaiting_barrier =
      is_leader && term == 0 && barrier_asked == leader_term && barrier_done != leader_term;
  return stopping || (leadership_moved && !awaiting_barrier) || !changed_jobs.empty() ||
         all_jobs_changed || !changed_runs.empty() || !reports.empty() || !callbacks.empty() ||
         !refresh_jobs.empty();
}

void leader::impl::loop() {
  while (true) {
    {
      std::unique_lock lock(mu);
      if (!has_work_locked()) {
        if (ready) {
          const std::int64_t wait = std::max<std::int64_t>(0, next_wake_us() - now_us());
          cv.wait_for(lock, microseconds(wait), [&] { return has_work_locked(); });
        } else {
          cv.wait_for(lock, milliseconds(200), [&] { return has_work_locked(); });
        }
      }
      if (stopping) return;
      // A short window gathers reports that arrive together into one Raft entry.
      if (!reports.empty() && reports.size() < opt.max_batch) {
        cv.wait_for(lock, opt.batch_window, [&] { return stopping; });
        if (stopping) return;
      }
    }
    step();
  }
}

void leader::impl::step() {
  std::vector<std::string> jobs_now, refresh;
  std::vector<state::pb::ExecutionRef> runs_now;
  std::vector<pending_report> reports_now;
  std::vector<std::function<void()>> calls;
  bool all = false, leading = false;
  std::uint64_t t = 0;
  {
    std::lock_guard lock(mu);
    if (stopping) return;
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
    if (!leading) return;
  }
  if (term == 0) {
    // Changes queued before the take-over are covered by it (it reads the whole state).
    if (!barrier_passed(t) || !take_over(t)) {
      for (auto& r : reports_now)
        r.done(base::fail(base::errc::unavailable, "the new leader is taking over"));
      return;
    }
    jobs_now.clear();
    all = false;
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

}  // namespace sundial::scheduler
