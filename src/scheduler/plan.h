#pragma once
// The fire plan: every schedulable job and the instant it fires next, ordered by
// (fire_us, job name), so the leader's driver always knows the earliest launch and can pop
// everything due within its lookahead in a stable order (ARCHITECTURE.md, "Firing precision").
//
// Why an indexed binary heap and not a timer wheel: the keys are exact microsecond instants
// spread from "in a second" (`* * * * * *`) to "in years" (@yearly, @at), the driver needs
// exact order including ties by name, and every launch moves its job (set after take_due).
// A hierarchical wheel gives O(1) inserts but coarse buckets that must be sorted when they
// expire, cascades for far-future keys, and tuning of its levels; a heap of 1,000,000 entries
// is 20 levels deep, so a move costs ~20 comparisons of 16-byte entries held in one array
// (measured: 1M inserts with their names in about 0.5 s, non-sanitized), far more than the
// rate at which jobs fire needs. Simplicity and exact order win.
//
// Memory at 1,000,000 jobs with names of up to 15 bytes (std::string keeps them inline):
// 64.4 bytes per job after reserve(), 67.1 when grown by inserts (vector doubling slack), as
// memory_bytes() counts it (plan_test.one_million_entries prints both); the process's RSS
// grew by 64.4 and 73 bytes per job in a non-sanitized build (the grown figure includes the
// allocator's leftovers from regrowth). That is a 16-byte heap entry, a 40-byte slot (the
// name and the heap position) and 4-8 bytes of open-addressing index. Longer names add their
// own allocation (length + 1, rounded up by malloc).
//
// Pure and single-threaded: the caller serialises access.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace sundial::scheduler {

// One job popped from the plan by take_due.
struct due_entry {
  std::string job;
  std::int64_t fire_us = 0;

  friend bool operator==(const due_entry&, const due_entry&) = default;
};

class plan {
 public:
  // Inserts the job, or moves it if it is already planned. O(log n).
  void set(std::string_view job, std::int64_t fire_us);
  // Removes the job; false if it was not planned. O(log n).
  bool remove(std::string_view job);
  // The smallest fire time, or nullopt when the plan is empty. O(1).
  std::optional<std::int64_t> earliest() const;
  // Pops, in (fire_us, name) order, at most `max` entries whose fire_us <= until_us. The
  // popped jobs are no longer planned: the caller sets each one's next slot again.
  std::vector<due_entry> take_due(std::int64_t until_us, std::size_t max);
  // The job's fire time, or nullopt if it is not planned. O(1) expected.
  std::optional<std::int64_t> fire_of(std::string_view job) const;

  std::size_t size() const { return heap_.size(); }
  bool empty() const { return heap_.empty(); }
  void clear();
  // Makes room for n jobs at once (a new leader loading every job) without regrowth slack.
  void reserve(std::size_t n);
  // Bytes held by the plan's containers and out-of-line names (not malloc's own overhead).
  // O(n): it visits every name. For tests and metrics, not for hot paths.
  std::size_t memory_bytes() const;

 private:
  static constexpr std::uint32_t none = 0xffffffffu;

  // Invariant: heap_[p] is never ordered before heap_[(p - 1) / 2] (min-heap on
  // (fire_us, name)), and slots_[heap_[p].slot].heap_pos == p for every p.
  struct heap_entry {
    std::int64_t fire_us;
    std::uint32_t slot;
  };
  // A job's name and where it sits in the heap; heap_pos == none for a free slot (listed in
  // free_, name emptied so it holds no memory).
  struct slot {
    std::string name;
    std::uint32_t heap_pos = none;
  };

  bool before(const heap_entry& a, const heap_entry& b) const;
  void place(std::size_t pos, heap_entry e);
  void sift_up(std::size_t pos);
  void sift_down(std::size_t pos);
  // Removes heap_[pos] and restores the heap order.
  void erase_at(std::size_t pos);

  // The index bucket holding `name`, or the empty bucket where it would go. Precondition:
  // index_ is not empty.
  std::size_t bucket_of(std::string_view name) const;
  std::size_t home_of(std::string_view name) const;
  void index_insert(std::uint32_t slot_id);
  void index_erase(std::size_t bucket);
  void grow_index();
  // The slot of `name`, or none.
  std::uint32_t find(std::string_view name) const;
  // Frees the slot of a job that has left the heap.
  void release(std::uint32_t slot_id);

  std::vector<heap_entry> heap_;
  std::vector<slot> slots_;
  std::vector<std::uint32_t> free_;  // free slot ids, reused before slots_ grows
  // Open addressing with linear probing: slot id + 1, 0 = empty. Invariant: its size is 0 or a
  // power of two, and at most 3/4 of it is used, so probes stay short.
  std::vector<std::uint32_t> index_;
};

}  // namespace sundial::scheduler
