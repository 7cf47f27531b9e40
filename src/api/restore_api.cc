#include "api/restore_api.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <map>

#include "api/answers.h"
#include "api/job_json.h"
#include "api/multipart.h"
#include "state/job_rules.h"

namespace sundial::api {
namespace {

using nlohmann::json;
using raft_node::outcome;
namespace pb = state::pb;

constexpr std::size_t batch_bytes = 512 * 1024;

// A read-only mapping of the body file: the kernel pages it in and out, never the heap.
class mapped_file {
 public:
  static base::result<mapped_file> open(const std::string& path) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return base::fail(base::errc::io_error, "cannot read the uploaded body");
    struct stat st {};
    if (::fstat(fd, &st) != 0) {
      ::close(fd);
      return base::fail(base::errc::io_error, "cannot read the uploaded body");
    }
    mapped_file m;
    m.size_ = static_cast<std::size_t>(st.st_size);
    if (m.size_ > 0) {
      void* p = ::mmap(nullptr, m.size_, PROT_READ, MAP_PRIVATE, fd, 0);
      if (p == MAP_FAILED) {
        ::close(fd);
        return base::fail(base::errc::io_error, "cannot map the uploaded body");
      }
      m.data_ = static_cast<const char*>(p);
    }
    ::close(fd);
    return m;
  }
  mapped_file() = default;
  mapped_file(mapped_file&& o) noexcept : data_(o.data_), size_(o.size_) { o.data_ = nullptr; }
  mapped_file& operator=(mapped_file&&) = delete;
  ~mapped_file() {
    if (data_) ::munmap(const_cast<char*>(data_), size_);
  }
  std::string_view view() const { return {data_ ? data_ : "", size_}; }

 private:
  const char* data_ = nullptr;
  std::size_t size_ = 0;
};

// Calls `each(index, element)` for every element of the top-level JSON array in `text`
// without keeping the array: each element is parsed, handed over and dropped. Stops at the
// first error `each` returns.
base::status for_each_element(std::string_view text,
                              const std::function<base::status(std::size_t, const json&)>& each) {
  // A NUL ends nlohmann's input: `[...]\0anything` would parse as `[...]`.
  if (const auto nul = text.find('\0'); nul != std::string_view::npos)
    return base::fail(
        base::errc::invalid_argument,
        "the restore file is not valid JSON: a NUL byte at offset " + std::to_string(nul));
  bool top_is_array = false;
  bool first_event = true;
  std::size_t index = 0;
  base::status failed;
  json::parser_callback_t cb = [&](int depth, json::parse_event_t ev, json& parsed) {
    if (first_event) {
      first_event = false;
      top_is_array = depth == 0 && ev == json::parse_event_t::array_start;
      return top_is_array;
    }
    if (!failed.ok()) return false;
    if (depth == 1 && (ev == json::parse_event_t::value || ev == json::parse_event_t::object_end ||
                       ev == json::parse_event_t::array_end)) {
      failed = each(index++, parsed);
      return false;  // not kept in the array
    }
    return true;
  };
  json top = json::parse(text.begin(), text.end(), cb, false);
  if (!failed.ok()) return failed;
  if (!top_is_array && !first_event && !top.is_discarded())
    return base::fail(base::errc::invalid_argument,
                      "the restore file must be a JSON array of jobs (GET /v1/jobs)");
  if (top.is_discarded() || first_event) {
    if (!top_is_array && !first_event)
      return base::fail(base::errc::invalid_argument,
                        "the restore file must be a JSON array of jobs (GET /v1/jobs)");
    return base::fail(base::errc::invalid_argument, "the restore file is not valid JSON");
  }
  if (index == 0) return base::fail(base::errc::invalid_argument, "the restore file holds no jobs");
  return {};
}

std::string where(std::size_t i, const json& element) {
  std::string name;
  if (element.is_object()) {
    auto it = element.find("name");
    if (it != element.end() && it->is_string()) name = it->get<std::string>();
  }
  return "job " + std::to_string(i) + (name.empty() ? "" : " (" + name + ")") + ": ";
}

struct restorer {
  raft_node::node& node;
  state::kv_state& kv;
  state::job_store& jobs;
  const jobs_api_options& opt;

  response run(const request& req) {
    auto file = mapped_file::open(req.body_file);
    if (!file) return error_answer(file.err());
    std::string_view text = file->view();
    auto ct = req.headers.find("content-type");
    if (ct != req.headers.end() && ct->second.rfind("multipart/", 0) == 0) {
      auto field = multipart_field(ct->second, text, "file");
      if (!field) return error_answer(field.err());
      if (!*field) return json_error(400, "the multipart body has no field named \"file\"");
      text = **field;
    }
    // Pass 1: every job is valid, named once, and its parent exists (in the file or stored).
    std::map<std::string, std::string> parent_of;  // name -> parent ("" for none)
    std::size_t count = 0;
    auto checked = for_each_element(text, [&](std::size_t i, const json& element) -> base::status {
      auto job = job_from_json(element);
      if (!job) return base::fail(job.err().code, where(i, element) + job.err().message);
      pb::Job normalized = *job;
      if (auto st = state::normalize_job(normalized); !st)
        return base::fail(st.err().code, where(i, element) + st.err().message);
      if (!parent_of.emplace(job->name(), job->parent_job()).second)
        return base::fail(base::errc::invalid_argument,
                          where(i, element) + "job " + job->name() + " appears twice");
      ++count;
      return {};
    });
    if (!checked) return error_answer(checked.err());
    // Depth of each job in the file's parent forest: written level by level, parents first.
    std::map<std::string, int> depth;
    int max_depth = 0;
    for (const auto& [name, parent] : parent_of) {
      std::vector<std::string> chain;
      std::string at = name;
      int d = 0;
      while (true) {
        if (auto known = depth.find(at); known != depth.end()) {
          d = known->second;
          break;
        }
        const std::string& p = parent_of.at(at);
        if (p.empty() || !parent_of.count(p)) {
          if (!p.empty()) {
            auto stored = jobs.get(p);
            if (!stored) return error_answer(stored.err());
            if (!*stored)
              return json_error(404, "job " + at + ": parent_job " + p +
                                         " does not exist (neither in the file nor stored); "
                                         "nothing was restored");
          }
          depth[at] = 0;
          d = 0;
          break;
        }
        chain.push_back(at);
        if (chain.size() > parent_of.size())
          return json_error(400, "job " + name + ": parent_job " + parent_of.at(name) +
                                     " would make a cycle; nothing was restored");
        at = p;
      }
      for (auto it = chain.rbegin(); it != chain.rend(); ++it) {
        depth[*it] = ++d;
        max_depth = std::max(max_depth, d);
      }
    }
    if (jobs.paused())
      return json_error(503,
                        "the cluster is paused: jobs cannot be created or changed until "
                        "POST /v1/unpause");
    // Pass 2, once per level: batches of jobs through Raft.
    std::size_t restored = 0;
    pb::SetJobs batch;
    std::size_t batch_size = 0;
    auto flush = [&]() -> std::optional<response> {
      if (batch.jobs_size() == 0) return std::nullopt;
      batch.set_now_us(opt.now_us());
      auto r = node.propose(state::encode_command(state::job_command::set_jobs, batch),
                            opt.write_timeout)
                   .get();
      std::optional<response> failure;
      if (r.status != outcome::committed) {
        failure = refused(r, kv);
      } else if (const auto o = state::decode_outcome(r.result); !o.ok) {
        failure = json_error(http_status(o.code), o.message);
      }
      if (failure) {
        auto body = json::parse(failure->body, nullptr, false);
        const std::string why = body.is_object() && body.contains("error")
                                    ? body["error"].get<std::string>()
                                    : "the write failed";
        failure->body =
            json{{"error", why + (restored == 0 ? "; nothing was restored"
                                                : "; " + std::to_string(restored) + " of " +
                                                      std::to_string(count) +
                                                      " jobs had been restored before this")},
                 {"restored", restored}}
                .dump(-1, ' ', false, json::error_handler_t::replace) +
            "\n";
        return failure;
      }
      restored += static_cast<std::size_t>(batch.jobs_size());
      batch.Clear();
      batch_size = 0;
      return std::nullopt;
    };
    std::optional<response> failure;
    for (int level = 0; level <= max_depth && !failure; ++level) {
      auto st = for_each_element(text, [&](std::size_t, const json& element) -> base::status {
        auto job = job_from_json(element);
        if (!job) return job.err();  // checked in pass 1: cannot happen
        if (depth.at(job->name()) != level) return {};
        batch_size += job->ByteSizeLong();
        *batch.add_jobs() = std::move(job).value();
        if (batch_size >= batch_bytes) {
          failure = flush();
          if (failure) return base::fail(base::errc::unavailable, "stopped");
        }
        return {};
      });
      if (!failure && !st) return error_answer(st.err());
      if (!failure) failure = flush();
    }
    if (failure) return std::move(*failure);
    if (count > restore_echo_limit) return json_ok(200, json{{"restored", restored}});
    // The restored jobs as stored.
    json_writer w;
    w.begin_array();
    std::size_t shown = 0;
    for (const auto& [name, parent] : parent_of) {
      auto stored = jobs.get(name);
      if (stored && *stored) {
        write_job(w, **stored);
        ++shown;
      }
    }
    w.end_array();
    return with_total(response{200, "application/json", w.take() + "\n", {}}, shown);
  }
};

}  // namespace

void register_restore_route(http_server& server, raft_node::node& node, state::kv_state& kv,
                            state::job_store& jobs, const jobs_api_options& options) {
  auto r = std::make_shared<restorer>(restorer{node, kv, jobs, options});
  route_options ro;
  ro.max_body_bytes = options.max_restore_bytes;
  ro.body_to_file = true;
  // Blocking: it parses a file of up to max_restore_bytes and waits for Raft batch by batch.
  server.route(
      "POST", "/v1/restore", [r](const request& req) { return r->run(req); }, route_kind::blocking,
      ro);
}

}  // namespace sundial::api
