#include "storage/snapshot_files.h"

#include <dirent.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include "raft/codec.h"
#include "storage/byte_order.h"
#include "storage/crc32c.h"
#include "storage/file_util.h"
#include "storage/snapshot_ref.h"

namespace sundial::storage {
namespace {

constexpr std::string_view magic = "SUNDSNP1";

bool is_snapshot_name(const std::string& name) {
  return name.size() == 16 + 1 + 16 + 5 && name.substr(name.size() - 5) == ".snap" &&
         name[16] == '-';
}

bool ends_with(const std::string& s, std::string_view suffix) {
  return s.size() > suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// "<term>-<index>.state": the file a snapshot's reference names, beside its ".snap".
std::string state_name_for(const std::string& snap_name) {
  return snap_name.substr(0, snap_name.size() - 5) + ".state";
}

void remove_snapshot(const std::string& snap_path) {
  (void)remove_file(snap_path);
  (void)remove_file(state_name_for(snap_path));
}

}  // namespace

base::result<snapshot_files> snapshot_files::open(std::string dir, std::size_t keep) {
  if (auto st = make_dirs(dir); !st) return st.err();
  snapshot_files files(std::move(dir), std::max<std::size_t>(keep, 1));
  // A crash during save() leaves a .tmp file: it was never complete, so it goes.
  if (DIR* d = ::opendir(files.dir_.c_str())) {
    while (dirent* e = ::readdir(d)) {
      const std::string name = e->d_name;
      if (ends_with(name, ".tmp")) {
        (void)remove_file(files.dir_ + "/" + name);
      } else if (ends_with(name, ".state") &&
                 ::access((files.dir_ + "/" + name.substr(0, name.size() - 6) + ".snap").c_str(),
                          F_OK) != 0) {
        // A state file whose snapshot was never recorded (or was pruned): unreferenced.
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

base::result<raft::snapshot> snapshot_files::save(const raft::snapshot& snap) {
  const std::string name =
      fmt::format("{:016x}-{:016x}.snap", snap.metadata.term.value(), snap.metadata.index.value());
  const std::string final_path = dir_ + "/" + name;
  std::string data(snap.data.view());
  std::string stored_data = data;
  if (auto ref = decode_file_ref(data)) {
    // The state file moves in beside the .snap (before it, so a recorded snapshot always has
    // its file) and the stored reference names it relative to this directory.
    const std::string state_name = state_name_for(name);
    if (ref->path != dir_ + "/" + state_name) {
      SUNDIAL_TRY(move_file_synced(ref->path, dir_ + "/" + state_name));
    }
    ref->path = state_name;
    data = encode_file_ref(*ref);
    stored_data = encode_file_ref(file_ref{dir_ + "/" + state_name, ref->size, ref->crc});
  }
  const std::string meta = raft::codec::encode(snap.metadata);
  std::string body;
  body.reserve(magic.size() + 24 + meta.size() + data.size());
  body.append(magic);
  put_u64(body, meta.size());
  body.append(meta);
  put_u64(body, data.size());
  body.append(data);
  put_u32(body, crc32c(body));
  const std::string tmp_path = final_path + ".tmp";
  SUNDIAL_TRY(write_file_synced(tmp_path, body));
  SUNDIAL_TRY(rename_file(tmp_path, final_path));
  SUNDIAL_TRY(fsync_dir(dir_));
  auto files = list();
  while (files.size() > keep_) {
    remove_snapshot(files.front());
    files.erase(files.begin());
  }
  return raft::snapshot{raft::payload(std::move(stored_data)), snap.metadata};
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
  std::string data(in.substr(pos, data_len));
  if (auto ref = decode_file_ref(data)) {
    // Stored relative to this directory; handed out absolute. The size is checked here (the
    // checksum is the reader's, who reads the file anyway).
    if (!ref->path.empty() && ref->path[0] != '/') ref->path = dir_ + "/" + ref->path;
    struct stat st {};
    if (::stat(ref->path.c_str(), &st) != 0) return corrupt("its state file is missing");
    if (static_cast<std::uint64_t>(st.st_size) != ref->size)
      return corrupt("its state file has the wrong size");
    data = encode_file_ref(*ref);
  }
  return raft::snapshot{raft::payload(std::move(data)), *meta};
}

base::result<std::optional<raft::snapshot>> snapshot_files::load_newest() const {
  auto files = list();
  if (files.empty()) return std::optional<raft::snapshot>{};
  auto snap = load(files.back());
  if (!snap) return snap.err();
  return std::optional<raft::snapshot>(std::move(snap).value());
}

}  // namespace sundial::storage
