#include "exec/output_tail.h"

#include <algorithm>
#include <cstring>

namespace sundial::exec {

void output_tail::append(std::string_view chunk) {
  total_ += chunk.size();
  if (limit_ == 0 || chunk.empty()) return;
  if (chunk.size() >= limit_) {
    // The chunk alone fills the tail: keep its end, in order.
    chunk = chunk.substr(chunk.size() - limit_);
    if (buf_.capacity() < limit_) buf_.reserve(limit_);
    buf_.assign(chunk.begin(), chunk.end());
    head_ = 0;
    return;
  }
  if (buf_.size() < limit_) {
    const std::size_t fill = std::min(chunk.size(), limit_ - buf_.size());
    if (buf_.capacity() < buf_.size() + fill) {
      // Doubling as a vector would, but capped at the limit (vector::reserve allocates exactly
      // what it is asked for, unlike growth through insert).
      buf_.reserve(std::min(limit_, std::max(buf_.size() + fill, 2 * buf_.capacity())));
    }
    buf_.insert(buf_.end(), chunk.begin(), chunk.begin() + fill);
    chunk.remove_prefix(fill);
    if (chunk.empty()) return;
  }
  // Full: overwrite the oldest bytes, wrapping at most once (chunk.size() < limit_).
  const std::size_t first = std::min(chunk.size(), limit_ - head_);
  std::memcpy(buf_.data() + head_, chunk.data(), first);
  std::memcpy(buf_.data(), chunk.data() + first, chunk.size() - first);
  head_ = (head_ + chunk.size()) % limit_;
}

std::string output_tail::str() const {
  std::string out;
  out.reserve(buf_.size());
  out.append(buf_.begin() + static_cast<std::ptrdiff_t>(head_), buf_.end());
  out.append(buf_.begin(), buf_.begin() + static_cast<std::ptrdiff_t>(head_));
  return out;
}

}  // namespace sundial::exec
