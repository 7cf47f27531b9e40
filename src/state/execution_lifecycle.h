#pragma once
// The execution state machine (SEMANTICS.md "Execution lifecycle"; the transition table after
// Harbor's job service, ../shared/seeds/002). The table below is the whole rule: apply enters a
// state only along one of its edges, and refuses (and logs) anything else, never applying it.
//
//   pending    -> dispatched | failed | stopping | lost
//   dispatched -> running | failed | stopping | lost
//   running    -> succeeded | failed | timed_out | stopping | lost
//   stopping   -> stopped | succeeded | failed | timed_out | lost
//   retrying   -> dispatched | failed | stopping | lost
//   succeeded, failed, timed_out, stopped, lost: final (no edge leaves them)
//
// Records are created in `pending` (a launch intent) or in `retrying` (the next attempt of a
// failed, timed-out or lost one, waiting out its backoff): a record that ended keeps its final
// state and each attempt is its own record (Dkron's `attempt`).
//
// Why these edges beyond SEMANTICS.md's sketch: `pending|retrying -> failed` is a run no node
// can take (no alive node matches its tags); `dispatched -> failed` is a dispatch the agent
// could not start (no such program); `stopping -> succeeded|failed|timed_out` records what the
// process really did when it ended on its own before the stop took effect.

#include <array>
#include <optional>
#include <string_view>
#include <vector>

namespace sundial::state {

enum class exec_state : std::uint8_t {
  pending,
  dispatched,
  running,
  succeeded,
  failed,
  timed_out,
  stopping,
  stopped,
  lost,
  retrying,
};
inline constexpr std::size_t exec_state_count = 10;

// The API's and the records' name of a state ("timed_out").
std::string_view to_string(exec_state s);
std::optional<exec_state> parse_exec_state(std::string_view name);

// Final states: nothing leaves them; the record no longer counts as active.
bool is_final(exec_state s);
// Final states after which another attempt may follow (retries).
bool is_retryable(exec_state s);
// Whether the table has the edge from -> to.
bool transition_allowed(exec_state from, exec_state to);
// Every state reachable from `from` in one step, for error messages ("running may become ...").
std::string_view allowed_targets_text(exec_state from);
// The shortest walk along the table's edges from `from` to `to`, excluding `from` (empty when
// equal or unreachable), passing only through dispatched and running (and stopping on the way
// to stopped): how an agent's report that a run is already `succeeded` becomes the
// steps a record still in `pending` must take (dispatched, running, succeeded).
std::vector<exec_state> path_between(exec_state from, exec_state to);

}  // namespace sundial::state
