#include "api/kv_api.h"

#include "api/answers.h"

#include <nlohmann/json.hpp>

#include <algorithm>

namespace sundial::api {

using nlohmann::json;
using raft_node::outcome;

void register_kv_routes(http_server& server, raft_node::node& node, state::kv_state& kv,
                        kv_api_options opt) {
  auto key_of = [](const request& req) { return req.path.substr(std::string("/v1/kv/").size()); };

  auto write = [&node, &kv, opt, key_of](request&& req, responder reply, bool is_delete) {
    const std::string key = key_of(req);
    std::optional<std::uint64_t> cas;
    if (auto it = req.query.find("cas"); it != req.query.end()) {
      cas = parse_index(it->second);
      if (!cas)
        return reply.send(json_error(
            400,
            "cas must be a modify index (a non-negative integer), got \"" + it->second + "\""));
    }
    auto cmd = is_delete ? state::encode_delete(key, cas) : state::encode_put(key, req.body, cas);
    if (!cmd)
      return reply.send(
          json_error(cmd.err().code == base::errc::too_large ? 413 : 400, cmd.err().message));
    node.propose(
        std::move(cmd).value(), opt.write_timeout,
        when_committed(std::move(reply), kv, [key, cas](const raft_node::proposal_result& r) {
          const auto o = state::parse_outcome(r.result);
          switch (o.status) {
            case state::apply_outcome::kind::ok: {
              auto res = json_ok(200, json{{"index", o.index}});
              res.headers.emplace_back("X-Sundial-Index", std::to_string(o.index));
              return res;
            }
            case state::apply_outcome::kind::conflict:
              return json_ok(409, json{{"error", "cas " + std::to_string(cas.value_or(0)) +
                                                     " does not match the current modify index " +
                                                     std::to_string(o.index)},
                                       {"index", o.index}});
            case state::apply_outcome::kind::missing:
              return json_error(404, "no key \"" + key + "\"");
            case state::apply_outcome::kind::error:
              return json_error(500, o.message);
          }
          return json_error(500, "unexpected result");
        }));
  };

  auto put = [write](request&& req, responder reply) {
    write(std::move(req), std::move(reply), false);
  };
  server.route_async("PUT", "/v1/kv/", put);
  server.route_async("POST", "/v1/kv/", put);
  server.route_async("DELETE", "/v1/kv/", [write](request&& req, responder reply) {
    write(std::move(req), std::move(reply), true);
  });
  server.route_async("GET", "/v1/kv/", [&node, &kv, opt, key_of](request&& req, responder reply) {
    const std::string key = key_of(req);
    if (auto st = state::validate_key(key); !st) {
      return reply.send(
          json_error(st.err().code == base::errc::too_large ? 413 : 400, st.err().message));
    }
    read_after_barrier(node, kv, req, opt.read_timeout, std::move(reply), [&kv, key]() -> response {
      auto e = kv.get(key);
      if (!e) return json_error(404, "no key \"" + key + "\"");
      response res{200, "application/octet-stream", e->value, {}};
      res.headers.emplace_back("X-Sundial-Index", std::to_string(e->modify_index));
      return res;
    });
  });

  // Raft membership: list, and remove a server by name or id.
  server.route("GET", "/v1/raft/peers", [&node, &kv](const request&) -> response {
    const auto s = node.status();
    json out = json::array();
    auto add = [&](raft::node_id id, bool voter) {
      json p{{"id", std::to_string(id.value())}, {"voter", voter}, {"leader", id == s.leader}};
      if (auto m = kv.member(id.value())) {
        p["name"] = m->name;
        p["rpc_addr"] = m->rpc_addr;
        p["http_addr"] = m->http_addr;
      }
      out.push_back(p);
    };
    for (auto id : s.members.voters)
      add(id, true);
    for (auto id : s.members.learners)
      add(id, false);
    return json_ok(200, out);
  });
  server.route_async(
      "DELETE", "/v1/raft/peers/", [&node, &kv, opt](request&& req, responder reply) {
        const std::string who = req.path.substr(std::string("/v1/raft/peers/").size());
        std::optional<std::uint64_t> id;
        for (const auto& m : kv.members()) {
          if (m.name == who || std::to_string(m.id) == who) id = m.id;
        }
        if (!id) id = parse_index(who);
        const auto s = node.status();
        const bool member = id && (std::find(s.members.voters.begin(), s.members.voters.end(),
                                             raft::node_id{*id}) != s.members.voters.end() ||
                                   std::find(s.members.learners.begin(), s.members.learners.end(),
                                             raft::node_id{*id}) != s.members.learners.end());
        if (!member) return reply.send(json_error(404, "no member \"" + who + "\""));
        node.propose_conf_change(
            raft::conf_change{raft::conf_change_type::remove, raft::node_id{*id}, {}},
            opt.write_timeout,
            on_outcome(std::move(reply), [&kv, id = *id](raft_node::proposal_result r) -> response {
              if (r.status != outcome::committed) {
                if (r.status == outcome::dropped &&
                    r.message.find("last voter") != std::string::npos)
                  return json_error(409, r.message);
                return refused(r, kv);
              }
              return json_ok(200,
                             json{{"removed", std::to_string(id)}, {"index", r.index.value()}});
            }));
      });

  server.route("GET", "/health", [&node](const request&) -> response {
    const auto s = node.status();
    return json_ok(200, json{{"status", "ok"},
                             {"id", std::to_string(s.id.value())},
                             {"state", std::string(raft::to_string(s.state))},
                             {"term", s.term.value()},
                             {"leader", std::to_string(s.leader.value())},
                             {"commit_index", s.commit.value()},
                             {"applied_index", s.applied.value()}});
  });
}

}  // namespace sundial::api
