#pragma once
// The last N bytes of a stream whose length is not known in advance: a process's output.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace sundial::exec {

// A ring of at most `limit` bytes. Memory grows with what was written, up to the limit and
// never past it, so a quiet run costs nothing and a run printing gigabytes costs `limit`.
class output_tail {
 public:
  explicit output_tail(std::size_t limit) : limit_(limit) {}

  // Appends a chunk; bytes older than the last `limit` are forgotten.
  void append(std::string_view chunk);

  // The kept bytes, oldest first.
  std::string str() const;
  // Bytes ever appended (kept or not).
  std::uint64_t total() const { return total_; }
  // Whether bytes were forgotten.
  bool truncated() const { return total_ > kept(); }
  std::size_t kept() const { return buf_.size(); }
  // Bytes allocated: never more than the limit.
  std::size_t capacity() const { return buf_.capacity(); }

 private:
  std::size_t limit_;
  // Filled in order until it holds `limit_` bytes; from then on a ring whose oldest byte is at
  // `head_`.
  std::vector<char> buf_;
  std::size_t head_ = 0;
  std::uint64_t total_ = 0;
};

}  // namespace sundial::exec
