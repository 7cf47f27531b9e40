#include "state/job_store.h"

#include <fmt/format.h>
#include <lmdb.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <set>

#include "state/job_rules.h"

namespace sundial::state {

using base::errc;
using base::fail;

namespace {

base::failure lmdb_error(const char* what, int rc) {
  return fail(errc::io_error, fmt::format("state store: {}: {}", what, mdb_strerror(rc)));
}

MDB_val val(std::string_view s) {
  return MDB_val{s.size(), const_cast<char*>(s.data())};
}
std::string_view view(const MDB_val& v) {
  return {static_cast<const char*>(v.mv_data), v.mv_size};
}

void put_be64(std::string& out, std::uint64_t v) {
  for (int b = 7; b >= 0; --b)
    out.push_back(static_cast<char>(v >> (8 * b)));
}

// The "next" index key: never-firing jobs sort after every instant.
std::string next_key(const pb::Job& j) {
  std::string k;
  put_be64(k, j.next_us() > 0 ? static_cast<std::uint64_t>(j.next_us()) : ~0ull);
  k += j.name();
  return k;
}

std::string exec_prefix(const std::string& job) {
  return job + '\0';
}
std::string exec_key(const pb::Execution& e) {
  std::string k = exec_prefix(e.job_name());
  put_be64(k, static_cast<std::uint64_t>(e.started_at_us()) ^ (1ull << 63));
  k += e.id();
  return k;
}
std::string exec_id_key(const std::string& job, const std::string& id) {
  return exec_prefix(job) + id;
}

job_outcome error_outcome(errc code, std::string message) {
  return job_outcome(base::error{code, std::move(message)});
}
job_outcome ok_outcome(const pb::Job* j = nullptr) {
  job_outcome o;
  o.ok = true;
  if (j) o.job = *j;
  return o;
}

// A read or write transaction, aborted unless committed.
struct txn_guard {
  MDB_txn* txn = nullptr;
  ~txn_guard() {
    if (txn) mdb_txn_abort(txn);
  }
  int commit() {
    const int rc = mdb_txn_commit(txn);
    txn = nullptr;
    return rc;
  }
};

struct cursor_guard {
  MDB_cursor* c = nullptr;
  ~cursor_guard() {
    if (c) mdb_cursor_close(c);
  }
};

}  // namespace

std::string encode_command(job_command type, const google::protobuf::Message& body) {
  std::string out(1, static_cast<char>(type));
  body.AppendToString(&out);
  return out;
}

std::string encode_outcome(const job_outcome& o) {
  if (!o.ok) return fmt::format("error {} {}", base::to_string(o.code), o.message);
  std::string out = "ok\n";
  if (o.job) o.job->AppendToString(&out);
  return out;
}

job_outcome decode_outcome(std::string_view text) {
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

struct job_store::impl {
  MDB_env* env = nullptr;
  MDB_dbi jobs = 0, next = 0, execs = 0, exec_ids = 0, meta = 0;
  std::atomic<bool> paused{false};

  ~impl() {
    if (env) mdb_env_close(env);
  }

  base::result<std::optional<pb::Job>> read_job(MDB_txn* txn, const std::string& name) const {
    MDB_val k = val(name), v;
    const int rc = mdb_get(txn, jobs, &k, &v);
    if (rc == MDB_NOTFOUND) return std::optional<pb::Job>{};
    if (rc != 0) return lmdb_error("read job", rc);
    pb::Job j;
    if (!j.ParseFromArray(v.mv_data, static_cast<int>(v.mv_size)))
      return fail(errc::corruption, fmt::format("state store: job {} does not decode", name));
    return std::optional<pb::Job>(std::move(j));
  }

  base::status write(MDB_txn* txn, MDB_dbi dbi, std::string_view key, std::string_view value) {
    MDB_val k = val(key), v = val(value);
    if (int rc = mdb_put(txn, dbi, &k, &v, 0); rc != 0) return lmdb_error("write", rc);
    return {};
  }
  base::status erase(MDB_txn* txn, MDB_dbi dbi, std::string_view key) {
    MDB_val k = val(key);
    const int rc = mdb_del(txn, dbi, &k, nullptr);
    if (rc != 0 && rc != MDB_NOTFOUND) return lmdb_error("delete", rc);
    return {};
  }
  base::status write_job(MDB_txn* txn, const pb::Job& j) {
    return write(txn, jobs, j.name(), j.SerializeAsString());
  }

  // Deletes every key starting with `prefix` in `dbi` (a job's history), in key order, at
  // most `limit` of them; returns how many.
  base::result<std::uint64_t> erase_prefix(MDB_txn* txn, MDB_dbi dbi, const std::string& prefix,
                                           std::uint64_t limit = ~0ull) {
    cursor_guard cg;
    if (int rc = mdb_cursor_open(txn, dbi, &cg.c); rc != 0) return lmdb_error("cursor", rc);
    MDB_val k = val(prefix), v;
    std::uint64_t n = 0;
    int rc = mdb_cursor_get(cg.c, &k, &v, MDB_SET_RANGE);
    while (rc == 0 && n < limit && view(k).substr(0, prefix.size()) == prefix) {
      if (int d = mdb_cursor_del(cg.c, 0); d != 0) return lmdb_error("delete", d);
      ++n;
      rc = mdb_cursor_get(cg.c, &k, &v, MDB_GET_CURRENT);
    }
    if (rc != 0 && rc != MDB_NOTFOUND && rc != EINVAL) return lmdb_error("delete", rc);
    return n;
  }

  // Removes the oldest executions of `j` beyond its history limit (the range's first keys).
  base::status prune(MDB_txn* txn, pb::Job& j) {
    if (j.history_size() <= j.history_limit()) return {};
    const std::uint64_t extra = j.history_size() - j.history_limit();
    cursor_guard cg;
    if (int rc = mdb_cursor_open(txn, execs, &cg.c); rc != 0) return lmdb_error("cursor", rc);
    const std::string prefix = exec_prefix(j.name());
    MDB_val k = val(prefix), v;
    std::uint64_t n = 0;
    int rc = mdb_cursor_get(cg.c, &k, &v, MDB_SET_RANGE);
    while (rc == 0 && n < extra && view(k).substr(0, prefix.size()) == prefix) {
      pb::Execution e;
      if (e.ParseFromArray(v.mv_data, static_cast<int>(v.mv_size))) {
        if (auto st = erase(txn, exec_ids, exec_id_key(j.name(), e.id())); !st) return st;
      }
      if (int d = mdb_cursor_del(cg.c, 0); d != 0) return lmdb_error("delete", d);
      ++n;
      rc = mdb_cursor_get(cg.c, &k, &v, MDB_GET_CURRENT);
    }
    j.set_history_size(j.history_size() - static_cast<std::uint32_t>(n));
    return {};
  }

  job_outcome set_job(MDB_txn* txn, pb::Job job, std::int64_t now_us, bool create_only);
  job_outcome delete_job(MDB_txn* txn, const std::string& name);
  job_outcome toggle_job(MDB_txn* txn, const std::string& name, std::int64_t now_us);
  job_outcome put_execution(MDB_txn* txn, const pb::Execution& e, bool done);
  job_outcome delete_executions(MDB_txn* txn, const std::string& name);
  base::status clear(MDB_txn* txn);
};

job_outcome job_store::impl::set_job(MDB_txn* txn, pb::Job job, std::int64_t now_us,
                                     bool create_only) {
  if (paused.load()) {
    return error_outcome(errc::unavailable,
                         "the cluster is paused: jobs cannot be created or changed until "
                         "POST /v1/unpause");
  }
  SUNDIAL_TRY(normalize_job(job));
  auto existing = read_job(txn, job.name());
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
      auto pj = read_job(txn, p);
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
    SUNDIAL_TRY(erase(txn, next, next_key(old)));
    if (old.parent_job() != job.parent_job() && !old.parent_job().empty()) {
      auto op = read_job(txn, old.parent_job());
      if (op && *op) {
        pb::Job parent = std::move(**op);
        auto* deps = parent.mutable_dependent_jobs();
        deps->erase(std::remove(deps->begin(), deps->end(), job.name()), deps->end());
        SUNDIAL_TRY(write_job(txn, parent));
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
    auto pj = read_job(txn, job.parent_job());
    if (!pj || !*pj) return error_outcome(errc::internal, "parent vanished");
    pb::Job parent = std::move(**pj);
    auto& deps = *parent.mutable_dependent_jobs();
    if (std::find(deps.begin(), deps.end(), job.name()) == deps.end()) {
      parent.add_dependent_jobs(job.name());
      std::sort(deps.begin(), deps.end());
      SUNDIAL_TRY(write_job(txn, parent));
    }
  }
  SUNDIAL_TRY(write_job(txn, job));
  SUNDIAL_TRY(write(txn, next, next_key(job), ""));
  return ok_outcome(&job);
}

job_outcome job_store::impl::delete_job(MDB_txn* txn, const std::string& name) {
  auto existing = read_job(txn, name);
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
    auto pj = read_job(txn, j.parent_job());
    if (pj && *pj) {
      pb::Job parent = std::move(**pj);
      auto* deps = parent.mutable_dependent_jobs();
      deps->erase(std::remove(deps->begin(), deps->end(), name), deps->end());
      SUNDIAL_TRY(write_job(txn, parent));
    }
  }
  SUNDIAL_TRY(erase(txn, next, next_key(j)));
  SUNDIAL_TRY(erase_prefix(txn, execs, exec_prefix(name)));
  SUNDIAL_TRY(erase_prefix(txn, exec_ids, exec_prefix(name)));
  SUNDIAL_TRY(erase(txn, jobs, name));
  return ok_outcome(&j);
}

job_outcome job_store::impl::toggle_job(MDB_txn* txn, const std::string& name,
                                        std::int64_t now_us) {
  if (paused.load())
    return error_outcome(errc::unavailable, "the cluster is paused: jobs cannot be changed");
  auto existing = read_job(txn, name);
  if (!existing) return existing.err();
  if (!*existing) return error_outcome(errc::not_found, fmt::format("job {} does not exist", name));
  pb::Job j = std::move(**existing);
  j.set_disabled(!j.disabled());
  j.set_updated_at_us(now_us);
  SUNDIAL_TRY(write_job(txn, j));
  return ok_outcome(&j);
}

job_outcome job_store::impl::put_execution(MDB_txn* txn, const pb::Execution& e, bool done) {
  if (e.id().empty() || e.job_name().empty())
    return error_outcome(errc::invalid_argument, "an execution needs an id and a job_name");
  auto existing = read_job(txn, e.job_name());
  if (!existing) return existing.err();
  if (!*existing)
    return error_outcome(errc::not_found, fmt::format("job {} does not exist", e.job_name()));
  pb::Job j = std::move(**existing);
  // The same execution may be written several times (running, then done): one record.
  const std::string id_key = exec_id_key(e.job_name(), e.id());
  MDB_val k = val(id_key), v;
  const int rc = mdb_get(txn, exec_ids, &k, &v);
  if (rc != 0 && rc != MDB_NOTFOUND) return error_outcome(errc::io_error, mdb_strerror(rc));
  const bool is_new = rc == MDB_NOTFOUND;
  if (!is_new) SUNDIAL_TRY(erase(txn, execs, view(v)));
  const std::string key = exec_key(e);
  SUNDIAL_TRY(write(txn, execs, key, e.SerializeAsString()));
  SUNDIAL_TRY(write(txn, exec_ids, id_key, key));
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
  SUNDIAL_TRY(prune(txn, j));
  SUNDIAL_TRY(write_job(txn, j));
  return ok_outcome(&j);
}

job_outcome job_store::impl::delete_executions(MDB_txn* txn, const std::string& name) {
  auto existing = read_job(txn, name);
  if (!existing) return existing.err();
  if (!*existing) return error_outcome(errc::not_found, fmt::format("job {} does not exist", name));
  pb::Job j = std::move(**existing);
  SUNDIAL_TRY(erase_prefix(txn, execs, exec_prefix(name)));
  SUNDIAL_TRY(erase_prefix(txn, exec_ids, exec_prefix(name)));
  j.clear_success_count();
  j.clear_error_count();
  j.clear_last_success_us();
  j.clear_last_error_us();
  j.clear_status();
  j.clear_history_size();
  SUNDIAL_TRY(write_job(txn, j));
  return ok_outcome(&j);
}

base::status job_store::impl::clear(MDB_txn* txn) {
  for (MDB_dbi d : {jobs, next, execs, exec_ids, meta}) {
    if (int rc = mdb_drop(txn, d, 0); rc != 0) return lmdb_error("clear", rc);
  }
  return {};
}

job_store::job_store(std::unique_ptr<impl> i) : impl_(std::move(i)) {}
job_store::~job_store() = default;

base::result<std::unique_ptr<job_store>> job_store::open(const std::string& dir) {
  // Rebuilt from the Raft snapshot and log at every start, so it needs no syncs of its own and
  // never trusts what an earlier (possibly crashed) run left behind.
  std::error_code ec;
  std::filesystem::remove(dir + "/data.mdb", ec);
  std::filesystem::remove(dir + "/lock.mdb", ec);
  std::filesystem::create_directories(dir, ec);
  if (ec) return fail(errc::io_error, fmt::format("cannot create {}: {}", dir, ec.message()));
  auto im = std::make_unique<impl>();
  if (int rc = mdb_env_create(&im->env); rc != 0) return lmdb_error("create", rc);
  mdb_env_set_mapsize(im->env, std::size_t{64} << 30);
  mdb_env_set_maxdbs(im->env, 8);
  mdb_env_set_maxreaders(im->env, 1024);
  if (int rc = mdb_env_open(im->env, dir.c_str(), MDB_NOTLS | MDB_NOSYNC | MDB_NOMETASYNC, 0644);
      rc != 0)
    return lmdb_error("open", rc);
  txn_guard t;
  if (int rc = mdb_txn_begin(im->env, nullptr, 0, &t.txn); rc != 0) return lmdb_error("begin", rc);
  for (auto [name, dbi] :
       {std::pair{"jobs", &im->jobs}, std::pair{"next", &im->next}, std::pair{"execs", &im->execs},
        std::pair{"exec_ids", &im->exec_ids}, std::pair{"meta", &im->meta}}) {
    if (int rc = mdb_dbi_open(t.txn, name, MDB_CREATE, dbi); rc != 0)
      return lmdb_error("open table", rc);
  }
  if (int rc = t.commit(); rc != 0) return lmdb_error("commit", rc);
  return std::unique_ptr<job_store>(new job_store(std::move(im)));
}

std::string job_store::apply(std::uint8_t type, std::string_view body) {
  auto& im = *impl_;
  txn_guard t;
  if (int rc = mdb_txn_begin(im.env, nullptr, 0, &t.txn); rc != 0)
    return encode_outcome(error_outcome(errc::io_error, mdb_strerror(rc)));
  const int size = static_cast<int>(body.size());
  job_outcome out = error_outcome(errc::invalid_argument, "undecodable command");
  switch (static_cast<job_command>(type)) {
    case job_command::set_job: {
      pb::SetJob c;
      if (c.ParseFromArray(body.data(), size))
        out = im.set_job(t.txn, c.job(), c.now_us(), c.create_only());
      break;
    }
    case job_command::set_jobs: {
      pb::SetJobs c;
      if (!c.ParseFromArray(body.data(), size)) break;
      // All or nothing: the first failure aborts the transaction. Parents may come after
      // their children in the list, so jobs whose parent is not there yet wait for a later
      // pass.
      std::vector<const pb::Job*> todo;
      for (const auto& j : c.jobs())
        todo.push_back(&j);
      std::set<std::string> names;
      for (const auto& j : c.jobs()) {
        if (!names.insert(j.name()).second) {
          out =
              error_outcome(errc::invalid_argument, fmt::format("job {} appears twice", j.name()));
          return encode_outcome(out);
        }
      }
      out = ok_outcome();
      while (!todo.empty() && out.ok) {
        std::vector<const pb::Job*> later;
        for (const pb::Job* j : todo) {
          if (!j->parent_job().empty() && names.count(j->parent_job()) > 0) {
            auto p = im.read_job(t.txn, j->parent_job());
            if (p && !*p) {
              later.push_back(j);
              continue;
            }
          }
          job_outcome one = im.set_job(t.txn, *j, c.now_us(), false);
          if (!one.ok) {
            one.message = fmt::format("job {}: {}", j->name(), one.message);
            out = one;
            break;
          }
        }
        if (out.ok && later.size() == todo.size()) {
          out = error_outcome(errc::invalid_argument,
                              fmt::format("job {}: parent_job {} would make a cycle",
                                          later.front()->name(), later.front()->parent_job()));
        }
        todo = std::move(later);
      }
      break;
    }
    case job_command::delete_job: {
      pb::DeleteJob c;
      if (c.ParseFromArray(body.data(), size)) out = im.delete_job(t.txn, c.name());
      break;
    }
    case job_command::toggle_job: {
      pb::ToggleJob c;
      if (c.ParseFromArray(body.data(), size)) out = im.toggle_job(t.txn, c.name(), c.now_us());
      break;
    }
    case job_command::set_execution:
    case job_command::execution_done: {
      pb::SetExecution c;
      if (c.ParseFromArray(body.data(), size))
        out = im.put_execution(t.txn, c.execution(),
                               static_cast<job_command>(type) == job_command::execution_done);
      break;
    }
    case job_command::delete_executions: {
      pb::DeleteExecutions c;
      if (c.ParseFromArray(body.data(), size)) out = im.delete_executions(t.txn, c.job_name());
      break;
    }
    case job_command::set_pause: {
      pb::SetPause c;
      if (!c.ParseFromArray(body.data(), size)) break;
      if (auto st = im.write(t.txn, im.meta, "paused", c.paused() ? "1" : "0"); !st) {
        out = st.err();
        break;
      }
      out = ok_outcome();
      if (t.commit() != 0) return encode_outcome(error_outcome(errc::io_error, "commit failed"));
      im.paused = c.paused();
      return encode_outcome(out);
    }
    default:
      out = error_outcome(errc::invalid_argument, fmt::format("unknown job command {}", type));
  }
  if (!out.ok) return encode_outcome(out);  // the guard aborts: nothing changes
  if (int rc = t.commit(); rc != 0)
    return encode_outcome(error_outcome(errc::io_error, mdb_strerror(rc)));
  return encode_outcome(out);
}

base::status job_store::save(pb::JobStoreImage& image) const {
  const auto& im = *impl_;
  txn_guard t;
  if (int rc = mdb_txn_begin(im.env, nullptr, MDB_RDONLY, &t.txn); rc != 0)
    return lmdb_error("begin", rc);
  for (auto [dbi, is_job] : {std::pair{im.jobs, true}, std::pair{im.execs, false}}) {
    cursor_guard cg;
    if (int rc = mdb_cursor_open(t.txn, dbi, &cg.c); rc != 0) return lmdb_error("cursor", rc);
    MDB_val k, v;
    for (int rc = mdb_cursor_get(cg.c, &k, &v, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(cg.c, &k, &v, MDB_NEXT)) {
      const bool ok =
          is_job ? image.add_jobs()->ParseFromArray(v.mv_data, static_cast<int>(v.mv_size))
                 : image.add_executions()->ParseFromArray(v.mv_data, static_cast<int>(v.mv_size));
      if (!ok) return fail(errc::corruption, "state store: a record does not decode");
    }
  }
  image.set_paused(im.paused.load());
  return {};
}

base::status job_store::restore(const pb::JobStoreImage& image) {
  auto& im = *impl_;
  txn_guard t;
  if (int rc = mdb_txn_begin(im.env, nullptr, 0, &t.txn); rc != 0) return lmdb_error("begin", rc);
  if (auto st = im.clear(t.txn); !st) return st;
  for (const auto& j : image.jobs()) {
    if (auto st = im.write_job(t.txn, j); !st) return st;
    if (auto st = im.write(t.txn, im.next, next_key(j), ""); !st) return st;
  }
  for (const auto& e : image.executions()) {
    const std::string key = exec_key(e);
    if (auto st = im.write(t.txn, im.execs, key, e.SerializeAsString()); !st) return st;
    if (auto st = im.write(t.txn, im.exec_ids, exec_id_key(e.job_name(), e.id()), key); !st)
      return st;
  }
  if (auto st = im.write(t.txn, im.meta, "paused", image.paused() ? "1" : "0"); !st) return st;
  if (int rc = t.commit(); rc != 0) return lmdb_error("commit", rc);
  im.paused = image.paused();
  return {};
}

base::result<std::optional<pb::Job>> job_store::get(const std::string& name) const {
  txn_guard t;
  if (int rc = mdb_txn_begin(impl_->env, nullptr, MDB_RDONLY, &t.txn); rc != 0)
    return lmdb_error("begin", rc);
  return impl_->read_job(t.txn, name);
}

bool job_store::paused() const {
  return impl_->paused.load();
}

base::result<std::uint64_t> job_store::job_count() const {
  txn_guard t;
  if (int rc = mdb_txn_begin(impl_->env, nullptr, MDB_RDONLY, &t.txn); rc != 0)
    return lmdb_error("begin", rc);
  MDB_stat st;
  if (int rc = mdb_stat(t.txn, impl_->jobs, &st); rc != 0) return lmdb_error("stat", rc);
  return static_cast<std::uint64_t>(st.ms_entries);
}

namespace {

bool contains(const std::string& hay, const std::string& needle) {
  return hay.find(needle) != std::string::npos;
}

bool matches(const pb::Job& j, const job_query& q) {
  if (!q.q.empty() && !contains(j.name(), q.q) && !contains(j.displayname(), q.q)) return false;
  if (q.disabled && j.disabled() != *q.disabled) return false;
  if (!q.status.empty()) {
    if (q.status == "untriggered") {
      if (!j.status().empty()) return false;
    } else if (j.status() != q.status) {
      return false;
    }
  }
  for (const auto& [k, v] : q.metadata) {
    auto it = j.metadata().find(k);
    if (it == j.metadata().end() || it->second != v) return false;
  }
  return true;
}

bool has_filters(const job_query& q) {
  return !q.q.empty() || !q.status.empty() || q.disabled.has_value() || !q.metadata.empty();
}

}  // namespace

base::result<job_page> job_store::list(const job_query& q) const {
  const auto& im = *impl_;
  txn_guard t;
  if (int rc = mdb_txn_begin(im.env, nullptr, MDB_RDONLY, &t.txn); rc != 0)
    return lmdb_error("begin", rc);
  job_page page;
  const std::uint64_t end = q.end.value_or(~0ull);
  auto decode = [](const MDB_val& v, pb::Job& j) {
    return j.ParseFromArray(v.mv_data, static_cast<int>(v.mv_size));
  };
  if (q.sort == "name" || q.sort == "id" || q.sort == "next") {
    // Served from an ordered table: walk it in order, filter, keep the slice. Without filters
    // the total is the table's size and the walk stops at the slice's end.
    const bool by_next = q.sort == "next";
    const bool filtered = has_filters(q);
    if (!filtered) {
      MDB_stat st;
      if (int rc = mdb_stat(t.txn, im.jobs, &st); rc != 0) return lmdb_error("stat", rc);
      page.total = st.ms_entries;
    }
    cursor_guard cg;
    if (int rc = mdb_cursor_open(t.txn, by_next ? im.next : im.jobs, &cg.c); rc != 0)
      return lmdb_error("cursor", rc);
    MDB_val k, v;
    std::uint64_t pos = 0;
    const MDB_cursor_op first = q.descending ? MDB_LAST : MDB_FIRST;
    const MDB_cursor_op step = q.descending ? MDB_PREV : MDB_NEXT;
    for (int rc = mdb_cursor_get(cg.c, &k, &v, first); rc == 0;
         rc = mdb_cursor_get(cg.c, &k, &v, step)) {
      if (!filtered && pos >= end) break;
      if (!filtered && pos < q.start) {
        ++pos;  // skipped without decoding
        continue;
      }
      pb::Job j;
      if (by_next) {
        const std::string name(view(k).substr(8));
        auto r = im.read_job(t.txn, name);
        if (!r) return r.err();
        if (!*r) continue;
        j = std::move(**r);
      } else if (!decode(v, j)) {
        return fail(errc::corruption, "state store: a job does not decode");
      }
      if (filtered && !matches(j, q)) continue;
      if (pos >= q.start && pos < end) page.jobs.push_back(std::move(j));
      ++pos;
    }
    if (filtered) page.total = pos;
    return page;
  }
  // Other sort keys have no index yet: filter everything, then sort. (O(jobs); see notes.)
  std::vector<pb::Job> all;
  cursor_guard cg;
  if (int rc = mdb_cursor_open(t.txn, im.jobs, &cg.c); rc != 0) return lmdb_error("cursor", rc);
  MDB_val k, v;
  for (int rc = mdb_cursor_get(cg.c, &k, &v, MDB_FIRST); rc == 0;
       rc = mdb_cursor_get(cg.c, &k, &v, MDB_NEXT)) {
    pb::Job j;
    if (!decode(v, j)) return fail(errc::corruption, "state store: a job does not decode");
    if (matches(j, q)) all.push_back(std::move(j));
  }
  auto key_less = [&](const pb::Job& a, const pb::Job& b) {
    if (q.sort == "displayname") return a.displayname() < b.displayname();
    if (q.sort == "schedule") return a.schedule() < b.schedule();
    if (q.sort == "success_count") return a.success_count() < b.success_count();
    if (q.sort == "error_count") return a.error_count() < b.error_count();
    if (q.sort == "last_success") return a.last_success_us() < b.last_success_us();
    if (q.sort == "last_error") return a.last_error_us() < b.last_error_us();
    return false;
  };
  std::stable_sort(all.begin(), all.end(), [&](const pb::Job& a, const pb::Job& b) {
    return q.descending ? key_less(b, a) : key_less(a, b);
  });
  page.total = all.size();
  for (std::uint64_t i = q.start; i < std::min<std::uint64_t>(end, all.size()); ++i)
    page.jobs.push_back(std::move(all[i]));
  return page;
}

base::result<execution_page> job_store::executions(const std::string& job,
                                                   const execution_query& q) const {
  const auto& im = *impl_;
  txn_guard t;
  if (int rc = mdb_txn_begin(im.env, nullptr, MDB_RDONLY, &t.txn); rc != 0)
    return lmdb_error("begin", rc);
  auto j = im.read_job(t.txn, job);
  if (!j) return j.err();
  if (!*j) return fail(errc::not_found, fmt::format("job {} does not exist", job));
  execution_page page;
  page.total = (*j)->history_size();
  const std::uint64_t end = q.end.value_or(~0ull);
  cursor_guard cg;
  if (int rc = mdb_cursor_open(t.txn, im.execs, &cg.c); rc != 0) return lmdb_error("cursor", rc);
  const std::string prefix = exec_prefix(job);
  MDB_val k, v;
  int rc;
  if (q.descending) {
    // Position after the job's range, then walk back.
    std::string after = prefix;
    after.back() = '\x01';
    k = val(after);
    rc = mdb_cursor_get(cg.c, &k, &v, MDB_SET_RANGE);
    rc = rc == 0 ? mdb_cursor_get(cg.c, &k, &v, MDB_PREV) : mdb_cursor_get(cg.c, &k, &v, MDB_LAST);
  } else {
    k = val(prefix);
    rc = mdb_cursor_get(cg.c, &k, &v, MDB_SET_RANGE);
  }
  std::uint64_t pos = 0;
  while (rc == 0 && view(k).substr(0, prefix.size()) == prefix && pos < end) {
    if (pos >= q.start) {
      pb::Execution e;
      if (!e.ParseFromArray(v.mv_data, static_cast<int>(v.mv_size)))
        return fail(errc::corruption, "state store: an execution does not decode");
      page.executions.push_back(std::move(e));
    }
    ++pos;
    rc = mdb_cursor_get(cg.c, &k, &v, q.descending ? MDB_PREV : MDB_NEXT);
  }
  return page;
}

base::result<std::optional<pb::Execution>> job_store::execution(const std::string& job,
                                                                const std::string& id) const {
  const auto& im = *impl_;
  txn_guard t;
  if (int rc = mdb_txn_begin(im.env, nullptr, MDB_RDONLY, &t.txn); rc != 0)
    return lmdb_error("begin", rc);
  const std::string id_key = exec_id_key(job, id);
  MDB_val k = val(id_key), v;
  int rc = mdb_get(t.txn, im.exec_ids, &k, &v);
  if (rc == MDB_NOTFOUND) return std::optional<pb::Execution>{};
  if (rc != 0) return lmdb_error("read", rc);
  MDB_val ek = v, ev;
  rc = mdb_get(t.txn, im.execs, &ek, &ev);
  if (rc == MDB_NOTFOUND) return std::optional<pb::Execution>{};
  if (rc != 0) return lmdb_error("read", rc);
  pb::Execution e;
  if (!e.ParseFromArray(ev.mv_data, static_cast<int>(ev.mv_size)))
    return fail(errc::corruption, "state store: an execution does not decode");
  return std::optional<pb::Execution>(std::move(e));
}

}  // namespace sundial::state
