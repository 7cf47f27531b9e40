#pragma once
// A small in-process cluster for unit tests: raw_nodes over memory_storage, a message queue
// with filters, and a driver that follows raw_node.h's loop exactly. Every message crosses the
// wire codec, so the tests exercise the protobuf form too.

#include <gtest/gtest.h>

#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <vector>

#include "raft/codec.h"
#include "raft/raw_node.h"

namespace sundial::raft::testing {

struct peer {
  std::unique_ptr<memory_storage> storage;
  std::unique_ptr<raw_node> node;
  std::vector<std::string> applied;  // normal entries' data, in apply order
  index_t applied_index;
  std::vector<read_state> reads;
  bool down = false;
};

class cluster {
 public:
  // Voters 1..voters, learners voters+1..voters+learners.
  explicit cluster(int voters, int learners = 0, std::function<void(config&)> tweak = nullptr);

  raw_node& node(std::uint64_t id) { return *peers_.at(node_id{id}).node; }
  const raft& core(std::uint64_t id) { return peers_.at(node_id{id}).node->core(); }
  peer& at(std::uint64_t id) { return peers_.at(node_id{id}); }
  std::vector<node_id> ids() const;

  // Runs every node's ready loop and delivers messages until nothing is left (bounded).
  void stabilize();
  // Ticks every live node once, then stabilizes.
  void tick_all(int times = 1);
  // Node `id` campaigns and the cluster settles; asserts it became leader.
  void elect(std::uint64_t id);
  std::uint64_t leader() const;  // 0 if none or more than one live leader

  // Faults.
  void isolate(std::uint64_t id) { isolated_.insert(node_id{id}); }
  void heal() {
    isolated_.clear();
    dropped_.clear();
  }
  void drop(std::uint64_t from, std::uint64_t to) { dropped_.insert({node_id{from}, node_id{to}}); }
  // Removes messages matching pred from the queue (before delivery) when set.
  std::function<bool(const message&)> intercept;
  // Crash: the node loses everything not in its storage; restart rebuilds from storage.
  void crash(std::uint64_t id);
  void restart(std::uint64_t id);
  // Adds a brand-new node (empty storage) that will join through a conf change.
  void add_empty(std::uint64_t id);

  // Messages delivered (after filters), for assertions.
  std::vector<message> delivered;
  std::deque<message> queue;
  bool record = false;

  std::function<void(config&)> tweak;

 private:
  void process_ready(node_id id);
  bool blocked(const message& m) const;
  config make_config(node_id id) const;

  std::map<node_id, peer> peers_;
  std::set<node_id> isolated_;
  std::set<std::pair<node_id, node_id>> dropped_;
};

}  // namespace sundial::raft::testing
