#pragma once
// Server-sent events (the WHATWG "text/event-stream" format) fanned out to any number of
// streaming answers. Publishing never blocks: each subscriber's stream queues the event, and a
// subscriber that falls behind its stream's bound is dropped by the HTTP server.

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "api/http_server.h"

namespace sundial::api {

// One event as the wire carries it: "event: NAME\ndata: LINE\n...\n\n" (each line of `data`
// becomes its own data: line, as the format requires).
std::string sse_event(const std::string& name, const std::string& data);
// The comment the HTTP server writes when a stream has been quiet (keeps proxies from closing).
inline constexpr const char* sse_keep_alive = ": keep-alive\n\n";

class event_hub {
 public:
  // Sends `first` to the new subscriber, then every later publish().
  void subscribe(std::shared_ptr<response_stream> stream, std::string first);
  // Writes `event` to every subscriber; closed ones are forgotten.
  void publish(const std::string& event);
  std::size_t subscribers() const;
  // Ends every stream (e.g. on shutdown).
  void close_all();

 private:
  mutable std::mutex mu_;
  std::vector<std::shared_ptr<response_stream>> streams_;
};

}  // namespace sundial::api
