#pragma once
// Stable hashing for H/~ fields and @every phases. The values must be identical on every node
// and every release, so these are fixed algorithms (FNV-1a, SplitMix64), not std::hash.

#include <cstdint>
#include <string_view>

namespace sundial::cron {

// The hash seed of a job: FNV-1a 64 of its name.
std::uint64_t hash_seed_for(std::string_view job_name);

namespace detail {
// A well-mixed 64-bit value from a seed and a salt (SplitMix64's finaliser).
std::uint64_t mix(std::uint64_t seed, std::uint64_t salt);
}  // namespace detail

}  // namespace sundial::cron
