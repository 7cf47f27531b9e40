// Setup, the driver loop and the end-of-run checks.
#include "sim_internal.h"

namespace sundial::sim::internal {

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

}  // namespace sundial::sim::internal

namespace sundial::sim {

sim_result run_simulation(const sim_options& options) {
  internal::simulation s(options);
  return s.run();
}

}  // namespace sundial::sim
