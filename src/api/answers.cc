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

response with_total(response r, std::uint64_t total) {
  r.headers.emplace_back("X-Total-Count", std::to_string(total));
  return r;
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

raft_node::proposal_callback on_outcome(responder reply,
                                        std::function<response(raft_node::proposal_result)> fn) {
  return [reply = std::move(reply), fn = std::move(fn)](raft_node::proposal_result r) mutable {
    reply.send_from_server(
        [r = std::move(r), fn = std::move(fn)]() mutable { return fn(std::move(r)); });
  };
}

raft_node::proposal_callback when_committed(
    responder reply, const state::kv_state& kv,
    std::function<response(const raft_node::proposal_result&)> fn) {
  return on_outcome(std::move(reply),
                    [&kv, fn = std::move(fn)](raft_node::proposal_result r) -> response {
                      if (r.status != outcome::committed) return refused(r, kv);
                      return fn(r);
                    });
}

void read_after_barrier(raft_node::node& node, const state::kv_state& kv, const request& req,
                        std::chrono::milliseconds timeout, responder reply,
                        std::function<response()> read) {
  if (req.query.count("stale")) {
    reply.send(read());
    return;
  }
  node.read_barrier(timeout,
                    when_committed(std::move(reply), kv,
                                   [read = std::move(read)](const auto&) { return read(); }));
}

base::result<json> parse_json_text(std::string_view text, const std::string& what) {
  if (const auto nul = text.find('\0'); nul != std::string_view::npos)
    return base::fail(base::errc::invalid_argument,
                      what + " is not valid JSON: a NUL byte at offset " + std::to_string(nul));
  json doc = json::parse(text.begin(), text.end(), nullptr, false);
  if (doc.is_discarded())
    return base::fail(base::errc::invalid_argument, what + " is not valid JSON");
  return doc;
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
