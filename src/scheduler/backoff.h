#pragma once
// Retry delays (SEMANTICS.md, "Targets, retries, timeouts": `retry_backoff`, initial 1s, x2,
// max 5m, jitter). Deterministic: the jitter comes from a seed the caller passes (the launch
// id's hash), so every node, and a new leader after a failover, computes the same delay for
// the same retry.

#include <cstdint>

namespace sundial::scheduler {

struct retry_backoff {
  std::int64_t initial_us = 1'000'000;  // the first retry's delay; negative counts as 0
  double factor = 2;                    // growth per attempt; below 1 (or NaN) counts as 1
  std::int64_t max_us = 300'000'000;    // the delay before jitter never exceeds it
  // Each delay is scaled by a factor in [1 - jitter, 1 + jitter); clamped to [0, 1].
  double jitter = 0.1;
};

// The delay before jitter: min(initial * factor^(attempt - 1), max). Non-decreasing in
// attempt; attempt 0 counts as 1. Overflow-safe for any attempt.
std::int64_t base_delay_us(const retry_backoff& b, std::uint32_t attempt);

// The delay before retry number `attempt` (1 = the first retry): base_delay_us scaled by the
// jitter factor drawn from SplitMix64(seed, attempt). Never negative, never above
// max_us * (1 + jitter). The same inputs give the same delay everywhere; pass a stable
// seed, e.g. base::fnv1a_64(launch_id).
std::int64_t retry_delay_us(const retry_backoff& b, std::uint32_t attempt, std::uint64_t seed);

}  // namespace sundial::scheduler
