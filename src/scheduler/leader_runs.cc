// Runs after their intent: placement, dispatch to agents, their reports, stops, retries and
// lost agents (ARCHITECTURE.md "Data flow of one run", steps 3-6).
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <future>

#include "base/hash.h"
#include "base/launch_id.h"
#include "scheduler/job_adapter.h"
#include "scheduler/leader_internal.h"

namespace sundial::scheduler {

using namespace std::chrono;
using state::exec_state;

namespace {

std::int64_t ms_us(milliseconds d) {
  return duration_cast<microseconds>(d).count();
}

// Job tags without their ":count" (a retry runs on one node of those that match).
std::map<std::string, std::string> strip_counts(std::map<std::string, std::string> tags) {
  for (auto& [k, v] : tags) {
    const auto colon = v.rfind(':');
    if (colon != std::string::npos) v.resize(colon);
  }
  return tags;
}

}  // namespace

std::vector<node_view> leader::impl::alive_nodes() const {
  std::vector<node_view> out;
  const std::int64_t now = now_us();
  const std::int64_t fresh = 3 * ms_us(opt.status_interval) + 500'000;
  for (const auto& [name, n] : nodes) {
    // A node whose last status poll or dispatch failed gets no new runs until it answers.
    if (n.last_ok_us > 0 && n.first_fail_us == 0 && now - n.last_ok_us <= fresh)
      out.push_back(n.view);
  }
  return out;
}

base::result<target_choice> leader::impl::choose(const target_request& req) const {
  std::vector<node_view> alive = alive_nodes();
  auto all = choose_targets(req, alive);
  if (!opt.prefer_other_nodes || req.target == target_mode::all || !all) return all;
  const bool mine =
      std::find(all->nodes.begin(), all->nodes.end(), opt.node_name) != all->nodes.end();
  if (!mine) return all;
  std::erase_if(alive, [&](const node_view& n) { return n.name == opt.node_name; });
  auto others = choose_targets(req, alive);
  if (others && others->nodes.size() == all->nodes.size()) return others;
  return all;
}

// A job was deleted or disabled: its runs that have not started must not start. Records of a
// deleted job are gone with it, so their agents are told directly; a disabled job's waiting
// records go to stopping (and so to stopped) through Raft. Runs already going are left to end.
void leader::impl::drop_runs_of(const std::string& job, bool deleted) {
  const std::string prefix = job + '\0';
  state::pb::ExecutionUpdates u;
  u.set_now_us(now_us());
  for (auto it = runs.lower_bound(prefix);
       it != runs.end() && it->first.compare(0, prefix.size(), prefix) == 0;) {
    tracked_run& r = it->second;
    const bool waiting = r.state == exec_state::pending || r.state == exec_state::dispatched ||
                         r.state == exec_state::retrying;
    if (deleted) {
      if (waiting && !r.node.empty()) {
        agent::pb::StopRequest req;
        req.set_epoch(term);
        req.set_execution_id(r.id);
        req.set_reason("the job was deleted");
        link.stop(r.node, req, [](base::result<agent::pb::StopResponse>) {});
      }
      retrying.erase(it->first);
      it = runs.erase(it);
      continue;
    }
    if (waiting) {
      auto* x = u.add_updates();
      x->set_job(r.job);
      x->set_id(r.id);
      x->set_state("stopping");
      x->set_error("the job was disabled before this run started");
      x->set_epoch(term);
    }
    ++it;
  }
  if (u.updates_size() > 0) propose_updates(std::move(u), {});
}

void leader::impl::track(const state::pb::ExecutionRef& ref) {
  const auto st = state::parse_exec_state(ref.state());
  if (!st) return;
  const std::string k = key(ref.job(), ref.id());
  if (*st == exec_state::retrying)
    retrying.insert(k);
  else
    retrying.erase(k);
  if (state::is_final(*st)) {
    runs.erase(k);
    return;
  }
  auto [it, fresh] = runs.try_emplace(k);
  tracked_run& r = it->second;
  if (fresh) {
    r.job = ref.job();
    r.id = ref.id();
    r.state = *st;
  } else if (r.state != *st && !state::path_between(r.state, *st).empty()) {
    r.state = *st;  // applied state ahead of (or beside) what this leader proposed
  } else if (r.state != *st) {
    return;  // an older step of what this leader already proposed
  }
  r.node = ref.node_name();
  r.retry_at_us = ref.retry_at_us();
  if (*st == exec_state::dispatched || *st == exec_state::retrying) r.placing = false;
  act_on(r);
}

void leader::impl::act_on(tracked_run& r) {
  switch (r.state) {
    case exec_state::pending:
      if (r.node.empty())
        place(r);
      else if (!r.dispatched_here)
        dispatch({&r});
      break;
    case exec_state::dispatched:
      if (!r.dispatched_here) dispatch({&r});
      break;
    case exec_state::stopping: {
      if (r.stop_sent) break;
      r.stop_sent = true;
      if (r.node.empty()) {
        state::pb::ExecutionUpdates u;
        auto* x = u.add_updates();
        x->set_job(r.job);
        x->set_id(r.id);
        x->set_state("stopped");
        x->set_epoch(term);
        u.set_now_us(now_us());
        r.state = exec_state::stopped;
        propose_updates(std::move(u), {});
        break;
      }
      agent::pb::StopRequest req;
      req.set_epoch(term);
      req.set_execution_id(r.id);
      req.set_reason("stopped");
      const std::string job = r.job, id = r.id;
      link.stop(r.node, req, [this, job, id](base::result<agent::pb::StopResponse> a) {
        const bool found = a && a->found();
        post([this, job, id, found] {
          // Not running there (never armed, or already over): nothing will report it, so the
          // stop completes here; a report that is on its way wins the race harmlessly.
          if (found) return;
          auto it = runs.find(key(job, id));
          if (it == runs.end() || it->second.state != exec_state::stopping) return;
          state::pb::ExecutionUpdates u;
          auto* x = u.add_updates();
          x->set_job(job);
          x->set_id(id);
          x->set_state("stopped");
          x->set_epoch(term);
          u.set_now_us(now_us());
          it->second.state = exec_state::stopped;
          propose_updates(std::move(u), {});
        });
      });
      break;
    }
    default:
      break;
  }
}

// Puts an unplaced run (a dependent, a run-now, a retry) on a node: the step to dispatched
// carries the node, and the dispatch follows its commit, so a new leader never picks another.
void leader::impl::place(tracked_run& r) {
  if (r.placing) return;
  auto j = jobs.get(r.job);
  auto e = jobs.execution(r.job, r.id);
  if (!j || !*j || !e || !*e) return;
  const state::pb::Job& job = **j;
  state::pb::ExecutionUpdates u;
  u.set_now_us(now_us());
  auto* x = u.add_updates();
  x->set_job(r.job);
  x->set_id(r.id);
  x->set_epoch(term);
  std::string node = (*e)->node_name();
  if (node.empty()) {
    target_request req =
        targets_of(job, base::mix64(base::fnv1a_64(r.id) ^ ++seed_counter), rr_cursor[job.name()]);
    // A retry is one node's run again; a first placement (run-now, a dependent) takes the
    // job's targets, the extra ones as sibling records.
    const bool retry = (*e)->trigger() == "retry";
    if (retry) req.target = target_mode::one;
    if (retry) req.tags = strip_counts(req.tags);
    auto choice = choose(req);
    if (!choice || choice->nodes.empty()) {
      x->set_state("failed");
      x->set_error(choice ? "no node to run it on" : choice.err().message);
      r.state = exec_state::failed;
      if (metrics.launches) metrics.launches("failed", 1);
      propose_updates(std::move(u), {});
      return;
    }
    node = choice->nodes.front();
    for (std::size_t i = 1; i < choice->nodes.size(); ++i)
      x->add_extra_nodes(choice->nodes[i]);
    if (job.routing() == "round_robin") rr_cursor[job.name()] = choice->cursor;
  }
  x->set_state("dispatched");
  x->set_node_name(node);
  r.placing = true;
  propose_updates(std::move(u), {});
}

void leader::impl::dispatch(std::vector<tracked_run*> list) {
  std::map<std::string, agent::pb::DispatchRequest> by_node;
  for (tracked_run* r : list) {
    auto e = jobs.execution(r->job, r->id);
    auto j = jobs.get(r->job);
    if (!e || !*e || !j || !*j) continue;
    const state::pb::Execution& rec = **e;
    if (rec.node_name().empty()) continue;
    auto& req = by_node[rec.node_name()];
    agent::pb::Run* run = req.add_runs();
    run->set_execution_id(rec.id());
    run->set_launch_id(rec.launch_id());
    // Scheduled slots are armed for their instant; retries for the end of their backoff;
    // run-now, catch-up and dependent runs start at once.
    std::int64_t at = 0;
    if (rec.trigger() == "schedule") at = rec.scheduled_at_us();
    if (rec.trigger() == "retry") at = rec.retry_at_us();
    run->set_run_at_us(at);
    *run->mutable_job() = **j;
    run->set_attempt(rec.attempt());
    run->set_scheduled_at_us(rec.scheduled_at_us());
    run->set_missed(rec.missed());
    r->dispatched_here = true;
    r->node = rec.node_name();
  }
  for (auto& entry : by_node) {
    // Named copies, not structured bindings: clang 14 cannot capture bindings in lambdas.
    const std::string node_name = entry.first;
    auto& req = entry.second;
    req.set_epoch(term);
    req.set_leader(opt.node_name);
    const std::uint64_t my_term = term;
    link.dispatch(
        node_name, std::move(req),
        [this, node_name, my_term](base::result<agent::pb::DispatchResponse> a) {
          post([this, node_name, my_term, a = std::move(a)] {
            if (term != my_term) return;
            if (!a) {
              spdlog::warn("scheduler: dispatch to {} failed: {}", node_name, a.err().message);
              // No new runs go there until it answers a status poll again.
              if (auto n = nodes.find(node_name); n != nodes.end() && n->second.first_fail_us == 0)
                n->second.first_fail_us = now_us();
              // Sent again when the node answers a status poll.
              for (auto& [k, r] : runs)
                if (r.node == node_name && r.dispatched_here &&
                    (r.state == exec_state::pending || r.state == exec_state::dispatched))
                  r.dispatched_here = false;
              return;
            }
            state::pb::ExecutionUpdates u;
            u.set_now_us(now_us());
            for (const auto& ack : a->acks()) {
              auto it = runs.find(key(ack.job(), ack.execution_id()));
              if (it == runs.end() || it->second.node != node_name) continue;
              tracked_run& r = it->second;
              if (ack.outcome() == "stale_epoch") {
                spdlog::warn("scheduler: {} refused term {}: {}", node_name, term, ack.error());
              } else if (ack.outcome() == "refused") {
                auto* x = u.add_updates();
                x->set_job(r.job);
                x->set_id(r.id);
                x->set_state("failed");
                x->set_error(ack.error());
                x->set_epoch(term);
                r.state = exec_state::failed;
              } else if (r.state == exec_state::pending && !r.ack_proposed) {
                auto* x = u.add_updates();
                x->set_job(r.job);
                x->set_id(r.id);
                x->set_state("dispatched");
                x->set_node_name(node_name);
                x->set_epoch(term);
                r.ack_proposed = true;
                r.state = exec_state::dispatched;
              }
            }
            if (u.updates_size() > 0) propose_updates(std::move(u), {});
          });
        });
  }
}

void leader::impl::handle_reports(std::vector<pending_report> batch) {
  state::pb::ExecutionUpdates u;
  const std::int64_t now = now_us();
  u.set_now_us(now);
  std::vector<std::function<void(base::status)>> dones;
  for (auto& rep : batch) {
    for (const auto& ev : rep.req.events()) {
      const auto to = state::parse_exec_state(ev.state());
      if (!to) continue;
      const std::string k = key(ev.job(), ev.execution_id());
      auto it = runs.find(k);
      exec_state from;
      if (it != runs.end()) {
        from = it->second.state;
      } else {
        auto e = jobs.execution(ev.job(), ev.execution_id());
        if (!e || !*e) continue;  // its job was deleted: nothing to record
        auto st = state::parse_exec_state((*e)->state());
        if (!st) continue;
        from = *st;
      }
      const auto steps = state::path_between(from, *to);
      if (steps.empty()) continue;  // already there (a resent report), or nothing leads there
      std::int64_t retry_at = 0;
      std::string retry_id;
      if (state::is_final(*to) && state::is_retryable(*to)) {
        auto j = jobs.get(ev.job());
        if (j && *j && ev.attempt() <= (*j)->retries()) {
          const std::int64_t delay =
              retry_delay_us(backoff_of(**j), ev.attempt(), base::fnv1a_64(ev.execution_id()));
          retry_at = std::max(now, ev.at_us()) + delay;
          retry_id = base::make_launch_id(ev.job(), ev.scheduled_at_us(), ev.attempt() + 1);
        }
      }
      for (exec_state s : steps) {
        auto* x = u.add_updates();
        x->set_job(ev.job());
        x->set_id(ev.execution_id());
        x->set_state(std::string(state::to_string(s)));
        x->set_node_name(rep.req.node_name());
        x->set_epoch(term);
        if (s == exec_state::running) x->set_at_us(ev.state() == "running" ? ev.at_us() : 0);
        if (s == *to && state::is_final(s)) {
          x->set_at_us(ev.at_us());
          x->set_exit_code(ev.exit_code());
          x->set_output(ev.output());
          x->set_output_truncated(ev.output_truncated());
          x->set_cpu_seconds(ev.cpu_seconds());
          x->set_max_rss_bytes(ev.max_rss_bytes());
          x->set_error(ev.error());
          x->set_retry_at_us(retry_at);
          x->set_retry_launch_id(retry_id);
        }
      }
      if (it != runs.end()) it->second.state = *to;
    }
    dones.push_back(std::move(rep.done));
  }
  if (u.updates_size() == 0) {
    for (auto& d : dones)
      d({});
    return;
  }
  propose_updates(std::move(u), std::move(dones));
}

void leader::impl::propose_updates(state::pb::ExecutionUpdates u,
                                   std::vector<std::function<void(base::status)>> dones) {
  std::vector<std::pair<std::string, std::string>> touched;
  for (const auto& x : u.updates())
    touched.emplace_back(x.job(), x.id());
  std::string cmd = state::encode_command(state::job_command::execution_updates, u);
  consensus.propose(std::move(cmd), [this, dones = std::move(dones), touched = std::move(touched)](
                                        raft_node::proposal_result r) mutable {
    const bool ok = r.status == raft_node::outcome::committed;
    for (auto& d : dones) {
      if (ok)
        d({});
      else
        d(base::fail(base::errc::unavailable, fmt::format("not committed: {}", r.message)));
    }
    if (ok) return;
    spdlog::warn("scheduler: lifecycle update not committed ({}): {}",
                 raft_node::to_string(r.status), r.message);
    // What this leader believed it had proposed did not happen: follow the
    // stored state again (the agents resend their reports).
    post([this, touched = std::move(touched)] {
      for (const auto& [job, id] : touched) {
        auto it = runs.find(key(job, id));
        if (it == runs.end()) continue;
        auto e = jobs.execution(job, id);
        if (!e || !*e) continue;
        if (auto st = state::parse_exec_state((*e)->state())) it->second.state = *st;
        it->second.placing = false;
        it->second.ack_proposed = false;
        it->second.stop_sent = false;
      }
    });
  });
}

void leader::impl::poll_nodes(std::int64_t now) {
  const std::int64_t interval = ms_us(opt.status_interval);
  // The member list is read at most ten times a second, however often the loop wakes.
  if (last_poll_us != 0 && now - last_poll_us < 100'000 && now >= last_poll_us) return;
  last_poll_us = now;
  std::set<std::string> current;
  for (const auto& name : members())
    current.insert(name);
  for (auto it = nodes.begin(); it != nodes.end();) {
    if (!current.count(it->first)) {
      it = nodes.erase(it);
      membership_changed = true;
    } else {
      ++it;
    }
  }
  for (const auto& name : current) {
    node_state& n = nodes[name];
    n.view.name = name;
    if (n.asking || (n.last_asked_us > 0 && now - n.last_asked_us < interval)) continue;
    n.asking = true;
    n.last_asked_us = now;
    agent::pb::StatusRequest req;
    req.set_epoch(term);
    const std::uint64_t my_term = term;
    link.status(name, req, [this, name, my_term](base::result<agent::pb::StatusResponse> a) {
      post([this, name, my_term, a = std::move(a)] {
        auto it = nodes.find(name);
        if (it == nodes.end() || term != my_term) return;
        node_state& n = it->second;
        n.asking = false;
        const std::int64_t t = now_us();
        if (!a) {
          if (n.first_fail_us == 0) n.first_fail_us = t;
          return;
        }
        // Down, never heard of, or restarted between two polls (its armed runs forgotten).
        const bool was_down =
            n.first_fail_us > 0 || n.last_ok_us == 0 || n.agent_started_us != a->started_at_us();
        n.agent_started_us = a->started_at_us();
        n.last_ok_us = t;
        n.first_fail_us = 0;
        n.view.tags = {a->tags().begin(), a->tags().end()};
        n.view.running = a->running();
        n.view.alive = true;
        if (!was_down) return;
        // The node is (back) in contact: runs it should have and does not know are sent
        // again (pending, dispatched), or lost if it must have had them running.
        std::set<std::string> known;
        for (const auto& l : a->launches())
          known.insert(l.execution_id());
        std::vector<tracked_run*> resend;
        state::pb::ExecutionUpdates u;
        u.set_now_us(t);
        for (auto& [k, r] : runs) {
          if (r.node != name) continue;
          if ((r.state == exec_state::pending || r.state == exec_state::dispatched) &&
              !known.count(r.id)) {
            r.dispatched_here = false;
            resend.push_back(&r);
          } else if ((r.state == exec_state::running || r.state == exec_state::stopping) &&
                     !known.count(r.id)) {
            auto* x = u.add_updates();
            x->set_job(r.job);
            x->set_id(r.id);
            x->set_state("lost");
            x->set_error(fmt::format("node {} does not know this run", name));
            x->set_epoch(term);
            r.state = exec_state::lost;
          }
        }
        if (!resend.empty()) dispatch(resend);
        if (u.updates_size() > 0) {
          if (metrics.lost_runs) metrics.lost_runs(static_cast<std::uint64_t>(u.updates_size()));
          propose_updates(std::move(u), {});
        }
      });
    });
  }
}

void leader::impl::expire_lost(std::int64_t now) {
  const std::int64_t ttl = ms_us(opt.agent_ttl);
  // Most of the time every node answers and none left: no walk over the runs then.
  bool any_silent = false;
  for (const auto& [name, n] : nodes)
    any_silent = any_silent || (n.first_fail_us > 0 && now - n.first_fail_us > ttl);
  if (!any_silent && !membership_changed) return;
  membership_changed = false;
  state::pb::ExecutionUpdates u;
  u.set_now_us(now);
  for (auto& [k, r] : runs) {
    if (r.node.empty() || state::is_final(r.state) || r.state == exec_state::retrying) continue;
    auto n = nodes.find(r.node);
    const bool gone = n == nodes.end();
    const bool silent = !gone && n->second.first_fail_us > 0 && now - n->second.first_fail_us > ttl;
    if (!gone && !silent) continue;
    auto* x = u.add_updates();
    x->set_job(r.job);
    x->set_id(r.id);
    x->set_state("lost");
    x->set_error(gone ? fmt::format("node {} left the cluster", r.node)
                      : fmt::format("node {} did not answer for {} s", r.node, ttl / 1000000));
    x->set_epoch(term);
    x->set_at_us(now);
    // A lost attempt is retried by policy, elsewhere by default (retry_on: any_node).
    auto j = jobs.get(r.job);
    auto e = jobs.execution(r.job, r.id);
    if (j && *j && e && *e && (*e)->attempt() <= (*j)->retries()) {
      x->set_retry_at_us(now +
                         retry_delay_us(backoff_of(**j), (*e)->attempt(), base::fnv1a_64(r.id)));
      x->set_retry_launch_id(
          base::make_launch_id(r.job, (*e)->scheduled_at_us(), (*e)->attempt() + 1));
    }
    r.state = exec_state::lost;
    if (u.updates_size() >= static_cast<int>(opt.max_batch)) break;
  }
  if (u.updates_size() > 0) {
    spdlog::warn("scheduler: {} runs lost with their node", u.updates_size());
    if (metrics.lost_runs) metrics.lost_runs(static_cast<std::uint64_t>(u.updates_size()));
    propose_updates(std::move(u), {});
  }
}

void leader::impl::retries_due(std::int64_t now) {
  const std::int64_t ahead = duration_cast<microseconds>(opt.lookahead).count();
  for (const auto& k : std::vector<std::string>(retrying.begin(), retrying.end())) {
    auto it = runs.find(k);
    if (it == runs.end()) continue;
    tracked_run& r = it->second;
    if (r.state == exec_state::retrying && !r.placing && r.retry_at_us - ahead <= now) place(r);
  }
}

}  // namespace sundial::scheduler
