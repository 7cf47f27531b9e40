#include "raft_node/node.h"

#include <spdlog/spdlog.h>

#include <atomic>
#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <random>
#include <thread>

#include "raft/codec.h"
#include "storage/byte_order.h"

namespace sundial::raft_node {

using clock = std::chrono::steady_clock;

std::string_view to_string(outcome o) {
  switch (o) {
    case outcome::committed:
      return "committed";
    case outcome::not_leader:
      return "not_leader";
    case outcome::dropped:
      return "dropped";
    case outcome::timeout:
      return "timeout";
    case outcome::stopped:
      return "stopped";
  }
  return "unknown";
}

namespace {

// Every command this node proposes is wrapped: 'P', the proposer's tag (8 bytes, random per
// node start), an 8-byte proposal id, the command; a conf change's context starts with the
// same 16 bytes. The proposer recognises its own entries by the tag: ids alone repeat across
// nodes and across restarts of one node, and an entry proposed elsewhere (or before a restart)
// must never answer a waiting proposal.
constexpr char command_tag = 'P';
constexpr std::size_t proposal_header = 16;

std::string proposal_tag(std::uint64_t proposer, std::uint64_t id) {
  std::string out;
  storage::put_u64(out, proposer);
  storage::put_u64(out, id);
  return out;
}

std::string wrap(std::uint64_t proposer, std::uint64_t id, std::string_view command) {
  std::string out;
  out.reserve(1 + proposal_header + command.size());
  out.push_back(command_tag);
  out += proposal_tag(proposer, id);
  out.append(command);
  return out;
}

// Splits a wrapped command; false for anything else (e.g. a leader's empty entry).
bool unwrap(std::string_view data, std::uint64_t& proposer, std::uint64_t& id,
            std::string_view& command) {
  if (data.size() < 1 + proposal_header || data[0] != command_tag) return false;
  proposer = storage::get_u64(data, 1);
  id = storage::get_u64(data, 9);
  command = data.substr(1 + proposal_header);
  return true;
}

std::uint64_t random_proposer_tag() {
  std::random_device rd;
  std::uint64_t v = 0;
  while (v == 0)
    v = (std::uint64_t{rd()} << 32) ^ rd() ^
        static_cast<std::uint64_t>(clock::now().time_since_epoch().count());
  return v;
}

struct apply_job {
  std::optional<raft::snapshot> restore;
  std::vector<raft::entry> entries;
  raft::conf_state conf;  // membership as of the last entry
};

struct waiter {
  proposal_callback done;  // called once, under wait_mu, on the Raft or apply thread
  clock::time_point deadline;
  std::optional<index_t> read_index;  // reads: set once the leader confirmed it
};

}  // namespace

struct node::impl {
  node_options opt;
  storage::raft_storage& storage;
  state_machine& sm;
  transport& net;
  std::unique_ptr<raft::raw_node> rn;

  // Inputs for the Raft thread.
  std::mutex in_mu;
  std::condition_variable in_cv;
  std::deque<std::function<void()>> inbox;
  bool stopping = false;

  // Proposals and reads waiting for an outcome (Raft thread and apply thread).
  std::mutex wait_mu;
  std::map<std::uint64_t, waiter> proposals;
  std::map<std::string, waiter> reads;
  std::atomic<std::uint64_t> next_id{1};
  const std::uint64_t proposer_tag = random_proposer_tag();  // see wrap()

  // Work for the apply thread.
  std::mutex apply_mu;
  std::condition_variable apply_cv;
  std::deque<apply_job> jobs;
  std::atomic<std::uint64_t> applied{0};
  std::uint64_t last_snapshot = 0;

  mutable std::mutex status_mu;
  node_status status;
  std::vector<std::function<void(const node_status&)>> leader_callbacks;
  std::vector<node::conf_callback> conf_callbacks;
  raft::conf_state conf;  // Raft thread

  std::thread raft_thread;
  std::thread apply_thread;
  std::atomic<bool> failed{false};

  impl(const node_options& o, storage::raft_storage& s, state_machine& m, transport& t)
      : opt(o), storage(s), sm(m), net(t) {}

  void post(std::function<void()> fn) {
    {
      std::lock_guard lock(in_mu);
      if (stopping) return;
      inbox.push_back(std::move(fn));
    }
    in_cv.notify_one();
  }

  void resolve(waiter& w, proposal_result r) { w.done(std::move(r)); }

  proposal_result refusal(const base::error& e) {
    proposal_result r;
    const node_id leader = rn->core().leader();
    if (e.code == base::errc::unavailable && leader != rn->core().id() &&
        e.message.find("no leader") != std::string::npos) {
      r.status = outcome::not_leader;
    } else if (e.code == base::errc::unavailable &&
               e.message.find("not the leader") != std::string::npos) {
      r.status = outcome::not_leader;
    } else {
      r.status = outcome::dropped;
    }
    r.leader = leader;
    r.message = e.message;
    return r;
  }

  // Registers a proposal waiting for its outcome; returns its id.
  std::uint64_t add_proposal(std::chrono::milliseconds timeout, proposal_callback done) {
    const std::uint64_t id = next_id++;
    std::lock_guard lock(wait_mu);
    auto& w = proposals[id];
    w.deadline = clock::now() + timeout;
    w.done = std::move(done);
    return id;
  }

  void fail_waiter(std::uint64_t id, const base::error& e) {
    std::lock_guard lock(wait_mu);
    auto it = proposals.find(id);
    if (it == proposals.end()) return;
    resolve(it->second, refusal(e));
    proposals.erase(it);
  }

  // Resolves every waiter in `waiters` whose deadline has passed with a timeout.
  template <class Map>
  void expire_in(Map& waiters, clock::time_point now, const char* why) {
    for (auto it = waiters.begin(); it != waiters.end();) {
      if (it->second.deadline > now) {
        ++it;
        continue;
      }
      resolve(it->second, proposal_result{outcome::timeout, {}, rn->core().leader(), {}, why});
      it = waiters.erase(it);
    }
  }

  void expire() {
    const auto now = clock::now();
    std::lock_guard lock(wait_mu);
    expire_in(proposals, now, "no outcome before the deadline; it may still commit");
    expire_in(reads, now, "the read was not confirmed before the deadline");
  }

  void publish_status(const std::optional<raft::soft_state>& soft) {
    node_status s;
    {
      std::lock_guard lock(status_mu);
      const auto& core = rn->core();
      status.id = core.id();
      status.leader = core.leader();
      status.term = core.term();
      status.state = core.state();
      status.commit = core.log().committed();
      status.applied = index_t{applied.load()};
      status.members = conf;
      status.match.clear();
      if (core.state() == raft::role::leader) {
        for (const auto& [id, pr] : core.progresses())
          status.match[id] = pr.match;
      }
      s = status;
    }
    if (soft) {
      for (auto& cb : leader_callbacks)
        cb(s);
    }
  }

  void handle_ready() {
    while (rn->has_ready()) {
      raft::ready rd = rn->get_ready();
      // 0. A leader's appends may go out while its own disk writes them (thesis 10.2.1):
      // the round trip to followers overlaps the local fsync.
      if (rd.may_send_before_persist && !rd.messages.empty()) net.send(std::move(rd.messages));
      // 1. Persist: one durable write. A node that cannot persist must not go on.
      if (auto st = storage.save(rd.hard, rd.entries, rd.snap); !st) {
        spdlog::critical("raft: cannot persist ({}); stopping this node", st.err().message);
        failed = true;
        std::lock_guard lock(in_mu);
        stopping = true;
        return;
      }
      // 2. Send.
      if (!rd.messages.empty()) net.send(std::move(rd.messages));
      // 3. Apply: membership now (the core must know it), commands on the apply thread.
      apply_job job;
      if (rd.snap) {
        // As stored: a file reference now names the file in the snapshot directory.
        auto stored = storage.get_snapshot();
        job.restore = stored && stored->metadata == rd.snap->metadata ? *stored : *rd.snap;
        conf = rd.snap->metadata.conf;
        for (auto& cb : conf_callbacks)
          cb(std::nullopt, conf);
      }
      for (const auto& e : rd.committed_entries) {
        if (e.type != raft::entry_type::conf_change) continue;
        auto cc = raft::codec::decode_conf_change(e.data.view());
        if (!cc) continue;
        conf = rn->apply_conf_change(*cc);
        // The proposer's 8-byte id prefix is ours; callbacks see the caller's context.
        raft::conf_change visible = *cc;
        if (visible.context.size() >= proposal_header) visible.context.erase(0, proposal_header);
        for (auto& cb : conf_callbacks)
          cb(visible, conf);
      }
      job.entries = rd.committed_entries;  // a copy: advance(rd) needs the list
      job.conf = conf;
      for (auto& r : rd.read_states) {
        std::lock_guard lock(wait_mu);
        auto it = reads.find(r.context);
        if (it == reads.end()) continue;
        if (r.refused) {
          resolve(it->second, proposal_result{outcome::not_leader,
                                              {},
                                              rn->core().leader(),
                                              {},
                                              "no leader could confirm this read"});
          reads.erase(it);
        } else {
          it->second.read_index = r.index;
        }
      }
      if (job.restore || !job.entries.empty() || !rd.read_states.empty()) {
        {
          std::lock_guard lock(apply_mu);
          jobs.push_back(std::move(job));
        }
        apply_cv.notify_one();
      }
      rn->advance(rd);
      publish_status(rd.soft);
    }
  }

  void raft_loop() {
    auto next_tick = clock::now() + opt.tick;
    while (true) {
      std::deque<std::function<void()>> work;
      {
        std::unique_lock lock(in_mu);
        in_cv.wait_until(lock, next_tick, [&] { return stopping || !inbox.empty(); });
        if (stopping) break;
        work.swap(inbox);
      }
      for (auto& fn : work)
        fn();
      const auto now = clock::now();
      if (now >= next_tick) {
        rn->tick();
        next_tick += opt.tick;
        if (next_tick < now) next_tick = now + opt.tick;  // fell behind: do not burst ticks
        expire();
      }
      handle_ready();
      publish_status(std::nullopt);
    }
  }

  void finish_reads() {
    const std::uint64_t a = applied.load();
    std::lock_guard lock(wait_mu);
    for (auto it = reads.begin(); it != reads.end();) {
      if (it->second.read_index && it->second.read_index->value() <= a) {
        resolve(it->second,
                proposal_result{outcome::committed, *it->second.read_index, {}, {}, {}});
        it = reads.erase(it);
      } else {
        ++it;
      }
    }
  }

  void apply_loop() {
    while (true) {
      apply_job job;
      {
        std::unique_lock lock(apply_mu);
        apply_cv.wait(lock, [&] { return !jobs.empty() || stopping_apply; });
        if (jobs.empty()) return;
        job = std::move(jobs.front());
        jobs.pop_front();
      }
      if (job.restore) {
        if (auto st = sm.restore(job.restore->data.view()); !st) {
          spdlog::critical("raft: cannot restore the snapshot at {}: {}",
                           job.restore->metadata.index.value(), st.err().message);
        }
        applied = job.restore->metadata.index.value();
        last_snapshot = applied;
      }
      for (const auto& e : job.entries) {
        if (e.index.value() <= applied.load()) continue;  // covered by a restored snapshot
        std::uint64_t proposer = 0;
        std::uint64_t id = 0;
        std::string_view command;
        std::string result;
        if (e.type == raft::entry_type::normal && unwrap(e.data.view(), proposer, id, command)) {
          const auto began = clock::now();
          result = sm.apply(e.index, command);
          if (opt.on_apply) opt.on_apply(clock::now() - began);
        } else if (e.type == raft::entry_type::conf_change) {
          if (auto cc = raft::codec::decode_conf_change(e.data.view())) {
            if (cc->context.size() >= proposal_header) {
              proposer = storage::get_u64(cc->context, 0);
              id = storage::get_u64(cc->context, 8);
              cc->context.erase(0, proposal_header);
            }
            sm.apply_membership(e.index, *cc);
          }
        }
        const bool mine = proposer != 0 && proposer == proposer_tag;
        applied = e.index.value();
        if (mine) {
          std::lock_guard lock(wait_mu);
          auto it = proposals.find(id);
          if (it != proposals.end()) {
            resolve(it->second,
                    proposal_result{outcome::committed, e.index, {}, std::move(result), {}});
            proposals.erase(it);
          }
        }
      }
      finish_reads();
      // Snapshot and compact once enough has been applied since the last one.
      if (opt.snapshot_every > 0 && applied.load() >= last_snapshot + opt.snapshot_every) {
        const std::uint64_t at = applied.load();
        if (auto st = storage.create_snapshot(index_t{at}, job.conf, raft::payload(sm.snapshot()),
                                              opt.snapshot_retain);
            st) {
          last_snapshot = at;
        } else {
          spdlog::warn("raft: snapshot at {} failed: {}", at, st.err().message);
          last_snapshot = at;  // try again after another snapshot_every entries
        }
      }
    }
  }
  bool stopping_apply = false;
};

node::node(std::unique_ptr<impl> i) : impl_(std::move(i)) {}

node::~node() {
  stop();
}

base::result<std::unique_ptr<node>> node::start(const node_options& options,
                                                storage::raft_storage& storage, state_machine& sm,
                                                transport& net) {
  auto im = std::make_unique<impl>(options, storage, sm, net);
  auto snap = storage.get_snapshot();
  if (!snap) return snap.err();
  // A durable state machine may already reflect entries past the snapshot: start applying
  // after them instead of restoring and replaying (it can never be past the commit index,
  // which is persisted before entries are handed to apply).
  const raft::hard_state hs = storage.initial_hard_state();
  index_t applied = snap->metadata.index;
  const index_t durable{sm.durable_applied_index()};
  if (durable > hs.commit) {
    return base::fail(base::errc::corruption,
                      fmt::format("the state machine has applied index {} but the log commits "
                                  "only through {}: the state does not belong to this log",
                                  durable.value(), hs.commit.value()));
  }
  if (durable > applied) {
    applied = durable;
  } else if (!snap->data.empty()) {
    if (auto st = sm.restore(snap->data.view()); !st) return st.err();
  }
  spdlog::info(
      "raft: starting with the state applied through {} (snapshot at {}); replaying "
      "{} committed entries",
      applied.value(), snap->metadata.index.value(),
      hs.commit > applied ? hs.commit.value() - applied.value() : 0);
  raft::config c;
  c.id = options.id;
  c.election_tick = options.election_ticks;
  c.heartbeat_tick = 1;
  c.pre_vote = options.pre_vote;
  c.check_quorum = options.check_quorum;
  c.max_uncommitted_entries_size = options.max_uncommitted_bytes;
  c.applied = applied;
  c.seed = options.seed != 0 ? options.seed
                             : static_cast<std::uint64_t>(clock::now().time_since_epoch().count());
  auto rn = raft::raw_node::create(c, storage);
  if (!rn) return rn.err();
  im->rn = std::make_unique<raft::raw_node>(std::move(rn).value());
  im->applied = applied.value();
  im->last_snapshot = applied.value();
  im->conf = snap->metadata.conf;
  if (options.on_conf_change) im->conf_callbacks.push_back(options.on_conf_change);
  // Membership changes between the snapshot and the durable applied index are not handed out
  // again: apply them to the core (and tell the observers) from the log now.
  if (applied > snap->metadata.index) {
    auto es = storage.entries(snap->metadata.index.next(), applied.next(), ~0ull);
    if (!es) return es.err();
    for (const auto& e : *es) {
      if (e.type != raft::entry_type::conf_change) continue;
      auto cc = raft::codec::decode_conf_change(e.data.view());
      if (!cc) continue;
      im->conf = im->rn->apply_conf_change(*cc);
      if (cc->context.size() >= proposal_header) cc->context.erase(0, proposal_header);
      for (auto& cb : im->conf_callbacks)
        cb(*cc, im->conf);
    }
  }
  im->publish_status(std::nullopt);
  auto* p = im.get();
  im->apply_thread = std::thread([p] { p->apply_loop(); });
  im->raft_thread = std::thread([p] { p->raft_loop(); });
  return std::unique_ptr<node>(new node(std::move(im)));
}

namespace {
// A callback that fulfils a promise: the future-returning calls are the callback ones.
std::pair<proposal_callback, std::future<proposal_result>> promised() {
  auto p = std::make_shared<std::promise<proposal_result>>();
  auto f = p->get_future();
  return {[p](proposal_result r) { p->set_value(std::move(r)); }, std::move(f)};
}
}  // namespace

void node::propose(std::string command, std::chrono::milliseconds timeout, proposal_callback done) {
  const auto id = impl_->add_proposal(timeout, std::move(done));
  impl_->post([im = impl_.get(), id, data = wrap(impl_->proposer_tag, id, command)]() mutable {
    if (auto st = im->rn->propose(std::move(data)); !st) im->fail_waiter(id, st.err());
  });
}

void node::propose_conf_change(const raft::conf_change& cc, std::chrono::milliseconds timeout,
                               proposal_callback done) {
  const auto id = impl_->add_proposal(timeout, std::move(done));
  raft::conf_change tagged = cc;
  tagged.context = proposal_tag(impl_->proposer_tag, id) + cc.context;
  impl_->post([im = impl_.get(), id, tagged] {
    if (auto st = im->rn->propose_conf_change(tagged); !st) im->fail_waiter(id, st.err());
  });
}

void node::read_barrier(std::chrono::milliseconds timeout, proposal_callback done) {
  // Unique across nodes too: a leader tracks its own and forwarded reads by this context.
  const std::string ctx = fmt::format("read-{:x}-{}", impl_->proposer_tag, impl_->next_id++);
  {
    std::lock_guard lock(impl_->wait_mu);
    auto& w = impl_->reads[ctx];
    w.deadline = clock::now() + timeout;
    w.done = std::move(done);
  }
  impl_->post([im = impl_.get(), ctx] {
    if (auto st = im->rn->read_index(ctx); !st) {
      std::lock_guard lock(im->wait_mu);
      auto it = im->reads.find(ctx);
      if (it != im->reads.end()) {
        im->resolve(it->second, im->refusal(st.err()));
        im->reads.erase(it);
      }
    }
  });
}

std::future<proposal_result> node::propose(std::string command, std::chrono::milliseconds timeout) {
  auto [done, f] = promised();
  propose(std::move(command), timeout, std::move(done));
  return std::move(f);
}

std::future<proposal_result> node::propose_conf_change(const raft::conf_change& cc,
                                                       std::chrono::milliseconds timeout) {
  auto [done, f] = promised();
  propose_conf_change(cc, timeout, std::move(done));
  return std::move(f);
}

std::future<proposal_result> node::read_barrier(std::chrono::milliseconds timeout) {
  auto [done, f] = promised();
  read_barrier(timeout, std::move(done));
  return std::move(f);
}

void node::transfer_leadership(node_id to) {
  impl_->post([im = impl_.get(), to] { im->rn->transfer_leadership(to); });
}

void node::step(raft::message m) {
  impl_->post([im = impl_.get(), m = std::move(m)]() mutable { (void)im->rn->step(std::move(m)); });
}

void node::report_unreachable(node_id peer) {
  impl_->post([im = impl_.get(), peer] { im->rn->report_unreachable(peer); });
}

void node::report_snapshot(node_id peer, bool delivered) {
  impl_->post([im = impl_.get(), peer, delivered] { im->rn->report_snapshot(peer, delivered); });
}

void node::on_leader_change(std::function<void(const node_status&)> callback) {
  impl_->post([im = impl_.get(), cb = std::move(callback)]() mutable {
    im->leader_callbacks.push_back(std::move(cb));
  });
}

void node::on_conf_change(conf_callback callback) {
  impl_->post([im = impl_.get(), cb = std::move(callback)]() mutable {
    im->conf_callbacks.push_back(std::move(cb));
  });
}

node_status node::status() const {
  std::lock_guard lock(impl_->status_mu);
  node_status s = impl_->status;
  s.applied = index_t{impl_->applied.load()};
  return s;
}

void node::stop() {
  if (!impl_) return;
  {
    std::lock_guard lock(impl_->in_mu);
    impl_->stopping = true;
  }
  impl_->in_cv.notify_all();
  if (impl_->raft_thread.joinable()) impl_->raft_thread.join();
  {
    std::lock_guard lock(impl_->apply_mu);
    impl_->stopping_apply = true;
  }
  impl_->apply_cv.notify_all();
  if (impl_->apply_thread.joinable()) impl_->apply_thread.join();
  std::lock_guard lock(impl_->wait_mu);
  for (auto& [id, w] : impl_->proposals) {
    impl_->resolve(w, proposal_result{outcome::stopped, {}, {}, {}, "the node is stopping"});
  }
  impl_->proposals.clear();
  for (auto& [ctx, w] : impl_->reads) {
    impl_->resolve(w, proposal_result{outcome::stopped, {}, {}, {}, "the node is stopping"});
  }
  impl_->reads.clear();
}

}  // namespace sundial::raft_node
