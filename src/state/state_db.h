#pragma once
// The replicated state's LMDB environment, shared by kv_state (keys, members) and job_store
// (jobs, executions, indexes). It lives on disk across restarts together with the last applied
// Raft index, so a restart replays only the log after it (never the whole log), and a Raft
// snapshot is a compact copy of it taken from a read transaction (MVCC: apply is not blocked
// while readers walk it).
//
// Files: <dir>/state-<generation>.mdb (MDB_NOSUBDIR). Installing a snapshot copies the received
// file to the next generation, opens it and swaps it in; readers that still hold the previous
// environment finish on it, and its files are removed when the last one lets go.
//
// Durability: commits do not fsync (Raft's log is the durable record; the state can always be
// rebuilt from the latest snapshot and the log). A process crash loses nothing LMDB committed
// (the page cache survives it); a machine crash may tear an unsynced file. So at open the
// environment is trusted only if it was written during this boot (same kernel boot id) or was
// synced at a clean shutdown and not written since (a "clean" marker holding its last
// transaction id); otherwise it is discarded and rebuilt.

#include <lmdb.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include "base/result.h"
#include "storage/snapshot_ref.h"

namespace sundial::state {

// One open generation of the environment and its tables.
struct state_env {
  MDB_env* env = nullptr;
  std::string path;
  bool remove_on_close = false;  // a replaced generation: its files go with its last reader
  // Tables. meta: "applied" (u64 big-endian), "paused", "boot", counters. kv: key -> kv record.
  // members: big-endian id -> pb::Member. The job store's: jobs, next, execs, exec_ids and
  // job_index (one byte naming the index, then the sort key and the name).
  // fences: bucket sizes of the ordered job tables (rank_fences.h). launches: job \0 big-endian
  // slot -> pb::LaunchRecord (the slot key). active: job \0 id -> state name, one entry per
  // execution not in a final state (busy, reconciliation, overlap).
  MDB_dbi meta = 0, kv = 0, members = 0, jobs = 0, next = 0, execs = 0, exec_ids = 0, job_index = 0,
          fences = 0, launches = 0, active = 0;
  ~state_env();
};

// LMDB errors as io_error naming the operation.
base::failure lmdb_error(const char* what, int rc);
inline MDB_val mdb_val(std::string_view s) {
  return MDB_val{s.size(), const_cast<char*>(s.data())};
}
inline std::string_view mdb_view(const MDB_val& v) {
  return {static_cast<const char*>(v.mv_data), v.mv_size};
}

// A transaction, aborted unless committed.
class txn {
 public:
  txn() = default;
  ~txn() {
    if (txn_) mdb_txn_abort(txn_);
  }
  txn(const txn&) = delete;
  txn& operator=(const txn&) = delete;
  static base::result<txn> read(const std::shared_ptr<state_env>& env);
  static base::result<txn> write(const std::shared_ptr<state_env>& env);
  txn(txn&& o) noexcept : env_(std::move(o.env_)), txn_(o.txn_) { o.txn_ = nullptr; }
  MDB_txn* get() const { return txn_; }
  const state_env& env() const { return *env_; }
  base::status commit();

  // Point reads and writes on one table.
  base::result<std::optional<std::string_view>> get(MDB_dbi dbi, std::string_view key) const;
  base::status put(MDB_dbi dbi, std::string_view key, std::string_view value);
  base::status erase(MDB_dbi dbi, std::string_view key);  // absent: fine

 private:
  std::shared_ptr<state_env> env_;  // keeps the generation open while the transaction lives
  MDB_txn* txn_ = nullptr;
};

// A cursor, closed with its scope.
struct cursor {
  MDB_cursor* c = nullptr;
  ~cursor() {
    if (c) mdb_cursor_close(c);
  }
  static base::result<std::unique_ptr<cursor>> open(const txn& t, MDB_dbi dbi);
};

class state_db {
 public:
  // Opens (or creates) the environment under `dir`, discarding one that cannot be trusted.
  static base::result<std::unique_ptr<state_db>> open(const std::string& dir);
  ~state_db();
  state_db(const state_db&) = delete;
  state_db& operator=(const state_db&) = delete;

  // The current generation (readers keep it alive while they use it).
  std::shared_ptr<state_env> current() const;

  // The Raft index the state reflects (0: empty). Written by the appliers in their
  // transactions through set_applied.
  std::uint64_t applied() const { return applied_.load(); }
  base::status set_applied(txn& t, std::uint64_t index);
  // Called after the transaction that set_applied touched has committed.
  void note_applied(std::uint64_t index) { applied_ = index; }

  // A compact copy of the current state, fsynced, at `path` (a read transaction: apply goes on).
  base::result<storage::file_ref> copy_to(const std::string& path) const;
  // Replaces the state with the copy `ref` names (checked against its CRC first); the copy
  // itself is left untouched (it stays the stored snapshot).
  base::status install(const storage::file_ref& ref);
  // Replaces the state with an empty one.
  base::status reset();
  // Syncs and writes the clean marker (clean shutdown).
  base::status close_clean();
  // Unmaps the pages of the current environment from this process (MADV_DONTNEED): they stay
  // in the kernel's page cache and fault back in on the next read, but stop counting in the
  // process's resident set, which otherwise grows to the whole file after a bulk load.
  void release_mapped_pages() const;

  const std::string& dir() const { return dir_; }

 private:
  explicit state_db(std::string dir) : dir_(std::move(dir)) {}
  base::result<std::shared_ptr<state_env>> open_generation(std::uint64_t gen, bool create) const;
  base::status swap_in(std::uint64_t gen);
  base::status load_applied();

  std::string dir_;
  std::string boot_id_;
  mutable std::mutex mu_;
  std::shared_ptr<state_env> env_;  // guarded by mu_
  std::uint64_t generation_ = 0;    // guarded by mu_
  std::atomic<std::uint64_t> applied_{0};
};

}  // namespace sundial::state
