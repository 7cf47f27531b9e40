#include "cli/schedule_command.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <iostream>
#include <memory>

#include "base/clock.h"
#include "base/time_format.h"
#include "cron/hash.h"
#include "cron/schedule.h"

namespace sundial::cli {
namespace {

constexpr int exit_invalid = 2;
constexpr std::size_t max_count = 100000;

struct schedule_args {
  std::string expression;
  std::string tz;
  std::string from;
  std::size_t count = 5;
  std::string job_name;
  std::string dst = "cron";
  bool json = false;
};

// Parses the expression with the flags; prints the error and returns nullopt when invalid.
std::optional<cron::schedule> parse_or_report(const schedule_args& a) {
  auto policy = cron::parse_dst_policy(a.dst);
  if (!policy) {
    std::cerr << "error: " << policy.err().message << "\n";
    return std::nullopt;
  }
  cron::parse_options opts{a.tz, a.job_name.empty() ? 0 : cron::hash_seed_for(a.job_name), *policy};
  auto s = cron::parse(a.expression, opts);
  if (!s) {
    std::cerr << "error: invalid schedule \"" << a.expression << "\": " << s.err().message << "\n";
    return std::nullopt;
  }
  return std::move(s).value();
}

int run_next(const schedule_args& a) {
  auto s = parse_or_report(a);
  if (!s) return exit_invalid;
  cron::instant from;
  if (a.from.empty()) {
    from = std::chrono::floor<std::chrono::seconds>(base::real_clock{}.now());
  } else {
    auto t = base::parse_rfc3339(a.from);
    if (!t) {
      std::cerr << "error: --from: " << t.err().message << "\n";
      return exit_invalid;
    }
    // next() is strictly after `from`; an instant inside a second counts as that second.
    from = std::chrono::floor<std::chrono::seconds>(*t);
  }
  if (a.count == 0 || a.count > max_count) {
    std::cerr << "error: --count must be 1-" << max_count << "\n";
    return exit_invalid;
  }
  const auto instants = s->next_n(from, a.count);
  if (a.json) {
    nlohmann::ordered_json out = nlohmann::ordered_json::array();
    for (auto t : instants) {
      out.push_back({{"utc", base::format_rfc3339_utc(t)},
                     {"local", base::format_rfc3339_local(t, s->time_zone().offset_at(t))}});
    }
    std::cout << out.dump(2) << "\n";
    return 0;
  }
  for (auto t : instants) {
    const auto seg = s->time_zone().segment_at(t);
    std::cout << base::format_rfc3339_utc(t) << "  " << base::format_rfc3339_local(t, seg.offset)
              << " " << seg.abbrev << "\n";
  }
  if (instants.size() < a.count) {
    std::cerr << (instants.empty() ? "no instants: " : "no more instants: ")
              << (s->never_fires() ? "no day can ever match this schedule"
                                   : "the schedule fires no more after the last one shown")
              << "\n";
  }
  return 0;
}

int run_validate(const schedule_args& a) {
  auto s = parse_or_report(a);
  if (!s) return exit_invalid;
  std::cout << "valid: " << s->describe() << "\n";
  return 0;
}

void add_common(CLI::App& cmd, schedule_args& a) {
  cmd.add_option("expression", a.expression, "the schedule, e.g. \"0 30 9 * * MON-FRI\"")
      ->required();
  cmd.add_option("--tz", a.tz, "IANA time zone (default UTC; a TZ= prefix wins)");
  cmd.add_option("--job-name", a.job_name, "job name that seeds H/~ and the @every phase");
  cmd.add_option("--dst", a.dst, "DST policy: cron (default) or wall");
}

}  // namespace

void add_schedule_command(CLI::App& app, int& exit_code) {
  auto* schedule = app.add_subcommand("schedule", "preview and check schedules");
  schedule->require_subcommand(1);

  auto args = std::make_shared<schedule_args>();
  auto* next = schedule->add_subcommand("next", "print the next instants of a schedule");
  add_common(*next, *args);
  next->add_option("--from", args->from, "start after this RFC 3339 time (default now)");
  next->add_option("--count", args->count, "how many instants (default 5)");
  next->add_flag("--json", args->json, "print a JSON array of {utc, local}");
  next->callback([args, &exit_code] { exit_code = run_next(*args); });

  auto vargs = std::make_shared<schedule_args>();
  auto* validate = schedule->add_subcommand("validate", "check a schedule; exit 2 if invalid");
  add_common(*validate, *vargs);
  validate->callback([vargs, &exit_code] { exit_code = run_validate(*vargs); });
}

}  // namespace sundial::cli
