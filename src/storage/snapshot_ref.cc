#include "storage/snapshot_ref.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <vector>

#include "storage/byte_order.h"
#include "storage/crc32c.h"
#include "storage/file_util.h"

namespace sundial::storage {
namespace {

constexpr std::string_view ref_magic{"\0SNDFREF", 8};
constexpr std::size_t chunk_bytes = std::size_t{1} << 20;

struct fd_guard {
  int fd = -1;
  ~fd_guard() {
    if (fd >= 0) ::close(fd);
  }
};

std::string parent_dir(const std::string& path) {
  const auto slash = path.rfind('/');
  return slash == std::string::npos ? "." : (slash == 0 ? "/" : path.substr(0, slash));
}

}  // namespace

std::string encode_file_ref(const file_ref& ref) {
  std::string out(ref_magic);
  put_u64(out, ref.size);
  put_u32(out, ref.crc);
  out += ref.path;
  return out;
}

std::optional<file_ref> decode_file_ref(std::string_view payload) {
  if (payload.size() <= ref_magic.size() + 12 || payload.substr(0, ref_magic.size()) != ref_magic)
    return std::nullopt;
  file_ref ref;
  ref.size = get_u64(payload, ref_magic.size());
  ref.crc = get_u32(payload, ref_magic.size() + 8);
  ref.path = std::string(payload.substr(ref_magic.size() + 12));
  return ref;
}

base::result<file_ref> describe_file(const std::string& path) {
  fd_guard f;
  f.fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (f.fd < 0) return os_error("open", path);
  file_ref ref;
  ref.path = path;
  std::vector<char> buf(chunk_bytes);
  while (true) {
    const ssize_t n = ::read(f.fd, buf.data(), buf.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return os_error("read", path);
    if (n == 0) break;
    ref.crc = crc32c(std::string_view(buf.data(), static_cast<std::size_t>(n)), ref.crc);
    ref.size += static_cast<std::uint64_t>(n);
  }
  return ref;
}

base::status verify_file(const file_ref& ref) {
  auto actual = describe_file(ref.path);
  if (!actual) return actual.err();
  if (actual->size != ref.size || actual->crc != ref.crc) {
    return base::fail(base::errc::corruption,
                      fmt::format("snapshot file {} is corrupt: {} bytes with CRC {:08x}, "
                                  "expected {} bytes with CRC {:08x}",
                                  ref.path, actual->size, actual->crc, ref.size, ref.crc));
  }
  return {};
}

base::status copy_file_synced(const std::string& from, const std::string& to) {
  fd_guard in, out;
  in.fd = ::open(from.c_str(), O_RDONLY | O_CLOEXEC);
  if (in.fd < 0) return os_error("open", from);
  out.fd = ::open(to.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (out.fd < 0) return os_error("create", to);
  std::vector<char> buf(chunk_bytes);
  std::uint64_t offset = 0;
  while (true) {
    const ssize_t n = ::read(in.fd, buf.data(), buf.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return os_error("read", from);
    if (n == 0) break;
    if (auto st = pwrite_all(out.fd, std::string_view(buf.data(), static_cast<std::size_t>(n)),
                             offset, to);
        !st)
      return st;
    offset += static_cast<std::uint64_t>(n);
  }
  if (::fsync(out.fd) != 0) return os_error("fsync", to);
  return fsync_dir(parent_dir(to));
}

base::status move_file_synced(const std::string& from, const std::string& to) {
  if (::rename(from.c_str(), to.c_str()) == 0) {
    if (auto st = fsync_dir(parent_dir(to)); !st) return st;
    return fsync_dir(parent_dir(from));
  }
  if (errno != EXDEV) return os_error("rename " + from + " to", to);
  if (auto st = copy_file_synced(from, to); !st) return st;
  return remove_file(from);
}

}  // namespace sundial::storage
