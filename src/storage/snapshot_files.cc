#include "storage/snapshot_files.h"

#include <dirent.h>
#include <fmt/format.h>

#include <algorithm>
#include <cstring>

#include "raft/codec.h"
#include "storage/byte_order.h"
#include "storage/crc32c.h"
#include "storage/file_util.h"

namespace sundial::storage {
namespace {

constexpr std::string_view magic = "SUNDSNP1";

bool is_snapshot_name(const std::string& name) {
  return name.size() == 16 + 1 + 16 + 5 && name.substr(name.size() - 5) == ".snap" &&
         name[16] == '-';
}

}  // namespace

base::result<snapshot_files> snapshot_files::open(std::string dir, std::size_t keep) {
  if (auto st = make_dirs(dir); !st) return st.err();
  snapshot_files files(std::move(dir), std::max<std::size_t>(keep, 1));
  // A crash during save() leaves a .tmp file: it was never complete, so it goes.
  if (DIR* d = ::opendir(files.dir_.c_str())) {
    while (dirent* e = ::readdir(d)) {
      const std::string name = e->d_name;
      if (name.size() > 4 && name.substr(name.size() - 4) == ".tmp") {
        (void)remove_file(files.dir_ + "/" + name);
      }
    }
    ::closedir(d);
  }
  return files;
}

std::vector<std::string> snapshot_files::list() const {
  std::vector<std::string> names;
  if (DIR* d = ::opendir(dir_.c_str())) {
    while (dirent* e = ::readdir(d)) {
      if (is_snapshot_name(e->d_name)) names.emplace_back(e->d_name);
    }
    ::closedir(d);
  }
  // Names are "<term>-<index>" in fixed-width hex: order by index, then term.
  std::sort(names.begin(), names.end(), [](const std::string& a, const std::string& b) {
    return a.substr(17, 16) != b.substr(17, 16) ? a.substr(17, 16) < b.substr(17, 16) : a < b;
  });
  for (auto& n : names)
    n = dir_ + "/" + n;
  return names;
}

base::status snapshot_files::save(const raft::snapshot& snap) {
  const std::string meta = raft::codec::encode(snap.metadata);
  std::string body;
  body.reserve(magic.size() + 24 + meta.size() + snap.data.size());
  body.append(magic);
  put_u64(body, meta.size());
  body.append(meta);
  put_u64(body, snap.data.size());
  body.append(snap.data.view());
  put_u32(body, crc32c(body));
  const std::string name =
      fmt::format("{:016x}-{:016x}.snap", snap.metadata.term.value(), snap.metadata.index.value());
  const std::string final_path = dir_ + "/" + name;
  const std::string tmp_path = final_path + ".tmp";
  if (auto st = write_file_synced(tmp_path, body); !st) return st;
  if (auto st = rename_file(tmp_path, final_path); !st) return st;
  if (auto st = fsync_dir(dir_); !st) return st;
  auto files = list();
  while (files.size() > keep_) {
    (void)remove_file(files.front());
    files.erase(files.begin());
  }
  return {};
}

base::result<raft::snapshot> snapshot_files::load(const std::string& path) const {
  auto bytes = read_file(path);
  if (!bytes) return bytes.err();
  const std::string_view in = *bytes;
  auto corrupt = [&](const char* why) {
    return base::fail(base::errc::corruption,
                      fmt::format("snapshot file {} is corrupt: {}", path, why));
  };
  if (in.size() < magic.size() + 8 + 8 + 4 || in.substr(0, magic.size()) != magic) {
    return corrupt("bad header");
  }
  if (crc32c(in.substr(0, in.size() - 4)) != get_u32(in, in.size() - 4)) {
    return corrupt("checksum mismatch");
  }
  std::size_t pos = magic.size();
  const std::uint64_t meta_len = get_u64(in, pos);
  pos += 8;
  if (meta_len > in.size() - pos - 12) return corrupt("metadata length out of range");
  auto meta = raft::codec::decode_snapshot_metadata(in.substr(pos, meta_len));
  if (!meta) return corrupt("metadata does not decode");
  pos += meta_len;
  const std::uint64_t data_len = get_u64(in, pos);
  pos += 8;
  if (data_len != in.size() - pos - 4) return corrupt("data length does not match the file size");
  return raft::snapshot{raft::payload(std::string(in.substr(pos, data_len))), *meta};
}

base::result<std::optional<raft::snapshot>> snapshot_files::load_newest() const {
  auto files = list();
  if (files.empty()) return std::optional<raft::snapshot>{};
  auto snap = load(files.back());
  if (!snap) return snap.err();
  return std::optional<raft::snapshot>(std::move(snap).value());
}

}  // namespace sundial::storage
