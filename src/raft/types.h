#pragma once
// The values the consensus core consumes and produces. They mirror proto/raft.proto, which is
// their wire form (see codec.h); the core itself never serialises.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/strong_id.h"

namespace sundial::raft {

using base::index_t;
using base::node_id;
using base::term_t;

inline constexpr node_id no_node{0};

// Immutable bytes shared by reference: an entry copied from the log into messages and into
// committed-entry lists shares one allocation.
class payload {
 public:
  payload() = default;
  explicit payload(std::string bytes)
      : data_(bytes.empty() ? nullptr : std::make_shared<const std::string>(std::move(bytes))) {}
  std::string_view view() const { return data_ ? std::string_view(*data_) : std::string_view(); }
  std::size_t size() const { return data_ ? data_->size() : 0; }
  bool empty() const { return size() == 0; }
  friend bool operator==(const payload& a, const payload& b) { return a.view() == b.view(); }

 private:
  std::shared_ptr<const std::string> data_;
};

enum class entry_type : std::uint8_t {
  normal,       // application data (empty data: the leader's no-op of a new term)
  conf_change,  // data is an encoded conf_change (codec.h)
};

struct entry {
  term_t term;
  index_t index;
  entry_type type = entry_type::normal;
  payload data;
  friend bool operator==(const entry&, const entry&) = default;
};

// Bytes an entry counts for in size limits (message size, in-flight bytes, uncommitted size).
inline std::uint64_t entry_size(const entry& e) {
  return e.data.size() + 24;
}
std::uint64_t entries_size(const std::vector<entry>& es);

// What must be persisted before answering any message (thesis 3.8).
struct hard_state {
  term_t term;
  node_id vote;
  index_t commit;
  friend bool operator==(const hard_state&, const hard_state&) = default;
  bool empty() const { return term == term_t{} && vote == no_node && commit == index_t{}; }
};

// The cluster membership, as of some log index.
struct conf_state {
  std::vector<node_id> voters;
  std::vector<node_id> learners;
  friend bool operator==(const conf_state&, const conf_state&) = default;
};

struct snapshot_metadata {
  conf_state conf;
  index_t index;  // the last entry the snapshot covers
  term_t term;    // that entry's term
  friend bool operator==(const snapshot_metadata&, const snapshot_metadata&) = default;
};

struct snapshot {
  payload data;  // the state machine's image, opaque to Raft
  snapshot_metadata metadata;
  bool empty() const { return metadata.index == index_t{}; }
  friend bool operator==(const snapshot&, const snapshot&) = default;
};

// A membership change, one server at a time (thesis 4.1).
enum class conf_change_type : std::uint8_t {
  add_voter,    // add a voter, or promote a learner
  add_learner,  // add a non-voting member, or demote a voter
  remove,       // remove a voter or a learner
};

struct conf_change {
  conf_change_type type = conf_change_type::add_voter;
  node_id node;
  std::string context;  // opaque to Raft (e.g. the new server's address)
  friend bool operator==(const conf_change&, const conf_change&) = default;
};

enum class message_type : std::uint8_t {
  // local only (never sent)
  hup,           // start an election
  beat,          // leader: send heartbeats
  check_quorum,  // leader: step down unless a quorum was heard from
  unreachable,   // transport: a peer could not be reached
  snap_status,   // transport: a snapshot was (reject=false) or was not delivered
  // proposals and reads (local, or forwarded between nodes)
  propose,
  read_index,
  read_index_resp,
  transfer_leader,
  // between nodes
  append,
  append_resp,
  vote,
  vote_resp,
  pre_vote,
  pre_vote_resp,
  snap,
  heartbeat,
  heartbeat_resp,
  timeout_now,
};

std::string_view to_string(message_type t);
// Local messages are produced and consumed on one node; a node never receives them from others.
bool is_local(message_type t);
// Responses, which must not be refused for a stale term in the way requests are.
bool is_response(message_type t);

struct message {
  message_type type = message_type::hup;
  node_id to;
  node_id from;
  term_t term;
  term_t log_term;  // append: term of entry `index`; rejection: term at reject_hint
  index_t index;    // append: index before `entries`; responses: last index matched
  std::vector<entry> entries;
  index_t commit;
  std::shared_ptr<const snapshot> snap;  // type snap only
  bool reject = false;
  index_t reject_hint;
  std::string context;  // read index request ids; "transfer" on forced votes
};

// The answer to a ReadIndex request: reads that observe `index` applied are linearizable.
struct read_state {
  index_t index;
  std::string context;
  bool refused = false;  // the leader could not serve it (no commit in its term yet, or gone)
};

enum class role : std::uint8_t { follower, pre_candidate, candidate, leader };
std::string_view to_string(role r);

// Volatile state reported to the application when it changes.
struct soft_state {
  node_id leader;
  role state = role::follower;
  friend bool operator==(const soft_state&, const soft_state&) = default;
};

}  // namespace sundial::raft
