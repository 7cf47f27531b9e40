#pragma once
// `sundial job list|get|apply|delete|toggle|executions`: jobs through a node's v1 API, as
// aligned tables (or the API's JSON with --json).

#include <CLI/CLI.hpp>

namespace sundial::cli {

void add_job_command(CLI::App& app, int& exit_code);

}  // namespace sundial::cli
