#include "storage/wal.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <random>

#include "storage/raft_storage.h"
#include "temp_dir.h"

namespace sundial::storage {
namespace {

using raft::entry;
using raft::index_t;
using raft::node_id;
using raft::term_t;

void poke(const std::string& path, std::uint64_t offset, char byte) {
  std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
  f.seekp(static_cast<std::streamoff>(offset));
  f.put(byte);
}

TEST(wal_file, records_survive_reopen_and_reset_drops_them) {
  testing::temp_dir dir;
  const std::string path = dir.path() + "/wal";
  std::vector<std::string> got;
  {
    auto w = wal_file::open(path, 64 << 10, true, got).value();
    EXPECT_TRUE(got.empty());
    EXPECT_EQ(std::filesystem::file_size(path), 64u << 10) << "zero-filled to its full size";
    ASSERT_TRUE(w.append("first").ok());
    ASSERT_TRUE(w.append(std::string(1000, 'x')).ok());
    ASSERT_TRUE(w.append("third").ok());
  }
  {
    auto w = wal_file::open(path, 64 << 10, true, got).value();
    ASSERT_EQ(got.size(), 3u);
    EXPECT_EQ(got[0], "first");
    EXPECT_EQ(got[1], std::string(1000, 'x'));
    EXPECT_EQ(got[2], "third");
    ASSERT_TRUE(w.reset().ok());
    // A shorter new generation over the old records: the old ones behind it never come back.
    ASSERT_TRUE(w.append("new").ok());
  }
  auto w = wal_file::open(path, 64 << 10, true, got).value();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0], "new");
}

TEST(wal_file, fits_reports_the_room_left) {
  testing::temp_dir dir;
  std::vector<std::string> got;
  auto w = wal_file::open(dir.path() + "/wal", 1024, true, got).value();
  EXPECT_TRUE(w.fits(1024 - wal_file::header_size - wal_file::record_overhead));
  EXPECT_FALSE(w.fits(1024 - wal_file::header_size - wal_file::record_overhead + 1));
  ASSERT_TRUE(w.append(std::string(400, 'a')).ok());
  EXPECT_FALSE(w.fits(400));
  ASSERT_TRUE(w.reset().ok());
  EXPECT_TRUE(w.fits(400));
}

TEST(wal_file, torn_tail_is_the_end_of_the_log) {
  testing::temp_dir dir;
  const std::string path = dir.path() + "/wal";
  std::vector<std::string> got;
  {
    auto w = wal_file::open(path, 64 << 10, true, got).value();
    ASSERT_TRUE(w.append("kept").ok());
    ASSERT_TRUE(w.append("torn-record").ok());
  }
  // A byte of the last record's payload never reached the disk.
  const std::uint64_t last_payload =
      wal_file::header_size + wal_file::record_overhead + 4 + wal_file::record_overhead;
  poke(path, last_payload + 3, '\0');
  auto w = wal_file::open(path, 64 << 10, true, got);
  ASSERT_TRUE(w.ok()) << w.err().message;
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0], "kept");
  // The next append overwrites the torn record.
  ASSERT_TRUE(w->append("after").ok());
  w = wal_file::open(path, 64 << 10, true, got);
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[1], "after");
}

TEST(wal_file, damaged_record_before_valid_ones_is_corruption) {
  testing::temp_dir dir;
  const std::string path = dir.path() + "/wal";
  std::vector<std::string> got;
  {
    auto w = wal_file::open(path, 64 << 10, true, got).value();
    ASSERT_TRUE(w.append("one").ok());
    ASSERT_TRUE(w.append("two").ok());
    ASSERT_TRUE(w.append("three").ok());
  }
  poke(path, wal_file::header_size + wal_file::record_overhead + 1, 'X');
  auto w = wal_file::open(path, 64 << 10, true, got);
  ASSERT_FALSE(w.ok());
  EXPECT_EQ(w.err().code, base::errc::corruption);
  EXPECT_NE(w.err().message.find(path), std::string::npos) << w.err().message;
}

TEST(wal_file, damaged_header_is_corruption) {
  testing::temp_dir dir;
  const std::string path = dir.path() + "/wal";
  std::vector<std::string> got;
  { ASSERT_TRUE(wal_file::open(path, 4096, true, got).ok()); }
  poke(path, 9, '\x55');
  auto w = wal_file::open(path, 4096, true, got);
  ASSERT_FALSE(w.ok());
  EXPECT_EQ(w.err().code, base::errc::corruption);
  EXPECT_NE(w.err().message.find("header"), std::string::npos) << w.err().message;
}

// ---- raft_storage with the write-ahead file in front of LMDB ----

const raft::conf_state three{{node_id{1}, node_id{2}, node_id{3}}, {}};

std::vector<entry> run(std::uint64_t term, std::uint64_t from, std::uint64_t to, char tag) {
  std::vector<entry> out;
  for (std::uint64_t i = from; i <= to; ++i)
    out.push_back(entry{term_t{term}, index_t{i}, raft::entry_type::normal,
                        raft::payload(std::string(1, tag) + std::to_string(i))});
  return out;
}

// The whole log as (index, term, data) for comparison.
std::vector<std::string> dump(const raft_storage& s) {
  std::vector<std::string> out;
  if (s.last_index() < s.first_index()) return out;
  auto es = s.entries(s.first_index(), s.last_index().next(), ~0ull);
  EXPECT_TRUE(es.ok()) << es.err().message;
  if (!es.ok()) return out;
  for (const auto& e : *es)
    out.push_back(std::to_string(e.index.value()) + "/" + std::to_string(e.term.value()) + "/" +
                  std::string(e.data.view()));
  return out;
}

TEST(raft_storage_wal, saves_pending_in_the_wal_are_replayed_at_open) {
  testing::temp_dir dir;
  const storage_options opt{.checkpoint_entries = 1000};
  std::vector<std::string> before;
  {
    auto s = raft_storage::open(dir.path(), opt).value();
    ASSERT_TRUE(s->bootstrap(three).ok());
    ASSERT_TRUE(s->save(raft::hard_state{term_t{2}, node_id{1}, index_t{4}}, run(2, 2, 10, 'a'),
                        std::nullopt)
                    .ok());
    // A conflicting suffix inside the pending records.
    ASSERT_TRUE(s->save(raft::hard_state{term_t{3}, node_id{2}, index_t{6}}, run(3, 7, 8, 'b'),
                        std::nullopt)
                    .ok());
    before = dump(*s);
    // Closed without a checkpoint: only the write-ahead file has these saves.
  }
  auto s = raft_storage::open(dir.path(), opt).value();
  EXPECT_EQ(dump(*s), before);
  EXPECT_EQ(s->last_index(), index_t{8});
  EXPECT_EQ(s->initial_hard_state(), (raft::hard_state{term_t{3}, node_id{2}, index_t{6}}));
  EXPECT_TRUE(s->verify().ok()) << "open checkpoints the replayed records into LMDB";
}

// A crash after a checkpoint's LMDB commit and before the write-ahead file's reset replays
// records LMDB already holds: replay must be idempotent.
TEST(raft_storage_wal, replaying_records_already_checkpointed_changes_nothing) {
  testing::temp_dir dir;
  const storage_options opt{.checkpoint_entries = 1000};
  std::vector<std::string> before;
  const std::string wal = dir.path() + "/raft/wal";
  {
    auto s = raft_storage::open(dir.path(), opt).value();
    ASSERT_TRUE(s->bootstrap(three).ok());
    ASSERT_TRUE(s->save(std::nullopt, run(2, 2, 20, 'a'), std::nullopt).ok());
    ASSERT_TRUE(s->save(std::nullopt, run(3, 5, 9, 'b'), std::nullopt).ok());
    ASSERT_TRUE(s->save(raft::hard_state{term_t{4}, node_id{3}, index_t{9}}, run(4, 10, 12, 'c'),
                        std::nullopt)
                    .ok());
    std::filesystem::copy_file(wal, wal + ".saved");
    ASSERT_TRUE(s->checkpoint().ok());
    before = dump(*s);
  }
  std::filesystem::remove(wal);
  std::filesystem::rename(wal + ".saved", wal);
  auto s = raft_storage::open(dir.path(), opt).value();
  EXPECT_EQ(dump(*s), before);
  EXPECT_EQ(s->initial_hard_state(), (raft::hard_state{term_t{4}, node_id{3}, index_t{9}}));
}

// Random saves, conflicts, compactions, snapshot installs and reopens with a tiny write-ahead
// file (forcing checkpoints, full-file fallbacks and direct writes) against a model log.
TEST(raft_storage_wal, random_operations_match_a_model_across_reopens) {
  for (unsigned seed = 1; seed <= 20; ++seed) {
    testing::temp_dir dir;
    std::mt19937 rng(seed);
    const storage_options opt{.cache_entries = 4, .wal_bytes = 2048, .checkpoint_entries = 7};
    auto s = raft_storage::open(dir.path(), opt).value();
    ASSERT_TRUE(s->bootstrap(three).ok());
    std::map<std::uint64_t, std::string> model;  // index -> "term/data"
    std::uint64_t first = 2, term = 1, snap_index = 1;
    raft::hard_state hs{term_t{1}, raft::no_node, index_t{1}};
    for (int step = 0; step < 150; ++step) {
      const std::uint64_t last = model.empty() ? first - 1 : model.rbegin()->first;
      const int op = static_cast<int>(rng() % 10);
      if (op < 6) {
        // Append or overwrite a suffix starting anywhere in (first-1, last+1].
        const std::uint64_t from = first + rng() % (last - first + 2);
        const std::uint64_t n = 1 + rng() % (op == 0 ? 40 : 4);
        term += rng() % 2;
        const char tag = static_cast<char>('a' + rng() % 26);
        for (auto it = model.lower_bound(from); it != model.end();)
          it = model.erase(it);
        for (const auto& e : run(term, from, from + n - 1, tag))
          model[e.index.value()] = std::to_string(term) + "/" + std::string(e.data.view());
        std::optional<raft::hard_state> h;
        if (rng() % 2) h = hs = raft::hard_state{term_t{term}, node_id{1}, hs.commit};
        ASSERT_TRUE(s->save(h, run(term, from, from + n - 1, tag), std::nullopt).ok());
      } else if (op == 6 && last >= snap_index + 3) {
        const std::uint64_t at = snap_index + 1 + rng() % (last - snap_index);
        auto st = s->create_snapshot(index_t{at}, three, raft::payload("img"), rng() % 3);
        ASSERT_TRUE(st.ok()) << st.err().message;
        snap_index = at;
        first = s->first_index().value();
        for (auto it = model.begin(); it != model.end() && it->first < first;)
          it = model.erase(it);
      } else if (op == 7 && step % 5 == 0) {
        // A snapshot from a leader replaces everything.
        const std::uint64_t at = last + 5;
        term += 1;
        raft::snapshot snap{raft::payload("leader"),
                            raft::snapshot_metadata{three, index_t{at}, term_t{term}}};
        hs = raft::hard_state{term_t{term}, raft::no_node, index_t{at}};
        ASSERT_TRUE(s->save(hs, {}, snap).ok());
        model.clear();
        first = at + 1;
        snap_index = at;
      } else {
        s.reset();
        auto reopened = raft_storage::open(dir.path(), opt);
        ASSERT_TRUE(reopened.ok()) << "seed " << seed << ": " << reopened.err().message;
        s = std::move(reopened).value();
      }
      ASSERT_EQ(s->first_index().value(), first) << "seed " << seed << " step " << step;
      std::vector<std::string> want;
      for (const auto& [i, v] : model)
        want.push_back(std::to_string(i) + "/" + v);
      ASSERT_EQ(dump(*s), want) << "seed " << seed << " step " << step;
      ASSERT_EQ(s->initial_hard_state(), hs) << "seed " << seed << " step " << step;
    }
  }
}

}  // namespace
}  // namespace sundial::storage
