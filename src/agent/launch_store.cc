#include "agent/launch_store.h"

#include <fmt/format.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstring>

namespace sundial::agent {

namespace {

// The epoch's key sorts before every execution id (ids are hex digits).
constexpr std::string_view epoch_key = "\x01epoch";

base::failure lmdb_failure(const char* what, int rc) {
  return base::fail(base::errc::io_error,
                    fmt::format("agent store: {}: {}", what, mdb_strerror(rc)));
}

MDB_val val(std::string_view s) {
  return MDB_val{s.size(), const_cast<char*>(s.data())};
}

}  // namespace

base::result<std::unique_ptr<launch_store>> launch_store::open(const std::string& dir) {
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST)
    return base::fail(base::errc::io_error,
                      fmt::format("cannot create {}: {}", dir, std::strerror(errno)));
  std::unique_ptr<launch_store> s(new launch_store());
  if (int rc = mdb_env_create(&s->env_); rc != 0) return lmdb_failure("create", rc);
  // A sparse file of the map's size (WRITEMAP): 4 GiB holds millions of armed runs.
  mdb_env_set_mapsize(s->env_, std::size_t{1} << 32);
  const std::string path = dir + "/launches.mdb";
  // WRITEMAP: a commit writes the mapped pages in place instead of a write(2) per page; with
  // NOSYNC the page cache holds them, which a process crash does not lose (the same bargain
  // as before, at a fraction of the cost: the store is written three times per run).
  if (int rc =
          mdb_env_open(s->env_, path.c_str(),
                       MDB_NOSUBDIR | MDB_NOSYNC | MDB_WRITEMAP | MDB_MAPASYNC | MDB_NOTLS, 0600);
      rc != 0)
    return lmdb_failure(("open " + path).c_str(), rc);
  MDB_txn* t = nullptr;
  if (int rc = mdb_txn_begin(s->env_, nullptr, 0, &t); rc != 0) return lmdb_failure("begin", rc);
  if (int rc = mdb_dbi_open(t, nullptr, 0, &s->dbi_); rc != 0) {
    mdb_txn_abort(t);
    return lmdb_failure("open the table", rc);
  }
  MDB_val k = val(epoch_key), v;
  if (mdb_get(t, s->dbi_, &k, &v) == 0 && v.mv_size == sizeof(std::uint64_t))
    std::memcpy(&s->highest_epoch_, v.mv_data, sizeof(std::uint64_t));
  if (int rc = mdb_txn_commit(t); rc != 0) return lmdb_failure("commit", rc);
  return s;
}

launch_store::~launch_store() {
  if (env_) {
    mdb_env_sync(env_, 1);  // a clean stop leaves the file synced
    mdb_env_close(env_);
  }
}

base::result<std::vector<pb::AgentLaunch>> launch_store::load() const {
  std::vector<pb::AgentLaunch> out;
  MDB_txn* t = nullptr;
  if (int rc = mdb_txn_begin(env_, nullptr, MDB_RDONLY, &t); rc != 0)
    return lmdb_failure("begin", rc);
  MDB_cursor* c = nullptr;
  if (int rc = mdb_cursor_open(t, dbi_, &c); rc != 0) {
    mdb_txn_abort(t);
    return lmdb_failure("cursor", rc);
  }
  MDB_val k, v;
  for (int rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0;
       rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
    if (std::string_view(static_cast<const char*>(k.mv_data), k.mv_size) == epoch_key) continue;
    pb::AgentLaunch l;
    if (!l.ParseFromArray(v.mv_data, static_cast<int>(v.mv_size))) {
      mdb_cursor_close(c);
      mdb_txn_abort(t);
      return base::fail(base::errc::corruption, "agent store: a launch record does not decode");
    }
    out.push_back(std::move(l));
  }
  mdb_cursor_close(c);
  mdb_txn_abort(t);
  return out;
}

base::status launch_store::write(const std::vector<pb::AgentLaunch>& put,
                                 const std::vector<std::string>& erase, std::uint64_t epoch) {
  MDB_txn* t = nullptr;
  if (int rc = mdb_txn_begin(env_, nullptr, 0, &t); rc != 0) return lmdb_failure("begin", rc);
  auto abort_with = [&](const char* what, int rc) {
    mdb_txn_abort(t);
    return lmdb_failure(what, rc);
  };
  std::string buf;
  for (const auto& l : put) {
    buf.clear();
    l.SerializeToString(&buf);
    MDB_val k = val(l.run().execution_id()), v = val(buf);
    if (int rc = mdb_put(t, dbi_, &k, &v, 0); rc != 0) return abort_with("write", rc);
  }
  for (const auto& id : erase) {
    MDB_val k = val(id);
    if (int rc = mdb_del(t, dbi_, &k, nullptr); rc != 0 && rc != MDB_NOTFOUND)
      return abort_with("delete", rc);
  }
  if (epoch > highest_epoch_) {
    MDB_val k = val(epoch_key), v{sizeof epoch, &epoch};
    if (int rc = mdb_put(t, dbi_, &k, &v, 0); rc != 0) return abort_with("write", rc);
  }
  if (int rc = mdb_txn_commit(t); rc != 0) return lmdb_failure("commit", rc);
  if (epoch > highest_epoch_) highest_epoch_ = epoch;
  return {};
}

}  // namespace sundial::agent
