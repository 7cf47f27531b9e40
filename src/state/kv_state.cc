#include "state/kv_state.h"

#include <cstdlib>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "base/hash.h"
#include "state.pb.h"
#include "storage/byte_order.h"
#include "storage/snapshot_ref.h"

namespace sundial::state {

using base::errc;
using base::fail;

base::status validate_key(std::string_view key) {
  if (key.empty()) return fail(errc::invalid_argument, "the key is empty");
  if (key.size() > max_key_bytes) {
    return fail(errc::too_large,
                fmt::format("the key is {} bytes; the limit is {}", key.size(), max_key_bytes));
  }
  return {};
}

base::result<std::string> encode_put(std::string_view key, std::string_view value,
                                     std::optional<std::uint64_t> cas) {
  if (auto st = validate_key(key); !st) return st.err();
  if (value.size() > max_value_bytes) {
    return fail(errc::too_large, fmt::format("the value is {} bytes; the limit is {}", value.size(),
                                             max_value_bytes));
  }
  pb::KvPut put;
  put.set_key(std::string(key));
  put.set_value(std::string(value));
  if (cas) {
    put.set_has_cas(true);
    put.set_cas(*cas);
  }
  std::string out(1, static_cast<char>(command_type::kv_put));
  out += put.SerializeAsString();
  return out;
}

base::result<std::string> encode_delete(std::string_view key, std::optional<std::uint64_t> cas) {
  if (auto st = validate_key(key); !st) return st.err();
  pb::KvDelete del;
  del.set_key(std::string(key));
  if (cas) {
    del.set_has_cas(true);
    del.set_cas(*cas);
  }
  std::string out(1, static_cast<char>(command_type::kv_delete));
  out += del.SerializeAsString();
  return out;
}

std::string encode_member(const member_info& m) {
  pb::Member pm;
  pm.set_id(m.id);
  pm.set_name(m.name);
  pm.set_rpc_addr(m.rpc_addr);
  pm.set_http_addr(m.http_addr);
  return pm.SerializeAsString();
}

std::optional<member_info> decode_member(std::string_view bytes) {
  pb::Member pm;
  if (!pm.ParseFromArray(bytes.data(), static_cast<int>(bytes.size())) || pm.id() == 0)
    return std::nullopt;
  return member_info{pm.id(), pm.name(), pm.rpc_addr(), pm.http_addr()};
}

apply_outcome parse_outcome(std::string_view text) {
  apply_outcome o;
  auto number = [&](std::size_t from) {
    std::uint64_t v = 0;
    for (std::size_t i = from; i < text.size() && text[i] >= '0' && text[i] <= '9'; ++i)
      v = v * 10 + static_cast<std::uint64_t>(text[i] - '0');
    return v;
  };
  if (text.rfind("ok ", 0) == 0) {
    o.index = number(3);
  } else if (text.rfind("conflict ", 0) == 0) {
    o.status = apply_outcome::kind::conflict;
    o.index = number(9);
  } else if (text == "missing") {
    o.status = apply_outcome::kind::missing;
  } else {
    o.status = apply_outcome::kind::error;
    o.message = std::string(text.substr(text.rfind("error ", 0) == 0 ? 6 : 0));
  }
  return o;
}

namespace {

// LMDB keys are at most 511 bytes; KV keys may be 512. A long key is stored under its first
// 480 bytes plus a 64-bit hash of the whole key, and the record keeps the full key (a lookup
// whose record holds another key reports a collision instead of answering wrongly).
constexpr std::size_t direct_key_bytes = 480;

std::string storage_key(std::string_view key) {
  if (key.size() <= direct_key_bytes) return std::string(key);
  std::string out(key.substr(0, direct_key_bytes));
  storage::put_u64(out, base::fnv1a_64(key));
  return out;
}

std::string member_key(std::uint64_t id) {
  std::string k;
  storage::put_be64(k, id);
  return k;
}

member_info from_pb(const pb::Member& m) {
  return member_info{m.id(), m.name(), m.rpc_addr(), m.http_addr()};
}

}  // namespace

std::string kv_state::apply(raft::index_t index, std::string_view command) {
  if (!command.empty() && jobs_) {
    const auto t = static_cast<std::uint8_t>(command[0]);
    if (t >= first_job_command && t <= last_job_command)
      return jobs_->apply(index.value(), t, command.substr(1));
  }
  if (command.empty()) return "error empty command";
  const auto type = static_cast<command_type>(static_cast<unsigned char>(command[0]));
  const std::string_view body = command.substr(1);
  if (type != command_type::kv_put && type != command_type::kv_delete) {
    // Never applied: a newer server's command reached an older one, or the bytes are bad.
    spdlog::error("state: refusing command of unknown type {} at index {}",
                  static_cast<int>(static_cast<unsigned char>(command[0])), index.value());
    return fmt::format("error unknown command type {}",
                       static_cast<int>(static_cast<unsigned char>(command[0])));
  }
  pb::KvPut put;
  pb::KvDelete del;
  const bool is_put = type == command_type::kv_put;
  if (is_put ? !put.ParseFromArray(body.data(), static_cast<int>(body.size()))
             : !del.ParseFromArray(body.data(), static_cast<int>(body.size()))) {
    return is_put ? "error undecodable kv put" : "error undecodable kv delete";
  }
  const std::string& key = is_put ? put.key() : del.key();
  auto t = txn::write(db_.current());
  if (!t) return "error " + t.err().message;
  const std::string skey = storage_key(key);
  auto cur = t->get(t->env().kv, skey);
  if (!cur) return "error " + cur.err().message;
  pb::KvRecord rec;
  bool exists = false;
  if (*cur) {
    if (!rec.ParseFromArray((*cur)->data(), static_cast<int>((*cur)->size())))
      return "error a stored key does not decode";
    if (rec.key() != key) return "error the key collides with a stored key; choose another";
    exists = true;
  }
  const std::uint64_t current = exists ? rec.modify_index() : 0;
  const bool has_cas = is_put ? put.has_cas() : del.has_cas();
  const std::uint64_t cas = is_put ? put.cas() : del.cas();
  if (has_cas && cas != current) return fmt::format("conflict {}", current);
  if (!is_put && !exists) return "missing";
  base::status st;
  if (is_put) {
    if (!exists) {
      rec.set_key(key);
      rec.set_create_index(index.value());
    }
    rec.set_value(put.value());
    rec.set_modify_index(index.value());
    st = t->put(t->env().kv, skey, rec.SerializeAsString());
  } else {
    st = t->erase(t->env().kv, skey);
  }
  if (st) st = db_.set_applied(*t, index.value());
  if (st) st = t->commit();
  if (!st) return "error " + st.err().message;
  db_.note_applied(index.value());
  return fmt::format("ok {}", index.value());
}

void kv_state::apply_membership(raft::index_t index, const raft::conf_change& cc) {
  auto t = txn::write(db_.current());
  base::status st = t ? base::status{} : base::status{t.err()};
  if (st) {
    if (cc.type == raft::conf_change_type::remove) {
      st = t->erase(t->env().members, member_key(cc.node.value()));
    } else if (auto m = decode_member(cc.context)) {
      st = t->put(t->env().members, member_key(m->id), cc.context);
    }
    // A promotion carries no addresses: the member's record stays as it was.
  }
  if (st) st = db_.set_applied(*t, index.value());
  if (st) st = t->commit();
  if (!st) {
    // The state would silently diverge from the log: stop rather than go on.
    spdlog::critical("state: cannot record the membership change at {}: {}", index.value(),
                     st.err().message);
    std::abort();
  }
  db_.note_applied(index.value());
}

std::string kv_state::snapshot() {
  const std::string path = fmt::format("{}/snapshot-{:016x}.tmp", db_.dir(), db_.applied());
  auto ref = db_.copy_to(path);
  if (!ref) {
    // A snapshot that is not taken would let the log grow; one without the state would lose
    // it at the next compaction. Neither is acceptable: stop.
    spdlog::critical("state: cannot copy the state for a snapshot: {}", ref.err().message);
    std::abort();
  }
  return storage::encode_file_ref(*ref);
}

base::status kv_state::restore(std::string_view image) {
  if (auto ref = storage::decode_file_ref(image)) return db_.install(*ref);
  return restore_inline(image);
}

base::status kv_state::restore_inline(std::string_view image) {
  pb::StateImage img;
  if (!img.ParseFromArray(image.data(), static_cast<int>(image.size())))
    return fail(errc::corruption, "the state snapshot does not decode");
  if (auto st = db_.reset(); !st) return st;
  auto t = txn::write(db_.current());
  if (!t) return t.err();
  for (const auto& r : img.kv()) {
    if (auto st = t->put(t->env().kv, storage_key(r.key()), r.SerializeAsString()); !st) return st;
  }
  for (const auto& m : img.members()) {
    if (auto st = t->put(t->env().members, member_key(m.id()), m.SerializeAsString()); !st)
      return st;
  }
  if (jobs_) {
    if (auto st = jobs_->load_image(*t, img.job_store()); !st) return st;
  }
  if (auto st = db_.set_applied(*t, img.applied()); !st) return st;
  if (auto st = t->commit(); !st) return st;
  db_.note_applied(img.applied());
  return {};
}

std::optional<kv_entry> kv_state::get(const std::string& key) const {
  auto t = txn::read(db_.current());
  if (!t) return std::nullopt;
  auto v = t->get(t->env().kv, storage_key(key));
  if (!v || !*v) return std::nullopt;
  pb::KvRecord rec;
  if (!rec.ParseFromArray((*v)->data(), static_cast<int>((*v)->size())) || rec.key() != key)
    return std::nullopt;
  return kv_entry{rec.value(), rec.create_index(), rec.modify_index()};
}

std::size_t kv_state::size() const {
  auto t = txn::read(db_.current());
  if (!t) return 0;
  MDB_stat st;
  if (mdb_stat(t->get(), t->env().kv, &st) != 0) return 0;
  return st.ms_entries;
}

std::vector<member_info> kv_state::members() const {
  std::vector<member_info> out;
  auto t = txn::read(db_.current());
  if (!t) return out;
  auto c = cursor::open(*t, t->env().members);
  if (!c) return out;
  MDB_val k, v;
  for (int rc = mdb_cursor_get((*c)->c, &k, &v, MDB_FIRST); rc == 0;
       rc = mdb_cursor_get((*c)->c, &k, &v, MDB_NEXT)) {
    pb::Member m;
    if (m.ParseFromArray(v.mv_data, static_cast<int>(v.mv_size))) out.push_back(from_pb(m));
  }
  return out;
}

std::optional<member_info> kv_state::member(std::uint64_t id) const {
  auto t = txn::read(db_.current());
  if (!t) return std::nullopt;
  auto v = t->get(t->env().members, member_key(id));
  if (!v || !*v) return std::nullopt;
  pb::Member m;
  if (!m.ParseFromArray((*v)->data(), static_cast<int>((*v)->size()))) return std::nullopt;
  return from_pb(m);
}

std::string kv_state::initial_image(const std::vector<member_info>& members) {
  pb::StateImage img;
  for (const auto& m : members) {
    auto* pm = img.add_members();
    pm->set_id(m.id);
    pm->set_name(m.name);
    pm->set_rpc_addr(m.rpc_addr);
    pm->set_http_addr(m.http_addr);
  }
  return img.SerializeAsString();
}

}  // namespace sundial::state
