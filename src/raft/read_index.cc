// Linearizable reads through ReadIndex (thesis 6.4) and leadership transfer (3.10).
#include <algorithm>

#include "raft/raft.h"

namespace sundial::raft {

void raft::respond_read(node_id to, const std::string& context, index_t index, bool refused) {
  if (to == id_ || to == no_node) {
    read_states_.push_back(read_state{index, context, refused});
    return;
  }
  message m;
  m.type = message_type::read_index_resp;
  m.to = to;
  m.index = index;
  m.context = context;
  m.reject = refused;
  send(std::move(m));
}

void raft::leader_read_index(const message& m) {
  const node_id from = m.from == no_node ? id_ : m.from;
  // Until an entry of this term is committed, the leader's commit index may lag what earlier
  // leaders committed: a read must not be served from it (6.4 step 1).
  if (!committed_in_current_term()) {
    respond_read(from, m.context, index_t{}, true);
    return;
  }
  if (members_.voters.size() == 1) {
    respond_read(from, m.context, log_.committed(), false);
    return;
  }
  // Confirm leadership with a quorum of heartbeats before answering (6.4 steps 2-3).
  pending_reads_.push_back(pending_read{m.context, log_.committed(), from, {id_}});
  bcast_heartbeat(m.context);
}

void raft::handle_read_ack(const message& m) {
  auto it = std::find_if(pending_reads_.begin(), pending_reads_.end(),
                         [&](const pending_read& r) { return r.context == m.context; });
  if (it == pending_reads_.end()) return;
  if (std::find(it->acks.begin(), it->acks.end(), m.from) == it->acks.end()) {
    it->acks.push_back(m.from);
  }
  std::size_t voters_acked = 0;
  for (auto n : it->acks)
    voters_acked += members_.is_voter(n) ? 1 : 0;
  if (voters_acked < members_.quorum()) return;
  // This read and every earlier one are confirmed: a quorum acknowledged us after they came.
  const auto end = std::next(it);
  for (auto r = pending_reads_.begin(); r != end; ++r) {
    respond_read(r->from, r->context, r->index, false);
  }
  pending_reads_.erase(pending_reads_.begin(), end);
}

void raft::leader_transfer(const message& m) {
  // The target travels in m.index (see raw_node::transfer_leadership).
  const node_id target{m.index.value()};
  if (target == id_ || target == no_node) return;
  if (!members_.is_voter(target)) return;  // learners cannot lead
  if (lead_transferee_ == target) return;  // already under way
  lead_transferee_ = target;
  election_elapsed_ = 0;  // the transfer must finish within one election timeout
  if (progress_.at(target).match == log_.last_index()) {
    message t;
    t.type = message_type::timeout_now;
    t.to = target;
    send(std::move(t));
  } else {
    maybe_send_append(target, true);
  }
}

}  // namespace sundial::raft
