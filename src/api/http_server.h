#pragma once
// A small HTTP/1.1 server on Boost.Beast: one thread per connection (bounded), keep-alive, a
// body size limit, and a router of exact paths and path prefixes. Handlers may block (they wait
// for Raft), which is why connections get their own threads instead of sharing an event loop.

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "base/result.h"

namespace sundial::api {

struct request {
  std::string method;                        // "GET", "PUT", ...
  std::string path;                          // decoded path, without the query
  std::map<std::string, std::string> query;  // decoded; a flag without '=' maps to ""
  std::string body;
  std::map<std::string, std::string> headers;  // lower-case names
};

struct response {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
};

// {"error": "..."} with the status.
response json_error(int status, const std::string& message);

using handler = std::function<response(const request&)>;

// One registered route as the router matches it.
struct route_info {
  std::string method;
  std::string pattern;  // an exact path, or a prefix ending in '/'
  bool prefix = false;
};

// The label used for requests that matched no route: raw paths are never reported, so that
// whatever clients send, the set of values stays as small as the route table.
inline constexpr std::string_view unmatched_route = "unmatched";

// What an observer learns of each answered request (e.g. to count it for metrics).
struct request_record {
  std::string_view method;  // a standard method name, or "OTHER" (bounded like the route)
  std::string_view route;   // the matched route's pattern, or unmatched_route
  int status = 0;
  std::chrono::nanoseconds duration{0};  // from the parsed request to the answer, before writing
};
using request_observer = std::function<void(const request_record&)>;

struct http_options {
  std::size_t max_body_bytes = 1 << 20;
  std::size_t max_connections = 1024;
};

class http_server {
 public:
  explicit http_server(http_options options = {});
  ~http_server();

  // Routes: an exact path, or a prefix ending in '/' (longest prefix wins). Methods not
  // registered for a known path get 405. Register every route before start().
  void route(const std::string& method, const std::string& path, handler h);
  // The registered routes, ordered by pattern then method.
  std::vector<route_info> routes() const;
  // A header sent with every response, errors included (e.g. X-Whom: the node's name); a
  // handler's own header of that name wins. Call before start().
  void set_default_header(const std::string& name, const std::string& value);
  // Called on the connection's thread once per answered request, before the answer is
  // written, so a client that got its answer finds it counted. Must not block. Call before
  // start().
  void set_request_observer(request_observer observer);

  // Binds and serves on `address` ("host:port"; port 0 picks one). Returns the bound port.
  base::result<int> start(const std::string& address);
  void stop();

  struct impl;

 private:
  std::unique_ptr<impl> impl_;
};

// Splits "host:port"; errors name what is wrong.
base::result<std::pair<std::string, int>> split_host_port(const std::string& address);

}  // namespace sundial::api
