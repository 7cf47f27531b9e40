#pragma once
// The schedule engine: a job's schedule text -> the instants it fires.
//
// Pure: no clock reads and no I/O, except that the first use of a time zone loads its rules
// from the system tzdata (see zone.h). The language and both DST policies are specified in
// SEMANTICS.md; docs/architecture.md explains the algorithm.

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "cron/spec.h"
#include "cron/zone.h"

namespace sundial::cron {

// How a fixed-time schedule treats wall times that a DST change skips or repeats.
enum class dst_policy {
  // Default, as ISC/cronie cron: a time in a spring-forward gap fires once at the first
  // instant after the gap; a time in a fall-back overlap fires once, at its first occurrence.
  // Schedules that match every hour of the day follow the wall clock as it is shown (real
  // elapsed time): skipped minutes do not fire, repeated ones fire again.
  cron,
  // Literal wall-clock matching: skipped in a gap, twice in an overlap (robfig/cron, Kubernetes).
  wall,
};

// "cron" or "wall".
std::string_view to_string(dst_policy p);
base::result<dst_policy> parse_dst_policy(std::string_view text);

struct parse_options {
  std::string timezone;         // IANA name; "" means UTC. A TZ=/CRON_TZ= prefix overrides it.
  std::uint64_t hash_seed = 0;  // hash_seed_for(job name): fixes H/~ and the @every phase
  dst_policy dst = dst_policy::cron;
};

enum class schedule_kind {
  cron,      // fields or a descriptor such as @daily
  every,     // @every <duration>
  at,        // @at <RFC 3339 instant>: once
  manually,  // @manually: never by itself
};

class schedule {
 public:
  // The first instant strictly after `after`, or nullopt if there is none (before year 10000).
  std::optional<instant> next(instant after) const;
  // The last instant strictly before `before`, or nullopt (the first slot before year 1).
  std::optional<instant> prev(instant before) const;
  // Up to n instants after `after`, in order.
  std::vector<instant> next_n(instant after, std::size_t n) const;

  schedule_kind kind() const { return kind_; }
  const std::string& text() const { return text_; }
  const zone& time_zone() const { return *zone_; }
  dst_policy policy() const { return dst_; }
  // True when no instant can ever match, e.g. "0 0 0 30 2 *".
  bool never_fires() const { return never_; }
  // One line for people: kind, zone, policy and the normalised form.
  std::string describe() const;

 private:
  friend base::result<schedule> parse(std::string_view text, const parse_options& options);
  schedule() = default;

  std::optional<instant> next_cron(instant after) const;
  std::optional<instant> prev_cron(instant before) const;
  // True for fixed-time schedules under the cron policy: they get gap and overlap handling.
  bool fixed_time() const { return dst_ == dst_policy::cron && !spec_.every_hour(); }

  schedule_kind kind_ = schedule_kind::manually;
  std::string text_;
  std::shared_ptr<const zone> zone_;
  dst_policy dst_ = dst_policy::cron;
  bool never_ = false;
  detail::cron_spec spec_;            // kind cron
  std::chrono::seconds interval_{0};  // kind every; Invariant: >= 1s
  std::chrono::seconds phase_{0};     // kind every; Invariant: 0 <= phase < interval
  instant at_{};                      // kind at
};

// Parses a schedule. Errors are invalid_argument with a message naming the field, the text and
// the allowed range, e.g. "field 4 (day of month): 32 is out of range 1-31".
base::result<schedule> parse(std::string_view text, const parse_options& options = {});

// Parses a Go-style duration ("1h30m", "10s", "1.5h"; also "d" for days) into whole seconds.
// Refuses fractions of a second, zero, negatives and anything over 100 years.
base::result<std::chrono::seconds> parse_duration(std::string_view text);
// The same syntax with any precision ("500ms", "1.5s", "0s"): for timeouts.
base::result<std::chrono::nanoseconds> parse_go_duration(std::string_view text);

// "1h30m0s" style, for describing @every.
std::string format_duration(std::chrono::seconds d);

}  // namespace sundial::cron
