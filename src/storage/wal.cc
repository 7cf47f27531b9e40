#include "storage/wal.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "base/assert.h"
#include "storage/crc32c.h"
#include "storage/file_util.h"

namespace sundial::storage {
namespace {

constexpr std::uint64_t magic = 0x31304c4157445553ull;  // "SUDWAL01"

base::failure os_error(const std::string& what, const std::string& path) {
  return base::fail(base::errc::io_error, what + " " + path + ": " + std::strerror(errno));
}

void put_u32(char* p, std::uint32_t v) {
  for (int i = 0; i < 4; ++i)
    p[i] = static_cast<char>(v >> (8 * i));
}
void put_u64(char* p, std::uint64_t v) {
  for (int i = 0; i < 8; ++i)
    p[i] = static_cast<char>(v >> (8 * i));
}
std::uint32_t get_u32(const char* p) {
  std::uint32_t v = 0;
  for (int i = 3; i >= 0; --i)
    v = (v << 8) | static_cast<unsigned char>(p[i]);
  return v;
}
std::uint64_t get_u64(const char* p) {
  std::uint64_t v = 0;
  for (int i = 7; i >= 0; --i)
    v = (v << 8) | static_cast<unsigned char>(p[i]);
  return v;
}

std::uint32_t record_crc(std::uint64_t generation, std::string_view payload) {
  char g[8];
  put_u64(g, generation);
  return crc32c(payload, crc32c(std::string_view(g, 8)));
}

base::status pwrite_all(int fd, const char* data, std::size_t n, std::uint64_t off,
                        const std::string& path) {
  while (n > 0) {
    const ssize_t w = ::pwrite(fd, data, n, static_cast<off_t>(off));
    if (w < 0) {
      if (errno == EINTR) continue;
      return os_error("cannot write", path);
    }
    data += w;
    n -= static_cast<std::size_t>(w);
    off += static_cast<std::uint64_t>(w);
  }
  return {};
}

// A record parsed at some offset of the file image.
struct parsed {
  enum { ok, end, bad } kind;
  std::uint64_t next = 0;
  std::string_view payload;
};

parsed parse_at(std::string_view file, std::uint64_t off, std::uint64_t generation) {
  if (off + wal_file::record_overhead > file.size()) return {parsed::end};
  const char* p = file.data() + off;
  const std::uint32_t len = get_u32(p);
  const std::uint64_t gen = get_u64(p + 8);
  if (len == 0 || gen != generation) return {parsed::end};
  if (off + wal_file::record_overhead + len > file.size()) return {parsed::bad};
  std::string_view payload(p + wal_file::record_overhead, len);
  if (record_crc(gen, payload) != get_u32(p + 4)) return {parsed::bad};
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
      if (auto st = pwrite_all(fd, zeros.data(), n, off, tmp); !st) return st.err();
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
  if (file.size() < header_size + record_overhead || get_u64(file.data()) != magic ||
      crc32c(std::string_view(file.data(), 16)) != get_u32(file.data() + 16)) {
    return base::fail(base::errc::corruption, path + ": the write-ahead file's header is damaged");
  }
  w.generation_ = get_u64(file.data() + 8);
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
      const std::uint32_t len = get_u32(file.data() + off);
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
  std::string rec(record_overhead + payload.size(), '\0');
  put_u32(rec.data(), static_cast<std::uint32_t>(payload.size()));
  put_u32(rec.data() + 4, record_crc(generation_, payload));
  put_u64(rec.data() + 8, generation_);
  std::memcpy(rec.data() + record_overhead, payload.data(), payload.size());
  if (auto st = pwrite_all(fd_, rec.data(), rec.size(), tail_, path_); !st) return st;
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
  char h[20];
  put_u64(h, magic);
  put_u64(h + 8, generation_);
  put_u32(h + 16, crc32c(std::string_view(h, 16)));
  return pwrite_all(fd_, h, sizeof h, 0, path_);
}

}  // namespace sundial::storage
