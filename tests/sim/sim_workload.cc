// The client workload and fault injection.
#include "sim_internal.h"

namespace sundial::sim::internal {

void simulation::finish_ops(sim_node& n) {
  for (auto it = outstanding_.begin(); it != outstanding_.end();) {
    client_op& op = it->second;
    if (op.node == n.id && op.read_index && n.applied >= *op.read_index) {
      operation& h = history_[op.history_index];
      h.read = n.kv.get(op.cmd.key);
      h.complete = now_;
      ++stats_.ops_ok;
      trace("read client " + std::to_string(it->first) + " = " + h.read);
      it = outstanding_.erase(it);
    } else {
      ++it;
    }
  }
}

void simulation::time_out_ops() {
  for (auto it = outstanding_.begin(); it != outstanding_.end();) {
    if (now_ - it->second.started < op_timeout) {
      ++it;
      continue;
    }
    operation& h = history_[it->second.history_index];
    if (h.kind == op_kind::get) {
      h.key.clear();  // a read that never returned had no effect: drop it
    } else {
      h.known = false;  // a write may or may not have happened
      h.complete = never;
      ++stats_.ops_unknown;
    }
    it = outstanding_.erase(it);
  }
}

void simulation::client_actions() {
  if (!clients_on_) return;
  for (std::uint64_t c = 1; c <= clients_; ++c) {
    if (outstanding_.count(c) || !rng_.chance(40)) continue;
    auto up = live();
    if (up.empty()) return;
    sim_node& n = *up[rng_.below(up.size())];
    command cmd;
    cmd.client = c;
    cmd.seq = ++client_seq_[c];
    cmd.key = std::string("k") + static_cast<char>('0' + rng_.below(3));
    const auto pick = rng_.below(10);
    operation h;
    h.client = c;
    h.key = cmd.key;
    h.invoke = now_;
    client_op op;
    op.cmd = cmd;
    op.node = n.id;
    op.started = now_;
    if (pick < 4) {
      cmd.kind = op_kind::get;
      h.kind = op_kind::get;
      op.cmd = cmd;
      op.read_ctx = "r" + std::to_string(c) + "-" + std::to_string(cmd.seq);
      if (!n.raft->read_index(op.read_ctx).ok()) continue;
    } else {
      cmd.kind = pick < 8 ? op_kind::put : op_kind::cas;
      cmd.value = "c" + std::to_string(c) + "-" + std::to_string(cmd.seq);
      if (cmd.kind == op_kind::cas) {
        // Expect a value some client wrote recently, or the empty initial value.
        cmd.expected = rng_.chance(300) ? "" : n.kv.get(cmd.key);
      }
      h.kind = cmd.kind;
      h.value = cmd.value;
      h.expected = cmd.expected;
      op.cmd = cmd;
      auto st = n.raft->propose(encode(cmd));
      if (!st.ok()) continue;  // refused before it was appended: it never happened
    }
    op.history_index = history_.size();
    history_.push_back(h);
    trace("invoke client " + std::to_string(c) + " seq " + std::to_string(cmd.seq) + " on " +
          std::to_string(n.id.value()));
    outstanding_.emplace(c, op);
  }
}

void simulation::random_faults() {
  if (!faults_on_) return;
  auto ids = [&] {
    std::vector<node_id> out;
    for (auto& [id, n] : nodes_) {
      if (!n.retired) out.push_back(id);
    }
    return out;
  }();
  auto any = [&]() -> sim_node& { return nodes_.at(ids[rng_.below(ids.size())]); };

  // Partitions: symmetric (isolate a node or split in two) or one-way; heal.
  if (rng_.chance(3)) {
    cut_.clear();
    const auto kind = rng_.below(3);
    if (kind == 0) {
      const node_id x = any().id;
      for (auto y : ids) {
        if (y != x) {
          cut_.insert({x, y});
          cut_.insert({y, x});
        }
      }
      trace("partition isolate " + std::to_string(x.value()));
    } else if (kind == 1) {
      std::set<node_id> side;
      for (auto y : ids) {
        if (rng_.chance(500)) side.insert(y);
      }
      for (auto a : ids) {
        for (auto b : ids) {
          if (side.count(a) != side.count(b)) cut_.insert({a, b});
        }
      }
      trace("partition split");
    } else {
      const node_id a = any().id, b = any().id;
      if (a != b) cut_.insert({a, b});
      trace("partition one-way " + std::to_string(a.value()) + "->" + std::to_string(b.value()));
    }
    ++stats_.partitions;
  }
  if (rng_.chance(4)) {
    cut_.clear();
    trace("heal");
  }
  // Crash and restart.
  if (rng_.chance(2)) {
    sim_node& n = any();
    if (n.up) crash(n);
  }
  if (rng_.chance(6)) {
    sim_node& n = any();
    if (!n.up && !n.retired) {
      trace("restart " + std::to_string(n.id.value()));
      start_node(n);
    }
  }
  // Network quality changes.
  if (rng_.chance(2)) {
    drop_per_mille_ = rng_.below(4) == 0 ? rng_.below(300) : rng_.below(30);
    dup_per_mille_ = rng_.below(60);
    max_delay_ = rng_.between(1, 20);
    trace("net drop " + std::to_string(drop_per_mille_) + " dup " + std::to_string(dup_per_mille_) +
          " delay " + std::to_string(max_delay_));
  }
  // Compaction at a random node.
  if (rng_.chance(5)) {
    sim_node& n = any();
    if (n.up && n.applied > n.disk->first_index() + 10 && n.applied <= n.disk->last_index()) {
      auto snap = n.disk->create_snapshot(n.applied, n.raft->core().members().to_conf_state(),
                                          raft::payload(n.kv.serialize()));
      if (snap.ok() && n.disk->compact(n.applied).ok()) {
        ++stats_.compactions;
        trace("compact " + std::to_string(n.id.value()) + " at " +
              std::to_string(n.applied.value()));
      }
    }
  }
  sim_node* l = leader();
  if (l == nullptr) return;
  const auto& members = l->raft->core().members();
  // Leadership transfer.
  if (rng_.chance(3) && members.voters.size() > 1) {
    const node_id to = members.voters[rng_.below(members.voters.size())];
    l->raft->transfer_leadership(to);
    ++stats_.transfers;
    trace("transfer " + std::to_string(l->id.value()) + " -> " + std::to_string(to.value()));
  }
  // Membership: add a learner, promote a caught-up learner, or remove a voter (maybe the
  // leader), keeping the voters within [max(3, n-1), n+1].
  if (rng_.chance(4)) {
    const std::size_t voters = members.voters.size();
    const std::size_t lo = std::max<std::size_t>(3, static_cast<std::size_t>(opt_.nodes) - 1);
    const std::size_t hi = static_cast<std::size_t>(opt_.nodes) + 1;
    conf_change cc;
    bool have = false;
    if (!members.learners.empty()) {
      const node_id learner = members.learners.front();
      const auto& prs = l->raft->core().progresses();
      auto p = prs.find(learner);
      if (voters < hi && p != prs.end() &&
          p->second.match + 5 >= l->raft->core().log().committed()) {
        cc = conf_change{conf_change_type::add_voter, learner, {}};
        have = true;
      }
    } else if (voters < hi && rng_.chance(500)) {
      const node_id id{next_id_++};
      sim_node& fresh = nodes_[id];
      fresh.id = id;
      fresh.disk = std::make_unique<raft::memory_storage>();
      fresh.tick_phase = rng_.below(tick_units);
      // An empty server: it learns everything (membership included) from the leader.
      raft::config c = make_config(id);
      fresh.raft = std::make_unique<raft::raw_node>(raft::raw_node::create(c, *fresh.disk).value());
      fresh.up = true;
      fresh.chain_base = index_t{};
      fresh.chain = {0};
      cc = conf_change{conf_change_type::add_learner, id, {}};
      have = true;
    } else if (voters > lo) {
      cc = conf_change{conf_change_type::remove, members.voters[rng_.below(voters)], {}};
      have = true;
    }
    if (have) {
      auto st = l->raft->propose_conf_change(cc);
      trace("conf change " + std::to_string(static_cast<int>(cc.type)) + " " +
            std::to_string(cc.node.value()) + (st.ok() ? "" : " refused: " + st.err().message));
    }
  }
}

}  // namespace sundial::sim::internal
