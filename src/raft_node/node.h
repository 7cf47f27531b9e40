#pragma once
// The Raft node runtime: drives the pure core (raft/) with real time, durable storage
// (storage/) and a transport, and applies committed entries to a state machine.
//
// Threads: the Raft thread owns the core. Each turn it ticks if due, feeds queued inputs, and
// handles a ready in the only safe order: persist (one fsynced write), then send, then hand
// committed entries to the apply thread, then advance. The apply thread applies them to the
// state machine in order, resolves proposal futures and read waits, and takes snapshots.
// Membership changes are applied to the core on the Raft thread when committed.

#include <chrono>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "base/result.h"
#include "raft/raw_node.h"
#include "storage/raft_storage.h"

namespace sundial::raft_node {

using raft::index_t;
using raft::node_id;
using raft::term_t;

// Sends Raft messages to peers. Must not block: a message to an unreachable peer is dropped and
// reported back through node::report_unreachable (the core then probes that peer gently).
class transport {
 public:
  virtual ~transport() = default;
  virtual void send(std::vector<raft::message> messages) = 0;
};

// The replicated state machine. Called on the apply thread only, in log order.
class state_machine {
 public:
  virtual ~state_machine() = default;
  // Applies one committed command at `index` and returns the result to hand to its proposer.
  virtual std::string apply(index_t index, std::string_view command) = 0;
  // An image of the state after the last applied command.
  virtual std::string snapshot() = 0;
  // Replaces the state with an image taken by snapshot() (possibly on another node).
  virtual base::status restore(std::string_view image) = 0;
  // The last index the state durably reflects when the node starts (0: nothing; the latest
  // snapshot is restored and the log after it replayed). A state machine that keeps its state
  // on disk returns its applied index so that a restart replays only the entries after it.
  virtual std::uint64_t durable_applied_index() const { return 0; }
  // A committed membership change at `index`, in log order with the commands (context without
  // the proposer's tag), so that a durable state can keep the member list consistent with its
  // applied index.
  virtual void apply_membership(index_t /*index*/, const raft::conf_change& /*cc*/) {}
};

enum class outcome {
  committed,   // applied; `result` holds the state machine's answer
  not_leader,  // refused here; `leader` names the leader if known
  dropped,     // refused by the core (e.g. uncommitted log full, transfer in progress)
  timeout,     // no outcome before the deadline: it may still commit later (unknown)
  stopped,     // the node is shutting down
};
std::string_view to_string(outcome o);

struct proposal_result {
  outcome status = outcome::timeout;
  index_t index;        // committed: the entry's index
  node_id leader;       // not_leader: a hint
  std::string result;   // committed: the state machine's answer
  std::string message;  // otherwise: why
};

// Receives a proposal's or read's outcome exactly once, on one of the node's threads while it
// holds an internal lock: it must be quick, must not block and must not call the node (hand
// the work to another thread, e.g. the HTTP server's event loop).
using proposal_callback = std::function<void(proposal_result)>;

struct node_options {
  node_id id;
  // Membership-change observer registered before the node starts (see node::on_conf_change),
  // so that changes replayed from the log at start are not missed.
  std::function<void(const std::optional<raft::conf_change>&, const raft::conf_state&)>
      on_conf_change;
  std::chrono::milliseconds tick{100};  // heartbeat = 1 tick
  int election_ticks = 10;              // election timeout = 10 ticks (1 s by default)
  bool pre_vote = true;
  bool check_quorum = true;
  std::uint64_t snapshot_every = 10000;  // entries applied between snapshots
  std::uint64_t snapshot_retain = 5000;  // entries kept before a snapshot for slow followers
  std::uint64_t max_uncommitted_bytes = 64 << 20;
  std::uint64_t seed = 0;  // randomised timeouts; 0: derive from the clock
  // Optional: called on the apply thread after each command with how long
  // state_machine::apply took (e.g. for a latency histogram). It delays the next apply, so it
  // must be cheap and must not block.
  std::function<void(std::chrono::nanoseconds)> on_apply;
};

struct node_status {
  node_id id;
  node_id leader;
  term_t term;
  raft::role state = raft::role::follower;
  index_t commit;
  index_t applied;
  raft::conf_state members;
  std::map<node_id, index_t> match;  // leader only: how far each member's log matches
};

class node {
 public:
  // Starts the threads. The storage must be bootstrapped, or hold state from an earlier run,
  // or be empty for a server that will be added by the cluster (it learns everything from the
  // leader).
  static base::result<std::unique_ptr<node>> start(const node_options& options,
                                                   storage::raft_storage& storage,
                                                   state_machine& sm, transport& net);
  ~node();
  node(const node&) = delete;
  node& operator=(const node&) = delete;

  // Replicates `command`; the future resolves when it is applied here, refused, or the
  // deadline passes.
  std::future<proposal_result> propose(std::string command, std::chrono::milliseconds timeout);
  std::future<proposal_result> propose_conf_change(const raft::conf_change& cc,
                                                   std::chrono::milliseconds timeout);
  // A linearizable read point: resolves (committed, index) once this node has applied
  // everything committed when the read was confirmed by a quorum (thesis 6.4); the caller then
  // reads its state machine. Refused without a leader that has committed in its term.
  std::future<proposal_result> read_barrier(std::chrono::milliseconds timeout);
  // The same three, answering through a callback instead of a future, so that a caller on an
  // event loop never blocks a thread while it waits.
  void propose(std::string command, std::chrono::milliseconds timeout, proposal_callback done);
  void propose_conf_change(const raft::conf_change& cc, std::chrono::milliseconds timeout,
                           proposal_callback done);
  void read_barrier(std::chrono::milliseconds timeout, proposal_callback done);
  void transfer_leadership(node_id to);

  // Inputs from the transport (thread-safe, non-blocking).
  void step(raft::message m);
  void report_unreachable(node_id peer);
  void report_snapshot(node_id peer, bool delivered);

  // Called (on the Raft thread) whenever the leader or this node's role changes.
  void on_leader_change(std::function<void(const node_status&)> callback);
  // Called (on the Raft thread) for each membership change as it is applied, with the change
  // (its context holds what the proposer attached, e.g. the member's addresses) and the new
  // membership. Also called with the snapshot's membership when one is installed (change
  // absent).
  using conf_callback =
      std::function<void(const std::optional<raft::conf_change>&, const raft::conf_state&)>;
  void on_conf_change(conf_callback callback);

  node_status status() const;
  // Stops the threads; pending futures resolve with outcome::stopped.
  void stop();

  struct impl;

 private:
  explicit node(std::unique_ptr<impl> i);
  std::unique_ptr<impl> impl_;
};

}  // namespace sundial::raft_node
