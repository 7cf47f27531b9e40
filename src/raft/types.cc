#include "raft/types.h"

namespace sundial::raft {

std::uint64_t entries_size(const std::vector<entry>& es) {
  std::uint64_t n = 0;
  for (const auto& e : es)
    n += entry_size(e);
  return n;
}

std::string_view to_string(message_type t) {
  switch (t) {
    case message_type::hup:
      return "hup";
    case message_type::beat:
      return "beat";
    case message_type::check_quorum:
      return "check_quorum";
    case message_type::unreachable:
      return "unreachable";
    case message_type::snap_status:
      return "snap_status";
    case message_type::propose:
      return "propose";
    case message_type::read_index:
      return "read_index";
    case message_type::read_index_resp:
      return "read_index_resp";
    case message_type::transfer_leader:
      return "transfer_leader";
    case message_type::append:
      return "append";
    case message_type::append_resp:
      return "append_resp";
    case message_type::vote:
      return "vote";
    case message_type::vote_resp:
      return "vote_resp";
    case message_type::pre_vote:
      return "pre_vote";
    case message_type::pre_vote_resp:
      return "pre_vote_resp";
    case message_type::snap:
      return "snap";
    case message_type::heartbeat:
      return "heartbeat";
    case message_type::heartbeat_resp:
      return "heartbeat_resp";
    case message_type::timeout_now:
      return "timeout_now";
  }
  return "unknown";
}

bool is_local(message_type t) {
  switch (t) {
    case message_type::hup:
    case message_type::beat:
    case message_type::check_quorum:
    case message_type::unreachable:
    case message_type::snap_status:
      return true;
    default:
      return false;
  }
}

bool is_response(message_type t) {
  switch (t) {
    case message_type::append_resp:
    case message_type::vote_resp:
    case message_type::pre_vote_resp:
    case message_type::heartbeat_resp:
    case message_type::read_index_resp:
      return true;
    default:
      return false;
  }
}

std::string_view to_string(role r) {
  switch (r) {
    case role::follower:
      return "follower";
    case role::pre_candidate:
      return "pre_candidate";
    case role::candidate:
      return "candidate";
    case role::leader:
      return "leader";
  }
  return "unknown";
}

}  // namespace sundial::raft
