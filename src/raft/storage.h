#pragma once
// The log storage the core reads from: entries that are durable, the hard state and the latest
// snapshot. The core never writes it; the driver persists each ready() and then tells the core
// (advance()). memory_storage is the in-memory implementation used by tests, the simulator and
// benchmarks; storage/ provides the durable one.

#include <mutex>
#include <utility>
#include <vector>

#include "base/result.h"
#include "raft/types.h"

namespace sundial::raft {

// Storage errors: the requested index is below the first entry (compacted away), or above
// the last (unavailable), or the snapshot is being built (unavailable; ask again later).
inline constexpr base::errc err_compacted = base::errc::not_found;
inline constexpr base::errc err_unavailable = base::errc::unavailable;

class log_storage {
 public:
  virtual ~log_storage() = default;
  virtual hard_state initial_hard_state() const = 0;
  virtual conf_state initial_conf_state() const = 0;
  // Entries [lo, hi) totalling at most max_bytes, but always at least one entry if lo < hi.
  virtual base::result<std::vector<entry>> entries(index_t lo, index_t hi,
                                                   std::uint64_t max_bytes) const = 0;
  // The term of entry i; the snapshot's index has the snapshot's term.
  virtual base::result<term_t> term(index_t i) const = 0;
  // The first index whose entry is available (snapshot index + 1).
  virtual index_t first_index() const = 0;
  virtual index_t last_index() const = 0;
  virtual base::result<snapshot> get_snapshot() const = 0;
};

class memory_storage final : public log_storage {
 public:
  memory_storage();

  hard_state initial_hard_state() const override;
  conf_state initial_conf_state() const override;
  base::result<std::vector<entry>> entries(index_t lo, index_t hi,
                                           std::uint64_t max_bytes) const override;
  base::result<term_t> term(index_t i) const override;
  index_t first_index() const override;
  index_t last_index() const override;
  base::result<snapshot> get_snapshot() const override;

  void set_hard_state(const hard_state& hs);
  // Replaces everything with the snapshot; refused (conflict) if older than the current one.
  base::status apply_snapshot(const snapshot& snap);
  // Records a snapshot of the state at `i` (<= last index) with its membership.
  base::result<snapshot> create_snapshot(index_t i, const conf_state& cs, payload data);
  // Drops entries up to and including `i` (which must be <= last index).
  base::status compact(index_t i);
  // Appends entries, replacing any existing suffix they conflict with. The first new entry
  // must be contiguous with (or overlap) the stored log.
  base::status append(const std::vector<entry>& es);

 private:
  index_t first_locked() const { return ents_.front().index.next(); }
  index_t last_locked() const { return ents_.front().index + (ents_.size() - 1); }

  mutable std::mutex mutex_;
  hard_state hard_state_;
  snapshot snapshot_;
  // ents_[0] is a placeholder at the snapshot's index and term.
  // Invariant: ents_[i].index == ents_[0].index + i.
  std::vector<entry> ents_;
};

}  // namespace sundial::raft
