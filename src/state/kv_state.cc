#include "state/kv_state.h"

#include <cstdlib>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "state.pb.h"

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

std::string kv_state::apply(raft::index_t index, std::string_view command) {
  if (!command.empty() && jobs_) {
    const auto t = static_cast<std::uint8_t>(command[0]);
    if (t >= first_job_command && t <= last_job_command) {
      std::string out = jobs_->apply(t, command.substr(1));
      std::lock_guard lock(mu_);
      applied_ = index.value();
      return out;
    }
  }
  std::lock_guard lock(mu_);
  applied_ = index.value();
  if (command.empty()) return "error empty command";
  const auto type = static_cast<command_type>(static_cast<unsigned char>(command[0]));
  const std::string_view body = command.substr(1);
  switch (type) {
    case command_type::kv_put: {
      pb::KvPut put;
      if (!put.ParseFromArray(body.data(), static_cast<int>(body.size())))
        return "error undecodable kv put";
      auto it = kv_.find(put.key());
      const std::uint64_t current = it == kv_.end() ? 0 : it->second.modify_index;
      if (put.has_cas() && put.cas() != current) return fmt::format("conflict {}", current);
      if (it == kv_.end()) {
        kv_.emplace(put.key(), kv_entry{put.value(), index.value(), index.value()});
      } else {
        it->second.value = put.value();
        it->second.modify_index = index.value();
      }
      return fmt::format("ok {}", index.value());
    }
    case command_type::kv_delete: {
      pb::KvDelete del;
      if (!del.ParseFromArray(body.data(), static_cast<int>(body.size())))
        return "error undecodable kv delete";
      auto it = kv_.find(del.key());
      const std::uint64_t current = it == kv_.end() ? 0 : it->second.modify_index;
      if (del.has_cas() && del.cas() != current) return fmt::format("conflict {}", current);
      if (it == kv_.end()) return "missing";
      kv_.erase(it);
      return fmt::format("ok {}", index.value());
    }
  }
  // Never applied: a newer server's command reached an older one, or the bytes are bad.
  spdlog::error("state: refusing command of unknown type {} at index {}",
                static_cast<int>(static_cast<unsigned char>(command[0])), index.value());
  return fmt::format("error unknown command type {}",
                     static_cast<int>(static_cast<unsigned char>(command[0])));
}

std::string kv_state::snapshot() {
  std::lock_guard lock(mu_);
  pb::StateImage img;
  img.set_applied(applied_);
  for (const auto& [k, e] : kv_) {
    auto* r = img.add_kv();
    r->set_key(k);
    r->set_value(e.value);
    r->set_create_index(e.create_index);
    r->set_modify_index(e.modify_index);
  }
  for (const auto& [id, m] : members_) {
    auto* pm = img.add_members();
    pm->set_id(m.id);
    pm->set_name(m.name);
    pm->set_rpc_addr(m.rpc_addr);
    pm->set_http_addr(m.http_addr);
  }
  if (jobs_) {
    if (auto st = jobs_->save(*img.mutable_job_store()); !st) {
      // A snapshot without the jobs would lose them at the next compaction: stop instead.
      spdlog::critical("state: the job store cannot be saved in a snapshot: {}", st.err().message);
      std::abort();
    }
  }
  return img.SerializeAsString();
}

base::status kv_state::restore(std::string_view image) {
  pb::StateImage img;
  if (!img.ParseFromArray(image.data(), static_cast<int>(image.size()))) {
    return fail(errc::corruption, "the state snapshot does not decode");
  }
  std::map<std::string, kv_entry, std::less<>> kv;
  for (const auto& r : img.kv())
    kv.emplace(r.key(), kv_entry{r.value(), r.create_index(), r.modify_index()});
  std::map<std::uint64_t, member_info> members;
  for (const auto& m : img.members())
    members[m.id()] = member_info{m.id(), m.name(), m.rpc_addr(), m.http_addr()};
  if (jobs_) {
    if (auto st = jobs_->restore(img.job_store()); !st) return st;
  }
  std::lock_guard lock(mu_);
  kv_ = std::move(kv);
  members_ = std::move(members);
  applied_ = img.applied();
  return {};
}

std::optional<kv_entry> kv_state::get(const std::string& key) const {
  std::lock_guard lock(mu_);
  auto it = kv_.find(key);
  if (it == kv_.end()) return std::nullopt;
  return it->second;
}

std::size_t kv_state::size() const {
  std::lock_guard lock(mu_);
  return kv_.size();
}

std::vector<member_info> kv_state::members() const {
  std::lock_guard lock(mu_);
  std::vector<member_info> out;
  for (const auto& [id, m] : members_)
    out.push_back(m);
  return out;
}

std::optional<member_info> kv_state::member(std::uint64_t id) const {
  std::lock_guard lock(mu_);
  auto it = members_.find(id);
  if (it == members_.end()) return std::nullopt;
  return it->second;
}

void kv_state::set_member(const member_info& m) {
  std::lock_guard lock(mu_);
  members_[m.id] = m;
}

void kv_state::remove_member(std::uint64_t id) {
  std::lock_guard lock(mu_);
  members_.erase(id);
}

std::string kv_state::initial_image(const std::vector<member_info>& members) {
  kv_state s;
  for (const auto& m : members)
    s.set_member(m);
  return s.snapshot();
}

}  // namespace sundial::state
