#include "raft/codec.h"

#include "raft.pb.h"

namespace sundial::raft::codec {
namespace {

using base::fail;

base::failure corrupt(std::string_view what) {
  return fail(base::errc::corruption, std::string("cannot decode ") + std::string(what));
}

void to_pb(const entry& e, pb::Entry* out) {
  out->set_term(e.term.value());
  out->set_index(e.index.value());
  out->set_type(e.type == entry_type::conf_change ? pb::ENTRY_CONF_CHANGE : pb::ENTRY_NORMAL);
  if (!e.data.empty()) out->set_data(std::string(e.data.view()));
}

base::result<entry> from_pb(const pb::Entry& e) {
  entry out{term_t{e.term()}, index_t{e.index()}, entry_type::normal, payload(e.data())};
  switch (e.type()) {
    case pb::ENTRY_NORMAL:
      break;
    case pb::ENTRY_CONF_CHANGE:
      out.type = entry_type::conf_change;
      break;
    default:
      return corrupt("entry: unknown type");
  }
  return out;
}

void to_pb(const conf_state& cs, pb::ConfState* out) {
  for (auto id : cs.voters)
    out->add_voters(id.value());
  for (auto id : cs.learners)
    out->add_learners(id.value());
}

conf_state from_pb(const pb::ConfState& cs) {
  conf_state out;
  for (auto id : cs.voters())
    out.voters.emplace_back(id);
  for (auto id : cs.learners())
    out.learners.emplace_back(id);
  return out;
}

void to_pb(const snapshot_metadata& md, pb::SnapshotMetadata* out) {
  to_pb(md.conf, out->mutable_conf_state());
  out->set_index(md.index.value());
  out->set_term(md.term.value());
}

snapshot_metadata from_pb(const pb::SnapshotMetadata& md) {
  return snapshot_metadata{from_pb(md.conf_state()), index_t{md.index()}, term_t{md.term()}};
}

}  // namespace

std::string encode(const message& m) {
  pb::Message out;
  out.set_type(static_cast<pb::MessageType>(static_cast<int>(m.type)));
  out.set_to(m.to.value());
  out.set_from(m.from.value());
  out.set_term(m.term.value());
  out.set_log_term(m.log_term.value());
  out.set_index(m.index.value());
  out.mutable_entries()->Reserve(static_cast<int>(m.entries.size()));
  for (const auto& e : m.entries)
    to_pb(e, out.add_entries());
  out.set_commit(m.commit.value());
  if (m.snap) {
    auto* s = out.mutable_snapshot();
    s->set_data(std::string(m.snap->data.view()));
    to_pb(m.snap->metadata, s->mutable_metadata());
  }
  out.set_reject(m.reject);
  out.set_reject_hint(m.reject_hint.value());
  if (!m.context.empty()) out.set_context(m.context);
  return out.SerializeAsString();
}

base::result<message> decode_message(std::string_view bytes) {
  pb::Message in;
  if (!in.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) return corrupt("message");
  if (in.type() < pb::MSG_HUP || in.type() > pb::MSG_TIMEOUT_NOW) {
    return corrupt("message: unknown type");
  }
  message m;
  m.type = static_cast<message_type>(in.type());
  m.to = node_id{in.to()};
  m.from = node_id{in.from()};
  m.term = term_t{in.term()};
  m.log_term = term_t{in.log_term()};
  m.index = index_t{in.index()};
  m.entries.reserve(static_cast<std::size_t>(in.entries_size()));
  for (const auto& e : in.entries()) {
    auto de = from_pb(e);
    if (!de) return de.err();
    m.entries.push_back(std::move(de).value());
  }
  m.commit = index_t{in.commit()};
  if (in.has_snapshot()) {
    m.snap = std::make_shared<const snapshot>(
        snapshot{payload(in.snapshot().data()), from_pb(in.snapshot().metadata())});
  }
  m.reject = in.reject();
  m.reject_hint = index_t{in.reject_hint()};
  m.context = in.context();
  return m;
}

std::string encode(const conf_change& cc) {
  pb::ConfChange out;
  switch (cc.type) {
    case conf_change_type::add_voter:
      out.set_type(pb::CONF_ADD_VOTER);
      break;
    case conf_change_type::add_learner:
      out.set_type(pb::CONF_ADD_LEARNER);
      break;
    case conf_change_type::remove:
      out.set_type(pb::CONF_REMOVE);
      break;
  }
  out.set_node_id(cc.node.value());
  if (!cc.context.empty()) out.set_context(cc.context);
  return out.SerializeAsString();
}

base::result<conf_change> decode_conf_change(std::string_view bytes) {
  pb::ConfChange in;
  if (!in.ParseFromArray(bytes.data(), static_cast<int>(bytes.size())))
    return corrupt("conf change");
  conf_change out;
  switch (in.type()) {
    case pb::CONF_ADD_VOTER:
      out.type = conf_change_type::add_voter;
      break;
    case pb::CONF_ADD_LEARNER:
      out.type = conf_change_type::add_learner;
      break;
    case pb::CONF_REMOVE:
      out.type = conf_change_type::remove;
      break;
    default:
      return corrupt("conf change: unknown type");
  }
  if (in.node_id() == 0) return corrupt("conf change: node id 0");
  out.node = node_id{in.node_id()};
  out.context = in.context();
  return out;
}

std::string encode(const hard_state& hs) {
  pb::HardState out;
  out.set_term(hs.term.value());
  out.set_vote(hs.vote.value());
  out.set_commit(hs.commit.value());
  return out.SerializeAsString();
}

base::result<hard_state> decode_hard_state(std::string_view bytes) {
  pb::HardState in;
  if (!in.ParseFromArray(bytes.data(), static_cast<int>(bytes.size())))
    return corrupt("hard state");
  return hard_state{term_t{in.term()}, node_id{in.vote()}, index_t{in.commit()}};
}

std::string encode(const entry& e) {
  pb::Entry out;
  to_pb(e, &out);
  return out.SerializeAsString();
}

base::result<entry> decode_entry(std::string_view bytes) {
  pb::Entry in;
  if (!in.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) return corrupt("entry");
  return from_pb(in);
}

std::string encode(const snapshot_metadata& md) {
  pb::SnapshotMetadata out;
  to_pb(md, &out);
  return out.SerializeAsString();
}

base::result<snapshot_metadata> decode_snapshot_metadata(std::string_view bytes) {
  pb::SnapshotMetadata in;
  if (!in.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
    return corrupt("snapshot metadata");
  }
  return from_pb(in);
}

}  // namespace sundial::raft::codec
