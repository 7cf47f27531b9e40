#pragma once
// The CLI's human-readable output, built from the API's JSON: aligned tables and key/value
// blocks. Pure functions of their input, so tests check them without a server.

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace sundial::cli {

// Columns padded to their widest cell, two spaces apart. Widths count code points, so names in
// any (narrow) script stay aligned; control characters in cells print as spaces.
std::string render_table(const std::vector<std::string>& header,
                         const std::vector<std::vector<std::string>>& rows);

// `object[key]` as a cell: a string as it is, null or absent as "-", a boolean as yes/no,
// anything else as compact JSON.
std::string cell(const nlohmann::json& object, const char* key);

// `sundial job list`: name, schedule, next, last success, last error, disabled, counts.
std::string jobs_table(const nlohmann::json& jobs);
// `sundial job get`: one field per line, maps as k=v lists.
std::string job_details(const nlohmann::json& job);
// `sundial job executions`: id, started, finished, success (or "running"), node, attempt.
std::string executions_table(const nlohmann::json& executions);
// `sundial members`: Serf-shaped members; the one named `leader_name` is marked.
std::string members_table(const nlohmann::json& members, const std::string& leader_name);
// `sundial leader`: one Serf-shaped member, one field per line.
std::string member_details(const nlohmann::json& member);

}  // namespace sundial::cli
