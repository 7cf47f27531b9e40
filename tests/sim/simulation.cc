#include "simulation.h"

#include <algorithm>
#include <cstdio>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <sstream>
#include <vector>

#include "kv.h"
#include "linearizability.h"
#include "raft/codec.h"
#include "raft/raw_node.h"

namespace sundial::sim {
namespace {

using raft::conf_change;
using raft::conf_change_type;
using raft::entry;
using raft::entry_type;
using raft::index_t;
using raft::message;
using raft::message_type;
using raft::node_id;
using raft::ready;
using raft::role;
using raft::term_t;

constexpr std::uint64_t tick_units = 10;        // one Raft tick
constexpr std::uint64_t op_timeout = 3000;      // a client gives up after this
constexpr std::uint64_t liveness_bound = 6000;  // 60 ticks = 6 election timeouts
constexpr std::uint64_t never = std::numeric_limits<std::uint64_t>::max();

class prng {
 public:
  explicit prng(std::uint64_t seed) : s_(seed * 0x9e3779b97f4a7c15ull + 0x1234567ull) { next(); }
  std::uint64_t next() {
    s_ ^= s_ >> 12;
    s_ ^= s_ << 25;
    s_ ^= s_ >> 27;
    return s_ * 0x2545f4914f6cdd1dull;
  }
  std::uint64_t below(std::uint64_t n) { return n == 0 ? 0 : next() % n; }
  std::uint64_t between(std::uint64_t lo, std::uint64_t hi) { return lo + below(hi - lo + 1); }
  // True with probability per_mille / 1000.
  bool chance(std::uint64_t per_mille) { return below(1000) < per_mille; }

 private:
  std::uint64_t s_;
};

std::uint64_t mix(std::uint64_t h, std::uint64_t v) {
  h ^= v + 0x9e3779b97f4a7c15ull + (h << 6) + (h >> 2);
  return h;
}

std::uint64_t hash_bytes(std::string_view s) {
  std::uint64_t h = 0xcbf29ce484222325ull;
  for (unsigned char c : s) {
    h ^= c;
    h *= 0x100000001b3ull;
  }
  return h;
}

std::uint64_t entry_hash(std::uint64_t prev, const entry& e) {
  return mix(mix(mix(prev, e.term.value()), static_cast<std::uint64_t>(e.type)),
             hash_bytes(e.data.view()));
}

struct violation {
  std::string what;
};

struct client_op {
  std::size_t history_index;  // into history
  command cmd;
  node_id node;
  std::uint64_t started = 0;
  std::string read_ctx;
  std::optional<index_t> read_index;
};

struct sim_node {
  node_id id;
  std::unique_ptr<raft::memory_storage> disk;  // what survives a crash
  std::unique_ptr<raft::raw_node> raft;        // null while down
  kv_store kv;
  index_t applied;
  std::optional<ready> pending;  // taken from the core, not yet persisted
  std::uint64_t persist_at = 0;
  bool up = false;
  bool retired = false;     // removed from the cluster and shut down for good
  bool was_member = false;  // has seen itself in the membership
  std::uint64_t tick_phase = 0;
  // Checker state: hash chain over this node's persisted log, chain[i - chain_base].
  index_t chain_base;
  std::vector<std::uint64_t> chain;
  index_t max_commit;  // this incarnation's highest commit index
  index_t persisted_commit;
  role last_role = role::follower;
};

struct in_flight {
  std::uint64_t at;
  std::uint64_t seq;
  message m;
  bool operator>(const in_flight& o) const { return at != o.at ? at > o.at : seq > o.seq; }
};

class simulation {
 public:
  explicit simulation(const sim_options& o) : opt_(o), rng_(o.seed) {}

  sim_result run();

 private:
  // setup and lifecycle
  raft::config make_config(node_id id) const;
  void boot(int voters);
  void start_node(sim_node& n);
  void crash(sim_node& n);
  sim_node* leader();
  std::vector<sim_node*> live();

  // the loop
  void step_time();
  void process_ready(sim_node& n);
  void persist_and_apply(sim_node& n, ready rd);
  void apply_entry(sim_node& n, const entry& e);
  void send(const message& m);
  void deliver(message m);
  void random_faults();
  void client_actions();
  void finish_ops(sim_node& n);
  void time_out_ops();

  // checks
  void check(sim_node& n);
  void check_all();
  void chain_append(sim_node& n, const std::vector<entry>& es);
  void chain_reset(sim_node& n, index_t base);
  void fail(const std::string& what) {
    if (!failure_) failure_ = "t=" + std::to_string(now_) + ": " + what;
  }
  void trace(const std::string& line) {
    trace_hash_ = mix(trace_hash_, hash_bytes(line));
    if (opt_.verbose)
      std::printf("%8llu %s\n", static_cast<unsigned long long>(now_), line.c_str());
  }

  sim_options opt_;
  prng rng_;
  std::uint64_t now_ = 0;
  std::uint64_t trace_hash_ = 0;
  std::optional<std::string> failure_;
  sim_stats stats_;

  std::map<node_id, sim_node> nodes_;
  std::uint64_t next_id_ = 1;
  std::vector<in_flight> net_;  // a heap on (at, seq)
  std::uint64_t msg_seq_ = 0;
  // Faults.
  std::set<std::pair<node_id, node_id>> cut_;  // one-way: from -> to blocked
  std::uint64_t drop_per_mille_ = 0;
  std::uint64_t dup_per_mille_ = 0;
  std::uint64_t max_delay_ = 5;
  bool faults_on_ = true;
  bool clients_on_ = true;

  // Global knowledge for the invariants.
  std::map<std::uint64_t, node_id> leader_of_term_;
  std::map<std::pair<std::uint64_t, std::uint64_t>, std::uint64_t> chain_by_index_term_;
  struct committed {
    term_t term;
    std::uint64_t chain;
    std::uint64_t digest;
    std::uint64_t client;
    std::uint64_t seq;
  };
  std::map<std::uint64_t, committed> committed_;  // index -> what was applied there
  std::uint64_t max_committed_ = 1;

  // Clients.
  std::vector<operation> history_;
  std::map<std::uint64_t, client_op> outstanding_;  // by client
  std::map<std::uint64_t, std::uint64_t> client_seq_;
  std::uint64_t clients_ = 4;
  std::uint64_t writes_acked_ = 0;
  std::set<std::pair<std::uint64_t, std::uint64_t>> acked_writes_;
};

raft::config simulation::make_config(node_id id) const {
  raft::config c;
  c.id = id;
  c.election_tick = 10;
  c.heartbeat_tick = 1;
  c.seed = opt_.seed;
  // Vary batching per seed: one entry per message exposes commit-counting bugs that large
  // batches (old entries always travelling with the new term's no-op) would hide.
  static constexpr std::uint64_t msg_sizes[] = {1, 100, 4096};
  static constexpr std::size_t inflights[] = {2, 8, 64};
  c.max_size_per_msg = msg_sizes[opt_.seed % 3];
  c.max_inflight_msgs = inflights[(opt_.seed / 3) % 3];
  c.max_uncommitted_entries_size = 1 << 20;
  c.pre_vote = true;
  c.check_quorum = true;
  return c;
}

void simulation::boot(int voters) {
  // Index 1 is the bootstrap snapshot every initial member starts from; 0 is "nothing".
  committed_[0] = committed{term_t{}, 0, kv_store{}.digest(), 0, 0};
  committed_[1] = committed{term_t{1}, 1, kv_store{}.digest(), 0, 0};
  raft::conf_state cs;
  for (int i = 0; i < voters; ++i)
    cs.voters.emplace_back(next_id_ + static_cast<std::uint64_t>(i));
  for (int i = 0; i < voters; ++i) {
    const node_id id{next_id_++};
    sim_node& n = nodes_[id];
    n.id = id;
    n.disk = std::make_unique<raft::memory_storage>();
    raft::snapshot boot_snap;
    boot_snap.metadata = raft::snapshot_metadata{cs, index_t{1}, term_t{1}};
    (void)n.disk->apply_snapshot(boot_snap);
    n.disk->set_hard_state(raft::hard_state{term_t{1}, raft::no_node, index_t{1}});
    n.tick_phase = rng_.below(tick_units);
    start_node(n);
  }
}

void simulation::start_node(sim_node& n) {
  raft::config c = make_config(n.id);
  auto snap = n.disk->get_snapshot().value();
  n.kv = kv_store{};
  if (!n.kv.restore(std::string(snap.data.view())))
    fail("node " + std::to_string(n.id.value()) + ": snapshot does not decode");
  c.applied = snap.metadata.index;
  n.applied = snap.metadata.index;
  auto node = raft::raw_node::create(c, *n.disk);
  if (!node.ok()) {
    fail("raw_node::create: " + node.err().message);
    return;
  }
  n.raft = std::make_unique<raft::raw_node>(std::move(node).value());
  n.up = true;
  n.pending.reset();
  n.max_commit = n.raft->core().log().committed();
  n.persisted_commit = n.disk->initial_hard_state().commit;
  n.last_role = role::follower;
  // Rebuild the checker's hash chain from what is on disk.
  chain_reset(n, snap.metadata.index);
  if (n.disk->last_index() > snap.metadata.index) {
    auto es = n.disk->entries(snap.metadata.index.next(), n.disk->last_index().next(), ~0ull);
    if (es.ok()) chain_append(n, *es);
  }
}

void simulation::crash(sim_node& n) {
  trace("crash " + std::to_string(n.id.value()));
  n.raft.reset();
  n.pending.reset();  // never persisted: lost
  n.up = false;
  ++stats_.crashes;
}

sim_node* simulation::leader() {
  sim_node* found = nullptr;
  term_t best;
  for (auto& [id, n] : nodes_) {
    if (!n.up || n.raft->core().state() != role::leader) continue;
    if (!found || n.raft->core().term() > best) {
      found = &n;
      best = n.raft->core().term();
    }
  }
  return found;
}

std::vector<sim_node*> simulation::live() {
  std::vector<sim_node*> out;
  for (auto& [id, n] : nodes_) {
    if (n.up) out.push_back(&n);
  }
  return out;
}

// ---- checker: hash chains ----

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

void simulation::send(const message& m) {
  if (faults_on_ && cut_.count({m.from, m.to})) {
    trace("cut " + std::string(to_string(m.type)) + " " + std::to_string(m.from.value()) + "->" +
          std::to_string(m.to.value()));
    auto it = nodes_.find(m.from);
    if (it != nodes_.end() && it->second.up) {
      if (m.type == message_type::snap) it->second.raft->report_snapshot(m.to, false);
      if (rng_.chance(500)) it->second.raft->report_unreachable(m.to);
    }
    return;
  }
  if (faults_on_ && rng_.chance(drop_per_mille_)) {
    if (m.type == message_type::snap) {
      auto it = nodes_.find(m.from);
      if (it != nodes_.end() && it->second.up) it->second.raft->report_snapshot(m.to, false);
    }
    return;
  }
  const int copies = faults_on_ && rng_.chance(dup_per_mille_) ? 2 : 1;
  for (int i = 0; i < copies; ++i) {
    message copy = m;
    if (opt_.wire) {
      auto decoded = raft::codec::decode_message(raft::codec::encode(m));
      if (!decoded.ok()) {
        fail("message does not survive the codec: " + decoded.err().message);
        return;
      }
      copy = std::move(decoded).value();
    }
    net_.push_back(in_flight{now_ + rng_.between(1, max_delay_), msg_seq_++, std::move(copy)});
    std::push_heap(net_.begin(), net_.end(), std::greater<>());
  }
}

void simulation::deliver(message m) {
  auto it = nodes_.find(m.to);
  if (it == nodes_.end() || !it->second.up) return;
  ++stats_.messages;
  std::ostringstream line;
  line << "deliver " << to_string(m.type) << " " << m.from.value() << "->" << m.to.value() << " t"
       << m.term.value() << " i" << m.index.value() << " lt" << m.log_term.value() << " c"
       << m.commit.value() << " n" << m.entries.size() << (m.reject ? " reject" : "");
  trace(line.str());
  const bool snap = m.type == message_type::snap;
  const node_id from = m.from;
  (void)it->second.raft->step(std::move(m));
  if (snap) {
    // The transport reports the outcome of a snapshot stream to its sender.
    auto s = nodes_.find(from);
    if (s != nodes_.end() && s->second.up) s->second.raft->report_snapshot(it->first, true);
  }
}

void simulation::process_ready(sim_node& n) {
  if (!n.up) return;
  if (n.pending) {
    if (n.persist_at > now_) return;
    ready rd = std::move(*n.pending);
    n.pending.reset();
    persist_and_apply(n, std::move(rd));
    return;
  }
  if (!n.raft->has_ready()) return;
  n.pending = n.raft->get_ready();
  // A leader's appends may leave before its own fsync (thesis 10.2.1): send them now, so a
  // crash during the fsync below is exercised with the messages already out.
  if (n.pending->may_send_before_persist) {
    for (const auto& m : n.pending->messages)
      send(m);
    n.pending->messages.clear();
  }
  // fsync takes time; a crash before it completes loses this ready's durable part. Some seeds
  // have slow disks, slower than a network round trip, so that what a leader sent before its
  // own fsync can be acknowledged (and committed elsewhere) before that fsync completes.
  n.persist_at = now_ + rng_.below(opt_.seed % 4 == 0 ? 40 : 3);
  if (n.persist_at <= now_) {
    ready rd = std::move(*n.pending);
    n.pending.reset();
    persist_and_apply(n, std::move(rd));
  }
}

void simulation::persist_and_apply(sim_node& n, ready rd) {
  const std::string who = "node " + std::to_string(n.id.value());
  // 1. persist
  if (rd.snap) {
    if (auto st = n.disk->apply_snapshot(*rd.snap); !st.ok()) fail(who + ": " + st.err().message);
    if (!n.kv.restore(std::string(rd.snap->data.view()))) fail(who + ": snapshot does not decode");
    n.applied = rd.snap->metadata.index;
    chain_reset(n, rd.snap->metadata.index);
    auto c = committed_.find(rd.snap->metadata.index.value());
    if (c != committed_.end() && c->second.digest != n.kv.digest()) {
      fail(who + ": installed snapshot state differs from the state applied at its index");
    }
    ++stats_.snapshots;
    trace(who + " installs snapshot " + std::to_string(rd.snap->metadata.index.value()));
  }
  if (!rd.entries.empty()) {
    if (auto st = n.disk->append(rd.entries); !st.ok()) fail(who + ": append: " + st.err().message);
    chain_append(n, rd.entries);
  }
  if (rd.hard) {
    if (rd.hard->commit < n.persisted_commit) fail(who + ": persisted commit index decreased");
    n.persisted_commit = rd.hard->commit;
    n.disk->set_hard_state(*rd.hard);
  }
  // 2. send
  for (const auto& m : rd.messages)
    send(m);
  // 3. apply
  for (const auto& e : rd.committed_entries)
    apply_entry(n, e);
  for (const auto& r : rd.read_states) {
    for (auto& [client, op] : outstanding_) {
      if (op.node == n.id && op.read_ctx == r.context) {
        if (r.refused) {
          history_[op.history_index].kind = op_kind::get;  // dropped below
          history_[op.history_index].key.clear();          // mark as never happened
          outstanding_.erase(client);
        } else {
          op.read_index = r.index;
        }
        break;
      }
    }
  }
  n.raft->advance(rd);
  finish_ops(n);
}

void simulation::apply_entry(sim_node& n, const entry& e) {
  const std::string who = "node " + std::to_string(n.id.value());
  if (e.index != n.applied.next()) {
    fail(who + " applied index " + std::to_string(e.index.value()) + " after " +
         std::to_string(n.applied.value()));
  }
  n.applied = e.index;
  ++stats_.applied;
  std::uint64_t client = 0, seq = 0;
  if (e.type == entry_type::conf_change) {
    auto cc = raft::codec::decode_conf_change(e.data.view());
    if (!cc.ok()) {
      fail(who + ": conf change entry does not decode");
      return;
    }
    n.raft->apply_conf_change(*cc);
  } else if (!e.data.empty()) {
    auto cmd = decode_command(std::string(e.data.view()));
    if (!cmd) {
      fail(who + ": command does not decode");
      return;
    }
    const result r = n.kv.apply(*cmd);
    client = cmd->client;
    seq = cmd->seq;
    auto it = outstanding_.find(cmd->client);
    if (it != outstanding_.end() && it->second.node == n.id && it->second.cmd.seq == cmd->seq &&
        cmd->kind != op_kind::get) {
      operation& op = history_[it->second.history_index];
      op.complete = now_;
      op.ok = r.ok;
      ++stats_.ops_ok;
      acked_writes_.insert({cmd->client, cmd->seq});
      trace("ack client " + std::to_string(cmd->client) + " seq " + std::to_string(cmd->seq));
      outstanding_.erase(it);
    }
  }
  // State-machine safety: every node applies the same entry at an index, reaching the same state.
  const std::uint64_t chain = e.index > n.chain_base && e.index - n.chain_base < n.chain.size()
                                  ? n.chain[e.index - n.chain_base]
                                  : 0;
  auto [it, inserted] =
      committed_.emplace(e.index.value(), committed{e.term, chain, n.kv.digest(), client, seq});
  if (!inserted) {
    if (it->second.term != e.term || it->second.chain != chain) {
      fail("state machine safety violated: index " + std::to_string(e.index.value()) +
           " applied with term " + std::to_string(e.term.value()) + " on " + who + ", term " +
           std::to_string(it->second.term.value()) + " elsewhere");
    } else if (it->second.digest != n.kv.digest()) {
      fail("replicas diverged: state after index " + std::to_string(e.index.value()) + " on " +
           who);
    }
  }
  max_committed_ = std::max(max_committed_, e.index.value());
}

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

void simulation::step_time() {
  ++now_;
  // Messages due now, in delivery order.
  while (!net_.empty() && net_.front().at <= now_) {
    std::pop_heap(net_.begin(), net_.end(), std::greater<>());
    message m = std::move(net_.back().m);
    net_.pop_back();
    deliver(std::move(m));
  }
  for (auto& [id, n] : nodes_) {
    if (n.up && (now_ + n.tick_phase) % tick_units == 0) n.raft->tick();
  }
  client_actions();
  random_faults();
  for (auto& [id, n] : nodes_)
    process_ready(n);
  time_out_ops();
  check_all();
}

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

sim_result simulation::run() {
  boot(opt_.nodes);
  trace("boot " + std::to_string(opt_.nodes));
  for (std::uint64_t i = 0; i < opt_.steps && !failure_; ++i)
    step_time();

  // Heal everything and require progress within a bound.
  faults_on_ = false;
  cut_.clear();
  trace("heal all");
  for (auto& [id, n] : nodes_) {
    if (!n.up && !n.retired) start_node(n);
  }
  const std::uint64_t healed_at = now_;
  bool live_ok = false;
  std::uint64_t probe_client = clients_ + 1;
  std::uint64_t probe_seq = 0;
  while (!failure_ && now_ - healed_at < liveness_bound) {
    step_time();
    sim_node* l = leader();
    if (!l) continue;
    if (probe_seq == 0 || !outstanding_.count(probe_client)) {
      if (probe_seq != 0 && acked_writes_.count({probe_client, probe_seq})) {
        live_ok = true;
        break;
      }
      command cmd{
          probe_client, ++probe_seq, op_kind::put, "k0", "probe-" + std::to_string(probe_seq), {}};
      if (l->raft->propose(encode(cmd)).ok()) {
        operation h;
        h.client = probe_client;
        h.kind = op_kind::put;
        h.key = cmd.key;
        h.value = cmd.value;
        h.invoke = now_;
        client_op op;
        op.history_index = history_.size();
        op.cmd = cmd;
        op.node = l->id;
        op.started = now_;
        history_.push_back(h);
        outstanding_.emplace(probe_client, op);
      }
    }
  }
  if (!failure_ && !live_ok && opt_.verbose) {
    for (auto& [id, n] : nodes_) {
      std::printf("node %llu up=%d retired=%d", static_cast<unsigned long long>(id.value()), n.up,
                  n.retired);
      if (n.up) {
        const auto& c = n.raft->core();
        std::printf(" role=%s term=%llu commit=%llu last=%llu voters=",
                    std::string(to_string(c.state())).c_str(),
                    static_cast<unsigned long long>(c.term().value()),
                    static_cast<unsigned long long>(c.log().committed().value()),
                    static_cast<unsigned long long>(c.log().last_index().value()));
        for (auto v : c.members().voters)
          std::printf("%llu,", static_cast<unsigned long long>(v.value()));
      }
      std::printf("\n");
    }
  }
  if (!failure_ && !live_ok) {
    fail("liveness: no leader committed a write within " +
         std::to_string(liveness_bound / tick_units) + " ticks of healing");
  }
  // No new operations; let the outstanding ones finish or time out.
  clients_on_ = false;
  const std::uint64_t drain_start = now_;
  while (!failure_ && !outstanding_.empty() && now_ - drain_start < op_timeout + 10)
    step_time();
  now_ += op_timeout;
  time_out_ops();

  if (!failure_) {
    // No acknowledged write is lost: each is in the committed log.
    std::set<std::pair<std::uint64_t, std::uint64_t>> committed_ops;
    for (const auto& [i, c] : committed_)
      committed_ops.insert({c.client, c.seq});
    for (const auto& w : acked_writes_) {
      if (!committed_ops.count(w)) {
        fail("acknowledged write of client " + std::to_string(w.first) + " seq " +
             std::to_string(w.second) + " is not in the committed log");
        break;
      }
    }
  }
  if (!failure_) {
    std::vector<operation> h;
    for (const auto& op : history_) {
      if (!op.key.empty()) h.push_back(op);
    }
    const check_result lin = check_linearizable(h);
    if (lin.outcome != verdict::linearizable && opt_.verbose) {
      for (const auto& op : h) {
        if (op.key != lin.key) continue;
        std::printf("op client %llu %s value=%s expected=%s read=%s ok=%d known=%d [%llu, %s]\n",
                    static_cast<unsigned long long>(op.client),
                    op.kind == op_kind::get   ? "get"
                    : op.kind == op_kind::put ? "put"
                                              : "cas",
                    op.value.c_str(), op.expected.c_str(), op.read.c_str(), op.ok, op.known,
                    static_cast<unsigned long long>(op.invoke),
                    op.complete == never ? "never" : std::to_string(op.complete).c_str());
      }
    }
    if (lin.outcome == verdict::not_linearizable) {
      fail("history of key " + lin.key + " is not linearizable (" + std::to_string(h.size()) +
           " ops)");
    } else if (lin.outcome == verdict::gave_up) {
      fail("linearizability check gave up on key " + lin.key);
    }
  }
  sim_result out;
  out.ok = !failure_;
  if (failure_) out.failure = *failure_;
  out.trace_hash = trace_hash_;
  out.stats = stats_;
  return out;
}

}  // namespace

sim_result run_simulation(const sim_options& options) {
  simulation s(options);
  return s.run();
}

}  // namespace sundial::sim
