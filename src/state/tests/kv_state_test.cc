#include "state/kv_state.h"

#include <gtest/gtest.h>

namespace sundial::state {
namespace {

raft::index_t at(std::uint64_t i) {
  return raft::index_t{i};
}

TEST(kv_state, put_get_delete_with_indexes) {
  kv_state s;
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
  kv_state s;
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
  kv_state s;
  EXPECT_EQ(s.apply(at(1), std::string("\x63garbage")), "error unknown command type 99");
  EXPECT_EQ(s.apply(at(2), std::string("\x01\xff\xff")), "error undecodable kv put");
  EXPECT_EQ(s.size(), 0u);
}

TEST(kv_state, snapshot_restores_everything) {
  kv_state a;
  (void)a.apply(at(2), encode_put("x", std::string("bin\0ary", 7), std::nullopt).value());
  a.set_member({7, "node-a", "127.0.0.1:6868", "127.0.0.1:8080"});
  kv_state b;
  ASSERT_TRUE(b.restore(a.snapshot()).ok());
  EXPECT_EQ(b.get("x")->value, std::string("bin\0ary", 7));
  EXPECT_EQ(b.member(7)->name, "node-a");
  EXPECT_FALSE(b.restore("\xff\xff\xff").ok());
  EXPECT_EQ(b.get("x")->modify_index, 2u) << "a failed restore changes nothing";
}

}  // namespace
}  // namespace sundial::state
