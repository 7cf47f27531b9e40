#include "state/job_store.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <set>

#include "base/launch_id.h"
#include "state/job_rules.h"
#include "state/job_tables.h"
#include "state/job_writes.h"

namespace sundial::state {

using base::errc;
using base::fail;
using namespace tables;

namespace {

job_outcome error_outcome(errc code, std::string message) {
  return job_outcome(base::error{code, std::move(message)});
}
job_outcome ok_outcome(const pb::Job* j = nullptr) {
  job_outcome o;
  o.ok = true;
  if (j) o.job = *j;
  return o;
}

}  // namespace

pb::LaunchBatch run_now_intent(const std::string& name, std::int64_t now_us) {
  pb::LaunchBatch b;
  b.set_now_us(now_us);
  auto* in = b.add_intents();
  in->set_job(name);
  in->set_slot_us(now_us);
  in->set_launch_id(base::make_launch_id(name, now_us, 1));
  in->set_trigger("run_now");
  in->set_scheduled(false);
  return b;
}

std::string encode_command(job_command type, const google::protobuf::Message& body) {
  std::string out(1, static_cast<char>(type));
  body.AppendToString(&out);
  return out;
}

std::string encode_outcome(const job_outcome& o) {
  if (!o.ok) return fmt::format("error {} {}", base::to_string(o.code), o.message);
  if (o.batch) return "ok batch\n" + o.batch->SerializeAsString();
  std::string out = "ok\n";
  if (o.job) o.job->AppendToString(&out);
  return out;
}

job_outcome decode_outcome(std::string_view text) {
  if (text.rfind("ok batch\n", 0) == 0) {
    job_outcome o = ok_outcome();
    text.remove_prefix(9);
    pb::BatchResult b;
    if (b.ParseFromArray(text.data(), static_cast<int>(text.size()))) o.batch = std::move(b);
    return o;
  }
  if (text.rfind("ok\n", 0) == 0) {
    job_outcome o = ok_outcome();
    text.remove_prefix(3);
    if (!text.empty()) {
      pb::Job j;
      if (j.ParseFromArray(text.data(), static_cast<int>(text.size()))) o.job = std::move(j);
    }
    return o;
  }
  if (text.rfind("error ", 0) == 0) {
    text.remove_prefix(6);
    const auto sp = text.find(' ');
    const std::string_view code = text.substr(0, sp);
    const std::string message(sp == std::string_view::npos ? "" : text.substr(sp + 1));
    for (errc c : {errc::invalid_argument, errc::not_found, errc::conflict, errc::too_large,
                   errc::unavailable, errc::io_error, errc::corruption}) {
      if (base::to_string(c) == code) return error_outcome(c, message);
    }
    return error_outcome(errc::internal, message);
  }
  return error_outcome(errc::internal, std::string(text));
}

namespace {

// Each command runs inside the apply transaction `t`; a refusal returns before anything is
// committed (the transaction aborts), so a refused command changes nothing.
job_outcome set_job(txn& t, pb::Job job, std::int64_t now_us, bool create_only) {
  if (is_paused(t)) {
    return error_outcome(errc::unavailable,
                         "the cluster is paused: jobs cannot be created or changed until "
                         "POST /v1/unpause");
  }
  SUNDIAL_TRY(normalize_job(job));
  auto existing = read_job(t, job.name());
  if (!existing) return existing.err();
  if (create_only && *existing)
    return error_outcome(errc::conflict, fmt::format("job {} already exists", job.name()));
  if (!job.parent_job().empty()) {
    // The parent must exist and the chain of parents above it must not lead back here.
    std::string p = job.parent_job();
    std::set<std::string> seen;
    while (!p.empty()) {
      if (p == job.name()) {
        return error_outcome(errc::invalid_argument,
                             fmt::format("parent_job {} would make a cycle through {}",
                                         job.parent_job(), job.name()));
      }
      if (!seen.insert(p).second) break;
      auto pj = read_job(t, p);
      if (!pj) return pj.err();
      if (!*pj) {
        return error_outcome(errc::not_found,
                             p == job.parent_job()
                                 ? fmt::format("parent_job {} does not exist", p)
                                 : fmt::format("job {} in the parent chain does not exist", p));
      }
      p = (*pj)->parent_job();
    }
  }
  if (*existing) {
    const pb::Job& old = **existing;
    // Counters, history and the dependents list belong to the store.
    job.set_status(old.status());
    job.set_success_count(old.success_count());
    job.set_error_count(old.error_count());
    job.set_last_success_us(old.last_success_us());
    job.set_last_error_us(old.last_error_us());
    job.set_history_size(old.history_size());
    job.set_created_at_us(old.created_at_us());
    *job.mutable_dependent_jobs() = old.dependent_jobs();
    if (old.parent_job() != job.parent_job() && !old.parent_job().empty()) {
      auto op = read_job(t, old.parent_job());
      if (op && *op) {
        pb::Job parent = std::move(**op);
        auto* deps = parent.mutable_dependent_jobs();
        deps->erase(std::remove(deps->begin(), deps->end(), job.name()), deps->end());
        SUNDIAL_TRY(put_job(t, parent));
      }
    }
  } else {
    job.set_created_at_us(now_us);
    job.clear_status();
    job.clear_success_count();
    job.clear_error_count();
    job.clear_last_success_us();
    job.clear_last_error_us();
    job.clear_history_size();
  }
  job.set_updated_at_us(now_us);
  job.set_next_us(next_fire_us(job, now_us));
  if (!job.parent_job().empty()) {
    auto pj = read_job(t, job.parent_job());
    if (!pj || !*pj) return error_outcome(errc::internal, "parent vanished");
    pb::Job parent = std::move(**pj);
    auto& deps = *parent.mutable_dependent_jobs();
    if (std::find(deps.begin(), deps.end(), job.name()) == deps.end()) {
      parent.add_dependent_jobs(job.name());
      std::sort(deps.begin(), deps.end());
      SUNDIAL_TRY(put_job(t, parent));
    }
  }
  SUNDIAL_TRY(put_job(t, job));
  return ok_outcome(&job);
}

job_outcome set_jobs(txn& t, const pb::SetJobs& c) {
  // All or nothing: the first failure aborts the transaction. Parents may come after their
  // children in the list, so jobs whose parent is not there yet wait for a later pass.
  std::set<std::string> names;
  for (const auto& j : c.jobs()) {
    if (!names.insert(j.name()).second)
      return error_outcome(errc::invalid_argument, fmt::format("job {} appears twice", j.name()));
  }
  std::vector<const pb::Job*> todo;
  for (const auto& j : c.jobs())
    todo.push_back(&j);
  while (!todo.empty()) {
    std::vector<const pb::Job*> later;
    for (const pb::Job* j : todo) {
      if (!j->parent_job().empty() && names.count(j->parent_job()) > 0) {
        auto p = read_job(t, j->parent_job());
        if (p && !*p) {
          later.push_back(j);
          continue;
        }
      }
      job_outcome one = set_job(t, *j, c.now_us(), false);
      if (!one.ok) {
        one.message = fmt::format("job {}: {}", j->name(), one.message);
        return one;
      }
    }
    if (later.size() == todo.size()) {
      return error_outcome(errc::invalid_argument,
                           fmt::format("job {}: parent_job {} would make a cycle",
                                       later.front()->name(), later.front()->parent_job()));
    }
    todo = std::move(later);
  }
  return ok_outcome();
}

// Deletes every key starting with `prefix` in `dbi` (a job's history), in key order, at most
// `limit` of them; calls `each` with every deleted value first. Returns how many.
template <class F>
base::result<std::uint64_t> erase_prefix(txn& t, MDB_dbi dbi, const std::string& prefix,
                                         std::uint64_t limit, F each) {
  auto c = cursor::open(t, dbi);
  if (!c) return c.err();
  MDB_val k = mdb_val(prefix), v;
  std::uint64_t n = 0;
  int rc = mdb_cursor_get((*c)->c, &k, &v, MDB_SET_RANGE);
  while (rc == 0 && n < limit && mdb_view(k).substr(0, prefix.size()) == prefix) {
    SUNDIAL_TRY(each(mdb_view(v)));
    if (int d = mdb_cursor_del((*c)->c, 0); d != 0) return lmdb_error("delete", d);
    ++n;
    rc = mdb_cursor_get((*c)->c, &k, &v, MDB_GET_CURRENT);
  }
  if (rc != 0 && rc != MDB_NOTFOUND && rc != EINVAL) return lmdb_error("delete", rc);
  return n;
}

base::status no_op(std::string_view) {
  return {};
}

}  // namespace

// Removes the oldest executions of `j` beyond its history limit (the range's first keys),
// with their id entries, their active entries and, once a slot has no record left, its
// launch record.
base::status prune_history(txn& t, pb::Job& j) {
  if (j.history_size() <= j.history_limit()) return {};
  const std::uint64_t extra = j.history_size() - j.history_limit();
  auto n = erase_prefix(t, t.env().execs, exec_prefix(j.name()), extra,
                        [&](std::string_view v) -> base::status {
                          pb::Execution e;
                          if (!e.ParseFromArray(v.data(), static_cast<int>(v.size()))) return {};
                          SUNDIAL_TRY(t.erase(t.env().exec_ids, exec_id_key(j.name(), e.id())));
                          SUNDIAL_TRY(t.erase(t.env().active, exec_id_key(j.name(), e.id())));
                          return forget_launch_record(t, e);
                        });
  if (!n) return n.err();
  j.set_history_size(j.history_size() - static_cast<std::uint32_t>(*n));
  return {};
}

base::status erase_history(txn& t, const std::string& name) {
  for (MDB_dbi dbi : {t.env().execs, t.env().exec_ids, t.env().launches, t.env().active}) {
    if (auto n = erase_prefix(t, dbi, exec_prefix(name), ~0ull, no_op); !n) return n.err();
  }
  return {};
}

job_outcome delete_job(txn& t, const std::string& name) {
  auto existing = read_job(t, name);
  if (!existing) return existing.err();
  if (!*existing) return error_outcome(errc::not_found, fmt::format("job {} does not exist", name));
  const pb::Job& j = **existing;
  if (j.dependent_jobs_size() > 0) {
    std::string list;
    for (const auto& d : j.dependent_jobs())
      list += (list.empty() ? "" : ", ") + d;
    return error_outcome(errc::conflict,
                         fmt::format("job {} has dependent jobs ({}): delete them or change their "
                                     "parent_job first",
                                     name, list));
  }
  if (!j.parent_job().empty()) {
    auto pj = read_job(t, j.parent_job());
    if (pj && *pj) {
      pb::Job parent = std::move(**pj);
      auto* deps = parent.mutable_dependent_jobs();
      deps->erase(std::remove(deps->begin(), deps->end(), name), deps->end());
      SUNDIAL_TRY(put_job(t, parent));
    }
  }
  SUNDIAL_TRY(erase_history(t, name));
  SUNDIAL_TRY(remove_job(t, j));
  return ok_outcome(&j);
}

namespace {

job_outcome toggle_job(txn& t, const std::string& name, std::int64_t now_us) {
  if (is_paused(t))
    return error_outcome(errc::unavailable, "the cluster is paused: jobs cannot be changed");
  auto existing = read_job(t, name);
  if (!existing) return existing.err();
  if (!*existing) return error_outcome(errc::not_found, fmt::format("job {} does not exist", name));
  pb::Job j = std::move(**existing);
  j.set_disabled(!j.disabled());
  j.set_updated_at_us(now_us);
  SUNDIAL_TRY(put_job(t, j));
  return ok_outcome(&j);
}

job_outcome put_execution(txn& t, const pb::Execution& e, bool done) {
  if (e.id().empty() || e.job_name().empty())
    return error_outcome(errc::invalid_argument, "an execution needs an id and a job_name");
  auto existing = read_job(t, e.job_name());
  if (!existing) return existing.err();
  if (!*existing)
    return error_outcome(errc::not_found, fmt::format("job {} does not exist", e.job_name()));
  pb::Job j = std::move(**existing);
  // The same execution may be written several times (running, then done): one record.
  const std::string id_key = exec_id_key(e.job_name(), e.id());
  auto prior = t.get(t.env().exec_ids, id_key);
  if (!prior) return prior.err();
  const bool is_new = !*prior;
  if (!is_new) SUNDIAL_TRY(t.erase(t.env().execs, std::string(**prior)));
  const std::string key = exec_key(e);
  SUNDIAL_TRY(t.put(t.env().execs, key, e.SerializeAsString()));
  SUNDIAL_TRY(t.put(t.env().exec_ids, id_key, key));
  if (is_new) j.set_history_size(j.history_size() + 1);
  if (done) {
    if (e.success()) {
      j.set_success_count(j.success_count() + 1);
      j.set_last_success_us(e.finished_at_us());
      j.set_status("success");
    } else {
      j.set_error_count(j.error_count() + 1);
      j.set_last_error_us(e.finished_at_us());
      j.set_status("failed");
    }
  } else {
    j.set_status("running");
  }
  SUNDIAL_TRY(prune_history(t, j));
  SUNDIAL_TRY(put_job(t, j));
  return ok_outcome(&j);
}

job_outcome delete_executions(txn& t, const std::string& name) {
  auto existing = read_job(t, name);
  if (!existing) return existing.err();
  if (!*existing) return error_outcome(errc::not_found, fmt::format("job {} does not exist", name));
  pb::Job j = std::move(**existing);
  SUNDIAL_TRY(erase_history(t, name));
  j.clear_success_count();
  j.clear_error_count();
  j.clear_last_success_us();
  j.clear_last_error_us();
  j.clear_status();
  j.clear_history_size();
  SUNDIAL_TRY(put_job(t, j));
  return ok_outcome(&j);
}

job_outcome batch_outcome(base::result<pb::BatchResult> r) {
  if (!r) return job_outcome(r.err());
  job_outcome o = ok_outcome();
  o.batch = std::move(r).value();
  return o;
}

job_outcome run_command(txn& t, std::uint64_t index, job_command type, std::string_view body) {
  const int size = static_cast<int>(body.size());
  const job_outcome undecodable = error_outcome(errc::invalid_argument, "undecodable command");
  switch (type) {
    case job_command::set_job: {
      pb::SetJob c;
      if (!c.ParseFromArray(body.data(), size)) return undecodable;
      return set_job(t, c.job(), c.now_us(), c.create_only());
    }
    case job_command::set_jobs: {
      pb::SetJobs c;
      if (!c.ParseFromArray(body.data(), size)) return undecodable;
      return set_jobs(t, c);
    }
    case job_command::delete_job: {
      pb::DeleteJob c;
      if (!c.ParseFromArray(body.data(), size)) return undecodable;
      return delete_job(t, c.name());
    }
    case job_command::toggle_job: {
      pb::ToggleJob c;
      if (!c.ParseFromArray(body.data(), size)) return undecodable;
      return toggle_job(t, c.name(), c.now_us());
    }
    case job_command::set_execution:
    case job_command::execution_done: {
      pb::SetExecution c;
      if (!c.ParseFromArray(body.data(), size)) return undecodable;
      return put_execution(t, c.execution(), type == job_command::execution_done);
    }
    case job_command::delete_executions: {
      pb::DeleteExecutions c;
      if (!c.ParseFromArray(body.data(), size)) return undecodable;
      return delete_executions(t, c.job_name());
    }
    case job_command::launch_batch: {
      pb::LaunchBatch c;
      if (!c.ParseFromArray(body.data(), size)) return undecodable;
      return batch_outcome(apply_launch_batch(t, index, c));
    }
    case job_command::execution_updates: {
      pb::ExecutionUpdates c;
      if (!c.ParseFromArray(body.data(), size)) return undecodable;
      return batch_outcome(apply_execution_updates(t, index, c));
    }
    case job_command::set_pause: {
      pb::SetPause c;
      if (!c.ParseFromArray(body.data(), size)) return undecodable;
      SUNDIAL_TRY(t.put(t.env().meta, "paused", c.paused() ? "1" : "0"));
      return ok_outcome();
    }
  }
  return error_outcome(errc::invalid_argument,
                       fmt::format("unknown job command {}", static_cast<int>(type)));
}

}  // namespace

std::string job_store::apply(std::uint64_t index, std::uint8_t type, std::string_view body) {
  auto t = txn::write(db_.current());
  if (!t) return encode_outcome(t.err());
  job_outcome out = run_command(*t, index, static_cast<job_command>(type), body);
  if (!out.ok) return encode_outcome(out);  // the transaction aborts: nothing changes
  if (auto st = db_.set_applied(*t, index); !st) return encode_outcome(st.err());
  if (auto st = t->commit(); !st) return encode_outcome(st.err());
  db_.note_applied(index);
  if (observer_) notify(static_cast<job_command>(type), body, out);
  return encode_outcome(out);
}

void job_store::notify(job_command type, std::string_view body, const job_outcome& out) const {
  applied_change c;
  const int size = static_cast<int>(body.size());
  switch (type) {
    case job_command::set_job:
    case job_command::delete_job:
    case job_command::toggle_job:
      if (out.job) c.jobs.push_back(out.job->name());
      // A job moved under another parent changes the old and new parents' dependents: they
      // are not scheduled by those lists, so the job itself is enough.
      break;
    case job_command::set_jobs:
    case job_command::set_pause:
      c.all_jobs = true;
      break;
    case job_command::launch_batch:
    case job_command::execution_updates:
      if (out.batch) {
        c.executions = &*out.batch;
        for (const auto& name : out.batch->deleted_jobs())
          c.jobs.push_back(name);
      }
      break;
    case job_command::delete_executions: {
      pb::DeleteExecutions d;
      if (d.ParseFromArray(body.data(), size)) c.jobs.push_back(d.job_name());
      break;
    }
    default:
      return;
  }
  observer_(c);
}

base::status job_store::load_image(txn& t, const pb::JobStoreImage& image) {
  for (const auto& j : image.jobs())
    SUNDIAL_TRY(put_job(t, j));
  for (const auto& e : image.executions()) {
    const std::string key = exec_key(e);
    SUNDIAL_TRY(t.put(t.env().execs, key, e.SerializeAsString()));
    SUNDIAL_TRY(t.put(t.env().exec_ids, exec_id_key(e.job_name(), e.id()), key));
  }
  return t.put(t.env().meta, "paused", image.paused() ? "1" : "0");
}

}  // namespace sundial::state
