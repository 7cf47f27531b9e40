// The `sundial` binary: every role and every client command.
#include <CLI/CLI.hpp>

#include <iostream>

#include "base/version.h"
#include "cli/agent_command.h"
#include "cli/cluster_command.h"
#include "cli/job_command.h"
#include "cli/raft_command.h"
#include "cli/schedule_command.h"

int main(int argc, char** argv) {
  CLI::App app{
      "Sundial: a distributed, fault-tolerant job scheduler.\n"
      "Schedules use cron syntax (5 or 6 fields), descriptors (@daily), @every, @at and "
      "@manually."};
  app.set_version_flag("--version", "sundial " + std::string(sundial::base::version));
  app.require_subcommand(1);
  int exit_code = 0;
  sundial::cli::add_agent_command(app, exit_code);
  sundial::cli::add_job_command(app, exit_code);
  sundial::cli::add_cluster_commands(app, exit_code);
  sundial::cli::add_raft_command(app, exit_code);
  sundial::cli::add_schedule_command(app, exit_code);
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    app.exit(e);
    return 2;  // a usage error, like an invalid schedule
  }
  return exit_code;
}
