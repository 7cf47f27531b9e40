#include "storage/snapshot_files.h"

#include <gtest/gtest.h>

#include <fstream>

#include "temp_dir.h"

namespace sundial::storage {
namespace {

raft::snapshot snap(std::uint64_t index, const std::string& data) {
  return raft::snapshot{raft::payload(data),
                        raft::snapshot_metadata{raft::conf_state{{raft::node_id{1}}, {}},
                                                raft::index_t{index}, raft::term_t{2}}};
}

TEST(snapshot_files, save_load_and_keep_the_newest_three) {
  testing::temp_dir dir;
  auto files = snapshot_files::open(dir.path() + "/snap").value();
  for (std::uint64_t i = 10; i <= 50; i += 10)
    ASSERT_TRUE(files.save(snap(i, "state" + std::to_string(i))).ok());
  const auto list = files.list();
  ASSERT_EQ(list.size(), 3u);
  auto newest = files.load_newest();
  ASSERT_TRUE(newest.ok());
  ASSERT_TRUE(newest->has_value());
  EXPECT_EQ((*newest)->metadata.index, raft::index_t{50});
  EXPECT_EQ((*newest)->data.view(), "state50");
  EXPECT_EQ((*newest)->metadata.conf.voters, std::vector<raft::node_id>{raft::node_id{1}});
}

TEST(snapshot_files, corruption_is_reported_with_the_file_name) {
  testing::temp_dir dir;
  auto files = snapshot_files::open(dir.path()).value();
  ASSERT_TRUE(files.save(snap(7, std::string(1000, 'x'))).ok());
  const std::string path = files.list().back();
  {
    std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(500);
    f.put('y');
  }
  auto r = files.load_newest();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.err().code, base::errc::corruption);
  EXPECT_NE(r.err().message.find(path), std::string::npos);
  EXPECT_NE(r.err().message.find("checksum"), std::string::npos);
  // Truncated files too.
  std::filesystem::resize_file(path, 20);
  r = files.load_newest();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.err().code, base::errc::corruption);
}

TEST(snapshot_files, half_written_snapshots_are_never_used) {
  testing::temp_dir dir;
  {
    auto files = snapshot_files::open(dir.path()).value();
    ASSERT_TRUE(files.save(snap(5, "complete")).ok());
  }
  // A crash in the middle of save() leaves only a .tmp file.
  { std::ofstream(dir.path() + "/0000000000000002-0000000000000009.snap.tmp") << "partial"; }
  auto files = snapshot_files::open(dir.path()).value();
  EXPECT_FALSE(std::filesystem::exists(dir.path() + "/0000000000000002-0000000000000009.snap.tmp"));
  auto r = files.load_newest();
  ASSERT_TRUE(r.ok());
  EXPECT_EQ((*r)->data.view(), "complete");
}

}  // namespace
}  // namespace sundial::storage
