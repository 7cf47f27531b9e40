#pragma once
// Target selection (SEMANTICS.md, "Targets, retries, timeouts, chaining"): which nodes run a
// launch, from the job's tags, `target`, `routing` and, for a retry, `retry_on`.
//
// Rules:
// - A job tag is "value" or "value:count". A node matches when, for every job tag key, the
//   node's tag of that key equals the value. Every server carries role=sundial plus its own
//   tags. No job tags: every node matches.
// - Dead and draining nodes are never picked.
// - How many: with counted tags, the LOWEST count among them (a count overrides `target`);
//   without, `target: one` picks one and `target: all` takes every matching node (in name
//   order). Fewer matching nodes than the count: all of them.
// - Which: `routing` ranks the matching nodes and the first ones are taken:
//   random (a seed the caller passes, e.g. the launch id's hash), round_robin (a cursor the
//   caller keeps per job), least_busy (fewest running, ties by name), consistent_hash
//   (rendezvous hashing of job name and node name: a job stays on its node while other
//   nodes come and go, and only the jobs of a node that leaves move).
// - A retry (retry_of_node set) re-runs one execution, so it picks one node. same_node: that
//   node, or an error if it is gone, dead or draining (its tags are not checked again: it
//   was chosen for this launch). any_node (the default): a matching node other than the
//   failed one when there is one (a different machine is the likelier cure), else the same
//   node if it still qualifies.
// Deterministic: the same inputs give the same answer on every node, whatever the order of
// `nodes`.

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "base/result.h"

namespace sundial::scheduler {

// A node as target selection sees it (from membership and heartbeats).
struct node_view {
  std::string name;
  std::map<std::string, std::string> tags;
  bool alive = true;
  bool draining = false;      // leaving: takes no new work
  std::uint32_t running = 0;  // active executions (least_busy)
};

enum class target_mode { one, all };
enum class routing_policy { random, round_robin, least_busy, consistent_hash };
enum class retry_on { any_node, same_node };

// One job tag, parsed: key=value with an optional count (0: none).
struct tag_rule {
  std::string key;
  std::string value;
  std::uint32_t count = 0;

  friend bool operator==(const tag_rule&, const tag_rule&) = default;
};

// Parses job tags. "v:n" needs a positive decimal n below 1,000,000 (as state/job_rules.cc
// accepts); any other value containing ':' is invalid_argument naming the tag.
base::result<std::vector<tag_rule>> parse_job_tags(const std::map<std::string, std::string>& tags);

// True when the node carries every rule's key with its value (liveness is not looked at).
bool node_matches(const node_view& node, const std::vector<tag_rule>& rules);

struct target_request {
  std::string job;                          // consistent_hash and messages
  std::map<std::string, std::string> tags;  // the job's tags, "v" or "v:count"
  target_mode target = target_mode::one;
  routing_policy routing = routing_policy::random;
  std::uint64_t seed = 0;    // random
  std::uint64_t cursor = 0;  // round_robin: the job's cursor from the previous choice
  // A retry: the node the failed attempt ran on. Empty for a launch's first attempt.
  std::string retry_of_node;
  retry_on retry = retry_on::any_node;
};

struct target_choice {
  std::vector<std::string> nodes;  // in routing rank order (name order for target all)
  std::uint64_t cursor = 0;        // round_robin: keep for the job's next choice
};

// The nodes to run on. Errors: invalid_argument for a malformed tag; unavailable when no
// alive, non-draining node qualifies, naming the tags and why, e.g.
// "no alive node matches tags {role=web}: 3 nodes, none with role=web".
base::result<target_choice> choose_targets(const target_request& request,
                                           const std::vector<node_view>& nodes);

}  // namespace sundial::scheduler
