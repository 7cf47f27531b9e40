#include "agent/agent.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <map>

#include "base/time_format.h"

namespace sundial::agent {

namespace {

using namespace std::chrono;

std::int64_t to_us(base::wall_time t) {
  return duration_cast<microseconds>(t.time_since_epoch()).count();
}
base::wall_time from_us(std::int64_t us) {
  return base::wall_time{duration_cast<nanoseconds>(microseconds{us})};
}

constexpr std::string_view armed_state = "armed";
constexpr std::string_view running_state = "running";
constexpr std::string_view finished_state = "finished";

// The final lifecycle state of a result (state/execution_lifecycle.h names).
std::string_view final_state(const exec::run_result& r) {
  switch (r.how) {
    case exec::outcome::exited:
      return r.exit_code == 0 ? "succeeded" : "failed";
    case exec::outcome::signaled:
    case exec::outcome::spawn_failed:
      return "failed";
    case exec::outcome::timed_out:
      return "timed_out";
    case exec::outcome::stopped:
      return "stopped";
  }
  return "failed";
}

pb::RunEvent event_for(const pb::Run& run, std::string_view state) {
  pb::RunEvent ev;
  ev.set_job(run.job().name());
  ev.set_execution_id(run.execution_id());
  ev.set_state(std::string(state));
  ev.set_attempt(run.attempt());
  ev.set_scheduled_at_us(run.scheduled_at_us());
  return ev;
}

}  // namespace

std::vector<std::string> run_environment(const pb::Run& run, const std::string& node_name) {
  const auto slot = duration_cast<seconds>(microseconds{run.scheduled_at_us()});
  return {
      "SUNDIAL_JOB=" + run.job().name(),
      "SUNDIAL_SCHEDULED_AT=" + base::format_rfc3339_utc(base::seconds_time{slot}),
      "SUNDIAL_LAUNCH_ID=" + run.launch_id(),
      "SUNDIAL_ATTEMPT=" + std::to_string(run.attempt()),
      "SUNDIAL_MISSED=" + std::to_string(run.missed()),
      "SUNDIAL_EXECUTION_ID=" + run.execution_id(),
      "SUNDIAL_NODE=" + node_name,
  };
}

base::result<exec::shell_spec> shell_spec_for(const pb::Run& run, const std::string& node_name) {
  const auto& job = run.job();
  if (job.executor() != "shell") {
    return base::fail(base::errc::invalid_argument,
                      job.executor().empty()
                          ? std::string("the job has no executor (set \"executor\": \"shell\")")
                          : fmt::format("executor \"{}\" is not available on node {}",
                                        job.executor(), node_name));
  }
  std::map<std::string, std::string> config(job.executor_config().begin(),
                                            job.executor_config().end());
  auto spec = exec::shell_spec_from_config(config);
  if (!spec) return spec.err();
  // The job's own timeout and the executor's: the shorter one holds.
  if (job.timeout_s() > 0) {
    const nanoseconds t = seconds{job.timeout_s()};
    if (spec->timeout == nanoseconds{0} || t < spec->timeout) spec->timeout = t;
  }
  if (job.output_limit() > 0) spec->output_limit = job.output_limit();
  // The run's identity comes last so that the config cannot override it.
  for (auto& kv : run_environment(run, node_name))
    spec->env.push_back(std::move(kv));
  return spec;
}

agent::agent(agent_options o, exec::launcher& runner, report_fn report,
             std::unique_ptr<launch_store> store)
    : opt_(std::move(o)), runner_(runner), report_(std::move(report)), store_(std::move(store)) {}

base::result<std::unique_ptr<agent>> agent::start(agent_options o, exec::launcher& runner,
                                                  report_fn report) {
  auto store = launch_store::open(o.data_dir);
  if (!store) return store.err();
  std::unique_ptr<agent> a(new agent(std::move(o), runner, std::move(report), std::move(*store)));
  a->highest_epoch_ = a->store_->highest_epoch();
  a->started_at_us_ = a->now_us();
  if (auto st = a->recover(); !st) return st.err();
  if (a->opt_.report_thread) {
    a->persister_ = std::thread([p = a.get()] { p->persist_loop(); });
    a->reporter_ = std::thread([p = a.get()] { p->report_loop(); });
  }
  return a;
}

std::int64_t agent::now_us() const {
  const auto t = opt_.clock ? opt_.clock->now() : base::wall_time{system_clock::now()};
  return to_us(t);
}

agent::~agent() {
  shutdown();
}

// What a restart finds: finished results are reported again; runs that were going when the
// agent died are cleaned up (their process group killed if it is still the same one) and
// reported failed; armed runs are re-armed, or failed when their instant is long past.
base::status agent::recover() {
  auto all = store_->load();
  if (!all) return all.err();
  std::vector<std::string> forget;
  std::lock_guard lock(mu_);
  for (auto& rec : *all) {
    const std::string id = rec.run().execution_id();
    entry& e = launches_[id];
    e.rec = std::move(rec);
    if (e.rec.state() == finished_state) {
      outbox_.push_back(e.rec.result());
      continue;
    }
    if (e.rec.state() == running_state) {
      const int pgid = e.rec.pgid();
      runner_.kill_leftover_group(pgid, e.rec.pid_start_ticks());
      pb::RunEvent ev = event_for(e.rec.run(), "failed");
      ev.set_at_us(now_us());
      ev.set_error("the agent restarted while the run was active; its processes were stopped");
      finish_locked(e, std::move(ev));
      continue;
    }
    // An armed run: whether it started before the agent died cannot be known when its instant
    // has passed (the start is recorded after the spawn). Such a run is reported failed, not
    // started again: a launch runs at most once, and a retry (a new attempt, a new launch id)
    // is the job's policy to decide. A run still ahead is forgotten: the leader dispatches it
    // again if its record still waits for this node (and never if it was meanwhile declared
    // lost and retried elsewhere).
    const std::int64_t now = now_us();
    if (e.rec.run().run_at_us() > now) {
      forget.push_back(id);
      continue;
    }
    pb::RunEvent ev = event_for(e.rec.run(), "failed");
    ev.set_at_us(now);
    ev.set_error(
        "the agent restarted around the launch instant; the run may have started before it "
        "stopped, so it is not started again");
    finish_locked(e, std::move(ev));
  }
  for (const auto& id : forget)
    launches_.erase(id);
  if (!launches_.empty()) {
    spdlog::info("agent: found {} unfinished or unreported executions in {}", launches_.size(),
                 opt_.data_dir);
  }
  if (!forget.empty()) return store_->write({}, forget, 0);
  return {};
}

bool agent::is_known_locked(const std::string& id) const {
  return launches_.count(id) > 0 || remembered_.count(id) > 0;
}

void agent::remember_locked(const std::string& id) {
  if (!remembered_.insert(id).second) return;
  remembered_order_.push_back(id);
  while (remembered_order_.size() > opt_.remembered_ids) {
    remembered_.erase(remembered_order_.front());
    remembered_order_.pop_front();
  }
}

pb::DispatchResponse agent::dispatch(const pb::DispatchRequest& req) {
  pb::DispatchResponse resp;
  std::vector<pb::Run> to_arm;
  {
    std::lock_guard lock(mu_);
    if (req.epoch() < highest_epoch_) {
      for (const auto& run : req.runs()) {
        auto* ack = resp.add_acks();
        ack->set_execution_id(run.execution_id());
        ack->set_job(run.job().name());
        ack->set_outcome("stale_epoch");
        ack->set_error(fmt::format("epoch {} is lower than {}, the newest leader's", req.epoch(),
                                   highest_epoch_));
      }
      resp.set_highest_epoch(highest_epoch_);
      return resp;
    }
    std::vector<pb::AgentLaunch> fresh;
    for (const auto& run : req.runs()) {
      auto* ack = resp.add_acks();
      ack->set_execution_id(run.execution_id());
      ack->set_job(run.job().name());
      if (is_known_locked(run.execution_id())) {
        auto it = launches_.find(run.execution_id());
        ack->set_outcome("duplicate");
        ack->set_state(std::string(
            it == launches_.end() ? finished_state : std::string_view(it->second.rec.state())));
        continue;
      }
      ack->set_outcome("accepted");
      ack->set_state(std::string(armed_state));
      pb::AgentLaunch rec;
      *rec.mutable_run() = run;
      rec.set_state(std::string(armed_state));
      fresh.push_back(rec);
      launches_[run.execution_id()].rec = std::move(rec);
      to_arm.push_back(run);
    }
    // Durable before the leader hears "accepted": a restart then still knows the run.
    if (auto st = store_->write(fresh, {}, req.epoch()); !st) {
      spdlog::error("agent: {}", st.err().message);
      for (const auto& rec : fresh)
        launches_.erase(rec.run().execution_id());
      to_arm.clear();
      for (auto& ack : *resp.mutable_acks()) {
        if (ack.outcome() != "accepted") continue;
        ack.set_outcome("refused");
        ack.set_error("the agent cannot write its data dir: " + st.err().message);
      }
    }
    highest_epoch_ = std::max(highest_epoch_, req.epoch());
    resp.set_highest_epoch(highest_epoch_);
  }
  for (const auto& run : to_arm)
    arm(run);
  return resp;
}

void agent::arm(const pb::Run& run) {
  const std::string id = run.execution_id();
  auto spec = shell_spec_for(run, opt_.node_name);
  if (!spec) {
    std::lock_guard lock(mu_);
    auto it = launches_.find(id);
    if (it == launches_.end()) return;
    pb::RunEvent ev = event_for(run, "failed");
    ev.set_at_us(now_us());
    ev.set_error(spec.err().message);
    finish_locked(it->second, std::move(ev));
    return;
  }
  exec::run_callbacks cb;
  cb.on_started = [this, id](int pid, base::wall_time at) { on_started(id, pid, at); };
  cb.on_finished = [this, id](exec::run_result r) { on_finished(id, std::move(r)); };
  {
    std::lock_guard lock(mu_);
    ++with_runner_;  // before the spawn: its callback may come before spawn_at returns
  }
  auto rid = runner_.spawn_at(from_us(run.run_at_us()), std::move(*spec), std::move(cb));
  std::lock_guard lock(mu_);
  if (!rid) --with_runner_;  // refused: no callback will come
  auto it = launches_.find(id);
  if (it == launches_.end()) return;
  if (!rid) {
    pb::RunEvent ev = event_for(run, "failed");
    ev.set_at_us(now_us());
    ev.set_error("cannot start: " + rid.err().message);
    finish_locked(it->second, std::move(ev));
    return;
  }
  it->second.rid = *rid;
}

void agent::on_started(const std::string& id, int pid, base::wall_time at) {
  std::lock_guard lock(mu_);
  auto it = launches_.find(id);
  if (it == launches_.end()) return;
  entry& e = it->second;
  const std::int64_t at_us = to_us(at);
  if (opt_.observe_lateness && e.rec.run().run_at_us() > 0)
    opt_.observe_lateness(static_cast<double>(at_us - e.rec.run().run_at_us()) / 1e6);
  e.rec.set_state(std::string(running_state));
  // The process's identity (a /proc read) is taken by the persister, off the launch thread.
  e.rec.set_pgid(pid);
  pb::RunEvent ev = event_for(e.rec.run(), running_state);
  ev.set_at_us(at_us);
  outbox_.push_back(std::move(ev));
  dirty_.insert(id);
  ++running_;
  wake_locked();
}

void agent::on_finished(const std::string& id, exec::run_result r) {
  std::lock_guard lock(mu_);
  if (with_runner_ > 0) --with_runner_;
  if (stopping_) runner_cv_.notify_all();
  auto it = launches_.find(id);
  if (it == launches_.end()) return;
  entry& e = it->second;
  if (e.rec.state() == running_state && running_ > 0) --running_;
  pb::RunEvent ev = event_for(e.rec.run(), final_state(r));
  ev.set_at_us(to_us(r.finished_at));
  ev.set_exit_code(r.exit_code);
  ev.set_output(std::move(r.output));
  ev.set_output_truncated(r.output_truncated);
  ev.set_cpu_seconds(r.cpu_seconds);
  ev.set_max_rss_bytes(r.max_rss_bytes);
  if (r.how == exec::outcome::signaled && r.error.empty())
    r.error = fmt::format("killed by signal {}", r.signal);
  ev.set_error(std::move(r.error));
  finish_locked(e, std::move(ev));
}

void agent::finish_locked(entry& e, pb::RunEvent ev) {
  e.rec.set_state(std::string(finished_state));
  *e.rec.mutable_result() = ev;
  outbox_.push_back(std::move(ev));
  dirty_.insert(e.rec.run().execution_id());
  wake_locked();
}

// Wakes the persister and the reporter only when they wait for work: inside their windows
// they gather, and a notification per event would cost a context switch per run.
void agent::wake_locked() {
  if (persister_idle_ && !dirty_.empty()) {
    persister_idle_ = false;
    persist_cv_.notify_one();
  }
  if (reporter_idle_ && (!outbox_.empty() || kick_)) {
    reporter_idle_ = false;
    report_cv_.notify_one();
  }
}

pb::StopResponse agent::stop(const pb::StopRequest& req) {
  pb::StopResponse resp;
  exec::run_id rid{};
  {
    std::lock_guard lock(mu_);
    if (req.epoch() < highest_epoch_) {
      resp.set_stale_epoch(true);
      return resp;
    }
    auto it = launches_.find(req.execution_id());
    if (it == launches_.end() || it->second.rec.state() == finished_state) return resp;
    rid = it->second.rid;
  }
  if (rid.value() != 0) resp.set_found(runner_.stop(rid, std::nullopt));
  return resp;
}

pb::StatusResponse agent::status(const pb::StatusRequest& req) {
  pb::StatusResponse resp;
  std::lock_guard lock(mu_);
  resp.set_node_name(opt_.node_name);
  if (req.epoch() > highest_epoch_) {
    // A new leader asking: from now on its predecessors are fenced out.
    if (auto st = store_->write({}, {}, req.epoch()); st) highest_epoch_ = req.epoch();
  }
  resp.set_highest_epoch(highest_epoch_);
  resp.set_running(static_cast<std::uint32_t>(running_));
  resp.set_now_us(now_us());
  resp.set_started_at_us(started_at_us_);
  for (const auto& [k, v] : opt_.tags)
    (*resp.mutable_tags())[k] = v;
  for (const auto& [id, e] : launches_) {
    auto* l = resp.add_launches();
    l->set_execution_id(id);
    l->set_job(e.rec.run().job().name());
    l->set_state(e.rec.state());
  }
  return resp;
}

void agent::leader_changed() {
  std::lock_guard lock(mu_);
  kick_ = true;
  report_cv_.notify_all();
}

// Writes the records that changed since the last write. store_mu_ is taken before mu_ (and
// held through the write), so a record collected here cannot be written after the forget of
// complete_report() removed it: the store never keeps a record its agent has forgotten.
void agent::persist() {
  std::lock_guard store_lock(store_mu_);
  std::vector<pb::AgentLaunch> put;
  {
    std::lock_guard lock(mu_);
    for (const auto& id : dirty_) {
      if (auto it = launches_.find(id); it != launches_.end()) put.push_back(it->second.rec);
    }
    dirty_.clear();
  }
  if (put.empty()) return;
  for (auto& rec : put) {
    if (rec.state() == running_state && rec.pgid() > 0 && rec.pid_start_ticks() == 0)
      rec.set_pid_start_ticks(runner_.process_identity(rec.pgid()));
  }
  if (auto st = store_->write(put, {}, 0); !st) spdlog::error("agent: {}", st.err().message);
}

std::optional<pb::ReportRequest> agent::prepare_report() {
  std::lock_guard lock(mu_);
  pb::ReportRequest req;
  req.set_node_name(opt_.node_name);
  const std::size_t n = std::min(outbox_.size(), opt_.max_report_events);
  for (std::size_t i = 0; i < n; ++i)
    *req.add_events() = outbox_[i];
  if (n == 0) return std::nullopt;
  return req;
}

void agent::complete_report(std::size_t n, bool ok) {
  if (!ok) return;
  std::lock_guard store_lock(store_mu_);
  std::vector<std::string> forget;
  {
    std::lock_guard lock(mu_);
    for (std::size_t i = 0; i < n && !outbox_.empty(); ++i) {
      const pb::RunEvent& ev = outbox_.front();
      if (ev.state() != running_state) {
        forget.push_back(ev.execution_id());
        launches_.erase(ev.execution_id());
        remember_locked(ev.execution_id());
      }
      outbox_.pop_front();
    }
  }
  if (forget.empty()) return;
  if (auto st = store_->write({}, forget, 0); !st) spdlog::error("agent: {}", st.err().message);
}

std::optional<pb::ReportRequest> agent::take_report() {
  {
    std::lock_guard lock(mu_);
    if (report_out_ > 0 || stopping_) return std::nullopt;
  }
  auto req = prepare_report();
  std::lock_guard lock(mu_);
  if (req) report_out_ = static_cast<std::size_t>(req->events_size());
  return req;
}

void agent::report_answered(bool ok) {
  std::size_t n = 0;
  {
    std::lock_guard lock(mu_);
    n = report_out_;
    report_out_ = 0;
    if (stopping_) return;
  }
  complete_report(n, ok);
}

// Writes what changed a moment after it changed (a short window gathers the runs that start
// together into one transaction), whatever the reporter is doing: a run that started is on
// disk as running within about a millisecond, so a crash right after cannot make the restarted
// agent take it for one that never started (and run it again after a clock step back).
void agent::persist_loop() {
  std::unique_lock lock(mu_);
  while (true) {
    persister_idle_ = true;
    persist_cv_.wait(lock, [&] { return stopping_ || !dirty_.empty(); });
    persister_idle_ = false;
    if (stopping_ && dirty_.empty()) return;
    persist_cv_.wait_for(lock, opt_.persist_window, [&] { return stopping_; });
    lock.unlock();
    persist();
    lock.lock();
    if (stopping_ && dirty_.empty()) return;
  }
}

// Sends the oldest events, forgets what the leader committed; on a failure, backs off (100 ms
// doubling to 2 s) unless kicked by a leader change.
void agent::report_loop() {
  milliseconds backoff{0};
  std::unique_lock lock(mu_);
  while (true) {
    if (backoff > milliseconds{0}) {
      report_cv_.wait_for(lock, backoff, [&] { return stopping_ || kick_; });
    } else {
      reporter_idle_ = true;
      report_cv_.wait(lock, [&] { return stopping_ || kick_ || !outbox_.empty(); });
      reporter_idle_ = false;
      if (!stopping_ && !kick_) {
        // A short window gathers the events of runs that start or end together.
        report_cv_.wait_for(lock, opt_.report_window, [&] { return stopping_; });
      }
    }
    const bool last_round = stopping_;
    kick_ = false;
    lock.unlock();
    auto req = prepare_report();
    if (req) {
      const auto n = static_cast<std::size_t>(req->events_size());
      const base::status sent = report_(*req);
      complete_report(n, static_cast<bool>(sent));
      if (sent) {
        backoff = milliseconds{0};
      } else {
        spdlog::debug("agent: report of {} events not accepted: {}", n, sent.err().message);
        backoff = backoff == milliseconds{0} ? milliseconds{100}
                                             : std::min(backoff * 2, milliseconds{2000});
      }
    }
    lock.lock();
    if (last_round) return;
  }
}

void agent::shutdown() {
  {
    std::lock_guard lock(mu_);
    if (stopping_) return;
    stopping_ = true;
    persist_cv_.notify_all();
    report_cv_.notify_all();
  }
  if (reporter_.joinable()) reporter_.join();
  if (persister_.joinable()) persister_.join();
  std::vector<exec::run_id> going;
  {
    std::lock_guard lock(mu_);
    for (const auto& [id, e] : launches_)
      if (e.rec.state() != finished_state && e.rid.value() != 0) going.push_back(e.rid);
  }
  // Armed runs are cancelled and running ones stopped; the store keeps them as they were, so
  // the next start re-arms or reports them.
  for (auto rid : going)
    runner_.stop(rid, std::nullopt);
  std::unique_lock lock(mu_);
  if (!runner_cv_.wait_for(lock, seconds(30), [&] { return with_runner_ == 0; }))
    spdlog::error("agent: {} runs did not end within 30 s of the stop", with_runner_);
}

std::uint64_t agent::highest_epoch() const {
  std::lock_guard lock(mu_);
  return highest_epoch_;
}

std::size_t agent::running() const {
  std::lock_guard lock(mu_);
  return running_;
}

std::size_t agent::unreported() const {
  std::lock_guard lock(mu_);
  return outbox_.size();
}

}  // namespace sundial::agent
