#include <gtest/gtest.h>

#include "raft/log.h"

namespace sundial::raft {
namespace {

entry e(std::uint64_t term, std::uint64_t index, const char* data = "") {
  return entry{term_t{term}, index_t{index}, entry_type::normal, payload(data)};
}

TEST(raft_log, append_conflict_and_truncate) {
  memory_storage s;
  ASSERT_TRUE(s.append({e(1, 1), e(1, 2), e(2, 3)}).ok());
  raft_log log(s, 1 << 20);
  EXPECT_EQ(log.last_index(), index_t{3});
  EXPECT_EQ(log.find_conflict({e(1, 1), e(1, 2)}), index_t{});
  EXPECT_EQ(log.find_conflict({e(1, 2), e(3, 3)}), index_t{3});
  EXPECT_EQ(log.find_conflict({e(2, 3), e(2, 4)}), index_t{4});
  auto last = log.maybe_append(index_t{2}, term_t{1}, index_t{2}, {e(3, 3, "x"), e(3, 4, "y")});
  ASSERT_TRUE(last.has_value());
  EXPECT_EQ(*last, index_t{4});
  EXPECT_EQ(log.term_or_zero(index_t{3}), term_t{3});
  EXPECT_EQ(log.committed(), index_t{2});
  EXPECT_FALSE(log.maybe_append(index_t{4}, term_t{9}, index_t{4}, {}).has_value());
}

TEST(raft_log, commit_never_decreases) {
  memory_storage s;
  ASSERT_TRUE(s.append({e(1, 1), e(1, 2)}).ok());
  raft_log log(s, 1 << 20);
  log.commit_to(index_t{2});
  log.commit_to(index_t{1});
  EXPECT_EQ(log.committed(), index_t{2});
}

TEST(raft_log, find_conflict_by_term_skips_terms) {
  memory_storage s;
  ASSERT_TRUE(s.append({e(1, 1), e(1, 2), e(2, 3), e(2, 4), e(4, 5), e(4, 6)}).ok());
  raft_log log(s, 1 << 20);
  EXPECT_EQ(log.find_conflict_by_term(index_t{6}, term_t{3}).first, index_t{4});
  EXPECT_EQ(log.find_conflict_by_term(index_t{6}, term_t{4}).first, index_t{6});
  EXPECT_EQ(log.find_conflict_by_term(index_t{6}, term_t{1}).first, index_t{2});
  EXPECT_EQ(log.find_conflict_by_term(index_t{6}, term_t{0}).first, index_t{0});
}

TEST(raft_log, up_to_date_rule) {
  memory_storage s;
  ASSERT_TRUE(s.append({e(1, 1), e(2, 2)}).ok());
  raft_log log(s, 1 << 20);
  EXPECT_TRUE(log.is_up_to_date(index_t{1}, term_t{3}));   // higher last term wins
  EXPECT_TRUE(log.is_up_to_date(index_t{2}, term_t{2}));   // same term, as long
  EXPECT_FALSE(log.is_up_to_date(index_t{1}, term_t{2}));  // same term, shorter
  EXPECT_FALSE(log.is_up_to_date(index_t{9}, term_t{1}));  // lower term, however long
}

TEST(raft_log, committed_entries_are_bounded_by_size) {
  memory_storage s;
  ASSERT_TRUE(s.append({e(1, 1, "aaaa"), e(1, 2, "bbbb"), e(1, 3, "cccc")}).ok());
  raft_log log(s, 60);  // two entries of 28 bytes each
  log.commit_to(index_t{3});
  auto first = log.next_committed();
  ASSERT_EQ(first.size(), 2u);
  log.applied_to(index_t{2});
  auto rest = log.next_committed();
  ASSERT_EQ(rest.size(), 1u);
  EXPECT_EQ(rest[0].data.view(), "cccc");
}

TEST(memory_storage, compaction_and_errors) {
  memory_storage s;
  ASSERT_TRUE(s.append({e(1, 1), e(1, 2), e(2, 3), e(2, 4)}).ok());
  ASSERT_TRUE(s.create_snapshot(index_t{2}, conf_state{{node_id{1}}, {}}, payload("img")).ok());
  ASSERT_TRUE(s.compact(index_t{2}).ok());
  EXPECT_EQ(s.first_index(), index_t{3});
  EXPECT_EQ(s.term(index_t{2}).value(), term_t{1});
  EXPECT_EQ(s.term(index_t{1}).err().code, err_compacted);
  EXPECT_EQ(s.term(index_t{9}).err().code, err_unavailable);
  EXPECT_EQ(s.entries(index_t{1}, index_t{3}, 100).err().code, err_compacted);
  EXPECT_FALSE(s.compact(index_t{9}).ok());
  EXPECT_FALSE(s.append({e(3, 9)}).ok()) << "a gap must be refused";
  EXPECT_FALSE(s.create_snapshot(index_t{1}, {}, {}).ok());
}

}  // namespace
}  // namespace sundial::raft
