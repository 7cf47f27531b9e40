// Invariants checked after every step: hash chains (log matching), election safety, leader
// completeness, commit monotonicity; retiring removed servers.
#include "sim_internal.h"

namespace sundial::sim::internal {

void simulation::chain_reset(sim_node& n, index_t base) {
  n.chain_base = base;
  n.chain.clear();
  auto it = committed_.find(base.value());
  if (it == committed_.end()) {
    fail("node " + std::to_string(n.id.value()) + " holds a snapshot at " +
         std::to_string(base.value()) + " that no node ever applied");
    n.chain.push_back(0);
    return;
  }
  n.chain.push_back(it->second.chain);
}

void simulation::chain_append(sim_node& n, const std::vector<entry>& es) {
  if (es.empty()) return;
  const index_t first = es.front().index;
  if (first <= n.chain_base) {
    fail("node " + std::to_string(n.id.value()) + " persisted entries below its snapshot");
    return;
  }
  const std::size_t keep = first - n.chain_base;  // entries before `first`
  if (keep > n.chain.size()) {
    fail("node " + std::to_string(n.id.value()) + " persisted a log with a gap at " +
         std::to_string(first.value()));
    return;
  }
  n.chain.resize(keep);
  for (const auto& e : es) {
    const std::uint64_t h = entry_hash(n.chain.back(), e);
    n.chain.push_back(h);
    // Log matching: the same (index, term) means the same entry and the same prefix.
    auto [it, inserted] =
        chain_by_index_term_.emplace(std::make_pair(e.index.value(), e.term.value()), h);
    if (!inserted && it->second != h) {
      fail("log matching violated at index " + std::to_string(e.index.value()) + " term " +
           std::to_string(e.term.value()) + " on node " + std::to_string(n.id.value()));
    }
  }
}

// ---- driver ----

void simulation::check_all() {
  for (auto& [id, n] : nodes_) {
    if (n.up) check(n);
  }
  // Retire a removed server once the leader has applied (so committed) its removal.
  if (sim_node* l = leader()) {
    const auto members = l->raft->core().members();
    const node_id leader_id = l->id;
    const auto leader_term = l->raft->core().term();
    std::string voters;
    for (auto v : members.voters)
      voters += std::to_string(v.value()) + ",";
    for (auto& [id, n] : nodes_) {
      if (n.retired || !n.was_member || members.contains(id)) continue;
      n.retired = true;
      n.raft.reset();
      n.pending.reset();
      n.up = false;
      ++stats_.conf_changes;
      trace("retire " + std::to_string(id.value()) + " (leader " +
            std::to_string(leader_id.value()) + " term " + std::to_string(leader_term.value()) +
            " voters " + voters + ")");
    }
  }
}

void simulation::check(sim_node& n) {
  const auto& core = n.raft->core();
  const std::string who = "node " + std::to_string(n.id.value());
  // The commit index never decreases.
  if (core.log().committed() < n.max_commit) fail(who + ": commit index decreased");
  n.max_commit = core.log().committed();
  if (core.state() == role::leader) {
    // Election safety: at most one leader per term.
    auto [it, inserted] = leader_of_term_.emplace(core.term().value(), n.id);
    if (inserted) ++stats_.leaders;
    if (it->second != n.id) {
      fail("two leaders in term " + std::to_string(core.term().value()) + ": " +
           std::to_string(it->second.value()) + " and " + std::to_string(n.id.value()));
    }
    if (n.last_role != role::leader) {
      // Leader completeness: a new leader holds every entry committed so far.
      const index_t c{max_committed_};
      const auto& log = core.log();
      if (c >= log.first_index()) {
        if (log.last_index() < c || log.term_or_zero(c) != committed_.at(max_committed_).term) {
          fail("leader completeness violated: " + who + " leads term " +
               std::to_string(core.term().value()) + " without committed entry " +
               std::to_string(max_committed_));
        }
      }
    }
  }
  n.last_role = core.state();
  if (core.members().contains(n.id)) n.was_member = true;
}

}  // namespace sundial::sim::internal
