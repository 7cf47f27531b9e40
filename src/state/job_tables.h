#pragma once
// The job store's table layout (internal to src/state): key encodings, and the one way to
// write or remove a job so that its index entries and the per-status counts always agree
// with the jobs table.
//
// Invariant: for every job J in `jobs`, `next` holds next_key(J) and `job_index` holds exactly
// index_entries(J); the meta counts equal the number of jobs per status, per disabled flag and
// per (status, disabled) pair.

#include <optional>
#include <string>
#include <vector>

#include "base/result.h"
#include "state.pb.h"
#include "state/state_db.h"

namespace sundial::state::tables {

// The sorted indexes in job_index, by their first key byte.
enum class index_id : char {
  displayname = 1,
  schedule = 2,
  success_count = 3,
  error_count = 4,
  last_success = 5,
  last_error = 6,
  status = 7,
  disabled = 8,
  metadata = 9,  // one entry per metadata pair: key \0 value \0 name
};

// "next" index: big-endian next fire (never-firing jobs last) + name.
std::string next_key(const pb::Job& j);
// The index's key range for jobs whose key equals `value` (status and disabled), or the
// whole index when `value` is nullopt.
std::string index_prefix(index_id id, const std::optional<std::string>& value = std::nullopt);
// The index of a `_sort` key (displayname, schedule, counts, last_*), or nullopt.
std::optional<index_id> sort_index(const std::string& sort);
// The metadata index's value for a pair ("key \0 value"), or nullopt for a pair that is not
// indexed (over 100 bytes, or holding a NUL byte): a filter on it walks instead.
std::optional<std::string> metadata_index_value(const std::string& key, const std::string& value);

std::string exec_prefix(const std::string& job);
std::string exec_key(const pb::Execution& e);
std::string exec_id_key(const std::string& job, const std::string& id);
// The launches table's key of a slot (job \0 big-endian slot): the slot key.
std::string launch_key(const std::string& job, std::int64_t slot_us);

// Counts kept in meta.
std::string status_count_key(const std::string& status);
std::string disabled_count_key(bool disabled);
std::string pair_count_key(const std::string& status, bool disabled);
std::string metadata_count_key(const std::string& indexed_pair);  // from metadata_index_value
base::result<std::uint64_t> read_count(const txn& t, const std::string& key);

base::result<std::optional<pb::Job>> read_job(const txn& t, const std::string& name);
// Writes `j`, replacing any stored job of that name, with its index entries and counts.
base::status put_job(txn& t, const pb::Job& j);
// Removes `j` (as stored), its index entries and its counts.
base::status remove_job(txn& t, const pb::Job& j);
bool is_paused(const txn& t);

}  // namespace sundial::state::tables
