#include "kv.h"

#include <sstream>
#include <vector>

namespace sundial::sim {
namespace {

// Length-prefixed fields: "<len>:<bytes>" repeated.
void put_field(std::string& out, const std::string& s) {
  out += std::to_string(s.size());
  out += ':';
  out += s;
}

bool get_field(const std::string& in, std::size_t& pos, std::string& out) {
  const auto colon = in.find(':', pos);
  if (colon == std::string::npos || colon == pos || colon - pos > 9) return false;
  std::size_t n = 0;
  for (std::size_t i = pos; i < colon; ++i) {
    if (in[i] < '0' || in[i] > '9') return false;
    n = n * 10 + static_cast<std::size_t>(in[i] - '0');
  }
  if (colon + 1 + n > in.size()) return false;
  out = in.substr(colon + 1, n);
  pos = colon + 1 + n;
  return true;
}

std::uint64_t fnv(std::uint64_t h, const std::string& s) {
  for (unsigned char c : s) {
    h ^= c;
    h *= 0x100000001b3ull;
  }
  return h;
}

}  // namespace

std::string encode(const command& c) {
  std::string out;
  put_field(out, std::to_string(c.client));
  put_field(out, std::to_string(c.seq));
  put_field(out, std::to_string(static_cast<int>(c.kind)));
  put_field(out, c.key);
  put_field(out, c.value);
  put_field(out, c.expected);
  return out;
}

std::optional<command> decode_command(const std::string& bytes) {
  std::size_t pos = 0;
  std::string f[6];
  for (auto& s : f) {
    if (!get_field(bytes, pos, s)) return std::nullopt;
  }
  if (pos != bytes.size()) return std::nullopt;
  command c;
  c.client = std::stoull(f[0]);
  c.seq = std::stoull(f[1]);
  const int k = std::stoi(f[2]);
  if (k < 0 || k > 2) return std::nullopt;
  c.kind = static_cast<op_kind>(k);
  c.key = f[3];
  c.value = f[4];
  c.expected = f[5];
  return c;
}

result kv_store::apply(const command& c) {
  auto& s = sessions_[c.client];
  if (c.seq <= s.seq) return s.last;  // duplicate delivery of a command already applied
  result r;
  switch (c.kind) {
    case op_kind::get:
      r.value = get(c.key);
      break;
    case op_kind::put:
      data_[c.key] = c.value;
      break;
    case op_kind::cas:
      r.ok = get(c.key) == c.expected;
      if (r.ok) data_[c.key] = c.value;
      break;
  }
  s.seq = c.seq;
  s.last = r;
  return r;
}

std::string kv_store::get(const std::string& key) const {
  auto it = data_.find(key);
  return it == data_.end() ? std::string() : it->second;
}

std::string kv_store::serialize() const {
  std::string out;
  put_field(out, std::to_string(data_.size()));
  for (const auto& [k, v] : data_) {
    put_field(out, k);
    put_field(out, v);
  }
  put_field(out, std::to_string(sessions_.size()));
  for (const auto& [c, s] : sessions_) {
    put_field(out, std::to_string(c));
    put_field(out, std::to_string(s.seq));
    put_field(out, s.last.ok ? "1" : "0");
    put_field(out, s.last.value);
  }
  return out;
}

bool kv_store::restore(const std::string& bytes) {
  if (bytes.empty()) {
    data_.clear();
    sessions_.clear();
    return true;
  }
  std::size_t pos = 0;
  std::string f;
  std::map<std::string, std::string> data;
  std::map<std::uint64_t, session> sessions;
  if (!get_field(bytes, pos, f)) return false;
  for (std::size_t n = std::stoull(f); n > 0; --n) {
    std::string k, v;
    if (!get_field(bytes, pos, k) || !get_field(bytes, pos, v)) return false;
    data[k] = v;
  }
  if (!get_field(bytes, pos, f)) return false;
  for (std::size_t n = std::stoull(f); n > 0; --n) {
    std::string c, seq, ok, value;
    if (!get_field(bytes, pos, c) || !get_field(bytes, pos, seq) || !get_field(bytes, pos, ok) ||
        !get_field(bytes, pos, value)) {
      return false;
    }
    sessions[std::stoull(c)] = session{std::stoull(seq), result{ok == "1", value}};
  }
  data_ = std::move(data);
  sessions_ = std::move(sessions);
  return true;
}

std::uint64_t kv_store::digest() const {
  std::uint64_t h = 0xcbf29ce484222325ull;
  for (const auto& [k, v] : data_)
    h = fnv(fnv(h, k), v);
  for (const auto& [c, s] : sessions_)
    h = fnv(h, std::to_string(c) + "/" + std::to_string(s.seq));
  return h;
}

}  // namespace sundial::sim
