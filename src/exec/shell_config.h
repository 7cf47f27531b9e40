#pragma once
// The shell executor's configuration: Dkron's `executor_config` string map turned into what the
// supervisor runs. Pure: no I/O, no environment reads.

#include <chrono>
#include <cstddef>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"

namespace sundial::exec {

// One process to run, fully decided: nothing in it is interpreted further by the supervisor.
struct shell_spec {
  // What is exec'd; argv[0] is searched in the agent's PATH when it has no '/'.
  std::vector<std::string> argv;
  // "K=V" entries added to the inherited environment; an entry overrides an inherited (or an
  // earlier) variable of the same name.
  std::vector<std::string> env;
  // Working directory of the child; empty: the agent's.
  std::string cwd;
  // From start to SIGTERM of the process group; 0: no timeout.
  std::chrono::nanoseconds timeout{0};
  // From SIGTERM (timeout or stop) to SIGKILL of the group.
  std::chrono::nanoseconds kill_grace{std::chrono::seconds(5)};
  // Bytes of the output's tail kept for the result (stdout and stderr interleaved).
  std::size_t output_limit = 256 * 1024;
};

// Builds a spec from Dkron's shell executor keys:
//   "command" (required, not blank);
//   "shell": "true" runs /bin/sh -c COMMAND; anything else (or absent) splits the command into
//            words as a shell would (single quotes, double quotes with \" \\ \$ \` escapes,
//            backslash outside quotes) with no expansion, globbing or operators, and execs the
//            words directly;
//   "env": "K=V,K2=V2" (K a valid variable name; V may contain '=' but not ',');
//   "cwd": the working directory;
//   "timeout": a Go duration ("30s", "1h30m"); "" or absent: none.
// Unknown keys are ignored (Dkron has others, e.g. "mem_limit_kb", that Sundial does not use).
// Errors are invalid_argument naming the key and the value, e.g.
// `executor_config[env]: "FOO" is not K=V`.
base::result<shell_spec> shell_spec_from_config(const std::map<std::string, std::string>& config);

// The word splitting used when "shell" is not "true", exposed for tests and for callers that
// build argv from one line. Errors (unterminated quote, trailing backslash) name the position.
base::result<std::vector<std::string>> split_words(std::string_view command);

// Whether `name` can be an environment variable's name: [A-Za-z_][A-Za-z0-9_]*.
bool valid_env_name(std::string_view name);

}  // namespace sundial::exec
