#include "api/event_hub.h"

#include <algorithm>

namespace sundial::api {

std::string sse_event(const std::string& name, const std::string& data) {
  std::string out = "event: " + name + "\n";
  std::size_t start = 0;
  while (true) {
    const auto end = data.find('\n', start);
    out += "data: " + data.substr(start, end == std::string::npos ? end : end - start) + "\n";
    if (end == std::string::npos) break;
    start = end + 1;
  }
  return out + "\n";
}

void event_hub::subscribe(std::shared_ptr<response_stream> stream, std::string first) {
  if (!stream || !stream->write(std::move(first))) return;
  std::lock_guard lock(mu_);
  streams_.push_back(std::move(stream));
}

void event_hub::publish(const std::string& event) {
  std::lock_guard lock(mu_);
  streams_.erase(std::remove_if(streams_.begin(), streams_.end(),
                                [&](const auto& s) { return !s->write(event); }),
                 streams_.end());
}

std::size_t event_hub::subscribers() const {
  std::lock_guard lock(mu_);
  return streams_.size();
}

void event_hub::close_all() {
  std::lock_guard lock(mu_);
  for (auto& s : streams_)
    s->close();
  streams_.clear();
}

}  // namespace sundial::api
