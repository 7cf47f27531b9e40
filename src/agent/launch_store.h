#pragma once
// The agent's durable memory (its data dir): every execution it was given and has not yet seen
// committed by a leader, and the highest leader epoch it has seen. A restarted agent reloads it
// and re-reports what finished while no leader heard about it (ARCHITECTURE.md "Data flow of
// one run", step 4: nothing is lost across leader changes or agent restarts).
//
// One small LMDB environment, written without fsync: a process crash loses nothing LMDB
// committed (the page cache survives it); a machine crash may lose the last records, and the
// leader then treats those runs as lost (they are retried by policy). That trade keeps a run's
// bookkeeping off the disk's sync latency.

#include <lmdb.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "agent.pb.h"
#include "base/result.h"

namespace sundial::agent {

class launch_store {
 public:
  // Opens (or creates) <dir>/launches.mdb.
  static base::result<std::unique_ptr<launch_store>> open(const std::string& dir);
  ~launch_store();
  launch_store(const launch_store&) = delete;
  launch_store& operator=(const launch_store&) = delete;

  // Everything stored, for a restart.
  base::result<std::vector<pb::AgentLaunch>> load() const;
  std::uint64_t highest_epoch() const { return highest_epoch_; }

  // One transaction: writes `put` (by execution id), removes `erase`, and raises the stored
  // epoch to `epoch` if higher.
  base::status write(const std::vector<pb::AgentLaunch>& put, const std::vector<std::string>& erase,
                     std::uint64_t epoch);

 private:
  launch_store() = default;
  MDB_env* env_ = nullptr;
  MDB_dbi dbi_ = 0;
  std::uint64_t highest_epoch_ = 0;
};

}  // namespace sundial::agent
