#pragma once
// `sundial schedule next|validate`: preview and check schedules from the command line.

#include <CLI/CLI.hpp>

namespace sundial::cli {

// Adds the `schedule` command and its subcommands to `app`. The handlers set `exit_code`.
void add_schedule_command(CLI::App& app, int& exit_code);

}  // namespace sundial::cli
