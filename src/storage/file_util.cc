#include "storage/file_util.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace sundial::storage {

base::failure os_error(const std::string& what, const std::string& path) {
  return base::fail(base::errc::io_error, what + " " + path + ": " + std::strerror(errno));
}

base::status pwrite_all(int fd, std::string_view data, std::uint64_t offset,
                        const std::string& path) {
  while (!data.empty()) {
    const ssize_t w = ::pwrite(fd, data.data(), data.size(), static_cast<off_t>(offset));
    if (w < 0) {
      if (errno == EINTR) continue;
      return os_error("cannot write", path);
    }
    data.remove_prefix(static_cast<std::size_t>(w));
    offset += static_cast<std::uint64_t>(w);
  }
  return {};
}

base::status make_dirs(const std::string& path) {
  std::string cur;
  for (std::size_t i = 0; i <= path.size(); ++i) {
    if (i == path.size() || path[i] == '/') {
      if (!cur.empty() && ::mkdir(cur.c_str(), 0755) != 0 && errno != EEXIST) {
        return os_error("cannot create directory", cur);
      }
    }
    if (i < path.size()) cur += path[i];
  }
  return {};
}

base::status write_file_synced(const std::string& path, std::string_view data) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return os_error("cannot create", path);
  std::size_t off = 0;
  while (off < data.size()) {
    const ssize_t n = ::write(fd, data.data() + off, data.size() - off);
    if (n < 0) {
      if (errno == EINTR) continue;
      auto e = os_error("cannot write", path);
      ::close(fd);
      return e;
    }
    off += static_cast<std::size_t>(n);
  }
  if (::fsync(fd) != 0) {
    auto e = os_error("cannot fsync", path);
    ::close(fd);
    return e;
  }
  if (::close(fd) != 0) return os_error("cannot close", path);
  return {};
}

base::result<std::string> read_file(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return os_error("cannot open", path);
  std::string out;
  char buf[1 << 16];
  while (true) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      auto e = os_error("cannot read", path);
      ::close(fd);
      return e;
    }
    if (n == 0) break;
    out.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fd);
  return out;
}

base::status fsync_dir(const std::string& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return os_error("cannot open directory", dir);
  const int rc = ::fsync(fd);
  ::close(fd);
  if (rc != 0) return os_error("cannot fsync directory", dir);
  return {};
}

base::status rename_file(const std::string& from, const std::string& to) {
  if (::rename(from.c_str(), to.c_str()) != 0)
    return os_error("cannot rename to " + to + ":", from);
  return {};
}

base::status remove_file(const std::string& path) {
  if (::unlink(path.c_str()) != 0 && errno != ENOENT) return os_error("cannot remove", path);
  return {};
}

}  // namespace sundial::storage
