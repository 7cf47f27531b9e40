#pragma once
// A linearizability checker for key-value histories, after Wing & Gong and Lowe (the algorithm
// Porcupine and Knossos use): depth-first search over linearization orders with a cache of
// (linearized set, state) pairs, run per key (a history is linearizable iff each key's is).

#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "kv.h"

namespace sundial::sim {

struct operation {
  std::uint64_t client = 0;
  op_kind kind = op_kind::put;
  std::string key;
  std::string value;     // put/cas: written value
  std::string expected;  // cas: compared value
  // Output, when known.
  bool known = true;  // false: timed out; may or may not have taken effect
  bool ok = true;     // cas result
  std::string read;   // get result
  std::uint64_t invoke = 0;
  std::uint64_t complete = std::numeric_limits<std::uint64_t>::max();  // max: never returned
};

enum class verdict { linearizable, not_linearizable, gave_up };

struct check_result {
  verdict outcome = verdict::linearizable;
  std::string key;           // the first key that failed
  std::size_t explored = 0;  // search states visited
};

// `budget` bounds the search states per key; exceeding it gives up (reported, never a pass).
check_result check_linearizable(const std::vector<operation>& history,
                                std::size_t budget = 2'000'000);

}  // namespace sundial::sim
