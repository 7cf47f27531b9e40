#pragma once
// The replicated key-value store (a product feature: jobs keep checkpoints in it) and the
// cluster's member address book, as one Raft state machine.
//
// Commands are a one-byte type followed by a protobuf payload (proto/state.proto), as in
// Dkron's FSM; an unknown type is refused and logged, never applied. apply() never reads the
// clock. Keys and members live in the state LMDB (state_db.h) beside the job store, each
// change committed together with the applied index; snapshots are compact copies of it.

#include <optional>
#include <string>
#include <vector>

#include "base/result.h"
#include "raft_node/node.h"
#include "state/job_store.h"
#include "state/state_db.h"

namespace sundial::state {

enum class command_type : std::uint8_t {
  kv_put = 1,
  kv_delete = 2,
  // 3..10: the job store's commands (job_store.h); later ranges: the scheduler's.
};

inline constexpr std::size_t max_key_bytes = 512;
inline constexpr std::size_t max_value_bytes = 64 * 1024;

struct kv_entry {
  std::string value;
  std::uint64_t create_index = 0;
  std::uint64_t modify_index = 0;
};

struct member_info {
  std::uint64_t id = 0;
  std::string name;
  std::string rpc_addr;
  std::string http_addr;
};

// Results of apply(), as text the proposer decodes: "ok <index>", "conflict <index>",
// "missing", or "error <why>".
struct apply_outcome {
  enum class kind { ok, conflict, missing, error } status = kind::ok;
  std::uint64_t index = 0;  // ok: the new modify index; conflict: the current one (0: absent)
  std::string message;
};
apply_outcome parse_outcome(std::string_view text);

// Validates and encodes commands (the proposer's side).
base::result<std::string> encode_put(std::string_view key, std::string_view value,
                                     std::optional<std::uint64_t> cas);
base::result<std::string> encode_delete(std::string_view key, std::optional<std::uint64_t> cas);
// The context a conf change carries: the new member's names and addresses.
std::string encode_member(const member_info& m);
std::optional<member_info> decode_member(std::string_view bytes);
base::status validate_key(std::string_view key);

class kv_state final : public raft_node::state_machine {
 public:
  explicit kv_state(state_db& db) : db_(db) {}
  // Routes the job store's command types to `jobs` (same state_db). Called once, before the
  // node starts.
  void attach(job_store* jobs) { jobs_ = jobs; }

  // raft_node::state_machine (apply thread)
  std::string apply(raft::index_t index, std::string_view command) override;
  // A compact copy of the state LMDB as a file; the payload is a reference to it.
  std::string snapshot() override;
  // A file reference (from snapshot()) or an inline pb::StateImage (the bootstrap image).
  base::status restore(std::string_view image) override;
  std::uint64_t durable_applied_index() const override { return db_.applied(); }
  void apply_membership(raft::index_t index, const raft::conf_change& cc) override;

  // Reads (any thread).
  std::optional<kv_entry> get(const std::string& key) const;
  std::size_t size() const;
  std::vector<member_info> members() const;
  std::optional<member_info> member(std::uint64_t id) const;
  // An image holding only `members`: the bootstrap snapshot every founding server writes.
  static std::string initial_image(const std::vector<member_info>& members);

 private:
  base::status restore_inline(std::string_view image);
  state_db& db_;
  job_store* jobs_ = nullptr;
};

}  // namespace sundial::state
