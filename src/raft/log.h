#pragma once
// The Raft log as the core sees it: durable entries in log_storage followed by unstable ones
// (accepted but not yet persisted), plus the commit and apply positions (thesis 3.5).

#include <optional>
#include <vector>

#include "base/result.h"
#include "raft/storage.h"
#include "raft/types.h"

namespace sundial::raft {

// Entries and possibly a snapshot that the driver has not persisted yet.
class unstable_log {
 public:
  std::optional<index_t> maybe_first_index() const;
  std::optional<index_t> maybe_last_index() const;
  std::optional<term_t> maybe_term(index_t i) const;
  // Entries up to i (of term t) are now durable: forget them.
  void stable_to(index_t i, term_t t);
  void stable_snap_to(index_t i);
  void restore(const snapshot& s);
  void truncate_and_append(const std::vector<entry>& es);
  std::vector<entry> slice(index_t lo, index_t hi) const;

  std::optional<snapshot> snap;
  std::vector<entry> entries;
  // Invariant: entries[k].index == offset + k.
  index_t offset;
};

class raft_log {
 public:
  raft_log(const log_storage& storage, std::uint64_t max_committed_bytes);

  index_t first_index() const;
  index_t last_index() const;
  term_t last_term() const;
  // The term of entry i, or an error if it is compacted or beyond the last index.
  base::result<term_t> term(index_t i) const;
  // term(i) without an error value: nullopt for compacted or missing entries.
  std::optional<term_t> term_opt(index_t i) const;
  // term(i), with 0 for compacted or missing entries.
  term_t term_or_zero(index_t i) const;
  bool match_term(index_t i, term_t t) const;
  // Whether a log ending at (index, term) is at least as up to date as ours (thesis 3.6.1).
  bool is_up_to_date(index_t index, term_t term) const;

  // Follower side of AppendEntries: if our entry at `index` has `log_term`, appends `es`
  // (truncating a conflicting suffix; never a committed one), advances the commit index to
  // min(committed, last new index) and returns the last new index.
  std::optional<index_t> maybe_append(index_t index, term_t log_term, index_t committed,
                                      const std::vector<entry>& es);
  // Leader side: appends entries after the last one; returns the new last index.
  index_t append(const std::vector<entry>& es);
  // The first entry of `es` whose term differs from ours (or that we lack); 0 if none.
  index_t find_conflict(const std::vector<entry>& es) const;
  // The largest index <= `index` whose term is <= `term`, with that term (fast backtracking).
  std::pair<index_t, term_t> find_conflict_by_term(index_t index, term_t term) const;

  // Entries [lo, hi), at most max_bytes (at least one). Errors as log_storage::entries.
  base::result<std::vector<entry>> slice(index_t lo, index_t hi, std::uint64_t max_bytes) const;
  base::result<std::vector<entry>> entries_from(index_t i, std::uint64_t max_bytes) const;

  bool has_next_committed() const;
  std::vector<entry> next_committed() const;
  const std::vector<entry>& unstable_entries() const { return unstable_.entries; }
  const std::optional<snapshot>& unstable_snapshot() const { return unstable_.snap; }
  base::result<snapshot> current_snapshot() const;

  void commit_to(index_t i);
  void applied_to(index_t i);
  void stable_to(index_t i, term_t t) { unstable_.stable_to(i, t); }
  void stable_snap_to(index_t i) { unstable_.stable_snap_to(i); }
  // Replaces the log with a snapshot (follower catching up).
  void restore(const snapshot& s);

  index_t committed() const { return committed_; }
  index_t applied() const { return applied_; }

 private:
  const log_storage& storage_;
  unstable_log unstable_;
  // Invariant: applied_ <= committed_ <= last_index().
  index_t committed_;
  index_t applied_;
  std::uint64_t max_committed_bytes_;
};

}  // namespace sundial::raft
