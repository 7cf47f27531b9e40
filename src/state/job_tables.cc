#include "state/job_tables.h"

#include <fmt/format.h>

#include <algorithm>

#include "state/rank_fences.h"
#include "storage/byte_order.h"

namespace sundial::state::tables {

using base::errc;
using base::fail;
using storage::put_be64;

namespace {

// Sort keys longer than this are cut in the index (LMDB keys are at most 511 bytes, and the
// name follows); jobs equal on the first 200 bytes then order by name.
constexpr std::size_t max_sort_bytes = 200;

std::string signed_key(std::int64_t v) {
  std::string k;
  put_be64(k, static_cast<std::uint64_t>(v) ^ (1ull << 63));
  return k;
}

struct index_entry {
  std::string key;
  bool operator<(const index_entry& o) const { return key < o.key; }
  bool operator==(const index_entry& o) const { return key == o.key; }
};

std::string entry_key(index_id id, std::string_view sort, const std::string& name) {
  std::string k(1, static_cast<char>(id));
  k.append(sort.substr(0, max_sort_bytes));
  k.push_back('\0');
  k.append(name);
  return k;
}

std::vector<index_entry> index_entries(const pb::Job& j) {
  std::vector<index_entry> out{
      {entry_key(index_id::displayname, j.displayname(), j.name())},
      {entry_key(index_id::schedule, j.schedule(), j.name())},
      {entry_key(index_id::success_count, signed_key(j.success_count()), j.name())},
      {entry_key(index_id::error_count, signed_key(j.error_count()), j.name())},
      {entry_key(index_id::last_success, signed_key(j.last_success_us()), j.name())},
      {entry_key(index_id::last_error, signed_key(j.last_error_us()), j.name())},
      {entry_key(index_id::status, j.status(), j.name())},
      {entry_key(index_id::disabled, j.disabled() ? "1" : "0", j.name())},
  };
  for (const auto& [k, v] : j.metadata()) {
    if (auto pair = metadata_index_value(k, v))
      out.push_back({entry_key(index_id::metadata, *pair, j.name())});
  }
  std::sort(out.begin(), out.end());
  return out;
}

// The counters a job contributes one to.
std::vector<std::string> count_keys(const pb::Job& j) {
  std::vector<std::string> out{status_count_key(j.status()), disabled_count_key(j.disabled()),
                               pair_count_key(j.status(), j.disabled())};
  for (const auto& [k, v] : j.metadata()) {
    if (auto pair = metadata_index_value(k, v)) out.push_back(metadata_count_key(*pair));
  }
  std::sort(out.begin(), out.end());
  return out;
}

base::status add_count(txn& t, const std::string& key, std::int64_t delta) {
  auto cur = read_count(t, key);
  if (!cur) return cur.err();
  const std::int64_t next = static_cast<std::int64_t>(*cur) + delta;
  SUNDIAL_ASSERT(next >= 0, "a job count went negative");
  if (next == 0) return t.erase(t.env().meta, key);
  std::string v;
  storage::put_u64(v, static_cast<std::uint64_t>(next));
  return t.put(t.env().meta, key, v);
}

// Moves the counts from `before`'s keys to `after`'s, touching only the keys that differ.
base::status recount(txn& t, const std::vector<std::string>& before,
                     const std::vector<std::string>& after) {
  std::vector<std::string> gone, added;
  std::set_difference(before.begin(), before.end(), after.begin(), after.end(),
                      std::back_inserter(gone));
  std::set_difference(after.begin(), after.end(), before.begin(), before.end(),
                      std::back_inserter(added));
  for (const auto& k : gone)
    SUNDIAL_TRY(add_count(t, k, -1));
  for (const auto& k : added)
    SUNDIAL_TRY(add_count(t, k, +1));
  return {};
}

}  // namespace

std::string next_key(const pb::Job& j) {
  std::string k;
  put_be64(k, j.next_us() > 0 ? static_cast<std::uint64_t>(j.next_us()) : ~0ull);
  k += j.name();
  return k;
}

std::string index_prefix(index_id id, const std::optional<std::string>& value) {
  std::string k(1, static_cast<char>(id));
  if (value) {
    k.append(*value);
    k.push_back('\0');
  }
  return k;
}

std::optional<index_id> sort_index(const std::string& sort) {
  if (sort == "displayname") return index_id::displayname;
  if (sort == "schedule") return index_id::schedule;
  if (sort == "success_count") return index_id::success_count;
  if (sort == "error_count") return index_id::error_count;
  if (sort == "last_success") return index_id::last_success;
  if (sort == "last_error") return index_id::last_error;
  return std::nullopt;
}

std::string exec_prefix(const std::string& job) {
  return job + '\0';
}

std::string exec_key(const pb::Execution& e) {
  std::string k = exec_prefix(e.job_name());
  // Records made by the scheduler order by creation (seq); the older direct writes by start.
  put_be64(k,
           e.seq() != 0 ? e.seq() : static_cast<std::uint64_t>(e.started_at_us()) ^ (1ull << 63));
  k += e.id();
  return k;
}

std::string launch_key(const std::string& job, std::int64_t slot_us) {
  std::string k = exec_prefix(job);
  put_be64(k, static_cast<std::uint64_t>(slot_us) ^ (1ull << 63));
  return k;
}

std::string exec_id_key(const std::string& job, const std::string& id) {
  return exec_prefix(job) + id;
}

std::string status_count_key(const std::string& status) {
  return "count/status/" + status;
}
std::string disabled_count_key(bool disabled) {
  return disabled ? "count/disabled/1" : "count/disabled/0";
}
std::string pair_count_key(const std::string& status, bool disabled) {
  return "count/pair/" + status + (disabled ? "/1" : "/0");
}
std::string metadata_count_key(const std::string& indexed_pair) {
  return "count/meta/" + indexed_pair;
}

std::optional<std::string> metadata_index_value(const std::string& key, const std::string& value) {
  constexpr std::size_t max_part = 100;  // keeps index keys under LMDB's 511 bytes
  if (key.size() > max_part || value.size() > max_part || key.find('\0') != std::string::npos ||
      value.find('\0') != std::string::npos)
    return std::nullopt;
  return key + '\0' + value;
}

base::result<std::uint64_t> read_count(const txn& t, const std::string& key) {
  auto v = t.get(t.env().meta, key);
  if (!v) return v.err();
  if (!*v) return std::uint64_t{0};
  if ((*v)->size() != 8)
    return fail(errc::corruption, fmt::format("state store: count {} is malformed", key));
  return storage::get_u64(**v, 0);
}

base::result<std::optional<pb::Job>> read_job(const txn& t, const std::string& name) {
  auto v = t.get(t.env().jobs, name);
  if (!v) return v.err();
  if (!*v) return std::optional<pb::Job>{};
  pb::Job j;
  if (!j.ParseFromArray((*v)->data(), static_cast<int>((*v)->size())))
    return fail(errc::corruption, fmt::format("state store: job {} does not decode", name));
  return std::optional<pb::Job>(std::move(j));
}

base::status put_job(txn& t, const pb::Job& j) {
  using rank_fences::table_tag;
  auto old = read_job(t, j.name());
  if (!old) return old.err();
  const auto& env = t.env();
  std::vector<index_entry> before;
  const std::string next = next_key(j);
  bool next_is_new = true;
  if (*old) {
    before = index_entries(**old);
    const std::string old_next = next_key(**old);
    if (old_next != next) {
      SUNDIAL_TRY(t.erase(env.next, old_next));
      SUNDIAL_TRY(rank_fences::erased(t, table_tag::next, old_next));
    } else {
      next_is_new = false;
    }
  }
  SUNDIAL_TRY(recount(t, *old ? count_keys(**old) : std::vector<std::string>{}, count_keys(j)));
  const std::vector<index_entry> after = index_entries(j);
  // Only the entries that changed are touched (most writes change a counter or two).
  std::vector<index_entry> gone, added;
  std::set_difference(before.begin(), before.end(), after.begin(), after.end(),
                      std::back_inserter(gone));
  std::set_difference(after.begin(), after.end(), before.begin(), before.end(),
                      std::back_inserter(added));
  for (const auto& e : gone) {
    SUNDIAL_TRY(t.erase(env.job_index, e.key));
    SUNDIAL_TRY(rank_fences::erased(t, table_tag::job_index, e.key));
  }
  for (const auto& e : added) {
    SUNDIAL_TRY(t.put(env.job_index, e.key, j.name()));
    SUNDIAL_TRY(rank_fences::inserted(t, table_tag::job_index, env.job_index, e.key));
  }
  if (next_is_new) {
    SUNDIAL_TRY(t.put(env.next, next, ""));
    SUNDIAL_TRY(rank_fences::inserted(t, table_tag::next, env.next, next));
  }
  SUNDIAL_TRY(t.put(env.jobs, j.name(), j.SerializeAsString()));
  if (!*old) SUNDIAL_TRY(rank_fences::inserted(t, table_tag::jobs, env.jobs, j.name()));
  return {};
}

base::status remove_job(txn& t, const pb::Job& j) {
  using rank_fences::table_tag;
  const auto& env = t.env();
  for (const auto& e : index_entries(j)) {
    SUNDIAL_TRY(t.erase(env.job_index, e.key));
    SUNDIAL_TRY(rank_fences::erased(t, table_tag::job_index, e.key));
  }
  SUNDIAL_TRY(t.erase(env.next, next_key(j)));
  SUNDIAL_TRY(rank_fences::erased(t, table_tag::next, next_key(j)));
  SUNDIAL_TRY(recount(t, count_keys(j), {}));
  SUNDIAL_TRY(t.erase(env.jobs, j.name()));
  return rank_fences::erased(t, table_tag::jobs, j.name());
}

bool is_paused(const txn& t) {
  auto v = t.get(t.env().meta, "paused");
  return v && *v && **v == "1";
}

}  // namespace sundial::state::tables
