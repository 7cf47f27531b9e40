#include "cli/raft_command.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <iostream>

#include "cli/api_call.h"
#include "cli/http_client.h"

namespace sundial::cli {
namespace {

struct raft_args {
  std::string address = "127.0.0.1:8080";
  bool json = false;
  std::string peer;
};

int list_peers(const raft_args& a) {
  auto r = http_call("GET", a.address, "/v1/raft/peers");
  if (!r) return report(r.err());
  if (r->status != 200) return report(*r);
  if (a.json) {
    std::cout << r->body;
    return 0;
  }
  const auto peers = nlohmann::json::parse(r->body);
  std::cout << fmt::format("{:<16} {:<22} {:<22} {:<8} {}\n", "NAME", "ID", "RPC", "VOTER",
                           "LEADER");
  for (const auto& p : peers) {
    std::cout << fmt::format("{:<16} {:<22} {:<22} {:<8} {}\n", p.value("name", "?"),
                             p.value("id", "?"), p.value("rpc_addr", "?"),
                             p.value("voter", false) ? "yes" : "no",
                             p.value("leader", false) ? "yes" : "");
  }
  return 0;
}

int remove_peer(const raft_args& a) {
  auto r = http_call("DELETE", a.address, "/v1/raft/peers/" + url_encode(a.peer));
  if (!r) return report(r.err());
  if (r->status != 200) return report(*r);
  std::cout << (a.json ? r->body : "removed " + a.peer + "\n");
  return 0;
}

}  // namespace

void add_raft_command(CLI::App& app, int& exit_code) {
  auto* raft = app.add_subcommand("raft", "inspect and change Raft membership");
  raft->require_subcommand(1);
  auto args = std::make_shared<raft_args>();
  auto common = [&](CLI::App* c) {
    c->add_option("--address", args->address, "HTTP address of a node (default 127.0.0.1:8080)")
        ->envname("SUNDIAL_ADDRESS");
    c->add_flag("--json", args->json, "print JSON");
  };
  auto* list = raft->add_subcommand("list-peers", "list the servers in the Raft configuration");
  common(list);
  list->callback([args, &exit_code] { exit_code = list_peers(*args); });
  auto* remove =
      raft->add_subcommand("remove-peer", "remove a server (by name or id) from the configuration");
  common(remove);
  remove->add_option("peer", args->peer, "the server's name or id")->required();
  remove->callback([args, &exit_code] { exit_code = remove_peer(*args); });
}

}  // namespace sundial::cli
