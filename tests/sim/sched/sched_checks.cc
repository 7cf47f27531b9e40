// The invariants of the scheduler simulation (sched_sim.h, ISSUE 11 "Proof"; SEMANTICS.md
// "Launches", "Overlap", "Missed runs", "Targets, retries, timeouts, chaining").
#include <fmt/format.h>

#include "sched_world.h"
#include "scheduler/job_adapter.h"
#include "scheduler/job_timing.h"
#include "state/execution_lifecycle.h"

namespace sundial::sched_sim {

namespace {

bool is_final_name(const std::string& s) {
  auto st = state::parse_exec_state(s);
  return st && state::is_final(*st);
}

}  // namespace

void checker::applied(const state::applied_change& c) {
  if (!c.executions) return;
  w_.stats().refused += static_cast<std::uint64_t>(c.executions->refused_size());
  for (const auto& ref : c.executions->changed()) {
    const bool fresh = !state_of_.count(ref.id());
    state_of_[ref.id()] = ref.state();
    w_.trace(fmt::format("record {} of {} is {}", ref.id(), ref.job(), ref.state()));
    if (ref.state() == "lost") ++w_.stats().lost;
    if (!fresh) continue;
    ++w_.stats().records;
    auto e = w_.reference().execution(ref.job(), ref.id());
    if (!e || !*e) continue;
    if ((*e)->attempt() > 1) ++w_.stats().retries;
    if ((*e)->trigger() == "catchup") ++w_.stats().catchups;
    if ((*e)->trigger() == "dependent") ++w_.stats().dependents;
  }
}

void checker::process_started(const sim_process& p) {
  ++w_.stats().starts;
  const std::string where = w_.servers()[p.server].name;
  if (!started_.insert(p.execution_id).second) {
    w_.fail(fmt::format("execution {} of {} started a second time, on {}", p.execution_id, p.job,
                        where));
    return;
  }
  running_[p.execution_id] = p;
  auto j = w_.reference().get(p.job);
  if (!j || !*j) return;  // the job was deleted meanwhile (its records with it)
  const state::pb::Job& job = **j;
  auto e = w_.reference().execution(p.job, p.execution_id);
  if (!e || !*e) {
    w_.fail(fmt::format("{} started execution {} of {}, which has no record", where, p.execution_id,
                        p.job));
    return;
  }
  const state::pb::Execution& rec = **e;
  const bool scheduled = rec.trigger() == "schedule" || rec.trigger() == "catchup";
  if (scheduled && job.expires_at_us() > 0 && rec.scheduled_at_us() > job.expires_at_us()) {
    w_.fail(fmt::format("{} started {} of {} for slot {} after its expires_at {}", where,
                        p.execution_id, p.job, rec.scheduled_at_us(), job.expires_at_us()));
  }
  if (scheduled && job.starts_at_us() > 0 && rec.scheduled_at_us() < job.starts_at_us()) {
    w_.fail(fmt::format("{} started {} of {} for slot {} before its starts_at {}", where,
                        p.execution_id, p.job, rec.scheduled_at_us(), job.starts_at_us()));
  }
  // A run the leader declared lost may still start where it was armed (its node was out of
  // reach): by design it blocks nothing, and nothing blocks it (SEMANTICS.md "Overlap").
  const bool declared_lost =
      state_of_.count(p.execution_id) && state_of_.at(p.execution_id) == "lost";
  if (job.concurrency() == "forbid" && !declared_lost) {
    for (const auto& [id, other] : running_) {
      if (id == p.execution_id || other.job != p.job) continue;
      const std::string st = state_of_.count(id) ? state_of_.at(id) : "?";
      if (st != "lost") {
        w_.fail(fmt::format("forbid: {} started {} of {} while {} ({}, on {}) still runs", where,
                            p.execution_id, p.job, id, st, w_.servers()[other.server].name));
      }
    }
  }
  if (rec.trigger() == "dependent") {
    const std::string& parent = rec.parent_execution();
    const std::string st = state_of_.count(parent) ? state_of_.at(parent) : "";
    const std::string on = job.on_parent().empty() ? "success" : job.on_parent();
    if (!is_final_name(st)) {
      w_.fail(fmt::format("dependent {} of {} started while its parent run {} is {}",
                          p.execution_id, p.job, parent, st.empty() ? "unknown" : st));
    } else if ((on == "success" && st != "succeeded") || (on == "failure" && st == "succeeded")) {
      w_.fail(fmt::format("dependent {} of {} (on_parent {}) started after its parent run {} {}",
                          p.execution_id, p.job, on, parent, st));
    }
  }
}

void checker::process_ended(const std::string& execution_id) {
  running_.erase(execution_id);
}

// Every slot of a scheduled job from its creation to its last decided slot is accounted for
// once: launched on time (1), merged into a catch-up run (its SUNDIAL_MISSED), or counted
// skipped (forbid, misfire skip, too old). The scheduler kept up until the end, and no run
// hangs in a non-final state long after its time.
void checker::final_checks(std::int64_t end_us) {
  state::job_query q;
  auto page = w_.reference().list(q);
  if (!page) return w_.fail("cannot list the reference jobs: " + page.err().message);
  for (const auto& job : page->jobs) {
    w_.stats().skipped += job.skipped_count();
    const scheduler::job_timing t = scheduler::timing_of(job);
    if (job.schedule().rfind("@every", 0) != 0 && job.schedule().find('*') == std::string::npos)
      continue;  // @manually, @at, dependents: no slots of their own
    std::vector<std::int64_t> slots;
    std::int64_t slot = job.created_at_us();
    for (int guard = 0; guard < 100000; ++guard) {
      auto n = scheduler::next_slot(t, slot);
      if (!n || *n > job.last_slot_us()) break;
      slot = *n;
      slots.push_back(slot);
    }
    const std::uint64_t expected = slots.size();
    state::execution_query eq;
    eq.descending = false;
    auto ex = w_.reference().executions(job.name(), eq);
    if (!ex) return w_.fail("cannot list executions: " + ex.err().message);
    // One launch per slot (target "all" makes a record per node: the slot counts once).
    std::map<std::int64_t, std::uint64_t> launches;
    for (const auto& e : ex->executions) {
      if (e.attempt() != 1) continue;
      if (e.trigger() == "schedule") launches[e.scheduled_at_us()] = 1;
      if (e.trigger() == "catchup")
        launches[e.scheduled_at_us()] = std::max<std::uint32_t>(1, e.missed());
    }
    std::uint64_t counted = job.skipped_count();
    for (const auto& [slot_us, n] : launches)
      counted += n;
    if (counted != expected) {
      std::string without;  // slots with no launch of their own, in seconds from the start
      for (std::int64_t x : slots) {
        if (!launches.count(x) && without.size() < 300)
          without += fmt::format(" {:.0f}", static_cast<double>(x - w_.start_us()) / 1e6);
      }
      w_.fail(
          fmt::format("job {}: {} slots up to its last decided slot, but {} accounted for "
                      "(records + merged + {} skipped); slots without a launch:{}",
                      job.name(), expected, counted, job.skipped_count(), without));
      return;
    }
    auto next = scheduler::next_slot(t, job.last_slot_us());
    if (next && *next < end_us - 4'000'000) {
      w_.fail(fmt::format("job {}: the scheduler stopped deciding slots {} s before the end",
                          job.name(), (end_us - *next) / 1000000));
      return;
    }
  }
  // Stop, timeout and restarts leave no process behind: whatever still runs belongs to a run
  // that has not ended (or was declared lost, its node out of reach at the time).
  for (const auto& [id, p] : running_) {
    const std::string st = state_of_.count(id) ? state_of_.at(id) : "";
    if (is_final_name(st) && st != "lost") {
      w_.fail(fmt::format("a process of {} ({}) still runs on {} at the end, its run {}", id, p.job,
                          w_.servers()[p.server].name, st));
      return;
    }
  }
  auto active = w_.reference().active();
  if (!active) return w_.fail("cannot read active runs: " + active.err().message);
  for (const auto& a : *active) {
    auto e = w_.reference().execution(a.job, a.id);
    if (!e || !*e) continue;
    const std::int64_t since = std::max((*e)->updated_at_us(), (*e)->created_at_us());
    if (since < end_us - 15'000'000) {
      w_.fail(fmt::format("run {} of {} is still {} {} s after its last change", a.id, a.job,
                          a.state, (end_us - since) / 1000000));
      return;
    }
  }
}

}  // namespace sundial::sched_sim
