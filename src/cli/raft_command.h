#pragma once
// `sundial raft list-peers` and `sundial raft remove-peer NAME|ID`, over the HTTP API.

#include <CLI/CLI.hpp>

namespace sundial::cli {

void add_raft_command(CLI::App& app, int& exit_code);

}  // namespace sundial::cli
