#include "base/launch_id.h"

#include <fmt/format.h>

#include "base/hash.h"

namespace sundial::base {

std::uint64_t mix64(std::uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

std::string make_launch_id(std::string_view job, std::int64_t slot_us, std::uint32_t attempt) {
  std::uint64_t h = fnv1a_64(job);
  h = mix64(h ^ static_cast<std::uint64_t>(slot_us));
  h = mix64(h ^ attempt);
  return fmt::format("{:016x}", h);
}

std::string make_execution_id(std::string_view launch_id, std::size_t target_index,
                              std::size_t target_count) {
  if (target_count <= 1) return std::string(launch_id);
  return fmt::format("{}-{}", launch_id, target_index);
}

}  // namespace sundial::base
