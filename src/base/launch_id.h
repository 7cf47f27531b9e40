#pragma once
// Launch and execution ids (SEMANTICS.md "Launches"): fixed functions of (job, slot, attempt),
// so every node and every release computes the same id for the same attempt of a slot. The
// launch id is also SUNDIAL_LAUNCH_ID, the job's own idempotency key for its side effects.

#include <cstdint>
#include <string>
#include <string_view>

namespace sundial::base {

// 16 lowercase hex digits: FNV-1a 64 over the job name's bytes, a 0 byte, slot_us (8 bytes,
// little-endian) and attempt (4 bytes, little-endian), then SplitMix64's finaliser (FNV-1a's
// last bytes barely reach the high bits). attempt: 1 for the first run, as SUNDIAL_ATTEMPT.
// 64 bits: ids are compared together with the job name, never as a global key.
std::string make_launch_id(std::string_view job, std::int64_t slot_us, std::uint32_t attempt);
// The record id of one target of a launch: the launch id when the launch has one target, else
// "<launch id>-<index>" (index from 0, in the intent's target order).
std::string make_execution_id(std::string_view launch_id, std::size_t target_index,
                              std::size_t target_count);
// SplitMix64's finaliser: spreads a 64-bit value (jitter seeds, rendezvous hashing).
std::uint64_t mix64(std::uint64_t x);

}  // namespace sundial::base
