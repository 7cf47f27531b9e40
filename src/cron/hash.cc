#include "cron/hash.h"

#include "base/hash.h"

namespace sundial::cron {

std::uint64_t hash_seed_for(std::string_view job_name) {
  return base::fnv1a_64(job_name);
}

namespace detail {
std::uint64_t mix(std::uint64_t seed, std::uint64_t salt) {
  std::uint64_t z = seed + 0x9e3779b97f4a7c15ull * (salt + 1);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}
}  // namespace detail

}  // namespace sundial::cron
