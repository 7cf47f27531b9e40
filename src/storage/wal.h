#pragma once
// A write-ahead file in front of LMDB: one pwrite and one fdatasync per record, where an LMDB
// commit costs two syncs (data pages, then the meta page). The file is zero-filled to its full
// size when created, so appends never change its size and fdatasync never has to journal
// metadata. It is reused: a reset bumps the generation in the header, and records of older
// generations left behind the tail are ignored.
//
// Layout: header (magic, generation, CRC-32C) in the first 512 bytes, then records
// [u32 payload length][u32 CRC-32C of generation+payload][u64 generation][payload].
// Reading stops at the first record that is not of the header's generation or fails its
// checksum: that is the torn tail of a crash. A failing record followed by a valid one of the
// same generation is corruption and is reported naming the file.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"

namespace sundial::storage {

class wal_file {
 public:
  // Opens `path`, creating it zero-filled to `size` bytes when absent, and reads the records
  // of the current generation into `records`.
  static base::result<wal_file> open(const std::string& path, std::uint64_t size, bool sync,
                                     std::vector<std::string>& records);
  wal_file(wal_file&& o) noexcept;
  wal_file& operator=(wal_file&& o) noexcept;
  wal_file(const wal_file&) = delete;
  wal_file& operator=(const wal_file&) = delete;
  ~wal_file();

  // True when a record with `payload_size` bytes fits behind the tail.
  bool fits(std::size_t payload_size) const;
  // Appends one record and makes it durable before returning. Precondition: fits().
  base::status append(std::string_view payload);
  // Starts a new generation: every record so far is dropped (durably) at once.
  base::status reset();

  std::uint64_t used() const { return tail_ - header_size; }
  std::uint64_t capacity() const { return size_ - header_size; }
  const std::string& path() const { return path_; }

  static constexpr std::uint64_t header_size = 512;
  static constexpr std::uint64_t record_overhead = 16;

 private:
  wal_file() = default;
  base::status write_header();

  std::string path_;
  int fd_ = -1;
  bool sync_ = true;
  std::uint64_t size_ = 0;
  std::uint64_t generation_ = 0;
  // Invariant: header_size <= tail_ <= size_; bytes before tail_ are this generation's records.
  std::uint64_t tail_ = header_size;
};

}  // namespace sundial::storage
