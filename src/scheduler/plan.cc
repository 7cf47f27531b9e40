#include "scheduler/plan.h"

#include "base/assert.h"
#include "base/hash.h"
#include "scheduler/bits.h"

namespace sundial::scheduler {

bool plan::before(const heap_entry& a, const heap_entry& b) const {
  if (a.fire_us != b.fire_us) return a.fire_us < b.fire_us;
  return slots_[a.slot].name < slots_[b.slot].name;
}

void plan::place(std::size_t pos, heap_entry e) {
  heap_[pos] = e;
  slots_[e.slot].heap_pos = static_cast<std::uint32_t>(pos);
}

void plan::sift_up(std::size_t pos) {
  const heap_entry e = heap_[pos];
  while (pos > 0) {
    const std::size_t parent = (pos - 1) / 2;
    if (!before(e, heap_[parent])) break;
    place(pos, heap_[parent]);
    pos = parent;
  }
  place(pos, e);
}

void plan::sift_down(std::size_t pos) {
  const heap_entry e = heap_[pos];
  const std::size_t n = heap_.size();
  for (;;) {
    std::size_t child = 2 * pos + 1;
    if (child >= n) break;
    if (child + 1 < n && before(heap_[child + 1], heap_[child])) ++child;
    if (!before(heap_[child], e)) break;
    place(pos, heap_[child]);
    pos = child;
  }
  place(pos, e);
}

void plan::erase_at(std::size_t pos) {
  const std::size_t last = heap_.size() - 1;
  if (pos == last) {
    heap_.pop_back();
    return;
  }
  place(pos, heap_[last]);
  heap_.pop_back();
  // The entry moved in from the end may belong above or below its new place.
  if (pos > 0 && before(heap_[pos], heap_[(pos - 1) / 2])) {
    sift_up(pos);
  } else {
    sift_down(pos);
  }
}

std::size_t plan::home_of(std::string_view name) const {
  // FNV-1a's low bits are weak for a power-of-two table; SplitMix64 spreads them.
  return static_cast<std::size_t>(detail::splitmix64(base::fnv1a_64(name))) & (index_.size() - 1);
}

std::size_t plan::bucket_of(std::string_view name) const {
  const std::size_t mask = index_.size() - 1;
  std::size_t b = home_of(name);
  while (index_[b] != 0 && slots_[index_[b] - 1].name != name)
    b = (b + 1) & mask;
  return b;
}

std::uint32_t plan::find(std::string_view name) const {
  if (index_.empty()) return none;
  const std::uint32_t v = index_[bucket_of(name)];
  return v == 0 ? none : v - 1;
}

void plan::index_insert(std::uint32_t slot_id) {
  const std::size_t b = bucket_of(slots_[slot_id].name);
  SUNDIAL_ASSERT(index_[b] == 0, "a job is indexed twice");
  index_[b] = slot_id + 1;
}

void plan::index_erase(std::size_t bucket) {
  // Backward-shift deletion: later members of the probe run move up so that lookups never
  // meet a hole before their entry (no tombstones, so the table never degrades).
  const std::size_t mask = index_.size() - 1;
  std::size_t hole = bucket;
  index_[hole] = 0;
  for (std::size_t j = (hole + 1) & mask; index_[j] != 0; j = (j + 1) & mask) {
    const std::size_t home = home_of(slots_[index_[j] - 1].name);
    // The entry at j may fill the hole if its home is not in the cyclic range (hole, j].
    if (((j - home) & mask) >= ((j - hole) & mask)) {
      index_[hole] = index_[j];
      index_[j] = 0;
      hole = j;
    }
  }
}

void plan::grow_index() {
  std::size_t cap = index_.empty() ? 16 : index_.size() * 2;
  while ((heap_.size() + 1) * 4 > cap * 3)
    cap *= 2;
  index_.assign(cap, 0);
  for (std::size_t p = 0; p < heap_.size(); ++p)
    index_insert(heap_[p].slot);
}

void plan::release(std::uint32_t slot_id) {
  slots_[slot_id].name = std::string();  // gives back an out-of-line name's memory
  slots_[slot_id].heap_pos = none;
  free_.push_back(slot_id);
}

void plan::set(std::string_view job, std::int64_t fire_us) {
  if (const std::uint32_t s = find(job); s != none) {
    const std::size_t pos = slots_[s].heap_pos;
    const std::int64_t old = heap_[pos].fire_us;
    heap_[pos].fire_us = fire_us;
    if (fire_us < old) {
      sift_up(pos);
    } else {
      sift_down(pos);
    }
    return;
  }
  SUNDIAL_ASSERT(heap_.size() < none - 1, "the plan holds at most 2^32 - 2 jobs");
  if ((heap_.size() + 1) * 4 > index_.size() * 3) grow_index();
  std::uint32_t s;
  if (!free_.empty()) {
    s = free_.back();
    free_.pop_back();
    slots_[s].name.assign(job);
  } else {
    s = static_cast<std::uint32_t>(slots_.size());
    slots_.push_back(slot{std::string(job), none});
  }
  index_insert(s);
  heap_.push_back(heap_entry{fire_us, s});
  sift_up(heap_.size() - 1);
}

bool plan::remove(std::string_view job) {
  if (index_.empty()) return false;
  const std::size_t b = bucket_of(job);
  if (index_[b] == 0) return false;
  const std::uint32_t s = index_[b] - 1;
  erase_at(slots_[s].heap_pos);
  index_erase(b);
  release(s);
  return true;
}

std::optional<std::int64_t> plan::earliest() const {
  if (heap_.empty()) return std::nullopt;
  return heap_[0].fire_us;
}

std::vector<due_entry> plan::take_due(std::int64_t until_us, std::size_t max) {
  std::vector<due_entry> out;
  while (out.size() < max && !heap_.empty() && heap_[0].fire_us <= until_us) {
    const std::uint32_t s = heap_[0].slot;
    out.push_back(due_entry{slots_[s].name, heap_[0].fire_us});
    const std::size_t b = bucket_of(slots_[s].name);
    erase_at(0);
    index_erase(b);
    release(s);
  }
  return out;
}

std::optional<std::int64_t> plan::fire_of(std::string_view job) const {
  const std::uint32_t s = find(job);
  if (s == none) return std::nullopt;
  return heap_[slots_[s].heap_pos].fire_us;
}

void plan::clear() {
  heap_.clear();
  slots_.clear();
  free_.clear();
  index_.clear();
}

void plan::reserve(std::size_t n) {
  heap_.reserve(n);
  slots_.reserve(n);
  std::size_t cap = index_.empty() ? 16 : index_.size();
  while (n * 4 > cap * 3)
    cap *= 2;
  if (cap != index_.size()) {
    index_.assign(cap, 0);
    for (std::size_t p = 0; p < heap_.size(); ++p)
      index_insert(heap_[p].slot);
  }
}

std::size_t plan::memory_bytes() const {
  std::size_t bytes = heap_.capacity() * sizeof(heap_entry) + slots_.capacity() * sizeof(slot) +
                      free_.capacity() * sizeof(std::uint32_t) +
                      index_.capacity() * sizeof(std::uint32_t);
  for (const slot& s : slots_) {
    // A name whose characters live outside the string object was allocated for it.
    const char* object = reinterpret_cast<const char*>(&s.name);
    const bool inline_name = s.name.data() >= object && s.name.data() < object + sizeof(s.name);
    if (!inline_name) bytes += s.name.capacity() + 1;
  }
  return bytes;
}

}  // namespace sundial::scheduler
