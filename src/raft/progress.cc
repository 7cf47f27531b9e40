#include "raft/progress.h"

#include <algorithm>

#include "base/assert.h"

namespace sundial::raft {

void inflights::add(index_t last, std::uint64_t bytes) {
  flights_.push_back({last, bytes});
  bytes_ += bytes;
}

void inflights::free_le(index_t i) {
  while (!flights_.empty() && flights_.front().last <= i) {
    bytes_ -= flights_.front().bytes;
    flights_.pop_front();
  }
}

void inflights::free_first_one() {
  if (flights_.empty()) return;
  bytes_ -= flights_.front().bytes;
  flights_.pop_front();
}

void inflights::reset() {
  flights_.clear();
  bytes_ = 0;
}

bool inflights::full() const {
  return flights_.size() >= max_count_ || (max_bytes_ != 0 && bytes_ >= max_bytes_);
}

std::string_view to_string(progress_state s) {
  switch (s) {
    case progress_state::probe:
      return "probe";
    case progress_state::replicate:
      return "replicate";
    case progress_state::snapshot:
      return "snapshot";
  }
  return "unknown";
}

void progress::become_probe() {
  // After a snapshot, resume right after it; otherwise right after the match point.
  if (state == progress_state::snapshot) {
    const index_t pending = pending_snapshot;
    state = progress_state::probe;
    next = std::max(match.next(), pending.next());
  } else {
    state = progress_state::probe;
    next = match.next();
  }
  probe_sent = false;
  pending_snapshot = index_t{};
  flights.reset();
}

void progress::become_replicate() {
  state = progress_state::replicate;
  next = match.next();
  probe_sent = false;
  pending_snapshot = index_t{};
  flights.reset();
}

void progress::become_snapshot(index_t snapshot_index) {
  state = progress_state::snapshot;
  pending_snapshot = snapshot_index;
  probe_sent = false;
  flights.reset();
}

void progress::sent_entries(index_t last, std::uint64_t bytes) {
  switch (state) {
    case progress_state::replicate:
      if (last >= next) {
        next = last.next();
        flights.add(last, bytes);
      }
      break;
    case progress_state::probe:
      probe_sent = true;
      break;
    case progress_state::snapshot:
      SUNDIAL_ASSERT(false, "entries are not sent while a snapshot is pending");
  }
}

bool progress::maybe_update(index_t n) {
  bool updated = false;
  if (match < n) {
    match = n;
    updated = true;
    probe_sent = false;
  }
  next = std::max(next, n.next());
  return updated;
}

bool progress::maybe_decr_to(index_t rejected, index_t hint) {
  if (state == progress_state::replicate) {
    // Stale rejection of something already matched.
    if (rejected <= match) return false;
    next = match.next();
    return true;
  }
  // Probe: only the rejection of the index we last probed counts.
  if (next.prev() != rejected) return false;
  next = std::max(std::min(rejected, hint.next()), match.next());
  probe_sent = false;
  return true;
}

bool progress::is_paused() const {
  switch (state) {
    case progress_state::probe:
      return probe_sent;
    case progress_state::replicate:
      return flights.full();
    case progress_state::snapshot:
      return true;
  }
  return true;
}

bool membership::is_voter(node_id id) const {
  return std::binary_search(voters.begin(), voters.end(), id);
}

bool membership::is_learner(node_id id) const {
  return std::binary_search(learners.begin(), learners.end(), id);
}

membership membership::from(const conf_state& cs) {
  membership m{cs.voters, cs.learners};
  std::sort(m.voters.begin(), m.voters.end());
  std::sort(m.learners.begin(), m.learners.end());
  return m;
}

}  // namespace sundial::raft
