#include "cli/cluster_command.h"

#include <iostream>
#include <memory>

#include "cli/api_call.h"
#include "cli/http_client.h"
#include "cli/tables.h"

namespace sundial::cli {
namespace {

struct cluster_args {
  std::string address = "127.0.0.1:8080";
  bool json = false;
};

int members(const cluster_args& a) {
  http_reply reply;
  auto list = call_json("GET", a.address, "/v1/members", &reply);
  if (!list) return exit_failed;
  if (a.json) {
    std::cout << reply.body;
    return exit_ok;
  }
  // Only to mark the leader: without one (an election) the table is still worth printing.
  std::string leader;
  if (auto r = http_call("GET", a.address, "/v1/leader"); r && r->status == 200) {
    const auto m = nlohmann::json::parse(r->body, nullptr, false);
    leader = cell(m, "Name");
  }
  std::cout << members_table(*list, leader);
  return exit_ok;
}

int leader(const cluster_args& a) {
  http_reply reply;
  auto m = call_json("GET", a.address, "/v1/leader", &reply);
  if (!m) return exit_failed;
  std::cout << (a.json ? reply.body : member_details(*m));
  return exit_ok;
}

}  // namespace

void add_cluster_commands(CLI::App& app, int& exit_code) {
  auto args = std::make_shared<cluster_args>();
  auto common = [&](CLI::App* c) {
    c->add_option("--address", args->address, "HTTP address of a node (default 127.0.0.1:8080)")
        ->envname("SUNDIAL_ADDRESS");
    c->add_flag("--json", args->json, "print the API's JSON");
  };
  auto* members_cmd = app.add_subcommand("members", "list the cluster's servers and their status");
  common(members_cmd);
  members_cmd->callback([args, &exit_code] { exit_code = members(*args); });
  auto* leader_cmd = app.add_subcommand("leader", "show the current leader");
  common(leader_cmd);
  leader_cmd->callback([args, &exit_code] { exit_code = leader(*args); });
}

}  // namespace sundial::cli
