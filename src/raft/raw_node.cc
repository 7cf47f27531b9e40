#include "raft/raw_node.h"

#include "raft/codec.h"

namespace sundial::raft {

base::result<raw_node> raw_node::create(const config& c, const log_storage& storage) {
  if (auto st = c.validate(); !st) return st.err();
  return raw_node(c, storage);
}

raw_node::raw_node(const config& c, const log_storage& storage)
    : raft_(c, storage),
      prev_soft_(raft_.current_soft_state()),
      prev_hard_(raft_.current_hard_state()) {}

base::status raw_node::campaign() {
  message m;
  m.type = message_type::hup;
  return raft_.step(std::move(m));
}

base::status raw_node::propose(std::string data) {
  message m;
  m.type = message_type::propose;
  m.from = raft_.id();
  m.entries.push_back(entry{term_t{}, index_t{}, entry_type::normal, payload(std::move(data))});
  return raft_.step(std::move(m));
}

base::status raw_node::propose_conf_change(const conf_change& cc) {
  if (cc.node == no_node) return base::fail(base::errc::invalid_argument, "conf change: node id 0");
  message m;
  m.type = message_type::propose;
  m.from = raft_.id();
  m.entries.push_back(
      entry{term_t{}, index_t{}, entry_type::conf_change, payload(codec::encode(cc))});
  return raft_.step(std::move(m));
}

base::status raw_node::step(message m) {
  if (is_local(m.type)) {
    return base::fail(base::errc::invalid_argument, std::string("refusing local message type ") +
                                                        std::string(to_string(m.type)) +
                                                        " from the network");
  }
  if (m.from == no_node) return base::fail(base::errc::invalid_argument, "message without sender");
  return raft_.step(std::move(m));
}

base::status raw_node::read_index(std::string context) {
  message m;
  m.type = message_type::read_index;
  m.from = raft_.id();
  m.context = std::move(context);
  return raft_.step(std::move(m));
}

void raw_node::transfer_leadership(node_id to) {
  message m;
  m.type = message_type::transfer_leader;
  m.from = raft_.id();
  m.index = index_t{to.value()};
  (void)raft_.step(std::move(m));
}

void raw_node::report_unreachable(node_id id) {
  message m;
  m.type = message_type::unreachable;
  m.from = id;
  (void)raft_.step(std::move(m));
}

void raw_node::report_snapshot(node_id id, bool delivered) {
  message m;
  m.type = message_type::snap_status;
  m.from = id;
  m.reject = !delivered;
  (void)raft_.step(std::move(m));
}

bool raw_node::has_ready() {
  raft_.flush_appends();
  auto& r = raft_;
  return raft_.current_soft_state() != prev_soft_ || raft_.current_hard_state() != prev_hard_ ||
         !r.pending_messages().empty() || !r.pending_read_states().empty() ||
         !raft_.log().unstable_entries().empty() || raft_.log().unstable_snapshot().has_value() ||
         raft_.log().has_next_committed();
}

ready raw_node::get_ready() {
  raft_.flush_appends();
  ready rd;
  const soft_state ss = raft_.current_soft_state();
  if (ss != prev_soft_) {
    rd.soft = ss;
    prev_soft_ = ss;
  }
  const hard_state hs = raft_.current_hard_state();
  if (hs != prev_hard_) {
    rd.must_sync = hs.term != prev_hard_.term || hs.vote != prev_hard_.vote;
    rd.hard = hs;
  }
  rd.entries = raft_.log().unstable_entries();
  if (!rd.entries.empty()) rd.must_sync = true;
  rd.snap = raft_.log().unstable_snapshot();
  if (rd.snap) rd.must_sync = true;
  rd.committed_entries = raft_.log().next_committed();
  rd.messages.swap(raft_.pending_messages());
  rd.may_send_before_persist =
      raft_.state() == role::leader &&
      (!rd.hard || (rd.hard->term == prev_hard_.term && rd.hard->vote == prev_hard_.vote));
  rd.read_states.swap(raft_.pending_read_states());
  return rd;
}

void raw_node::advance(const ready& rd) {
  if (rd.hard) prev_hard_ = *rd.hard;
  if (rd.snap) {
    raft_.log().stable_snap_to(rd.snap->metadata.index);
    raft_.log().applied_to(rd.snap->metadata.index);
  }
  if (!rd.entries.empty()) {
    raft_.log().stable_to(rd.entries.back().index, rd.entries.back().term);
    raft_.persisted(rd.entries.back().index, rd.entries.back().term);
  }
  if (!rd.committed_entries.empty()) raft_.log().applied_to(rd.committed_entries.back().index);
}

}  // namespace sundial::raft
