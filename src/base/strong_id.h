#pragma once
// Strong integer ids: a term cannot be passed where an index is expected. Each id is a distinct
// type over uint64_t with comparison, ordering, hashing and explicit construction only.

#include <compare>
#include <cstdint>
#include <functional>
#include <ostream>

namespace sundial::base {

template <class Tag>
class strong_id {
 public:
  using underlying = std::uint64_t;

  constexpr strong_id() = default;
  constexpr explicit strong_id(underlying v) : value_(v) {}

  constexpr underlying value() const { return value_; }
  constexpr auto operator<=>(const strong_id&) const = default;

  // Successor and predecessor: terms and indexes advance by one.
  constexpr strong_id next() const { return strong_id(value_ + 1); }
  constexpr strong_id prev() const { return strong_id(value_ - 1); }
  // Offsets (log positions move by counts of entries); the distance between two ids.
  constexpr strong_id operator+(underlying n) const { return strong_id(value_ + n); }
  constexpr strong_id operator-(underlying n) const { return strong_id(value_ - n); }
  constexpr underlying operator-(strong_id o) const { return value_ - o.value_; }

  friend std::ostream& operator<<(std::ostream& os, strong_id id) { return os << id.value_; }

 private:
  underlying value_ = 0;
};

struct term_tag;
struct index_tag;
struct node_tag;

// A Raft term (thesis 3.3). 0 means "no term yet".
using term_t = strong_id<term_tag>;
// A Raft log index (thesis 3.5). 0 means "before the first entry".
using index_t = strong_id<index_tag>;
// A server's identity in the Raft configuration. 0 means "none".
using node_id = strong_id<node_tag>;

}  // namespace sundial::base

template <class Tag>
struct std::hash<sundial::base::strong_id<Tag>> {
  std::size_t operator()(sundial::base::strong_id<Tag> id) const noexcept {
    return std::hash<std::uint64_t>{}(id.value());
  }
};
