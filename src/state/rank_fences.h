#pragma once
// Positions in an ordered LMDB table without walking it: "the 900,000th job by name" for
// GET /v1/jobs?_start=900000. LMDB's B-tree keeps no subtree counts, so a table's keys are cut
// into buckets by fence keys, and the fences table stores each bucket's size (fence key ->
// number of table keys in [fence, next fence)). Finding position p sums bucket sizes (about
// one fence per `bucket_target` keys) and then walks at most one bucket.
//
// Buckets split when they pass 2 x bucket_target keys and a fence goes when its bucket
// empties; the sentinel fence "" (per table tag) is never removed.
// Invariant: for every tag, the fence counts sum to the table's (or index range's) key count,
// and each count equals the number of keys in its bucket.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "base/result.h"
#include "state/state_db.h"

namespace sundial::state::rank_fences {

inline constexpr std::uint64_t bucket_target = 512;

// Which ordered table a fence belongs to (its first key byte in the fences table).
enum class table_tag : char { jobs = 'j', next = 'n', job_index = 'i' };

// Call after putting a key that was not in `table` before.
base::status inserted(txn& t, table_tag tag, MDB_dbi table, std::string_view key);
// Call after deleting a key that was in the table.
base::status erased(txn& t, table_tag tag, std::string_view key);
// The key at position `pos` (0-based, ascending) among the table's keys >= `from`; nullopt
// when there are not that many.
base::result<std::optional<std::string>> key_at(const txn& t, table_tag tag, MDB_dbi table,
                                                std::string_view from, std::uint64_t pos);

}  // namespace sundial::state::rank_fences
