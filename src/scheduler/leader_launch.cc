// The plan and the launch journal (ARCHITECTURE.md "Data flow of one run", steps 1-2; SEMANTICS.md
// "Launches", "Missed runs", "Overlap").
#include <spdlog/spdlog.h>

#include "base/hash.h"
#include "base/launch_id.h"
#include "scheduler/due.h"
#include "scheduler/job_adapter.h"
#include "scheduler/leader_internal.h"

namespace sundial::scheduler {

using namespace std::chrono;

namespace {

// Jobs that may overlap are decided a lookahead ahead and armed on their agents; jobs whose
// overlap policy looks at the runs still active (forbid, replace) are decided at their
// instant, when that is known (costing them the commit and dispatch latency).
bool decided_at_instant(const state::pb::Job& j) {
  return j.concurrency() == "forbid" || j.concurrency() == "replace";
}

}  // namespace

void leader::impl::plan_job(const std::string& name) {
  auto j = jobs.get(name);
  if (j && !*j) drop_runs_of(name, true);
  if (!j || !*j) {
    fire_plan.remove(name);
    inflight_last_slot.erase(name);
    rr_cursor.erase(name);
    return;
  }
  const state::pb::Job& job = **j;
  if (job.disabled()) drop_runs_of(name, false);
  const job_timing t = timing_of(job);
  std::int64_t last = job.last_slot_us();
  if (auto it = inflight_last_slot.find(name); it != inflight_last_slot.end())
    last = std::max(last, it->second);
  const auto next = next_slot(t, std::max(last, job.updated_at_us()));
  if (!next) {
    fire_plan.remove(name);
    return;
  }
  const std::int64_t ahead =
      decided_at_instant(job) ? 0 : duration_cast<microseconds>(opt.lookahead).count();
  fire_plan.set(name, *next - ahead);
}

void leader::impl::plan_all() {
  fire_plan.clear();
  state::job_query q;
  q.sort = "name";
  constexpr std::uint64_t page = 10000;
  for (std::uint64_t start = 0;; start += page) {
    q.start = start;
    q.end = start + page;
    auto p = jobs.list(q);
    if (!p) {
      spdlog::error("scheduler: cannot list jobs: {}", p.err().message);
      return;
    }
    if (start == 0) fire_plan.reserve(p->total);
    for (const auto& j : p->jobs)
      plan_job(j.name());
    if (p->jobs.size() < page) break;
  }
}

void leader::impl::fire_due(std::int64_t now) {
  state::pb::LaunchBatch batch;
  std::vector<std::string> touched;
  const std::int64_t lookahead = duration_cast<microseconds>(opt.lookahead).count();
  for (const auto& entry : fire_plan.take_due(now, opt.max_batch)) {
    auto j = jobs.get(entry.job);
    if (!j || !*j) continue;
    const state::pb::Job& job = **j;
    const job_timing t = timing_of(job);
    std::int64_t last = job.last_slot_us();
    if (auto it = inflight_last_slot.find(job.name()); it != inflight_last_slot.end())
      last = std::max(last, it->second);
    due_options o;
    o.lookahead_us = decided_at_instant(job) ? 0 : lookahead;
    o.on_time_grace_us = duration_cast<microseconds>(opt.on_time_grace).count();
    const due_slots d = due(t, last, job.updated_at_us(), now, o);

    // Overlap is decided against the runs this leader follows (every active one).
    std::vector<execution_view> active;
    if (decided_at_instant(job)) {
      for (const auto& [k, r] : runs)
        if (r.job == job.name()) active.push_back({r.id, core_state(r.state)});
      if (auto it = inflight_runs.find(job.name()); it != inflight_runs.end()) {
        for (const auto& id : it->second)
          if (!runs.count(key(job.name(), id))) active.push_back({id, execution_state::pending});
      }
    }
    std::uint64_t skipped = d.skipped;
    auto launch = [&](std::int64_t slot, std::uint32_t missed, const char* trigger) {
      if (decided_at_instant(job)) {
        const overlap_decision od = decide_overlap(concurrency_of(job), active);
        if (od.action == overlap_action::skip) {
          spdlog::info("scheduler: job {} slot skipped: {}", job.name(), od.reason);
          // A catch-up run stands for every slot merged into it: all of them are skipped.
          skipped += std::max<std::uint32_t>(1, missed);
          if (metrics.launches) metrics.launches("skipped", 1);
          return;
        }
        for (const auto& id : od.to_stop) {
          auto* u = pending_stops.add_updates();
          u->set_job(job.name());
          u->set_id(id);
          u->set_state("stopping");
          u->set_error("replaced by a newer run (concurrency replace)");
          u->set_epoch(term);
        }
      }
      auto* in = batch.add_intents();
      in->set_job(job.name());
      in->set_slot_us(slot);
      in->set_launch_id(base::make_launch_id(job.name(), slot, 1));
      in->set_epoch(term);
      in->set_missed(missed);
      in->set_trigger(trigger);
      in->set_scheduled(true);
      std::uint64_t& cursor = rr_cursor[job.name()];
      auto choice = choose(
          targets_of(job, base::mix64(base::fnv1a_64(in->launch_id()) ^ ++seed_counter), cursor));
      if (choice) {
        cursor = choice->cursor;
        for (const auto& n : choice->nodes)
          in->add_targets(n);
      } else {
        // Left unplaced: placement tries again when it is dispatched and fails the run with
        // this reason if still no node qualifies.
        spdlog::warn("scheduler: job {}: {}", job.name(), choice.err().message);
      }
      if (job.routing() != "round_robin") rr_cursor.erase(job.name());
      const std::string id = base::make_execution_id(in->launch_id(), 0, 1);
      active.push_back({id, execution_state::pending});
      if (decided_at_instant(job)) inflight_runs[job.name()].insert(id);
    };
    for (const auto& c : d.catchup)
      launch(c.slot_us, static_cast<std::uint32_t>(c.missed), "catchup");
    for (std::int64_t slot : d.on_time)
      launch(slot, 0, "schedule");
    if (metrics.missed_slots && d.skipped > 0) metrics.missed_slots(d.skipped);
    if (metrics.caught_up_slots) {
      std::uint64_t n = 0;
      for (const auto& c : d.catchup)
        n += c.missed;
      if (n > 0) metrics.caught_up_slots(n);
    }
    if (d.last_slot_us > last) {
      inflight_last_slot[job.name()] = d.last_slot_us;
      auto* a = batch.add_advances();
      a->set_job(job.name());
      a->set_last_slot_us(d.last_slot_us);
      a->set_skipped(skipped);
      touched.push_back(job.name());
    }
    if (d.next_fire_us) {
      fire_plan.set(job.name(), *d.next_fire_us - o.lookahead_us);
    }
  }
  if (pending_stops.updates_size() > 0) {
    pending_stops.set_now_us(now);
    propose_updates(std::move(pending_stops), {});
    pending_stops = {};
  }
  if (batch.intents_size() > 0 || batch.advances_size() > 0) {
    batch.set_now_us(now);
    if (metrics.launches)
      metrics.launches("journaled", static_cast<std::uint64_t>(batch.intents_size()));
    propose_launches(std::move(batch), std::move(touched));
  }
}

void leader::impl::propose_launches(state::pb::LaunchBatch batch, std::vector<std::string> names) {
  std::vector<std::pair<std::string, std::int64_t>> marks;
  for (const auto& a : batch.advances())
    marks.emplace_back(a.job(), a.last_slot_us());
  std::vector<std::pair<std::string, std::string>> launched;
  for (const auto& in : batch.intents())
    launched.emplace_back(in.job(), base::make_execution_id(in.launch_id(), 0, 1));
  std::string cmd = state::encode_command(state::job_command::launch_batch, batch);
  consensus.propose(std::move(cmd), [this, names = std::move(names), marks = std::move(marks),
                                     launched = std::move(launched)](raft_node::proposal_result r) {
    std::lock_guard lock(mu);
    // Committed: the records are applied (and queued for tracking) before this answer.
    // Not committed: the slots are decided again.
    callbacks.push_back([this, launched] {
      for (const auto& [job, id] : launched) {
        auto it = inflight_runs.find(job);
        if (it == inflight_runs.end()) continue;
        it->second.erase(id);
        if (it->second.empty()) inflight_runs.erase(it);
      }
    });
    if (r.status == raft_node::outcome::committed) {
      // The stored last_slot now covers these marks (a later batch's stay).
      callbacks.push_back([this, marks] {
        for (const auto& [n, slot] : marks) {
          auto it = inflight_last_slot.find(n);
          if (it != inflight_last_slot.end() && it->second == slot) inflight_last_slot.erase(it);
        }
      });
    } else {
      spdlog::warn("scheduler: launch batch not committed ({}): {}", raft_node::to_string(r.status),
                   r.message);
      refresh_jobs.insert(refresh_jobs.end(), names.begin(), names.end());
    }
    cv.notify_one();
  });
}

}  // namespace sundial::scheduler
