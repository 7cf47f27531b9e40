#include "api/answers.h"

namespace sundial::api {

using nlohmann::json;
using raft_node::outcome;

response json_ok(int status, const json& body) {
  // Invalid UTF-8 (e.g. in a job's captured output) is replaced, never a throw.
  return response{status,
                  "application/json",
                  body.dump(-1, ' ', false, json::error_handler_t::replace) + "\n",
                  {}};
}

response refused(const raft_node::proposal_result& r, const state::kv_state& kv) {
  switch (r.status) {
    case outcome::not_leader: {
      std::string msg = "no leader is available yet; retry shortly";
      if (r.leader != raft::no_node) {
        if (auto m = kv.member(r.leader.value()))
          msg = "not the leader; the leader is " + m->name + " at " + m->http_addr;
      }
      return json_error(503, msg);
    }
    case outcome::dropped:
      return json_error(503, "the cluster refused the write: " + r.message);
    case outcome::timeout:
      return json_error(503,
                        "no outcome within the timeout (the write may still commit): " + r.message);
    case outcome::stopped:
      return json_error(503, "this node is shutting down");
    case outcome::committed:
      break;
  }
  return json_error(500, "unexpected outcome");
}

int http_status(base::errc code) {
  switch (code) {
    case base::errc::invalid_argument:
      return 400;
    case base::errc::not_found:
      return 404;
    case base::errc::conflict:
      return 409;
    case base::errc::too_large:
      return 413;
    case base::errc::unavailable:
    case base::errc::not_leader:
    case base::errc::timeout:
      return 503;
    default:
      return 500;
  }
}

response error_answer(const base::error& e) {
  return json_error(http_status(e.code), e.message);
}

std::optional<std::uint64_t> parse_index(const std::string& s) {
  if (s.empty() || s.size() > 19) return std::nullopt;
  std::uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + static_cast<std::uint64_t>(c - '0');
  }
  return v;
}

}  // namespace sundial::api
