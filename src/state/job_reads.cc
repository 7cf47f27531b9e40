// The job store's reads: point lookups and listings served from the ordered tables, each in
// its own read transaction (a consistent view that never blocks apply).
#include <fmt/format.h>

#include "state/job_store.h"
#include "state/job_tables.h"
#include "state/rank_fences.h"

namespace sundial::state {

using base::errc;
using base::fail;
using namespace tables;

namespace {

bool contains(const std::string& hay, const std::string& needle) {
  return hay.find(needle) != std::string::npos;
}

// The status a job is indexed and counted under for a `status` filter ("untriggered": never
// ran, an empty status).
std::string status_filter_value(const std::string& status) {
  return status == "untriggered" ? std::string() : status;
}

bool matches(const pb::Job& j, const job_query& q) {
  if (!q.q.empty() && !contains(j.name(), q.q) && !contains(j.displayname(), q.q)) return false;
  if (q.disabled && j.disabled() != *q.disabled) return false;
  if (!q.status.empty() && j.status() != status_filter_value(q.status)) return false;
  for (const auto& [k, v] : q.metadata) {
    auto it = j.metadata().find(k);
    if (it == j.metadata().end() || it->second != v) return false;
  }
  return true;
}

// The smallest key greater than every key starting with `prefix` ("" when there is none).
std::string prefix_end(std::string prefix) {
  while (!prefix.empty()) {
    auto& last = reinterpret_cast<unsigned char&>(prefix.back());
    if (last != 0xff) {
      ++last;
      return prefix;
    }
    prefix.pop_back();
  }
  return prefix;
}

// Walks the keys of `dbi` that start with `prefix`, in order or in reverse, calling
// `visit(key, value)` until it returns false.
template <class F>
base::status walk(const txn& t, MDB_dbi dbi, const std::string& prefix, bool descending, F visit,
                  const std::optional<std::string>& from_key = std::nullopt) {
  auto c = cursor::open(t, dbi);
  if (!c) return c.err();
  MDB_val k, v;
  int rc;
  if (from_key) {
    // An existing key inside the range (found by rank): walk on from it either way.
    k = mdb_val(*from_key);
    rc = mdb_cursor_get((*c)->c, &k, &v, MDB_SET_RANGE);
  } else if (!descending) {
    k = mdb_val(prefix);
    rc = mdb_cursor_get((*c)->c, &k, &v, prefix.empty() ? MDB_FIRST : MDB_SET_RANGE);
  } else {
    const std::string end = prefix_end(prefix);
    if (end.empty()) {
      rc = mdb_cursor_get((*c)->c, &k, &v, MDB_LAST);
    } else {
      k = mdb_val(end);
      rc = mdb_cursor_get((*c)->c, &k, &v, MDB_SET_RANGE);
      rc = rc == 0 ? mdb_cursor_get((*c)->c, &k, &v, MDB_PREV)
                   : mdb_cursor_get((*c)->c, &k, &v, MDB_LAST);
    }
  }
  while (rc == 0 && mdb_view(k).substr(0, prefix.size()) == prefix) {
    if (!visit(mdb_view(k), mdb_view(v))) return {};
    rc = mdb_cursor_get((*c)->c, &k, &v, descending ? MDB_PREV : MDB_NEXT);
  }
  if (rc != 0 && rc != MDB_NOTFOUND) return lmdb_error("walk", rc);
  return {};
}

}  // namespace

base::result<std::optional<pb::Job>> job_store::get(const std::string& name) const {
  auto t = txn::read(db_.current());
  if (!t) return t.err();
  return read_job(*t, name);
}

bool job_store::paused() const {
  auto t = txn::read(db_.current());
  return t && is_paused(*t);
}

base::result<std::uint64_t> job_store::job_count() const {
  auto t = txn::read(db_.current());
  if (!t) return t.err();
  MDB_stat st;
  if (int rc = mdb_stat(t->get(), t->env().jobs, &st); rc != 0) return lmdb_error("stat", rc);
  return static_cast<std::uint64_t>(st.ms_entries);
}

base::result<job_page> job_store::list(const job_query& q) const {
  auto t = txn::read(db_.current());
  if (!t) return t.err();
  const auto& env = t->env();
  job_page page;
  const std::uint64_t end = q.end.value_or(~0ull);
  const bool by_name = q.sort == "name" || q.sort == "id" || q.sort.empty();
  // Metadata filters: the first pair the index holds (the others are checked per job).
  std::optional<std::string> meta_pair;
  bool all_meta_indexed = true;
  for (const auto& [k, v] : q.metadata) {
    auto pair = metadata_index_value(k, v);
    if (!pair) {
      all_meta_indexed = false;
    } else if (!meta_pair) {
      meta_pair = std::move(pair);
    }
  }
  const std::size_t indexed_filters =
      (q.status.empty() ? 0 : 1) + (q.disabled ? 1 : 0) + q.metadata.size();
  // Filters no index answers: a substring, or a metadata pair too long to be indexed.
  const bool scans = !q.q.empty() || !all_meta_indexed;

  // The total: the table's size, the counts kept in meta, or (substring filters, combined
  // metadata filters) counted by the walk itself.
  std::optional<std::uint64_t> total;
  if (!scans && indexed_filters == 1 && meta_pair) {
    auto n = read_count(*t, metadata_count_key(*meta_pair));
    if (!n) return n.err();
    total = *n;
  } else if (!scans && q.metadata.empty()) {
    if (q.status.empty() && !q.disabled) {
      MDB_stat st;
      if (int rc = mdb_stat(t->get(), env.jobs, &st); rc != 0) return lmdb_error("stat", rc);
      total = st.ms_entries;
    } else {
      const std::string status = status_filter_value(q.status);
      auto n = !q.status.empty() && q.disabled ? read_count(*t, pair_count_key(status, *q.disabled))
               : !q.status.empty()             ? read_count(*t, status_count_key(status))
                                               : read_count(*t, disabled_count_key(*q.disabled));
      if (!n) return n.err();
      total = *n;
    }
  }

  // The ordered source: the jobs table (by name), the next index, or a job_index range. By
  // name with a metadata, status or disabled filter, that filter's own index range is walked
  // instead, so only jobs matching it are visited.
  MDB_dbi dbi = env.jobs;
  std::string prefix;
  enum class holds { job, name_in_key, name_in_value } source = holds::job;
  if (q.sort == "next") {
    dbi = env.next;
    source = holds::name_in_key;
  } else if (auto idx = sort_index(q.sort)) {
    dbi = env.job_index;
    prefix = index_prefix(*idx);
    source = holds::name_in_value;
  } else if (by_name && meta_pair) {
    dbi = env.job_index;
    prefix = index_prefix(index_id::metadata, *meta_pair);
    source = holds::name_in_value;
  } else if (by_name && !q.status.empty()) {
    dbi = env.job_index;
    prefix = index_prefix(index_id::status, status_filter_value(q.status));
    source = holds::name_in_value;
  } else if (by_name && q.disabled) {
    dbi = env.job_index;
    prefix = index_prefix(index_id::disabled, std::string(*q.disabled ? "1" : "0"));
    source = holds::name_in_value;
  }

  // When every entry of the walked range matches, positions before the slice need no job.
  const bool every_entry_matches =
      !scans &&
      (indexed_filters == 0 || (by_name && source == holds::name_in_value && indexed_filters == 1));
  std::uint64_t pos = 0;
  // A deep slice starts at its first key, found through the rank fences instead of a walk.
  std::optional<std::string> from_key;
  if (every_entry_matches && q.start > 0) {
    if (q.start >= *total) {
      page.total = *total;
      return page;
    }
    const auto tag = dbi == env.jobs   ? rank_fences::table_tag::jobs
                     : dbi == env.next ? rank_fences::table_tag::next
                                       : rank_fences::table_tag::job_index;
    auto k =
        rank_fences::key_at(*t, tag, dbi, prefix, q.descending ? *total - 1 - q.start : q.start);
    if (!k) return k.err();
    if (!*k) return fail(errc::corruption, "state store: the rank fences disagree with a table");
    from_key = std::move(*k);
    pos = q.start;
  }
  base::status failure;
  auto st = walk(
      *t, dbi, prefix, q.descending,
      [&](std::string_view key, std::string_view value) {
        if (total && pos >= std::min(end, *total)) return false;  // the slice is complete
        if (every_entry_matches && pos < q.start) {
          ++pos;
          return true;
        }
        pb::Job j;
        if (source == holds::job) {
          if (!j.ParseFromArray(value.data(), static_cast<int>(value.size()))) {
            failure = fail(errc::corruption, "state store: a job does not decode");
            return false;
          }
        } else {
          const std::string name(source == holds::name_in_key ? key.substr(8) : value);
          auto r = read_job(*t, name);
          if (!r || !*r) {
            failure =
                r ? fail(errc::corruption, "state store: an index names a missing job " + name)
                  : base::status(r.err());
            return false;
          }
          j = std::move(**r);
        }
        if (!matches(j, q)) return true;
        if (pos >= q.start && pos < end) page.jobs.push_back(std::move(j));
        ++pos;
        return true;
      },
      from_key);
  if (!st) return st.err();
  if (!failure) return failure.err();
  page.total = total.value_or(pos);
  return page;
}

base::result<execution_page> job_store::executions(const std::string& job,
                                                   const execution_query& q) const {
  auto t = txn::read(db_.current());
  if (!t) return t.err();
  auto j = read_job(*t, job);
  if (!j) return j.err();
  if (!*j) return fail(errc::not_found, fmt::format("job {} does not exist", job));
  execution_page page;
  page.total = (*j)->history_size();
  const std::uint64_t end = q.end.value_or(~0ull);
  std::uint64_t pos = 0;
  base::status failure;
  auto st = walk(*t, t->env().execs, exec_prefix(job), q.descending,
                 [&](std::string_view, std::string_view value) {
                   if (pos >= end) return false;
                   if (pos++ < q.start) return true;
                   pb::Execution e;
                   if (!e.ParseFromArray(value.data(), static_cast<int>(value.size()))) {
                     failure = fail(errc::corruption, "state store: an execution does not decode");
                     return false;
                   }
                   page.executions.push_back(std::move(e));
                   return true;
                 });
  if (!st) return st.err();
  if (!failure) return failure.err();
  return page;
}

base::result<std::optional<pb::Execution>> job_store::execution(const std::string& job,
                                                                const std::string& id) const {
  auto t = txn::read(db_.current());
  if (!t) return t.err();
  auto key = t->get(t->env().exec_ids, exec_id_key(job, id));
  if (!key) return key.err();
  if (!*key) return std::optional<pb::Execution>{};
  auto v = t->get(t->env().execs, **key);
  if (!v) return v.err();
  if (!*v) return std::optional<pb::Execution>{};
  pb::Execution e;
  if (!e.ParseFromArray((*v)->data(), static_cast<int>((*v)->size())))
    return fail(errc::corruption, "state store: an execution does not decode");
  return std::optional<pb::Execution>(std::move(e));
}

base::result<std::vector<active_execution>> job_store::active() const {
  auto t = txn::read(db_.current());
  if (!t) return t.err();
  std::vector<active_execution> out;
  auto st = walk(*t, t->env().active, std::string(), false,
                 [&](std::string_view key, std::string_view value) {
                   const auto nul = key.find('\0');
                   if (nul == std::string_view::npos) return true;
                   out.push_back({std::string(key.substr(0, nul)), std::string(key.substr(nul + 1)),
                                  std::string(value)});
                   return true;
                 });
  if (!st) return st.err();
  return out;
}

}  // namespace sundial::state
