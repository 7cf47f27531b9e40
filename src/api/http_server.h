#pragma once
// A small HTTP/1.1 server on Boost.Beast: one thread per connection (bounded), keep-alive, a
// body size limit, and a router of exact paths and path prefixes. Handlers may block (they wait
// for Raft), which is why connections get their own threads instead of sharing an event loop.

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
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

struct http_options {
  std::size_t max_body_bytes = 1 << 20;
  std::size_t max_connections = 1024;
};

class http_server {
 public:
  explicit http_server(http_options options = {});
  ~http_server();

  // Routes: an exact path, or a prefix ending in '/' (longest prefix wins). Methods not
  // registered for a known path get 405.
  void route(const std::string& method, const std::string& path, handler h);

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
