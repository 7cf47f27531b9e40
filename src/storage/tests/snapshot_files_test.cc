#include "storage/snapshot_files.h"

#include <gtest/gtest.h>

#include <fstream>

#include "storage/crc32c.h"
#include "storage/file_util.h"
#include "storage/snapshot_ref.h"
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

TEST(crc32c, known_values_and_chunked_extension) {
  EXPECT_EQ(crc32c("123456789"), 0xe3069283u);  // the standard check value
  EXPECT_EQ(crc32c(""), 0u);
  std::string data;
  for (int i = 0; i < 1000; ++i)
    data.push_back(static_cast<char>(i * 7));
  EXPECT_EQ(crc32c(data.substr(3)), crc32c(data.substr(203), crc32c(data.substr(3, 200))));
}

TEST(snapshot_files, a_file_reference_adopts_its_file_and_prunes_it_with_the_snapshot) {
  testing::temp_dir dir;
  auto files = snapshot_files::open(dir.path() + "/snap", 2).value();
  std::vector<std::string> states;
  for (std::uint64_t i = 10; i <= 30; i += 10) {
    const std::string staged = dir.path() + "/staged-" + std::to_string(i);
    ASSERT_TRUE(write_file_synced(staged, std::string(5000, static_cast<char>('a' + i / 10))).ok());
    auto ref = describe_file(staged).value();
    auto stored = files.save(snap(i, encode_file_ref(ref))).value();
    auto stored_ref = decode_file_ref(stored.data.view());
    ASSERT_TRUE(stored_ref);
    EXPECT_EQ(stored_ref->path.rfind(dir.path() + "/snap/", 0), 0u) << stored_ref->path;
    EXPECT_FALSE(std::filesystem::exists(staged)) << "moved, not copied";
    EXPECT_TRUE(verify_file(*stored_ref).ok());
    states.push_back(stored_ref->path);
  }
  EXPECT_FALSE(std::filesystem::exists(states[0])) << "pruned with its .snap";
  // Loading resolves the stored relative name in this directory, wherever it now is.
  std::filesystem::rename(dir.path() + "/snap", dir.path() + "/moved");
  auto moved = snapshot_files::open(dir.path() + "/moved", 2).value();
  auto newest = moved.load_newest().value();
  auto ref = decode_file_ref(newest->data.view()).value();
  EXPECT_EQ(ref.path,
            dir.path() + "/moved/" + std::filesystem::path(states[2]).filename().string());
  EXPECT_TRUE(verify_file(ref).ok());
  // A snapshot whose state file is gone is corrupt, not silently empty.
  std::filesystem::remove(ref.path);
  auto r = moved.load_newest();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.err().code, base::errc::corruption);
}

}  // namespace
}  // namespace sundial::storage
