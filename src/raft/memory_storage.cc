#include <fmt/format.h>

#include "raft/storage.h"

namespace sundial::raft {

using base::fail;

memory_storage::memory_storage() : ents_(1) {}

hard_state memory_storage::initial_hard_state() const {
  std::lock_guard lock(mutex_);
  return hard_state_;
}

conf_state memory_storage::initial_conf_state() const {
  std::lock_guard lock(mutex_);
  return snapshot_.metadata.conf;
}

void memory_storage::set_hard_state(const hard_state& hs) {
  std::lock_guard lock(mutex_);
  hard_state_ = hs;
}

base::result<std::vector<entry>> memory_storage::entries(index_t lo, index_t hi,
                                                         std::uint64_t max_bytes) const {
  std::lock_guard lock(mutex_);
  const index_t offset = ents_.front().index;
  if (lo <= offset) return fail(err_compacted, fmt::format("index {} is compacted", lo.value()));
  if (hi > last_locked().next()) {
    return fail(err_unavailable, fmt::format("entries up to {} requested, last is {}", hi.value(),
                                             last_locked().value()));
  }
  std::vector<entry> out;
  std::uint64_t size = 0;
  for (index_t i = lo; i < hi; i = i.next()) {
    const entry& e = ents_[i - offset];
    size += entry_size(e);
    if (!out.empty() && size > max_bytes) break;
    out.push_back(e);
  }
  return out;
}

base::result<term_t> memory_storage::term(index_t i) const {
  std::lock_guard lock(mutex_);
  const index_t offset = ents_.front().index;
  if (i < offset) return fail(err_compacted, fmt::format("index {} is compacted", i.value()));
  if (i - offset >= ents_.size()) {
    return fail(err_unavailable, fmt::format("index {} is past the last entry", i.value()));
  }
  return ents_[i - offset].term;
}

index_t memory_storage::first_index() const {
  std::lock_guard lock(mutex_);
  return first_locked();
}

index_t memory_storage::last_index() const {
  std::lock_guard lock(mutex_);
  return last_locked();
}

base::result<snapshot> memory_storage::get_snapshot() const {
  std::lock_guard lock(mutex_);
  return snapshot_;
}

base::status memory_storage::apply_snapshot(const snapshot& snap) {
  std::lock_guard lock(mutex_);
  if (snap.metadata.index < snapshot_.metadata.index) {
    return fail(base::errc::conflict, "snapshot is older than the stored one");
  }
  snapshot_ = snap;
  ents_.assign(1, entry{snap.metadata.term, snap.metadata.index, entry_type::normal, {}});
  return {};
}

base::result<snapshot> memory_storage::create_snapshot(index_t i, const conf_state& cs,
                                                       payload data) {
  std::lock_guard lock(mutex_);
  if (i <= snapshot_.metadata.index) {
    return fail(base::errc::conflict, "snapshot index is not newer than the stored snapshot");
  }
  if (i > last_locked()) {
    return fail(base::errc::invalid_argument,
                fmt::format("snapshot index {} is past the last entry {}", i.value(),
                            last_locked().value()));
  }
  const index_t offset = ents_.front().index;
  snapshot_.metadata = snapshot_metadata{cs, i, ents_[i - offset].term};
  snapshot_.data = std::move(data);
  return snapshot_;
}

base::status memory_storage::compact(index_t i) {
  std::lock_guard lock(mutex_);
  const index_t offset = ents_.front().index;
  if (i <= offset) return fail(err_compacted, "already compacted");
  if (i > last_locked()) return fail(base::errc::invalid_argument, "compaction past the log's end");
  const std::size_t k = i - offset;
  std::vector<entry> kept;
  kept.reserve(ents_.size() - k);
  kept.push_back(entry{ents_[k].term, ents_[k].index, entry_type::normal, {}});
  kept.insert(kept.end(), std::make_move_iterator(ents_.begin() + static_cast<long>(k) + 1),
              std::make_move_iterator(ents_.end()));
  ents_ = std::move(kept);
  return {};
}

base::status memory_storage::append(const std::vector<entry>& es) {
  if (es.empty()) return {};
  std::lock_guard lock(mutex_);
  const index_t first = first_locked();
  const index_t last_new = es.back().index;
  if (last_new < first) return {};  // all already compacted
  std::size_t skip = 0;
  if (es.front().index < first) skip = first - es.front().index;
  const index_t start = es[skip].index;
  const index_t offset = ents_.front().index;
  if (start - offset > ents_.size()) {
    return fail(base::errc::invalid_argument, fmt::format("append at {} leaves a gap after {}",
                                                          start.value(), last_locked().value()));
  }
  ents_.resize(start - offset);
  ents_.insert(ents_.end(), es.begin() + static_cast<long>(skip), es.end());
  return {};
}

}  // namespace sundial::raft
