#pragma once
// Jobs and executions as JSON, in Dkron's v1 shapes (DKRON_API.md) plus Sundial's fields.
// Parsing checks JSON types (a wrong type is an invalid_argument naming the field), ignores
// unknown and read-only fields, and reads durations ("90s", "1h30m" or a number of seconds)
// and instants (RFC 3339 or null). Semantic checks are state::normalize_job's.

#include <nlohmann/json.hpp>

#include "api/json_writer.h"
#include "base/result.h"
#include "state.pb.h"

namespace sundial::api {

base::result<state::pb::Job> job_from_json(const nlohmann::json& body);
nlohmann::json job_to_json(const state::pb::Job& job);
// The same JSON written straight into `w` (listings: no tree per job).
void write_job(json_writer& w, const state::pb::Job& job);
// `output_limit`: keep only the last N bytes of the output (0: all) and say so.
nlohmann::json execution_to_json(const state::pb::Execution& e, std::uint64_t output_limit = 0);

}  // namespace sundial::api
