#pragma once
// Launch and execution ids. A launch id names one attempt of one slot (job, scheduled
// instant, attempt): agents run a repeated launch id only once, and jobs see it as
// SUNDIAL_LAUNCH_ID, an idempotency key for their own side effects (SEMANTICS.md,
// "Launches"). It must therefore be the same on every node and every release: a fixed hash
// (FNV-1a 64 over a fixed byte encoding, then SplitMix64's finaliser), never std::hash.
//
// 64 bits: collisions between two launches of one job are negligible (a per-second job makes
// 31M launches a year: p ~ 3e-5 over a year); ids are meant to be compared together with the
// job name, not as a global key across a million jobs.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace sundial::scheduler {

// 16 lowercase hex digits, from the job name's bytes, a 0 separator, slot_us (8 bytes,
// little-endian) and attempt (4 bytes, little-endian). attempt: 1 for the first run, as
// SUNDIAL_ATTEMPT.
std::string make_launch_id(std::string_view job, std::int64_t slot_us, std::uint32_t attempt);

// The id of one execution of a launch: the launch id itself when the launch has one target,
// else launch_id + "-" + target_index (0-based), one per target node.
std::string make_execution_id(std::string_view launch_id, std::size_t target_index,
                              std::size_t target_count);

}  // namespace sundial::scheduler
