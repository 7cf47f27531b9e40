#include "state/kv_state.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "storage/file_util.h"
#include "storage/snapshot_ref.h"
#include "storage/tests/temp_dir.h"

namespace sundial::state {
namespace {

// A state_db in a temporary directory (removed at the end), reopenable like a restart.
class temp_db {
 public:
  temp_db() { reopen(); }
  void reopen() {
    db_.reset();
    db_ = state_db::open(dir_.path()).value();
  }
  state_db& operator*() { return *db_; }
  state_db* operator->() { return db_.get(); }
  const std::string& dir() const { return dir_.path(); }

 private:
  storage::testing::temp_dir dir_;  // declared first: removed after the database closes
  std::unique_ptr<state_db> db_;
};

raft::conf_change add_member(const member_info& m) {
  return raft::conf_change{raft::conf_change_type::add_voter, raft::node_id{m.id},
                           encode_member(m)};
}

raft::index_t at(std::uint64_t i) {
  return raft::index_t{i};
}

TEST(kv_state, put_get_delete_with_indexes) {
  temp_db db;
  kv_state s(*db);
  EXPECT_EQ(s.apply(at(5), encode_put("a", "1", std::nullopt).value()), "ok 5");
  EXPECT_EQ(s.apply(at(6), encode_put("a", "2", std::nullopt).value()), "ok 6");
  auto e = s.get("a");
  ASSERT_TRUE(e);
  EXPECT_EQ(e->value, "2");
  EXPECT_EQ(e->create_index, 5u);
  EXPECT_EQ(e->modify_index, 6u);
  EXPECT_EQ(s.apply(at(7), encode_delete("a", std::nullopt).value()), "ok 7");
  EXPECT_FALSE(s.get("a"));
  EXPECT_EQ(s.apply(at(8), encode_delete("a", std::nullopt).value()), "missing");
}

TEST(kv_state, compare_and_set_by_modify_index) {
  temp_db db;
  kv_state s(*db);
  EXPECT_EQ(s.apply(at(3), encode_put("k", "x", 0).value()), "ok 3") << "cas 0: only if absent";
  EXPECT_EQ(s.apply(at(4), encode_put("k", "y", 0).value()), "conflict 3");
  EXPECT_EQ(s.apply(at(5), encode_put("k", "y", 3).value()), "ok 5");
  EXPECT_EQ(s.apply(at(6), encode_delete("k", 3).value()), "conflict 5");
  EXPECT_EQ(s.get("k")->value, "y");
  const auto o = parse_outcome("conflict 5");
  EXPECT_EQ(o.status, apply_outcome::kind::conflict);
  EXPECT_EQ(o.index, 5u);
}

TEST(kv_state, limits_and_bad_commands_change_nothing) {
  EXPECT_EQ(encode_put("", "v", std::nullopt).err().code, base::errc::invalid_argument);
  EXPECT_EQ(encode_put(std::string(513, 'k'), "v", std::nullopt).err().code, base::errc::too_large);
  EXPECT_EQ(encode_put("k", std::string(64 * 1024 + 1, 'v'), std::nullopt).err().code,
            base::errc::too_large);
  EXPECT_TRUE(encode_put(std::string(512, 'k'), std::string(64 * 1024, 'v'), std::nullopt).ok());
  temp_db db;
  kv_state s(*db);
  EXPECT_EQ(s.apply(at(1), std::string("\x63garbage")), "error unknown command type 99");
  EXPECT_EQ(s.apply(at(2), std::string("\x01\xff\xff")), "error undecodable kv put");
  EXPECT_EQ(s.size(), 0u);
}

TEST(kv_state, snapshot_restores_everything) {
  temp_db da, db;
  kv_state a(*da);
  (void)a.apply(at(2), encode_put("x", std::string("bin\0ary", 7), std::nullopt).value());
  a.apply_membership(at(3), add_member({7, "node-a", "127.0.0.1:6868", "127.0.0.1:8080"}));
  const std::string long_key(512, 'k');
  EXPECT_EQ(a.apply(at(4), encode_put(long_key, "long", std::nullopt).value()), "ok 4")
      << "keys longer than LMDB's limit are stored under a hashed key";
  kv_state b(*db);
  ASSERT_TRUE(b.restore(a.snapshot()).ok());
  EXPECT_EQ(b.get("x")->value, std::string("bin\0ary", 7));
  EXPECT_EQ(b.get(long_key)->value, "long");
  EXPECT_FALSE(b.get(std::string(511, 'k')));
  EXPECT_EQ(b.member(7)->name, "node-a");
  EXPECT_EQ(b.durable_applied_index(), 4u);
  EXPECT_FALSE(b.restore("\xff\xff\xff").ok());
  EXPECT_EQ(b.get("x")->modify_index, 2u) << "a failed restore changes nothing";
}

TEST(kv_state, a_damaged_snapshot_file_is_refused_and_changes_nothing) {
  temp_db da, db;
  kv_state a(*da);
  (void)a.apply(at(2), encode_put("x", "1", std::nullopt).value());
  const std::string image = a.snapshot();
  auto ref = storage::decode_file_ref(image).value();
  kv_state b(*db);
  (void)b.apply(at(9), encode_put("y", "2", std::nullopt).value());
  auto bytes = storage::read_file(ref.path).value();
  bytes[bytes.size() / 2] ^= 0x5a;
  ASSERT_TRUE(storage::write_file_synced(ref.path, bytes).ok());
  auto st = b.restore(image);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.err().code, base::errc::corruption);
  EXPECT_EQ(b.get("y")->value, "2");
  EXPECT_FALSE(b.get("x"));
}

TEST(kv_state, state_and_applied_index_survive_a_restart) {
  temp_db db;
  {
    kv_state s(*db);
    (void)s.apply(at(5), encode_put("a", "1", std::nullopt).value());
    s.apply_membership(at(6), add_member({9, "n9", "127.0.0.1:1", "127.0.0.1:2"}));
    (void)s.apply(at(7), encode_put("b", "2", std::nullopt).value());
  }
  db.reopen();  // same boot: a crash (no clean marker) keeps what LMDB committed
  kv_state s(*db);
  EXPECT_EQ(s.durable_applied_index(), 7u);
  EXPECT_EQ(s.get("b")->value, "2");
  EXPECT_EQ(s.member(9)->rpc_addr, "127.0.0.1:1");
  s.apply_membership(at(8),
                     raft::conf_change{raft::conf_change_type::remove, raft::node_id{9}, {}});
  EXPECT_FALSE(s.member(9));
  EXPECT_EQ(s.durable_applied_index(), 8u);
}

TEST(kv_state, a_state_from_another_boot_is_trusted_only_after_a_clean_shutdown) {
  temp_db db;
  {
    kv_state s(*db);
    (void)s.apply(at(5), encode_put("a", "1", std::nullopt).value());
    ASSERT_TRUE(db->close_clean().ok());
  }
  // Pretend the machine restarted: the recorded boot id is not this boot's.
  ASSERT_TRUE(storage::write_file_synced(db.dir() + "/boot", "another-boot\n").ok());
  db.reopen();
  {
    kv_state s(*db);
    EXPECT_EQ(s.get("a")->value, "1") << "synced at a clean shutdown: kept";
    (void)s.apply(at(6), encode_put("b", "2", std::nullopt).value());
  }
  ASSERT_TRUE(storage::write_file_synced(db.dir() + "/boot", "another-boot\n").ok());
  db.reopen();
  kv_state s(*db);
  EXPECT_FALSE(s.get("a")) << "written after the last sync, then a machine restart: rebuilt";
  EXPECT_EQ(s.durable_applied_index(), 0u);
}

}  // namespace
}  // namespace sundial::state
