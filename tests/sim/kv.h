#pragma once
// The simulator's replicated state machine: a key-value map with get / put / compare-and-set,
// and client sessions that make a duplicated command harmless (thesis 6.3).

#include <cstdint>
#include <map>
#include <optional>
#include <string>

namespace sundial::sim {

enum class op_kind : std::uint8_t { get, put, cas };

struct command {
  std::uint64_t client = 0;
  std::uint64_t seq = 0;
  op_kind kind = op_kind::put;
  std::string key;
  std::string value;     // put: the value; cas: the new value
  std::string expected;  // cas: the value it must replace
};

std::string encode(const command& c);
std::optional<command> decode_command(const std::string& bytes);

struct result {
  bool ok = true;     // cas: whether it swapped
  std::string value;  // get: the value read
};

class kv_store {
 public:
  // Applies a command; a repeated (client, seq) returns the first outcome and changes nothing.
  result apply(const command& c);
  std::string get(const std::string& key) const;
  std::string serialize() const;
  bool restore(const std::string& bytes);
  // Hash of the whole state, to compare replicas.
  std::uint64_t digest() const;

 private:
  std::map<std::string, std::string> data_;
  struct session {
    std::uint64_t seq = 0;
    result last;
  };
  std::map<std::uint64_t, session> sessions_;
};

}  // namespace sundial::sim
