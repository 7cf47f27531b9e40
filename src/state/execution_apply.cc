// Launch intents and the execution lifecycle in apply (ARCHITECTURE.md "Data flow of one run",
// steps 2 and 5; SEMANTICS.md "Launches", "Execution lifecycle", "Targets, retries, timeouts,
// chaining"). Deterministic: time comes in the commands (now_us, at_us), ids from
// base/launch_id.h, record order from the Raft index.
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "base/launch_id.h"
#include "state/execution_lifecycle.h"
#include "state/job_rules.h"
#include "state/job_tables.h"
#include "state/job_writes.h"

namespace sundial::state {

using namespace tables;

namespace {

// Records created by one command get seq = index << 20 | n: creation order, unique.
struct seq_source {
  std::uint64_t index;
  std::uint64_t next = 0;
  std::uint64_t take() { return (index << 20) | (next++ & 0xfffff); }
};

struct stored_exec {
  std::string key;
  pb::Execution e;
};

base::result<std::optional<stored_exec>> read_exec(const txn& t, const std::string& job,
                                                   const std::string& id) {
  auto key = t.get(t.env().exec_ids, exec_id_key(job, id));
  if (!key) return key.err();
  if (!*key) return std::optional<stored_exec>{};
  stored_exec s{std::string(**key), {}};
  auto v = t.get(t.env().execs, s.key);
  if (!v) return v.err();
  if (!*v) return std::optional<stored_exec>{};
  if (!s.e.ParseFromArray((*v)->data(), static_cast<int>((*v)->size())))
    return base::fail(base::errc::corruption, "state store: an execution does not decode");
  return std::optional<stored_exec>(std::move(s));
}

base::status put_active(txn& t, const pb::Execution& e) {
  const std::string k = exec_id_key(e.job_name(), e.id());
  auto st = parse_exec_state(e.state());
  if (st && is_final(*st)) return t.erase(t.env().active, k);
  return t.put(t.env().active, k, e.state());
}

// A new record of `j` (the caller writes `j`: its history grew).
base::status put_new_exec(txn& t, const pb::Execution& e, pb::Job& j) {
  const std::string key = exec_key(e);
  SUNDIAL_TRY(t.put(t.env().execs, key, e.SerializeAsString()));
  SUNDIAL_TRY(t.put(t.env().exec_ids, exec_id_key(e.job_name(), e.id()), key));
  SUNDIAL_TRY(put_active(t, e));
  j.set_history_size(j.history_size() + 1);
  return {};
}

base::result<std::optional<pb::LaunchRecord>> read_launch(const txn& t, const std::string& job,
                                                          std::int64_t slot_us) {
  auto v = t.get(t.env().launches, launch_key(job, slot_us));
  if (!v) return v.err();
  if (!*v) return std::optional<pb::LaunchRecord>{};
  pb::LaunchRecord r;
  if (!r.ParseFromArray((*v)->data(), static_cast<int>((*v)->size())))
    return base::fail(base::errc::corruption, "state store: a launch record does not decode");
  return std::optional<pb::LaunchRecord>(std::move(r));
}

base::status put_launch(txn& t, const std::string& job, std::int64_t slot_us,
                        const pb::LaunchRecord& r) {
  return t.put(t.env().launches, launch_key(job, slot_us), r.SerializeAsString());
}

void note_change(pb::BatchResult& out, const pb::Execution& e) {
  auto* c = out.add_changed();
  c->set_job(e.job_name());
  c->set_id(e.id());
  c->set_state(e.state());
  c->set_node_name(e.node_name());
  c->set_retry_at_us(e.retry_at_us());
}

void refuse(pb::BatchResult& out, const std::string& what, const std::string& why) {
  spdlog::warn("refused {}: {}", what, why);
  out.add_refused(fmt::format("{}: {}", what, why));
}

// A pending record for each target of a new launch of `j` at `slot_us`; false when the slot
// was launched before (the slot key makes a second intent a no-op).
base::result<bool> create_launch(txn& t, seq_source& seq, pb::Job& j, std::int64_t slot_us,
                                 const std::string& launch_id,
                                 const google::protobuf::RepeatedPtrField<std::string>& targets,
                                 std::uint64_t epoch, std::uint32_t missed,
                                 const std::string& trigger, const std::string& parent_execution,
                                 std::int64_t now_us, pb::BatchResult& out) {
  auto prior = read_launch(t, j.name(), slot_us);
  if (!prior) return prior.err();
  if (*prior) return false;
  const std::size_t n = targets.empty() ? 1 : static_cast<std::size_t>(targets.size());
  pb::LaunchRecord lr;
  for (std::size_t i = 0; i < n; ++i) {
    pb::Execution e;
    e.set_id(base::make_execution_id(launch_id, i, n));
    e.set_job_name(j.name());
    e.set_group(slot_us);
    e.set_attempt(1);
    e.set_state(std::string(to_string(exec_state::pending)));
    if (!targets.empty()) e.set_node_name(targets[static_cast<int>(i)]);
    e.set_scheduled_at_us(slot_us);
    e.set_launch_id(launch_id);
    e.set_missed(missed);
    e.set_trigger(trigger);
    e.set_created_at_us(now_us);
    e.set_updated_at_us(now_us);
    e.set_seq(seq.take());
    e.set_epoch(epoch);
    e.set_parent_execution(parent_execution);
    SUNDIAL_TRY(put_new_exec(t, e, j));
    lr.add_execution_ids(e.id());
    out.add_created(e.id());
    note_change(out, e);
  }
  lr.set_open(static_cast<std::uint32_t>(n));
  SUNDIAL_TRY(put_launch(t, j.name(), slot_us, lr));
  return true;
}

// The run group of `lr` ended: the job's status, its dependents, and whether an ephemeral job
// is to be deleted now (SEMANTICS.md "Targets, retries, timeouts, chaining").
base::result<bool> end_group(txn& t, seq_source& seq, pb::Job& j, const pb::LaunchRecord& lr,
                             const pb::Execution& last, std::int64_t now_us, pb::BatchResult& out) {
  const bool success = lr.failed() == 0;
  j.set_status(success ? "success" : lr.succeeded() > 0 ? "partially_failed" : "failed");
  for (const std::string& name : j.dependent_jobs()) {
    auto c = read_job(t, name);
    if (!c) return c.err();
    if (!*c || (*c)->disabled()) continue;
    pb::Job child = std::move(**c);
    const std::string& on = child.on_parent().empty() ? "success" : child.on_parent();
    if (on != "always" && (on == "success") != success) continue;
    google::protobuf::RepeatedPtrField<std::string> unplaced;
    auto made = create_launch(t, seq, child, last.group(),
                              base::make_launch_id(child.name(), last.group(), 1), unplaced,
                              last.epoch(), 0, "dependent", last.id(), now_us, out);
    if (!made) return made.err();
    if (!*made) continue;
    SUNDIAL_TRY(prune_history(t, child));
    SUNDIAL_TRY(put_job(t, child));
  }
  return success && j.ephemeral() && j.dependent_jobs_size() == 0;
}

// More targets for a launch placed after its intent: a pending record per node, beside `first`.
base::status add_targets(txn& t, seq_source& seq, pb::Job& j, const pb::Execution& first,
                         const google::protobuf::RepeatedPtrField<std::string>& nodes,
                         std::int64_t now_us, pb::BatchResult& out) {
  auto lr = read_launch(t, j.name(), first.group());
  if (!lr) return lr.err();
  if (!*lr) return {};
  pb::LaunchRecord r = std::move(**lr);
  int n = 0;
  for (const auto& node : nodes) {
    pb::Execution e = first;
    e.set_id(first.id() + "-" + std::to_string(++n));
    e.set_state(std::string(to_string(exec_state::pending)));
    e.set_node_name(node);
    e.set_created_at_us(now_us);
    e.set_updated_at_us(now_us);
    e.set_seq(seq.take());
    SUNDIAL_TRY(put_new_exec(t, e, j));
    r.add_execution_ids(e.id());
    r.set_open(r.open() + 1);
    out.add_created(e.id());
    note_change(out, e);
  }
  return put_launch(t, j.name(), first.group(), r);
}

// The next attempt of a record that ended retryable, waiting in `retrying`.
pb::Execution next_attempt(const pb::Job& j, const pb::Execution& e, const pb::ExecutionUpdate& u,
                           seq_source& seq, std::int64_t now_us) {
  const std::uint32_t attempt = e.attempt() + 1;
  const std::string launch_id = !u.retry_launch_id().empty()
                                    ? u.retry_launch_id()
                                    : base::make_launch_id(j.name(), e.group(), attempt);
  pb::Execution r;
  // A record of a multi-target launch keeps its "-<index>" suffix across attempts.
  const std::string suffix =
      e.id().size() > e.launch_id().size() ? e.id().substr(e.launch_id().size()) : "";
  r.set_id(launch_id + suffix);
  r.set_job_name(j.name());
  r.set_group(e.group());
  r.set_attempt(attempt);
  r.set_state(std::string(to_string(exec_state::retrying)));
  if (j.retry_on() == "same_node") r.set_node_name(e.node_name());
  r.set_scheduled_at_us(e.scheduled_at_us());
  r.set_launch_id(launch_id);
  r.set_missed(e.missed());
  r.set_trigger("retry");
  r.set_created_at_us(now_us);
  r.set_updated_at_us(now_us);
  r.set_seq(seq.take());
  r.set_epoch(u.epoch());
  r.set_parent_execution(e.parent_execution());
  r.set_retry_at_us(u.retry_at_us() > 0 ? u.retry_at_us()
                                        : now_us + j.retry_backoff_s() * 1'000'000);
  return r;
}

void count_outcome(pb::Job& j, exec_state to, std::int64_t at_us) {
  switch (to) {
    case exec_state::succeeded:
      j.set_success_count(j.success_count() + 1);
      j.set_last_success_us(at_us);
      break;
    case exec_state::lost:
      j.set_lost_count(j.lost_count() + 1);
      [[fallthrough]];
    case exec_state::failed:
    case exec_state::timed_out:
      j.set_error_count(j.error_count() + 1);
      j.set_last_error_us(at_us);
      break;
    default:  // stopped: the user's decision, neither a success nor an error
      break;
  }
}

// The enter handler of the final states: counters, the next attempt or the group's end.
// Returns whether the (ephemeral) job is to be deleted.
base::result<bool> enter_final(txn& t, seq_source& seq, pb::Job& j, const pb::Execution& e,
                               exec_state to, const pb::ExecutionUpdate& u, std::int64_t now_us,
                               pb::BatchResult& out) {
  count_outcome(j, to, e.finished_at_us());
  auto lr = read_launch(t, j.name(), e.group());
  if (!lr) return lr.err();
  if (!*lr) return false;  // written before launch records existed: no group to end
  pb::LaunchRecord r = std::move(**lr);
  bool remove_job = false;
  if (is_retryable(to) && e.attempt() <= j.retries()) {
    pb::Execution next = next_attempt(j, e, u, seq, now_us);
    SUNDIAL_TRY(put_new_exec(t, next, j));
    r.add_execution_ids(next.id());
    out.add_created(next.id());
    note_change(out, next);
  } else {
    r.set_open(r.open() > 0 ? r.open() - 1 : 0);
    if (to == exec_state::succeeded)
      r.set_succeeded(r.succeeded() + 1);
    else
      r.set_failed(r.failed() + 1);
    if (r.open() == 0 && !r.ended()) {
      r.set_ended(true);
      auto del = end_group(t, seq, j, r, e, now_us, out);
      if (!del) return del.err();
      remove_job = *del;
    }
  }
  SUNDIAL_TRY(put_launch(t, j.name(), e.group(), r));
  return remove_job;
}

// Copies what an update reports into the record entering `to`.
void record_update(pb::Execution& e, exec_state to, const pb::ExecutionUpdate& u,
                   std::int64_t now_us) {
  if (!u.node_name().empty()) e.set_node_name(u.node_name());
  if (u.epoch() > 0) e.set_epoch(u.epoch());
  // A stop's reason (given when it entered stopping: by request, replaced, job disabled) is kept
  // over the executor's account of how it killed the process.
  const bool keep_reason = to == exec_state::stopped && !e.error().empty();
  if (!u.error().empty() && !keep_reason) e.set_error(u.error());
  const std::int64_t at = u.at_us() > 0 ? u.at_us() : now_us;
  if (to == exec_state::running) e.set_started_at_us(at);
  if (is_final(to)) {
    e.set_finished_at_us(at);
    e.set_success(to == exec_state::succeeded);
    if (to != exec_state::lost || u.exit_code() != 0) e.set_exit_code(u.exit_code());
    if (!u.output().empty()) e.set_output(u.output());
    e.set_output_truncated(u.output_truncated());
    e.set_cpu_seconds(u.cpu_seconds());
    e.set_max_rss_bytes(u.max_rss_bytes());
  }
  e.set_state(std::string(to_string(to)));
  e.set_updated_at_us(now_us);
}

}  // namespace

base::status forget_launch_record(txn& t, const pb::Execution& e) {
  auto lr = read_launch(t, e.job_name(), e.group());
  if (!lr) return lr.err();
  if (!*lr) return {};
  pb::LaunchRecord r = std::move(**lr);
  auto* ids = r.mutable_execution_ids();
  for (int i = 0; i < ids->size(); ++i) {
    if ((*ids)[i] == e.id()) {
      ids->DeleteSubrange(i, 1);
      break;
    }
  }
  if (ids->empty()) return t.erase(t.env().launches, launch_key(e.job_name(), e.group()));
  return put_launch(t, e.job_name(), e.group(), r);
}

base::result<pb::BatchResult> apply_launch_batch(txn& t, std::uint64_t index,
                                                 const pb::LaunchBatch& c) {
  pb::BatchResult out;
  seq_source seq{index};
  for (const auto& a : c.advances()) {
    auto j = read_job(t, a.job());
    if (!j) return j.err();
    if (!*j) continue;  // deleted meanwhile: nothing to advance
    pb::Job job = std::move(**j);
    if (a.last_slot_us() <= job.last_slot_us()) continue;
    job.set_last_slot_us(a.last_slot_us());
    job.set_skipped_count(job.skipped_count() + a.skipped());
    job.set_next_us(next_fire_us(job, a.last_slot_us()));
    SUNDIAL_TRY(put_job(t, job));
  }
  for (const auto& in : c.intents()) {
    const std::string what = fmt::format("launch {} of job {}", in.launch_id(), in.job());
    if (in.launch_id().empty()) {
      refuse(out, what, "a launch needs a launch_id");
      continue;
    }
    auto j = read_job(t, in.job());
    if (!j) return j.err();
    if (!*j) {
      refuse(out, what, "the job does not exist");
      continue;
    }
    pb::Job job = std::move(**j);
    auto made = create_launch(t, seq, job, in.slot_us(), in.launch_id(), in.targets(), in.epoch(),
                              in.missed(), in.trigger(), "", c.now_us(), out);
    if (!made) return made.err();
    if (!*made) out.set_duplicates(out.duplicates() + 1);
    if (in.scheduled() && in.slot_us() > job.last_slot_us()) {
      job.set_last_slot_us(in.slot_us());
      job.set_next_us(next_fire_us(job, in.slot_us()));
    }
    if (!*made && !in.scheduled()) continue;
    SUNDIAL_TRY(prune_history(t, job));
    SUNDIAL_TRY(put_job(t, job));
  }
  return out;
}

base::result<pb::BatchResult> apply_execution_updates(txn& t, std::uint64_t index,
                                                      const pb::ExecutionUpdates& c) {
  pb::BatchResult out;
  seq_source seq{index};
  for (const auto& u : c.updates()) {
    const std::string what = fmt::format("execution {} of job {}", u.id(), u.job());
    auto s = read_exec(t, u.job(), u.id());
    if (!s) return s.err();
    if (!*s) {
      refuse(out, what, "no such execution");
      continue;
    }
    stored_exec& rec = **s;
    const auto from = parse_exec_state(rec.e.state());
    const auto to = parse_exec_state(u.state());
    if (!from) {
      refuse(out, what, fmt::format("its state \"{}\" is not a lifecycle state", rec.e.state()));
      continue;
    }
    if (!to) {
      refuse(out, what, fmt::format("\"{}\" is not a lifecycle state", u.state()));
      continue;
    }
    if (!transition_allowed(*from, *to)) {
      refuse(out, what,
             fmt::format("{} cannot become {} ({} may become {})", to_string(*from), to_string(*to),
                         to_string(*from), allowed_targets_text(*from)));
      continue;
    }
    const bool was_unplaced = rec.e.node_name().empty();
    record_update(rec.e, *to, u, c.now_us());
    SUNDIAL_TRY(t.put(t.env().execs, rec.key, rec.e.SerializeAsString()));
    SUNDIAL_TRY(put_active(t, rec.e));
    note_change(out, rec.e);
    // Most steps (dispatched, stopping) change nothing of the job: it is neither read nor
    // rewritten then (a run is three or four steps; the job record is the biggest write).
    const bool more_targets =
        *to == exec_state::dispatched && was_unplaced && u.extra_nodes_size() > 0;
    if (!more_targets && !is_final(*to) && *to != exec_state::running) continue;
    auto j = read_job(t, u.job());
    if (!j) return j.err();
    if (!*j) continue;  // records go with their job, so this is a record of a deleted job
    pb::Job job = std::move(**j);
    bool remove_job = false;
    if (*to == exec_state::running) {
      if (job.status() == "running") continue;
      job.set_status("running");
    }
    if (more_targets) {
      auto made = add_targets(t, seq, job, rec.e, u.extra_nodes(), c.now_us(), out);
      if (!made) return made.err();
    }
    if (is_final(*to)) {
      auto del = enter_final(t, seq, job, rec.e, *to, u, c.now_us(), out);
      if (!del) return del.err();
      remove_job = *del;
    }
    if (more_targets || is_final(*to)) SUNDIAL_TRY(prune_history(t, job));
    SUNDIAL_TRY(put_job(t, job));
    if (remove_job) {
      job_outcome gone = delete_job(t, job.name());
      if (!gone.ok)
        spdlog::warn("ephemeral job {} not deleted: {}", job.name(), gone.message);
      else
        out.add_deleted_jobs(job.name());
    }
  }
  return out;
}

}  // namespace sundial::state
