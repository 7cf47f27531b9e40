#pragma once
// Snapshots as files in one directory: "<term>-<index>.snap" (hex, fixed width, so names sort
// by index). A file is written to "*.tmp", fsynced, renamed and the directory fsynced: a
// half-written snapshot never carries the final name and is deleted at start. Each file holds a
// header, the metadata, the data and a CRC-32C over all of it; a file that fails it is
// reported by name and never used. The newest `keep` files are kept.
//
// A snapshot whose data is a file reference (snapshot_ref.h) has its state file moved in
// beside it as "<term>-<index>.state" and pruned with it; the .snap file stores the reference
// relative to the directory, so the data directory can move.

#include <optional>
#include <string>
#include <vector>

#include "base/result.h"
#include "raft/types.h"

namespace sundial::storage {

class snapshot_files {
 public:
  // Uses (and creates) `dir`; removes leftover temporary files.
  static base::result<snapshot_files> open(std::string dir, std::size_t keep = 3);

  // Writes the snapshot durably, then prunes older files beyond `keep`. Returns the snapshot as
  // stored (a file reference then names the moved state file).
  base::result<raft::snapshot> save(const raft::snapshot& snap);
  // The newest snapshot, or nullopt if there is none. A corrupt newest file is an error
  // naming it (errc::corruption): it is never skipped silently.
  base::result<std::optional<raft::snapshot>> load_newest() const;
  // Reads one file (for tests and tools).
  base::result<raft::snapshot> load(const std::string& path) const;
  // Full paths of the snapshot files, oldest first.
  std::vector<std::string> list() const;
  const std::string& dir() const { return dir_; }

 private:
  explicit snapshot_files(std::string dir, std::size_t keep) : dir_(std::move(dir)), keep_(keep) {}
  std::string dir_;
  std::size_t keep_;
};

}  // namespace sundial::storage
