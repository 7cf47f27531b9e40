// Log replication (thesis 3.5), commitment (3.6.2), snapshots (5.3) and flow control.
#include <algorithm>

#include "raft/raft.h"

namespace sundial::raft {

bool raft::append_entries(std::vector<entry> es) {
  std::uint64_t bytes = 0;
  for (const auto& e : es)
    bytes += e.data.size();
  // Refuse when over the bound, but always accept a batch into an empty window so that one
  // large proposal cannot be refused forever.
  if (cfg_.max_uncommitted_entries_size != 0 && uncommitted_bytes_ > 0 &&
      uncommitted_bytes_ + bytes > cfg_.max_uncommitted_entries_size) {
    return false;
  }
  index_t li = log_.last_index();
  for (auto& e : es) {
    li = li.next();
    e.term = term_;
    e.index = li;
    if (e.data.size() > 0) uncommitted_.emplace_back(e.index, e.data.size());
  }
  uncommitted_bytes_ += bytes;
  log_.append(es);
  // The leader's own match counts toward the commit quorum once the driver reports these
  // entries durable (raft::persisted), not before: the driver may send them first.
  return true;
}

void raft::release_uncommitted(index_t committed) {
  while (!uncommitted_.empty() && uncommitted_.front().first <= committed) {
    uncommitted_bytes_ -= uncommitted_.front().second;
    uncommitted_.pop_front();
  }
}

bool raft::maybe_commit() {
  // The largest index replicated on a quorum of voters...
  std::vector<index_t> matches;
  matches.reserve(members_.voters.size());
  for (auto v : members_.voters)
    matches.push_back(progress_.at(v).match);
  if (matches.empty()) return false;
  std::sort(matches.begin(), matches.end(), std::greater<>());
  const index_t mci = matches[members_.quorum() - 1];
  // ...is committed only if it is from this term: older entries commit indirectly (3.6.2).
  if (mci <= log_.committed() || log_.term_or_zero(mci) != term_) return false;
  log_.commit_to(mci);
  release_uncommitted(mci);
  return true;
}

bool raft::send_snapshot(node_id to, progress& pr) {
  if (!pr.recent_active) return false;  // do not ship a snapshot to a node that seems down
  auto snap = log_.current_snapshot();
  if (!snap.ok() || snap->empty()) return false;  // not ready yet; retried on the next beat
  pr.become_snapshot(snap->metadata.index);
  message m;
  m.type = message_type::snap;
  m.to = to;
  m.snap = std::make_shared<const snapshot>(std::move(snap).value());
  send(std::move(m));
  return true;
}

bool raft::maybe_send_append(node_id to, bool send_if_empty) {
  auto it = progress_.find(to);
  if (it == progress_.end()) return false;
  progress& pr = it->second;
  if (pr.is_paused()) return false;
  const index_t prev = pr.next.prev();
  auto prev_term = log_.term(prev);
  auto ents = log_.entries_from(pr.next, cfg_.max_size_per_msg);
  if (!prev_term.ok() || !ents.ok()) {
    // What the follower needs is compacted away: send a snapshot instead (5.3).
    return send_snapshot(to, pr);
  }
  if (ents->empty() && !send_if_empty) return false;
  message m;
  m.type = message_type::append;
  m.to = to;
  m.index = prev;
  m.log_term = *prev_term;
  m.commit = log_.committed();
  const index_t last = ents->empty() ? prev : ents->back().index;
  const std::uint64_t bytes = entries_size(*ents);
  m.entries = std::move(ents).value();
  pr.sent_entries(last, bytes);
  send(std::move(m));
  return true;
}

void raft::flush_appends() {
  if (!bcast_pending_) return;
  bcast_pending_ = false;
  if (state_ == role::leader) bcast_append();
}

void raft::bcast_append() {
  for (auto& [n, pr] : progress_) {
    if (n != id_) maybe_send_append(n, true);
  }
}

void raft::send_heartbeat(node_id to, const std::string& context) {
  // Never tell a follower to commit past what it is known to hold.
  const index_t commit = std::min(progress_.at(to).match, log_.committed());
  message m;
  m.type = message_type::heartbeat;
  m.to = to;
  m.commit = commit;
  m.context = context;
  send(std::move(m));
}

void raft::bcast_heartbeat(const std::string& context) {
  for (auto& [n, pr] : progress_) {
    if (n != id_) send_heartbeat(n, context);
  }
}

void raft::handle_append(const message& m) {
  message resp;
  resp.type = message_type::append_resp;
  resp.to = m.from;
  if (m.index < log_.committed()) {
    // Already have (and committed) all of it: tell the leader where we are.
    resp.index = log_.committed();
    send(std::move(resp));
    return;
  }
  if (auto last_new = log_.maybe_append(m.index, m.log_term, m.commit, m.entries)) {
    resp.index = *last_new;
    send(std::move(resp));
    return;
  }
  // Rejected: hint the largest index whose term is <= the leader's term at m.index, so that
  // the leader skips a whole conflicting term in one round trip.
  const index_t hint = std::min(m.index, log_.last_index());
  const auto [hint_index, hint_term] = log_.find_conflict_by_term(hint, m.log_term);
  resp.index = m.index;
  resp.reject = true;
  resp.reject_hint = hint_index;
  resp.log_term = hint_term;
  send(std::move(resp));
}

void raft::handle_append_response(const message& m, progress& pr) {
  pr.recent_active = true;
  if (m.reject) {
    index_t next_probe = m.reject_hint;
    if (m.log_term > term_t{}) {
      // Skip our entries of terms the follower cannot have.
      next_probe = log_.find_conflict_by_term(m.reject_hint, m.log_term).first;
    }
    if (pr.maybe_decr_to(m.index, next_probe)) {
      if (pr.state == progress_state::replicate) pr.become_probe();
      maybe_send_append(m.from, true);
    }
    return;
  }
  // A probe answered at the match point also ends probing, even if nothing is new.
  const bool probe_matched = pr.state == progress_state::probe && pr.match == m.index;
  if (!pr.maybe_update(m.index) && !probe_matched) return;
  switch (pr.state) {
    case progress_state::probe:
      pr.become_replicate();
      break;
    case progress_state::snapshot:
      if (pr.match >= pr.pending_snapshot) {
        pr.become_probe();
        pr.become_replicate();
      }
      break;
    case progress_state::replicate:
      pr.flights.free_le(m.index);
      break;
  }
  if (maybe_commit()) {
    // Everyone learns the new commit index with the next flush (one message per follower
    // however many acknowledgements arrive in between).
    bcast_pending_ = true;
  } else {
    // Keep the pipe full.
    while (maybe_send_append(m.from, false)) {
    }
  }
  if (m.from == lead_transferee_ && pr.match == log_.last_index()) {
    message t;
    t.type = message_type::timeout_now;
    t.to = m.from;
    send(std::move(t));
  }
}

void raft::handle_heartbeat(const message& m) {
  log_.commit_to(m.commit);
  message resp;
  resp.type = message_type::heartbeat_resp;
  resp.to = m.from;
  resp.context = m.context;
  send(std::move(resp));
}

void raft::handle_snapshot(const message& m) {
  message resp;
  resp.type = message_type::append_resp;
  resp.to = m.from;
  if (m.snap && restore(*m.snap)) {
    resp.index = log_.last_index();
  } else {
    resp.index = log_.committed();
  }
  send(std::move(resp));
}

bool raft::restore(const snapshot& s) {
  if (s.metadata.index <= log_.committed()) return false;
  if (state_ != role::follower) {
    // Only a follower installs a leader's snapshot; anything else means two leaders in a term.
    SUNDIAL_ASSERT(false, "snapshot received by a non-follower");
  }
  // The snapshot's membership may not include us yet: a joining server is caught up by the
  // leader's latest snapshot and learns of its own addition from the entries that follow.
  const membership incoming = membership::from(s.metadata.conf);
  if (log_.match_term(s.metadata.index, s.metadata.term)) {
    // We already have the entries: just fast-forward the commit index.
    log_.commit_to(s.metadata.index);
    return false;
  }
  log_.restore(s);
  members_ = incoming;
  reset_progress();
  return true;
}

}  // namespace sundial::raft
