#pragma once
// What the agent needs of whatever starts its runs: the supervisor (real processes), or the
// simulator's stand-in (simulated time and processes). Both keep the supervisor's contract:
// on_finished exactly once per accepted run, whatever happens.

#include <chrono>
#include <cstdint>
#include <optional>

#include "base/clock.h"
#include "base/result.h"
#include "base/strong_id.h"
#include "exec/run_types.h"
#include "exec/shell_config.h"

namespace sundial::exec {

class launcher {
 public:
  virtual ~launcher() = default;
  // Starts the process at the wall-clock instant `at` (a past instant: at once).
  virtual base::result<run_id> spawn_at(base::wall_time at, shell_spec spec, run_callbacks cb) = 0;
  // Ends a run (SIGTERM to its group, SIGKILL after the grace) or cancels an armed one; false
  // if it is not known or already ended.
  virtual bool stop(run_id id, std::optional<std::chrono::nanoseconds> grace) = 0;
  // An identity of process `pid` that a reused pid does not share (its start time), 0 if it
  // is gone: recorded at start, so a restarted agent kills only its own leftover groups.
  virtual std::uint64_t process_identity(int pid) const = 0;
  // Kills process group `pgid` if its leader still has `identity` (a run left by a crash).
  virtual void kill_leftover_group(int pgid, std::uint64_t identity) = 0;
};

}  // namespace sundial::exec
