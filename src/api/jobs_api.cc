#include "api/jobs_api.h"

#include <nlohmann/json.hpp>

#include <thread>

#include "api/answers.h"
#include "api/job_json.h"
#include "api/restore_api.h"
#include "state/execution_lifecycle.h"
#include "state/job_rules.h"

namespace sundial::api {

using nlohmann::json;
using raft_node::outcome;
namespace pb = state::pb;

namespace {

struct context {
  raft_node::node& node;
  state::kv_state& kv;
  state::job_store& jobs;
  jobs_api_options opt;

  // Proposes a job command and answers with its outcome: the job, or `then` of it.
  void propose(state::job_command type, const google::protobuf::Message& m, int ok_status,
               responder reply, std::function<response(response)> then = {}) {
    node.propose(state::encode_command(type, m), opt.write_timeout,
                 when_committed(std::move(reply), kv,
                                [ok_status, then = std::move(then)](const auto& r) -> response {
                                  const auto o = state::decode_outcome(r.result);
                                  if (!o.ok) return json_error(http_status(o.code), o.message);
                                  response answer = json_ok(
                                      ok_status, o.job ? job_to_json(*o.job) : json::object());
                                  return then ? then(std::move(answer)) : answer;
                                }));
  }

  // Linearizable unless ?stale: answers with read() after a read barrier.
  void read(const request& req, responder reply, std::function<response()> read) {
    read_after_barrier(node, kv, req, opt.read_timeout, std::move(reply), std::move(read));
  }
};

base::result<json> parse_body(const request& req) {
  // Accepted whatever the Content-Type says (Dkron's guide uses curl -d).
  return parse_json_text(req.body, "the body");
}

// A JSON array of jobs, written without building a tree.
response jobs_answer(const std::vector<pb::Job>& jobs) {
  json_writer w;
  w.begin_array();
  for (const auto& j : jobs)
    write_job(w, j);
  w.end_array();
  return response{200, "application/json", w.take() + "\n", {}};
}

bool truthy(const std::string& v) {
  return v == "true" || v == "1" || v.empty();
}

base::result<std::optional<std::uint64_t>> query_number(const request& req, const char* name) {
  auto it = req.query.find(name);
  if (it == req.query.end() || it->second.empty()) return std::optional<std::uint64_t>{};
  // Negative or huge values are clamped, never an error (Dkron's UI sends odd ranges).
  if (it->second[0] == '-') return std::optional<std::uint64_t>{0};
  auto v = parse_index(it->second);
  if (!v) {
    if (!it->second.empty() && it->second.find_first_not_of("0123456789") == std::string::npos)
      return std::optional<std::uint64_t>{~0ull};
    return base::fail(base::errc::invalid_argument,
                      std::string(name) + " must be an integer, got \"" + it->second + "\"");
  }
  return std::optional<std::uint64_t>{*v};
}

// POST /v1/jobs/{job} (Dkron: 202 with the job) and POST /v1/jobs/{job}/run (202 with the
// executions it created, so a client can follow them from pending to their end).
void run_now(context& c, const std::string& name, bool dkron_answer, responder reply) {
  auto j = c.jobs.get(name);
  if (!j) return reply.send(error_answer(j.err()));
  if (!*j) return reply.send(json_error(404, "job " + name + " does not exist"));
  pb::Job job = **j;
  const pb::LaunchBatch b = state::run_now_intent(name, c.opt.now_us());
  c.node.propose(
      state::encode_command(state::job_command::launch_batch, b), c.opt.write_timeout,
      when_committed(std::move(reply), c.kv,
                     [dkron_answer, job = std::move(job), name](const auto& r) -> response {
                       const auto o = state::decode_outcome(r.result);
                       if (!o.ok) return json_error(http_status(o.code), o.message);
                       if (!o.batch || o.batch->created_size() == 0) {
                         const std::string why = o.batch && o.batch->refused_size() > 0
                                                     ? o.batch->refused(0)
                                                     : "the launch was not created";
                         return json_error(409, why);
                       }
                       response answer;
                       if (dkron_answer) {
                         answer = json_ok(202, job_to_json(job));
                       } else {
                         json ids = json::array();
                         for (const auto& id : o.batch->created())
                           ids.push_back(id);
                         answer = json_ok(202, json{{"job", name}, {"executions", ids}});
                       }
                       answer.headers.emplace_back(
                           "Location", "/v1/jobs/" + name + "/executions/" + o.batch->created(0));
                       return answer;
                     }));
}

// POST /v1/jobs/{job}/executions/{id}/stop: the record enters stopping; the leader stops the
// process group (SIGTERM, SIGKILL after the grace) and records stopped. 202 with the record.
void stop_execution(context& c, const std::string& name, const std::string& id, responder reply) {
  auto e = c.jobs.execution(name, id);
  if (!e) return reply.send(error_answer(e.err()));
  if (!*e) return reply.send(json_error(404, "execution " + id + " of job " + name + " not found"));
  const auto st = state::parse_exec_state((*e)->state());
  if (st && state::is_final(*st)) {
    return reply.send(json_error(
        409, "execution " + id + " has already ended (" + (*e)->state() + "); nothing to stop"));
  }
  pb::ExecutionUpdates u;
  u.set_now_us(c.opt.now_us());
  auto* x = u.add_updates();
  x->set_job(name);
  x->set_id(id);
  x->set_state("stopping");
  x->set_error("stopped by request");
  c.node.propose(state::encode_command(state::job_command::execution_updates, u),
                 c.opt.write_timeout,
                 when_committed(std::move(reply), c.kv, [&c, name, id](const auto& r) -> response {
                   const auto o = state::decode_outcome(r.result);
                   if (!o.ok) return json_error(http_status(o.code), o.message);
                   if (o.batch && o.batch->refused_size() > 0)
                     return json_error(409, o.batch->refused(0));
                   auto now = c.jobs.execution(name, id);
                   if (!now || !*now) return json_error(404, "execution " + id + " not found");
                   return json_ok(202, execution_to_json(**now));
                 }));
}

// GET /v1/busy (Dkron): the executions running now, on every node.
response busy(context& c) {
  auto active = c.jobs.active();
  if (!active) return error_answer(active.err());
  json out = json::array();
  for (const auto& a : *active) {
    if (a.state != "running" && a.state != "stopping") continue;
    auto e = c.jobs.execution(a.job, a.id);
    if (e && *e) out.push_back(execution_to_json(**e));
  }
  return with_total(json_ok(200, out), out.size());
}

// _order=ASC|DESC (either case); empty or absent keeps `descending`.
base::status read_order(const request& req, bool& descending) {
  auto it = req.query.find("_order");
  if (it == req.query.end() || it->second.empty()) return {};
  const std::string& v = it->second;
  if (v != "ASC" && v != "DESC" && v != "asc" && v != "desc")
    return base::fail(base::errc::invalid_argument,
                      "_order must be ASC or DESC, got \"" + v + "\"");
  descending = v == "DESC" || v == "desc";
  return {};
}

// A quick 503 while paused (apply refuses such writes too, against the replicated flag).
std::optional<response> refuse_if_paused(const context& c) {
  if (!c.jobs.paused()) return std::nullopt;
  return json_error(503,
                    "the cluster is paused: jobs cannot be created or changed until "
                    "POST /v1/unpause");
}

void create_or_replace(context& c, const request& req, const std::string& path_name,
                       responder reply) {
  const bool run_after = req.query.count("runoncreate") && truthy(req.query.at("runoncreate"));
  auto body = parse_body(req);
  if (!body) return reply.send(error_answer(body.err()));
  auto job = job_from_json(*body);
  if (!job) return reply.send(error_answer(job.err()));
  if (!path_name.empty()) {
    if (job->name().empty()) job->set_name(path_name);
    if (job->name() != path_name) {
      return reply.send(json_error(400, "the body names job \"" + job->name() +
                                            "\" but the path names \"" + path_name + "\""));
    }
  }
  // Checked here for a quick answer; apply checks again against the replicated state.
  pb::Job checked = *job;
  if (auto st = state::normalize_job(checked); !st) return reply.send(error_answer(st.err()));
  if (auto r = refuse_if_paused(c)) return reply.send(std::move(*r));
  pb::SetJob cmd;
  *cmd.mutable_job() = std::move(job).value();
  cmd.set_now_us(c.opt.now_us());
  if (!run_after) return c.propose(state::job_command::set_job, cmd, 201, std::move(reply));
  // ?runoncreate=true (Dkron): the job is saved, then launched once; 201 with the job after
  // both committed.
  const std::string name = cmd.job().name();
  auto shared = std::make_shared<responder>(std::move(reply));
  c.node.propose(
      state::encode_command(state::job_command::set_job, cmd), c.opt.write_timeout,
      [&c, shared, name](raft_node::proposal_result r) {
        const auto o = state::decode_outcome(r.result);
        if (r.status != raft_node::outcome::committed || !o.ok) {
          when_committed(std::move(*shared), c.kv, [](const auto& x) -> response {
            const auto oo = state::decode_outcome(x.result);
            return json_error(http_status(oo.code), oo.message);
          })(std::move(r));
          return;
        }
        json saved = o.job ? job_to_json(*o.job) : json::object();
        // Not from inside this callback: the node calls it holding the lock that
        // propose takes (a second propose here deadlocked the node).
        std::thread([&c, shared, name, saved = std::move(saved)] {
          c.node.propose(
              state::encode_command(state::job_command::launch_batch,
                                    state::run_now_intent(name, c.opt.now_us())),
              c.opt.write_timeout,
              when_committed(std::move(*shared), c.kv, [saved](const auto& x) -> response {
                const auto oo = state::decode_outcome(x.result);
                if (!oo.ok) return json_error(http_status(oo.code), oo.message);
                return json_ok(201, saved);
              }));
        }).detach();
      });
}

response list_jobs(context& c, const request& req) {
  state::job_query q;
  for (const auto& [k, v] : req.query) {
    if (k == "q") q.q = v;
    if (k == "status") {
      if (v != "success" && v != "failed" && v != "untriggered" && v != "running" &&
          v != "partially_failed" && !v.empty())
        return json_error(400,
                          "status must be success, failed, partially_failed, running or "
                          "untriggered, got \"" +
                              v + "\"");
      q.status = v;
    }
    if (k == "disabled" && !v.empty()) {
      if (v != "true" && v != "false")
        return json_error(400, "disabled must be true or false, got \"" + v + "\"");
      q.disabled = v == "true";
    }
    if (k.rfind("metadata[", 0) == 0 && k.size() > 10 && k.back() == ']')
      q.metadata[k.substr(9, k.size() - 10)] = v;
    if (k == "_sort" && !v.empty()) {
      static const char* sorts[] = {"id",           "name",          "displayname",
                                    "schedule",     "success_count", "error_count",
                                    "last_success", "last_error",    "next"};
      bool ok = false;
      for (const char* s : sorts)
        ok = ok || v == s;
      if (!ok) return json_error(400, "_sort cannot be \"" + v + "\"");
      q.sort = v == "id" ? "name" : v;
    }
  }
  if (auto st = read_order(req, q.descending); !st) return error_answer(st.err());
  auto start = query_number(req, "_start");
  auto end = query_number(req, "_end");
  if (!start) return error_answer(start.err());
  if (!end) return error_answer(end.err());
  q.start = start->value_or(0);
  q.end = *end;
  if (q.end && *q.end < q.start) q.end = q.start;
  auto page = c.jobs.list(q);
  if (!page) return error_answer(page.err());
  return with_total(jobs_answer(page->jobs), page->total);
}

response list_executions(context& c, const request& req, const std::string& name) {
  state::execution_query q;
  if (auto st = read_order(req, q.descending); !st) return error_answer(st.err());
  if (auto it = req.query.find("_sort"); it != req.query.end() && !it->second.empty() &&
                                         it->second != "id" && it->second != "started_at")
    return json_error(400, "executions sort by id (their start time) only");
  auto start = query_number(req, "_start");
  auto end = query_number(req, "_end");
  auto limit = query_number(req, "output_size_limit");
  if (!start) return error_answer(start.err());
  if (!end) return error_answer(end.err());
  if (!limit) return error_answer(limit.err());
  q.start = start->value_or(0);
  q.end = *end;
  auto page = c.jobs.executions(name, q);
  if (!page) return error_answer(page.err());
  json out = json::array();
  for (const auto& e : page->executions)
    out.push_back(execution_to_json(e, limit->value_or(0)));
  return with_total(json_ok(200, out), page->total);
}

void job_routes(context& c, std::shared_ptr<const request> rq, responder reply) {
  const request& req = *rq;
  // /v1/jobs/{job}[/toggle|/run|/executions[/{id}]]
  const std::string rest = req.path.substr(std::string("/v1/jobs/").size());
  const auto slash = rest.find('/');
  const std::string name = rest.substr(0, slash);
  const std::string tail = slash == std::string::npos ? "" : rest.substr(slash + 1);
  if (auto st = state::validate_job_name(name); !st) {
    if (name.empty()) return reply.send(json_error(404, "no such route"));
    return reply.send(error_answer(st.err()));
  }
  const std::string& m = req.method;
  if (tail.empty()) {
    if (m == "GET") {
      return c.read(req, std::move(reply), [&c, name]() -> response {
        auto j = c.jobs.get(name);
        if (!j) return error_answer(j.err());
        if (!*j) return json_error(404, "job " + name + " does not exist");
        return json_ok(200, job_to_json(**j));
      });
    }
    if (m == "PUT") return create_or_replace(c, req, name, std::move(reply));
    if (m == "DELETE") {
      pb::DeleteJob cmd;
      cmd.set_name(name);
      return c.propose(state::job_command::delete_job, cmd, 200, std::move(reply));
    }
    if (m == "POST") return run_now(c, name, true, std::move(reply));
    return reply.send(json_error(405, m + " is not allowed on /v1/jobs/{job}"));
  }
  if (tail == "toggle") {
    if (m != "POST") return reply.send(json_error(405, "use POST to toggle a job"));
    pb::ToggleJob cmd;
    cmd.set_name(name);
    cmd.set_now_us(c.opt.now_us());
    return c.propose(state::job_command::toggle_job, cmd, 200, std::move(reply));
  }
  if (tail == "run") {
    if (m != "POST") return reply.send(json_error(405, "use POST to run a job"));
    return run_now(c, name, false, std::move(reply));
  }
  if (tail == "executions") {
    if (m == "DELETE") {
      pb::DeleteExecutions cmd;
      cmd.set_job_name(name);
      return c.propose(state::job_command::delete_executions, cmd, 200, std::move(reply));
    }
    if (m != "GET") return reply.send(json_error(405, m + " is not allowed on executions"));
    return c.read(req, std::move(reply),
                  [&c, rq, name]() { return list_executions(c, *rq, name); });
  }
  if (tail.rfind("executions/", 0) == 0 && tail.size() > 16 &&
      tail.compare(tail.size() - 5, 5, "/stop") == 0) {
    if (m != "POST") return reply.send(json_error(405, "use POST to stop an execution"));
    const std::string id = tail.substr(11, tail.size() - 11 - 5);
    return stop_execution(c, name, id, std::move(reply));
  }
  if (tail.rfind("executions/", 0) == 0 && m == "GET") {
    const std::string id = tail.substr(std::string("executions/").size());
    return c.read(req, std::move(reply), [&c, name, id]() -> response {
      auto e = c.jobs.execution(name, id);
      if (!e) return error_answer(e.err());
      if (!*e) return json_error(404, "execution not found");
      return json_ok(200, execution_to_json(**e));
    });
  }
  reply.send(json_error(404, "no such route: " + req.path));
}

}  // namespace

void register_job_routes(http_server& server, raft_node::node& node, state::kv_state& kv,
                         state::job_store& jobs, jobs_api_options options) {
  auto c = std::make_shared<context>(context{node, kv, jobs, std::move(options)});
  server.route_async("GET", "/v1/jobs", [c](request&& req, responder reply) {
    auto rq = std::make_shared<const request>(std::move(req));
    c->read(*rq, std::move(reply), [c, rq] { return list_jobs(*c, *rq); });
  });
  for (const char* m : {"POST", "PATCH"}) {
    server.route_async(m, "/v1/jobs", [c](request&& req, responder reply) {
      create_or_replace(*c, req, "", std::move(reply));
    });
  }
  for (const char* m : {"GET", "PUT", "POST", "DELETE", "PATCH"}) {
    server.route_async(m, "/v1/jobs/", [c](request&& req, responder reply) {
      job_routes(*c, std::make_shared<const request>(std::move(req)), std::move(reply));
    });
  }
  register_restore_route(server, node, kv, jobs, c->opt);
  server.route_async("GET", "/v1/busy", [c](request&& req, responder reply) {
    c->read(req, std::move(reply), [c] { return busy(*c); });
  });
  server.route_async("GET", "/v1/pause", [c](request&& req, responder reply) {
    c->read(req, std::move(reply), [c] {
      return json_ok(200, json{{"paused", c->jobs.paused()}});
    });
  });
  for (auto [path, paused] : {std::pair{"/v1/pause", true}, std::pair{"/v1/unpause", false}}) {
    server.route_async("POST", path, [c, paused = paused](request&&, responder reply) {
      pb::SetPause cmd;
      cmd.set_paused(paused);
      c->propose(state::job_command::set_pause, cmd, 200, std::move(reply), [paused](response r) {
        if (r.status != 200) return r;
        return json_ok(200, json{{"paused", paused}});
      });
    });
  }
}

}  // namespace sundial::api
