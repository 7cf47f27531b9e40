// What the leader and a follower do with each kind of message.
#include <fmt/format.h>

#include "raft/codec.h"
#include "raft/raft.h"

namespace sundial::raft {

using base::errc;
using base::fail;

bool raft::check_quorum_active() {
  std::size_t active = 0;
  for (auto v : members_.voters) {
    auto& pr = progress_.at(v);
    if (v == id_ || pr.recent_active) ++active;
  }
  for (auto& [n, pr] : progress_) {
    if (n != id_) pr.recent_active = false;
  }
  return active >= members_.quorum();
}

base::status raft::leader_propose(message& m) {
  if (m.entries.empty()) return fail(errc::invalid_argument, "empty proposal");
  if (!progress_.count(id_)) {
    return fail(errc::unavailable, "proposal dropped: this node was removed from the cluster");
  }
  if (lead_transferee_ != no_node) {
    return fail(errc::unavailable,
                fmt::format("proposal dropped: leadership transfer to {} in progress",
                            lead_transferee_.value()));
  }
  for (const auto& e : m.entries) {
    if (e.type != entry_type::conf_change) continue;
    if (m.entries.size() != 1) {
      return fail(errc::invalid_argument, "a membership change must be proposed on its own");
    }
    if (pending_conf_index_ > log_.applied()) {
      return fail(
          errc::conflict,
          fmt::format("membership change refused: the change at index {} is not applied yet",
                      pending_conf_index_.value()));
    }
    // A leader must commit an entry of its term before changing membership: otherwise a
    // change from a deposed leader's term could be lost (the single-server-change fix).
    if (!committed_in_current_term()) {
      return fail(
          errc::unavailable,
          "membership change refused: the leader has not committed an entry in its term yet");
    }
    auto cc = codec::decode_conf_change(e.data.view());
    if (!cc) return fail(errc::invalid_argument, "membership change refused: " + cc.err().message);
    if (cc->type == conf_change_type::remove && members_.is_voter(cc->node) &&
        members_.voters.size() == 1) {
      return fail(errc::invalid_argument,
                  "membership change refused: cannot remove the last voter");
    }
    if (cc->type == conf_change_type::add_learner && members_.is_voter(cc->node) &&
        members_.voters.size() == 1) {
      return fail(errc::invalid_argument,
                  "membership change refused: cannot demote the last voter");
    }
    if (cc->type == conf_change_type::remove && !members_.contains(cc->node)) {
      return fail(errc::not_found,
                  fmt::format("membership change refused: {} is not a member", cc->node.value()));
    }
  }
  const bool has_conf = m.entries.front().type == entry_type::conf_change;
  if (!append_entries(std::move(m.entries))) {
    return fail(errc::too_large,
                fmt::format("proposal dropped: the leader holds {} bytes of uncommitted entries, "
                            "the limit is {}; retry when commits catch up",
                            uncommitted_bytes_, cfg_.max_uncommitted_entries_size));
  }
  if (has_conf) pending_conf_index_ = log_.last_index();
  bcast_pending_ = true;
  return {};
}

base::status raft::step_leader(message& m) {
  switch (m.type) {
    case message_type::beat:
      bcast_heartbeat({});
      return {};
    case message_type::check_quorum:
      if (!check_quorum_active()) {
        // Without a live quorum this leader cannot commit; step down so clients go elsewhere.
        become_follower(term_, no_node);
      }
      return {};
    case message_type::propose:
      return leader_propose(m);
    case message_type::read_index:
      leader_read_index(m);
      return {};
    case message_type::transfer_leader:
      leader_transfer(m);
      return {};
    default:
      break;
  }
  auto it = progress_.find(m.from);
  if (it == progress_.end()) return {};  // not (or no longer) a member
  progress& pr = it->second;
  switch (m.type) {
    case message_type::append_resp:
      handle_append_response(m, pr);
      break;
    case message_type::heartbeat_resp:
      pr.recent_active = true;
      if (pr.state == progress_state::probe) pr.probe_sent = false;
      // The follower is alive but the window is still full: appends were lost (a crash, a
      // dropped message). Free one slot per heartbeat so replication cannot stall forever.
      if (pr.state == progress_state::replicate && pr.flights.full()) pr.flights.free_first_one();
      if (pr.match < log_.last_index()) maybe_send_append(m.from, true);
      if (!m.context.empty()) handle_read_ack(m);
      break;
    case message_type::snap_status:
      if (pr.state != progress_state::snapshot) break;
      if (m.reject) pr.pending_snapshot = index_t{};
      pr.become_probe();
      // Wait for the follower's append response (or the next heartbeat) before probing.
      pr.probe_sent = true;
      break;
    case message_type::unreachable:
      if (pr.state == progress_state::replicate) pr.become_probe();
      break;
    default:
      break;
  }
  return {};
}

base::status raft::step_follower(message& m) {
  switch (m.type) {
    case message_type::propose:
      if (lead_ == no_node) {
        return fail(errc::unavailable, "proposal dropped: no leader is known");
      }
      if (cfg_.disable_proposal_forwarding) {
        return fail(
            errc::unavailable,
            fmt::format("proposal dropped: not the leader (the leader is {})", lead_.value()));
      }
      m.to = lead_;
      m.term = term_t{};
      send(std::move(m));
      return {};
    case message_type::append:
      election_elapsed_ = 0;
      lead_ = m.from;
      handle_append(m);
      return {};
    case message_type::heartbeat:
      election_elapsed_ = 0;
      lead_ = m.from;
      handle_heartbeat(m);
      return {};
    case message_type::snap:
      election_elapsed_ = 0;
      lead_ = m.from;
      handle_snapshot(m);
      return {};
    case message_type::transfer_leader:
      if (lead_ == no_node) return fail(errc::unavailable, "transfer dropped: no leader is known");
      m.to = lead_;
      send(std::move(m));
      return {};
    case message_type::timeout_now:
      // The leader asks us to take over: campaign at once, skipping pre-vote (3.10).
      campaign(false, true);
      return {};
    case message_type::read_index:
      if (lead_ == no_node) {
        respond_read(id_, m.context, index_t{}, true);
        return {};
      }
      m.to = lead_;
      m.term = term_t{};
      send(std::move(m));
      return {};
    case message_type::read_index_resp:
      read_states_.push_back(read_state{m.index, m.context, m.reject});
      return {};
    default:
      return {};
  }
}

}  // namespace sundial::raft
