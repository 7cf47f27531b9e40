// Construction, roles, time and the term rules every message passes through.
#include "raft/raft.h"

#include <fmt/format.h>

#include <algorithm>

namespace sundial::raft {

using base::errc;
using base::fail;

base::status config::validate() const {
  if (id == no_node) return fail(errc::invalid_argument, "raft config: id must not be 0");
  if (heartbeat_tick <= 0)
    return fail(errc::invalid_argument, "raft config: heartbeat_tick must be > 0");
  if (election_tick <= heartbeat_tick) {
    return fail(errc::invalid_argument,
                "raft config: election_tick must be greater than heartbeat_tick");
  }
  if (election_jitter < 0)
    return fail(errc::invalid_argument, "raft config: election_jitter must be >= 0");
  if (max_inflight_msgs == 0)
    return fail(errc::invalid_argument, "raft config: max_inflight_msgs must be > 0");
  if (max_size_per_msg == 0)
    return fail(errc::invalid_argument, "raft config: max_size_per_msg must be > 0");
  return {};
}

raft::raft(const config& c, const log_storage& storage)
    : id_(c.id),
      log_(storage, c.max_committed_size_per_ready),
      cfg_(c),
      rng_(c.seed * 0x9e3779b97f4a7c15ull + c.id.value()) {
  SUNDIAL_ASSERT(c.validate().ok(), "raft config must be validated before use");
  const hard_state hs = storage.initial_hard_state();
  members_ = membership::from(storage.initial_conf_state());
  if (!hs.empty()) {
    SUNDIAL_ASSERT(hs.commit >= log_.committed() && hs.commit <= log_.last_index(),
                   "stored commit index outside the stored log");
    log_.commit_to(hs.commit);
    term_ = hs.term;
    vote_ = hs.vote;
  }
  if (c.applied > index_t{}) log_.applied_to(c.applied);
  become_follower(term_, no_node);
}

bool raft::promotable() const {
  return members_.is_voter(id_);
}

bool raft::committed_in_current_term() const {
  return log_.term_or_zero(log_.committed()) == term_;
}

void raft::reset_randomized_election_timeout() {
  // xorshift64*: reproducible per (seed, id); no global RNG.
  rng_ ^= rng_ >> 12;
  rng_ ^= rng_ << 25;
  rng_ ^= rng_ >> 27;
  const std::uint64_t r = rng_ * 0x2545f4914f6cdd1dull;
  const int jitter =
      cfg_.election_jitter > 0 ? cfg_.election_jitter : std::max(1, cfg_.election_tick / 2);
  randomized_election_timeout_ =
      cfg_.election_tick + static_cast<int>(r % static_cast<std::uint64_t>(jitter));
}

void raft::reset(term_t term) {
  if (term_ != term) {
    term_ = term;
    vote_ = no_node;
  }
  lead_ = no_node;
  election_elapsed_ = 0;
  heartbeat_elapsed_ = 0;
  reset_randomized_election_timeout();
  abort_leader_transfer();
  votes_.clear();
  reset_progress();
  pending_conf_index_ = index_t{};
  uncommitted_bytes_ = 0;
  uncommitted_.clear();
  // Reads waiting for this term's quorum can no longer be served: say so.
  for (auto& r : pending_reads_)
    respond_read(r.from, r.context, index_t{}, true);
  pending_reads_.clear();
}

void raft::reset_progress() {
  progress_.clear();
  auto add = [&](node_id n, bool learner) {
    progress p(log_.last_index().next(), cfg_.max_inflight_msgs, cfg_.max_inflight_bytes);
    p.is_learner = learner;
    if (n == id_) p.match = log_.last_index();
    progress_.emplace(n, std::move(p));
  };
  for (auto n : members_.voters)
    add(n, false);
  for (auto n : members_.learners)
    add(n, true);
}

void raft::become_follower(term_t term, node_id lead) {
  reset(term);
  lead_ = lead;
  state_ = role::follower;
}

void raft::become_pre_candidate() {
  SUNDIAL_ASSERT(state_ != role::leader, "a leader does not become a pre-candidate");
  // Pre-vote does not touch the term or the vote: a partitioned node cannot inflate terms
  // (thesis 9.6).
  votes_.clear();
  lead_ = no_node;
  state_ = role::pre_candidate;
}

void raft::become_candidate() {
  SUNDIAL_ASSERT(state_ != role::leader, "a leader does not become a candidate");
  reset(term_.next());
  vote_ = id_;
  state_ = role::candidate;
}

void raft::become_leader() {
  SUNDIAL_ASSERT(state_ == role::candidate, "only a candidate becomes leader");
  reset(term_);
  lead_ = id_;
  state_ = role::leader;
  for (auto& [n, pr] : progress_) {
    pr.recent_active = n == id_;
    if (n == id_) pr.become_replicate();
  }
  // A conf change may sit uncommitted in the log: treat everything up to here as pending.
  pending_conf_index_ = log_.last_index();
  // The no-op entry of the new term: committing it commits everything before (thesis 3.6.2)
  // and enables ReadIndex (thesis 6.4). It is exempt from the uncommitted-size bound.
  entry noop{term_, log_.last_index().next(), entry_type::normal, {}};
  log_.append({noop});
  // The leader's own match advances when the driver reports the no-op durable (persisted()).
}

void raft::persisted(index_t index, term_t term) {
  // Thesis 10.2.1: the leader may send entries before its own disk has them, so its own copy
  // counts toward a quorum only once durable. Ignore reports for entries since replaced.
  if (state_ != role::leader || log_.term_or_zero(index) != term || term != term_) return;
  if (progress_.at(id_).maybe_update(index) && maybe_commit()) bcast_pending_ = true;
}

void raft::tick() {
  if (state_ == role::leader) {
    tick_heartbeat();
  } else {
    tick_election();
  }
}

void raft::tick_election() {
  ++election_elapsed_;
  if (promotable() && past_election_timeout()) {
    election_elapsed_ = 0;
    message m;
    m.type = message_type::hup;
    m.from = id_;
    (void)step(std::move(m));
  }
}

void raft::tick_heartbeat() {
  ++heartbeat_elapsed_;
  ++election_elapsed_;
  if (election_elapsed_ >= cfg_.election_tick) {
    election_elapsed_ = 0;
    if (cfg_.check_quorum) {
      message m;
      m.type = message_type::check_quorum;
      m.from = id_;
      (void)step(std::move(m));
    }
    // A transfer that has not completed within an election timeout is abandoned (thesis 3.10).
    if (state_ == role::leader && lead_transferee_ != no_node) abort_leader_transfer();
  }
  if (state_ != role::leader) return;
  if (heartbeat_elapsed_ >= cfg_.heartbeat_tick) {
    heartbeat_elapsed_ = 0;
    message m;
    m.type = message_type::beat;
    m.from = id_;
    (void)step(std::move(m));
  }
}

void raft::send(message m) {
  m.from = id_;
  if (m.type == message_type::vote || m.type == message_type::pre_vote ||
      m.type == message_type::vote_resp || m.type == message_type::pre_vote_resp) {
    SUNDIAL_ASSERT(m.term != term_t{}, "vote messages carry their term");
  } else if (m.type != message_type::propose && m.type != message_type::read_index) {
    // Proposals and reads are forwarded with term 0: they are not bound to a term.
    m.term = term_;
  }
  msgs_.push_back(std::move(m));
}

base::status raft::step(message m) {
  // Term rules (thesis 3.3, with pre-vote 9.6 and leader stickiness 4.2.3).
  if (m.term == term_t{}) {
    // local message or forwarded proposal/read
  } else if (m.term > term_) {
    if (m.type == message_type::vote || m.type == message_type::pre_vote) {
      const bool force = m.context == "transfer";
      const bool in_lease =
          cfg_.check_quorum && lead_ != no_node && election_elapsed_ < cfg_.election_tick;
      // A follower that hears from a live leader ignores disruptive vote requests.
      if (!force && in_lease) return {};
    }
    if (m.type == message_type::pre_vote) {
      // never changes our term
    } else if (m.type == message_type::pre_vote_resp && !m.reject) {
      // a granted pre-vote carries the term we would campaign with
    } else if (m.type == message_type::append || m.type == message_type::heartbeat ||
               m.type == message_type::snap) {
      become_follower(m.term, m.from);
    } else {
      become_follower(m.term, no_node);
    }
  } else if (m.term < term_) {
    if ((cfg_.check_quorum || cfg_.pre_vote) &&
        (m.type == message_type::heartbeat || m.type == message_type::append)) {
      // A stale leader (e.g. after a partition) learns the newer term and steps down; without
      // this it could keep nodes that ignore higher-term votes from electing anyone.
      message resp;
      resp.type = message_type::append_resp;
      resp.to = m.from;
      send(std::move(resp));
    } else if (m.type == message_type::pre_vote) {
      message resp;
      resp.type = message_type::pre_vote_resp;
      resp.to = m.from;
      resp.term = term_;
      resp.reject = true;
      send(std::move(resp));
    }
    return {};  // other stale messages are ignored
  }

  switch (m.type) {
    case message_type::hup:
      if (state_ != role::leader) campaign(cfg_.pre_vote, false);
      return {};
    case message_type::vote:
    case message_type::pre_vote:
      handle_vote_request(m);
      return {};
    default:
      break;
  }
  switch (state_) {
    case role::leader:
      return step_leader(m);
    case role::candidate:
    case role::pre_candidate:
      return step_candidate(m);
    case role::follower:
      return step_follower(m);
  }
  return {};
}

conf_state raft::apply_conf_change(const conf_change& cc) {
  const bool was_voter = members_.is_voter(id_);
  auto erase = [](std::vector<node_id>& v, node_id n) {
    v.erase(std::remove(v.begin(), v.end(), n), v.end());
  };
  auto insert = [](std::vector<node_id>& v, node_id n) {
    if (!std::binary_search(v.begin(), v.end(), n))
      v.insert(std::upper_bound(v.begin(), v.end(), n), n);
  };
  auto ensure_progress = [&](node_id n, bool learner) {
    auto it = progress_.find(n);
    if (it == progress_.end()) {
      progress p(log_.last_index().next(), cfg_.max_inflight_msgs, cfg_.max_inflight_bytes);
      // A new member counts as active so check-quorum does not immediately depose the leader.
      p.recent_active = true;
      if (n == id_) p.match = log_.last_index();
      it = progress_.emplace(n, std::move(p)).first;
    }
    it->second.is_learner = learner;
  };
  switch (cc.type) {
    case conf_change_type::add_voter:
      erase(members_.learners, cc.node);
      insert(members_.voters, cc.node);
      ensure_progress(cc.node, false);
      break;
    case conf_change_type::add_learner:
      erase(members_.voters, cc.node);
      insert(members_.learners, cc.node);
      ensure_progress(cc.node, true);
      break;
    case conf_change_type::remove:
      erase(members_.voters, cc.node);
      erase(members_.learners, cc.node);
      if (cc.node != id_) progress_.erase(cc.node);
      if (lead_transferee_ == cc.node) abort_leader_transfer();
      break;
  }
  if (state_ == role::leader) {
    if (was_voter && !members_.is_voter(id_)) {
      // The leader left the voters: hand over to the most caught-up voter, then step down
      // (thesis 4.2.2), so the cluster does not wait an election timeout.
      node_id best = no_node;
      index_t best_match;
      for (auto v : members_.voters) {
        const auto& pr = progress_.at(v);
        if (best == no_node || pr.match > best_match) {
          best = v;
          best_match = pr.match;
        }
      }
      if (best != no_node && best_match == log_.last_index()) {
        message m;
        m.type = message_type::timeout_now;
        m.to = best;
        send(std::move(m));
      }
      become_follower(term_, no_node);
    } else if (maybe_commit()) {
      // A smaller quorum may commit more at once.
      bcast_append();
    } else if (progress_.count(cc.node) && cc.node != id_) {
      maybe_send_append(cc.node, true);
    }
  }
  return members_.to_conf_state();
}

}  // namespace sundial::raft
