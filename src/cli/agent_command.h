#pragma once
// `sundial agent`: runs a server (flags, SUNDIAL_* environment variables, or a YAML file).

#include <CLI/CLI.hpp>

namespace sundial::cli {

void add_agent_command(CLI::App& app, int& exit_code);

}  // namespace sundial::cli
