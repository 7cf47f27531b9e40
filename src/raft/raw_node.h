#pragma once
// The core's application interface: inputs (tick, step, propose, propose_conf_change,
// read_index, transfer_leadership) and one output, the ready.
//
// The driver loop (raft_node/ in production, tests/sim in simulation):
//   1. ready rd = node.get_ready();
//   2. persist rd.snap, rd.entries and rd.hard (one durable write);
//   3. send rd.messages;
//   4. apply rd.committed_entries (calling apply_conf_change for conf changes);
//   5. node.advance(rd).
// Persisting before sending is what makes a vote or an acknowledgement a promise. The one
// exception (thesis 10.2.1): when rd.may_send_before_persist, the messages are a leader's
// appends and heartbeats and may be sent before (in parallel with) persisting; the leader's own
// copy counts toward commitment only after advance().

#include <optional>
#include <string>
#include <vector>

#include "base/result.h"
#include "raft/raft.h"

namespace sundial::raft {

struct ready {
  std::optional<soft_state> soft;        // set when leader or role changed
  std::optional<hard_state> hard;        // set when it changed: persist it
  std::vector<read_state> read_states;   // answers to read_index()
  std::vector<entry> entries;            // persist (append, replacing any conflicting suffix)
  std::optional<snapshot> snap;          // persist (replaces the log)
  std::vector<entry> committed_entries;  // apply, in order
  std::vector<message> messages;         // send after persisting
  bool must_sync = false;                // entries or vote/term changed: fsync before sending
  bool may_send_before_persist = false;  // a leader's messages with no term/vote change
};

class raw_node {
 public:
  // Errors: the config is invalid.
  static base::result<raw_node> create(const config& c, const log_storage& storage);

  void tick() { raft_.tick(); }
  // Starts an election now (if this node may campaign).
  base::status campaign();
  base::status propose(std::string data);
  base::status propose_conf_change(const conf_change& cc);
  // A message from another node. Local-only message types are refused.
  base::status step(message m);
  // Asks for a linearizable read point; the answer arrives as a read_state with `context`.
  base::status read_index(std::string context);
  void transfer_leadership(node_id to);
  void report_unreachable(node_id id);
  void report_snapshot(node_id id, bool delivered);
  conf_state apply_conf_change(const conf_change& cc) { return raft_.apply_conf_change(cc); }

  bool has_ready();
  // Takes everything pending; call advance(rd) after handling it.
  ready get_ready();
  void advance(const ready& rd);

  const raft& core() const { return raft_; }

 private:
  raw_node(const config& c, const log_storage& storage);

  raft raft_;
  soft_state prev_soft_;
  hard_state prev_hard_;
};

}  // namespace sundial::raft
