#include <gtest/gtest.h>

#include "kv.h"

namespace sundial::sim {
namespace {

TEST(kv, commands_round_trip_and_garbage_is_refused) {
  command c{3, 9, op_kind::cas, "k|:1", "new:val", "old"};
  auto back = decode_command(encode(c));
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(back->client, 3u);
  EXPECT_EQ(back->key, "k|:1");
  EXPECT_EQ(back->value, "new:val");
  EXPECT_EQ(back->expected, "old");
  EXPECT_FALSE(decode_command("garbage").has_value());
  EXPECT_FALSE(decode_command(encode(c) + "x").has_value());
}

TEST(kv, sessions_make_duplicates_harmless) {
  kv_store s;
  EXPECT_TRUE(s.apply({1, 1, op_kind::put, "k", "a", ""}).ok);
  EXPECT_TRUE(s.apply({1, 2, op_kind::cas, "k", "b", "a"}).ok);
  // The same cas delivered twice must not be applied twice (it would now fail).
  EXPECT_TRUE(s.apply({1, 2, op_kind::cas, "k", "b", "a"}).ok);
  EXPECT_EQ(s.get("k"), "b");
  EXPECT_FALSE(s.apply({2, 1, op_kind::cas, "k", "c", "a"}).ok);
}

TEST(kv, snapshot_restores_the_same_state) {
  kv_store a;
  (void)a.apply({1, 1, op_kind::put, "x", "1", ""});
  (void)a.apply({2, 1, op_kind::put, "y", "2", ""});
  kv_store b;
  ASSERT_TRUE(b.restore(a.serialize()));
  EXPECT_EQ(a.digest(), b.digest());
  EXPECT_FALSE(b.restore("5:oops"));
  EXPECT_EQ(a.digest(), b.digest()) << "a failed restore changes nothing";
}

}  // namespace
}  // namespace sundial::sim
