#include "api/job_json.h"

#include <algorithm>

#include <fmt/format.h>

#include "base/time_format.h"
#include "cron/schedule.h"

namespace sundial::api {

using base::errc;
using base::fail;
using nlohmann::json;
namespace pb = state::pb;

namespace {

base::failure wrong_type(const std::string& field, const char* want) {
  return fail(errc::invalid_argument, fmt::format("{} must be {}", field, want));
}

base::status get_string(const json& b, const char* field, std::string* out) {
  auto it = b.find(field);
  if (it == b.end() || it->is_null()) return {};
  if (!it->is_string()) return wrong_type(field, "a string");
  *out = it->get<std::string>();
  return {};
}

base::status get_bool(const json& b, const char* field, bool* out) {
  auto it = b.find(field);
  if (it == b.end() || it->is_null()) return {};
  if (!it->is_boolean()) return wrong_type(field, "true or false");
  *out = it->get<bool>();
  return {};
}

template <typename T>
base::status get_unsigned(const json& b, const char* field, T max, T* out) {
  auto it = b.find(field);
  if (it == b.end() || it->is_null()) return {};
  if (!it->is_number_unsigned() && !(it->is_number_integer() && it->get<std::int64_t>() >= 0))
    return wrong_type(field, "a non-negative integer");
  const auto v = it->get<std::uint64_t>();
  if (v > static_cast<std::uint64_t>(max))
    return fail(errc::invalid_argument, fmt::format("{} {} is too large", field, v));
  *out = static_cast<T>(v);
  return {};
}

template <typename Map>
base::status get_map(const std::string& field, const json* value, Map* out) {
  if (!value || value->is_null()) return {};
  if (!value->is_object()) return wrong_type(field, "an object of strings");
  for (auto it = value->begin(); it != value->end(); ++it) {
    if (!it.value().is_string())
      return wrong_type(fmt::format("{}[{}]", field, it.key()), "a string");
    (*out)[it.key()] = it.value().get<std::string>();
  }
  return {};
}

base::status get_duration(const json& b, const char* field, std::int64_t* out) {
  auto it = b.find(field);
  if (it == b.end() || it->is_null()) return {};
  if (it->is_number_integer()) {
    const auto v = it->get<std::int64_t>();
    if (v < 0) return fail(errc::invalid_argument, fmt::format("{} must not be negative", field));
    *out = v;
    return {};
  }
  if (!it->is_string()) return wrong_type(field, "a duration such as \"90s\" or \"1h30m\"");
  const std::string text = it->get<std::string>();
  // "0s" is how an unset duration is shown (GET), so a backup must read it back as unset.
  if (text.empty() || text == "0" || text == "0s") {
    *out = 0;
    return {};
  }
  auto d = cron::parse_duration(text);
  if (!d) return fail(errc::invalid_argument, fmt::format("{}: {}", field, d.err().message));
  *out = d->count();
  return {};
}

// retry_backoff: a duration (the first delay) or {"initial", "factor", "max", "jitter"}.
base::status get_retry_backoff(const json& b, pb::Job& j) {
  auto it = b.find("retry_backoff");
  if (it == b.end() || it->is_null()) return {};
  std::int64_t v = 0;
  if (!it->is_object()) {
    SUNDIAL_TRY(get_duration(b, "retry_backoff", &v));
    j.set_retry_backoff_s(v);
    return {};
  }
  const json& o = *it;
  for (auto k = o.begin(); k != o.end(); ++k) {
    if (k.key() != "initial" && k.key() != "factor" && k.key() != "max" && k.key() != "jitter")
      return fail(
          errc::invalid_argument,
          fmt::format("retry_backoff: unknown key \"{}\" (initial, factor, max, jitter)", k.key()));
  }
  SUNDIAL_TRY(get_duration(o, "initial", &v));
  j.set_retry_backoff_s(v);
  v = 0;
  SUNDIAL_TRY(get_duration(o, "max", &v));
  j.set_retry_backoff_max_s(v);
  for (auto [key, setter] : {std::pair{"factor", &pb::Job::set_retry_backoff_factor},
                             std::pair{"jitter", &pb::Job::set_retry_backoff_jitter}}) {
    auto f = o.find(key);
    if (f == o.end() || f->is_null()) continue;
    if (!f->is_number()) return wrong_type(std::string("retry_backoff.") + key, "a number");
    (j.*setter)(f->get<double>());
  }
  return {};
}

base::status get_instant(const json& b, const char* field, std::int64_t* out) {
  auto it = b.find(field);
  if (it == b.end() || it->is_null()) return {};
  if (!it->is_string()) return wrong_type(field, "an RFC 3339 instant or null");
  const std::string text = it->get<std::string>();
  if (text.empty()) return {};
  auto t = base::parse_rfc3339(text);
  if (!t) return fail(errc::invalid_argument, fmt::format("{}: {}", field, t.err().message));
  *out = t->time_since_epoch().count();
  return {};
}

json instant_or_null(std::int64_t us) {
  if (us == 0) return nullptr;
  using namespace std::chrono;
  return base::format_rfc3339_utc(
      base::seconds_time{duration_cast<seconds>(microseconds{us >= 0 ? us : us - 999999})});
}

// An execution's instants keep their microseconds ("2026-12-02T04:07:50.123456Z"), as Dkron's
// RFC3339Nano does: lateness and durations are read from them.
json precise_instant_or_null(std::int64_t us) {
  if (us == 0) return nullptr;
  using namespace std::chrono;
  const std::int64_t secs = us >= 0 ? us / 1000000 : (us - 999999) / 1000000;
  const std::int64_t frac = us - secs * 1000000;
  std::string text = base::format_rfc3339_utc(base::seconds_time{seconds{secs}});
  if (frac != 0 && !text.empty() && text.back() == 'Z') {
    text.pop_back();
    text += fmt::format(".{:06d}Z", frac);
  }
  return text;
}

std::string duration_text(std::int64_t s) {
  if (s == 0) return "0s";
  std::string out;
  if (s >= 3600) out += std::to_string(s / 3600) + "h", s %= 3600;
  if (s >= 60) out += std::to_string(s / 60) + "m", s %= 60;
  if (s > 0) out += std::to_string(s) + "s";
  return out;
}

// A map's entries ordered by key (protobuf maps iterate in no particular order).
template <typename Map>
std::vector<std::pair<std::string, typename Map::mapped_type>> sorted(const Map& m) {
  std::vector<std::pair<std::string, typename Map::mapped_type>> out(m.begin(), m.end());
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  return out;
}

}  // namespace

base::result<pb::Job> job_from_json(const json& b) {
  if (!b.is_object()) return fail(errc::invalid_argument, "the body must be a JSON object (a job)");
  pb::Job j;
  for (auto [field, target] :
       {std::pair{"name", j.mutable_name()}, std::pair{"displayname", j.mutable_displayname()},
        std::pair{"schedule", j.mutable_schedule()}, std::pair{"timezone", j.mutable_timezone()},
        std::pair{"owner", j.mutable_owner()}, std::pair{"owner_email", j.mutable_owner_email()},
        std::pair{"concurrency", j.mutable_concurrency()},
        std::pair{"parent_job", j.mutable_parent_job()},
        std::pair{"executor", j.mutable_executor()},
        std::pair{"misfire_policy", j.mutable_misfire_policy()},
        std::pair{"dst_policy", j.mutable_dst_policy()},
        std::pair{"retry_on", j.mutable_retry_on()}, std::pair{"target", j.mutable_target()},
        std::pair{"routing", j.mutable_routing()}, std::pair{"on_parent", j.mutable_on_parent()}}) {
    SUNDIAL_TRY(get_string(b, field, target));
  }
  bool disabled = false, ephemeral = false;
  SUNDIAL_TRY(get_bool(b, "disabled", &disabled));
  SUNDIAL_TRY(get_bool(b, "ephemeral", &ephemeral));
  j.set_disabled(disabled);
  j.set_ephemeral(ephemeral);
  std::uint32_t retries = 0, history_limit = 0;
  std::uint64_t output_limit = 0;
  SUNDIAL_TRY(get_unsigned<std::uint32_t>(b, "retries", 1000000, &retries));
  SUNDIAL_TRY(get_unsigned<std::uint32_t>(b, "history_limit", 100000000, &history_limit));
  SUNDIAL_TRY(get_unsigned<std::uint64_t>(b, "output_limit", 1ull << 40, &output_limit));
  j.set_retries(retries);
  j.set_history_limit(history_limit);
  j.set_output_limit(output_limit);
  auto field_ptr = [&](const char* f) -> const json* {
    auto it = b.find(f);
    return it == b.end() ? nullptr : &*it;
  };
  SUNDIAL_TRY(get_map("tags", field_ptr("tags"), j.mutable_tags()));
  SUNDIAL_TRY(get_map("metadata", field_ptr("metadata"), j.mutable_metadata()));
  SUNDIAL_TRY(
      get_map("executor_config", field_ptr("executor_config"), j.mutable_executor_config()));
  if (const json* p = field_ptr("processors"); p && !p->is_null()) {
    if (!p->is_object()) return wrong_type("processors", "an object of objects");
    for (auto it = p->begin(); it != p->end(); ++it) {
      pb::StringMap m;
      SUNDIAL_TRY(get_map("processors[" + it.key() + "]", &it.value(), m.mutable_entries()));
      (*j.mutable_processors())[it.key()] = std::move(m);
    }
  }
  SUNDIAL_TRY(get_retry_backoff(b, j));
  std::uint32_t max_catchup = 0;
  SUNDIAL_TRY(get_unsigned<std::uint32_t>(b, "max_catchup", 100000000, &max_catchup));
  j.set_max_catchup(max_catchup);
  std::int64_t v = 0;
  for (auto [field, setter] : {std::pair{"catchup_window", &pb::Job::set_catchup_window_s},
                               std::pair{"timeout", &pb::Job::set_timeout_s},
                               std::pair{"spread", &pb::Job::set_spread_s}}) {
    v = 0;
    SUNDIAL_TRY(get_duration(b, field, &v));
    (j.*setter)(v);
  }
  for (auto [field, setter] : {std::pair{"starts_at", &pb::Job::set_starts_at_us},
                               std::pair{"expires_at", &pb::Job::set_expires_at_us}}) {
    v = 0;
    SUNDIAL_TRY(get_instant(b, field, &v));
    (j.*setter)(v);
  }
  if (const json* n = field_ptr("notify"); n && !n->is_null()) {
    if (!n->is_array()) return wrong_type("notify", "an array");
    for (const auto& item : *n) {
      if (!item.is_object()) return wrong_type("notify[]", "an object");
      pb::Notify* out = j.add_notify();
      SUNDIAL_TRY(get_string(item, "kind", out->mutable_kind()));
      SUNDIAL_TRY(get_string(item, "on", out->mutable_on()));
      SUNDIAL_TRY(get_string(item, "url", out->mutable_url()));
      SUNDIAL_TRY(get_string(item, "body", out->mutable_body()));
      if (out->on().empty()) out->set_on("failure");
      auto h = item.find("headers");
      SUNDIAL_TRY(
          get_map("notify[].headers", h == item.end() ? nullptr : &*h, out->mutable_headers()));
      if (auto to = item.find("to"); to != item.end() && !to->is_null()) {
        if (!to->is_array()) return wrong_type("notify[].to", "an array of strings");
        for (const auto& addr : *to) {
          if (!addr.is_string()) return wrong_type("notify[].to[]", "a string");
          out->add_to(addr.get<std::string>());
        }
      }
    }
  }
  return j;
}

void write_job(json_writer& w, const pb::Job& j) {
  auto instant = [&](const char* name, std::int64_t us) {
    w.key(name);
    if (us == 0) {
      w.null();
    } else {
      w.value(instant_or_null(us).get<std::string>());
    }
  };
  w.begin_object();
  w.key("id").value(j.name());
  w.key("name").value(j.name());
  w.key("displayname").value(j.displayname());
  w.key("schedule").value(j.schedule());
  w.key("timezone").value(j.timezone());
  w.key("owner").value(j.owner());
  w.key("owner_email").value(j.owner_email());
  w.key("success_count").value(j.success_count());
  w.key("error_count").value(j.error_count());
  instant("last_success", j.last_success_us());
  instant("last_error", j.last_error_us());
  w.key("disabled").value(j.disabled());
  w.key("tags").object(sorted(j.tags()));
  w.key("metadata").object(sorted(j.metadata()));
  w.key("retries").value(j.retries());
  w.key("dependent_jobs").begin_array();
  for (const auto& d : j.dependent_jobs())
    w.value(d);
  w.end_array();
  w.key("parent_job").value(j.parent_job());
  w.key("processors").begin_object();
  for (const auto& [k, m] : sorted(j.processors()))
    w.key(k).object(sorted(m.entries()));
  w.end_object();
  w.key("concurrency").value(j.concurrency());
  w.key("executor").value(j.executor());
  w.key("executor_config").object(sorted(j.executor_config()));
  w.key("status").value(j.status());
  instant("next", j.next_us());
  w.key("ephemeral").value(j.ephemeral());
  instant("starts_at", j.starts_at_us());
  instant("expires_at", j.expires_at_us());
  w.key("misfire_policy").value(j.misfire_policy());
  w.key("catchup_window").value(duration_text(j.catchup_window_s()));
  w.key("dst_policy").value(j.dst_policy());
  w.key("retry_backoff").begin_object();
  w.key("initial").value(duration_text(j.retry_backoff_s()));
  w.key("factor").value(j.retry_backoff_factor());
  w.key("max").value(duration_text(j.retry_backoff_max_s()));
  w.key("jitter").value(j.retry_backoff_jitter());
  w.end_object();
  w.key("max_catchup").value(j.max_catchup());
  w.key("skipped_count").value(j.skipped_count());
  w.key("lost_count").value(j.lost_count());
  w.key("retry_on").value(j.retry_on());
  w.key("timeout").value(duration_text(j.timeout_s()));
  w.key("history_limit").value(j.history_limit());
  w.key("output_limit").value(j.output_limit());
  w.key("notify").begin_array();
  for (const auto& n : j.notify()) {
    w.begin_object();
    w.key("kind").value(n.kind());
    w.key("on").value(n.on());
    if (!n.url().empty()) w.key("url").value(n.url());
    if (!n.headers().empty()) w.key("headers").object(sorted(n.headers()));
    if (!n.body().empty()) w.key("body").value(n.body());
    if (n.to_size() > 0) {
      w.key("to").begin_array();
      for (const auto& t : n.to())
        w.value(t);
      w.end_array();
    }
    w.end_object();
  }
  w.end_array();
  w.key("target").value(j.target());
  w.key("routing").value(j.routing());
  w.key("spread").value(duration_text(j.spread_s()));
  w.key("on_parent").value(j.on_parent());
  w.end_object();
}

json job_to_json(const pb::Job& j) {
  // One definition of the shape (write_job); single jobs are small enough to parse back.
  json_writer w;
  write_job(w, j);
  return json::parse(w.str());
}

json execution_to_json(const pb::Execution& e, std::uint64_t output_limit) {
  std::string output = e.output();
  bool truncated = e.output_truncated();
  if (output_limit > 0 && output.size() > output_limit) {
    output = output.substr(output.size() - output_limit);
    truncated = true;
  }
  return json{{"id", e.id()},
              {"job_name", e.job_name()},
              {"started_at", precise_instant_or_null(e.started_at_us())},
              {"finished_at", precise_instant_or_null(e.finished_at_us())},
              {"success", e.success()},
              {"output", output},
              {"node_name", e.node_name()},
              {"group", e.group()},
              {"attempt", e.attempt()},
              {"state", e.state()},
              {"exit_code", e.exit_code()},
              {"scheduled_at", precise_instant_or_null(e.scheduled_at_us())},
              {"launch_id", e.launch_id()},
              {"cpu_seconds", e.cpu_seconds()},
              {"max_rss_bytes", e.max_rss_bytes()},
              {"output_truncated", truncated},
              {"missed", e.missed()},
              {"trigger", e.trigger()},
              {"error", e.error()},
              {"retry_at", precise_instant_or_null(e.retry_at_us())},
              {"created_at", precise_instant_or_null(e.created_at_us())},
              {"parent_execution", e.parent_execution()},
              {"epoch", e.epoch()}};
}

}  // namespace sundial::api
