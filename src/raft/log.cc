#include "raft/log.h"

#include <fmt/format.h>

#include <algorithm>

namespace sundial::raft {

// ---- unstable_log ----

std::optional<index_t> unstable_log::maybe_first_index() const {
  if (snap) return snap->metadata.index.next();
  return std::nullopt;
}

std::optional<index_t> unstable_log::maybe_last_index() const {
  if (!entries.empty()) return offset + (entries.size() - 1);
  if (snap) return snap->metadata.index;
  return std::nullopt;
}

std::optional<term_t> unstable_log::maybe_term(index_t i) const {
  if (i < offset) {
    if (snap && snap->metadata.index == i) return snap->metadata.term;
    return std::nullopt;
  }
  auto last = maybe_last_index();
  if (!last || i > *last) return std::nullopt;
  return entries[i - offset].term;
}

void unstable_log::stable_to(index_t i, term_t t) {
  auto gt = maybe_term(i);
  // Only if the entry is still the one that was persisted (not replaced by a newer leader's).
  if (!gt || *gt != t || i < offset) return;
  entries.erase(entries.begin(), entries.begin() + static_cast<long>(i - offset + 1));
  offset = i.next();
}

void unstable_log::stable_snap_to(index_t i) {
  if (snap && snap->metadata.index == i) snap.reset();
}

void unstable_log::restore(const snapshot& s) {
  offset = s.metadata.index.next();
  entries.clear();
  snap = s;
}

void unstable_log::truncate_and_append(const std::vector<entry>& es) {
  const index_t after = es.front().index;
  if (after == offset + entries.size()) {
    entries.insert(entries.end(), es.begin(), es.end());
  } else if (after <= offset) {
    // Replaces everything unstable; the driver must persist from `after` on.
    offset = after;
    entries = es;
  } else {
    entries.resize(after - offset);
    entries.insert(entries.end(), es.begin(), es.end());
  }
}

std::vector<entry> unstable_log::slice(index_t lo, index_t hi) const {
  SUNDIAL_ASSERT(lo >= offset && hi <= offset + entries.size() && lo <= hi,
                 "unstable slice out of bounds");
  return std::vector<entry>(entries.begin() + static_cast<long>(lo - offset),
                            entries.begin() + static_cast<long>(hi - offset));
}

// ---- raft_log ----

raft_log::raft_log(const log_storage& storage, std::uint64_t max_committed_bytes)
    : storage_(storage), max_committed_bytes_(max_committed_bytes) {
  const index_t first = storage.first_index();
  const index_t last = storage.last_index();
  unstable_.offset = last.next();
  committed_ = first.prev();
  applied_ = first.prev();
}

index_t raft_log::first_index() const {
  if (auto i = unstable_.maybe_first_index()) return *i;
  return storage_.first_index();
}

index_t raft_log::last_index() const {
  if (auto i = unstable_.maybe_last_index()) return *i;
  return storage_.last_index();
}

base::result<term_t> raft_log::term(index_t i) const {
  const index_t dummy = first_index().prev();
  if (i < dummy || i > last_index()) {
    return base::fail(i < dummy ? err_compacted : err_unavailable,
                      fmt::format("no term for index {}", i.value()));
  }
  if (auto t = unstable_.maybe_term(i)) return *t;
  return storage_.term(i);
}

std::optional<term_t> raft_log::term_opt(index_t i) const {
  // The hot path of replication: no error values, no formatting.
  if (i < first_index().prev() || i > last_index()) return std::nullopt;
  if (auto t = unstable_.maybe_term(i)) return *t;
  auto t = storage_.term(i);
  if (!t.ok()) return std::nullopt;
  return *t;
}

term_t raft_log::term_or_zero(index_t i) const {
  return term_opt(i).value_or(term_t{});
}

term_t raft_log::last_term() const {
  return term_or_zero(last_index());
}

bool raft_log::match_term(index_t i, term_t t) const {
  auto got = term_opt(i);
  return got && *got == t;
}

bool raft_log::is_up_to_date(index_t index, term_t term) const {
  const term_t lt = last_term();
  return term > lt || (term == lt && index >= last_index());
}

index_t raft_log::find_conflict(const std::vector<entry>& es) const {
  const index_t last = last_index();
  for (const auto& e : es) {
    if (e.index > last || !match_term(e.index, e.term)) return e.index;
  }
  return index_t{};
}

std::pair<index_t, term_t> raft_log::find_conflict_by_term(index_t index, term_t term) const {
  for (; index > index_t{}; index = index.prev()) {
    auto t = term_opt(index);
    if (!t) return {index, term_t{}};  // compacted: the probe will fetch a snapshot
    if (*t <= term) return {index, *t};
  }
  return {index_t{}, term_t{}};
}

std::optional<index_t> raft_log::maybe_append(index_t index, term_t log_term, index_t committed,
                                              const std::vector<entry>& es) {
  if (!match_term(index, log_term)) return std::nullopt;
  const index_t last_new = index + es.size();
  const index_t ci = find_conflict(es);
  if (ci != index_t{}) {
    SUNDIAL_ASSERT(ci > committed_, "an entry conflicts with a committed entry (thesis 3.5)");
    const std::size_t skip = ci - index.next();
    append(std::vector<entry>(es.begin() + static_cast<long>(skip), es.end()));
  }
  commit_to(std::min(committed, last_new));
  return last_new;
}

index_t raft_log::append(const std::vector<entry>& es) {
  if (es.empty()) return last_index();
  SUNDIAL_ASSERT(es.front().index.prev() >= committed_, "append would overwrite committed entries");
  unstable_.truncate_and_append(es);
  return last_index();
}

base::result<std::vector<entry>> raft_log::slice(index_t lo, index_t hi,
                                                 std::uint64_t max_bytes) const {
  if (lo > hi) return base::fail(base::errc::internal, "slice with lo > hi");
  const index_t first = first_index();
  if (lo < first)
    return base::fail(err_compacted, fmt::format("index {} is compacted", lo.value()));
  if (hi > last_index().next()) {
    return base::fail(err_unavailable, fmt::format("index {} is past the log", hi.value()));
  }
  std::vector<entry> out;
  if (lo == hi) return out;
  if (lo < unstable_.offset) {
    auto stored = storage_.entries(lo, std::min(hi, unstable_.offset), max_bytes);
    if (!stored.ok()) return stored.err();
    out = std::move(stored).value();
    // Storage stopped early for size: do not reach into unstable entries.
    if (out.size() < std::min(hi, unstable_.offset) - lo) return out;
  }
  if (hi > unstable_.offset) {
    auto tail = unstable_.slice(std::max(lo, unstable_.offset), hi);
    std::uint64_t size = entries_size(out);
    for (auto& e : tail) {
      size += entry_size(e);
      if (!out.empty() && size > max_bytes) break;
      out.push_back(std::move(e));
    }
  }
  return out;
}

base::result<std::vector<entry>> raft_log::entries_from(index_t i, std::uint64_t max_bytes) const {
  if (i > last_index()) return std::vector<entry>{};
  return slice(i, last_index().next(), max_bytes);
}

bool raft_log::has_next_committed() const {
  if (unstable_.snap) return false;  // the snapshot must be applied first
  return committed_.next() > std::max(applied_.next(), first_index());
}

std::vector<entry> raft_log::next_committed() const {
  if (!has_next_committed()) return {};
  const index_t lo = std::max(applied_.next(), first_index());
  auto es = slice(lo, committed_.next(), max_committed_bytes_);
  SUNDIAL_ASSERT(es.ok(), "committed entries must be readable");
  return std::move(es).value();
}

base::result<snapshot> raft_log::current_snapshot() const {
  if (unstable_.snap) return *unstable_.snap;
  return storage_.get_snapshot();
}

void raft_log::commit_to(index_t i) {
  if (i <= committed_) return;  // the commit index never decreases
  SUNDIAL_ASSERT(i <= last_index(), "commit index beyond the last entry");
  committed_ = i;
}

void raft_log::applied_to(index_t i) {
  if (i == index_t{}) return;
  SUNDIAL_ASSERT(i <= committed_ && i >= applied_, "applied index out of range");
  applied_ = i;
}

void raft_log::restore(const snapshot& s) {
  committed_ = s.metadata.index;
  unstable_.restore(s);
}

}  // namespace sundial::raft
