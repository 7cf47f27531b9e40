#pragma once
// The HTTP server's parts shared by its two files: http_server.cc (routes, the request pipeline,
// threads, accepting, shutdown, serve_bytes) and http_session.cc (one connection's state
// machine). Not a public header.

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <atomic>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <optional>
#include <thread>
#include <unordered_map>

#include "api/http_request.h"
#include "api/http_server.h"

namespace sundial::api {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

namespace detail {

struct route_entry {
  route_kind kind = route_kind::inline_handler;
  handler sync;
  async_handler async;
  route_options options;
};
using method_table = std::map<std::string, route_entry>;

using header_list = std::vector<std::pair<std::string, std::string>>;

// Where an exchange's answer goes: a connection, or serve_bytes' capture.
class answer_sink {
 public:
  virtual ~answer_sink() = default;
  // The answer (any thread, once).
  virtual void deliver(response r) = 0;
  // Runs `fn` on the event-loop thread that serves this answer.
  virtual void post(std::function<void()> fn) = 0;
  virtual std::shared_ptr<response_stream> open_stream(int status, std::string content_type,
                                                       header_list headers, std::string heartbeat,
                                                       std::chrono::milliseconds every) = 0;
};

// A request whose head passed every check, ready for its body and its handler.
struct prepared_request {
  std::string method;
  decoded_target target;
  unsigned version = 11;
  bool keep_alive = true;
  bool head_only = false;  // HEAD: answered as GET without the body
  bool expects_continue = false;
  std::string_view pattern = unmatched_route;
  const method_table* methods = nullptr;
  const route_entry* route = nullptr;  // null: the answer is 404 or 405
  std::size_t body_limit = 0;
};

using head_parser = http::request_parser<http::empty_body>;

// A connection as the server sees it: for deadlines and the drain.
class connection {
 public:
  virtual ~connection() = default;
  // The current phase's deadline (steady clock, ns since its epoch), 0 for none. Read by the
  // sweeper on another thread.
  std::int64_t deadline() const { return deadline_ns_.load(std::memory_order_relaxed); }
  // A strong reference, or null once the connection is being destroyed.
  virtual std::shared_ptr<connection> share() = 0;
  // Posted to the connection's thread when the sweeper finds its deadline passed.
  virtual void post_deadline_check() = 0;
  // Posted to the connection's thread by stop(): see http_session.cc.
  virtual void post_drain(bool force) = 0;

 protected:
  std::atomic<std::int64_t> deadline_ns_{0};
};

std::int64_t steady_now_ns();

}  // namespace detail

struct responder::exchange {
  std::shared_ptr<http_server::impl> server;
  std::shared_ptr<detail::answer_sink> sink;
  std::string_view method;  // method_label()
  std::string_view route;   // the pattern (stable: points into the route table)
  std::chrono::steady_clock::time_point began;
  bool pretty = false;
  std::atomic<bool> answered{false};

  ~exchange();
  // Applies ?pretty, reports to the observer and hands the answer to the sink; later calls are
  // ignored.
  void finish(response r);
};

struct http_server::impl : std::enable_shared_from_this<http_server::impl> {
  http_options opt;
  std::map<std::string, detail::method_table> exact;
  std::map<std::string, detail::method_table> prefixes;
  detail::header_list default_headers;
  request_observer observer;
  connection_observer conn_observer;

  // One event loop per thread (a shard); a connection lives on one shard for its whole life, so
  // its handlers never hop threads and need no strand. Shard 0 also accepts and sweeps.
  // Destroyed by ~http_server after stop(), before the last reference to impl goes: pending
  // handlers hold sessions, sessions hold impl, so this breaks the cycle.
  std::vector<std::unique_ptr<asio::io_context>> shards;
  std::vector<asio::executor_work_guard<asio::io_context::executor_type>> work;
  std::vector<std::thread> io_threads;
  std::unique_ptr<tcp::acceptor> acceptor;
  std::unique_ptr<asio::steady_timer> sweeper;
  std::size_t next_shard = 0;  // accept's round robin (shard 0's thread)
  std::atomic<bool> started{false};
  std::atomic<bool> stopping{false};
  std::atomic<std::uint64_t> internal_error_count{0};

  // The blocking pool (route_kind::blocking).
  std::mutex pool_mu;
  std::condition_variable pool_cv;
  std::deque<std::function<void()>> pool_queue;
  std::vector<std::thread> pool_threads;
  bool pool_stopping = false;

  // Open connections and how many each client address holds. A connection removes itself in
  // its destructor under conn_mu, so a pointer read under the lock is alive.
  mutable std::mutex conn_mu;
  std::condition_variable conn_cv;
  std::unordered_map<const void*, detail::connection*> sessions;
  std::unordered_map<std::string, std::size_t> per_client;

  // Strong references to every open connection (taken under the lock, released outside it:
  // releasing the last one runs a destructor that takes the lock).
  std::vector<std::shared_ptr<detail::connection>> open_connections() const;
  // Every sweep_interval: connections past their deadline are told so on their own thread.
  // One timer for the server instead of one armed and cancelled per request phase.
  void sweep();

  void notify(connection_event e) const {
    if (conn_observer) conn_observer(e);
  }

  struct match_result {
    std::string_view pattern = unmatched_route;
    const detail::method_table* methods = nullptr;
  };
  match_result match(const std::string& path) const;

  // The head's checks, in order: version (505), method token (501), header count (431), target
  // (400), then routing and the body limit. An answer means: refuse with it.
  // `content_length` is the parser's (the message's payload_size() is its body's, not the
  // header's).
  std::optional<response> prepare(const http::request_header<>& head,
                                  std::optional<std::uint64_t> content_length, bool keep_alive,
                                  detail::prepared_request& out) const;
  // What a parse error becomes (400, 413, 431, or 505 when `received`, the start of what the
  // client sent, names another HTTP version).
  response parse_error_answer(const beast::error_code& ec, std::string_view received = {},
                              std::size_t body_limit = 0) const;
  // Runs the request's handler (or answers 404/405) with its answer going to `sink`.
  void dispatch(detail::prepared_request&& p, request&& req,
                std::shared_ptr<detail::answer_sink> sink);
  // The wire message for an answer.
  http::response<http::string_body> make_message(response r, unsigned version, bool keep_alive,
                                                 bool head_only) const;
  // Reports an answer given without a handler (a refused head, a parse error) to the observer.
  void record_refusal(std::string_view method, std::string_view pattern, int status) const;
  // The last resort: logs an incident id and returns the 500 a client gets.
  response guard_answer(std::string_view method, std::string_view route, const char* what);

  static constexpr std::chrono::milliseconds sweep_interval{50};

  void accept_next();
  void on_accept(beast::error_code ec, tcp::socket socket);
  void refuse(tcp::socket& socket, int status, const std::string& message);
  void run_blocking(std::function<void()> task, std::function<void()> on_full);
};

namespace detail {
// Starts serving an accepted, registered connection (http_session.cc).
void start_session(std::shared_ptr<http_server::impl> server, tcp::socket socket,
                   std::string client);
}  // namespace detail

}  // namespace sundial::api
