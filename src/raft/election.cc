// Leader election (thesis 3.4) with pre-vote (9.6) and forced elections for transfer (3.10).
#include "raft/raft.h"

namespace sundial::raft {

void raft::campaign(bool pre_vote, bool transfer) {
  if (!promotable()) return;  // learners and removed servers never campaign
  term_t campaign_term;
  message_type type;
  if (pre_vote) {
    become_pre_candidate();
    type = message_type::pre_vote;
    campaign_term = term_.next();  // not adopted until the real election
  } else {
    become_candidate();
    type = message_type::vote;
    campaign_term = term_;
  }
  const int outcome = poll(id_, true);
  if (outcome > 0) {
    // A single voter wins at once.
    if (pre_vote) {
      campaign(false, transfer);
    } else {
      become_leader();
    }
    return;
  }
  for (auto v : members_.voters) {
    if (v == id_) continue;
    message m;
    m.type = type;
    m.to = v;
    m.term = campaign_term;
    m.index = log_.last_index();
    m.log_term = log_.last_term();
    if (transfer) m.context = "transfer";
    send(std::move(m));
  }
}

void raft::handle_vote_request(const message& m) {
  const bool pre = m.type == message_type::pre_vote;
  // We can vote for m.from if we already did (a repeated request), if we have not voted and
  // know no leader, or, for a pre-vote, if it is for a later term (thesis 3.4, 9.6).
  const bool can_vote =
      vote_ == m.from || (vote_ == no_node && lead_ == no_node) || (pre && m.term > term_);
  message resp;
  resp.type = pre ? message_type::pre_vote_resp : message_type::vote_resp;
  resp.to = m.from;
  if (can_vote && log_.is_up_to_date(m.index, m.log_term)) {
    // The response carries the request's term so that a pre-candidate counts it (a real
    // vote's term equals ours by now).
    resp.term = m.term;
    if (!pre) {
      election_elapsed_ = 0;
      vote_ = m.from;
    }
  } else {
    resp.term = term_;
    resp.reject = true;
  }
  send(std::move(resp));
}

int raft::poll(node_id from, bool granted) {
  votes_.emplace(from, granted);  // a repeated response does not count twice
  std::size_t yes = 0;
  std::size_t no = 0;
  for (auto v : members_.voters) {
    auto it = votes_.find(v);
    if (it == votes_.end()) continue;
    (it->second ? yes : no) += 1;
  }
  const std::size_t q = members_.quorum();
  if (yes >= q) return 1;
  if (no > members_.voters.size() - q) return -1;
  return 0;
}

base::status raft::step_candidate(message& m) {
  const message_type my_resp =
      state_ == role::pre_candidate ? message_type::pre_vote_resp : message_type::vote_resp;
  switch (m.type) {
    case message_type::propose:
      return base::fail(base::errc::unavailable,
                        "proposal dropped: no leader is known (election in progress)");
    case message_type::append:
      become_follower(m.term, m.from);
      handle_append(m);
      return {};
    case message_type::heartbeat:
      become_follower(m.term, m.from);
      handle_heartbeat(m);
      return {};
    case message_type::snap:
      become_follower(m.term, m.from);
      handle_snapshot(m);
      return {};
    case message_type::read_index:
      respond_read(m.from == id_ ? id_ : m.from, m.context, index_t{}, true);
      return {};
    case message_type::pre_vote_resp:
    case message_type::vote_resp: {
      if (m.type != my_resp) return {};  // a late answer to the other kind of campaign
      const int outcome = poll(m.from, !m.reject);
      if (outcome > 0) {
        if (state_ == role::pre_candidate) {
          campaign(false, false);
        } else {
          become_leader();
          bcast_append();
        }
      } else if (outcome < 0) {
        // pre_vote_resp rejections carry a newer term only when one exists; keep ours.
        become_follower(term_, no_node);
      }
      return {};
    }
    default:
      return {};  // timeout_now, transfer_leader, stale responses
  }
}

}  // namespace sundial::raft
