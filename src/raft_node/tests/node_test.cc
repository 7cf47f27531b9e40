// The runtime with real threads, real LMDB storage in temporary directories and an in-process
// transport: elections, replication, forwarded proposals, linearizable reads, failover,
// restart from the data directory, snapshots, timeouts and shutdown.
#include "raft_node/node.h"

#include <gtest/gtest.h>

#include <condition_variable>
#include <filesystem>
#include <map>
#include <mutex>
#include <set>
#include <thread>

namespace sundial::raft_node {
namespace {

using namespace std::chrono_literals;

class temp_dir {
 public:
  temp_dir() {
    std::string t = (std::filesystem::temp_directory_path() / "sundial-node-XXXXXX").string();
    path_ = ::mkdtemp(t.data());
  }
  ~temp_dir() { std::filesystem::remove_all(path_); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// Everything observable goes through one mutex and one condition variable, so tests wait
// for events (bounded), never sleep.
struct events {
  std::mutex mu;
  std::condition_variable cv;
  template <class Pred>
  bool wait(Pred pred, std::chrono::milliseconds limit = 10s) {
    std::unique_lock lock(mu);
    return cv.wait_for(lock, limit, pred);
  }
  void notify() { cv.notify_all(); }
};

// A state machine of appended strings; apply returns the new length.
class log_machine : public state_machine {
 public:
  explicit log_machine(events& ev) : ev_(ev) {}
  std::string apply(index_t index, std::string_view command) override {
    std::lock_guard lock(ev_.mu);
    items_.emplace_back(command);
    last_ = index;
    ev_.notify();
    return std::to_string(items_.size());
  }
  std::string snapshot() override {
    std::lock_guard lock(ev_.mu);
    std::string out;
    for (const auto& s : items_)
      out += s + "\n";
    return out;
  }
  base::status restore(std::string_view image) override {
    std::lock_guard lock(ev_.mu);
    items_.clear();
    std::size_t pos = 0;
    while (pos < image.size()) {
      const auto nl = image.find('\n', pos);
      items_.emplace_back(image.substr(pos, nl - pos));
      pos = nl + 1;
    }
    ev_.notify();
    return {};
  }
  std::vector<std::string> items() {
    std::lock_guard lock(ev_.mu);
    return items_;
  }
  std::size_t size_locked() const { return items_.size(); }

 private:
  events& ev_;
  std::vector<std::string> items_;
  index_t last_;
};

class cluster;

class loopback : public transport {
 public:
  loopback(cluster& c, node_id self) : c_(c), self_(self) {}
  void send(std::vector<raft::message> messages) override;

 private:
  cluster& c_;
  node_id self_;
};

struct member {
  std::unique_ptr<temp_dir> dir;
  std::unique_ptr<storage::raft_storage> disk;
  std::unique_ptr<log_machine> sm;
  std::unique_ptr<loopback> net;
  std::unique_ptr<node> n;
};

class cluster {
 public:
  explicit cluster(int size, std::uint64_t snapshot_every = 10000)
      : snapshot_every_(snapshot_every) {
    raft::conf_state cs;
    for (int i = 1; i <= size; ++i)
      cs.voters.emplace_back(static_cast<std::uint64_t>(i));
    for (int i = 1; i <= size; ++i) {
      auto& m = members_[node_id{static_cast<std::uint64_t>(i)}];
      m.dir = std::make_unique<temp_dir>();
      m.disk = storage::raft_storage::open(m.dir->path()).value();
      EXPECT_TRUE(m.disk->bootstrap(cs).ok());
    }
    for (auto& [id, m] : members_)
      start(id);
  }
  ~cluster() {
    for (auto& [id, m] : members_) {
      if (m.n) m.n->stop();
    }
  }

  void start(node_id id) {
    auto& m = members_.at(id);
    if (!m.disk) m.disk = storage::raft_storage::open(m.dir->path()).value();
    m.sm = std::make_unique<log_machine>(ev);
    m.net = std::make_unique<loopback>(*this, id);
    node_options o;
    o.id = id;
    o.tick = 10ms;
    o.seed = id.value() * 7919;
    o.snapshot_every = snapshot_every_;
    o.snapshot_retain = 2;
    auto n = node::start(o, *m.disk, *m.sm, *m.net);
    ASSERT_TRUE(n.ok()) << n.err().message;
    {
      std::lock_guard lock(mu_);
      m.n = std::move(n).value();
    }
    m.n->on_leader_change([this](const node_status&) { ev.notify(); });
  }

  // Stops a node and closes its storage, as a crash would (futures resolve "stopped").
  void stop(node_id id) {
    auto& m = members_.at(id);
    std::unique_ptr<node> n;
    {
      std::lock_guard lock(mu_);
      n = std::move(m.n);
    }
    n->stop();
    n.reset();
    m.disk.reset();
  }

  node& at(std::uint64_t id) { return *members_.at(node_id{id}).n; }
  log_machine& sm(std::uint64_t id) { return *members_.at(node_id{id}).sm; }

  std::uint64_t wait_leader() {
    std::uint64_t found = 0;
    const bool ok = ev.wait([&] {
      std::lock_guard lock(mu_);
      std::set<std::uint64_t> leaders;
      for (auto& [id, m] : members_) {
        if (!m.n) continue;
        const auto s = m.n->status();
        if (s.state == raft::role::leader) leaders.insert(id.value());
      }
      if (leaders.size() != 1) return false;
      found = *leaders.begin();
      return true;
    });
    EXPECT_TRUE(ok) << "no single leader within 10 s";
    return found;
  }

  bool wait_applied(std::uint64_t id, std::size_t count) {
    auto& sm = *members_.at(node_id{id}).sm;
    return ev.wait([&] { return sm.size_locked() >= count; });
  }

  void deliver(node_id from, raft::message m) {
    std::lock_guard lock(mu_);
    if (cut_.count(from) || cut_.count(m.to)) {
      auto it = members_.find(from);
      if (it != members_.end() && it->second.n) it->second.n->report_unreachable(m.to);
      return;
    }
    auto it = members_.find(m.to);
    if (it == members_.end() || !it->second.n) return;
    const bool snap = m.type == raft::message_type::snap;
    const node_id to = m.to;
    it->second.n->step(std::move(m));
    if (snap) members_.at(from).n->report_snapshot(to, true);
  }

  void isolate(std::uint64_t id) {
    std::lock_guard lock(mu_);
    cut_.insert(node_id{id});
  }
  void heal() {
    std::lock_guard lock(mu_);
    cut_.clear();
  }
  const std::string& dir(std::uint64_t id) { return members_.at(node_id{id}).dir->path(); }

  events ev;

 private:
  std::uint64_t snapshot_every_;
  std::mutex mu_;
  std::map<node_id, member> members_;
  std::set<node_id> cut_;
};

void loopback::send(std::vector<raft::message> messages) {
  for (auto& m : messages)
    c_.deliver(self_, std::move(m));
}

proposal_result must(std::future<proposal_result> f) {
  EXPECT_EQ(f.wait_for(15s), std::future_status::ready) << "a future did not resolve in 15 s";
  return f.get();
}

TEST(raft_node, elects_replicates_and_answers_proposals) {
  cluster c(3);
  const auto l = c.wait_leader();
  ASSERT_NE(l, 0u);
  auto r = must(c.at(l).propose("first", 5s));
  ASSERT_EQ(r.status, outcome::committed) << r.message << " leader=" << l;
  EXPECT_EQ(r.result, "1");
  for (std::uint64_t id = 1; id <= 3; ++id) {
    ASSERT_TRUE(c.wait_applied(id, 1)) << "node " << id;
    EXPECT_EQ(c.sm(id).items(), std::vector<std::string>{"first"});
  }
}

TEST(raft_node, follower_proposals_are_forwarded) {
  cluster c(3);
  const auto l = c.wait_leader();
  const std::uint64_t f = l == 1 ? 2 : 1;
  auto r = must(c.at(f).propose("via-follower", 5s));
  EXPECT_EQ(r.status, outcome::committed) << r.message;
  ASSERT_TRUE(c.wait_applied(l, 1));
  EXPECT_EQ(c.sm(l).items().back(), "via-follower");
}

TEST(raft_node, read_barrier_sees_every_acknowledged_write) {
  cluster c(3);
  const auto l = c.wait_leader();
  for (int i = 0; i < 20; ++i) {
    ASSERT_EQ(must(c.at(l).propose("w" + std::to_string(i), 5s)).status, outcome::committed);
  }
  for (std::uint64_t id = 1; id <= 3; ++id) {
    auto r = must(c.at(id).read_barrier(5s));
    ASSERT_EQ(r.status, outcome::committed) << "node " << id << ": " << r.message;
    // After the barrier, this node's state holds every write acknowledged before it.
    EXPECT_EQ(c.sm(id).items().size(), 20u) << "node " << id;
  }
}

TEST(raft_node, isolated_leader_cannot_serve_reads_or_writes) {
  cluster c(3);
  const auto l = c.wait_leader();
  ASSERT_EQ(must(c.at(l).propose("before", 5s)).status, outcome::committed);
  c.isolate(l);
  auto w = must(c.at(l).propose("lost", 1500ms));
  EXPECT_NE(w.status, outcome::committed);
  auto r = must(c.at(l).read_barrier(1500ms));
  EXPECT_NE(r.status, outcome::committed) << "an isolated leader must not confirm a read";
  // It steps down (check-quorum) and the others elect a new leader.
  EXPECT_TRUE(c.ev.wait([&] { return c.at(l).status().state != raft::role::leader; }));
  c.heal();
}

TEST(raft_node, failover_loses_no_acknowledged_write_and_restart_catches_up) {
  cluster c(3);
  const auto l = c.wait_leader();
  for (int i = 0; i < 10; ++i)
    ASSERT_EQ(must(c.at(l).propose("a" + std::to_string(i), 5s)).status, outcome::committed);
  c.stop(node_id{l});
  const auto l2 = c.wait_leader();
  ASSERT_NE(l2, l);
  for (int i = 0; i < 5; ++i)
    ASSERT_EQ(must(c.at(l2).propose("b" + std::to_string(i), 5s)).status, outcome::committed);
  EXPECT_EQ(c.sm(l2).items().size(), 15u);
  // The stopped node restarts from its data directory alone and catches up.
  c.start(node_id{l});
  ASSERT_TRUE(c.wait_applied(l, 15));
  EXPECT_EQ(c.sm(l).items(), c.sm(l2).items());
}

TEST(raft_node, snapshots_compact_and_restore) {
  cluster c(3, /*snapshot_every=*/25);
  const auto l = c.wait_leader();
  const std::uint64_t f = l == 3 ? 2 : 3;
  c.stop(node_id{f});
  for (int i = 0; i < 60; ++i)
    ASSERT_EQ(must(c.at(l).propose("s" + std::to_string(i), 5s)).status, outcome::committed);
  EXPECT_TRUE(std::filesystem::exists(c.dir(l) + "/snap"));
  EXPECT_FALSE(std::filesystem::is_empty(c.dir(l) + "/snap")) << "the leader took snapshots";
  // The lagging follower needs entries the leader compacted away: it gets a snapshot.
  c.start(node_id{f});
  ASSERT_TRUE(c.wait_applied(f, 60));
  EXPECT_EQ(c.sm(f).items(), c.sm(l).items());
  // And a restart restores the state machine from its own snapshot plus the log.
  c.stop(node_id{f});
  c.start(node_id{f});
  ASSERT_TRUE(c.wait_applied(f, 60));
  EXPECT_EQ(c.sm(f).items().size(), 60u);
}

TEST(raft_node, without_quorum_proposals_time_out_and_stop_resolves_futures) {
  cluster c(3);
  const auto l = c.wait_leader();
  for (std::uint64_t id = 1; id <= 3; ++id) {
    if (id != l) c.stop(node_id{id});
  }
  auto r = must(c.at(l).propose("nobody-hears", 300ms));
  EXPECT_NE(r.status, outcome::committed);
  // Whatever state the lone node is in (still leader, or stepped down by check-quorum), a
  // pending future resolves at shutdown instead of hanging its caller.
  auto pending = c.at(l).propose("pending", 60s);
  c.stop(node_id{l});
  ASSERT_EQ(pending.wait_for(5s), std::future_status::ready);
  const auto status = pending.get().status;
  EXPECT_TRUE(status == outcome::stopped || status == outcome::not_leader) << to_string(status);
}

TEST(raft_node, membership_change_commits) {
  cluster c(3);
  const auto l = c.wait_leader();
  ASSERT_EQ(must(c.at(l).propose("x", 5s)).status, outcome::committed);
  const std::uint64_t victim = l == 3 ? 2 : 3;
  auto r = must(c.at(l).propose_conf_change(
      raft::conf_change{raft::conf_change_type::remove, node_id{victim}, {}}, 5s));
  ASSERT_EQ(r.status, outcome::committed) << r.message;
  EXPECT_TRUE(c.ev.wait([&] {
    const auto m = c.at(l).status().members;
    return m.voters.size() == 2;
  }));
}

// A lone voter has no one to send to.
class no_peers : public transport {
 public:
  void send(std::vector<raft::message>) override {}
};

// Takes a known minimum time per apply, so the reported durations can be checked.
class slow_machine : public log_machine {
 public:
  using log_machine::log_machine;
  std::string apply(index_t index, std::string_view command) override {
    std::this_thread::sleep_for(2ms);
    return log_machine::apply(index, command);
  }
};

TEST(raft_node, on_apply_reports_each_command_and_how_long_it_took) {
  temp_dir dir;
  auto disk = storage::raft_storage::open(dir.path()).value();
  ASSERT_TRUE(disk->bootstrap(raft::conf_state{{node_id{1}}, {}}).ok());
  events ev;
  slow_machine sm(ev);
  no_peers net;
  std::mutex mu;
  std::vector<std::chrono::nanoseconds> seen;
  node_options o;
  o.id = node_id{1};
  o.tick = 10ms;
  o.seed = 1;
  o.on_apply = [&](std::chrono::nanoseconds d) {
    std::lock_guard lock(mu);
    seen.push_back(d);
  };
  auto n = node::start(o, *disk, sm, net).value();
  n->on_leader_change([&](const node_status&) {
    { std::lock_guard lock(ev.mu); }
    ev.notify();
  });
  ASSERT_TRUE(ev.wait([&] { return n->status().state == raft::role::leader; }));
  for (const char* c : {"a", "b", "c"})
    ASSERT_EQ(must(n->propose(c, 5s)).status, outcome::committed);
  n->stop();
  std::lock_guard lock(mu);
  // Only commands: the leader's empty entry and membership entries are not applies.
  ASSERT_EQ(seen.size(), 3u);
  for (auto d : seen) {
    EXPECT_GE(d, 2ms);
    EXPECT_LT(d, 10s);
  }
}

}  // namespace
}  // namespace sundial::raft_node
