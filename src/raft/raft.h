#pragma once
// The consensus core: one server's Raft state machine. Pure and deterministic: no threads,
// sockets, files or clocks. Time is tick(); input is step(message); output is collected by
// raw_node into a ready (raw_node.h). References: the Raft thesis (Ongaro 2014) by section,
// and etcd's raft design (pre-vote, check-quorum, flow control, ReadIndex).

#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "base/result.h"
#include "raft/log.h"
#include "raft/progress.h"
#include "raft/storage.h"
#include "raft/types.h"

namespace sundial::raft {

struct config {
  node_id id;
  // Election timeout in ticks; each term picks a random timeout in [election_tick,
  // election_tick + election_jitter) so that split votes resolve (thesis 3.4).
  int election_tick = 10;
  // 0 means election_tick / 2. A narrower window than etcd's [T, 2T) shortens failover (the
  // median wait after a leader dies is T + jitter/2) while pre-vote keeps split votes rare.
  int election_jitter = 0;
  int heartbeat_tick = 1;
  // The last index the state machine has applied (on restart).
  index_t applied;
  std::uint64_t max_size_per_msg = 1 << 20;  // entry bytes per append message
  std::uint64_t max_committed_size_per_ready = 64 << 20;
  // Proposals that would make the leader's uncommitted entries exceed this are refused.
  std::uint64_t max_uncommitted_entries_size = 64 << 20;
  std::size_t max_inflight_msgs = 256;   // appends in flight per follower
  std::uint64_t max_inflight_bytes = 0;  // 0: no byte bound
  bool check_quorum = true;              // leader steps down without a live quorum
  bool pre_vote = true;                  // thesis 9.6
  bool disable_proposal_forwarding = false;
  std::uint64_t seed = 1;  // randomised timeouts, reproducible per seed

  base::status validate() const;
};

// Why a proposal or request was refused. Messages say what to do about it.
// (All are base::error values; these are the codes used.)
//   unavailable: no leader known, leader transfer in progress, node removed
//   too_large:   uncommitted log full
//   conflict:    another membership change pending
//   invalid_argument: malformed request

class raft {
 public:
  raft(const config& c, const log_storage& storage);

  // Feeds one message (from the network, or a local one such as hup/beat/propose).
  base::status step(message m);
  // One unit of logical time.
  void tick();
  // Changes membership once a conf change entry is committed (the application calls this
  // while applying). Returns the new membership.
  conf_state apply_conf_change(const conf_change& cc);
  // The driver made entries up to `index` (of `term`) durable. On a leader this is what
  // counts its own copy toward the commit quorum.
  void persisted(index_t index, term_t term);

  node_id id() const { return id_; }
  term_t term() const { return term_; }
  node_id vote() const { return vote_; }
  node_id leader() const { return lead_; }
  role state() const { return state_; }
  node_id leader_transferee() const { return lead_transferee_; }
  hard_state current_hard_state() const { return {term_, vote_, log_.committed()}; }
  soft_state current_soft_state() const { return {lead_, state_}; }
  const membership& members() const { return members_; }
  const std::map<node_id, progress>& progresses() const { return progress_; }
  raft_log& log() { return log_; }
  const raft_log& log() const { return log_; }
  std::uint64_t uncommitted_bytes() const { return uncommitted_bytes_; }
  bool committed_in_current_term() const;

  // Sends the appends that proposals and commit advances asked for since the last call: one
  // message per follower for everything new, instead of one per proposal. raw_node calls it
  // before it hands out a ready.
  void flush_appends();
  bool has_unflushed_appends() const { return bcast_pending_; }

  std::vector<message>& pending_messages() { return msgs_; }
  std::vector<read_state>& pending_read_states() { return read_states_; }

 private:
  // roles (raft.cc)
  void become_follower(term_t term, node_id lead);
  void become_pre_candidate();
  void become_candidate();
  void become_leader();
  void reset(term_t term);
  void reset_progress();
  bool promotable() const;
  void reset_randomized_election_timeout();
  bool past_election_timeout() const { return election_elapsed_ >= randomized_election_timeout_; }
  void tick_election();
  void tick_heartbeat();
  void send(message m);

  // elections (election.cc)
  void campaign(bool pre_vote, bool transfer);
  void handle_vote_request(const message& m);
  // Records a vote; returns +1 won, -1 lost, 0 pending.
  int poll(node_id from, bool granted);
  base::status step_candidate(message& m);

  // replication (replication.cc)
  bool append_entries(std::vector<entry> es);
  bool maybe_send_append(node_id to, bool send_if_empty);
  bool send_snapshot(node_id to, progress& pr);
  void bcast_append();
  void send_heartbeat(node_id to, const std::string& context);
  void bcast_heartbeat(const std::string& context);
  bool maybe_commit();
  void handle_append(const message& m);
  void handle_append_response(const message& m, progress& pr);
  void handle_heartbeat(const message& m);
  void handle_snapshot(const message& m);
  bool restore(const snapshot& s);
  void release_uncommitted(index_t committed);

  // leader and follower steps (step.cc)
  base::status step_leader(message& m);
  base::status step_follower(message& m);
  base::status leader_propose(message& m);
  bool check_quorum_active();

  // reads and leadership transfer (read_index.cc)
  void leader_read_index(const message& m);
  void handle_read_ack(const message& m);
  void respond_read(node_id to, const std::string& context, index_t index, bool refused);
  void leader_transfer(const message& m);
  void abort_leader_transfer() { lead_transferee_ = no_node; }

  node_id id_;
  term_t term_;
  node_id vote_;
  node_id lead_;
  role state_ = role::follower;
  raft_log log_;
  membership members_;
  // Invariant: has an entry for every member (and, on a leader, for itself).
  std::map<node_id, progress> progress_;
  std::map<node_id, bool> votes_;

  config cfg_;
  int election_elapsed_ = 0;  // leader: ticks since the last check-quorum
  int heartbeat_elapsed_ = 0;
  int randomized_election_timeout_ = 0;
  std::uint64_t rng_;

  node_id lead_transferee_;
  // The index of the latest conf change proposed by this leader; a new one is refused until
  // it is applied (one change at a time, thesis 4.1).
  index_t pending_conf_index_;
  // Bytes of this leader's entries above the commit index, in order.
  std::uint64_t uncommitted_bytes_ = 0;
  std::deque<std::pair<index_t, std::uint64_t>> uncommitted_;

  // ReadIndex requests waiting for a heartbeat quorum (thesis 6.4).
  struct pending_read {
    std::string context;
    index_t index;
    node_id from;
    std::vector<node_id> acks;
  };
  std::deque<pending_read> pending_reads_;

  bool bcast_pending_ = false;  // leader: new entries or a new commit index to broadcast
  std::vector<message> msgs_;
  std::vector<read_state> read_states_;
};

}  // namespace sundial::raft
