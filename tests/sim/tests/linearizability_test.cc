// The checker must accept linearizable histories and, above all, reject the others.
#include <gtest/gtest.h>

#include "linearizability.h"

namespace sundial::sim {
namespace {

operation put(std::uint64_t c, const char* v, std::uint64_t a, std::uint64_t b) {
  operation o;
  o.client = c;
  o.kind = op_kind::put;
  o.key = "k";
  o.value = v;
  o.invoke = a;
  o.complete = b;
  return o;
}
operation get(std::uint64_t c, const char* read, std::uint64_t a, std::uint64_t b) {
  operation o = put(c, "", a, b);
  o.kind = op_kind::get;
  o.read = read;
  return o;
}
operation cas(std::uint64_t c, const char* from, const char* to, bool ok, std::uint64_t a,
              std::uint64_t b) {
  operation o = put(c, to, a, b);
  o.kind = op_kind::cas;
  o.expected = from;
  o.ok = ok;
  return o;
}

TEST(linearizability, sequential_history) {
  EXPECT_EQ(check_linearizable({put(1, "a", 0, 1), get(2, "a", 2, 3), cas(1, "a", "b", true, 4, 5),
                                get(2, "b", 6, 7)})
                .outcome,
            verdict::linearizable);
}

TEST(linearizability, stale_read_after_write_completed_is_rejected) {
  EXPECT_EQ(check_linearizable({put(1, "a", 0, 1), put(1, "b", 2, 3), get(2, "a", 4, 5)}).outcome,
            verdict::not_linearizable);
}

TEST(linearizability, concurrent_ops_may_order_either_way) {
  EXPECT_EQ(check_linearizable({put(1, "a", 0, 10), get(2, "a", 1, 2), get(3, "", 0, 3)}).outcome,
            verdict::linearizable);
  // Two reads that see the write and then not: impossible once the first has returned.
  EXPECT_EQ(check_linearizable({put(1, "a", 0, 10), get(2, "a", 1, 2), get(3, "", 3, 4)}).outcome,
            verdict::not_linearizable);
}

TEST(linearizability, cas_results_must_be_consistent) {
  EXPECT_EQ(check_linearizable(
                {put(1, "a", 0, 1), cas(2, "a", "b", true, 2, 5), cas(3, "a", "c", true, 3, 6)})
                .outcome,
            verdict::not_linearizable)
      << "two swaps from the same value cannot both succeed";
  EXPECT_EQ(check_linearizable({put(1, "a", 0, 1), cas(2, "a", "b", true, 2, 5),
                                cas(3, "a", "c", false, 3, 6), get(1, "b", 7, 8)})
                .outcome,
            verdict::linearizable);
}

TEST(linearizability, unknown_outcomes_may_or_may_not_apply) {
  operation lost = put(1, "x", 0, std::numeric_limits<std::uint64_t>::max());
  lost.known = false;
  EXPECT_EQ(check_linearizable({lost, get(2, "", 1, 2), get(2, "x", 3, 4)}).outcome,
            verdict::linearizable);
  EXPECT_EQ(check_linearizable({lost, get(2, "", 1, 2)}).outcome, verdict::linearizable);
  // But a write that was never issued cannot be read.
  EXPECT_EQ(check_linearizable({lost, get(2, "y", 1, 2)}).outcome, verdict::not_linearizable);
}

TEST(linearizability, lost_acknowledged_write_is_caught) {
  // The put returned, so a later read must see it (or something later).
  EXPECT_EQ(check_linearizable({put(1, "a", 0, 1), get(2, "", 5, 6)}).outcome,
            verdict::not_linearizable);
}

TEST(linearizability, per_key_partitioning) {
  operation other = put(3, "z", 0, 1);
  other.key = "other";
  operation read_other = get(3, "z", 2, 3);
  read_other.key = "other";
  EXPECT_EQ(check_linearizable({put(1, "a", 0, 1), other, read_other, get(2, "a", 4, 5)}).outcome,
            verdict::linearizable);
}

TEST(linearizability, budget_exhaustion_is_reported) {
  std::vector<operation> h;
  for (int i = 0; i < 30; ++i) {
    operation o = put(static_cast<std::uint64_t>(i), ("v" + std::to_string(i)).c_str(), 0, 1000);
    h.push_back(o);
  }
  h.push_back(get(99, "nope", 1001, 1002));
  EXPECT_EQ(check_linearizable(h, 1000).outcome, verdict::gave_up);
}

}  // namespace
}  // namespace sundial::sim
