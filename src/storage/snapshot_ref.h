#pragma once
// A snapshot payload that names a file instead of holding the bytes. Large state (the LMDB
// copy of the job store) travels this way: the Raft core, the log storage and the transport
// pass a few dozen bytes around, and only the transport's snapshot stream and the state
// machine's restore read the file. An inline payload (any other bytes) keeps working.
//
// Encoding: the 8-byte magic "\0SNDFREF", the file's size (u64) and CRC-32C (u32), then the
// path. A protobuf image never starts with a zero byte, so the two cannot be confused.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "base/result.h"

namespace sundial::storage {

struct file_ref {
  std::string path;  // absolute, or relative to the snapshot directory while stored
  std::uint64_t size = 0;
  std::uint32_t crc = 0;  // CRC-32C of the whole file
};

std::string encode_file_ref(const file_ref& ref);
// The reference a payload holds, or nullopt for an inline payload.
std::optional<file_ref> decode_file_ref(std::string_view payload);

// Size and CRC-32C of a file, read in chunks (never whole into memory).
base::result<file_ref> describe_file(const std::string& path);
// Checks that the file still has the size and checksum the reference recorded.
base::status verify_file(const file_ref& ref);
// Moves `from` to `to` (rename; a copy when they are on different file systems), durably.
base::status move_file_synced(const std::string& from, const std::string& to);
// Copies `from` to `to` and fsyncs the copy.
base::status copy_file_synced(const std::string& from, const std::string& to);

}  // namespace sundial::storage
