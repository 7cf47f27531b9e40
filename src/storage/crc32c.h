#pragma once
// CRC-32C (Castagnoli), the checksum of every stored log record and snapshot file.

#include <cstdint>
#include <string_view>

namespace sundial::storage {

// Extends `crc` (0 to start) over `data`.
std::uint32_t crc32c(std::string_view data, std::uint32_t crc = 0);

}  // namespace sundial::storage
