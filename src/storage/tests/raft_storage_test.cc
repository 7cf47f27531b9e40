#include "storage/raft_storage.h"

#include <gtest/gtest.h>
#include <lmdb.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>

#include "raft/raw_node.h"
#include "temp_dir.h"

namespace sundial::storage {
namespace {

using raft::entry;
using raft::index_t;
using raft::node_id;
using raft::term_t;

entry e(std::uint64_t term, std::uint64_t index, std::string data = "") {
  return entry{term_t{term}, index_t{index}, raft::entry_type::normal,
               raft::payload(std::move(data))};
}

std::vector<entry> range(std::uint64_t term, std::uint64_t from, std::uint64_t to) {
  std::vector<entry> out;
  for (std::uint64_t i = from; i <= to; ++i)
    out.push_back(e(term, i, "v" + std::to_string(i)));
  return out;
}

const raft::conf_state three{{node_id{1}, node_id{2}, node_id{3}}, {}};

TEST(raft_storage, bootstrap_and_reopen) {
  testing::temp_dir dir;
  {
    auto s = raft_storage::open(dir.path()).value();
    EXPECT_TRUE(s->is_new());
    ASSERT_TRUE(s->bootstrap(three).ok());
    EXPECT_FALSE(s->bootstrap(three).ok()) << "bootstrapping twice is refused";
  }
  auto s = raft_storage::open(dir.path()).value();
  EXPECT_FALSE(s->is_new());
  EXPECT_EQ(s->initial_conf_state(), three);
  EXPECT_EQ(s->first_index(), index_t{2});
  EXPECT_EQ(s->last_index(), index_t{1});
  EXPECT_EQ(s->term(index_t{1}).value(), term_t{1});
  EXPECT_EQ(s->initial_hard_state().commit, index_t{1});
}

TEST(raft_storage, entries_and_hard_state_survive_reopen) {
  testing::temp_dir dir;
  {
    auto s = raft_storage::open(dir.path()).value();
    ASSERT_TRUE(s->bootstrap(three).ok());
    ASSERT_TRUE(
        s->save(raft::hard_state{term_t{2}, node_id{1}, index_t{5}}, range(2, 2, 10), std::nullopt)
            .ok());
  }
  auto s = raft_storage::open(dir.path(), storage_options{.cache_entries = 2}).value();
  EXPECT_EQ(s->last_index(), index_t{10});
  EXPECT_EQ(s->initial_hard_state(), (raft::hard_state{term_t{2}, node_id{1}, index_t{5}}));
  auto es = s->entries(index_t{2}, index_t{11}, ~0ull);
  ASSERT_TRUE(es.ok());
  ASSERT_EQ(es->size(), 9u);
  EXPECT_EQ((*es)[0].data.view(), "v2");
  EXPECT_EQ((*es)[8].data.view(), "v10");
  // Size-bounded reads return at least one entry.
  EXPECT_EQ(s->entries(index_t{2}, index_t{11}, 1).value().size(), 1u);
  EXPECT_EQ(s->entries(index_t{1}, index_t{3}, ~0ull).err().code, raft::err_compacted);
  EXPECT_EQ(s->entries(index_t{2}, index_t{30}, ~0ull).err().code, raft::err_unavailable);
}

TEST(raft_storage, conflicting_suffix_is_replaced) {
  testing::temp_dir dir;
  auto s = raft_storage::open(dir.path()).value();
  ASSERT_TRUE(s->bootstrap(three).ok());
  ASSERT_TRUE(s->save(std::nullopt, range(2, 2, 10), std::nullopt).ok());
  ASSERT_TRUE(s->save(std::nullopt, range(3, 6, 7), std::nullopt).ok());
  EXPECT_EQ(s->last_index(), index_t{7});
  EXPECT_EQ(s->term(index_t{6}).value(), term_t{3});
  EXPECT_EQ(s->term(index_t{5}).value(), term_t{2});
  s.reset();
  s = raft_storage::open(dir.path()).value();
  EXPECT_EQ(s->last_index(), index_t{7});
  EXPECT_EQ(s->entries(index_t{6}, index_t{8}, ~0ull).value()[0].term, term_t{3});
  // A gap is refused.
  EXPECT_FALSE(s->save(std::nullopt, range(3, 20, 21), std::nullopt).ok());
  EXPECT_EQ(s->last_index(), index_t{7});
}

TEST(raft_storage, snapshot_compacts_and_survives_reopen) {
  testing::temp_dir dir;
  {
    auto s = raft_storage::open(dir.path()).value();
    ASSERT_TRUE(s->bootstrap(three).ok());
    ASSERT_TRUE(
        s->save(raft::hard_state{term_t{2}, node_id{1}, index_t{20}}, range(2, 2, 20), std::nullopt)
            .ok());
    ASSERT_TRUE(s->create_snapshot(index_t{15}, three, raft::payload("image@15"), 5).ok());
    EXPECT_EQ(s->first_index(), index_t{11});
    EXPECT_EQ(s->term(index_t{10}).value(), term_t{2});
  }
  auto s = raft_storage::open(dir.path()).value();
  EXPECT_EQ(s->first_index(), index_t{11});
  EXPECT_EQ(s->last_index(), index_t{20});
  auto snap = s->get_snapshot();
  ASSERT_TRUE(snap.ok());
  EXPECT_EQ(snap->metadata.index, index_t{15});
  EXPECT_EQ(snap->data.view(), "image@15");
  EXPECT_TRUE(s->verify().ok());
}

TEST(raft_storage, installing_a_leader_snapshot_replaces_the_log) {
  testing::temp_dir dir;
  auto s = raft_storage::open(dir.path()).value();
  ASSERT_TRUE(s->bootstrap(three).ok());
  ASSERT_TRUE(s->save(std::nullopt, range(2, 2, 5), std::nullopt).ok());
  raft::snapshot snap{raft::payload("leader-image"),
                      raft::snapshot_metadata{three, index_t{100}, term_t{7}}};
  ASSERT_TRUE(
      s->save(raft::hard_state{term_t{7}, raft::no_node, index_t{100}}, range(7, 101, 102), snap)
          .ok());
  s.reset();
  s = raft_storage::open(dir.path()).value();
  EXPECT_EQ(s->first_index(), index_t{101});
  EXPECT_EQ(s->last_index(), index_t{102});
  EXPECT_EQ(s->get_snapshot().value().data.view(), "leader-image");
}

TEST(raft_storage, corrupt_log_entry_is_reported_at_open) {
  testing::temp_dir dir;
  {
    auto s = raft_storage::open(dir.path()).value();
    ASSERT_TRUE(s->bootstrap(three).ok());
    ASSERT_TRUE(s->save(std::nullopt, range(2, 2, 9), std::nullopt).ok());
  }
  {
    // Overwrite entry 5's record with bytes that fail its checksum, through LMDB itself.
    MDB_env* env = nullptr;
    ASSERT_EQ(mdb_env_create(&env), 0);
    mdb_env_set_maxdbs(env, 4);
    ASSERT_EQ(mdb_env_open(env, (dir.path() + "/raft").c_str(), 0, 0644), 0);
    MDB_txn* txn = nullptr;
    ASSERT_EQ(mdb_txn_begin(env, nullptr, 0, &txn), 0);
    MDB_dbi dbi;
    ASSERT_EQ(mdb_dbi_open(txn, "entries", 0, &dbi), 0);
    char key[8] = {0, 0, 0, 0, 0, 0, 0, 5};
    char bad[] = "\x01\x02\x03\x04garbage";
    MDB_val k{8, key}, v{sizeof bad, bad};
    ASSERT_EQ(mdb_put(txn, dbi, &k, &v, 0), 0);
    ASSERT_EQ(mdb_txn_commit(txn), 0);
    mdb_env_close(env);
  }
  auto s = raft_storage::open(dir.path());
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.err().code, base::errc::corruption);
  EXPECT_NE(s.err().message.find("data.mdb"), std::string::npos) << s.err().message;
  EXPECT_NE(s.err().message.find("log entry 5"), std::string::npos) << s.err().message;
}

TEST(raft_storage, missing_or_corrupt_snapshot_file_is_reported) {
  testing::temp_dir dir;
  {
    auto s = raft_storage::open(dir.path()).value();
    ASSERT_TRUE(s->bootstrap(three).ok());
    ASSERT_TRUE(s->save(std::nullopt, range(2, 2, 9), std::nullopt).ok());
    ASSERT_TRUE(s->create_snapshot(index_t{8}, three, raft::payload("img")).ok());
  }
  const auto snap_file = snapshot_files::open(dir.path() + "/snap").value().list().back();
  {
    std::fstream f(snap_file, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(12);
    f.put('\x7f');
  }
  auto s = raft_storage::open(dir.path());
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.err().message.find(snap_file), std::string::npos) << s.err().message;
  std::filesystem::remove(snap_file);
  s = raft_storage::open(dir.path());
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.err().message.find("missing"), std::string::npos) << s.err().message;
}

// A writer killed with SIGKILL at an arbitrary moment: the storage reopens with every save
// the writer saw complete, and nothing half-written.
TEST(raft_storage, kill_9_at_any_instant_loses_no_completed_save) {
  for (int round = 0; round < 5; ++round) {
    testing::temp_dir dir;
    int fds[2];
    ASSERT_EQ(::pipe(fds), 0);
    const pid_t child = ::fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
      ::close(fds[0]);
      auto s = raft_storage::open(dir.path());
      if (!s.ok() || !(*s)->bootstrap(three).ok()) ::_exit(3);
      for (std::uint64_t i = 2;; ++i) {
        std::vector<entry> batch{e(2, i, std::string(100 + i % 400, 'p'))};
        if (!(*s)->save(raft::hard_state{term_t{2}, node_id{1}, index_t{i}}, batch, std::nullopt)
                 .ok())
          ::_exit(4);
        if (::write(fds[1], &i, sizeof i) != sizeof i) ::_exit(5);
      }
    }
    ::close(fds[1]);
    std::uint64_t acked = 0, got = 0;
    const std::uint64_t wanted = 20 + static_cast<std::uint64_t>(round) * 37;
    while (acked < wanted && ::read(fds[0], &got, sizeof got) == sizeof got)
      acked = got;
    ::kill(child, SIGKILL);
    int status = 0;
    ::waitpid(child, &status, 0);
    ::close(fds[0]);
    ASSERT_TRUE(WIFSIGNALED(status))
        << "the writer stopped by itself (exit " << WEXITSTATUS(status) << ")";
    auto s = raft_storage::open(dir.path());
    ASSERT_TRUE(s.ok()) << s.err().message;
    EXPECT_GE((*s)->last_index(), index_t{acked});
    EXPECT_GE((*s)->initial_hard_state().commit, index_t{acked});
    EXPECT_TRUE((*s)->verify().ok());
  }
}

// The core running on durable storage: a restart from the data directory alone keeps every
// committed entry.
TEST(raft_storage, single_node_restarts_from_its_data_dir) {
  testing::temp_dir dir;
  const raft::conf_state one{{node_id{1}}, {}};
  raft::index_t committed;
  {
    auto s = raft_storage::open(dir.path()).value();
    ASSERT_TRUE(s->bootstrap(one).ok());
    raft::config c;
    c.id = node_id{1};
    c.applied = index_t{1};
    auto n = raft::raw_node::create(c, *s).value();
    ASSERT_TRUE(n.campaign().ok());
    for (int i = 0; i < 10; ++i)
      ASSERT_TRUE(n.propose("cmd" + std::to_string(i)).ok());
    while (n.has_ready()) {
      auto rd = n.get_ready();
      ASSERT_TRUE(s->save(rd.hard, rd.entries, rd.snap).ok());
      n.advance(rd);
    }
    committed = n.core().log().committed();
    EXPECT_EQ(committed, index_t{12});  // no-op + 10 commands after the bootstrap entry
  }
  auto s = raft_storage::open(dir.path()).value();
  raft::config c;
  c.id = node_id{1};
  c.applied = index_t{1};
  auto n = raft::raw_node::create(c, *s).value();
  EXPECT_EQ(n.core().log().committed(), committed);
  auto rd = n.get_ready();
  ASSERT_EQ(rd.committed_entries.size(), 11u);
  EXPECT_EQ(rd.committed_entries.back().data.view(), "cmd9");
}

}  // namespace
}  // namespace sundial::storage
