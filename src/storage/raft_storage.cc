#include "storage/raft_storage.h"

#include <fmt/format.h>
#include <lmdb.h>

#include <algorithm>

#include "raft/codec.h"
#include "storage/byte_order.h"
#include "storage/crc32c.h"
#include "storage/file_util.h"
#include "storage/wal.h"

namespace sundial::storage {

using base::errc;
using base::fail;
using raft::entry;
using raft::index_t;
using raft::term_t;

namespace {

base::failure lmdb_error(const std::string& path, const char* what, int rc) {
  return fail(errc::io_error, fmt::format("{}: {}: {}", path, what, mdb_strerror(rc)));
}

std::string key_of(index_t i) {
  std::string k;
  put_be64(k, i.value());
  return k;
}

index_t index_of(const MDB_val& k) {
  if (k.mv_size < 8) return index_t{};  // not an entry key
  return index_t{get_be64({static_cast<const char*>(k.mv_data), k.mv_size}, 0)};
}

// A stored record: CRC-32C (little-endian) followed by the bytes it covers.
std::string seal(std::string_view bytes) {
  std::string out;
  out.reserve(4 + bytes.size());
  put_u32(out, crc32c(bytes));
  out.append(bytes);
  return out;
}

std::optional<std::string_view> unseal(const MDB_val& v) {
  if (v.mv_size < 4) return std::nullopt;
  const std::string_view all(static_cast<const char*>(v.mv_data), v.mv_size);
  const std::string_view bytes = all.substr(4);
  if (crc32c(bytes) != get_u32(all, 0)) return std::nullopt;
  return bytes;
}

MDB_val val(std::string_view s) {
  return MDB_val{s.size(), const_cast<char*>(s.data())};
}

// A write-ahead record: one save()'s hard state (optional) and entries.
std::string encode_wal_record(const std::optional<raft::hard_state>& hs,
                              const std::vector<entry>& es) {
  std::string out(1, hs ? '\1' : '\0');
  if (hs) {
    const std::string h = raft::codec::encode(*hs);
    put_u32(out, static_cast<std::uint32_t>(h.size()));
    out += h;
  }
  for (const auto& e : es) {
    const std::string b = raft::codec::encode(e);
    put_u32(out, static_cast<std::uint32_t>(b.size()));
    out += b;
  }
  return out;
}

struct wal_record {
  std::optional<raft::hard_state> hs;
  std::vector<entry> es;
};

std::optional<wal_record> decode_wal_record(std::string_view in) {
  if (in.empty() || static_cast<unsigned char>(in[0]) > 1) return std::nullopt;
  wal_record r;
  const bool has_hs = in[0] == 1;
  in.remove_prefix(1);
  auto next = [&]() -> std::optional<std::string_view> {
    if (in.size() < 4) return std::nullopt;
    const std::size_t n = get_u32(in, 0);
    if (in.size() - 4 < n) return std::nullopt;
    std::string_view b = in.substr(4, n);
    in.remove_prefix(4 + n);
    return b;
  };
  if (has_hs) {
    auto b = next();
    if (!b) return std::nullopt;
    auto h = raft::codec::decode_hard_state(*b);
    if (!h) return std::nullopt;
    r.hs = *h;
  }
  while (!in.empty()) {
    auto b = next();
    if (!b) return std::nullopt;
    auto e = raft::codec::decode_entry(*b);
    if (!e) return std::nullopt;
    if (!r.es.empty() && e->index != r.es.back().index.next()) return std::nullopt;
    r.es.push_back(std::move(e).value());
  }
  return r;
}

// Compaction point: the log holds entries after `index`; `term` is entry `index`'s term.
struct compacted_point {
  index_t index;
  term_t term;
};

}  // namespace

// The decoded tail of the log, bounded in entries and in bytes (a few large entries, such as
// a restore of thousands of jobs, must not pin hundreds of MiB).
class entry_cache {
 public:
  bool empty() const { return entries_.empty(); }
  std::size_t size() const { return entries_.size(); }
  std::uint64_t bytes() const { return bytes_; }
  const entry& front() const { return entries_.front(); }
  const entry& back() const { return entries_.back(); }
  const entry& operator[](std::size_t i) const { return entries_[i]; }
  auto begin() const { return entries_.begin(); }
  auto end() const { return entries_.end(); }
  void push_back(entry e) {
    bytes_ += e.data.size();
    entries_.push_back(std::move(e));
  }
  void pop_front() {
    bytes_ -= entries_.front().data.size();
    entries_.pop_front();
  }
  void pop_back() {
    bytes_ -= entries_.back().data.size();
    entries_.pop_back();
  }
  void clear() {
    entries_.clear();
    bytes_ = 0;
  }

 private:
  std::deque<entry> entries_;
  std::uint64_t bytes_ = 0;
};

struct raft_storage::impl {
  std::string dir;
  std::string db_path;
  storage_options opt;
  MDB_env* env = nullptr;
  MDB_dbi entries_db = 0;
  MDB_dbi meta_db = 0;
  std::optional<snapshot_files> snaps;

  mutable std::mutex mutex;
  raft::hard_state hard;
  raft::snapshot_metadata snap_meta;  // the latest snapshot's metadata
  compacted_point compacted;
  // Terms of entries compacted.index+1 .. last, in order: term() and last_index() in memory.
  std::deque<term_t> terms;
  // The newest entries, decoded. Invariant: cache.back().index == last index when non-empty.
  entry_cache cache;
  mutable std::optional<raft::snapshot> snap_cache;
  bool is_new = true;

  std::optional<wal_file> wal;
  // What is durable in the write-ahead file but not yet in LMDB: the entries from dirty_from
  // on and, when hard_dirty, the hard state. Invariant: the cache holds every entry >=
  // dirty_from (it is the only copy outside the write-ahead file).
  std::optional<index_t> dirty_from;
  bool hard_dirty = false;
  std::size_t dirty_entries = 0;

  ~impl() {
    if (env) mdb_env_close(env);
  }

  index_t last() const { return compacted.index + terms.size(); }

  base::failure corrupt(const std::string& what) const {
    return fail(errc::corruption, fmt::format("{}: {}", db_path, what));
  }

  base::status put_meta(MDB_txn* txn, std::string_view key, std::string_view bytes) {
    const std::string sealed = seal(bytes);
    MDB_val k = val(key), v = val(sealed);
    if (int rc = mdb_put(txn, meta_db, &k, &v, 0); rc != 0) return lmdb_error(db_path, "write", rc);
    return {};
  }

  base::result<std::optional<std::string>> get_meta(MDB_txn* txn, std::string_view key) const {
    MDB_val k = val(key), v;
    const int rc = mdb_get(txn, meta_db, &k, &v);
    if (rc == MDB_NOTFOUND) return std::optional<std::string>{};
    if (rc != 0) return lmdb_error(db_path, "read", rc);
    auto bytes = unseal(v);
    if (!bytes) return corrupt(fmt::format("the {} record fails its checksum", key));
    return std::optional<std::string>(std::string(*bytes));
  }

  base::result<entry> decode_entry(const MDB_val& k, const MDB_val& v) const {
    const index_t i = index_of(k);
    auto bytes = unseal(v);
    if (!bytes) return corrupt(fmt::format("log entry {} fails its checksum", i.value()));
    auto e = raft::codec::decode_entry(*bytes);
    if (!e || e->index != i) return corrupt(fmt::format("log entry {} does not decode", i.value()));
    return e;
  }

  // Deletes entries with index >= from.
  base::status truncate_from(MDB_txn* txn, index_t from) {
    MDB_cursor* c = nullptr;
    if (int rc = mdb_cursor_open(txn, entries_db, &c); rc != 0)
      return lmdb_error(db_path, "cursor", rc);
    const std::string start = key_of(from);
    MDB_val k = val(start), v;
    int rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
    while (rc == 0) {
      if (int d = mdb_cursor_del(c, 0); d != 0) {
        mdb_cursor_close(c);
        return lmdb_error(db_path, "delete", d);
      }
      rc = mdb_cursor_get(c, &k, &v, MDB_GET_CURRENT);
      if (rc == MDB_NOTFOUND || rc == EINVAL) break;
      if (rc == 0) continue;
    }
    mdb_cursor_close(c);
    if (rc != 0 && rc != MDB_NOTFOUND && rc != EINVAL) return lmdb_error(db_path, "delete", rc);
    return {};
  }

  // Deletes entries with index <= upto.
  base::status drop_through(MDB_txn* txn, index_t upto) {
    MDB_cursor* c = nullptr;
    if (int rc = mdb_cursor_open(txn, entries_db, &c); rc != 0)
      return lmdb_error(db_path, "cursor", rc);
    MDB_val k, v;
    int rc = mdb_cursor_get(c, &k, &v, MDB_FIRST);
    while (rc == 0 && index_of(k) <= upto) {
      if (int d = mdb_cursor_del(c, 0); d != 0) {
        mdb_cursor_close(c);
        return lmdb_error(db_path, "delete", d);
      }
      rc = mdb_cursor_get(c, &k, &v, MDB_GET_CURRENT);
    }
    mdb_cursor_close(c);
    return {};
  }

  void mark_dirty(const std::optional<raft::hard_state>& hs, const std::vector<entry>& es) {
    if (hs) hard_dirty = true;
    if (!es.empty()) {
      const index_t first = es.front().index;
      if (!dirty_from || first < *dirty_from) dirty_from = first;
      dirty_entries = es.back().index - *dirty_from + 1;
    }
  }

  // Writes one save's durable parts in one synced LMDB transaction.
  base::status write_direct(const std::optional<raft::hard_state>& hs, const std::vector<entry>& es,
                            const std::optional<raft::snapshot>& snap) {
    MDB_txn* txn = nullptr;
    if (int rc = mdb_txn_begin(env, nullptr, 0, &txn); rc != 0)
      return lmdb_error(db_path, "begin", rc);
    auto abort_with = [&](base::status st) {
      mdb_txn_abort(txn);
      return st;
    };
    if (snap) {
      if (auto st = truncate_from(txn, index_t{0}); !st) return abort_with(st);
      if (auto st = put_meta(txn, "snapshot", raft::codec::encode(snap->metadata)); !st)
        return abort_with(st);
      const entry point{snap->metadata.term, snap->metadata.index, raft::entry_type::normal, {}};
      if (auto st = put_meta(txn, "compacted", raft::codec::encode(point)); !st)
        return abort_with(st);
    }
    if (!es.empty()) {
      if (auto st = truncate_from(txn, es.front().index); !st) return abort_with(st);
      if (auto st = put_entries(txn, es.begin(), es.end()); !st) return abort_with(st);
    }
    if (hs) {
      if (auto st = put_meta(txn, "hard_state", raft::codec::encode(*hs)); !st)
        return abort_with(st);
    }
    // One durable commit (LMDB fsyncs on commit unless sync is off).
    return commit(txn);
  }

  template <typename It>
  base::status put_entries(MDB_txn* txn, It begin, It end) {
    for (It e = begin; e != end; ++e) {
      const std::string key = key_of(e->index);
      const std::string sealed = seal(raft::codec::encode(*e));
      MDB_val k = val(key), v = val(sealed);
      if (int rc = mdb_put(txn, entries_db, &k, &v, 0); rc != 0)
        return lmdb_error(db_path, "write entry", rc);
    }
    return {};
  }

  // Moves what is pending in the write-ahead file into LMDB (one synced commit), then empties
  // the write-ahead file. Caller holds the mutex.
  base::status checkpoint() {
    if (!wal) return {};
    if (dirty_from || hard_dirty) {
      MDB_txn* txn = nullptr;
      if (int rc = mdb_txn_begin(env, nullptr, 0, &txn); rc != 0)
        return lmdb_error(db_path, "begin", rc);
      base::status st;
      if (dirty_from) {
        SUNDIAL_ASSERT(!cache.empty() && cache.front().index <= *dirty_from,
                       "pending entries must still be in the cache");
        st = truncate_from(txn, *dirty_from);
        if (st) {
          st =
              put_entries(txn, cache.begin() + static_cast<long>(*dirty_from - cache.front().index),
                          cache.end());
        }
      }
      if (st && hard_dirty) st = put_meta(txn, "hard_state", raft::codec::encode(hard));
      if (!st) {
        mdb_txn_abort(txn);
        return st;
      }
      if (auto c = commit(txn); !c) return c;
      dirty_from.reset();
      hard_dirty = false;
      dirty_entries = 0;
    }
    if (wal->used() > 0) return wal->reset();
    return {};
  }

  // The in-memory mirror of a durable save.
  void mirror(const std::optional<raft::hard_state>& hs, const std::vector<entry>& es,
              const std::optional<raft::snapshot>& snap) {
    if (snap) {
      snap_meta = snap->metadata;
      compacted = compacted_point{snap->metadata.index, snap->metadata.term};
      terms.clear();
      cache.clear();
      snap_cache = *snap;
    }
    if (!es.empty()) {
      const index_t first = es.front().index;
      terms.resize(first - compacted.index.next());
      while (!cache.empty() && cache.back().index >= first)
        cache.pop_back();
      if (!cache.empty() && cache.back().index.next() != first) cache.clear();
      for (const auto& e : es) {
        terms.push_back(e.term);
        cache.push_back(e);
      }
      while ((cache.size() > opt.cache_entries || cache.bytes() > opt.cache_bytes) &&
             cache.size() > 1 && (!dirty_from || cache.front().index < *dirty_from))
        cache.pop_front();
    }
    if (hs) hard = *hs;
    is_new = false;
  }

  // Applies the write-ahead file's records (read at open) to the loaded state, then
  // checkpoints them into LMDB.
  base::status replay(const std::vector<std::string>& records) {
    for (const auto& bytes : records) {
      auto r = decode_wal_record(bytes);
      if (!r) return fail(errc::corruption, wal->path() + ": a record does not decode");
      // Entries already compacted away in LMDB are older than the records that follow.
      std::vector<entry> es;
      for (auto& e : r->es)
        if (e.index > compacted.index) es.push_back(std::move(e));
      if (!es.empty() && es.front().index > last().next()) {
        return fail(errc::corruption,
                    fmt::format("{}: entries at {} do not follow the log ending at {}", wal->path(),
                                es.front().index.value(), last().value()));
      }
      mark_dirty(r->hs, es);
      mirror(r->hs, es, std::nullopt);
    }
    return checkpoint();
  }

  base::status commit(MDB_txn* txn) {
    if (int rc = mdb_txn_commit(txn); rc != 0) return lmdb_error(db_path, "commit", rc);
    return {};
  }
};

raft_storage::raft_storage(std::unique_ptr<impl> i)
    : impl_(std::move(i)), db_path_(impl_->db_path) {}
raft_storage::~raft_storage() = default;

base::result<std::unique_ptr<raft_storage>> raft_storage::open(const std::string& dir,
                                                               const storage_options& options) {
  auto im = std::make_unique<impl>();
  im->dir = dir;
  im->opt = options;
  const std::string raft_dir = dir + "/raft";
  im->db_path = raft_dir + "/data.mdb";
  if (auto st = make_dirs(raft_dir); !st) return st.err();
  auto snaps = snapshot_files::open(dir + "/snap", options.keep_snapshots);
  if (!snaps) return snaps.err();
  im->snaps = std::move(snaps).value();

  if (int rc = mdb_env_create(&im->env); rc != 0) return lmdb_error(im->db_path, "create", rc);
  mdb_env_set_mapsize(im->env, options.map_size);
  mdb_env_set_maxdbs(im->env, 4);
  const unsigned flags = MDB_NOTLS | (options.sync ? 0u : MDB_NOSYNC);
  if (int rc = mdb_env_open(im->env, raft_dir.c_str(), flags, 0644); rc != 0) {
    return lmdb_error(im->db_path, "open", rc);
  }
  MDB_txn* txn = nullptr;
  if (int rc = mdb_txn_begin(im->env, nullptr, 0, &txn); rc != 0)
    return lmdb_error(im->db_path, "begin", rc);
  if (int rc = mdb_dbi_open(txn, "entries", MDB_CREATE, &im->entries_db); rc != 0) {
    mdb_txn_abort(txn);
    return lmdb_error(im->db_path, "open entries", rc);
  }
  if (int rc = mdb_dbi_open(txn, "meta", MDB_CREATE, &im->meta_db); rc != 0) {
    mdb_txn_abort(txn);
    return lmdb_error(im->db_path, "open meta", rc);
  }
  if (auto st = im->commit(txn); !st) return st.err();

  // Load the small records, then the terms of the whole log and the cache of its tail.
  if (int rc = mdb_txn_begin(im->env, nullptr, MDB_RDONLY, &txn); rc != 0) {
    return lmdb_error(im->db_path, "begin", rc);
  }
  auto fail_txn = [&](base::error e) {
    mdb_txn_abort(txn);
    return e;
  };
  auto hs = im->get_meta(txn, "hard_state");
  if (!hs) return fail_txn(hs.err());
  auto sm = im->get_meta(txn, "snapshot");
  if (!sm) return fail_txn(sm.err());
  auto cp = im->get_meta(txn, "compacted");
  if (!cp) return fail_txn(cp.err());
  if (*hs) {
    auto d = raft::codec::decode_hard_state(**hs);
    if (!d) return fail_txn(im->corrupt("the hard_state record does not decode"));
    im->hard = *d;
    im->is_new = false;
  }
  if (*sm) {
    auto d = raft::codec::decode_snapshot_metadata(**sm);
    if (!d) return fail_txn(im->corrupt("the snapshot record does not decode"));
    im->snap_meta = *d;
    im->is_new = false;
  }
  if (*cp) {
    auto d = raft::codec::decode_entry(**cp);
    if (!d) return fail_txn(im->corrupt("the compacted record does not decode"));
    im->compacted = compacted_point{d->index, d->term};
  } else {
    im->compacted = compacted_point{im->snap_meta.index, im->snap_meta.term};
  }
  MDB_cursor* c = nullptr;
  if (int rc = mdb_cursor_open(txn, im->entries_db, &c); rc != 0) {
    return fail_txn(lmdb_error(im->db_path, "cursor", rc));
  }
  MDB_val k, v;
  int rc = mdb_cursor_get(c, &k, &v, MDB_FIRST);
  index_t expect = im->compacted.index.next();
  while (rc == 0) {
    // Only the tail is decoded (cache); the rest contributes its term via the same decode,
    // which also checks every checksum at start.
    auto e = im->decode_entry(k, v);
    if (!e) {
      mdb_cursor_close(c);
      return fail_txn(e.err());
    }
    if (e->index != expect) {
      mdb_cursor_close(c);
      return fail_txn(im->corrupt(fmt::format("log has a gap: entry {} follows {}",
                                              e->index.value(), expect.prev().value())));
    }
    im->terms.push_back(e->term);
    im->cache.push_back(std::move(e).value());
    while (im->cache.size() > 1 &&
           (im->cache.size() > im->opt.cache_entries || im->cache.bytes() > im->opt.cache_bytes))
      im->cache.pop_front();
    expect = expect.next();
    im->is_new = false;
    rc = mdb_cursor_get(c, &k, &v, MDB_NEXT);
  }
  mdb_cursor_close(c);
  mdb_txn_abort(txn);
  if (options.wal_bytes > 0) {
    std::vector<std::string> records;
    auto w = wal_file::open(raft_dir + "/wal", options.wal_bytes, options.sync, records);
    if (!w) return w.err();
    im->wal = std::move(w).value();
    if (auto st = im->replay(records); !st) return st.err();
  }
  if (im->hard.commit > im->last()) {
    return im->corrupt(fmt::format("hard state commit {} is past the last entry {}",
                                   im->hard.commit.value(), im->last().value()));
  }
  // The snapshot the metadata names must exist (the bootstrap one at index 1 may have none).
  if (im->snap_meta.index > index_t{1} ||
      (im->snap_meta.index == index_t{1} && !im->snaps->list().empty())) {
    auto newest = im->snaps->load_newest();
    if (!newest) return newest.err();
    bool found = false;
    for (const auto& path : im->snaps->list()) {
      if (path.find(fmt::format("{:016x}-{:016x}.snap", im->snap_meta.term.value(),
                                im->snap_meta.index.value())) != std::string::npos) {
        auto s = im->snaps->load(path);
        if (!s) return s.err();
        im->snap_cache = std::move(s).value();
        found = true;
      }
    }
    if (!found) {
      return fail(errc::corruption,
                  fmt::format("{}: snapshot at index {} is recorded but its file is missing",
                              im->snaps->dir(), im->snap_meta.index.value()));
    }
  }
  return std::unique_ptr<raft_storage>(new raft_storage(std::move(im)));
}

raft::hard_state raft_storage::initial_hard_state() const {
  std::lock_guard lock(impl_->mutex);
  return impl_->hard;
}

raft::conf_state raft_storage::initial_conf_state() const {
  std::lock_guard lock(impl_->mutex);
  return impl_->snap_meta.conf;
}

bool raft_storage::is_new() const {
  std::lock_guard lock(impl_->mutex);
  return impl_->is_new;
}

index_t raft_storage::first_index() const {
  std::lock_guard lock(impl_->mutex);
  return impl_->compacted.index.next();
}

index_t raft_storage::last_index() const {
  std::lock_guard lock(impl_->mutex);
  return impl_->last();
}

base::result<term_t> raft_storage::term(index_t i) const {
  std::lock_guard lock(impl_->mutex);
  const auto& im = *impl_;
  if (i < im.compacted.index)
    return fail(raft::err_compacted, fmt::format("index {} is compacted", i.value()));
  if (i == im.compacted.index) return im.compacted.term;
  if (i > im.last())
    return fail(raft::err_unavailable, fmt::format("index {} is past the log", i.value()));
  return im.terms[i - im.compacted.index.next()];
}

base::result<std::vector<entry>> raft_storage::entries(index_t lo, index_t hi,
                                                       std::uint64_t max_bytes) const {
  std::lock_guard lock(impl_->mutex);
  const auto& im = *impl_;
  if (lo <= im.compacted.index)
    return fail(raft::err_compacted, fmt::format("index {} is compacted", lo.value()));
  if (hi > im.last().next())
    return fail(raft::err_unavailable, fmt::format("index {} is past the log", hi.value()));
  std::vector<entry> out;
  std::uint64_t size = 0;
  auto add = [&](entry e) {
    size += raft::entry_size(e);
    if (!out.empty() && size > max_bytes) return false;
    out.push_back(std::move(e));
    return true;
  };
  // LMDB is current below the cache (entries pending in the write-ahead file are all cached).
  const index_t split = im.cache.empty() ? hi : std::min(hi, im.cache.front().index);
  if (lo < split) {
    MDB_txn* txn = nullptr;
    if (int rc = mdb_txn_begin(im.env, nullptr, MDB_RDONLY, &txn); rc != 0)
      return lmdb_error(im.db_path, "begin", rc);
    MDB_cursor* c = nullptr;
    mdb_cursor_open(txn, im.entries_db, &c);
    const std::string start = key_of(lo);
    MDB_val k = val(start), v;
    int rc = mdb_cursor_get(c, &k, &v, MDB_SET_KEY);
    base::status err;
    bool full = false;
    index_t expect = lo;
    while (rc == 0 && index_of(k) < split) {
      auto e = im.decode_entry(k, v);
      if (!e) {
        err = e.err();
        break;
      }
      if (e->index != expect) {
        err = im.corrupt(fmt::format("log entry {} is missing", expect.value()));
        break;
      }
      expect = expect.next();
      if (!add(std::move(e).value())) {
        full = true;
        break;
      }
      rc = mdb_cursor_get(c, &k, &v, MDB_NEXT);
    }
    mdb_cursor_close(c);
    mdb_txn_abort(txn);
    if (!err) return err.err();
    if (full) return out;
    if (expect != split) return im.corrupt(fmt::format("log entry {} is missing", expect.value()));
  }
  for (index_t i = std::max(lo, split); i < hi; i = i.next()) {
    if (!add(im.cache[i - im.cache.front().index])) break;
  }
  return out;
}

base::result<raft::snapshot> raft_storage::get_snapshot() const {
  std::lock_guard lock(impl_->mutex);
  const auto& im = *impl_;
  if (im.snap_cache && im.snap_cache->metadata == im.snap_meta) return *im.snap_cache;
  // The bootstrap snapshot has no data and no file.
  return raft::snapshot{raft::payload{}, im.snap_meta};
}

base::status raft_storage::bootstrap(const raft::conf_state& initial) {
  if (!is_new())
    return fail(errc::conflict,
                impl_->db_path + ": already holds Raft state; refusing to bootstrap");
  raft::snapshot boot;
  boot.metadata = raft::snapshot_metadata{initial, index_t{1}, term_t{1}};
  return save(raft::hard_state{term_t{1}, raft::no_node, index_t{1}}, {}, boot);
}

base::status raft_storage::bootstrap_with(const raft::conf_state& initial, std::string image) {
  if (!is_new())
    return fail(errc::conflict,
                impl_->db_path + ": already holds Raft state; refusing to bootstrap");
  raft::snapshot boot{raft::payload(std::move(image)),
                      raft::snapshot_metadata{initial, index_t{1}, term_t{1}}};
  // Index 1 is not written as a file by save(); write it here so that restarts find the image.
  if (!boot.data.empty()) {
    auto stored = impl_->snaps->save(boot);
    if (!stored) return stored.err();
    boot = std::move(stored).value();
  }
  return save(raft::hard_state{term_t{1}, raft::no_node, index_t{1}}, {}, boot);
}

base::status raft_storage::save(const std::optional<raft::hard_state>& hs,
                                const std::vector<entry>& es,
                                const std::optional<raft::snapshot>& snap) {
  if (!hs && es.empty() && !snap) return {};
  auto& im = *impl_;
  // A snapshot's data goes to its file first; the LMDB record that points to it commits after.
  std::optional<raft::snapshot> stored = snap;
  if (snap && snap->metadata.index > index_t{1}) {
    auto s = im.snaps->save(*snap);
    if (!s) return s.err();
    stored = std::move(s).value();
  }
  std::lock_guard lock(im.mutex);
  if (!es.empty()) {
    const index_t first = es.front().index;
    const index_t floor = snap ? snap->metadata.index : im.compacted.index;
    const index_t last = snap ? snap->metadata.index : im.last();
    if (first <= floor || first > last.next()) {
      return fail(errc::internal,
                  fmt::format("{}: entries at {} do not follow the log ending at {}", im.db_path,
                              first.value(), last.value()));
    }
  }
  if (im.wal && !snap) {
    const std::string record = encode_wal_record(hs, es);
    if (!im.wal->fits(record.size())) {
      if (auto st = im.checkpoint(); !st) return st;
    }
    if (im.wal->fits(record.size())) {
      if (auto st = im.wal->append(record); !st) return st;
      im.mark_dirty(hs, es);
      im.mirror(hs, es, std::nullopt);
      if (im.dirty_entries >= im.opt.checkpoint_entries) return im.checkpoint();
      return {};
    }
  }
  // Snapshots (rare) and records larger than the write-ahead file go straight to LMDB, after
  // what is pending there.
  if (auto st = im.checkpoint(); !st) return st;
  if (auto st = im.write_direct(hs, es, stored); !st) return st;
  im.mirror(hs, es, stored);
  return {};
}

base::status raft_storage::checkpoint() {
  std::lock_guard lock(impl_->mutex);
  return impl_->checkpoint();
}

base::status raft_storage::create_snapshot(index_t i, const raft::conf_state& cs,
                                           raft::payload data, std::uint64_t retain) {
  auto& im = *impl_;
  term_t t;
  {
    std::lock_guard lock(im.mutex);
    if (i <= im.snap_meta.index)
      return fail(errc::conflict, "snapshot index is not newer than the stored snapshot");
    if (i > im.last()) {
      return fail(errc::invalid_argument, fmt::format("snapshot index {} is past the last entry {}",
                                                      i.value(), im.last().value()));
    }
    t = i == im.compacted.index ? im.compacted.term : im.terms[i - im.compacted.index.next()];
  }
  auto stored = im.snaps->save(raft::snapshot{std::move(data), raft::snapshot_metadata{cs, i, t}});
  if (!stored) return stored.err();
  raft::snapshot snap = std::move(stored).value();
  std::lock_guard lock(im.mutex);
  // Compaction edits LMDB, so LMDB must hold everything first.
  if (auto st = im.checkpoint(); !st) return st;
  const index_t cut{i.value() > retain ? i.value() - retain : 0};
  compacted_point new_compacted = im.compacted;
  if (cut > im.compacted.index)
    new_compacted = compacted_point{cut, im.terms[cut - im.compacted.index.next()]};
  MDB_txn* txn = nullptr;
  if (int rc = mdb_txn_begin(im.env, nullptr, 0, &txn); rc != 0)
    return lmdb_error(im.db_path, "begin", rc);
  base::status st = im.put_meta(txn, "snapshot", raft::codec::encode(snap.metadata));
  if (st) {
    st = im.put_meta(txn, "compacted",
                     raft::codec::encode(entry{
                         new_compacted.term, new_compacted.index, raft::entry_type::normal, {}}));
  }
  if (st && new_compacted.index > im.compacted.index)
    st = im.drop_through(txn, new_compacted.index);
  if (!st) {
    mdb_txn_abort(txn);
    return st;
  }
  if (auto c = im.commit(txn); !c) return c;
  const std::size_t dropped = new_compacted.index - im.compacted.index;
  im.terms.erase(im.terms.begin(), im.terms.begin() + static_cast<long>(dropped));
  while (!im.cache.empty() && im.cache.front().index <= new_compacted.index)
    im.cache.pop_front();
  im.compacted = new_compacted;
  im.snap_meta = snap.metadata;
  im.snap_cache = std::move(snap);
  return {};
}

base::status raft_storage::verify() const {
  const auto& im = *impl_;
  std::lock_guard lock(im.mutex);
  MDB_txn* txn = nullptr;
  if (int rc = mdb_txn_begin(im.env, nullptr, MDB_RDONLY, &txn); rc != 0)
    return lmdb_error(im.db_path, "begin", rc);
  MDB_cursor* c = nullptr;
  mdb_cursor_open(txn, im.entries_db, &c);
  MDB_val k, v;
  base::status out;
  for (int rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0;
       rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
    if (auto e = im.decode_entry(k, v); !e) {
      out = e.err();
      break;
    }
  }
  mdb_cursor_close(c);
  mdb_txn_abort(txn);
  return out;
}

}  // namespace sundial::storage
