#pragma once
// What a valid job is (SEMANTICS.md "Job fields"): names, schedules, time zones, policies and
// size limits, with Sundial's defaults filled in. The stored model is the protobuf `pb::Job`
// (proto/state.proto), so commands, snapshots and the store share one encoding.
//
// Rules that need other jobs (the parent exists, no cycle, no dependents on delete) are
// checked by job_store::apply, which sees the replicated state.

#include <string_view>

#include "base/result.h"
#include "state.pb.h"

namespace sundial::state {

inline constexpr std::size_t max_job_name_bytes = 256;
inline constexpr std::size_t max_text_bytes = 4096;       // displayname, owner, values
inline constexpr std::size_t max_map_entries = 128;       // tags, metadata, configs
inline constexpr std::size_t max_job_bytes = 256 * 1024;  // the whole encoded job
inline constexpr std::uint32_t default_history_limit = 100;
inline constexpr std::uint32_t max_history_limit = 100000;
inline constexpr std::uint64_t default_output_limit = 256 * 1024;
inline constexpr std::uint64_t max_output_limit = 64ull << 20;
inline constexpr std::int64_t default_catchup_window_s = 3600;
inline constexpr std::int64_t default_retry_backoff_s = 1;
inline constexpr std::uint32_t max_retries = 1000;
inline constexpr std::uint32_t default_max_catchup = 100;
inline constexpr std::uint32_t max_max_catchup = 100000;

// Lowercase letters (any script), digits, '-' and '_'; 1..256 bytes of valid UTF-8.
base::status validate_job_name(std::string_view name);

// Fills Sundial's defaults into fields left empty, then checks every field. Errors are
// invalid_argument naming the field and the value. Read-only fields are not looked at.
base::status normalize_job(pb::Job& job);

// The next fire instant (microseconds since the epoch) strictly after `now_us` in the job's
// zone, or 0 when it never fires by itself (@manually, a dependent job, past expires_at, a
// spent @at). Precondition: normalize_job accepted the job.
std::int64_t next_fire_us(const pb::Job& job, std::int64_t now_us);

}  // namespace sundial::state
