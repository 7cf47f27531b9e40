#include "api/jobs_api.h"

#include <nlohmann/json.hpp>

#include "api/answers.h"
#include "api/job_json.h"
#include "api/multipart.h"
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

  // Proposes a job command and turns its outcome into an answer with the job.
  response propose(state::job_command type, const google::protobuf::Message& m, int ok_status) {
    auto r = node.propose(state::encode_command(type, m), opt.write_timeout).get();
    if (r.status != outcome::committed) return refused(r, kv);
    const auto o = state::decode_outcome(r.result);
    if (!o.ok) return json_error(http_status(o.code), o.message);
    return json_ok(ok_status, o.job ? job_to_json(*o.job) : json::object());
  }

  // Linearizable unless ?stale: nullopt when the read may go ahead.
  std::optional<response> barrier(const request& req) {
    if (req.query.count("stale")) return std::nullopt;
    auto r = node.read_barrier(opt.read_timeout).get();
    if (r.status != outcome::committed) return refused(r, kv);
    return std::nullopt;
  }
};

base::result<json> parse_body(const request& req) {
  // Accepted whatever the Content-Type says (Dkron's guide uses curl -d).
  json b = json::parse(req.body, nullptr, false);
  if (b.is_discarded())
    return base::fail(base::errc::invalid_argument, "the body is not valid JSON");
  return b;
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

response with_total(response r, std::uint64_t total) {
  r.headers.emplace_back("X-Total-Count", std::to_string(total));
  return r;
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

// Run-now needs the scheduler (next issue): 404 for an unknown job, else 501.
response run_now(context& c, const std::string& name) {
  auto j = c.jobs.get(name);
  if (j && !*j) return json_error(404, "job " + name + " does not exist");
  return json_error(501,
                    "running a job now needs the scheduler, which this version does not have yet");
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

response create_or_replace(context& c, const request& req, const std::string& path_name) {
  if (req.query.count("runoncreate") && truthy(req.query.at("runoncreate"))) {
    return json_error(501,
                      "runoncreate needs the scheduler, which this version does not have yet; "
                      "nothing was created");
  }
  auto body = parse_body(req);
  if (!body) return error_answer(body.err());
  auto job = job_from_json(*body);
  if (!job) return error_answer(job.err());
  if (!path_name.empty()) {
    if (job->name().empty()) job->set_name(path_name);
    if (job->name() != path_name) {
      return json_error(400, "the body names job \"" + job->name() + "\" but the path names \"" +
                                 path_name + "\"");
    }
  }
  // Checked here for a quick answer; apply checks again against the replicated state.
  pb::Job checked = *job;
  if (auto st = state::normalize_job(checked); !st) return error_answer(st.err());
  if (auto r = refuse_if_paused(c)) return *r;
  pb::SetJob cmd;
  *cmd.mutable_job() = std::move(job).value();
  cmd.set_now_us(c.opt.now_us());
  return c.propose(state::job_command::set_job, cmd, 201);
}

// POST /v1/restore: a backup (what GET /v1/jobs returns) in the multipart field `file` (a
// bare JSON body is accepted too). One SetJobs command: every job is created or replaced, or
// none is; children may come before their parents.
response restore(context& c, const request& req) {
  std::string text;
  auto ct = req.headers.find("content-type");
  if (ct != req.headers.end() && ct->second.rfind("multipart/", 0) == 0) {
    auto file = multipart_field(ct->second, req.body, "file");
    if (!file) return error_answer(file.err());
    if (!*file) return json_error(400, "the multipart body has no field named \"file\"");
    text = std::move(**file);
  } else {
    text = req.body;
  }
  json list = json::parse(text, nullptr, false);
  if (list.is_discarded()) return json_error(400, "the restore file is not valid JSON");
  if (!list.is_array())
    return json_error(400, "the restore file must be a JSON array of jobs (GET /v1/jobs)");
  if (list.empty()) return json_error(400, "the restore file holds no jobs");
  pb::SetJobs cmd;
  cmd.set_now_us(c.opt.now_us());
  for (std::size_t i = 0; i < list.size(); ++i) {
    auto job = job_from_json(list[i]);
    auto where = [&] {
      const std::string name =
          list[i].is_object() && list[i].contains("name") && list[i]["name"].is_string()
              ? list[i]["name"].get<std::string>()
              : "";
      return "job " + std::to_string(i) + (name.empty() ? "" : " (" + name + ")") + ": ";
    };
    if (!job) return json_error(http_status(job.err().code), where() + job.err().message);
    pb::Job checked = *job;
    if (auto st = state::normalize_job(checked); !st)
      return json_error(http_status(st.err().code), where() + st.err().message);
    *cmd.add_jobs() = std::move(job).value();
  }
  if (auto r = refuse_if_paused(c)) return *r;
  auto r =
      c.node.propose(state::encode_command(state::job_command::set_jobs, cmd), c.opt.write_timeout)
          .get();
  if (r.status != outcome::committed) return refused(r, c.kv);
  const auto o = state::decode_outcome(r.result);
  if (!o.ok) return json_error(http_status(o.code), o.message);
  // Applied here before the proposal resolved: the restored jobs as stored.
  std::vector<pb::Job> restored;
  for (const auto& j : cmd.jobs()) {
    auto stored = c.jobs.get(j.name());
    if (stored && *stored) restored.push_back(std::move(**stored));
  }
  return with_total(jobs_answer(restored), restored.size());
}

response list_jobs(context& c, const request& req) {
  if (auto r = c.barrier(req)) return *r;
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

response job_routes(context& c, const request& req) {
  // /v1/jobs/{job}[/toggle|/run|/executions[/{id}]]
  const std::string rest = req.path.substr(std::string("/v1/jobs/").size());
  const auto slash = rest.find('/');
  const std::string name = rest.substr(0, slash);
  const std::string tail = slash == std::string::npos ? "" : rest.substr(slash + 1);
  if (auto st = state::validate_job_name(name); !st) {
    if (name.empty()) return json_error(404, "no such route");
    return error_answer(st.err());
  }
  const std::string& m = req.method;
  if (tail.empty()) {
    if (m == "GET") {
      if (auto r = c.barrier(req)) return *r;
      auto j = c.jobs.get(name);
      if (!j) return error_answer(j.err());
      if (!*j) return json_error(404, "job " + name + " does not exist");
      return json_ok(200, job_to_json(**j));
    }
    if (m == "PUT") return create_or_replace(c, req, name);
    if (m == "DELETE") {
      pb::DeleteJob cmd;
      cmd.set_name(name);
      return c.propose(state::job_command::delete_job, cmd, 200);
    }
    if (m == "POST") return run_now(c, name);
    return json_error(405, m + " is not allowed on /v1/jobs/{job}");
  }
  if (tail == "toggle") {
    if (m != "POST") return json_error(405, "use POST to toggle a job");
    pb::ToggleJob cmd;
    cmd.set_name(name);
    cmd.set_now_us(c.opt.now_us());
    return c.propose(state::job_command::toggle_job, cmd, 200);
  }
  if (tail == "run") {
    if (m != "POST") return json_error(405, "use POST to run a job");
    return run_now(c, name);
  }
  if (tail == "executions") {
    if (m == "DELETE") {
      pb::DeleteExecutions cmd;
      cmd.set_job_name(name);
      return c.propose(state::job_command::delete_executions, cmd, 200);
    }
    if (m != "GET") return json_error(405, m + " is not allowed on executions");
    if (auto r = c.barrier(req)) return *r;
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
  if (tail.rfind("executions/", 0) == 0 && m == "GET") {
    if (auto r = c.barrier(req)) return *r;
    auto e = c.jobs.execution(name, tail.substr(std::string("executions/").size()));
    if (!e) return error_answer(e.err());
    if (!*e) return json_error(404, "execution not found");
    return json_ok(200, execution_to_json(**e));
  }
  return json_error(404, "no such route: " + req.path);
}

}  // namespace

void register_job_routes(http_server& server, raft_node::node& node, state::kv_state& kv,
                         state::job_store& jobs, jobs_api_options options) {
  auto c = std::make_shared<context>(context{node, kv, jobs, std::move(options)});
  server.route("GET", "/v1/jobs", [c](const request& req) { return list_jobs(*c, req); });
  for (const char* m : {"POST", "PATCH"}) {
    server.route(m, "/v1/jobs", [c](const request& req) { return create_or_replace(*c, req, ""); });
  }
  for (const char* m : {"GET", "PUT", "POST", "DELETE", "PATCH"}) {
    server.route(m, "/v1/jobs/", [c](const request& req) { return job_routes(*c, req); });
  }
  server.route("POST", "/v1/restore", [c](const request& req) { return restore(*c, req); });
  server.route("GET", "/v1/pause", [c](const request& req) -> response {
    if (auto r = c->barrier(req)) return *r;
    return json_ok(200, json{{"paused", c->jobs.paused()}});
  });
  for (auto [path, paused] : {std::pair{"/v1/pause", true}, std::pair{"/v1/unpause", false}}) {
    server.route("POST", path, [c, paused = paused](const request&) -> response {
      pb::SetPause cmd;
      cmd.set_paused(paused);
      auto r = c->propose(state::job_command::set_pause, cmd, 200);
      if (r.status != 200) return r;
      return json_ok(200, json{{"paused", paused}});
    });
  }
}

}  // namespace sundial::api
