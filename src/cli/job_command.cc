#include "cli/job_command.h"

#include <cstring>
#include <fstream>
#include <iostream>
#include <iterator>
#include <memory>

#include "cli/api_call.h"
#include "cli/http_client.h"
#include "cli/tables.h"

namespace sundial::cli {
namespace {

using nlohmann::json;

struct job_args {
  std::string address = "127.0.0.1:8080";
  bool json = false;
  std::string name;
  std::string file;
  std::string query;
  std::string status;
  std::string sort;
  std::string order;
  int limit = 0;  // 0: no limit
  std::string execution;
};

std::string job_path(const std::string& name) {
  return "/v1/jobs/" + url_encode(name);
}

// Appends "&key=value" (or "?key=value" first) when value is not empty.
void add_param(std::string& target, const std::string& key, const std::string& value) {
  if (value.empty()) return;
  target += (target.find('?') == std::string::npos ? "?" : "&") + key + "=" + url_encode(value);
}

// "showing 10 of 42 jobs" under a table cut short by --limit.
void print_shown(std::size_t shown, const http_reply& reply, const char* what) {
  auto it = reply.headers.find("x-total-count");
  if (it == reply.headers.end()) return;
  if (it->second != std::to_string(shown))
    std::cout << "showing " << shown << " of " << it->second << " " << what << "\n";
}

int not_a_list(const std::string& address) {
  return report(
      base::error{base::errc::corruption, "the answer from " + address + " is not a list"});
}

// GETs a listing (the first `limit` items when limit > 0) and prints it: the API's JSON with
// --json, else `table` of it and how many of the total it shows.
int print_listing(const job_args& a, std::string target, std::string (*table)(const json&),
                  const char* what) {
  if (a.limit > 0) {
    add_param(target, "_start", "0");
    add_param(target, "_end", std::to_string(a.limit));
  }
  http_reply reply;
  auto items = call_json("GET", a.address, target, &reply);
  if (!items) return exit_failed;
  if (a.json) {
    std::cout << reply.body;
    return exit_ok;
  }
  if (!items->is_array()) return not_a_list(a.address);
  std::cout << table(*items);
  print_shown(items->size(), reply, what);
  return exit_ok;
}

int list_jobs(const job_args& a) {
  std::string target = "/v1/jobs";
  add_param(target, "q", a.query);
  add_param(target, "status", a.status);
  add_param(target, "_sort", a.sort);
  add_param(target, "_order", a.order);
  return print_listing(a, std::move(target), jobs_table, "jobs");
}

int get_job(const job_args& a) {
  http_reply reply;
  auto job = call_json("GET", a.address, job_path(a.name), &reply);
  if (!job) return exit_failed;
  std::cout << (a.json ? reply.body : job_details(*job));
  return exit_ok;
}

int delete_job(const job_args& a) {
  http_reply reply;
  if (!call_json("DELETE", a.address, job_path(a.name), &reply)) return exit_failed;
  std::cout << (a.json ? reply.body : "deleted job " + a.name + "\n");
  return exit_ok;
}

int toggle_job(const job_args& a) {
  http_reply reply;
  auto job = call_json("POST", a.address, job_path(a.name) + "/toggle", &reply);
  if (!job) return exit_failed;
  if (a.json) {
    std::cout << reply.body;
    return exit_ok;
  }
  const bool disabled = job->is_object() && job->contains("disabled") && (*job)["disabled"] == true;
  std::cout << "job " << a.name << " is now " << (disabled ? "disabled" : "enabled") << "\n";
  return exit_ok;
}

// `job run NAME`: launches it now and prints the executions created (ids to follow).
int run_job(const job_args& a) {
  http_reply reply;
  auto out = call_json("POST", a.address, job_path(a.name) + "/run", &reply);
  if (!out) return exit_failed;
  if (a.json) {
    std::cout << reply.body;
    return exit_ok;
  }
  std::cout << "launched job " << a.name << ":";
  if (out->is_object() && out->contains("executions"))
    for (const auto& id : (*out)["executions"])
      std::cout << " " << id.get<std::string>();
  std::cout << "\n";
  return exit_ok;
}

// `job stop NAME ID`: the execution enters stopping; its process group gets SIGTERM.
int stop_execution(const job_args& a) {
  http_reply reply;
  auto out =
      call_json("POST", a.address,
                job_path(a.name) + "/executions/" + url_encode(a.execution) + "/stop", &reply);
  if (!out) return exit_failed;
  std::cout << (a.json ? reply.body
                       : "stopping execution " + a.execution + " of job " + a.name + "\n");
  return exit_ok;
}

int list_executions(const job_args& a) {
  return print_listing(a, job_path(a.name) + "/executions", executions_table, "executions");
}

// Reads and checks the file for `apply`: one job object or an array of them, each naming its
// job (the name is the PUT's path). Errors are usage errors: nothing has been sent yet.
base::result<json> read_jobs(const std::string& file, bool& single) {
  std::string text;
  if (file == "-") {
    text.assign(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
  } else {
    std::ifstream in(file, std::ios::binary);
    if (!in)
      return base::fail(base::errc::invalid_argument,
                        "cannot read " + file + ": " + std::strerror(errno));
    text.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  const std::string source = file == "-" ? "standard input" : file;
  json doc;
  try {
    doc = json::parse(text);
  } catch (const json::parse_error& e) {
    return base::fail(base::errc::invalid_argument, source + " is not valid JSON: " + e.what());
  }
  single = doc.is_object();
  if (single) doc = json::array({std::move(doc)});
  if (!doc.is_array())
    return base::fail(base::errc::invalid_argument,
                      source + " must hold a job object or an array of job objects");
  for (std::size_t i = 0; i < doc.size(); ++i) {
    const json& j = doc[i];
    const std::string where = single ? source : source + ": entry " + std::to_string(i + 1);
    if (!j.is_object())
      return base::fail(base::errc::invalid_argument, where + " is not an object");
    auto name = j.find("name");
    if (name == j.end() || !name->is_string() || name->get<std::string>().empty())
      return base::fail(base::errc::invalid_argument, where + " has no \"name\"");
  }
  return doc;
}

int apply_jobs(const job_args& a) {
  bool single = false;
  auto jobs = read_jobs(a.file, single);
  if (!jobs) {
    report(jobs.err());
    return exit_usage;
  }
  int code = exit_ok;
  json answers = json::array();
  for (const auto& j : *jobs) {
    const std::string name = j["name"].get<std::string>();
    auto r = http_call("PUT", a.address, job_path(name), j.dump());
    if (!r) {
      std::cerr << "error: job " << name << ": " << r.err().message << "\n";
      answers.push_back(json{{"error", r.err().message}});
      code = exit_failed;
      continue;
    }
    json body = json::parse(r->body, nullptr, false);
    if (body.is_discarded()) body = json{{"error", r->body}};
    answers.push_back(body);
    if (r->status < 200 || r->status > 299) {
      std::cerr << "error: job " << name << ": " << describe(*r) << "\n";
      code = exit_failed;
      continue;
    }
    if (!a.json) {
      std::cout << "applied job " << name;
      if (body.is_object() && body.contains("next") && body["next"].is_string())
        std::cout << " (next run " << body["next"].get<std::string>() << ")";
      std::cout << "\n";
    }
  }
  if (a.json) std::cout << (single ? answers[0] : answers).dump(2) << "\n";
  return code;
}

}  // namespace

void add_job_command(CLI::App& app, int& exit_code) {
  auto* job = app.add_subcommand("job", "list, show, apply, delete, toggle, run and stop jobs");
  job->require_subcommand(1);
  auto args = std::make_shared<job_args>();
  auto common = [&](CLI::App* c) {
    c->add_option("--address", args->address, "HTTP address of a node (default 127.0.0.1:8080)")
        ->envname("SUNDIAL_ADDRESS");
    c->add_flag("--json", args->json, "print the API's JSON");
  };
  auto named = [&](CLI::App* c) {
    c->add_option("name", args->name, "the job's name")->required();
  };
  auto run = [args, &exit_code](int (*fn)(const job_args&)) {
    return [args, &exit_code, fn] { exit_code = fn(*args); };
  };

  auto* list_cmd = job->add_subcommand("list", "list jobs (a table, or --json)");
  common(list_cmd);
  list_cmd->add_option("--query", args->query, "only jobs whose name or displayname contains this");
  list_cmd->add_option("--status", args->status,
                       "only jobs whose last run is: success, failed, partially_failed, running "
                       "or untriggered (never ran)");
  list_cmd->add_option("--sort", args->sort,
                       "name (default), displayname, schedule, success_count, error_count, "
                       "last_success, last_error or next");
  list_cmd->add_option("--order", args->order, "asc (default) or desc")
      ->transform(CLI::IsMember({"asc", "desc"}, CLI::ignore_case));
  list_cmd->add_option("--limit", args->limit, "at most this many jobs")
      ->check(CLI::PositiveNumber);
  list_cmd->callback(run(list_jobs));

  auto* get_cmd = job->add_subcommand("get", "show one job");
  common(get_cmd);
  named(get_cmd);
  get_cmd->callback(run(get_job));

  auto* apply_cmd = job->add_subcommand(
      "apply", "create or replace jobs from a JSON file: one job object or an array of them");
  common(apply_cmd);
  apply_cmd->add_option("-f,--file", args->file, "the JSON file; - reads standard input")
      ->required();
  apply_cmd->callback(run(apply_jobs));

  auto* delete_cmd = job->add_subcommand("delete", "delete a job");
  common(delete_cmd);
  named(delete_cmd);
  delete_cmd->callback(run(delete_job));

  auto* toggle_cmd = job->add_subcommand("toggle", "disable an enabled job, enable a disabled one");
  common(toggle_cmd);
  named(toggle_cmd);
  toggle_cmd->callback(run(toggle_job));

  auto* run_cmd = job->add_subcommand("run", "run a job now (whatever its schedule)");
  common(run_cmd);
  named(run_cmd);
  run_cmd->callback(run(run_job));

  auto* stop_cmd = job->add_subcommand("stop", "stop a running (or waiting) execution");
  common(stop_cmd);
  named(stop_cmd);
  stop_cmd->add_option("id", args->execution, "the execution's id")->required();
  stop_cmd->callback(run(stop_execution));

  auto* exec_cmd = job->add_subcommand("executions", "a job's executions, newest first");
  common(exec_cmd);
  named(exec_cmd);
  exec_cmd->add_option("--limit", args->limit, "at most this many executions")
      ->check(CLI::PositiveNumber);
  exec_cmd->callback(run(list_executions));
}

}  // namespace sundial::cli
