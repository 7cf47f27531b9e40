#pragma once
// Answers shared by the API's route files: JSON bodies, Raft refusals and error codes mapped
// onto HTTP statuses (SEMANTICS.md "Bad input").

#include <nlohmann/json.hpp>

#include <optional>
#include <string>

#include "api/http_server.h"
#include "base/error.h"
#include "raft_node/node.h"
#include "state/kv_state.h"

namespace sundial::api {

response json_ok(int status, const nlohmann::json& body);
// The answer with an X-Total-Count header (Dkron's listings).
response with_total(response r, std::uint64_t total);
// A proposal or read barrier that did not commit: 503 with why (and the leader if known).
response refused(const raft_node::proposal_result& r, const state::kv_state& kv);
// 400 invalid_argument, 404 not_found, 409 conflict, 413 too_large, 503 unavailable, else 500.
int http_status(base::errc code);
response error_answer(const base::error& e);
// A proposal callback that answers `reply` with fn(outcome), computed on one of the HTTP
// server's threads (never on the Raft node's thread that reports the outcome).
raft_node::proposal_callback on_outcome(responder reply,
                                        std::function<response(raft_node::proposal_result)> fn);
// The same, for the usual case: a refusal is answered by refused(), a commit by fn(result).
raft_node::proposal_callback when_committed(
    responder reply, const state::kv_state& kv,
    std::function<response(const raft_node::proposal_result&)> fn);
// A linearizable read (thesis 6.4): answers with read() once a read barrier confirms this node
// is current, or at once with ?stale.
void read_after_barrier(raft_node::node& node, const state::kv_state& kv, const request& req,
                        std::chrono::milliseconds timeout, responder reply,
                        std::function<response()> read);

// Parses client JSON; `what` names it in the error ("the body is not valid JSON"). A NUL byte is
// refused wherever it stands: nlohmann's lexer takes it for the end of the input, so
// `{...}\0anything` would otherwise parse as `{...}`.
base::result<nlohmann::json> parse_json_text(std::string_view text, const std::string& what);

// A non-negative decimal integer, or nullopt.
std::optional<std::uint64_t> parse_index(const std::string& s);

}  // namespace sundial::api
