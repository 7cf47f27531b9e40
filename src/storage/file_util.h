#pragma once
// Small POSIX file helpers with errors that name the file.

#include <cstdint>
#include <string>
#include <string_view>

#include "base/result.h"

namespace sundial::storage {

// An io_error naming the file and errno's text: "<what> <path>: <strerror>".
base::failure os_error(const std::string& what, const std::string& path);
// Writes all of `data` at `offset` (retrying short writes and EINTR).
base::status pwrite_all(int fd, std::string_view data, std::uint64_t offset,
                        const std::string& path);

base::status make_dirs(const std::string& path);
// Writes `data` to `path` and fsyncs it (creating or truncating the file).
base::status write_file_synced(const std::string& path, std::string_view data);
base::result<std::string> read_file(const std::string& path);
base::status fsync_dir(const std::string& dir);
base::status rename_file(const std::string& from, const std::string& to);
base::status remove_file(const std::string& path);

}  // namespace sundial::storage
