#pragma once
// Sundial's HTTP/1.1 server on Boost.Beast and an Asio event loop: a small fixed pool of threads
// serves every connection (keep-alive and pipelining kept), so idle or slow clients cost memory,
// never threads. Handlers run on those threads and must not block: a handler that waits (for
// Raft, say) answers later through its `responder`, from any thread. Routes that must block
// (rare, slow administration) are registered as blocking and run on a small separate pool.
//
// Every limit has an answer (http_options): slow or half-sent headers get 408, oversized lines
// and headers 431, oversized bodies 413, too many connections 503 (in total) or 429 (from one
// client address). Paths and query strings that are not valid UTF-8 get 400 before routing.
// Nothing a client sends can throw out of the server: a last-resort guard turns an unexpected
// exception into a 500 with an incident id in the log and counts it (internal_errors()).

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"

namespace sundial::api {

struct request {
  std::string method;                        // "GET", "PUT", ...
  std::string path;                          // decoded, valid UTF-8 without NUL; no query
  std::map<std::string, std::string> query;  // decoded, valid UTF-8; a flag without '=' is ""
  std::string body;                          // empty for routes that take their body as a file
  std::string body_file;  // routes with body_to_file: the path of the body (removed afterwards)
  std::map<std::string, std::string> headers;  // lower-case names
  std::string remote_address;                  // the client's IP address
};

struct response {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
};

// {"error": "..."} with the status. Any bytes in `message` are safe (invalid UTF-8 replaced).
response json_error(int status, const std::string& message);

// A long-lived answer (e.g. server-sent events) that any thread may write to. Writes never
// block: they queue, and a reader that lets more than http_options::stream_buffer_bytes pile up
// is dropped. A streaming answer ends its connection when it is closed.
class response_stream {
 public:
  virtual ~response_stream() = default;
  // Queues `data` as the next chunk; false once the stream is closed (client gone, dropped for
  // lagging, server stopping, or close() called): the writer should forget it.
  virtual bool write(std::string data) = 0;
  // Ends the answer after what is queued.
  virtual void close() = 0;
  virtual bool closed() const = 0;
};

// Answers one request, once, from any thread. Copies share the answer; if every copy is gone
// without an answer (a handler bug), the client gets a 500 and the guard counts it.
class responder {
 public:
  struct exchange;
  explicit responder(std::shared_ptr<exchange> ex);

  void send(response r) const;
  // Runs `make` on one of the server's threads and sends what it returns: for continuations that
  // arrive on a thread that must not do the work (a Raft node's callbacks).
  void send_from_server(std::function<response()> make) const;
  // Starts a streaming answer. `heartbeat`, if not empty, is written whenever nothing else was
  // for `heartbeat_every` (keeps proxies from closing an idle event stream).
  std::shared_ptr<response_stream> open_stream(
      int status, std::string content_type,
      std::vector<std::pair<std::string, std::string>> headers = {}, std::string heartbeat = {},
      std::chrono::milliseconds heartbeat_every = std::chrono::seconds(15)) const;

 private:
  std::shared_ptr<exchange> ex_;
};

using handler = std::function<response(const request&)>;
using async_handler = std::function<void(request&&, responder)>;

// How a route is served.
enum class route_kind {
  inline_handler,  // runs on an event-loop thread; must answer quickly and never block
  blocking,        // runs on the blocking pool (bounded; 503 when its queue is full)
  async,           // runs on an event-loop thread and answers through its responder
};

struct route_options {
  std::size_t max_body_bytes = 0;  // 0: http_options::max_body_bytes
  bool body_to_file = false;       // the body is written to a temporary file (request::body_file)
};

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

// Connection-level events for metrics. Called on event-loop threads; must not block.
enum class connection_event {
  opened,
  closed,
  refused_total,       // over max_connections: 503
  refused_per_client,  // over max_connections_per_client: 429
  header_timeout,      // 408
  body_timeout,        // 408
  idle_timeout,        // closed without an answer
  stream_dropped,      // a streaming reader fell behind stream_buffer_bytes
};
using connection_observer = std::function<void(connection_event)>;

// Every limit, with the defaults `sundial agent` documents (docs/operations.md).
struct http_options {
  int threads = 2;           // event-loop threads
  int blocking_threads = 4;  // the pool for route_kind::blocking
  std::size_t blocking_queue = 64;
  std::chrono::milliseconds header_timeout{10'000};  // first byte of a request to its headers
  std::chrono::milliseconds body_timeout{60'000};    // headers to the end of the body; also
                                                     // bounds writing an answer
  std::chrono::milliseconds idle_timeout{60'000};    // keep-alive with no request in progress
  std::chrono::milliseconds drain_timeout{10'000};   // stop(): in-flight requests may finish
  std::size_t max_connections = 10'000;
  std::size_t max_connections_per_client = 512;
  std::size_t max_header_bytes = 32 * 1024;  // request line and headers
  std::size_t max_headers = 100;
  std::size_t max_body_bytes = 1 << 20;
  std::size_t stream_buffer_bytes = 1 << 20;
  std::string temp_dir = "/tmp";  // bodies of body_to_file routes
};

class http_server {
 public:
  explicit http_server(http_options options = {});
  ~http_server();
  http_server(const http_server&) = delete;
  http_server& operator=(const http_server&) = delete;

  // Routes: an exact path, or a prefix ending in '/' (longest prefix wins). Methods not
  // registered for a known path get 405. Register every route before start(); registering the
  // same method and pattern twice is a programming error (asserted).
  void route(const std::string& method, const std::string& path, handler h,
             route_kind kind = route_kind::inline_handler, route_options options = {});
  void route_async(const std::string& method, const std::string& path, async_handler h,
                   route_options options = {});
  // The registered routes, ordered by pattern then method.
  std::vector<route_info> routes() const;
  // A header sent with every response, errors included (e.g. X-Whom: the node's name); a
  // handler's own header of that name wins. Call before start().
  void set_default_header(const std::string& name, const std::string& value);
  // Called once per answered request, before the answer is written, so a client that got its
  // answer finds it counted. Must not block. Call before start().
  void set_request_observer(request_observer observer);
  void set_connection_observer(connection_observer observer);

  // Binds and serves on `address` ("host:port"; port 0 picks one). Returns the bound port.
  base::result<int> start(const std::string& address);
  // Graceful: stops accepting, closes idle connections and streams, lets requests in flight
  // finish for up to drain_timeout, then closes the rest and joins the threads. Idempotent.
  void stop();

  // Serves one request given as raw bytes, without sockets, and returns the raw answer (what a
  // client would read). For tests and the fuzzer: the same parsing, limits, routing and
  // handlers as a connection (streams answer their head and close at once).
  std::string serve_bytes(std::string_view raw, const std::string& remote_address = "127.0.0.1");

  // Requests the last-resort guard answered with 500 (an exception or a lost responder).
  std::uint64_t internal_errors() const;
  std::size_t open_connections() const;

  struct impl;

 private:
  std::shared_ptr<impl> impl_;
};

// Splits "host:port"; errors name what is wrong.
base::result<std::pair<std::string, int>> split_host_port(const std::string& address);

}  // namespace sundial::api
