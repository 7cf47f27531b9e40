#pragma once
// The durable Raft log: entries, hard state and the snapshot point in LMDB, snapshot data in
// checksummed files (snapshot_files.h). Every stored record carries a CRC-32C; a record that
// fails it is reported with the file and index and never used.
//
// Group commit: one ready's entries and hard state become durable together before save()
// returns. They go first to a write-ahead file (wal.h: one fdatasync, where an LMDB commit
// costs two) and are kept in memory; a checkpoint writes everything pending to LMDB in one
// synced transaction and then empties the write-ahead file. Checkpoints happen when the
// write-ahead file fills, after `checkpoint_entries` entries, and before snapshots and
// compaction. Opening replays what the write-ahead file holds into LMDB (replay is
// idempotent, so a crash between the LMDB commit and the reset is harmless).
//
// Layout under `dir`: raft/data.mdb (LMDB: "entries" keyed by big-endian index, "meta" with
// hard_state, snapshot and compacted records), raft/wal and snap/*.snap.

#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "base/result.h"
#include "raft/storage.h"
#include "storage/snapshot_files.h"

namespace sundial::storage {

struct storage_options {
  std::size_t map_size = std::size_t{64} << 30;  // LMDB address space (the file grows as used)
  std::size_t keep_snapshots = 3;
  std::size_t cache_entries = 8192;                     // recent entries kept decoded in memory...
  std::uint64_t cache_bytes = std::uint64_t{32} << 20;  // ...up to this many bytes of them
  bool sync = true;  // fsync every save; false only for tests that simulate power loss otherwise
  // Size of the write-ahead file (zero-filled once); 0 writes every save straight to LMDB.
  std::uint64_t wal_bytes = std::uint64_t{16} << 20;
  // Entries held in the write-ahead file (and in memory) before a checkpoint to LMDB.
  std::size_t checkpoint_entries = 4096;
};

class raft_storage final : public raft::log_storage {
 public:
  // Opens or creates the storage; checks the stored state (hard state, snapshot point and the
  // last entries' checksums). Corruption is an errc::corruption error naming the file.
  static base::result<std::unique_ptr<raft_storage>> open(const std::string& dir,
                                                          const storage_options& options = {});
  ~raft_storage() override;
  raft_storage(const raft_storage&) = delete;
  raft_storage& operator=(const raft_storage&) = delete;

  // raft::log_storage
  raft::hard_state initial_hard_state() const override;
  raft::conf_state initial_conf_state() const override;
  base::result<std::vector<raft::entry>> entries(raft::index_t lo, raft::index_t hi,
                                                 std::uint64_t max_bytes) const override;
  base::result<raft::term_t> term(raft::index_t i) const override;
  raft::index_t first_index() const override;
  raft::index_t last_index() const override;
  base::result<raft::snapshot> get_snapshot() const override;

  // True for a storage that has never been bootstrapped or joined (no state at all).
  bool is_new() const;
  // Makes a new storage the first state of a cluster member: a snapshot at index 1, term 1
  // holding `initial` membership (every founding member writes the same).
  base::status bootstrap(const raft::conf_state& initial);
  // Same, with the state machine's initial image as the bootstrap snapshot's data.
  base::status bootstrap_with(const raft::conf_state& initial, std::string image);

  // Persists one ready's durable parts atomically and durably: the snapshot (replacing the
  // log), then the entries (replacing any conflicting suffix), then the hard state.
  base::status save(const std::optional<raft::hard_state>& hs, const std::vector<raft::entry>& es,
                    const std::optional<raft::snapshot>& snap);
  // Records the application's snapshot at `i` (<= last index) and drops the entries before
  // i - retain (keeping `retain` entries lets slow followers catch up without a snapshot).
  base::status create_snapshot(raft::index_t i, const raft::conf_state& cs, raft::payload data,
                               std::uint64_t retain = 0);
  // Reads every stored entry and checks its checksum.
  base::status verify() const;
  // Writes what the write-ahead file holds to LMDB now (tests; shutdown).
  base::status checkpoint();

  const std::string& path() const { return db_path_; }

  struct impl;

 private:
  explicit raft_storage(std::unique_ptr<impl> i);
  std::unique_ptr<impl> impl_;
  std::string db_path_;
};

}  // namespace sundial::storage
