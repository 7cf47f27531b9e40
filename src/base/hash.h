#pragma once
// FNV-1a 64: a fixed, tiny hash for values that must be identical on every node and every
// release (node ids from names, cron hash seeds, long KV keys). Not for hash tables.

#include <cstdint>
#include <string_view>

namespace sundial::base {

constexpr std::uint64_t fnv1a_64(std::string_view bytes) {
  std::uint64_t h = 0xcbf29ce484222325ull;
  for (char c : bytes) {
    h ^= static_cast<unsigned char>(c);
    h *= 0x100000001b3ull;
  }
  return h;
}

}  // namespace sundial::base
