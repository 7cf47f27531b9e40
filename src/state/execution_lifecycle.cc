#include "state/execution_lifecycle.h"

#include <cstdint>

namespace sundial::state {

namespace {

using s = exec_state;

struct state_row {
  exec_state state;
  std::string_view name;
  bool final;
  bool retryable;
  std::uint16_t next;          // bit i: may enter state i
  std::string_view next_text;  // the same edges for people
};

constexpr std::uint16_t bit(exec_state x) {
  return static_cast<std::uint16_t>(1u << static_cast<unsigned>(x));
}
template <class... T>
constexpr std::uint16_t bits(T... xs) {
  return static_cast<std::uint16_t>((bit(xs) | ... | 0));
}

// The transition table, one row per state, in enum order.
constexpr std::array<state_row, exec_state_count> table{{
    {s::pending, "pending", false, false, bits(s::dispatched, s::failed, s::stopping, s::lost),
     "dispatched, failed, stopping or lost"},
    {s::dispatched, "dispatched", false, false, bits(s::running, s::failed, s::stopping, s::lost),
     "running, failed, stopping or lost"},
    {s::running, "running", false, false,
     bits(s::succeeded, s::failed, s::timed_out, s::stopping, s::lost),
     "succeeded, failed, timed_out, stopping or lost"},
    {s::succeeded, "succeeded", true, false, 0, "nothing (final)"},
    {s::failed, "failed", true, true, 0, "nothing (final)"},
    {s::timed_out, "timed_out", true, true, 0, "nothing (final)"},
    {s::stopping, "stopping", false, false,
     bits(s::stopped, s::succeeded, s::failed, s::timed_out, s::lost),
     "stopped, succeeded, failed, timed_out or lost"},
    {s::stopped, "stopped", true, false, 0, "nothing (final)"},
    {s::lost, "lost", true, true, 0, "nothing (final)"},
    {s::retrying, "retrying", false, false, bits(s::dispatched, s::failed, s::stopping, s::lost),
     "dispatched, failed, stopping or lost"},
}};

static_assert(
    [] {
      for (std::size_t i = 0; i < table.size(); ++i)
        if (static_cast<std::size_t>(table[i].state) != i) return false;
      return true;
    }(),
    "the table's rows are in enum order");
static_assert(
    [] {
      for (const auto& r : table)
        if (r.final != (r.next == 0)) return false;
      return true;
    }(),
    "exactly the final states have no way out");

const state_row& row(exec_state x) {
  return table[static_cast<std::size_t>(x)];
}

}  // namespace

std::string_view to_string(exec_state x) {
  return row(x).name;
}

std::optional<exec_state> parse_exec_state(std::string_view name) {
  for (const auto& r : table)
    if (r.name == name) return r.state;
  return std::nullopt;
}

bool is_final(exec_state x) {
  return row(x).final;
}

bool is_retryable(exec_state x) {
  return row(x).retryable;
}

bool transition_allowed(exec_state from, exec_state to) {
  return (row(from).next & bit(to)) != 0;
}

std::string_view allowed_targets_text(exec_state from) {
  return row(from).next_text;
}

std::vector<exec_state> path_between(exec_state from, exec_state to) {
  // Breadth-first over ten states: the first path found is a shortest one, and ties go to
  // the lower state in enum order (dispatched before failed), so the walk is deterministic.
  // Only the steps of a run going its way may be passed through: dispatched and running, and
  // stopping only on the way to stopped. Otherwise a report that a pending run succeeded would
  // take the shorter way through stopping, as if someone had stopped it.
  const auto may_pass = [to](exec_state x) {
    return x == exec_state::dispatched || x == exec_state::running ||
           (x == exec_state::stopping && to == exec_state::stopped);
  };
  std::array<int, exec_state_count> prev;
  prev.fill(-1);
  std::array<exec_state, exec_state_count> queue{};
  std::size_t head = 0, tail = 0;
  queue[tail++] = from;
  prev[static_cast<std::size_t>(from)] = static_cast<int>(from);
  while (head < tail) {
    const exec_state x = queue[head++];
    if (x == to) break;
    if (x != from && !may_pass(x)) continue;
    for (std::size_t i = 0; i < exec_state_count; ++i) {
      const auto y = static_cast<exec_state>(i);
      if (prev[i] >= 0 || !transition_allowed(x, y)) continue;
      prev[i] = static_cast<int>(x);
      queue[tail++] = y;
    }
  }
  std::vector<exec_state> path;
  if (from == to || prev[static_cast<std::size_t>(to)] < 0) return path;
  for (exec_state x = to; x != from; x = static_cast<exec_state>(prev[static_cast<std::size_t>(x)]))
    path.push_back(x);
  return {path.rbegin(), path.rend()};
}

}  // namespace sundial::state
