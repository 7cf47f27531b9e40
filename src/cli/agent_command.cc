#include "cli/agent_command.h"

#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/resource.h>
#include <yaml-cpp/yaml.h>

#include <iostream>
#include <thread>

#include "base/log.h"
#include "cron/schedule.h"
#include "server/server.h"

namespace sundial::cli {
namespace {

// The API server's limits as flags (and YAML keys of the same names), one row each: what the
// value is and where it goes. Defaults are http_options' (docs/operations.md lists them).
enum class value_kind { duration, count };
struct http_flag {
  const char* name;  // without the leading "--"
  value_kind kind;
  const char* help;
  void (*set)(server::server_options&, std::int64_t);  // milliseconds or a count
};
template <auto member>
void set_ms(server::server_options& o, std::int64_t v) {
  o.http.*member = std::chrono::milliseconds(v);
}
template <auto member>
void set_count(server::server_options& o, std::int64_t v) {
  o.http.*member = static_cast<std::remove_reference_t<decltype(o.http.*member)>>(v);
}
const http_flag http_flags[] = {
    {"http-threads", value_kind::count, "event-loop threads serving the API (default 2)",
     set_count<&api::http_options::threads>},
    {"http-header-timeout", value_kind::duration,
     "a request's line and headers must arrive within this of its first byte, else 408 "
     "(default 10s)",
     set_ms<&api::http_options::header_timeout>},
    {"http-body-timeout", value_kind::duration,
     "a request's body must arrive within this after its headers, else 408; also bounds "
     "writing an answer (default 60s)",
     set_ms<&api::http_options::body_timeout>},
    {"http-idle-timeout", value_kind::duration,
     "an idle keep-alive connection is closed after this (default 60s)",
     set_ms<&api::http_options::idle_timeout>},
    {"http-drain-timeout", value_kind::duration,
     "on stop, requests in flight get this long to finish (default 10s)",
     set_ms<&api::http_options::drain_timeout>},
    {"http-max-connections", value_kind::count,
     "open API connections in total; more get 503 (default 10000)",
     set_count<&api::http_options::max_connections>},
    {"http-max-connections-per-client", value_kind::count,
     "open API connections from one client address; more get 429 (default 512)",
     set_count<&api::http_options::max_connections_per_client>},
    {"http-max-header-bytes", value_kind::count,
     "request line and headers; larger get 431 (default 32768)",
     set_count<&api::http_options::max_header_bytes>},
    {"http-max-headers", value_kind::count, "header fields; more get 431 (default 100)",
     set_count<&api::http_options::max_headers>},
    {"http-max-body-bytes", value_kind::count,
     "request body of every route but restore; larger get 413 (default 1048576)",
     set_count<&api::http_options::max_body_bytes>},
    {"http-max-restore-bytes", value_kind::count,
     "POST /v1/restore's body, spooled to the data dir; larger get 413 (default 268435456)",
     [](server::server_options& o, std::int64_t v) {
       o.max_restore_bytes = static_cast<std::size_t>(v);
     }},
    {"lookahead", value_kind::duration,
     "launch intents are committed and armed on their agents this far ahead of each slot "
     "(default 2s)",
     [](server::server_options& o, std::int64_t v) { o.lookahead = std::chrono::milliseconds(v); }},
    {"agent-ttl", value_kind::duration,
     "a node that does not answer the leader this long has its runs declared lost (default 10s)",
     [](server::server_options& o, std::int64_t v) { o.agent_ttl = std::chrono::milliseconds(v); }},
    {"http-stream-buffer-bytes", value_kind::count,
     "unsent bytes a streaming answer may queue before its reader is dropped (default 1048576)",
     set_count<&api::http_options::stream_buffer_bytes>},
};

// Reads one http flag's text into the options; false with `error` set if it is not valid.
bool apply_http_flag(const http_flag& f, const std::string& text, server::server_options& o,
                     std::string& error) {
  std::int64_t v = 0;
  if (f.kind == value_kind::duration) {
    auto d = cron::parse_go_duration(text);
    if (!d || d->count() < 1'000'000) {
      error = "--" + std::string(f.name) + ": \"" + text +
              "\" is not a duration of at least 1ms (e.g. 500ms, 10s, 1m)";
      return false;
    }
    v = std::chrono::duration_cast<std::chrono::milliseconds>(*d).count();
  } else {
    std::size_t used = 0;
    try {
      v = std::stoll(text, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used != text.size() || text.empty() || v < 1) {
      error = "--" + std::string(f.name) + ": \"" + text + "\" is not a positive whole number";
      return false;
    }
  }
  f.set(o, v);
  return true;
}

struct agent_args {
  server::server_options opt;
  bool server_role = false;
  std::string config_file;
  std::string log_level = "info";
  int tick_ms = 100;
  std::map<std::string, std::string> http_values;  // flag name -> text, as given
  std::vector<std::string> tags;                   // --tag key=value, as given
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
      else if (std::any_of(std::begin(http_flags), std::end(http_flags),
                           [&](const http_flag& f) { return key == f.name; }))
        a.http_values[key] = v.as<std::string>();
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
  for (const auto& f : http_flags) {
    auto it = a.http_values.find(f.name);
    if (it == a.http_values.end()) continue;
    std::string error;
    if (!apply_http_flag(f, it->second, a.opt, error)) {
      std::cerr << "error: " << error << "\n";
      return 2;
    }
  }
  for (const auto& t : a.tags) {
    const auto eq = t.find('=');
    if (eq == std::string::npos || eq == 0) {
      std::cerr << "error: --tag \"" << t << "\" is not key=value\n";
      return 2;
    }
    if (t.substr(0, eq) == "role") {
      std::cerr << "error: --tag role is reserved (servers carry role=sundial)\n";
      return 2;
    }
    a.opt.tags[t.substr(0, eq)] = t.substr(eq + 1);
  }
  if (a.opt.http.threads > 64) {
    std::cerr << "error: --http-threads must be 1-64\n";
    return 2;
  }
  // Every connection is a descriptor: the soft limit (often 1024) would cap the API long before
  // its own limits do.
  rlimit files{};
  if (::getrlimit(RLIMIT_NOFILE, &files) == 0 && files.rlim_cur < files.rlim_max) {
    files.rlim_cur = files.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &files);
  }
  // Signals are taken by a dedicated thread (sigwait), never by a handler in random context.
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  if (auto hp = api::split_host_port(a.opt.http_addr);
      hp && hp->first.rfind("127.", 0) != 0 && hp->first != "::1" && hp->first != "localhost") {
    spdlog::warn(
        "agent: the HTTP API listens on {}, beyond loopback, without authentication: anyone who "
        "can reach it can create jobs and so run commands on this machine",
        a.opt.http_addr);
  }
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
  cmd->add_option("--tag", args->tags, "a tag of this node, key=value (repeatable; Dkron's flag)")
      ->envname("SUNDIAL_TAG")
      ->delimiter(',');
  cmd->add_option("--log-level", args->log_level, "trace, debug, info, warn or error")
      ->envname("SUNDIAL_LOG_LEVEL");
  cmd->add_option("--tick-ms", args->tick_ms,
                  "Raft tick (heartbeat) in ms; election timeout is 10 ticks")
      ->envname("SUNDIAL_TICK_MS");
  cmd->add_option("--snapshot-every", args->opt.snapshot_every,
                  "applied entries between snapshots (default 100000)")
      ->envname("SUNDIAL_SNAPSHOT_EVERY");
  cmd->add_option("--snapshot-retain", args->opt.snapshot_retain,
                  "log entries kept behind a snapshot (default 5000)")
      ->envname("SUNDIAL_SNAPSHOT_RETAIN");
  cmd->add_flag(
      "--force-new-cluster", args->opt.force_new_cluster,
      "recovery after losing quorum for good: keep this server's data, drop every other member");
  for (const auto& f : http_flags) {
    std::string env = "SUNDIAL_";
    for (const char* c = f.name; *c; ++c)
      env += *c == '-' ? '_' : static_cast<char>(std::toupper(static_cast<unsigned char>(*c)));
    cmd->add_option_function<std::string>(
           std::string("--") + f.name,
           [args, name = std::string(f.name)](const std::string& v) {
             args->http_values[name] = v;
           },
           f.help)
        ->envname(env);
  }
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
      for (const auto& [name, value] : from_file.http_values) {
        if (!given(("--" + name).c_str())) args->http_values[name] = value;
      }
    }
    exit_code = run_agent(*args);
  });
}

}  // namespace sundial::cli
