#include "cli/agent_command.h"

#include <signal.h>
#include <spdlog/spdlog.h>
#include <yaml-cpp/yaml.h>

#include <iostream>
#include <thread>

#include "base/log.h"
#include "server/server.h"

namespace sundial::cli {
namespace {

struct agent_args {
  server::server_options opt;
  bool server_role = false;
  std::string config_file;
  std::string log_level = "info";
  int tick_ms = 100;
};

// Values from a YAML file become the defaults; flags and SUNDIAL_* variables override them.
bool load_yaml(const std::string& path, agent_args& a, std::string& error) {
  try {
    const YAML::Node root = YAML::LoadFile(path);
    if (!root.IsMap()) {
      error = path + ": expected a mapping of option names to values";
      return false;
    }
    for (const auto& kv : root) {
      const auto key = kv.first.as<std::string>();
      const auto& v = kv.second;
      if (key == "node-name")
        a.opt.node_name = v.as<std::string>();
      else if (key == "data-dir")
        a.opt.data_dir = v.as<std::string>();
      else if (key == "rpc-addr")
        a.opt.rpc_addr = v.as<std::string>();
      else if (key == "http-addr")
        a.opt.http_addr = v.as<std::string>();
      else if (key == "bootstrap-expect")
        a.opt.bootstrap_expect = v.as<int>();
      else if (key == "join")
        a.opt.join = v.IsSequence() ? v.as<std::vector<std::string>>()
                                    : std::vector<std::string>{v.as<std::string>()};
      else if (key == "server")
        a.server_role = v.as<bool>();
      else if (key == "dev")
        a.opt.dev = v.as<bool>();
      else if (key == "log-level")
        a.log_level = v.as<std::string>();
      else if (key == "tick-ms")
        a.tick_ms = v.as<int>();
      else {
        error = path + ": unknown option \"" + key + "\"";
        return false;
      }
    }
  } catch (const YAML::Exception& e) {
    error = path + ": " + e.what();
    return false;
  }
  return true;
}

int run_agent(agent_args& a) {
  if (auto st = base::init_logging(a.log_level); !st) {
    std::cerr << "error: " << st.err().message << "\n";
    return 2;
  }
  if (a.opt.dev) {
    if (a.opt.node_name.empty()) a.opt.node_name = "dev";
  } else if (!a.server_role) {
    std::cerr << "error: only server agents exist so far: pass --server (or --dev)\n";
    return 2;
  }
  if (a.tick_ms < 10 || a.tick_ms > 10000) {
    std::cerr << "error: --tick-ms must be 10-10000\n";
    return 2;
  }
  a.opt.tick = std::chrono::milliseconds(a.tick_ms);
  // Signals are taken by a dedicated thread (sigwait), never by a handler in random context.
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  auto s = server::server::start(a.opt);
  if (!s) {
    std::cerr << "error: " << s.err().message << "\n";
    return 1;
  }
  std::cout << "sundial agent " << a.opt.node_name << ": API on http://" << a.opt.http_addr
            << std::endl;
  std::thread waiter([&] {
    int sig = 0;
    sigwait(&set, &sig);
    spdlog::info("agent: signal {}: stopping", sig);
    (*s)->request_stop();
  });
  (*s)->wait();
  (*s)->stop();
  // Unblock the signal thread if we stopped for another reason.
  pthread_kill(waiter.native_handle(), SIGTERM);
  waiter.join();
  return 0;
}

}  // namespace

void add_agent_command(CLI::App& app, int& exit_code) {
  auto args = std::make_shared<agent_args>();
  auto* cmd =
      app.add_subcommand("agent", "run a Sundial server (see --dev for a one-node playground)");
  cmd->add_flag("--dev", args->opt.dev, "one node, temporary data, API on 127.0.0.1:8080")
      ->envname("SUNDIAL_DEV");
  cmd->add_flag("--server", args->server_role, "run as a server (Raft member)")
      ->envname("SUNDIAL_SERVER");
  cmd->add_option("--node-name", args->opt.node_name, "unique name of this node")
      ->envname("SUNDIAL_NODE_NAME");
  cmd->add_option("--data-dir", args->opt.data_dir, "where Raft state is kept")
      ->envname("SUNDIAL_DATA_DIR");
  cmd->add_option("--rpc-addr", args->opt.rpc_addr,
                  "HOST:PORT for server RPCs (default 127.0.0.1:6868)")
      ->envname("SUNDIAL_RPC_ADDR");
  cmd->add_option("--http-addr", args->opt.http_addr,
                  "HOST:PORT for the HTTP API (default 127.0.0.1:8080)")
      ->envname("SUNDIAL_HTTP_ADDR");
  cmd->add_option("--bootstrap-expect", args->opt.bootstrap_expect,
                  "form a new cluster once this many servers meet")
      ->envname("SUNDIAL_BOOTSTRAP_EXPECT");
  cmd->add_option("--join", args->opt.join, "RPC address of another server (repeatable)")
      ->envname("SUNDIAL_JOIN")
      ->delimiter(',');
  cmd->add_option("--log-level", args->log_level, "trace, debug, info, warn or error")
      ->envname("SUNDIAL_LOG_LEVEL");
  cmd->add_option("--tick-ms", args->tick_ms,
                  "Raft tick (heartbeat) in ms; election timeout is 10 ticks")
      ->envname("SUNDIAL_TICK_MS");
  cmd->add_option("--snapshot-every", args->opt.snapshot_every,
                  "applied entries between snapshots (default 10000)")
      ->envname("SUNDIAL_SNAPSHOT_EVERY");
  cmd->add_option("--snapshot-retain", args->opt.snapshot_retain,
                  "log entries kept behind a snapshot (default 5000)")
      ->envname("SUNDIAL_SNAPSHOT_RETAIN");
  cmd->add_flag(
      "--force-new-cluster", args->opt.force_new_cluster,
      "recovery after losing quorum for good: keep this server's data, drop every other member");
  cmd->add_option("--config-file", args->config_file, "YAML file with any of these options")
      ->envname("SUNDIAL_CONFIG_FILE");
  cmd->callback([args, &exit_code, cmd] {
    if (!args->config_file.empty()) {
      // Re-read: the file gives defaults; whatever flags or variables said wins.
      agent_args from_file;
      std::string error;
      if (!load_yaml(args->config_file, from_file, error)) {
        std::cerr << "error: " << error << "\n";
        exit_code = 2;
        return;
      }
      auto given = [&](const char* name) {
        const auto* o = cmd->get_option(name);
        return o->count() > 0 ||
               (!o->get_envname().empty() && std::getenv(o->get_envname().c_str()) != nullptr);
      };
      if (!given("--node-name"))
        args->opt.node_name =
            from_file.opt.node_name.empty() ? args->opt.node_name : from_file.opt.node_name;
      if (!given("--data-dir") && !from_file.opt.data_dir.empty())
        args->opt.data_dir = from_file.opt.data_dir;
      if (!given("--rpc-addr") && from_file.opt.rpc_addr != server::server_options{}.rpc_addr)
        args->opt.rpc_addr = from_file.opt.rpc_addr;
      if (!given("--http-addr") && from_file.opt.http_addr != server::server_options{}.http_addr)
        args->opt.http_addr = from_file.opt.http_addr;
      if (!given("--bootstrap-expect") && from_file.opt.bootstrap_expect != 0)
        args->opt.bootstrap_expect = from_file.opt.bootstrap_expect;
      if (!given("--join") && !from_file.opt.join.empty()) args->opt.join = from_file.opt.join;
      if (!given("--server")) args->server_role = args->server_role || from_file.server_role;
      if (!given("--dev")) args->opt.dev = args->opt.dev || from_file.opt.dev;
      if (!given("--log-level") && from_file.log_level != "info")
        args->log_level = from_file.log_level;
      if (!given("--tick-ms") && from_file.tick_ms != 100) args->tick_ms = from_file.tick_ms;
    }
    exit_code = run_agent(*args);
  });
}

}  // namespace sundial::cli
