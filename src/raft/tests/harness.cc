#include "harness.h"

namespace sundial::raft::testing {

config cluster::make_config(node_id id) const {
  config c;
  c.id = id;
  c.election_tick = 10;
  c.heartbeat_tick = 1;
  c.seed = 7;
  if (tweak) tweak(c);
  return c;
}

cluster::cluster(int voters, int learners, std::function<void(config&)> t) : tweak(std::move(t)) {
  conf_state cs;
  for (int i = 1; i <= voters; ++i)
    cs.voters.emplace_back(static_cast<std::uint64_t>(i));
  for (int i = voters + 1; i <= voters + learners; ++i) {
    cs.learners.emplace_back(static_cast<std::uint64_t>(i));
  }
  for (int i = 1; i <= voters + learners; ++i) {
    const node_id id{static_cast<std::uint64_t>(i)};
    peer p;
    p.storage = std::make_unique<memory_storage>();
    // Bootstrap: every member starts from the same snapshot at index 1 holding the membership.
    snapshot boot;
    boot.metadata = snapshot_metadata{cs, index_t{1}, term_t{1}};
    EXPECT_TRUE(p.storage->apply_snapshot(boot).ok());
    p.storage->set_hard_state(hard_state{term_t{1}, no_node, index_t{1}});
    config c = make_config(id);
    c.applied = index_t{1};
    p.node = std::make_unique<raw_node>(raw_node::create(c, *p.storage).value());
    p.applied_index = index_t{1};
    peers_.emplace(id, std::move(p));
  }
}

void cluster::add_empty(std::uint64_t raw) {
  const node_id id{raw};
  peer p;
  p.storage = std::make_unique<memory_storage>();
  p.node = std::make_unique<raw_node>(raw_node::create(make_config(id), *p.storage).value());
  peers_.emplace(id, std::move(p));
}

std::vector<node_id> cluster::ids() const {
  std::vector<node_id> out;
  for (const auto& [id, p] : peers_)
    out.push_back(id);
  return out;
}

bool cluster::blocked(const message& m) const {
  if (isolated_.count(m.from) || isolated_.count(m.to)) return true;
  if (dropped_.count({m.from, m.to})) return true;
  auto it = peers_.find(m.to);
  return it == peers_.end() || it->second.down;
}

void cluster::process_ready(node_id id) {
  peer& p = peers_.at(id);
  if (p.down || !p.node->has_ready()) return;
  ready rd = p.node->get_ready();
  if (rd.snap) {
    EXPECT_TRUE(p.storage->apply_snapshot(*rd.snap).ok());
    p.applied_index = rd.snap->metadata.index;
  }
  EXPECT_TRUE(p.storage->append(rd.entries).ok());
  if (rd.hard) p.storage->set_hard_state(*rd.hard);
  for (auto& m : rd.messages) {
    // Through the wire format and back.
    auto decoded = codec::decode_message(codec::encode(m));
    EXPECT_TRUE(decoded.ok());
    queue.push_back(std::move(decoded).value());
  }
  for (const auto& e : rd.committed_entries) {
    if (e.type == entry_type::conf_change) {
      auto cc = codec::decode_conf_change(e.data.view());
      EXPECT_TRUE(cc.ok());
      p.node->apply_conf_change(*cc);
    } else if (!e.data.empty()) {
      p.applied.emplace_back(e.data.view());
    }
    p.applied_index = e.index;
  }
  for (auto& r : rd.read_states)
    p.reads.push_back(r);
  p.node->advance(rd);
}

void cluster::stabilize() {
  for (int round = 0; round < 10000; ++round) {
    bool any = false;
    for (auto& [id, p] : peers_) {
      if (!p.down && p.node->has_ready()) {
        process_ready(id);
        any = true;
      }
    }
    while (!queue.empty()) {
      any = true;
      message m = std::move(queue.front());
      queue.pop_front();
      if (blocked(m)) continue;
      if (intercept && intercept(m)) continue;
      if (record) delivered.push_back(m);
      const node_id to = m.to;
      (void)peers_.at(to).node->step(std::move(m));
      process_ready(to);
    }
    if (!any) return;
  }
  ADD_FAILURE() << "cluster did not settle within 10000 rounds";
}

void cluster::tick_all(int times) {
  for (int i = 0; i < times; ++i) {
    for (auto& [id, p] : peers_) {
      if (!p.down) p.node->tick();
    }
    stabilize();
  }
}

void cluster::elect(std::uint64_t id) {
  EXPECT_TRUE(node(id).campaign().ok());
  stabilize();
  ASSERT_EQ(core(id).state(), role::leader) << "node " << id << " did not win its election";
}

std::uint64_t cluster::leader() const {
  std::uint64_t found = 0;
  for (const auto& [id, p] : peers_) {
    if (p.down || isolated_.count(id)) continue;
    if (p.node->core().state() == role::leader) {
      if (found != 0) return 0;
      found = id.value();
    }
  }
  return found;
}

void cluster::crash(std::uint64_t raw) {
  peer& p = peers_.at(node_id{raw});
  p.down = true;
  p.node.reset();
}

void cluster::restart(std::uint64_t raw) {
  const node_id id{raw};
  peer& p = peers_.at(id);
  config c = make_config(id);
  // The state machine here is rebuilt by replay from the snapshot point.
  c.applied = p.storage->first_index().prev();
  p.applied.clear();
  p.applied_index = c.applied;
  p.node = std::make_unique<raw_node>(raw_node::create(c, *p.storage).value());
  p.down = false;
}

}  // namespace sundial::raft::testing
