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
// A proposal or read barrier that did not commit: 503 with why (and the leader if known).
response refused(const raft_node::proposal_result& r, const state::kv_state& kv);
// 400 invalid_argument, 404 not_found, 409 conflict, 413 too_large, 503 unavailable, else 500.
int http_status(base::errc code);
response error_answer(const base::error& e);
// A non-negative decimal integer, or nullopt.
std::optional<std::uint64_t> parse_index(const std::string& s);

}  // namespace sundial::api
