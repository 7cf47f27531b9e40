#pragma once
// The leader's view of one follower: how far its log matches, what to send next, and how much
// may be in flight (flow control). Thesis 3.5 and etcd's progress design.

#include <cstdint>
#include <deque>
#include <map>
#include <string_view>

#include "raft/types.h"

namespace sundial::raft {

// Appends sent but not yet acknowledged, bounded in count and bytes.
class inflights {
 public:
  inflights(std::size_t max_count, std::uint64_t max_bytes)
      : max_count_(max_count), max_bytes_(max_bytes) {}
  void add(index_t last, std::uint64_t bytes);
  // Acknowledges every flight whose last index is <= i.
  void free_le(index_t i);
  // Forgets the oldest flight: a live follower that has not acknowledged it lost it.
  void free_first_one();
  void reset();
  bool full() const;
  std::size_t count() const { return flights_.size(); }

 private:
  struct flight {
    index_t last;
    std::uint64_t bytes;
  };
  std::size_t max_count_;
  std::uint64_t max_bytes_;  // 0: no byte limit
  std::deque<flight> flights_;
  std::uint64_t bytes_ = 0;
};

enum class progress_state : std::uint8_t {
  probe,      // one append at a time until the match point is found
  replicate,  // streaming appends optimistically, bounded by inflights
  snapshot,   // waiting for a snapshot to be installed
};
std::string_view to_string(progress_state s);

struct progress {
  progress(index_t next, std::size_t max_inflight, std::uint64_t max_inflight_bytes)
      : next(next), flights(max_inflight, max_inflight_bytes) {}

  // Invariant: match < next.
  index_t match;
  index_t next;
  progress_state state = progress_state::probe;
  index_t pending_snapshot;    // state snapshot: the index of the snapshot sent
  bool recent_active = false;  // heard from since the last check_quorum
  bool probe_sent = false;     // state probe: an append is outstanding
  bool is_learner = false;
  inflights flights;

  void become_probe();
  void become_replicate();
  void become_snapshot(index_t snapshot_index);
  // An append up to `last` was sent (optimistically advancing next in replicate state).
  void sent_entries(index_t last, std::uint64_t bytes);
  // The follower acknowledged up to n; false if this was stale.
  bool maybe_update(index_t n);
  // The follower rejected an append at `rejected`; `hint` is where to retry. False if stale.
  bool maybe_decr_to(index_t rejected, index_t hint);
  // Whether sending now is held back (probe outstanding, window full, or snapshot pending).
  bool is_paused() const;
};

// Voters must be an odd-or-even set with a strict majority; learners never vote.
struct membership {
  std::vector<node_id> voters;    // sorted
  std::vector<node_id> learners;  // sorted; Invariant: disjoint from voters
  bool is_voter(node_id id) const;
  bool is_learner(node_id id) const;
  bool contains(node_id id) const { return is_voter(id) || is_learner(id); }
  std::size_t quorum() const { return voters.size() / 2 + 1; }
  conf_state to_conf_state() const { return conf_state{voters, learners}; }
  static membership from(const conf_state& cs);
};

}  // namespace sundial::raft
