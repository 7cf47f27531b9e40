#include "base/strong_id.h"

#include <gtest/gtest.h>

#include <type_traits>
#include <unordered_set>

namespace sundial::base {
namespace {

TEST(strong_id, orders_and_steps) {
  term_t a(3);
  EXPECT_LT(a, a.next());
  EXPECT_EQ(a.next().prev(), a);
  EXPECT_EQ(term_t{}.value(), 0u);
}

TEST(strong_id, distinct_types_do_not_mix) {
  static_assert(!std::is_convertible_v<term_t, index_t>);
  static_assert(!std::is_convertible_v<std::uint64_t, term_t>);
  std::unordered_set<node_id> ids{node_id(1), node_id(2), node_id(1)};
  EXPECT_EQ(ids.size(), 2u);
}

}  // namespace
}  // namespace sundial::base
