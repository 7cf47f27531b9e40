#include "state/job_rules.h"

#include <fmt/format.h>

#include <algorithm>
#include <clocale>
#include <cwctype>
#include <set>

#include "base/utf8.h"
#include "cron/hash.h"
#include "cron/schedule.h"
#include "cron/zone.h"

namespace sundial::state {

using base::errc;
using base::fail;
using base::next_code_point;

namespace {

base::failure invalid(std::string message) {
  return fail(errc::invalid_argument, std::move(message));
}

// Unicode letter classes from glibc's C.UTF-8 tables, without touching the global locale.
locale_t utf8_locale() {
  static const locale_t loc = newlocale(LC_CTYPE_MASK, "C.UTF-8", static_cast<locale_t>(0));
  return loc;
}

bool is_lowercase_letter(char32_t cp) {
  const locale_t loc = utf8_locale();
  const auto wc = static_cast<wint_t>(cp);
  if (loc == static_cast<locale_t>(0)) return false;
  return iswalpha_l(wc, loc) && !iswupper_l(wc, loc);
}

base::status check_text(std::string_view field, const std::string& value) {
  if (value.size() > max_text_bytes)
    return invalid(fmt::format("{} is longer than {} bytes", field, max_text_bytes));
  std::size_t i = 0;
  while (i < value.size()) {
    if (!next_code_point(value, i)) return invalid(fmt::format("{} is not valid UTF-8", field));
  }
  return {};
}

template <typename Map>
base::status check_map(std::string_view field, const Map& m) {
  if (m.size() > static_cast<int>(max_map_entries))
    return invalid(fmt::format("{} has more than {} entries", field, max_map_entries));
  for (const auto& [k, v] : m) {
    if (k.empty()) return invalid(fmt::format("{} has an empty key", field));
    if (auto st = check_text(fmt::format("{} key", field), k); !st) return st;
    if (auto st = check_text(fmt::format("{}[{}]", field, k), v); !st) return st;
  }
  return {};
}

base::status one_of(std::string_view field, std::string& value, std::string_view fallback,
                    std::initializer_list<std::string_view> allowed) {
  if (value.empty()) value = std::string(fallback);
  for (auto a : allowed)
    if (value == a) return {};
  std::string list;
  for (auto a : allowed)
    list += (list.empty() ? "" : ", ") + std::string(a);
  return invalid(fmt::format("{}: \"{}\" is not one of {}", field, value, list));
}

base::result<cron::schedule> parse_schedule(const pb::Job& job) {
  cron::parse_options po;
  po.timezone = job.timezone();
  po.hash_seed = cron::hash_seed_for(job.name());
  auto dst = cron::parse_dst_policy(job.dst_policy());
  if (!dst) return dst.err();
  po.dst = *dst;
  return cron::parse(job.schedule(), po);
}

}  // namespace

base::status validate_job_name(std::string_view name) {
  if (name.empty()) return invalid("name is required");
  if (name.size() > max_job_name_bytes)
    return invalid(fmt::format("name is longer than {} bytes", max_job_name_bytes));
  std::size_t i = 0;
  while (i < name.size()) {
    const std::size_t at = i;
    auto cp = next_code_point(name, i);
    if (!cp) return invalid(fmt::format("name \"{}\" is not valid UTF-8", name));
    const char32_t c = *cp;
    const bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
                    (c >= 0x80 && is_lowercase_letter(c));
    if (!ok) {
      return invalid(fmt::format(
          "name \"{}\": character \"{}\" at byte {} is not allowed (lowercase letters, digits, "
          "'-' and '_')",
          name, name.substr(at, i - at), at));
    }
  }
  return {};
}

base::status normalize_job(pb::Job& job) {
  if (auto st = validate_job_name(job.name()); !st) return st;
  for (auto [field, value] :
       {std::pair{"displayname", &job.displayname()}, std::pair{"owner", &job.owner()},
        std::pair{"owner_email", &job.owner_email()}, std::pair{"executor", &job.executor()}}) {
    if (auto st = check_text(field, *value); !st) return st;
  }
  if (!job.owner_email().empty() && job.owner_email().find('@') == std::string::npos)
    return invalid(fmt::format("owner_email \"{}\" is not an email address", job.owner_email()));
  if (auto st = check_map("tags", job.tags()); !st) return st;
  if (auto st = check_map("metadata", job.metadata()); !st) return st;
  if (auto st = check_map("executor_config", job.executor_config()); !st) return st;
  for (const auto& [k, v] : job.tags()) {
    // "value" or "value:count" with a positive count.
    const auto colon = v.rfind(':');
    if (colon != std::string::npos) {
      const std::string count = v.substr(colon + 1);
      const bool digits = !count.empty() && count.size() <= 6 &&
                          count.find_first_not_of("0123456789") == std::string::npos;
      if (!digits || std::stoul(count) == 0) {
        return invalid(
            fmt::format("tags[{}]: \"{}\" must be \"value\" or \"value:count\" with a "
                        "positive count",
                        k, v));
      }
    }
  }
  if (job.processors_size() > static_cast<int>(max_map_entries))
    return invalid("processors has too many entries");
  for (const auto& [name, cfg] : job.processors()) {
    if (auto st = check_map(fmt::format("processors[{}]", name), cfg.entries()); !st) return st;
  }
  if (!job.executor().empty() &&
      job.executor().find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789_-") !=
          std::string::npos) {
    return invalid(fmt::format("executor \"{}\" is not a valid executor name", job.executor()));
  }
  if (job.executor() == "shell") {
    if (auto it = job.executor_config().find("timeout"); it != job.executor_config().end()) {
      if (auto d = cron::parse_go_duration(it->second); !it->second.empty() && !d)
        return invalid(fmt::format("executor_config[timeout]: {}", d.err().message));
    }
  }
  if (job.retries() > max_retries)
    return invalid(fmt::format("retries {} is more than {}", job.retries(), max_retries));

  if (auto st = one_of("concurrency", *job.mutable_concurrency(), "allow",
                       {"allow", "forbid", "replace"});
      !st)
    return st;
  if (auto st = one_of("misfire_policy", *job.mutable_misfire_policy(), "run_once",
                       {"run_once", "run_all", "skip"});
      !st)
    return st;
  if (auto st = one_of("dst_policy", *job.mutable_dst_policy(), "cron", {"cron", "wall"}); !st)
    return st;
  if (auto st = one_of("retry_on", *job.mutable_retry_on(), "any_node", {"any_node", "same_node"});
      !st)
    return st;
  if (auto st = one_of("target", *job.mutable_target(), "one", {"one", "all"}); !st) return st;
  if (auto st = one_of("routing", *job.mutable_routing(), "random",
                       {"random", "round_robin", "least_busy", "consistent_hash"});
      !st)
    return st;
  if (auto st = one_of("on_parent", *job.mutable_on_parent(), "success",
                       {"success", "failure", "always"});
      !st)
    return st;
  if (job.catchup_window_s() == 0) job.set_catchup_window_s(default_catchup_window_s);
  if (job.retry_backoff_s() == 0) job.set_retry_backoff_s(default_retry_backoff_s);
  if (job.history_limit() == 0) job.set_history_limit(default_history_limit);
  if (job.max_catchup() == 0) job.set_max_catchup(default_max_catchup);
  if (job.max_catchup() > max_max_catchup)
    return invalid(
        fmt::format("max_catchup {} is more than {}", job.max_catchup(), max_max_catchup));
  if (job.retry_backoff_factor() == 0) job.set_retry_backoff_factor(2.0);
  if (!job.has_retry_backoff_jitter()) job.set_retry_backoff_jitter(0.1);
  if (job.retry_backoff_max_s() == 0)
    job.set_retry_backoff_max_s(std::max<std::int64_t>(300, job.retry_backoff_s()));
  if (!(job.retry_backoff_factor() >= 1.0 && job.retry_backoff_factor() <= 100.0))
    return invalid(fmt::format("retry_backoff.factor {} is not between 1 and 100",
                               job.retry_backoff_factor()));
  if (!(job.retry_backoff_jitter() >= 0.0 && job.retry_backoff_jitter() <= 1.0))
    return invalid(
        fmt::format("retry_backoff.jitter {} is not between 0 and 1", job.retry_backoff_jitter()));
  if (job.retry_backoff_max_s() < job.retry_backoff_s())
    return invalid("retry_backoff.max must not be less than retry_backoff.initial");
  if (job.output_limit() == 0) job.set_output_limit(default_output_limit);
  for (auto [field, v] :
       {std::pair{"catchup_window", job.catchup_window_s()},
        std::pair{"retry_backoff", job.retry_backoff_s()}, std::pair{"timeout", job.timeout_s()},
        std::pair{"spread", job.spread_s()}}) {
    if (v < 0) return invalid(fmt::format("{} must not be negative", field));
  }
  if (job.history_limit() > max_history_limit)
    return invalid(
        fmt::format("history_limit {} is more than {}", job.history_limit(), max_history_limit));
  if (job.output_limit() > max_output_limit)
    return invalid(
        fmt::format("output_limit {} is more than {}", job.output_limit(), max_output_limit));
  for (const auto& n : job.notify()) {
    if (n.kind() != "webhook" && n.kind() != "email")
      return invalid(fmt::format("notify: kind \"{}\" is not webhook or email", n.kind()));
    if (n.on() != "success" && n.on() != "failure" && n.on() != "always")
      return invalid(fmt::format("notify: on \"{}\" is not success, failure or always", n.on()));
    if (n.kind() == "webhook" && n.url().rfind("http://", 0) != 0 &&
        n.url().rfind("https://", 0) != 0)
      return invalid(fmt::format("notify: webhook url \"{}\" is not http(s)", n.url()));
    if (n.kind() == "email" && n.to().empty()) return invalid("notify: email needs \"to\"");
  }
  if (job.parent_job() == job.name()) return invalid("parent_job: a job cannot be its own parent");
  if (!job.parent_job().empty()) {
    if (auto st = validate_job_name(job.parent_job()); !st)
      return invalid("parent_job: " + st.err().message);
  }
  if (job.starts_at_us() != 0 && job.expires_at_us() != 0 &&
      job.expires_at_us() <= job.starts_at_us())
    return invalid("expires_at must be after starts_at");

  // The time zone is checked on its own too: a dependent job may have no schedule.
  if (auto z = cron::zone::locate(job.timezone()); !z)
    return invalid(fmt::format("timezone: {}", z.err().message));
  if (job.schedule().empty()) {
    if (job.parent_job().empty())
      return invalid("schedule is required (or a parent_job for a dependent job)");
  } else if (auto s = parse_schedule(job); !s) {
    return invalid(fmt::format("schedule \"{}\": {}", job.schedule(), s.err().message));
  }
  // Read-only fields a client sent are ignored (dependent_jobs and counters are the store's).
  job.clear_dependent_jobs();
  if (job.ByteSizeLong() > max_job_bytes)
    return fail(errc::too_large, fmt::format("the job is larger than {} bytes", max_job_bytes));
  return {};
}

std::int64_t next_fire_us(const pb::Job& job, std::int64_t now_us) {
  if (job.schedule().empty()) return 0;
  auto s = parse_schedule(job);
  if (!s) return 0;
  using namespace std::chrono;
  std::int64_t from_us = now_us;
  if (job.starts_at_us() > from_us) from_us = job.starts_at_us() - 1;
  // Strictly after the current second (instants are whole seconds).
  const cron::instant after{
      seconds{from_us >= 0 ? from_us / 1000000 : (from_us - 999999) / 1000000}};
  auto n = s->next(after);
  if (!n) return 0;
  const std::int64_t us = duration_cast<microseconds>(n->time_since_epoch()).count();
  if (job.expires_at_us() != 0 && us > job.expires_at_us()) return 0;
  return us;
}

}  // namespace sundial::state
