#pragma once
// Little-endian integers in stored records (snapshot files, the write-ahead file, LMDB values),
// and big-endian ones in LMDB keys (so that byte order is numeric order): one definition, so
// every on-disk format agrees on byte order.

#include <cstdint>
#include <string>
#include <string_view>

namespace sundial::storage {

inline void put_u32(std::string& out, std::uint32_t v) {
  for (int i = 0; i < 4; ++i)
    out.push_back(static_cast<char>(v >> (8 * i)));
}
inline void put_u64(std::string& out, std::uint64_t v) {
  for (int i = 0; i < 8; ++i)
    out.push_back(static_cast<char>(v >> (8 * i)));
}
// Precondition: pos + 4 (or 8) <= in.size().
inline std::uint32_t get_u32(std::string_view in, std::size_t pos) {
  std::uint32_t v = 0;
  for (int i = 3; i >= 0; --i)
    v = (v << 8) | static_cast<unsigned char>(in[pos + static_cast<std::size_t>(i)]);
  return v;
}
inline std::uint64_t get_u64(std::string_view in, std::size_t pos) {
  std::uint64_t v = 0;
  for (int i = 7; i >= 0; --i)
    v = (v << 8) | static_cast<unsigned char>(in[pos + static_cast<std::size_t>(i)]);
  return v;
}

// Big-endian: for keys that must sort numerically under LMDB's byte comparison.
inline void put_be64(std::string& out, std::uint64_t v) {
  for (int i = 7; i >= 0; --i)
    out.push_back(static_cast<char>(v >> (8 * i)));
}
// Precondition: pos + 8 <= in.size().
inline std::uint64_t get_be64(std::string_view in, std::size_t pos) {
  std::uint64_t v = 0;
  for (std::size_t i = 0; i < 8; ++i)
    v = (v << 8) | static_cast<unsigned char>(in[pos + i]);
  return v;
}

}  // namespace sundial::storage
