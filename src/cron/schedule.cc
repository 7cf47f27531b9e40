#include "cron/schedule.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>

#include "base/time_format.h"
#include "cron/fields.h"
#include "cron/hash.h"

namespace sundial::cron {
namespace {

using base::errc;
using base::fail;
using std::chrono::seconds;

// Instants whose local time could leave years 1-9999 are out of the engine's range.
constexpr std::int64_t min_instant = detail::min_local + 86400;
constexpr std::int64_t max_instant = detail::max_local - 86400;

constexpr std::size_t max_schedule_length = 1024;

// Salt for the @every phase, distinct from the field indexes 0-5 used by H.
constexpr std::uint64_t every_salt = 64;

struct descriptor {
  std::string_view name;
  std::string_view fields;
};
constexpr descriptor descriptors[] = {
    {"@yearly", "0 0 0 1 1 *"}, {"@annually", "0 0 0 1 1 *"}, {"@monthly", "0 0 0 1 * *"},
    {"@weekly", "0 0 0 * * 0"}, {"@daily", "0 0 0 * * *"},    {"@midnight", "0 0 0 * * *"},
    {"@hourly", "0 0 * * * *"}, {"@minutely", "0 * * * * *"},
};

std::string_view trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front())))
    s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back())))
    s.remove_suffix(1);
  return s;
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out)
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// Saturating local = instant + offset, kept inside the engine's local range.
std::int64_t to_local_clamped(instant t, seconds offset) {
  const std::int64_t s = t.time_since_epoch().count();
  if (s <= detail::min_local - offset.count()) return detail::min_local;
  if (s >= detail::max_local + 1 - offset.count()) return detail::max_local + 1;
  return s + offset.count();
}

std::int64_t floor_div(std::int64_t a, std::int64_t b) {
  const std::int64_t q = a / b;
  return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}

}  // namespace

std::string_view to_string(dst_policy p) {
  return p == dst_policy::wall ? "wall" : "cron";
}

base::result<dst_policy> parse_dst_policy(std::string_view text) {
  if (text == "cron" || text.empty()) return dst_policy::cron;
  if (text == "wall") return dst_policy::wall;
  return fail(errc::invalid_argument,
              fmt::format("unknown dst policy \"{}\" (use cron or wall)", text));
}

base::result<schedule> parse(std::string_view text, const parse_options& options) {
  if (text.size() > max_schedule_length) {
    return fail(errc::invalid_argument,
                fmt::format("the schedule is longer than {} characters", max_schedule_length));
  }
  std::string_view rest = trim(text);
  std::string zone_name = options.timezone;
  for (std::string_view prefix : {"TZ=", "CRON_TZ="}) {
    if (rest.substr(0, prefix.size()) == prefix) {
      rest.remove_prefix(prefix.size());
      const auto space = rest.find_first_of(" \t");
      if (space == std::string_view::npos) {
        return fail(errc::invalid_argument,
                    fmt::format("{}{} must be followed by a schedule", prefix, rest));
      }
      zone_name = std::string(rest.substr(0, space));
      rest = trim(rest.substr(space));
      break;
    }
  }
  auto z = zone::locate(zone_name);
  if (!z) return z.err();

  schedule s;
  s.text_ = std::string(trim(text));
  s.zone_ = std::move(z).value();
  s.dst_ = options.dst;

  if (rest.empty()) return fail(errc::invalid_argument, "the schedule is empty");
  if (rest[0] != '@') {
    auto spec = detail::parse_fields(rest, options.hash_seed);
    if (!spec) return spec.err();
    s.kind_ = schedule_kind::cron;
    s.spec_ = *spec;
    s.never_ = !detail::can_ever_match(s.spec_);
    return s;
  }

  const auto space = rest.find_first_of(" \t");
  const std::string word = lower(rest.substr(0, space));
  const std::string_view arg =
      space == std::string_view::npos ? std::string_view{} : trim(rest.substr(space));
  for (const auto& d : descriptors) {
    if (word == d.name) {
      if (!arg.empty()) {
        return fail(errc::invalid_argument,
                    fmt::format("{} takes no argument, got \"{}\"", d.name, arg));
      }
      auto spec = detail::parse_fields(d.fields, options.hash_seed);
      SUNDIAL_ASSERT(spec.ok(), "built-in descriptor must parse");
      s.kind_ = schedule_kind::cron;
      s.spec_ = *spec;
      return s;
    }
  }
  if (word == "@every") {
    if (arg.empty())
      return fail(errc::invalid_argument, "@every needs a duration, e.g. @every 1h30m");
    auto d = parse_duration(arg);
    if (!d) return fail(errc::invalid_argument, "@every: " + d.err().message);
    s.kind_ = schedule_kind::every;
    s.interval_ = *d;
    s.phase_ = seconds{static_cast<std::int64_t>(detail::mix(options.hash_seed, every_salt) %
                                                 static_cast<std::uint64_t>(d->count()))};
    return s;
  }
  if (word == "@at") {
    if (arg.empty()) {
      return fail(errc::invalid_argument,
                  "@at needs an RFC 3339 time, e.g. @at 2026-12-01T09:00:00Z");
    }
    auto t = base::parse_rfc3339(arg);
    if (!t) return fail(errc::invalid_argument, "@at: " + t.err().message);
    s.kind_ = schedule_kind::at;
    // A fractional second rounds up: a one-shot never fires before the time asked for.
    s.at_ = std::chrono::ceil<seconds>(*t);
    const auto at = s.at_.time_since_epoch().count();
    if (at < min_instant || at > max_instant) {
      return fail(errc::invalid_argument, "@at: the time must be between years 0001 and 9999");
    }
    return s;
  }
  if (word == "@manually") {
    if (!arg.empty()) {
      return fail(errc::invalid_argument,
                  fmt::format("@manually takes no argument, got \"{}\"", arg));
    }
    s.kind_ = schedule_kind::manually;
    return s;
  }
  return fail(errc::invalid_argument,
              fmt::format("unknown descriptor \"{}\" (use @yearly, @annually, @monthly, @weekly, "
                          "@daily, @midnight, @hourly, @minutely, @every <duration>, @at <time> "
                          "or @manually)",
                          rest.substr(0, std::min<std::size_t>(space, 64))));
}

std::optional<instant> schedule::next(instant after) const {
  const std::int64_t a = after.time_since_epoch().count();
  if (a >= max_instant) return std::nullopt;
  switch (kind_) {
    case schedule_kind::cron:
      return next_cron(after);
    case schedule_kind::every: {
      const std::int64_t i = interval_.count();
      const std::int64_t p = phase_.count();
      const std::int64_t from = std::max(a, min_instant);
      const std::int64_t t = p + (floor_div(from - p, i) + 1) * i;
      if (t > max_instant) return std::nullopt;
      return instant{seconds{t}};
    }
    case schedule_kind::at:
      if (at_ > after) return at_;
      return std::nullopt;
    case schedule_kind::manually:
      return std::nullopt;
  }
  return std::nullopt;
}

std::optional<instant> schedule::prev(instant before) const {
  const std::int64_t b = before.time_since_epoch().count();
  if (b <= min_instant) return std::nullopt;
  switch (kind_) {
    case schedule_kind::cron:
      return prev_cron(before);
    case schedule_kind::every: {
      const std::int64_t i = interval_.count();
      const std::int64_t p = phase_.count();
      const std::int64_t from = std::min(b, max_instant);
      // The largest p + k*i strictly below `from`.
      const std::int64_t t = p + floor_div(from - 1 - p, i) * i;
      if (t < min_instant) return std::nullopt;
      return instant{seconds{t}};
    }
    case schedule_kind::at:
      if (at_ < before) return at_;
      return std::nullopt;
    case schedule_kind::manually:
      return std::nullopt;
  }
  return std::nullopt;
}

// Walks the zone's segments of constant offset from `after` onwards. Inside a segment local
// time is a bijection of instants, so the local search answers directly; the policy decides
// what happens at the segment's start (see dst_policy).
std::optional<instant> schedule::next_cron(instant after) const {
  if (never_) return std::nullopt;
  const bool fixed = fixed_time();
  instant t = std::max(after, instant{seconds{min_instant}}) + seconds{1};
  // Bounded: a schedule that can match at all does so within a 400-year calendar cycle, i.e.
  // within ~800 DST segments; past the engine's range the segment walk stops too.
  for (int guard = 0; guard < 100000; ++guard) {
    if (t.time_since_epoch().count() > max_instant) return std::nullopt;
    const segment seg = zone_->segment_at(t);
    const seconds off = seg.offset;
    std::int64_t lo = to_local_clamped(t, off);
    const std::int64_t hi = to_local_clamped(seg.end, off);
    if (fixed && seg.begin != instant::min()) {
      const seconds prev_off = zone_->offset_at(seg.begin - seconds{1});
      const std::int64_t begin_s = seg.begin.time_since_epoch().count();
      if (prev_off < off && t == seg.begin) {
        // Spring forward: wall times in [begin+prev_off, begin+off) do not exist; any that
        // match fire at the first instant after the gap, which is `begin`.
        if (detail::next_local(spec_, begin_s + prev_off.count(), begin_s + off.count()) !=
            detail::no_match) {
          return t;
        }
      }
      if (prev_off > off) {
        // Fall back: wall times in [begin+off, begin+prev_off) already fired before `begin`.
        lo = std::max(lo, begin_s + prev_off.count());
      }
    }
    if (lo < hi) {
      const std::int64_t found = detail::next_local(spec_, lo, hi);
      if (found != detail::no_match) return instant{seconds{found - off.count()}};
    }
    if (seg.end == instant::max()) return std::nullopt;
    t = seg.end;
  }
  return std::nullopt;
}

std::optional<instant> schedule::prev_cron(instant before) const {
  if (never_) return std::nullopt;
  const bool fixed = fixed_time();
  instant t = std::min(before, instant{seconds{max_instant}}) - seconds{1};
  for (int guard = 0; guard < 100000; ++guard) {
    if (t.time_since_epoch().count() < min_instant) return std::nullopt;
    const segment seg = zone_->segment_at(t);
    const seconds off = seg.offset;
    const std::int64_t hi = to_local_clamped(t, off);
    std::int64_t lo = to_local_clamped(seg.begin, off);
    bool gap = false;
    if (fixed && seg.begin != instant::min()) {
      const seconds prev_off = zone_->offset_at(seg.begin - seconds{1});
      const std::int64_t begin_s = seg.begin.time_since_epoch().count();
      if (prev_off > off) lo = std::max(lo, begin_s + prev_off.count());
      gap = prev_off < off && detail::next_local(spec_, begin_s + prev_off.count(),
                                                 begin_s + off.count()) != detail::no_match;
    }
    if (lo <= hi) {
      const std::int64_t found = detail::prev_local(spec_, hi, lo);
      if (found != detail::no_match) return instant{seconds{found - off.count()}};
    }
    if (gap) return seg.begin;
    if (seg.begin == instant::min()) return std::nullopt;
    t = seg.begin - seconds{1};
  }
  return std::nullopt;
}

std::vector<instant> schedule::next_n(instant after, std::size_t n) const {
  std::vector<instant> out;
  out.reserve(std::min<std::size_t>(n, 1024));
  while (out.size() < n) {
    auto t = next(after);
    if (!t) break;
    out.push_back(*t);
    after = *t;
  }
  return out;
}

std::string schedule::describe() const {
  switch (kind_) {
    case schedule_kind::cron:
      return fmt::format("cron \"{}\" in {}, dst policy {}{}", text_, zone_->name(),
                         to_string(dst_), never_ ? " (never fires: no day can match)" : "");
    case schedule_kind::every:
      return fmt::format("every {} (phase {}s after each multiple since the Unix epoch)",
                         format_duration(interval_), phase_.count());
    case schedule_kind::at:
      return fmt::format("once at {}", base::format_rfc3339_utc(at_));
    case schedule_kind::manually:
      return "manually (only by run-now or as a dependent job)";
  }
  return {};
}

}  // namespace sundial::cron
