#pragma once
// What every client command (job, members, leader, raft) shares: calling a node's API, turning
// failures into messages on stderr, and the exit codes.

#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "base/error.h"
#include "cli/http_client.h"

namespace sundial::cli {

inline constexpr int exit_ok = 0;
inline constexpr int exit_failed = 1;  // the API refused, or the node could not be reached
inline constexpr int exit_usage = 2;   // bad flags or input; nothing was sent

// Prints "error: <message>" to stderr; returns exit_failed.
int report(const base::error& e);
// Prints the API's {"error": ...} text (or the raw body) with the HTTP status; returns
// exit_failed.
int report(const http_reply& r);
// The message report(r) prints, without the "error: " prefix.
std::string describe(const http_reply& r);

// The JSON body of a successful answer, or nullopt after reporting why not (the node could not
// be reached, it answered an error status, or the body is not JSON).
std::optional<nlohmann::json> call_json(const std::string& method, const std::string& address,
                                        const std::string& target, http_reply* reply = nullptr);

}  // namespace sundial::cli
