#include <gtest/gtest.h>

#include "raft/progress.h"

namespace sundial::raft {
namespace {

TEST(progress, probe_sends_one_at_a_time) {
  progress p(index_t{5}, 4, 0);
  EXPECT_FALSE(p.is_paused());
  p.sent_entries(index_t{7}, 10);
  EXPECT_TRUE(p.is_paused());
  EXPECT_EQ(p.next, index_t{5}) << "probe does not advance optimistically";
  EXPECT_TRUE(p.maybe_update(index_t{7}));
  EXPECT_FALSE(p.is_paused());
}

TEST(progress, replicate_window_counts_and_bytes) {
  progress p(index_t{1}, 2, 100);
  p.become_replicate();
  p.sent_entries(index_t{3}, 10);
  EXPECT_FALSE(p.is_paused());
  p.sent_entries(index_t{5}, 10);
  EXPECT_TRUE(p.is_paused()) << "two messages in flight";
  p.flights.free_le(index_t{3});
  EXPECT_FALSE(p.is_paused());
  progress q(index_t{1}, 100, 100);
  q.become_replicate();
  q.sent_entries(index_t{2}, 150);
  EXPECT_TRUE(q.is_paused()) << "bytes in flight over the bound";
}

TEST(progress, stale_rejections_are_ignored) {
  progress p(index_t{10}, 4, 0);
  p.match = index_t{5};
  p.become_replicate();
  EXPECT_FALSE(p.maybe_decr_to(index_t{4}, index_t{3})) << "rejection below match is stale";
  EXPECT_TRUE(p.maybe_decr_to(index_t{8}, index_t{6}));
  EXPECT_EQ(p.next, index_t{6});
  progress q(index_t{10}, 4, 0);
  EXPECT_FALSE(q.maybe_decr_to(index_t{5}, index_t{3})) << "probe: not the index we probed";
  EXPECT_TRUE(q.maybe_decr_to(index_t{9}, index_t{3}));
  EXPECT_EQ(q.next, index_t{4});
}

TEST(progress, snapshot_state_pauses_until_installed) {
  progress p(index_t{3}, 4, 0);
  p.become_snapshot(index_t{20});
  EXPECT_TRUE(p.is_paused());
  p.become_probe();
  EXPECT_EQ(p.next, index_t{21});
}

}  // namespace
}  // namespace sundial::raft
