#include "linearizability.h"

#include <algorithm>
#include <map>
#include <unordered_set>

namespace sundial::sim {
namespace {

// A single register: the state is the key's value.
bool step_model(const operation& op, const std::string& state, std::string& next) {
  switch (op.kind) {
    case op_kind::get:
      next = state;
      return !op.known || op.read == state;
    case op_kind::put:
      next = op.value;
      return true;
    case op_kind::cas: {
      const bool swaps = state == op.expected;
      next = swaps ? op.value : state;
      return !op.known || op.ok == swaps;
    }
  }
  return false;
}

struct event {
  bool is_call;
  std::size_t op;
  std::uint64_t time;
};

class searcher {
 public:
  searcher(const std::vector<const operation*>& ops, std::size_t budget)
      : ops_(ops), budget_(budget) {}

  verdict run(std::size_t& explored) {
    // Events ordered by time; calls before returns at the same time (they overlap).
    std::vector<event> events;
    for (std::size_t i = 0; i < ops_.size(); ++i) {
      events.push_back({true, i, ops_[i]->invoke});
      events.push_back({false, i, ops_[i]->complete});
    }
    std::stable_sort(events.begin(), events.end(), [](const event& a, const event& b) {
      if (a.time != b.time) return a.time < b.time;
      return a.is_call && !b.is_call;
    });
    // Doubly linked list over events.
    const std::size_t n = events.size();
    prev_.assign(n + 1, 0);
    next_.assign(n + 1, 0);
    const std::size_t head = n;  // sentinel
    std::size_t last = head;
    for (std::size_t i = 0; i < n; ++i) {
      next_[last] = i;
      prev_[i] = last;
      last = i;
    }
    next_[last] = head;
    prev_[head] = last;
    ret_of_.assign(ops_.size(), 0);
    call_of_.assign(ops_.size(), 0);
    for (std::size_t i = 0; i < n; ++i) {
      (events[i].is_call ? call_of_ : ret_of_)[events[i].op] = i;
    }
    events_ = std::move(events);

    std::vector<std::uint64_t> linearized((ops_.size() + 63) / 64, 0);
    std::string state;
    struct frame {
      std::size_t entry;
      std::string state;
    };
    std::vector<frame> stack;
    std::size_t cur = next_[head];
    while (next_[head] != head) {
      if (++explored > budget_) return verdict::gave_up;
      const event& e = events_[cur];
      if (e.is_call) {
        std::string next_state;
        bool advanced = false;
        if (step_model(*ops_[e.op], state, next_state)) {
          set(linearized, e.op);
          if (cache_insert(linearized, next_state)) {
            stack.push_back({cur, state});
            state = std::move(next_state);
            lift(e.op);
            cur = next_[head];
            advanced = true;
          } else {
            clear(linearized, e.op);
          }
        }
        if (!advanced) cur = next_[cur];
      } else {
        // A return whose call is not linearized yet: backtrack.
        if (stack.empty()) return verdict::not_linearizable;
        frame f = std::move(stack.back());
        stack.pop_back();
        const std::size_t op = events_[f.entry].op;
        state = std::move(f.state);
        clear(linearized, op);
        unlift(op);
        cur = next_[f.entry];
      }
    }
    return verdict::linearizable;
  }

 private:
  static void set(std::vector<std::uint64_t>& b, std::size_t i) { b[i / 64] |= 1ull << (i % 64); }
  static void clear(std::vector<std::uint64_t>& b, std::size_t i) {
    b[i / 64] &= ~(1ull << (i % 64));
  }

  bool cache_insert(const std::vector<std::uint64_t>& lin, const std::string& state) {
    std::string key(reinterpret_cast<const char*>(lin.data()), lin.size() * 8);
    key += '|';
    key += state;
    return cache_.insert(std::move(key)).second;
  }

  void lift(std::size_t op) {
    for (std::size_t e : {call_of_[op], ret_of_[op]}) {
      next_[prev_[e]] = next_[e];
      prev_[next_[e]] = prev_[e];
    }
  }
  void unlift(std::size_t op) {
    for (std::size_t e : {ret_of_[op], call_of_[op]}) {
      next_[prev_[e]] = e;
      prev_[next_[e]] = e;
    }
  }

  const std::vector<const operation*>& ops_;
  std::size_t budget_;
  std::vector<event> events_;
  std::vector<std::size_t> prev_, next_, call_of_, ret_of_;
  std::unordered_set<std::string> cache_;
};

}  // namespace

check_result check_linearizable(const std::vector<operation>& history, std::size_t budget) {
  std::map<std::string, std::vector<const operation*>> by_key;
  for (const auto& op : history)
    by_key[op.key].push_back(&op);
  check_result out;
  for (const auto& [key, ops] : by_key) {
    searcher s(ops, budget);
    std::size_t explored = 0;
    const verdict v = s.run(explored);
    out.explored += explored;
    if (v != verdict::linearizable) {
      out.outcome = v;
      out.key = key;
      return out;
    }
  }
  return out;
}

}  // namespace sundial::sim
