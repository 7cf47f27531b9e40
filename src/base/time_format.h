#pragma once
// RFC 3339 instants: the one text form of time in Sundial's CLI, API and logs.

#include <chrono>
#include <string>
#include <string_view>

#include "base/result.h"

namespace sundial::base {

using seconds_time = std::chrono::sys_seconds;

// "2026-11-21T14:00:00Z". Years outside 0000-9999 cannot be written in RFC 3339; they are
// clamped to the nearest bound (no instant Sundial computes is outside them).
std::string format_rfc3339_utc(seconds_time t);

// The wall time t + offset written with that offset, e.g. "2026-11-21T09:00:00-05:00".
// Offsets are written to the minute, as RFC 3339 requires.
std::string format_rfc3339_local(seconds_time t, std::chrono::seconds offset);

// Parses "YYYY-MM-DDTHH:MM:SS[.fraction](Z|+HH:MM|-HH:MM)"; 'T' may also be 't' or a space,
// 'Z' may be 'z'. Every field is range-checked (including the day against its month); a
// leap second (:60) is refused. The error names what is wrong. Microsecond resolution (digits
// beyond are truncated), so that years 0000-9999 all fit (nanoseconds overflow after 2262).
using micro_time = std::chrono::sys_time<std::chrono::microseconds>;
result<micro_time> parse_rfc3339(std::string_view text);

}  // namespace sundial::base
