#include "cli/tables.h"

#include <algorithm>

namespace sundial::cli {

using nlohmann::json;

namespace {

std::size_t code_points(const std::string& s) {
  return static_cast<std::size_t>(std::count_if(
      s.begin(), s.end(), [](char c) { return (static_cast<unsigned char>(c) & 0xC0) != 0x80; }));
}

std::string printable(std::string s) {
  for (auto& c : s) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = ' ';
  }
  return s;
}

// A string map as "k=v, k=v" (keys sorted), "-" when empty.
std::string map_text(const json& object, const char* key) {
  auto it = object.find(key);
  if (it == object.end() || !it->is_object() || it->empty()) return "-";
  std::string out;
  for (const auto& [k, v] : it->items()) {
    if (!out.empty()) out += ", ";
    out += k + "=" + (v.is_string() ? v.get<std::string>() : v.dump());
  }
  return out;
}

std::string list_text(const json& object, const char* key) {
  auto it = object.find(key);
  if (it == object.end() || !it->is_array() || it->empty()) return "-";
  std::string out;
  for (const auto& v : *it)
    out += (out.empty() ? "" : ", ") + (v.is_string() ? v.get<std::string>() : v.dump());
  return out;
}

// A member's Tags object, or an empty one (never a throw on an odd answer).
const json& tags_of(const json& member) {
  static const json empty = json::object();
  auto it = member.find("Tags");
  return it != member.end() && it->is_object() ? *it : empty;
}

std::string details(const std::vector<std::pair<std::string, std::string>>& fields) {
  std::size_t width = 0;
  for (const auto& [k, v] : fields)
    width = std::max(width, code_points(k));
  std::string out;
  for (const auto& [k, v] : fields)
    out += k + ":" + std::string(width - code_points(k) + 1, ' ') + printable(v) + "\n";
  return out;
}

}  // namespace

std::string render_table(const std::vector<std::string>& header,
                         const std::vector<std::vector<std::string>>& rows) {
  std::vector<std::size_t> width(header.size(), 0);
  auto measure = [&](const std::vector<std::string>& row) {
    for (std::size_t i = 0; i < row.size() && i < width.size(); ++i)
      width[i] = std::max(width[i], code_points(printable(row[i])));
  };
  measure(header);
  for (const auto& r : rows)
    measure(r);
  std::string out;
  auto line = [&](const std::vector<std::string>& row) {
    std::string text;
    for (std::size_t i = 0; i < width.size(); ++i) {
      const std::string c = i < row.size() ? printable(row[i]) : "";
      text += c;
      // No padding after the last column: lines carry no trailing blanks.
      if (i + 1 < width.size()) text += std::string(width[i] - code_points(c) + 2, ' ');
    }
    while (!text.empty() && text.back() == ' ')
      text.pop_back();
    out += text + "\n";
  };
  line(header);
  for (const auto& r : rows)
    line(r);
  return out;
}

std::string cell(const json& object, const char* key) {
  auto it = object.find(key);
  if (it == object.end() || it->is_null()) return "-";
  if (it->is_string()) return it->get<std::string>().empty() ? "-" : it->get<std::string>();
  if (it->is_boolean()) return it->get<bool>() ? "yes" : "no";
  return it->dump();
}

std::string jobs_table(const json& jobs) {
  std::vector<std::vector<std::string>> rows;
  for (const auto& j : jobs) {
    rows.push_back({cell(j, "name"), cell(j, "schedule"), cell(j, "next"), cell(j, "last_success"),
                    cell(j, "last_error"), cell(j, "disabled"), cell(j, "success_count"),
                    cell(j, "error_count")});
  }
  return render_table(
      {"NAME", "SCHEDULE", "NEXT", "LAST SUCCESS", "LAST ERROR", "DISABLED", "SUCCESS", "ERROR"},
      rows);
}

std::string job_details(const json& j) {
  return details({{"name", cell(j, "name")},
                  {"displayname", cell(j, "displayname")},
                  {"schedule", cell(j, "schedule")},
                  {"timezone", cell(j, "timezone")},
                  {"next", cell(j, "next")},
                  {"status", cell(j, "status")},
                  {"disabled", cell(j, "disabled")},
                  {"last success", cell(j, "last_success")},
                  {"last error", cell(j, "last_error")},
                  {"success count", cell(j, "success_count")},
                  {"error count", cell(j, "error_count")},
                  {"concurrency", cell(j, "concurrency")},
                  {"retries", cell(j, "retries")},
                  {"executor", cell(j, "executor")},
                  {"executor config", map_text(j, "executor_config")},
                  {"parent job", cell(j, "parent_job")},
                  {"dependent jobs", list_text(j, "dependent_jobs")},
                  {"owner", cell(j, "owner")},
                  {"tags", map_text(j, "tags")},
                  {"metadata", map_text(j, "metadata")}});
}

std::string executions_table(const json& executions) {
  std::vector<std::vector<std::string>> rows;
  for (const auto& e : executions) {
    // Records from before the lifecycle had no state: derive one from finished_at/success.
    std::string state = cell(e, "state");
    if (state == "-" || state.empty()) {
      const bool running = !e.contains("finished_at") || e["finished_at"].is_null();
      state = running ? "running" : (e.value("success", false) ? "succeeded" : "failed");
    }
    const bool ended = e.contains("finished_at") && !e["finished_at"].is_null();
    rows.push_back({cell(e, "id"), state, cell(e, "scheduled_at"), cell(e, "started_at"),
                    cell(e, "finished_at"), ended ? cell(e, "exit_code") : "-",
                    cell(e, "node_name"), cell(e, "attempt")});
  }
  return render_table(
      {"ID", "STATE", "SCHEDULED", "STARTED", "FINISHED", "EXIT", "NODE", "ATTEMPT"}, rows);
}

std::string members_table(const json& members, const std::string& leader_name) {
  std::vector<std::vector<std::string>> rows;
  for (const auto& m : members) {
    const json& tags = tags_of(m);
    const std::string name = cell(m, "Name");
    rows.push_back({name, cell(m, "id"), cell(tags, "rpc_addr"), cell(tags, "http_addr"),
                    cell(m, "statusText"), name == leader_name ? "yes" : ""});
  }
  return render_table({"NAME", "ID", "RPC", "HTTP", "STATUS", "LEADER"}, rows);
}

std::string member_details(const json& m) {
  const json& tags = tags_of(m);
  return details({{"name", cell(m, "Name")},
                  {"id", cell(m, "id")},
                  {"rpc", cell(tags, "rpc_addr")},
                  {"http", cell(tags, "http_addr")},
                  {"status", cell(m, "statusText")},
                  {"version", cell(tags, "version")}});
}

}  // namespace sundial::cli
