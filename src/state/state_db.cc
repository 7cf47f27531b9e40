#include "state/state_db.h"

#include <dirent.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "storage/byte_order.h"
#include "storage/file_util.h"

namespace sundial::state {

using base::errc;
using base::fail;

namespace {

constexpr std::size_t map_size = std::size_t{64} << 30;  // address space; the file grows as used

std::string generation_name(std::uint64_t gen) {
  return fmt::format("state-{:016x}.mdb", gen);
}

std::optional<std::uint64_t> parse_generation(const std::string& name) {
  if (name.size() != 6 + 16 + 4 || name.rfind("state-", 0) != 0 ||
      name.substr(name.size() - 4) != ".mdb")
    return std::nullopt;
  std::uint64_t gen = 0;
  for (char c : name.substr(6, 16)) {
    const int d = c >= '0' && c <= '9' ? c - '0' : (c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1);
    if (d < 0) return std::nullopt;
    gen = gen * 16 + static_cast<std::uint64_t>(d);
  }
  return gen;
}

std::string read_small_file(const std::string& path) {
  auto r = storage::read_file(path);
  if (!r) return {};
  std::string s = std::move(r).value();
  while (!s.empty() && (s.back() == '\n' || s.back() == ' '))
    s.pop_back();
  return s;
}

void remove_generation_files(const std::string& path) {
  ::unlink(path.c_str());
  ::unlink((path + "-lock").c_str());
}

}  // namespace

base::failure lmdb_error(const char* what, int rc) {
  return fail(errc::io_error, fmt::format("state store: {}: {}", what, mdb_strerror(rc)));
}

state_env::~state_env() {
  if (env) mdb_env_close(env);
  if (remove_on_close) remove_generation_files(path);
}

// ---- txn ----

base::result<txn> txn::read(const std::shared_ptr<state_env>& env) {
  txn t;
  t.env_ = env;
  if (int rc = mdb_txn_begin(env->env, nullptr, MDB_RDONLY, &t.txn_); rc != 0)
    return lmdb_error("begin a read", rc);
  return t;
}

base::result<txn> txn::write(const std::shared_ptr<state_env>& env) {
  txn t;
  t.env_ = env;
  if (int rc = mdb_txn_begin(env->env, nullptr, 0, &t.txn_); rc != 0)
    return lmdb_error("begin a write", rc);
  return t;
}

base::status txn::commit() {
  const int rc = mdb_txn_commit(txn_);
  txn_ = nullptr;
  if (rc != 0) return lmdb_error("commit", rc);
  return {};
}

base::result<std::optional<std::string_view>> txn::get(MDB_dbi dbi, std::string_view key) const {
  MDB_val k = mdb_val(key), v;
  const int rc = mdb_get(txn_, dbi, &k, &v);
  if (rc == MDB_NOTFOUND) return std::optional<std::string_view>{};
  if (rc != 0) return lmdb_error("read", rc);
  return std::optional<std::string_view>(mdb_view(v));
}

base::status txn::put(MDB_dbi dbi, std::string_view key, std::string_view value) {
  MDB_val k = mdb_val(key), v = mdb_val(value);
  if (int rc = mdb_put(txn_, dbi, &k, &v, 0); rc != 0) return lmdb_error("write", rc);
  return {};
}

base::status txn::erase(MDB_dbi dbi, std::string_view key) {
  MDB_val k = mdb_val(key);
  const int rc = mdb_del(txn_, dbi, &k, nullptr);
  if (rc != 0 && rc != MDB_NOTFOUND) return lmdb_error("delete", rc);
  return {};
}

base::result<std::unique_ptr<cursor>> cursor::open(const txn& t, MDB_dbi dbi) {
  auto c = std::make_unique<cursor>();
  if (int rc = mdb_cursor_open(t.get(), dbi, &c->c); rc != 0) return lmdb_error("cursor", rc);
  return c;
}

// ---- state_db ----

state_db::~state_db() = default;

base::result<std::shared_ptr<state_env>> state_db::open_generation(std::uint64_t gen,
                                                                   bool create) const {
  auto e = std::make_shared<state_env>();
  e->path = dir_ + "/" + generation_name(gen);
  if (!create && ::access(e->path.c_str(), F_OK) != 0)
    return fail(errc::not_found, e->path + " does not exist");
  if (int rc = mdb_env_create(&e->env); rc != 0) return lmdb_error("create", rc);
  mdb_env_set_mapsize(e->env, map_size);
  mdb_env_set_maxdbs(e->env, 16);
  mdb_env_set_maxreaders(e->env, 1024);
  // No readahead: lookups touch single pages, and readahead would pull whole neighbourhoods
  // of a large file into this process's resident set.
  if (int rc = mdb_env_open(e->env, e->path.c_str(),
                            MDB_NOSUBDIR | MDB_NOTLS | MDB_NOSYNC | MDB_NORDAHEAD, 0644);
      rc != 0) {
    return lmdb_error(("open " + e->path).c_str(), rc);
  }
  MDB_txn* t = nullptr;
  if (int rc = mdb_txn_begin(e->env, nullptr, 0, &t); rc != 0) return lmdb_error("begin", rc);
  for (auto [name, dbi] :
       {std::pair{"meta", &e->meta}, std::pair{"kv", &e->kv}, std::pair{"members", &e->members},
        std::pair{"jobs", &e->jobs}, std::pair{"next", &e->next}, std::pair{"execs", &e->execs},
        std::pair{"exec_ids", &e->exec_ids}, std::pair{"job_index", &e->job_index},
        std::pair{"fences", &e->fences}, std::pair{"launches", &e->launches},
        std::pair{"active", &e->active}}) {
    if (int rc = mdb_dbi_open(t, name, MDB_CREATE, dbi); rc != 0) {
      mdb_txn_abort(t);
      return lmdb_error("open a table", rc);
    }
  }
  if (int rc = mdb_txn_commit(t); rc != 0) return lmdb_error("commit", rc);
  return e;
}

base::result<std::unique_ptr<state_db>> state_db::open(const std::string& dir) {
  if (auto st = storage::make_dirs(dir); !st) return st.err();
  std::unique_ptr<state_db> db(new state_db(dir));
  db->boot_id_ = read_small_file("/proc/sys/kernel/random/boot_id");
  // The newest complete generation wins; older ones and unfinished copies are leftovers of an
  // interrupted install. The pre-generation layout (data.mdb, rebuilt at every start) goes too.
  std::vector<std::uint64_t> gens;
  if (DIR* d = ::opendir(dir.c_str())) {
    while (dirent* ent = ::readdir(d)) {
      const std::string name = ent->d_name;
      if (auto g = parse_generation(name)) {
        gens.push_back(*g);
      } else if (name.size() > 4 && name.substr(name.size() - 4) == ".tmp") {
        ::unlink((dir + "/" + name).c_str());
      }
    }
    ::closedir(d);
  }
  ::unlink((dir + "/data.mdb").c_str());
  ::unlink((dir + "/lock.mdb").c_str());
  std::sort(gens.begin(), gens.end());
  for (std::size_t i = 0; i + 1 < gens.size(); ++i)
    remove_generation_files(dir + "/" + generation_name(gens[i]));

  std::uint64_t gen = gens.empty() ? 1 : gens.back();
  std::shared_ptr<state_env> env;
  if (!gens.empty()) {
    auto e = db->open_generation(gen, false);
    if (e) {
      MDB_envinfo info{};
      mdb_env_info((*e)->env, &info);
      const std::string clean = read_small_file(dir + "/clean");
      const bool same_boot =
          !db->boot_id_.empty() && read_small_file(dir + "/boot") == db->boot_id_;
      const bool synced_clean =
          clean == fmt::format("{} {}", gen, static_cast<std::uint64_t>(info.me_last_txnid));
      if (same_boot || synced_clean) {
        env = std::move(e).value();
      } else {
        spdlog::warn(
            "state: {} was not synced before the machine restarted; rebuilding it from "
            "the Raft snapshot and log",
            (*e)->path);
        (*e)->remove_on_close = true;
      }
    } else {
      spdlog::warn("state: cannot open {} ({}); rebuilding it from the Raft snapshot and log",
                   generation_name(gen), e.err().message);
      remove_generation_files(dir + "/" + generation_name(gen));
    }
    if (!env) ++gen;
  }
  if (!env) {
    auto e = db->open_generation(gen, true);
    if (!e) return e.err();
    env = std::move(e).value();
  }
  // From here on the file may change without syncs: the marker no longer describes it, and
  // the boot id (durable before the first write) says whose page cache holds the writes.
  if (::access((dir + "/clean").c_str(), F_OK) == 0) {
    if (auto st = storage::remove_file(dir + "/clean"); !st) return st.err();
  }
  if (auto st = storage::write_file_synced(dir + "/boot", db->boot_id_ + "\n"); !st)
    return st.err();
  if (auto st = storage::fsync_dir(dir); !st) return st.err();
  db->env_ = std::move(env);
  db->generation_ = gen;
  if (auto st = db->load_applied(); !st) return st.err();
  return db;
}

std::shared_ptr<state_env> state_db::current() const {
  std::lock_guard lock(mu_);
  return env_;
}

base::status state_db::load_applied() {
  auto t = txn::read(current());
  if (!t) return t.err();
  auto v = t->get(t->env().meta, "applied");
  if (!v) return v.err();
  applied_ = *v && (*v)->size() == 8 ? storage::get_u64(**v, 0) : 0;
  return {};
}

base::status state_db::set_applied(txn& t, std::uint64_t index) {
  std::string v;
  storage::put_u64(v, index);
  return t.put(t.env().meta, "applied", v);
}

base::result<storage::file_ref> state_db::copy_to(const std::string& path) const {
  auto env = current();
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return storage::os_error("create", path);
  // Compacting leaves free pages out, so the copy is as small as the live data.
  int rc = mdb_env_copyfd2(env->env, fd, MDB_CP_COMPACT);
  if (rc == 0 && ::fsync(fd) != 0) rc = errno;
  ::close(fd);
  if (rc != 0) {
    ::unlink(path.c_str());
    return lmdb_error(("copy to " + path).c_str(), rc);
  }
  return storage::describe_file(path);
}

base::status state_db::swap_in(std::uint64_t gen) {
  auto e = open_generation(gen, false);
  if (!e) return e.err();
  {
    std::lock_guard lock(mu_);
    env_->remove_on_close = true;
    env_ = std::move(e).value();
    generation_ = gen;
  }
  return load_applied();
}

base::status state_db::install(const storage::file_ref& ref) {
  if (auto st = storage::verify_file(ref); !st) return st;
  std::uint64_t gen;
  {
    std::lock_guard lock(mu_);
    gen = generation_ + 1;
  }
  const std::string path = dir_ + "/" + generation_name(gen);
  // A copy, not the file itself: LMDB writes into its file, and the snapshot must stay as it
  // was received (it is what this server sends on and restarts from).
  if (auto st = storage::copy_file_synced(ref.path, path + ".tmp"); !st) return st;
  if (auto st = storage::rename_file(path + ".tmp", path); !st) return st;
  if (auto st = storage::fsync_dir(dir_); !st) return st;
  return swap_in(gen);
}

base::status state_db::reset() {
  std::uint64_t gen;
  {
    std::lock_guard lock(mu_);
    gen = generation_ + 1;
  }
  auto e = open_generation(gen, true);
  if (!e) return e.err();
  e->reset();
  return swap_in(gen);
}

base::status state_db::close_clean() {
  auto env = current();
  if (int rc = mdb_env_sync(env->env, 1); rc != 0) return lmdb_error("sync", rc);
  MDB_envinfo info{};
  mdb_env_info(env->env, &info);
  std::uint64_t gen;
  {
    std::lock_guard lock(mu_);
    gen = generation_;
  }
  if (auto st = storage::write_file_synced(
          dir_ + "/clean",
          fmt::format("{} {}\n", gen, static_cast<std::uint64_t>(info.me_last_txnid)));
      !st)
    return st;
  return storage::fsync_dir(dir_);
}

void state_db::release_mapped_pages() const {
  auto env = current();
  // LMDB reports its map's address only for fixed maps: find it by the file's path.
  char resolved[PATH_MAX];
  if (::realpath(env->path.c_str(), resolved) == nullptr) return;
  std::FILE* maps = std::fopen("/proc/self/maps", "r");
  if (maps == nullptr) return;
  char line[PATH_MAX + 256];
  while (std::fgets(line, sizeof line, maps) != nullptr) {
    std::string_view l(line);
    while (!l.empty() && l.back() == '\n')
      l.remove_suffix(1);
    const auto slash = l.find('/');
    if (slash == std::string_view::npos || l.substr(slash) != resolved) continue;
    unsigned long start = 0, end = 0;
    if (std::sscanf(line, "%lx-%lx", &start, &end) != 2 || end <= start) continue;
    ::madvise(reinterpret_cast<void*>(start), end - start, MADV_DONTNEED);
  }
  std::fclose(maps);
}

}  // namespace sundial::state
