#include "base/launch_id.h"

#include <string>

namespace sundial::base {

std::uint64_t mix64(std::uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

namespace {

constexpr std::uint64_t fnv_offset = 0xcbf29ce484222325ull;
constexpr std::uint64_t fnv_prime = 0x100000001b3ull;

constexpr std::uint64_t fnv_byte(std::uint64_t h, unsigned char b) {
  return (h ^ b) * fnv_prime;
}

// Little-endian, whatever the host's byte order, so every node hashes the same bytes.
constexpr std::uint64_t fnv_le(std::uint64_t h, std::uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i)
    h = fnv_byte(h, static_cast<unsigned char>(v >> (8 * i)));
  return h;
}

}  // namespace

std::string make_launch_id(std::string_view job, std::int64_t slot_us, std::uint32_t attempt) {
  std::uint64_t h = fnv_offset;
  for (char c : job)
    h = fnv_byte(h, static_cast<unsigned char>(c));
  // Job names never contain NUL (state/job_rules.cc), so the separator keeps
  // ("a", slot) and ("a\0...", ...) apart and the encoding is unambiguous.
  h = fnv_byte(h, 0);
  h = fnv_le(h, static_cast<std::uint64_t>(slot_us), 8);
  h = fnv_le(h, attempt, 4);
  // FNV-1a's last bytes barely reach the high bits; the finaliser spreads them over all 64.
  h = mix64(h);
  static constexpr char hex[] = "0123456789abcdef";
  std::string id(16, '0');
  for (int i = 15; i >= 0; --i, h >>= 4)
    id[static_cast<std::size_t>(i)] = hex[h & 0xf];
  return id;
}

std::string make_execution_id(std::string_view launch_id, std::size_t target_index,
                              std::size_t target_count) {
  if (target_count <= 1) return std::string(launch_id);
  return std::string(launch_id) + "-" + std::to_string(target_index);
}

}  // namespace sundial::base
