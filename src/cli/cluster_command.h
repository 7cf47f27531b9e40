#pragma once
// `sundial members` and `sundial leader`: the cluster as a node's v1 API sees it, as tables
// (or the API's JSON with --json).

#include <CLI/CLI.hpp>

namespace sundial::cli {

void add_cluster_commands(CLI::App& app, int& exit_code);

}  // namespace sundial::cli
