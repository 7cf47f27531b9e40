#include "storage/wal.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "base/assert.h"
#include "storage/byte_order.h"
#include "storage/crc32c.h"
#include "storage/file_util.h"

namespace sundial::storage {
namespace {

constexpr std::uint64_t magic = 0x31304c4157445553ull;  // "SUDWAL01"

std::uint32_t record_crc(std::uint64_t generation, std::string_view payload) {
  std::string g;
  put_u64(g, generation);
  return crc32c(payload, crc32c(g));
}

// A record parsed at some offset of the file image.
struct parsed {
  enum { ok, end, bad } kind;
  std::uint64_t next = 0;
  std::string_view payload;
};

parsed parse_at(std::string_view file, std::uint64_t off, std::uint64_t generation) {
  if (off + wal_file::record_overhead > file.size()) return {parsed::end};
  const std::uint32_t len = get_u32(file, off);
  const std::uint64_t gen = get_u64(file, off + 8);
  if (len == 0 || gen != generation) return {parsed::end};
  if (off + wal_file::record_overhead + len > file.size()) return {parsed::bad};
  const std::string_view payload = file.substr(off + wal_file::record_overhead, len);
  if (record_crc(gen, payload) != get_u32(file, off + 4)) return {parsed::bad};
  return {parsed::ok, off + wal_file::record_overhead + len, payload};
}

}  // namespace

wal_file::wal_file(wal_file&& o) noexcept {
  *this = std::move(o);
}

wal_file& wal_file::operator=(wal_file&& o) noexcept {
  if (this != &o) {
    if (fd_ >= 0) ::close(fd_);
    path_ = std::move(o.path_);
    fd_ = o.fd_;
    sync_ = o.sync_;
    size_ = o.size_;
    generation_ = o.generation_;
    tail_ = o.tail_;
    o.fd_ = -1;
  }
  return *this;
}

wal_file::~wal_file() {
  if (fd_ >= 0) ::close(fd_);
}

base::result<wal_file> wal_file::open(const std::string& path, std::uint64_t size, bool sync,
                                      std::vector<std::string>& records) {
  records.clear();
  wal_file w;
  w.path_ = path;
  w.sync_ = sync;
  if (::access(path.c_str(), F_OK) != 0) {
    // Created under a temporary name, zero-filled and synced, then renamed: a crash never
    // leaves a short file behind under the real name.
    const std::string tmp = path + ".tmp";
    const int fd = ::open(tmp.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) return os_error("cannot create", tmp);
    w.fd_ = fd;
    w.size_ = std::max(size, header_size + record_overhead + 1);
    const std::string zeros(std::size_t{1} << 16, '\0');
    for (std::uint64_t off = 0; off < w.size_; off += zeros.size()) {
      const std::size_t n =
          static_cast<std::size_t>(std::min<std::uint64_t>(zeros.size(), w.size_ - off));
      if (auto st = pwrite_all(fd, std::string_view(zeros.data(), n), off, tmp); !st)
        return st.err();
    }
    w.generation_ = 1;
    if (auto st = w.write_header(); !st) return st.err();
    if (::fsync(fd) != 0) return os_error("cannot fsync", tmp);
    if (auto st = rename_file(tmp, path); !st) return st.err();
    const auto slash = path.find_last_of('/');
    if (auto st = fsync_dir(slash == std::string::npos ? "." : path.substr(0, slash)); !st)
      return st.err();
    return w;
  }
  auto image = read_file(path);
  if (!image) return image.err();
  const std::string& file = *image;
  w.fd_ = ::open(path.c_str(), O_RDWR | O_CLOEXEC);
  if (w.fd_ < 0) return os_error("cannot open", path);
  w.size_ = file.size();
  if (file.size() < header_size + record_overhead || get_u64(file, 0) != magic ||
      crc32c(std::string_view(file).substr(0, 16)) != get_u32(file, 16)) {
    return base::fail(base::errc::corruption, path + ": the write-ahead file's header is damaged");
  }
  w.generation_ = get_u64(file, 8);
  std::uint64_t off = header_size;
  while (true) {
    const parsed r = parse_at(file, off, w.generation_);
    if (r.kind == parsed::ok) {
      records.emplace_back(r.payload);
      off = r.next;
      continue;
    }
    if (r.kind == parsed::bad) {
      // A torn last write is expected after a crash; a valid record behind it is not.
      const std::uint32_t len = get_u32(file, off);
      const std::uint64_t after = off + record_overhead + len;
      if (after < file.size() && parse_at(file, after, w.generation_).kind == parsed::ok) {
        return base::fail(base::errc::corruption,
                          path + ": a record at offset " + std::to_string(off) +
                              " fails its checksum and valid records follow it");
      }
    }
    break;
  }
  w.tail_ = off;
  return w;
}

bool wal_file::fits(std::size_t payload_size) const {
  return tail_ + record_overhead + payload_size <= size_;
}

base::status wal_file::append(std::string_view payload) {
  SUNDIAL_ASSERT(fits(payload.size()), "append without room: the caller checks fits()");
  std::string rec;
  rec.reserve(record_overhead + payload.size());
  put_u32(rec, static_cast<std::uint32_t>(payload.size()));
  put_u32(rec, record_crc(generation_, payload));
  put_u64(rec, generation_);
  rec.append(payload);
  if (auto st = pwrite_all(fd_, rec, tail_, path_); !st) return st;
  if (sync_ && ::fdatasync(fd_) != 0) return os_error("cannot sync", path_);
  tail_ += rec.size();
  return {};
}

base::status wal_file::reset() {
  ++generation_;
  if (auto st = write_header(); !st) return st;
  if (sync_ && ::fdatasync(fd_) != 0) return os_error("cannot sync", path_);
  tail_ = header_size;
  return {};
}

base::status wal_file::write_header() {
  // 20 bytes inside the first sector: written atomically by the device.
  std::string h;
  put_u64(h, magic);
  put_u64(h, generation_);
  put_u32(h, crc32c(h));
  return pwrite_all(fd_, h, 0, path_);
}

}  // namespace sundial::storage
