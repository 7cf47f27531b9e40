// The world's event loop, Raft model, network and servers (sched_world.h).
#include "sched_world.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <filesystem>

#include "base/hash.h"
#include "base/launch_id.h"

namespace sundial::sched_sim {

using namespace std::chrono;
using raft_node::outcome;
using raft_node::proposal_result;

namespace {

constexpr std::int64_t start_instant_us = 1796083200LL * 1000000;  // 2026-12-01T00:00:00Z

proposal_result failed_with(outcome o, std::string why) {
  proposal_result r;
  r.status = o;
  r.message = std::move(why);
  return r;
}

}  // namespace

base::wall_time sim_clock::now() const {
  return base::wall_time{microseconds{w_.now() + offset_us_}};
}

base::mono_time sim_clock::mono_now() const {
  return base::mono_time{microseconds{w_.now()}};
}

world::world(const sim_options& o) : opt_(o), rng_(o.seed * 0x9E3779B97F4A7C15ULL + 7) {
  now_ = start_instant_us;
  start_us_ = now_;
  root_ = (std::filesystem::temp_directory_path() /
           fmt::format("sundial-sched-sim-{}-{}", ::getpid(), o.seed))
              .string();
  std::filesystem::remove_all(root_);
  std::filesystem::create_directories(root_);
  checker_ = std::make_unique<checker>(*this);
  ref_db_ = state::state_db::open(root_ + "/reference").value();
  ref_store_ = std::make_unique<state::job_store>(*ref_db_);
  ref_store_->set_observer([this](const state::applied_change& c) { checker_->applied(c); });
  servers_.resize(static_cast<std::size_t>(o.servers));
  for (int s = 0; s < o.servers; ++s) {
    server& v = servers_[s];
    v.id = s;
    v.name = fmt::format("s{}", s + 1);
    v.dir = fmt::format("{}/{}", root_, v.name);
    std::filesystem::create_directories(v.dir);
    v.launcher = std::make_unique<sim_launcher>(*this, s);
  }
  for (int s = 0; s < o.servers; ++s)
    open_server(s);
}

world::~world() {
  for (auto& v : servers_) {
    v.leader.reset();
    if (v.launcher) v.launcher->crash();
    v.agent.reset();
    v.store.reset();
    v.db.reset();
  }
  ref_store_.reset();
  ref_db_.reset();
  std::error_code ec;
  std::filesystem::remove_all(root_, ec);
}

void world::at(std::int64_t t, std::function<void()> fn) {
  events_.emplace(std::make_pair(std::max(t, now_), ++seq_), std::move(fn));
}

void world::fail(const std::string& why) {
  if (!result_.ok) return;
  result_.ok = false;
  result_.failure = fmt::format("t={:.6f}s: {}", static_cast<double>(now_ - start_us_) / 1e6, why);
}

void world::trace(const std::string& line) {
  result_.trace_hash =
      base::mix64(result_.trace_hash ^ base::fnv1a_64(line) ^ static_cast<std::uint64_t>(now_));
  if (opt_.verbose)
    std::printf("%10.6f %s\n", static_cast<double>(now_ - start_us_) / 1e6, line.c_str());
}

std::int64_t world::delay() {
  // Mostly a LAN's fraction of a millisecond, sometimes a slow path.
  if (chance(0.02)) return static_cast<std::int64_t>(uniform(5'000, 80'000));
  return static_cast<std::int64_t>(uniform(50, 2'000));
}

bool world::reachable(int from, int to) const {
  if (from == to) return true;
  return !cut_.count({std::min(from, to), std::max(from, to)});
}

// ---- servers ----

void world::open_server(int s) {
  server& v = servers_[s];
  ++v.incarnation;
  v.clock = std::make_unique<sim_clock>(*this, v.clock_offset_us);
  v.db = state::state_db::open(v.dir + "/state").value();
  v.store = std::make_unique<state::job_store>(*v.db);
  v.applied = v.db->applied();
  v.awaiting.clear();
  v.believed_term = 0;
  v.reporting = false;
  v.pump_scheduled = false;
  v.persist_scheduled = false;
  v.step_scheduled = false;
  v.wake_at = 0;
  v.apply_scheduled = false;
  v.store->set_observer([this, s](const state::applied_change& c) {
    if (servers_[s].leader) servers_[s].leader->applied(c);
    kick(s);
  });

  agent::agent_options ao;
  ao.node_name = v.name;
  ao.data_dir = v.dir + "/agent";
  ao.clock = v.clock.get();
  ao.report_thread = false;
  ao.remembered_ids = 5000;
  auto a = agent::agent::start(ao, *v.launcher, nullptr);
  if (!a) {
    fail(fmt::format("agent {} does not start: {}", v.name, a.err().message));
    return;
  }
  v.agent = std::move(a).value();

  scheduler::leader_options lo;
  lo.node_name = v.name;
  lo.agent_ttl = milliseconds(3000);
  scheduler::consensus_link c;
  c.propose = [this, s](std::string cmd, std::function<void(proposal_result)> done) {
    propose(s, std::move(cmd), std::move(done));
  };
  c.barrier = [this, s](std::function<void(proposal_result)> done) {
    propose(s, std::string(), std::move(done));
  };
  std::vector<std::string> names;
  for (const auto& x : servers_)
    names.push_back(x.name);
  v.leader = scheduler::leader::stepped(
      lo, std::move(c), *v.store, *v.clock, [names] { return names; }, link_for(s));
  v.up = true;
  v.leader->leadership(false, term_);
  trace(fmt::format("{} up (incarnation {})", v.name, v.incarnation));
  kick(s);
  kick_reports(s);
  apply_committed(s);
}

void world::crash(int s) {
  server& v = servers_[s];
  if (!v.up) return;
  ++stats().crashes;
  trace(fmt::format("{} crashes", v.name));
  v.up = false;
  ++v.incarnation;  // nothing owed to the old incarnation reaches the new one
  v.awaiting.clear();
  v.believed_term = 0;
  if (leader_ == s) {
    leader_ = -1;
    elect(static_cast<std::int64_t>(uniform(300'000, 2'000'000)));
  }
  v.leader.reset();
  v.launcher->crash();
  v.agent.reset();
  v.launcher->revive();
  v.store.reset();
  v.db.reset();
}

void world::restart(int s) {
  if (servers_[s].up || failed()) return;
  open_server(s);
  if (leader_ < 0) elect(static_cast<std::int64_t>(uniform(150'000, 1'500'000)));
}

void world::kick(int s) {
  server& v = servers_[s];
  if (!v.up || v.step_scheduled) return;
  v.step_scheduled = true;
  const std::uint64_t inc = v.incarnation;
  after(0, [this, s, inc] {
    if (servers_[s].incarnation != inc) return;
    step_server(s);
  });
}

void world::step_server(int s) {
  server& v = servers_[s];
  v.step_scheduled = false;
  if (!v.up) return;
  v.leader->step();
  const std::int64_t wake = std::max(v.leader->next_wake_us() - v.clock_offset_us, now_ + 100);
  if (v.wake_at == 0 || wake < v.wake_at || v.wake_at <= now_) {
    v.wake_at = wake;
    const std::uint64_t inc = v.incarnation;
    at(wake, [this, s, inc, wake] {
      server& x = servers_[s];
      if (x.incarnation != inc || x.wake_at != wake) return;
      x.wake_at = 0;
      step_server(s);
    });
  }
}

// ---- Raft model ----

void world::propose(int s, std::string cmd, std::function<void(proposal_result)> done) {
  server& v = servers_[s];
  if (!v.up) return;
  const std::uint64_t inc = v.incarnation;
  if (s != leader_ || v.believed_term != term_ || v.believed_term == 0) {
    // A deposed leader that does not know it yet: its entry reaches no majority.
    after(static_cast<std::int64_t>(uniform(1'000, 300'000)), [this, s, inc, done] {
      if (servers_[s].incarnation != inc) return;
      done(failed_with(outcome::not_leader, "not the leader"));
      kick(s);
    });
    return;
  }
  inflight_.push_back({s, inc, term_, std::move(cmd), std::move(done)});
  // Commits in proposal order: whichever commit event comes first takes the oldest entry.
  const std::int64_t latency = chance(0.01) ? static_cast<std::int64_t>(uniform(20'000, 200'000))
                                            : static_cast<std::int64_t>(uniform(300, 3'000));
  after(latency, [this] { commit_inflight(); });
}

// Commits the oldest in-flight entry (each proposal scheduled one call; later ones wait for it).
void world::commit_inflight() {
  if (inflight_.empty()) return;
  // A leader that lost its leadership commits nothing more: the election resolves its entries.
  if (inflight_.front().term != term_ || leader_ != inflight_.front().server) return;
  inflight_proposal p = std::move(inflight_.front());
  inflight_.erase(inflight_.begin());
  log_.push_back({p.term, p.command});
  const std::uint64_t index = log_.size();
  if (!p.command.empty()) {
    ref_store_->apply(index, static_cast<std::uint8_t>(p.command[0]),
                      std::string_view(p.command).substr(1));
  }
  server& v = servers_[p.server];
  if (v.up && v.incarnation == p.incarnation) v.awaiting[index] = std::move(p.done);
  for (int s = 0; s < static_cast<int>(servers_.size()); ++s)
    apply_committed(s);
}

void world::apply_committed(int s) {
  server& v = servers_[s];
  if (!v.up || v.apply_scheduled || v.applied >= log_.size()) return;
  v.apply_scheduled = true;
  const std::uint64_t inc = v.incarnation;
  const std::int64_t lag = chance(0.03) ? static_cast<std::int64_t>(uniform(20'000, 300'000))
                                        : static_cast<std::int64_t>(uniform(0, 3'000));
  after(lag, [this, s, inc] {
    server& x = servers_[s];
    if (x.incarnation != inc || !x.up) return;
    x.apply_scheduled = false;
    // A server cut off from the leader receives nothing new.
    if (leader_ >= 0 && !reachable(leader_, s)) {
      after(100'000, [this, s, inc] {
        if (servers_[s].incarnation == inc) apply_committed(s);
      });
      return;
    }
    while (x.applied < log_.size() && x.incarnation == inc) {
      const std::uint64_t index = ++x.applied;
      const log_entry& e = log_[index - 1];
      std::string result;
      if (!e.command.empty() && index > x.db->applied()) {
        result = x.store->apply(index, static_cast<std::uint8_t>(e.command[0]),
                                std::string_view(e.command).substr(1));
      }
      if (auto it = x.awaiting.find(index); it != x.awaiting.end()) {
        auto done = std::move(it->second);
        x.awaiting.erase(it);
        proposal_result r;
        r.status = outcome::committed;
        r.index = raft::index_t{index};
        r.result = std::move(result);
        done(std::move(r));
      }
    }
    kick(s);
  });
}

void world::elect(std::int64_t delay_us) {
  if (electing_) return;
  electing_ = true;
  after(delay_us, [this] {
    electing_ = false;
    if (failed()) return;
    const int n = static_cast<int>(servers_.size());
    std::vector<int> candidates;
    for (int s = 0; s < n; ++s) {
      if (!servers_[s].up) continue;
      int reach = 0;
      for (int t = 0; t < n; ++t)
        reach += servers_[t].up && reachable(s, t) ? 1 : 0;
      if (reach * 2 > n) candidates.push_back(s);
    }
    if (candidates.empty()) {
      elect(500'000);
      return;
    }
    // The old term's entries: some were replicated and the new leader commits them (their
    // proposer never hears: an unknown outcome); the rest are gone.
    std::vector<inflight_proposal> old;
    old.swap(inflight_);
    for (auto& p : old) {
      if (chance(0.5)) {
        log_.push_back({p.term, p.command});
        if (!p.command.empty()) {
          ref_store_->apply(log_.size(), static_cast<std::uint8_t>(p.command[0]),
                            std::string_view(p.command).substr(1));
        }
        ++stats().unknown_commits;
      }
      const int s = p.server;
      const std::uint64_t inc = p.incarnation;
      auto done = std::move(p.done);
      after(static_cast<std::int64_t>(uniform(1'000, 500'000)), [this, s, inc, done] {
        if (servers_[s].incarnation != inc || !servers_[s].up) return;
        done(failed_with(outcome::timeout, "leadership changed before the commit"));
        kick(s);
      });
    }
    const int chosen = candidates[uniform(0, candidates.size() - 1)];
    ++term_;
    leader_ = chosen;
    ++stats().leader_changes;
    trace(fmt::format("{} leads term {}", servers_[chosen].name, term_));
    for (int s = 0; s < n; ++s) {
      server& v = servers_[s];
      if (!v.up) continue;
      if (s == chosen) {
        v.believed_term = term_;
        v.leader->leadership(true, term_);
      } else if (v.believed_term == 0) {
        v.leader->leadership(false, term_);
      }
      // A deposed leader that still believes learns later (depose_leader schedules it).
      if (v.agent) v.agent->leader_changed();
      kick(s);
      kick_reports(s);
      apply_committed(s);
    }
  });
}

// The leader loses its leadership without crashing (a partition, a transfer): it learns at
// once or only after a while, during which it still acts on what it had.
void world::depose_leader(bool promptly) {
  if (leader_ < 0) return;
  const int old = leader_;
  leader_ = -1;
  const std::uint64_t inc = servers_[old].incarnation;
  const std::uint64_t t = term_;
  auto learn = [this, old, inc, t] {
    server& v = servers_[old];
    if (v.incarnation != inc || !v.up || v.believed_term != t) return;
    v.believed_term = 0;
    v.leader->leadership(false, std::max(t, term_));
    kick(old);
  };
  if (promptly)
    learn();
  else
    after(static_cast<std::int64_t>(uniform(100'000, 1'500'000)), learn);
  elect(static_cast<std::int64_t>(uniform(150'000, 1'500'000)));
}

void world::client_propose(std::string cmd, int attempts) {
  if (failed() || attempts <= 0) return;
  const int l = leader_;
  if (l < 0 || !servers_[l].up) {
    after(300'000, [this, cmd, attempts] { client_propose(cmd, attempts - 1); });
    return;
  }
  propose(l, cmd, [this, cmd, attempts](proposal_result r) {
    if (r.status == outcome::committed) return;
    // An unknown outcome may have committed: the workload's commands are safe to repeat.
    after(300'000, [this, cmd, attempts] { client_propose(cmd, attempts - 1); });
  });
}

// ---- network: the leader's calls to agents, the agents' reports ----

namespace {

template <typename Resp>
base::result<Resp> unavailable() {
  return base::fail(base::errc::unavailable, "no answer before the deadline");
}

}  // namespace

scheduler::agent_link world::link_for(int s) {
  auto rpc = [this, s](const std::string& node, auto req, auto done, auto handler,
                       std::int64_t timeout) {
    using resp_t = decltype(handler(std::declval<agent::agent&>(), req));
    int t = -1;
    for (const auto& v : servers_)
      if (v.name == node) t = v.id;
    const std::uint64_t inc = servers_[s].incarnation;
    auto reply = [this, s, inc, done](base::result<resp_t> r) {
      if (servers_[s].incarnation != inc || !servers_[s].up) return;
      done(std::move(r));
      kick(s);
    };
    auto timed_out = [this, reply, timeout] {
      after(timeout, [reply] { reply(unavailable<resp_t>()); });
    };
    if (t < 0 || !reachable(s, t) || (s != t && chance(drop_p_))) return timed_out();
    const std::int64_t d1 = s == t ? 0 : delay();
    after(d1, [this, s, t, req, handler, reply, timed_out] {
      server& target = servers_[t];
      if (!target.up || !target.agent || !reachable(s, t)) return timed_out();
      resp_t r = handler(*target.agent, req);
      kick_reports(t);
      if (!reachable(t, s) || (s != t && chance(drop_p_))) return timed_out();
      after(s == t ? 0 : delay(), [reply, r] { reply(r); });
    });
  };
  scheduler::agent_link link;
  link.dispatch = [this, s, rpc](const std::string& n, agent::pb::DispatchRequest req, auto done) {
    std::string ids;
    for (const auto& r : req.runs())
      ids += " " + r.execution_id();
    trace(fmt::format("{} dispatches to {} (epoch {}):{}", servers_[s].name, n, req.epoch(), ids));
    rpc(
        n, std::move(req), std::move(done),
        [this](agent::agent& a, const agent::pb::DispatchRequest& r) {
          auto resp = a.dispatch(r);
          std::string acks;
          for (const auto& k : resp.acks())
            acks += fmt::format(" {}={}", k.execution_id(), k.outcome());
          trace(fmt::format("  agent answers:{}", acks));
          return resp;
        },
        2'000'000);
  };
  link.stop = [rpc](const std::string& n, agent::pb::StopRequest req, auto done) {
    rpc(
        n, std::move(req), std::move(done),
        [](agent::agent& a, const agent::pb::StopRequest& r) { return a.stop(r); }, 2'000'000);
  };
  link.status = [rpc](const std::string& n, agent::pb::StatusRequest req, auto done) {
    rpc(
        n, std::move(req), std::move(done),
        [](agent::agent& a, const agent::pb::StatusRequest& r) { return a.status(r); }, 1'000'000);
  };
  return link;
}

void world::kick_reports(int s) {
  server& v = servers_[s];
  if (!v.up) return;
  if (!v.persist_scheduled) {  // the agent's persister: its window, whatever the reporter does
    v.persist_scheduled = true;
    const std::uint64_t inc = v.incarnation;
    after(500, [this, s, inc] {
      if (servers_[s].incarnation != inc) return;
      servers_[s].persist_scheduled = false;
      servers_[s].agent->persist();
    });
  }
  if (v.pump_scheduled) return;
  v.pump_scheduled = true;
  const std::uint64_t inc = v.incarnation;
  after(2'000, [this, s, inc] {  // the agent's report window
    if (servers_[s].incarnation != inc) return;
    servers_[s].pump_scheduled = false;
    pump_reports(s);
  });
}

void world::pump_reports(int a) {
  server& v = servers_[a];
  if (!v.up || v.reporting) return;
  auto req = v.agent->take_report();
  if (!req) return;
  v.reporting = true;
  const std::uint64_t inc = v.incarnation;
  const std::uint64_t seq = ++v.report_seq;
  std::string what;
  for (const auto& ev : req->events())
    what += fmt::format(" {}={}", ev.execution_id(), ev.state());
  trace(fmt::format("{} reports to {}:{}", v.name, leader_ < 0 ? "nobody" : servers_[leader_].name,
                    what));
  auto answer = [this, a, inc, seq](bool ok) {
    server& x = servers_[a];
    if (x.incarnation != inc || !x.up || x.report_seq != seq || !x.reporting) return;
    trace(fmt::format("{}'s report {}", x.name, ok ? "committed" : "not committed"));
    x.reporting = false;
    x.agent->report_answered(ok);
    if (ok) {
      kick_reports(a);
    } else {
      after(static_cast<std::int64_t>(uniform(100'000, 500'000)), [this, a, inc] {
        if (servers_[a].incarnation == inc) kick_reports(a);
      });
    }
  };
  const int l = leader_;
  // The call's deadline: a leader that crashed with the report in hand never answers.
  after(5'000'000, [answer] { answer(false); });
  auto no_answer = [this, answer] { after(1'000'000, [answer] { answer(false); }); };
  if (l < 0 || !reachable(a, l) || (a != l && chance(drop_p_))) return no_answer();
  after(a == l ? 0 : delay(), [this, a, l, req = std::move(*req), answer, no_answer] {
    server& target = servers_[l];
    if (!target.up || !reachable(a, l)) return no_answer();
    target.leader->report(req, [this, a, l, answer, no_answer](base::status st) {
      const bool ok = static_cast<bool>(st);
      trace(fmt::format("{} answers {}'s report: {}", servers_[l].name, servers_[a].name,
                        ok ? "ok" : st.err().message));
      if (!reachable(l, a) || (a != l && chance(drop_p_))) return no_answer();
      after(a == l ? 0 : delay(), [answer, ok] { answer(ok); });
    });
    kick(l);
  });
}

// ---- the run ----

sim_result world::run() {
  schedule_workload();
  schedule_faults();
  const std::int64_t end = start_us_ + opt_.fault_us + opt_.settle_us;
  std::uint64_t budget = 50'000'000;  // events: a runaway loop fails instead of hanging
  while (!events_.empty() && !failed()) {
    auto it = events_.begin();
    if (it->first.first > end) break;
    now_ = it->first.first;
    auto fn = std::move(it->second);
    events_.erase(it);
    fn();
    ++stats().events;
    if (--budget == 0) fail("the event budget ran out (a loop that never settles)");
  }
  now_ = std::max(now_, end);
  if (!failed()) checker_->final_checks(end);
  return result_;
}

}  // namespace sundial::sched_sim
